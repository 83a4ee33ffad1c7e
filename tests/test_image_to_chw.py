"""ImageRecordIter's native last step (``_native.image_to_chw``: crop, BGR -> RGB, mirror,
normalize, HWC -> CHW into the batch slot) against a numpy reference of MXNet's
ProcessImage, for every output type; its refusals; and the batches it fills."""
import numpy as np
import pytest

import flowmod as mx
from flowmod import _native
from flowmod.base import MXNetError


def _round_away(x):
    """std::round: halves away from zero."""
    return np.sign(x) * np.floor(np.abs(x) + np.float32(0.5))


def reference(img, y0, x0, h, w, mirror, source, mean, mult, bias, mean_img, dtype):
    """MXNet 1.9.1's ImageRecordIOParser2::ProcessImage in numpy (float32 arithmetic)."""
    crop = img[y0:y0 + h, x0:x0 + w]
    c = img.shape[2]
    out = np.empty((c, h, w), dtype)
    for k in range(c):
        plane = crop[:, :, source[k]].astype(np.float32)
        if dtype == np.uint8:
            v = crop[:, :, source[k]]
        elif dtype == np.int8:
            m = _round_away(mean_img[k] if mean_img is not None else np.float32(mean[k]))
            v = np.clip(plane - m, -128, 127).astype(np.int8)
        else:
            m = mean_img[k] if mean_img is not None else np.float32(mean[k])
            v = ((plane - m) * np.float32(mult[k]) + np.float32(bias[k])).astype(dtype)
        out[k] = v[:, ::-1] if mirror else v
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.uint8, np.int8])
@pytest.mark.parametrize("mirror", [False, True])
@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("with_mean_img", [False, True])
def test_matches_the_numpy_reference(dtype, mirror, channels, with_mean_img):
    rng = np.random.RandomState(channels * 7 + mirror)
    img = rng.randint(0, 256, (13, 17, channels)).astype(np.uint8)
    h, w, y0, x0 = 9, 11, 3, 5
    source = {1: [0], 3: [2, 1, 0], 4: [2, 1, 0, 3]}[channels]
    mean = [123.68, 116.28, 103.53, 7.5][:channels]
    mult = [np.float32(0.5) / np.float32(s) for s in (58.395, 57.12, 57.375, 3.0)][:channels]
    bias = [0.25, -0.125, 0.0, 1.0][:channels]
    mean_img = (rng.rand(channels, h, w).astype(np.float32) * 200) if with_mean_img else None
    out = np.full((channels, h, w), 99, dtype)
    _native.image_to_chw(img, y0, x0, mirror, source, mean, [float(m) for m in mult], bias,
                         mean_img, out)
    expect = reference(img, y0, x0, h, w, mirror, source, mean, mult, bias, mean_img, dtype)
    np.testing.assert_array_equal(out, expect)


@pytest.mark.parametrize("mirror", [False, True])
@pytest.mark.parametrize("source", [[2, 1, 0], [0, 1, 2], [1, 2, 0]])
def test_a_full_size_crop_matches_the_reference_bit_for_bit(mirror, source):
    # 224 x 224 of a 256 x 256 image, as ImageRecordIter crops: the vectorized rows of the
    # float32 three-channel case round exactly as numpy's float32 arithmetic does.
    rng = np.random.RandomState(11 + mirror)
    img = rng.randint(0, 256, (256, 256, 3)).astype(np.uint8)
    mean, bias = [123.68, 116.28, 103.53], [0.5, -0.25, 0.125]
    mult = [float(np.float32(0.9) / np.float32(s)) for s in (58.395, 57.12, 57.375)]
    out = np.empty((3, 224, 224), np.float32)
    _native.image_to_chw(img, 17, 29, mirror, source, mean, mult, bias, None, out)
    expect = reference(img, 17, 29, 224, 224, mirror, source, mean, mult, bias, None,
                       np.float32)
    np.testing.assert_array_equal(out, expect)


def test_one_channel_may_be_a_2d_image_with_a_new_axis():
    gray = np.arange(6 * 9, dtype=np.int64).reshape(6, 9).astype(np.uint8)
    out = np.empty((1, 4, 5), np.float32)
    _native.image_to_chw(gray[:, :, None], 1, 2, True, [0], [3.0], [0.5], [1.0], None, out)
    np.testing.assert_array_equal(out[0], (gray[1:5, 2:7][:, ::-1] - np.float32(3)) *
                                  np.float32(0.5) + np.float32(1))


def test_reads_a_crop_view_with_its_row_stride():
    img = np.arange(10 * 12 * 3, dtype=np.int64).reshape(10, 12, 3).astype(np.uint8)
    view = img[2:8, 3:10]
    out = np.empty((3, 6, 7), np.uint8)
    _native.image_to_chw(view, 0, 0, False, [0, 1, 2], [0] * 3, [1] * 3, [0] * 3, None, out)
    np.testing.assert_array_equal(out, view.transpose(2, 0, 1))


@pytest.mark.parametrize("change,match", [
    (dict(img=np.zeros((8, 8, 3), np.float32)), "HWC uint8"),
    (dict(img=np.zeros((8, 24, 3), np.uint8)[:, ::2]), "contiguous"),
    (dict(y0=3), "outside the image"),
    (dict(x0=-1), "outside the image"),
    (dict(out=np.zeros((3, 6, 6), np.int32)), "float32, float16, uint8 or int8"),
    (dict(out=np.zeros((3, 6, 12), np.float32)[:, :, ::2]), "C-contiguous"),
    (dict(out=np.zeros((4, 6, 6), np.float32)), "same 1-4 channels"),
    (dict(source=[2, 1, 3]), "source channel out of range"),
    (dict(mean=[0.0]), "one value per channel"),
    (dict(mean_img=np.zeros((3, 6, 5), np.float32)), "mean_img must be float32 like dst"),
])
def test_refuses_arguments_that_would_reach_outside_the_arrays(change, match):
    args = dict(img=np.zeros((8, 8, 3), np.uint8), y0=2, x0=2, source=[2, 1, 0],
                mean=[0.0] * 3, mean_img=None, out=np.zeros((3, 6, 6), np.float32))
    args.update(change)
    with pytest.raises(MXNetError, match=match):
        _native.image_to_chw(args["img"], args["y0"], args["x0"], False, args["source"],
                             args["mean"], [1.0] * 3, [0.0] * 3, args["mean_img"],
                             args["out"])


def test_float16_batches_round_once_from_float32(tmp_path):
    """float16 output is the float32 result rounded once (as MXNet's half_t assignment)."""
    rec = str(tmp_path / "a.rec")
    w = mx.recordio.MXRecordIO(rec, "w")
    img = np.random.RandomState(0).randint(0, 256, (8, 8, 3)).astype(np.uint8)
    w.write(mx.recordio.pack_img((0, 1.0, 0, 0), img, img_fmt=".png"))
    w.close()
    args = dict(path_imgrec=rec, data_shape=(3, 8, 8), batch_size=1, mean_r=100.3,
                mean_g=50.7, mean_b=10.1, std_r=3.3, std_g=7.7, std_b=1.1)
    f32 = mx.io.ImageRecordIter(dtype="float32", **args).next().data[0].asnumpy()
    f16 = mx.io.ImageRecordIter(dtype="float16", **args).next().data[0].asnumpy()
    np.testing.assert_array_equal(f16, f32.astype(np.float16))
