"""mx.image: decoding, resizing and cropping against MXNet 1.9.1's results
(tests/data/recordio/images_ref.npz), augmenters against numpy references on fixed seeds,
and ImageIter's batches."""
import os
import random

import cv2
import numpy as np
import pytest

import flowmod as mx
from flowmod.base import MXNetError

DATA = os.path.join(os.path.dirname(__file__), "data", "recordio")
REF = np.load(os.path.join(DATA, "images_ref.npz"))
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def payload(index):
    rec = mx.recordio.MXIndexedRecordIO(os.path.join(DATA, "images.idx"),
                                        os.path.join(DATA, "images.rec"), "r")
    return mx.recordio.unpack(rec.read_idx(index))[1]


def float_image(h=6, w=5, seed=0):
    return np.random.RandomState(seed).uniform(0, 255, (h, w, 3)).astype(np.float32)


# ---- decoding, resizing, cropping against MXNet ----------------------------------------
@pytest.mark.parametrize("index", [0, 1, 2])
def test_imdecode_gives_mxnet_rgb_pixels(index):
    img = mx.image.imdecode(payload(index))
    assert isinstance(img, mx.nd.NDArray) and img.dtype == np.uint8
    np.testing.assert_array_equal(img.asnumpy(), REF[f"imdecode_{index}"])


@pytest.mark.parametrize("index", [0, 1])
def test_imdecode_gray_gives_one_channel(index):
    img = mx.image.imdecode(payload(index), flag=0)
    np.testing.assert_array_equal(img.asnumpy(), REF[f"imdecode_gray_{index}"])


def test_imdecode_to_rgb_false_gives_bgr():
    bgr = mx.image.imdecode(payload(1), to_rgb=0).asnumpy()
    np.testing.assert_array_equal(bgr, REF["imdecode_1"][:, :, ::-1])


def test_imdecode_of_bytes_that_are_no_image_raises():
    with pytest.raises(MXNetError, match="decoding failed"):
        mx.image.imdecode(b"\xff\xd8\xff\xe0 not a jpeg")


def test_imdecode_of_a_str_raises_value_error():
    with pytest.raises(ValueError, match="convert to bytes"):
        mx.image.imdecode("abc")


def test_imread_of_a_missing_file_names_it(tmp_path):
    with pytest.raises(MXNetError, match="nope.jpg"):
        mx.image.imread(str(tmp_path / "nope.jpg"))


def test_imread_reads_a_png_file(tmp_path):
    img = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    np.testing.assert_array_equal(mx.image.imread(str(tmp_path / "a.png")).asnumpy(),
                                  img[:, :, ::-1])


@pytest.mark.parametrize("interp", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("index", [0, 1, 2])
def test_imresize_matches_mxnet(index, interp):
    out = mx.image.imresize(mx.nd.array(REF[f"imdecode_{index}"], dtype=np.uint8), 9, 7,
                            interp).asnumpy()
    # Bicubic rounds differently by one level between OpenCV releases.
    tol = 1 if interp == 2 else 0
    np.testing.assert_allclose(out.astype(int), REF[f"imresize_{index}_{interp}"], atol=tol)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_resize_short_matches_mxnet(index):
    out = mx.image.resize_short(REF[f"imdecode_{index}"], 10)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out.astype(int), REF[f"resize_short_{index}"], atol=1)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_center_crop_matches_mxnet(index):
    out, _ = mx.image.center_crop(REF[f"imdecode_{index}"], (8, 6))
    np.testing.assert_array_equal(out, REF[f"center_crop_{index}"])


@pytest.mark.parametrize("index", [0, 1, 2])
def test_fixed_crop_with_resize_matches_mxnet(index):
    out = mx.image.fixed_crop(REF[f"imdecode_{index}"], 1, 2, 6, 5, (9, 8), 1)
    np.testing.assert_array_equal(out, REF[f"fixed_crop_{index}"])


def test_imresize_keeps_a_single_channel_axis():
    assert mx.image.imresize(np.zeros((4, 6, 1), np.uint8), 3, 2).shape == (2, 3, 1)


