"""Convolution, Deconvolution, Pooling and BatchNorm against numpy references, float64 finite
differences, MXNet's output-shape formulas and attribute errors."""
from __future__ import annotations

import math

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd
from op_check import _attrs, check_gradient, forward, info

rng = np.random.default_rng(0)


# ---- numpy references ----------------------------------------------------------------------

def _as_2d(kernel, stride, pad, dilate):
    if len(kernel) == 1:
        return (1,) + tuple(kernel), (1,) + tuple(stride), (0,) + tuple(pad), (1,) + tuple(dilate)
    return tuple(kernel), tuple(stride), tuple(pad), tuple(dilate)


def conv_ref(x, w, b, kernel, stride=None, pad=None, dilate=None, groups=1):
    nd_ = len(kernel)
    stride = stride or (1,) * nd_
    pad = pad or (0,) * nd_
    dilate = dilate or (1,) * nd_
    if nd_ == 1:
        x, w = x[:, :, None, :], w[:, :, None, :]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = _as_2d(kernel, stride, pad, dilate)
    n, c, h, wd = x.shape
    m = w.shape[0]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho = (h + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    wo = (wd + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    out = np.zeros((n, m, ho, wo))
    cg, mg = c // groups, m // groups
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, g * cg:(g + 1) * cg, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                           j * dw:j * dw + sw * (wo - 1) + 1:sw]
                out[:, g * mg:(g + 1) * mg] += np.einsum("nchw,mc->nmhw", patch, w[g * mg:(g + 1) * mg, :, i, j])
    if b is not None:
        out += b[None, :, None, None]
    return out[:, :, 0, :] if nd_ == 1 else out


def deconv_ref(x, w, b, kernel, num_filter, stride=None, pad=None, adj=None, dilate=None, groups=1):
    nd_ = len(kernel)
    stride = stride or (1,) * nd_
    pad = pad or (0,) * nd_
    adj = adj or (0,) * nd_
    dilate = dilate or (1,) * nd_
    if nd_ == 1:
        x, w = x[:, :, None, :], w[:, :, None, :]
        adj = (0,) + tuple(adj)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = _as_2d(kernel, stride, pad, dilate)
    n, c, h, wd = x.shape
    ho = sh * (h - 1) + dh * (kh - 1) + 1 - 2 * ph + adj[0]
    wo = sw * (wd - 1) + dw * (kw - 1) + 1 - 2 * pw + adj[1]
    full = np.zeros((n, num_filter, max(sh * (h - 1) + dh * (kh - 1) + 1, ho + ph),
                     max(sw * (wd - 1) + dw * (kw - 1) + 1, wo + pw)))
    cg, fg = c // groups, num_filter // groups
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                full[:, g * fg:(g + 1) * fg, i * dh:i * dh + sh * (h - 1) + 1:sh,
                     j * dw:j * dw + sw * (wd - 1) + 1:sw] += np.einsum(
                         "nchw,cf->nfhw", x[:, g * cg:(g + 1) * cg], w[g * cg:(g + 1) * cg, :, i, j])
    out = full[:, :, ph:ph + ho, pw:pw + wo]
    if b is not None:
        out = out + b[None, :, None, None]
    return out[:, :, 0, :] if nd_ == 1 else out


def pooled_size(size, k, s, p, convention):
    if convention == "valid":
        return (size + 2 * p - k) // s + 1
    if convention == "full":
        return math.ceil((size + 2 * p - k) / s) + 1
    return math.ceil((size + 2 * p) / s)


def pool_ref(x, kernel, pool_type="max", stride=None, pad=None, convention="valid", count_include_pad=True,
             global_pool=False, p_value=None):
    one_d = x.ndim == 3
    if one_d:
        x = x[:, :, None, :]
    n, c, h, w = x.shape
    if global_pool:
        kernel, stride, pad = (h, w), (1, 1), (0, 0)
    else:
        kernel, stride, pad, _ = _as_2d(kernel, stride or (1,) * len(kernel), pad or (0,) * len(kernel),
                                        (1,) * len(kernel))
    ho = 1 if global_pool else pooled_size(h, kernel[0], stride[0], pad[0], convention)
    wo = 1 if global_pool else pooled_size(w, kernel[1], stride[1], pad[1], convention)
    out = np.zeros((n, c, ho, wo))
    for oh in range(ho):
        for ow in range(wo):
            h0, w0 = oh * stride[0] - pad[0], ow * stride[1] - pad[1]
            h1, w1 = min(h0 + kernel[0], h + pad[0]), min(w0 + kernel[1], w + pad[1])
            count = (h1 - h0) * (w1 - w0)
            win = x[:, :, max(h0, 0):min(h1, h), max(w0, 0):min(w1, w)]
            if pool_type == "max":
                out[:, :, oh, ow] = win.max(axis=(2, 3)) if win.size else np.finfo(x.dtype).min
            elif pool_type == "avg":
                if not count_include_pad:
                    count = win.shape[2] * win.shape[3]
                out[:, :, oh, ow] = win.sum(axis=(2, 3)) / count
            elif pool_type == "sum":
                out[:, :, oh, ow] = win.sum(axis=(2, 3))
            else:
                out[:, :, oh, ow] = (win ** p_value).sum(axis=(2, 3)) ** (1.0 / p_value)
    return out[:, :, 0, :] if one_d else out


# ---- Convolution ------------------------------------------------------------------------------

CONV_CASES = [
    # data shape, kernel, extra attributes
    ((2, 3, 7, 6), (3, 3), {}),
    ((1, 4, 8, 9), (3, 2), dict(stride=(2, 3), pad=(1, 2))),
    ((2, 4, 9, 9), (3, 3), dict(dilate=(2, 1), pad=(2, 0), num_group=2)),
    ((3, 6, 5, 5), (1, 1), dict(num_group=3)),
    ((2, 2, 5, 5), (1, 1), dict(stride=(2, 2))),
    ((1, 1, 1, 1), (1, 1), {}),
    ((2, 3, 4, 5), (4, 5), {}),
    ((2, 3, 10), (3,), {}),
    ((1, 4, 11), (4,), dict(stride=(2,), pad=(1,), dilate=(2,), num_group=2)),
    ((3, 2, 6), (1,), {}),
]


@pytest.mark.parametrize("shape,kernel,extra", CONV_CASES)
@pytest.mark.parametrize("no_bias", [False, True])
def test_convolution_forward_matches_numpy(shape, kernel, extra, no_bias):
    groups = extra.get("num_group", 1)
    num_filter = 2 * groups
    x = rng.standard_normal(shape)
    w = rng.standard_normal((num_filter, shape[1] // groups) + kernel)
    b = rng.standard_normal(num_filter)
    inputs = [x, w] if no_bias else [x, w, b]
    for dtype, tol in [(np.float32, 1e-4), (np.float64, 1e-10)]:
        (y,) = forward("Convolution", [a.astype(dtype) for a in inputs], kernel=kernel, num_filter=num_filter,
                       no_bias=no_bias, **extra)
        ref = conv_ref(x, w, None if no_bias else b, kernel, extra.get("stride"), extra.get("pad"),
                       extra.get("dilate"), groups)
        assert y.dtype == dtype
        np.testing.assert_allclose(y, ref, rtol=tol, atol=tol)


def test_convolution_float16_and_large_batch():
    # A batch larger than one scratch chunk takes several products.
    x = rng.standard_normal((40, 8, 40, 40)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32) * 0.1
    b = rng.standard_normal(16).astype(np.float32)
    y = nd.Convolution(nd.array(x), nd.array(w), nd.array(b), kernel=(3, 3), num_filter=16, pad=(1, 1)).asnumpy()
    np.testing.assert_allclose(y, conv_ref(x, w, b, (3, 3), pad=(1, 1)), rtol=1e-3, atol=1e-3)
    xh = rng.standard_normal((2, 3, 6, 6))
    wh = rng.standard_normal((4, 3, 3, 3)) * 0.3
    (yh,) = forward("Convolution", [xh.astype(np.float16), wh.astype(np.float16)], kernel=(3, 3), num_filter=4,
                    no_bias=True)
    assert yh.dtype == np.float16
    np.testing.assert_allclose(yh, conv_ref(xh, wh, None, (3, 3)), rtol=2e-2, atol=2e-2)


def test_convolution_on_sliced_input_and_mxnet_attribute_forms():
    big = rng.standard_normal((5, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    view = nd.array(big)[1:3]  # a view into the middle of the batch
    y = nd.Convolution(view, nd.array(w), kernel="(3, 3)", num_filter="2", no_bias="True", stride="[1,1]")
    np.testing.assert_allclose(y.asnumpy(), conv_ref(big[1:3], w, None, (3, 3)), rtol=1e-4, atol=1e-4)
    # A non-contiguous numpy slice.
    xs = big[:, :, ::2, 1:]
    w2 = rng.standard_normal((2, 3, 2, 2)).astype(np.float32)
    (ys,) = forward("Convolution", [xs, w2], kernel=(2, 2), num_filter=2, no_bias=True)
    np.testing.assert_allclose(ys, conv_ref(xs, w2, None, (2, 2)), rtol=1e-4, atol=1e-4)


def test_convolution_infers_parameter_shapes():
    assert info("Convolution", kernel=(3, 3), num_filter=4)["arguments"] == ["data", "weight", "bias"]
    assert info("Convolution", kernel=(3, 3), num_filter=4, no_bias=True)["arguments"] == ["data", "weight"]
    # Weight and bias come from the data and the attributes: only data is needed to infer them.
    x = nd.ones((2, 6, 5, 5))
    with pytest.raises(mx.MXNetError, match=r"Convolution: weight=shape \(4, 6, 3, 3\): "
                                            r"expected shape \(4, 3, 3, 3\)"):
        nd.Convolution(x, nd.ones((4, 6, 3, 3)), nd.ones((4,)), kernel=(3, 3), num_filter=4, num_group=2)
    with pytest.raises(mx.MXNetError, match=r"Convolution: bias=shape \(3,\): expected shape \(4,\)"):
        nd.Convolution(x, nd.ones((4, 6, 3, 3)), nd.ones((3,)), kernel=(3, 3), num_filter=4)


@pytest.mark.parametrize("shape,kernel,extra", [
    ((2, 3, 5, 4), (3, 2), dict(stride=(2, 1), pad=(1, 1))),
    ((1, 4, 5, 5), (2, 2), dict(dilate=(2, 2), num_group=2)),
    ((2, 2, 3, 3), (1, 1), {}),
    ((2, 2, 7), (3,), dict(stride=(2,), pad=(1,))),
])
def test_convolution_gradients(shape, kernel, extra):
    groups = extra.get("num_group", 1)
    num_filter = 2 * groups
    x = rng.standard_normal(shape)
    w = rng.standard_normal((num_filter, shape[1] // groups) + kernel)
    b = rng.standard_normal(num_filter)
    check_gradient("Convolution", [x, w, b], kernel=kernel, num_filter=num_filter, **extra)


def test_convolution_gradient_without_bias_and_null_requests():
    x = rng.standard_normal((2, 2, 4, 4))
    w = rng.standard_normal((3, 2, 3, 3))
    check_gradient("Convolution", [x, w], kernel=(3, 3), num_filter=3, no_bias=True, pad=(1, 1))
    # Only the weight: the data gradient request is null.
    check_gradient("Convolution", [x, w], kernel=(3, 3), num_filter=3, no_bias=True, wrt=[1])


# ---- Deconvolution --------------------------------------------------------------------------

DECONV_CASES = [
    ((2, 3, 4, 5), (3, 3), {}),
    ((1, 4, 3, 3), (3, 2), dict(stride=(2, 3), pad=(1, 0), adj=(1, 2), num_group=2)),
    ((2, 2, 4, 4), (2, 2), dict(dilate=(2, 1), stride=(2, 2))),
    ((2, 3, 3, 3), (1, 1), {}),
    ((2, 3, 5), (3,), dict(stride=(2,), pad=(1,), adj=(1,))),
]


def test_deconvolution_no_bias_defaults_to_true():
    assert info("Deconvolution", kernel=(3, 3), num_filter=2)["arguments"] == ["data", "weight"]
    assert info("Deconvolution", kernel=(3, 3), num_filter=2, no_bias=False)["arguments"] == ["data", "weight", "bias"]


@pytest.mark.parametrize("shape,kernel,extra", DECONV_CASES)
@pytest.mark.parametrize("no_bias", [False, True])
def test_deconvolution_forward_matches_numpy(shape, kernel, extra, no_bias):
    groups = extra.get("num_group", 1)
    num_filter = 2 * groups
    x = rng.standard_normal(shape)
    w = rng.standard_normal((shape[1], num_filter // groups) + kernel)
    b = rng.standard_normal(num_filter)
    inputs = [x, w] if no_bias else [x, w, b]
    ref = deconv_ref(x, w, None if no_bias else b, kernel, num_filter, extra.get("stride"), extra.get("pad"),
                     extra.get("adj"), extra.get("dilate"), groups)
    for dtype, tol in [(np.float32, 1e-4), (np.float64, 1e-10)]:
        (y,) = forward("Deconvolution", [a.astype(dtype) for a in inputs], kernel=kernel, num_filter=num_filter,
                       no_bias=no_bias, **extra)
        assert y.dtype == dtype
        np.testing.assert_allclose(y, ref, rtol=tol, atol=tol)


def test_deconvolution_target_shape_sets_pad_and_adj():
    x = rng.standard_normal((1, 2, 4, 4))
    w = rng.standard_normal((2, 3, 3, 3))
    (y,) = forward("Deconvolution", [x, w], kernel=(3, 3), num_filter=3, stride=(2, 2), target_shape=(8, 7))
    assert y.shape == (1, 3, 8, 7)
    # Full size 2 * 3 + 3 = 9: 8 takes pad 1 and adj 1, 7 takes pad 1 and adj 0 (MXNet's InferPad).
    ref = deconv_ref(x, w, None, (3, 3), 3, (2, 2), (1, 1), (1, 0))
    np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-10)
    with pytest.raises(mx.MXNetError, match=r"Deconvolution: target_shape=\(10, 7\): expected sizes no larger"):
        forward("Deconvolution", [x, w], kernel=(3, 3), num_filter=3, stride=(2, 2), target_shape=(10, 7))


@pytest.mark.parametrize("shape,kernel,extra", DECONV_CASES[:2] + DECONV_CASES[3:])
def test_deconvolution_gradients(shape, kernel, extra):
    groups = extra.get("num_group", 1)
    num_filter = 2 * groups
    x = rng.standard_normal(shape)
    w = rng.standard_normal((shape[1], num_filter // groups) + kernel)
    b = rng.standard_normal(num_filter)
    check_gradient("Deconvolution", [x, w, b], kernel=kernel, num_filter=num_filter, no_bias=False, **extra)


def test_deconvolution_is_the_transpose_of_convolution():
    # <conv(x, w), y> == <x, deconv(y, w)> with the same weight array.
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((4, 3, 3, 2))
    attrs = dict(kernel=(3, 2), stride=(2, 2), pad=(1, 1))
    (cx,) = forward("Convolution", [x, w], num_filter=4, no_bias=True, **attrs)
    y = rng.standard_normal(cx.shape)
    (dy,) = forward("Deconvolution", [y, w], num_filter=3, **attrs)
    assert dy.shape == x.shape
    np.testing.assert_allclose(np.sum(cx * y), np.sum(x * dy), rtol=1e-10)


# ---- Pooling --------------------------------------------------------------------------------

@pytest.mark.parametrize("size,k,s,p", [(7, 2, 2, 0), (8, 3, 2, 1), (5, 3, 3, 0), (6, 1, 4, 0), (10, 4, 3, 2),
                                        (3, 3, 1, 0), (1, 1, 1, 0)])
@pytest.mark.parametrize("convention", ["valid", "full"])
def test_pooling_output_shapes_follow_mxnet(size, k, s, p, convention):
    x = nd.ones((1, 2, size, size + 1))
    y = nd.Pooling(x, kernel=(k, k), stride=(s, s), pad=(p, p), pooling_convention=convention)
    assert y.shape == (1, 2, pooled_size(size, k, s, p, convention), pooled_size(size + 1, k, s, p, convention))


def test_pooling_full_differs_from_valid_and_same_is_ceil():
    x = nd.ones((1, 1, 7, 7))
    assert nd.Pooling(x, kernel=(2, 2), stride=(2, 2)).shape == (1, 1, 3, 3)
    assert nd.Pooling(x, kernel=(2, 2), stride=(2, 2), pooling_convention="full").shape == (1, 1, 4, 4)
    assert nd.Pooling(nd.ones((1, 1, 7)), kernel=(3,), stride=(2,), pooling_convention="same").shape == (1, 1, 4)
    assert nd.Pooling(x, global_pool=True, pool_type="avg").shape == (1, 1, 1, 1)
    assert nd.Pooling(nd.ones((2, 3, 5)), kernel=(2, 2), global_pool=True).shape == (2, 3, 1)


POOL_CASES = [
    ((2, 3, 7, 6), dict(kernel=(2, 2), stride=(2, 2))),
    ((1, 2, 8, 8), dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1))),
    ((2, 1, 7, 5), dict(kernel=(3, 2), stride=(2, 2), pad=(1, 1), pooling_convention="full")),
    ((1, 2, 5, 5), dict(kernel=(2, 3), stride=(3, 1), pooling_convention="full")),
    ((2, 2, 4, 5), dict(global_pool=True)),
    ((1, 2, 10, 9), dict(global_pool=True)),  # windows over 8 x 8 take the plain search
    ((1, 1, 1, 1), dict(kernel=(1, 1))),
    ((2, 3, 9), dict(kernel=(3,), stride=(2,), pad=(1,))),
    ((2, 3, 9), dict(kernel=(4,), stride=(3,), pooling_convention="full")),
    ((1, 2, 7), dict(kernel=(3,), stride=(2,), pooling_convention="same")),
]


@pytest.mark.parametrize("shape,attrs", POOL_CASES)
@pytest.mark.parametrize("pool_type", ["max", "avg", "sum"])
def test_pooling_forward_matches_numpy(shape, attrs, pool_type):
    x = rng.standard_normal(shape)
    for dtype, tol in [(np.float32, 1e-5), (np.float64, 1e-12)]:
        (y,) = forward("Pooling", [x.astype(dtype)], pool_type=pool_type, **attrs)
        ref = pool_ref(x.astype(dtype), attrs.get("kernel"), pool_type, attrs.get("stride"), attrs.get("pad"),
                       attrs.get("pooling_convention", "valid"), global_pool=attrs.get("global_pool", False))
        assert y.dtype == dtype
        np.testing.assert_allclose(y, ref, rtol=tol, atol=tol)


def test_pooling_avg_count_include_pad():
    x = rng.standard_normal((1, 2, 5, 5))
    attrs = dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="avg")
    (inc,) = forward("Pooling", [x], **attrs)
    (exc,) = forward("Pooling", [x], count_include_pad=False, **attrs)
    np.testing.assert_allclose(inc, pool_ref(x, (3, 3), "avg", (2, 2), (1, 1)), rtol=1e-12)
    np.testing.assert_allclose(exc, pool_ref(x, (3, 3), "avg", (2, 2), (1, 1), count_include_pad=False), rtol=1e-12)
    # The corner window holds 4 inputs: divided by 9 with padding counted, else by 4.
    np.testing.assert_allclose(inc[0, 0, 0, 0] * 9, x[0, 0, :2, :2].sum(), rtol=1e-12)
    np.testing.assert_allclose(exc[0, 0, 0, 0] * 4, x[0, 0, :2, :2].sum(), rtol=1e-12)
    (none,) = forward("Pooling", [x], count_include_pad="None", **attrs)
    np.testing.assert_array_equal(none, inc)


@pytest.mark.parametrize("p", [1, 2, 3])
def test_pooling_lp(p):
    x = rng.uniform(0.5, 2, (2, 2, 6, 6))
    attrs = dict(kernel=(2, 2), stride=(2, 2), pool_type="lp", p_value=p)
    (y,) = forward("Pooling", [x], **attrs)
    np.testing.assert_allclose(y, pool_ref(x, (2, 2), "lp", (2, 2), p_value=p), rtol=1e-12)
    check_gradient("Pooling", [x], **attrs)


def test_pooling_sliced_input_and_float16():
    big = rng.standard_normal((4, 2, 6, 6)).astype(np.float32)
    y = nd.Pooling(nd.array(big)[1:3], kernel="(2, 2)", stride="(2, 2)", pool_type="'max'")
    np.testing.assert_allclose(y.asnumpy(), pool_ref(big[1:3], (2, 2), "max", (2, 2)), rtol=0)
    (yh,) = forward("Pooling", [big.astype(np.float16)], kernel=(3, 3), pool_type="avg")
    assert yh.dtype == np.float16
    np.testing.assert_allclose(yh, pool_ref(big, (3, 3), "avg"), rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("shape,attrs", POOL_CASES)
@pytest.mark.parametrize("pool_type", ["max", "avg", "sum"])
def test_pooling_gradients(shape, attrs, pool_type):
    # Distinct values keep the max unique, so finite differences are well defined.
    x = rng.permutation(np.prod(shape)).reshape(shape) * 0.1 + rng.uniform(0, 0.01, shape)
    check_gradient("Pooling", [x], pool_type=pool_type, **attrs)
    # Without the padding counted, a window wholly in the padding averages nothing (NaN, as in
    # MXNet), which finite differences cannot check.
    if pool_type == "avg" and not np.isnan(forward("Pooling", [x], pool_type="avg", count_include_pad=False,
                                                   **attrs)[0]).any():
        check_gradient("Pooling", [x], pool_type=pool_type, count_include_pad=False, **attrs)


def test_max_pooling_gradient_goes_to_the_first_maximum():
    x = np.array([[[[1.0, 3.0, 3.0], [3.0, 0.0, 3.0]]]], dtype=np.float32)
    outs = nd.Pooling(nd.array(x), kernel=(2, 3), pool_type="max")
    assert outs.asnumpy().item() == 3.0
    grad = nd.zeros(x.shape)
    _native.invoke_backward("Pooling", _attrs(dict(kernel=(2, 3), pool_type="max")), [nd.array([[[[2.0]]]])._h],
                           [nd.array(x)._h], [outs._h], [grad._h], ["write"], True)
    np.testing.assert_array_equal(grad.asnumpy(), [[[[0, 2.0, 0], [0, 0, 0]]]])


# ---- BatchNorm ------------------------------------------------------------------------------

def bn_ref(x, gamma, beta, mean, var, eps, axis=1, fix_gamma=True):
    shape = [1] * x.ndim
    shape[axis] = -1
    g = np.ones_like(gamma) if fix_gamma else gamma
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * g.reshape(shape) + beta.reshape(shape)


def _bn_inputs(shape, axis=1):
    c = shape[axis]
    return [rng.standard_normal(shape) * 2 + 1, rng.uniform(0.5, 1.5, c), rng.standard_normal(c),
            rng.standard_normal(c), rng.uniform(0.5, 2, c)]


@pytest.mark.parametrize("shape,axis", [((4, 3, 5, 5), 1), ((6, 4), 1), ((2, 3, 4), -1), ((1, 2, 3), 1),
                                        ((3, 1, 2, 2), 1), ((5, 2, 3), 0)])
@pytest.mark.parametrize("fix_gamma", [True, False])
def test_batchnorm_training_uses_batch_stats_and_updates_moving_averages(shape, axis, fix_gamma):
    x, gamma, beta, mm, mv = _bn_inputs(shape, axis)
    arrays = [nd.array(a) for a in (x, gamma, beta, mm, mv)]
    out, mean, invstd = nd.invoke("BatchNorm", arrays, is_train=True, eps=1e-3, momentum=0.8, axis=axis,
                                  fix_gamma=fix_gamma, output_mean_var=True)
    red = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    bmean, bvar = x.mean(axis=red), x.var(axis=red)
    np.testing.assert_allclose(out.asnumpy(), bn_ref(x, gamma, beta, bmean, bvar, 1e-3, axis % x.ndim, fix_gamma),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mean.asnumpy(), bmean, rtol=1e-5, atol=1e-6)
    # The second output is the inverse standard deviation, as MXNet's CPU operator returns it.
    np.testing.assert_allclose(invstd.asnumpy(), 1 / np.sqrt(bvar + 1e-3), rtol=1e-5)
    # Biased batch variance in the moving average; gamma is never written.
    np.testing.assert_allclose(arrays[3].asnumpy(), mm * 0.8 + bmean * 0.2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arrays[4].asnumpy(), mv * 0.8 + bvar * 0.2, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(arrays[1].asnumpy(), gamma.astype(np.float32))


@pytest.mark.parametrize("is_train,use_global_stats", [(False, False), (True, True)])
def test_batchnorm_moving_stats_mode_leaves_aux_alone(is_train, use_global_stats):
    x, gamma, beta, mm, mv = _bn_inputs((3, 4, 2, 2))
    arrays = [nd.array(a) for a in (x, gamma, beta, mm, mv)]
    out = nd.invoke("BatchNorm", arrays, is_train=is_train, use_global_stats=use_global_stats, fix_gamma=False)
    np.testing.assert_allclose(out.asnumpy(), bn_ref(x, gamma, beta, mm, mv, 1e-3, fix_gamma=False),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(arrays[3].asnumpy(), mm.astype(np.float32))
    np.testing.assert_array_equal(arrays[4].asnumpy(), mv.astype(np.float32))


def test_batchnorm_on_a_sliced_batch_with_string_attributes():
    x, gamma, beta, mm, mv = _bn_inputs((5, 3, 4))
    view = nd.array(x)[1:4]
    out = nd.BatchNorm(view, nd.array(gamma), nd.array(beta), nd.array(mm), nd.array(mv), eps="0.01",
                       fix_gamma="False", use_global_stats="True", axis="1")
    np.testing.assert_allclose(out.asnumpy(), bn_ref(x[1:4], gamma, beta, mm, mv, 0.01, fix_gamma=False),
                               rtol=1e-5, atol=1e-5)


def test_batchnorm_outputs_and_types():
    meta = info("BatchNorm")
    assert meta["arguments"] == ["data", "gamma", "beta"] and meta["aux"] == ["moving_mean", "moving_var"]
    assert meta["outputs"] == ["output"] and meta["num_outputs"] == 3
    assert info("BatchNorm", output_mean_var=True)["outputs"] == ["output", "mean", "var"]
    # float16 data keeps its parameters in float32.
    x, gamma, beta, mm, mv = _bn_inputs((2, 3, 4))
    arrays = [nd.array(x, dtype="float16")] + [nd.array(a, dtype="float32") for a in (gamma, beta, mm, mv)]
    out, mean, var = nd.invoke("BatchNorm", arrays, is_train=True, output_mean_var=True)
    assert out.dtype == np.float16 and mean.dtype == np.float32 and var.dtype == np.float32
    np.testing.assert_allclose(out.asnumpy(), bn_ref(x, gamma, beta, x.mean((0, 2)), x.var((0, 2)), 1e-3),
                               rtol=1e-2, atol=1e-2)
    with pytest.raises(mx.MXNetError, match=r"BatchNorm: gamma=type float16: expected float32"):
        nd.BatchNorm(nd.ones((2, 3), dtype="float16"), nd.ones((3,), dtype="float16"), nd.ones((3,)),
                     nd.ones((3,)), nd.ones((3,)))


@pytest.mark.parametrize("shape,axis", [((3, 2, 2, 3), 1), ((4, 3), 1), ((2, 3, 2), -1)])
@pytest.mark.parametrize("fix_gamma", [True, False])
def test_batchnorm_training_gradients(shape, axis, fix_gamma):
    grads = check_gradient("BatchNorm", _bn_inputs(shape, axis), axis=axis, fix_gamma=fix_gamma, rtol=1e-4,
                           atol=1e-6)
    if fix_gamma:
        assert not grads[1].any()


@pytest.mark.parametrize("fix_gamma", [True, False])
def test_batchnorm_global_stats_gradients(fix_gamma):
    inputs = _bn_inputs((3, 2, 2, 2))
    check_gradient("BatchNorm", inputs, use_global_stats=True, fix_gamma=fix_gamma)
    check_gradient("BatchNorm", inputs, is_train=False, fix_gamma=fix_gamma)


@pytest.mark.parametrize("op", ["BatchNorm", "BatchNorm_v1"])
def test_batchnorm_rounds_eps_and_momentum_as_mxnet_declares_them(op):
    # MXNet's eps defaults to 1e-3f and its momentum is a float (BatchNorm_v1's eps too): in
    # float64, a channel whose variance is near eps shows the rounding at 1e-8.
    x = rng.standard_normal((4, 3, 2, 2)) * 0.03
    gamma, beta, mm, mv = np.ones(3), np.zeros(3), rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    arrays = [nd.array(a, dtype="float64") for a in (x, gamma, beta, mm, mv)]
    eps = {} if op == "BatchNorm" else {"eps": 2e-5}
    out = nd.invoke(op, arrays, is_train=True, momentum=0.9, **eps)
    want_eps = float(np.float32(1e-3)) if op == "BatchNorm" else float(np.float32(2e-5))
    momentum = float(np.float32(0.9))
    bmean, bvar = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(out.asnumpy(), bn_ref(x, gamma, beta, bmean, bvar, want_eps), rtol=1e-13)
    np.testing.assert_allclose(arrays[3].asnumpy(), mm * momentum + bmean * (1 - momentum), rtol=1e-14)
    np.testing.assert_allclose(arrays[4].asnumpy(), mv * momentum + bvar * (1 - momentum), rtol=1e-14)


# ---- Attribute and shape errors -------------------------------------------------------------

@pytest.mark.parametrize("call,match", [
    (lambda: nd.Convolution(nd.ones((1, 1, 8, 8)), nd.ones((2, 1, 1, 5)), kernel=(0, 5), num_filter=2, no_bias=True),
     r"Convolution: kernel=\(0, 5\): expected every kernel size > 0"),
    (lambda: nd.Convolution(nd.ones((1, 1, 8, 8)), nd.ones((2, 1, 5, 5)), kernel=(5, 5), no_bias=True),
     r"Convolution: num_filter=\(missing\): expected an integer"),
    (lambda: nd.Convolution(nd.ones((1, 5, 8, 8)), nd.ones((4, 2, 3, 3)), kernel=(3, 3), num_filter=4,
                            num_group=2, no_bias=True),
     r"Convolution: num_group=2: expected a divisor of the data's 5 channels"),
    (lambda: nd.Convolution(nd.ones((1, 4, 8, 8)), nd.ones((3, 2, 3, 3)), kernel=(3, 3), num_filter=3,
                            num_group=2, no_bias=True),
     r"Convolution: num_filter=3: expected a multiple of num_group=2"),
    (lambda: nd.Convolution(nd.ones((1, 1, 4, 4)), nd.ones((2, 1, 7, 7)), kernel=(7, 7), num_filter=2,
                            pad=(1, 1), no_bias=True),
     r"Convolution: kernel=\(7, 7\): expected a \(dilated\) kernel no larger than the padded input"),
    (lambda: nd.Convolution(nd.ones((1, 1, 4, 4)), nd.ones((2, 1, 3, 3)), kernel=(3, 3), num_filter=2,
                            stride=(1,), no_bias=True),
     r"Convolution: stride=\(1,\): expected 2 values"),
    (lambda: nd.Convolution(nd.ones((1, 1, 4, 4)), nd.ones((2, 1, 3, 3)), kernel=(3, 3), num_filter=2,
                            layout="NHWC", no_bias=True),
     r"Convolution: layout='NHWC': expected NCHW"),
    (lambda: nd.Convolution(nd.ones((1, 1, 4, 4)), nd.ones((2, 1, 3)), kernel=(3,), num_filter=2, no_bias=True),
     r"Convolution: data=an array of shape \(1, 1, 4, 4\): expected a 3-D array"),
    (lambda: nd.Convolution(nd.ones((1, 1, 4, 4)), nd.ones((2, 1, 3, 3)), kernel=(3, 3), num_filter=2,
                            no_bias=True, cudnn_tune="slow"),
     r"Convolution: cudnn_tune='slow': expected one of"),
    (lambda: nd.Convolution(nd.ones((1, 1, 4, 4), dtype="int32"), nd.ones((2, 1, 3, 3), dtype="int32"),
                            kernel=(3, 3), num_filter=2, no_bias=True),
     r"Convolution: data=an array of type int32: expected float32, float64 or float16"),
    (lambda: nd.Convolution(nd.ones((1, 1, 4, 4)), nd.ones((2, 1, 3, 3)), kernel=(3, 3), num_filter=2,
                            no_bias=True, bogus=1),
     r"Convolution: bogus='1': expected an attribute of Convolution"),
    (lambda: nd.Deconvolution(nd.ones((1, 2, 4, 4)), nd.ones((2, 2, 3, 3)), kernel=(3, 3), num_filter=2,
                              stride=(2, 2), adj=(2, 0)),
     r"Deconvolution: adj=\(2, 0\): expected an adjustment smaller than the stride"),
    (lambda: nd.Deconvolution(nd.ones((1, 3, 4, 4)), nd.ones((3, 1, 3, 3)), kernel=(3, 3), num_filter=2,
                              num_group=2),
     r"Deconvolution: num_group=2: expected a divisor of the data's 3 channels"),
    (lambda: nd.Pooling(nd.ones((1, 1, 4, 4)), kernel=(5, 5)),
     r"Pooling: kernel=\(5, 5\): expected a kernel no larger than the padded input"),
    (lambda: nd.Pooling(nd.ones((1, 1, 4, 4)), kernel=(0, 2)), r"Pooling: kernel=\(0, 2\): expected every kernel"),
    (lambda: nd.Pooling(nd.ones((1, 1, 4, 4))), r"Pooling: kernel=\(missing\): expected \(w,\) or \(h, w\)"),
    (lambda: nd.Pooling(nd.ones((1, 1, 4, 4)), kernel=(2, 2), pool_type="median"),
     r"Pooling: pool_type='median': expected one of 'max', 'avg', 'sum', 'lp'"),
    (lambda: nd.Pooling(nd.ones((1, 1, 4, 4)), kernel=(2, 2), pooling_convention="same"),
     r"Pooling: pooling_convention='same': expected 'valid' or 'full' for 2-D pooling"),
    (lambda: nd.Pooling(nd.ones((1, 1, 4, 4)), kernel=(2, 2), pool_type="lp"),
     r"Pooling: p_value=None: expected 1, 2 or 3"),
    (lambda: nd.Pooling(nd.ones((1, 1, 4)), kernel=(2, 2)), r"Pooling: data=an array of shape \(1, 1, 4\)"),
    (lambda: nd.Pooling(nd.ones((1, 1, 4, 4)), kernel=(2, 2), stride=(0, 1)),
     r"Pooling: stride=\(0, 1\): expected every stride > 0"),
    (lambda: nd.BatchNorm(nd.ones((2, 3)), nd.ones((3,)), nd.ones((3,)), nd.ones((3,)), nd.ones((3,)), axis=2),
     r"BatchNorm: axis=2: expected an axis in \[-2, 2\)"),
    (lambda: nd.BatchNorm(nd.ones((2, 3)), nd.ones((4,)), nd.ones((3,)), nd.ones((3,)), nd.ones((3,))),
     r"BatchNorm: gamma=shape \(4,\): expected shape \(3,\)"),
    (lambda: nd.BatchNorm(nd.ones((2, 3)), nd.ones((3,)), nd.ones((3,)), nd.ones((3,)), nd.ones((3,)),
                          min_calib_range=-1.0),
     r"BatchNorm: min_calib_range=-1.0: expected None"),
    (lambda: nd.BatchNorm(nd.ones((2, 3)), nd.ones((3,)), nd.ones((3,)), nd.ones((3,)), nd.ones((3,)),
                          fix_gamma="maybe"),
     r"BatchNorm: fix_gamma='maybe': expected True or False"),
])
def test_bad_attributes_and_shapes_raise_before_pushing(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
