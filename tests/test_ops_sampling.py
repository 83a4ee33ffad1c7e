"""Resampling layers: contrib.AdaptiveAvgPooling2D, contrib.BilinearResize2D, GridGenerator,
BilinearSampler and SpatialTransformer against numpy transcriptions of their definitions,
their gradients against float64 finite differences, and the errors for bad attributes and
shapes."""
from __future__ import annotations

import math

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd
from op_check import check_gradient, forward

rng = np.random.default_rng(53)


def randn(*shape):
    return rng.standard_normal(shape)


# ---- References ------------------------------------------------------------------------------

def adaptive_ref(x, oh, ow):
    n, c, h, w = x.shape
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        h0, h1 = math.floor(i * h / oh), math.ceil((i + 1) * h / oh)
        for j in range(ow):
            w0, w1 = math.floor(j * w / ow), math.ceil((j + 1) * w / ow)
            out[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return out


def resize_matrix(n_in, n_out, align_corners):
    m = np.zeros((n_out, n_in))
    if n_in == n_out:
        return np.eye(n_in)
    scale = ((n_in - 1) / (n_out - 1) if align_corners else n_in / n_out) if n_out > 1 else 0.0
    for o in range(n_out):
        src = scale * o if align_corners else max(scale * (o + 0.5) - 0.5, 0.0)
        lo = int(src)
        step = 1 if lo < n_in - 1 else 0
        lam = src - lo
        m[o, lo] += 1 - lam
        m[o, lo + step] += lam
    return m


def resize_ref(x, oh, ow, align_corners=True):
    rows = resize_matrix(x.shape[2], oh, align_corners)
    cols = resize_matrix(x.shape[3], ow, align_corners)
    return np.einsum("ih,nchw,jw->ncij", rows, x, cols)


def affine_grid_ref(theta, h, w):
    xs = -1 + 2 * np.arange(w) / (w - 1)
    ys = -1 + 2 * np.arange(h) / (h - 1)
    gx, gy = np.meshgrid(xs, ys)
    pts = np.stack([gx.ravel(), gy.ravel(), np.ones(h * w)])
    return (theta.reshape(-1, 2, 3) @ pts).reshape(-1, 2, h, w)


def sampler_ref(x, grid):
    n, c, h, w = x.shape
    oh, ow = grid.shape[2:]
    out = np.zeros((n, c, oh, ow))
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                xr = (grid[b, 0, i, j] + 1) * (w - 1) / 2
                yr = (grid[b, 1, i, j] + 1) * (h - 1) / 2
                x0, y0 = int(np.floor(xr)), int(np.floor(yr))
                for yy, wy in ((y0, 1 - (yr - y0)), (y0 + 1, yr - y0)):
                    for xx, wx in ((x0, 1 - (xr - x0)), (x0 + 1, xr - x0)):
                        if 0 <= yy < h and 0 <= xx < w:
                            out[b, :, i, j] += x[b, :, yy, xx] * wy * wx
    return out


# ---- AdaptiveAvgPooling2D ----------------------------------------------------------------------

@pytest.mark.parametrize("output_size,expected", [((), (1, 1)), ((3,), (3, 3)), ((4, 2), (4, 2)), ((7, 9), (7, 9))])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adaptive_avg_pooling_averages_each_share(output_size, expected, dtype):
    x = randn(2, 3, 5, 6).astype(dtype)
    attrs = {"output_size": output_size} if output_size else {}
    (y,) = forward("_contrib_AdaptiveAvgPooling2D", [x], **attrs)
    tol = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(y, adaptive_ref(x.astype(np.float64), *expected), rtol=tol, atol=tol)


@pytest.mark.parametrize("output_size", [(2, 3), (4, 4)])
def test_adaptive_avg_pooling_gradient(output_size):
    check_gradient("_contrib_AdaptiveAvgPooling2D", [randn(1, 2, 3, 5)], output_size=output_size)


# ---- BilinearResize2D --------------------------------------------------------------------------

@pytest.mark.parametrize("attrs,shape,size", [
    (dict(height=7, width=3), (4, 6), (7, 3)),
    (dict(height=9, width=8, align_corners=False), (4, 6), (9, 8)),
    (dict(height=4, width=6), (4, 6), (4, 6)),
    (dict(scale_height=1.5, scale_width=0.5), (4, 6), (6, 3)),
    # odd_scale: an even side is scaled, an odd one keeps its ends: (5 - 1) * 2 + 1.
    (dict(scale_height=2.0, scale_width=2.0, mode="odd_scale"), (4, 5), (8, 9)),
    (dict(mode="to_even_up"), (3, 6), (4, 6)),
    (dict(mode="to_even_down"), (5, 6), (4, 6)),
    (dict(mode="to_odd_up", align_corners=False), (4, 7), (5, 7)),
    (dict(mode="to_odd_down"), (4, 5), (3, 5)),
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bilinear_resize_interpolates_to_the_size_its_mode_gives(attrs, shape, size, dtype):
    x = randn(2, 2, *shape).astype(dtype)
    (y,) = forward("_contrib_BilinearResize2D", [x], **attrs)
    assert y.shape[2:] == size
    tol = 1e-5 if dtype == "float32" else 1e-6
    np.testing.assert_allclose(y, resize_ref(x.astype(np.float64), *size, attrs.get("align_corners", True)),
                               rtol=tol, atol=tol)


def test_bilinear_resize_like_takes_the_second_inputs_size():
    x, like = randn(1, 2, 3, 4), randn(5, 1, 6, 7)
    (y,) = forward("_contrib_BilinearResize2D", [x, like], mode="like")
    np.testing.assert_allclose(y, resize_ref(x, 6, 7), rtol=1e-6, atol=1e-6)
    sym = mx.sym.contrib.BilinearResize2D(mx.sym.Variable("data"), mx.sym.Variable("like"), mode="like")
    assert sym.list_arguments() == ["data", "like"]


@pytest.mark.parametrize("attrs", [dict(height=5, width=7), dict(height=3, width=2, align_corners=False)])
def test_bilinear_resize_gradient(attrs):
    check_gradient("_contrib_BilinearResize2D", [randn(1, 2, 3, 4)], **attrs)


# ---- GridGenerator / BilinearSampler / SpatialTransformer ---------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_grid_generator_affine(dtype):
    theta = randn(2, 6).astype(dtype)
    (g,) = forward("GridGenerator", [theta], transform_type="affine", target_shape=(3, 4))
    tol = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(g, affine_grid_ref(theta.astype(np.float64), 3, 4), rtol=tol, atol=tol)


def test_grid_generator_identity_affine_gives_the_normalized_grid():
    (g,) = forward("GridGenerator", [np.array([[1.0, 0, 0, 0, 1, 0]])], transform_type="affine", target_shape=(2, 3))
    np.testing.assert_allclose(g[0, 0], [[-1, 0, 1], [-1, 0, 1]])
    np.testing.assert_allclose(g[0, 1], [[-1, -1, -1], [1, 1, 1]])


def test_grid_generator_warp_adds_the_flow_to_pixel_coordinates():
    flow = randn(2, 2, 3, 5)
    (g,) = forward("GridGenerator", [flow], transform_type="warp")
    xs, ys = np.meshgrid(np.arange(5), np.arange(3))
    np.testing.assert_allclose(g[:, 0], (flow[:, 0] + xs) / 2.0 - 1, rtol=1e-12)
    np.testing.assert_allclose(g[:, 1], (flow[:, 1] + ys) / 1.0 - 1, rtol=1e-12)


@pytest.mark.parametrize("mode,inputs,attrs", [
    ("affine", [(2, 6)], dict(target_shape=(3, 4))),
    ("warp", [(1, 2, 3, 4)], {}),
])
def test_grid_generator_gradient(mode, inputs, attrs):
    check_gradient("GridGenerator", [randn(*s) for s in inputs], transform_type=mode, **attrs)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bilinear_sampler_samples_with_zero_outside(dtype):
    x = randn(2, 3, 4, 5).astype(dtype)
    grid = rng.uniform(-1.3, 1.3, (2, 2, 3, 6)).astype(dtype)
    (y,) = forward("BilinearSampler", [x, grid])
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(y, sampler_ref(x.astype(np.float64), grid.astype(np.float64)), rtol=tol, atol=tol)


def test_bilinear_sampler_identity_grid_copies_the_data():
    x = randn(1, 2, 3, 4)
    grid = affine_grid_ref(np.array([1.0, 0, 0, 0, 1, 0]), 3, 4)
    (y,) = forward("BilinearSampler", [x, grid])
    np.testing.assert_allclose(y, x, rtol=1e-12, atol=1e-12)


def test_bilinear_sampler_gradient():
    x = randn(1, 2, 3, 4)
    grid = rng.uniform(-1.2, 1.2, (1, 2, 2, 3))
    check_gradient("BilinearSampler", [x, grid], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_spatial_transformer_is_a_sampler_over_an_affine_grid(dtype):
    x = randn(2, 3, 5, 6).astype(dtype)
    loc = (np.array([[0.9, 0.1, 0.05, -0.1, 1.1, 0.0]] * 2) + randn(2, 6) * 0.05).astype(dtype)
    (y,) = forward("SpatialTransformer", [x, loc], target_shape=(4, 3), transform_type="affine",
                   sampler_type="bilinear")
    ref = sampler_ref(x.astype(np.float64), affine_grid_ref(loc.astype(np.float64), 4, 3))
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(y, ref, rtol=tol, atol=tol)


def test_spatial_transformer_gradient():
    x = randn(1, 2, 4, 4)
    loc = np.array([[0.8, 0.15, 0.1, -0.12, 0.9, 0.05]])
    check_gradient("SpatialTransformer", [x, loc], target_shape=(3, 3), transform_type="affine",
                   sampler_type="bilinear")


def test_spatial_transformer_infers_loc_shape():
    sym = mx.sym.SpatialTransformer(mx.sym.Variable("data"), mx.sym.Variable("loc"), target_shape=(7, 8),
                                    transform_type="affine", sampler_type="bilinear")
    args, outs, _ = sym.infer_shape(data=(3, 2, 10, 10))
    assert args == [(3, 2, 10, 10), (3, 6)] and outs == [(3, 2, 7, 8)]


# ---- Errors -------------------------------------------------------------------------------------

X = nd.zeros((1, 2, 4, 4))


@pytest.mark.parametrize("call,match", [
    (lambda: nd.contrib.AdaptiveAvgPooling2D(X, output_size=(1, 2, 3)), r"output_size=.*expected \(\), \(size,\)"),
    (lambda: nd.contrib.AdaptiveAvgPooling2D(X, output_size=(0, 2)), r"output_size=.*expected sizes >= 1"),
    (lambda: nd.contrib.AdaptiveAvgPooling2D(nd.zeros((2, 4, 4))), r"expected 4 dimensions"),
    (lambda: nd.contrib.BilinearResize2D(X, height=0), r"height=0: expected an integer >= 1"),
    (lambda: nd.contrib.BilinearResize2D(X, mode="odd_scale"), r"scale_height=None: expected a scale"),
    (lambda: nd.contrib.BilinearResize2D(X, scale_height=2.0), r"scale_width=None: expected a scale"),
    (lambda: nd.contrib.BilinearResize2D(X, mode="nearest"), r"mode='nearest'"),
    (lambda: nd.GridGenerator(nd.zeros((2, 6)), transform_type="affine"), r"target_shape=.*expected a height and width >= 2"),
    (lambda: nd.GridGenerator(nd.zeros((2, 5)), transform_type="affine", target_shape=(3, 3)),
     r"data=an array of shape \(2, 5\): expected \(batch, 6\)"),
    (lambda: nd.GridGenerator(nd.zeros((2, 3, 3, 3)), transform_type="warp"), r"expected \(batch, 2, height, width\)"),
    (lambda: nd.BilinearSampler(X, nd.zeros((1, 3, 2, 2))), r"grid=an array of shape \(1, 3, 2, 2\)"),
    (lambda: nd.BilinearSampler(X, nd.zeros((2, 2, 2, 2))), r"expected the batch size of data, 1"),
    (lambda: nd.SpatialTransformer(X, nd.zeros((1, 6)), transform_type="affine", sampler_type="nearest",
                                   target_shape=(2, 2)), r"sampler_type='nearest'"),
])
def test_bad_arguments_raise_naming_the_problem(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