def test_scale_down_fits_the_size_in_the_source():
    assert mx.image.scale_down((640, 480), (720, 120)) == (640, 106)
    assert mx.image.scale_down((360, 1000), (480, 500)) == (360, 375)
    assert mx.image.scale_down((100, 100), (50, 50)) == (50, 50)


def test_random_crop_takes_the_region_python_random_picks():
    img = np.arange(10 * 12 * 3, dtype=np.uint8).reshape(10, 12, 3)
    random.seed(5)
    out, (x0, y0, w, h) = mx.image.random_crop(img, (4, 3))
    random.seed(5)
    ex, ey = random.randint(0, 12 - 4), random.randint(0, 10 - 3)
    assert (x0, y0, w, h) == (ex, ey, 4, 3)
    np.testing.assert_array_equal(out, img[ey:ey + 3, ex:ex + 4])


def test_random_size_crop_draws_area_and_ratio_as_mxnet():
    img = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    random.seed(11)
    _, box = mx.image.random_size_crop(img, (8, 8), (0.3, 0.6), (0.75, 1.33))
    random.seed(11)
    area = random.uniform(0.3, 0.6) * 600
    ratio = np.exp(random.uniform(np.log(0.75), np.log(1.33)))
    w, h = int(round(np.sqrt(area * ratio))), int(round(np.sqrt(area / ratio)))
    assert box == (random.randint(0, 30 - w), random.randint(0, 20 - h), w, h)


def test_color_normalize_subtracts_mean_and_divides_by_std():
    img = float_image()
    expect = (img - np.array([1, 2, 3], np.float32)) / np.array([2, 4, 8], np.float32)
    out = mx.image.color_normalize(img.copy(), np.array([1, 2, 3], np.float32),
                                   np.array([2, 4, 8], np.float32))
    np.testing.assert_allclose(out, expect, rtol=1e-6)


def test_copy_make_border_pads_with_the_value():
    out = mx.image.copyMakeBorder(np.ones((2, 2, 3), np.uint8), 1, 0, 0, 2, value=7)
    assert out.shape == (3, 4, 3)
    assert out[0, 0, 0] == 7 and out[1, 0, 0] == 1 and out[1, 3, 2] == 7


# ---- augmenters against numpy references ------------------------------------------------
def test_brightness_jitter_scales_by_one_plus_uniform():
    img = float_image()
    random.seed(1)
    out = mx.image.BrightnessJitterAug(0.3)(img.copy())
    random.seed(1)
    np.testing.assert_allclose(out, img * np.float32(1 + random.uniform(-0.3, 0.3)),
                               rtol=1e-6)


def test_contrast_jitter_blends_with_mean_luminance():
    img = float_image()
    random.seed(2)
    out = mx.image.ContrastJitterAug(0.4)(img.copy())
    random.seed(2)
    alpha = 1 + random.uniform(-0.4, 0.4)
    gray = 3 * (1 - alpha) * (img * LUMA).astype(np.float64).mean()
    np.testing.assert_allclose(out, img * alpha + gray, rtol=1e-4)


def test_saturation_jitter_blends_with_pixel_luminance():
    img = float_image()
    random.seed(3)
    out = mx.image.SaturationJitterAug(0.5)(img.copy())
    random.seed(3)
    alpha = 1 + random.uniform(-0.5, 0.5)
    gray = (img.astype(np.float64) * LUMA).sum(axis=2, keepdims=True)
    np.testing.assert_allclose(out, img * alpha + gray * (1 - alpha), rtol=1e-4)


def test_hue_jitter_rotates_in_yiq_space():
    img = float_image()
    random.seed(4)
    out = mx.image.HueJitterAug(0.2)(img)
    random.seed(4)
    a = random.uniform(-0.2, 0.2) * np.pi
    tyiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.321], [0.211, -0.523, 0.311]])
    ityiq = np.array([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.107, 1.705]])
    rot = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    expect = img.astype(np.float64) @ (ityiq @ rot @ tyiq).T
    np.testing.assert_allclose(out, expect, rtol=1e-5)


