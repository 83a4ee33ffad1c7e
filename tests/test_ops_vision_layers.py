"""Vision layers that move or repeat pixels: UpSampling (nearest and bilinear), Pad/pad, Crop,
depth_to_space and space_to_depth against numpy, their gradients against float64 finite
differences (with grad_req add and null), shape inference, and the errors for bad attributes
and shapes, raised before anything is pushed."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd
from op_check import check_gradient, forward, info

rng = np.random.default_rng(41)


def randn(*shape):
    return rng.standard_normal(shape)


# ---- References ------------------------------------------------------------------------------

def nearest_ref(x, s):
    return np.repeat(np.repeat(x, s, axis=2), s, axis=3)


def bilinear_ref(x, w, s):
    """MXNet's bilinear UpSampling: a depthwise transposed convolution, kernel 2s - s % 2,
    stride s, padding ceil((s - 1) / 2)."""
    n, c, h, wd = x.shape
    k, p = 2 * s - s % 2, int(np.ceil((s - 1) / 2))
    full = np.zeros((n, c, (h - 1) * s + k, (wd - 1) * s + k))
    for i in range(h):
        for j in range(wd):
            full[:, :, i * s:i * s + k, j * s:j * s + k] += x[:, :, i, j][:, :, None, None] * w[None, :, 0]
    return full[:, :, p:p + h * s, p:p + wd * s]


def depth_to_space_ref(x, b):
    n, c, h, w = x.shape
    y = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    return y.reshape(n, c // (b * b), h * b, w * b)


def space_to_depth_ref(x, b):
    n, c, h, w = x.shape
    y = x.reshape(n, c, h // b, b, w // b, b).transpose(0, 3, 5, 1, 2, 4)
    return y.reshape(n, c * b * b, h // b, w // b)


def pairs(pad_width):
    return list(zip(pad_width[::2], pad_width[1::2]))


# ---- UpSampling --------------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [1, 2, 3])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_upsampling_nearest_repeats_each_element(scale, dtype):
    x = randn(2, 3, 4, 5).astype(dtype)
    (y,) = forward("UpSampling", [x], scale=scale, sample_type="nearest", num_args=1)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y, nearest_ref(x, scale))


def test_upsampling_nearest_joins_inputs_along_channels():
    a, b = randn(2, 2, 4, 6), randn(2, 3, 2, 3)
    (y,) = forward("UpSampling", [a, b], scale=2, sample_type="nearest", num_args=2)
    np.testing.assert_array_equal(y, np.concatenate([nearest_ref(a, 2), nearest_ref(b, 4)], axis=1))


def test_upsampling_nearest_sums_inputs_in_sum_mode():
    a, b = randn(1, 2, 4, 4), randn(1, 2, 2, 2)
    (y,) = forward("UpSampling", [a, b], scale=1, sample_type="nearest", num_args=2, multi_input_mode="sum")
    np.testing.assert_allclose(y, a + nearest_ref(b, 2), rtol=1e-12)


def test_upsampling_nearest_large_planes_split_across_workers_match():
    x = randn(4, 16, 40, 40).astype(np.float32)
    (y,) = forward("UpSampling", [x], scale=2, sample_type="nearest", num_args=1)
    np.testing.assert_array_equal(y, nearest_ref(x, 2))


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_upsampling_bilinear_is_a_depthwise_transposed_convolution(scale, dtype):
    k = 2 * scale - scale % 2
    x, w = randn(2, 3, 3, 4).astype(dtype), randn(3, 1, k, k).astype(dtype)
    (y,) = forward("UpSampling", [x, w], scale=scale, sample_type="bilinear", num_filter=3, num_args=2)
    assert y.shape == (2, 3, 3 * scale, 4 * scale) and y.dtype == np.dtype(dtype)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(y, bilinear_ref(x.astype(np.float64), w, scale), rtol=tol, atol=tol)


@pytest.mark.parametrize("scale", [1, 2, 3])
def test_upsampling_nearest_gradient(scale):
    check_gradient("UpSampling", [randn(2, 2, 3, 2)], scale=scale, sample_type="nearest", num_args=1)


@pytest.mark.parametrize("mode", ["concat", "sum"])
def test_upsampling_nearest_gradient_of_several_inputs(mode):
    check_gradient("UpSampling", [randn(1, 2, 4, 2), randn(1, 2, 2, 1)], scale=1, sample_type="nearest",
                   num_args=2, multi_input_mode=mode)


@pytest.mark.parametrize("scale", [2, 3])
def test_upsampling_bilinear_gradient(scale):
    k = 2 * scale - scale % 2
    check_gradient("UpSampling", [randn(2, 2, 2, 3), randn(2, 1, k, k)], scale=scale, sample_type="bilinear",
                   num_filter=2, num_args=2)


def test_upsampling_arguments_and_weight_shape_are_inferred():
    nearest = mx.sym.UpSampling(mx.sym.Variable("a"), mx.sym.Variable("b"), scale=2, sample_type="nearest")
    assert nearest.list_arguments() == ["a", "b"]
    _, outs, _ = nearest.infer_shape(a=(1, 2, 3, 3), b=(1, 4, 3, 3))
    assert outs == [(1, 6, 6, 6)]
    bilinear = mx.sym.UpSampling(mx.sym.Variable("data"), scale=4, sample_type="bilinear", num_filter=5,
                                 name="up")
    args, outs, _ = bilinear.infer_shape(data=(2, 5, 7, 3))
    assert bilinear.list_arguments() == ["data", "up_weight"]
    assert args == [(2, 5, 7, 3), (5, 1, 8, 8)] and outs == [(2, 5, 28, 12)]


def test_upsampling_nd_function_takes_the_inputs_by_position():
    x = randn(1, 1, 2, 2)
    y = nd.UpSampling(nd.array(x), scale=2, sample_type="nearest")
    np.testing.assert_array_equal(y.asnumpy(), nearest_ref(x, 2).astype(np.float32))


# ---- Pad ---------------------------------------------------------------------------------------

PAD_CASES = [
    ((2, 3, 3, 4), (0, 0, 0, 0, 1, 2, 2, 1)),
    ((1, 2, 4, 5), (0, 0, 0, 0, 3, 0, 0, 4)),
    ((1, 2, 3, 3, 4), (0, 0, 0, 0, 2, 1, 1, 2, 0, 3)),
]


@pytest.mark.parametrize("op", ["Pad", "pad"])
@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
@pytest.mark.parametrize("shape,width", PAD_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pad_matches_numpy_pad(op, mode, shape, width, dtype):
    x = randn(*shape).astype(dtype)
    (y,) = forward(op, [x], mode=mode, pad_width=width, constant_value=1.5)
    kwargs = {"constant_values": 1.5} if mode == "constant" else {}
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y, np.pad(x, pairs(width), mode=mode, **kwargs))


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
@pytest.mark.parametrize("shape,width", [((1, 2, 3, 4), (0, 0, 0, 0, 2, 1, 3, 2)),
                                         ((1, 1, 3, 2, 3), (0, 0, 0, 0, 1, 2, 1, 1, 2, 0))])
def test_pad_gradient(mode, shape, width):
    check_gradient("Pad", [randn(*shape)], mode=mode, pad_width=width)


def test_pad_infers_data_shape_from_output():
    sym = mx.sym.Pad(mx.sym.Variable("data"), mode="edge", pad_width=(0, 0, 0, 0, 1, 1, 2, 2))
    args, outs, _ = sym.infer_shape(data=(2, 3, 4, 5))
    assert outs == [(2, 3, 6, 9)]


# ---- Crop --------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_crop_to_h_w_at_offset(dtype):
    x = randn(2, 3, 5, 6).astype(dtype)
    (y,) = forward("Crop", [x], num_args=1, h_w=(3, 4), offset=(1, 2))
    np.testing.assert_array_equal(y, x[:, :, 1:4, 2:6])


def test_crop_center_ignores_offset():
    x = randn(1, 2, 6, 7)
    (y,) = forward("Crop", [x], num_args=1, h_w=(3, 4), offset=(2, 2), center_crop=True)
    np.testing.assert_array_equal(y, x[:, :, 1:4, 1:5])


def test_crop_like_takes_the_second_inputs_height_and_width():
    x, like = randn(2, 2, 5, 5), randn(3, 7, 3, 2)
    (y,) = forward("Crop", [x, like], num_args=2, offset=(2, 1))
    np.testing.assert_array_equal(y, x[:, :, 2:5, 1:3])


def test_crop_gradient_places_the_window_back():
    check_gradient("Crop", [randn(2, 2, 4, 5)], num_args=1, h_w=(2, 3), offset=(1, 1))


def test_crop_like_gets_zero_gradient():
    grads = check_gradient("Crop", [randn(1, 2, 4, 4), randn(1, 1, 2, 3)], num_args=2, center_crop=True, wrt=[0])
    assert grads[0].shape == (1, 2, 4, 4)
    x = mx.sym.Variable("x")
    like = mx.sym.Variable("like")
    exe = mx.sym.Crop(x, like, num_args=2).simple_bind(mx.cpu(), x=(1, 1, 4, 4), like=(1, 1, 2, 2))
    exe.arg_dict["like"][:] = 1
    exe.forward(is_train=True)
    exe.backward(nd.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(exe.grad_dict["like"].asnumpy(), np.zeros((1, 1, 2, 2)))


def test_crop_symbol_names_its_inputs_arg0_arg1():
    sym = mx.sym.Crop(mx.sym.Variable("a"), mx.sym.Variable("b"), num_args=2)
    assert sym.list_arguments() == ["a", "b"]
    _, outs, _ = sym.infer_shape(a=(1, 3, 8, 8), b=(1, 1, 5, 6))
    assert outs == [(1, 3, 5, 6)]


# ---- depth_to_space / space_to_depth -----------------------------------------------------------

@pytest.mark.parametrize("block", [1, 2, 3])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_depth_to_space_matches_numpy(block, dtype):
    x = (randn(2, 2 * block * block, 2, 3) * 10).astype(dtype)
    (y,) = forward("depth_to_space", [x], block_size=block)
    np.testing.assert_array_equal(y, depth_to_space_ref(x, block))


@pytest.mark.parametrize("block", [1, 2, 3])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_space_to_depth_matches_numpy_and_inverts_depth_to_space(block, dtype):
    x = randn(2, 3, 2 * block, 3 * block).astype(dtype)
    (y,) = forward("space_to_depth", [x], block_size=block)
    np.testing.assert_array_equal(y, space_to_depth_ref(x, block))
    (back,) = forward("depth_to_space", [y], block_size=block)
    np.testing.assert_array_equal(back, x)


@pytest.mark.parametrize("op,shape", [("depth_to_space", (1, 8, 2, 3)), ("space_to_depth", (1, 2, 4, 2))])
def test_depth_space_gradient(op, shape):
    check_gradient(op, [randn(*shape)], block_size=2)


def test_depth_space_infer_shape_both_ways():
    sym = mx.sym.depth_to_space(mx.sym.Variable("data"), block_size=2)
    _, outs, _ = sym.infer_shape(data=(1, 8, 3, 4))
    assert outs == [(1, 2, 6, 8)]
    sym = mx.sym.space_to_depth(mx.sym.Variable("data"), block_size=3)
    _, outs, _ = sym.infer_shape(data=(2, 1, 6, 3))
    assert outs == [(2, 9, 2, 1)]


# ---- grad_req='null' and errors ---------------------------------------------------------------

@pytest.mark.parametrize("op,inputs,attrs", [
    ("UpSampling", [(1, 2, 2, 2)], dict(scale=2, sample_type="nearest", num_args=1)),
    ("UpSampling", [(1, 2, 2, 2), (2, 1, 4, 4)], dict(scale=2, sample_type="bilinear", num_filter=2, num_args=2)),
    ("Pad", [(1, 1, 3, 3)], dict(mode="reflect", pad_width=(0, 0, 0, 0, 1, 1, 1, 1))),
    ("Crop", [(1, 1, 3, 3)], dict(num_args=1, h_w=(2, 2))),
    ("depth_to_space", [(1, 4, 2, 2)], dict(block_size=2)),
    ("space_to_depth", [(1, 1, 2, 2)], dict(block_size=2)),
])
def test_null_requests_leave_gradients_alone(op, inputs, attrs):
    from flowmod import _native
    from op_check import _attrs
    arrays = [nd.array(randn(*s)) for s in inputs]
    outs = _native.invoke(op, [a._h for a in arrays], _attrs(attrs), [], True, True)
    n_visible = len(info(op, **attrs)["outputs"])
    head = [nd.ones(nd.NDArray._wrap(h, None).shape) for h in outs[:n_visible]]
    grads = [nd.full(a.shape, 7.0) for a in arrays]
    _native.invoke_backward(op, _attrs(attrs), [h._h for h in head], [a._h for a in arrays], outs,
                            [g._h for g in grads], ["null"] * len(arrays), True)
    for g in grads:
        np.testing.assert_array_equal(g.asnumpy(), 7.0)


X4 = nd.zeros((1, 4, 4, 4))


@pytest.mark.parametrize("call,match", [
    (lambda: nd.UpSampling(X4, scale=0, sample_type="nearest"), r"scale=0: expected an integer >= 1"),
    (lambda: nd.UpSampling(X4, scale=2, sample_type="cubic"), r"sample_type='cubic'"),
    (lambda: nd.UpSampling(X4, nd.zeros((4, 1, 4, 4)), scale=2, sample_type="bilinear"),
     r"num_filter=0: expected the number of channels"),
    (lambda: nd.UpSampling(X4, nd.zeros((4, 1, 4, 4)), scale=2, sample_type="bilinear", num_filter=3),
     r"data=an array of shape \(1, 4, 4, 4\): expected 3 channels"),
    (lambda: nd.UpSampling(X4, nd.zeros((4, 1, 3, 3)), scale=2, sample_type="bilinear", num_filter=4),
     r"weight"),
    (lambda: nd.UpSampling(nd.zeros((1, 4, 4)), scale=2, sample_type="nearest"), r"expected 4 dimensions"),
    (lambda: nd.UpSampling(X4, nd.zeros((1, 1, 3, 3)), scale=2, sample_type="nearest"),
     r"arg1=an array of shape \(1, 1, 3, 3\): expected a height and width that divide"),
    (lambda: nd.UpSampling(X4, nd.zeros((1, 2, 2, 2)), scale=1, sample_type="nearest", multi_input_mode="sum"),
     r"arg1=.*expected 4 channels, as arg0"),
    (lambda: nd.Pad(X4, mode="wrap", pad_width=(0,) * 8), r"mode='wrap'"),
    (lambda: nd.Pad(X4, mode="edge", pad_width=(0, 0, 0, 0, 1, 1)), r"pad_width=.*expected 8 or 10 widths"),
    (lambda: nd.Pad(X4, mode="edge", pad_width=(0, 1, 0, 0, 1, 1, 1, 1)), r"no padding of the batch and channel"),
    (lambda: nd.Pad(X4, mode="edge", pad_width=(0, 0, 0, 0, 1, 1, 1, 1, 1, 1)),
     r"data=an array of shape \(1, 4, 4, 4\): expected 5 dimensions"),
    (lambda: nd.Pad(X4, mode="reflect", pad_width=(0, 0, 0, 0, 4, 1, 1, 1)),
     r"expected each axis longer than its reflect padding"),
    (lambda: nd.Pad(X4, mode="constant", pad_width=(0, 0, 0, 0, -1, 1, 1, 1)), r"expected non-negative widths"),
    (lambda: nd.Crop(X4), r"h_w=.*expected a height and width >= 1"),
    (lambda: nd.Crop(X4, h_w=(5, 2)), r"arg0=an array of shape \(1, 4, 4, 4\): expected at least h_w 5x2"),
    (lambda: nd.Crop(X4, h_w=(2, 2), offset=(3, 0)), r"offset=\(3, 0\): expected a window of 2x2"),
    (lambda: nd.Crop(X4, h_w=(2, 2), offset=(-1, 0)), r"offset=.*expected two non-negative"),
    (lambda: nd.Crop(X4, nd.zeros((1, 1, 5, 5))), r"expected at least the crop_like"),
    (lambda: nd.Crop(X4, X4, X4), r"num_args=3: expected 1"),
    (lambda: nd.depth_to_space(X4, block_size=0), r"block_size=0: expected an integer >= 1"),
    (lambda: nd.depth_to_space(X4, block_size=3), r"expected channels divisible by block_size\^2 = 9"),
    (lambda: nd.space_to_depth(X4, block_size=3), r"expected height and width divisible by block_size=3"),
    (lambda: nd.space_to_depth(nd.zeros((4, 4)), block_size=2), r"expected 4 dimensions"),
])
def test_bad_arguments_raise_naming_the_problem(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