def test_lighting_adds_pca_noise_from_numpy_random():
    img = float_image()
    eigval = np.array([55.46, 4.794, 1.148])
    eigvec = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140],
                       [-0.5836, -0.6948, 0.4203]])
    np.random.seed(6)
    out = mx.image.LightingAug(0.1, eigval, eigvec)(img.copy())
    np.random.seed(6)
    alpha = np.random.normal(0, 0.1, size=3)
    np.testing.assert_allclose(out, img + eigvec @ (alpha * eigval), rtol=1e-5)


def test_random_gray_replaces_channels_by_luminance():
    img = float_image()
    out = mx.image.RandomGrayAug(1.0)(img)
    gray = img @ np.array([0.21, 0.72, 0.07], np.float32)
    for c in range(3):
        np.testing.assert_allclose(out[:, :, c], gray, rtol=1e-5)


def test_random_gray_with_zero_probability_keeps_the_image():
    img = float_image()
    assert mx.image.RandomGrayAug(0.0)(img) is img


def test_horizontal_flip_mirrors_columns():
    img = float_image()
    np.testing.assert_array_equal(mx.image.HorizontalFlipAug(1.0)(img), img[:, ::-1])
    assert mx.image.HorizontalFlipAug(0.0)(img) is img


def test_horizontal_flip_of_an_ndarray_gives_an_ndarray():
    img = float_image()
    out = mx.image.HorizontalFlipAug(1.0)(mx.nd.array(img))
    np.testing.assert_array_equal(out.asnumpy(), img[:, ::-1])


def test_color_normalize_aug_on_an_ndarray_changes_it_in_place():
    img = float_image()
    nd = mx.nd.array(img)
    out = mx.image.ColorNormalizeAug(np.array([10, 20, 30]), np.array([2, 2, 2]))(nd)
    np.testing.assert_allclose(out.asnumpy(), (img - [10, 20, 30]) / 2, rtol=1e-6)


def test_cast_aug_converts_the_type():
    assert mx.image.CastAug()(np.zeros((2, 2, 3), np.uint8)).dtype == np.float32
    assert mx.image.CastAug("float64")(np.zeros((2, 2, 3), np.uint8)).dtype == np.float64


def test_force_resize_ignores_the_aspect_ratio():
    assert mx.image.ForceResizeAug((7, 3))(np.zeros((10, 20, 3), np.uint8)).shape == (3, 7, 3)


def test_resize_aug_resizes_the_short_edge():
    assert mx.image.ResizeAug(8)(np.zeros((10, 20, 3), np.uint8)).shape == (8, 16, 3)


def test_color_jitter_applies_its_jitters_in_random_order():
    img = float_image()
    random.seed(9)
    out = mx.image.ColorJitterAug(0.1, 0.2, 0.3)(img.copy())
    random.seed(9)
    ts = [mx.image.BrightnessJitterAug(0.1), mx.image.ContrastJitterAug(0.2),
          mx.image.SaturationJitterAug(0.3)]
    random.shuffle(ts)
    expect = img.copy()
    for t in ts:
        expect = t(expect)
    np.testing.assert_allclose(out, expect, rtol=1e-6)


def test_create_augmenter_builds_mxnet_list():
    augs = mx.image.CreateAugmenter((3, 224, 224), resize=256, rand_crop=True,
                                    rand_mirror=True, mean=True, std=True, brightness=0.1,
                                    hue=0.1, pca_noise=0.1, rand_gray=0.2)
    names = [type(a).__name__ for a in augs]
    assert names == ["ResizeAug", "RandomCropAug", "HorizontalFlipAug", "CastAug",
                     "ColorJitterAug", "HueJitterAug", "LightingAug", "RandomGrayAug",
                     "ColorNormalizeAug"]
    np.testing.assert_allclose(augs[-1].mean, [123.68, 116.28, 103.53], rtol=1e-6)


def test_create_augmenter_center_crops_by_default():
    augs = mx.image.CreateAugmenter((3, 4, 6))
    assert [type(a).__name__ for a in augs] == ["CenterCropAug", "CastAug"]
    out = augs[1](augs[0](np.zeros((10, 10, 3), np.uint8)))
    assert out.shape == (4, 6, 3) and out.dtype == np.float32


def test_augmenter_dumps_its_name_and_arguments():
    assert mx.image.ResizeAug(8, 1).dumps() == '["resizeaug", {"size": 8, "interp": 1}]'


# ---- ImageIter ------------------------------------------------------------------------
def rec_iter(**kwargs):
    return mx.image.ImageIter(path_imgrec=os.path.join(DATA, "images.rec"),
                              path_imgidx=os.path.join(DATA, "images.idx"), **kwargs)


def test_image_iter_from_rec_gives_center_crops_in_chw():
    it = rec_iter(batch_size=3, data_shape=(3, 8, 8))
    batch = it.next()
    data = batch.data[0].asnumpy()
    assert data.shape == (3, 3, 8, 8) and batch.pad == 0
    np.testing.assert_array_equal(batch.label[0].asnumpy(), [3, 1, 2])
    crop, _ = mx.image.center_crop(REF["imdecode_0"], (8, 8))
    np.testing.assert_array_equal(data[0], crop.transpose(2, 0, 1).astype(np.float32))


def test_image_iter_pads_the_last_batch_from_the_start():
    it = rec_iter(batch_size=2, data_shape=(3, 8, 8))
    labels, pads = [], []
    for batch in it:
        labels.append(batch.label[0].asnumpy().tolist())
        pads.append(batch.pad)
    assert labels == [[3, 1], [2, 3]] and pads == [0, 1]


def test_image_iter_discard_drops_the_last_batch():
    it = rec_iter(batch_size=2, data_shape=(3, 8, 8), last_batch_handle="discard")
    assert len(list(it)) == 1


def test_image_iter_roll_over_opens_the_next_epoch_with_the_rest():
    it = rec_iter(batch_size=2, data_shape=(3, 8, 8), last_batch_handle="roll_over")
    assert [b.label[0].asnumpy().tolist() for b in it] == [[3, 1]]
    it.reset()
    batches = list(it)
    assert [b.label[0].asnumpy().tolist() for b in batches] == [[2, 3], [1, 2]]
    assert [b.pad for b in batches] == [1, 0]


def test_image_iter_parts_are_disjoint_slices():
    seen = []
    for part in range(3):
        it = rec_iter(batch_size=1, data_shape=(3, 8, 8), num_parts=3, part_index=part)
        seen += [b.label[0].asnumpy()[0] for b in it]
    assert sorted(seen) == [1, 2, 3]


def test_image_iter_shuffle_reorders_with_python_random():
    random.seed(0)
    it = rec_iter(batch_size=3, data_shape=(3, 8, 8), shuffle=True)
    labels = it.next().label[0].asnumpy().tolist()
    random.seed(0)
    order = [0, 1, 2]
    random.shuffle(order)
    assert labels == [[3, 1, 2][k] for k in order]


def test_image_iter_reads_an_image_list_under_path_root(tmp_path):
    imgs = [np.full((9, 9, 3), v, np.uint8) for v in (10, 200)]
    for i, img in enumerate(imgs):
        cv2.imwrite(str(tmp_path / f"{i}.png"), img)
    (tmp_path / "list.lst").write_text("0\t5\t0.png\n1\t7\t1.png\n")
    it = mx.image.ImageIter(2, (3, 4, 4), path_imglist=str(tmp_path / "list.lst"),
                            path_root=str(tmp_path))
    batch = it.next()
    np.testing.assert_array_equal(batch.label[0].asnumpy(), [5, 7])
    np.testing.assert_array_equal(batch.data[0].asnumpy()[:, 0, 0, 0], [10, 200])


def test_image_iter_missing_image_names_its_path(tmp_path):
    it = mx.image.ImageIter(1, (3, 4, 4), imglist=[[1.0, "gone.jpg"]], path_root=str(tmp_path))
    with pytest.raises(MXNetError, match="gone.jpg"):
        it.next()


def test_image_iter_broken_image_raises_naming_it(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8garbage")
    it = mx.image.ImageIter(1, (3, 4, 4), imglist=[[1.0, "bad.jpg"]], path_root=str(tmp_path))
    with pytest.raises(RuntimeError, match="Broken image filename: bad.jpg"):
        it.next()


def test_image_iter_rejects_a_data_shape_without_three_channels():
    with pytest.raises(ValueError, match="3 channels"):
        rec_iter(batch_size=1, data_shape=(1, 8, 8))
