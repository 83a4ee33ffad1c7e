"""Region-of-interest pooling: ROIPooling and contrib.ROIAlign against numpy transcriptions of
their definitions, their gradients against float64 finite differences (rois get none), shape
inference and the errors for bad attributes and shapes."""
from __future__ import annotations

import math

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd
from op_check import check_gradient, forward

rng = np.random.default_rng(43)


def boxes(n_batch, count, h, w, scale):
    """count rows (batch index, x1, y1, x2, y2) inside an h x w map seen at 1 / scale."""
    out = []
    for _ in range(count):
        x1, x2 = sorted(rng.uniform(0, (w - 1) / scale, 2))
        y1, y2 = sorted(rng.uniform(0, (h - 1) / scale, 2))
        out.append([rng.integers(0, n_batch), x1, y1, x2, y2])
    return np.array(out)


def roi_pool_ref(x, rois, ph, pw, scale):
    n, c, h, w = x.shape
    out = np.zeros((len(rois), c, ph, pw))
    for r, (b, x1, y1, x2, y2) in enumerate(rois):
        b = int(b)
        xs, ys = int(np.round(x1 * scale)), int(np.round(y1 * scale))
        xe, ye = int(np.round(x2 * scale)), int(np.round(y2 * scale))
        bh, bw = max(ye - ys + 1, 1) / ph, max(xe - xs + 1, 1) / pw
        for i in range(ph):
            for j in range(pw):
                h0 = min(max(int(math.floor(i * bh)) + ys, 0), h)
                h1 = min(max(int(math.ceil((i + 1) * bh)) + ys, 0), h)
                w0 = min(max(int(math.floor(j * bw)) + xs, 0), w)
                w1 = min(max(int(math.ceil((j + 1) * bw)) + xs, 0), w)
                if h1 > h0 and w1 > w0 and 0 <= b < n:
                    out[r, :, i, j] = x[b, :, h0:h1, w0:w1].max(axis=(1, 2))
    return out


def bilinear(plane, y, x):
    h, w = plane.shape
    if y < -1 or y > h or x < -1 or x > w:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * plane[y0, x0] + (1 - ly) * lx * plane[y0, x1] +
            ly * (1 - lx) * plane[y1, x0] + ly * lx * plane[y1, x1])


def roi_align_ref(x, rois, ph, pw, scale, sample_ratio=-1, position_sensitive=False, aligned=False):
    n, c, h, w = x.shape
    oc = c // (ph * pw) if position_sensitive else c
    out = np.zeros((len(rois), oc, ph, pw))
    shift = 0.5 if aligned else 0.0
    for r, (b, x1, y1, x2, y2) in enumerate(rois):
        b = int(b)
        if b < 0:
            continue
        xs, ys = x1 * scale - shift, y1 * scale - shift
        rw, rh = x2 * scale - shift - xs, y2 * scale - shift - ys
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / ph, rw / pw
        gh = sample_ratio if sample_ratio > 0 else int(math.ceil(rh / ph))
        gw = sample_ratio if sample_ratio > 0 else int(math.ceil(rw / pw))
        for k in range(oc):
            for i in range(ph):
                for j in range(pw):
                    ch = (k * ph + i) * pw + j if position_sensitive else k
                    total = 0.0
                    for iy in range(gh):
                        yy = ys + i * bh + (iy + 0.5) * bh / gh
                        for ix in range(gw):
                            xx = xs + j * bw + (ix + 0.5) * bw / gw
                            total += bilinear(x[b, ch], yy, xx)
                    out[r, k, i, j] = total / (gh * gw)
    return out


# ---- ROIPooling --------------------------------------------------------------------------------

@pytest.mark.parametrize("pooled,scale", [((2, 2), 1.0), ((3, 2), 0.5), ((1, 1), 0.25)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_roi_pooling_takes_the_max_of_each_bin(pooled, scale, dtype):
    x = rng.standard_normal((2, 3, 6, 7)).astype(dtype)
    rois = boxes(2, 5, 6, 7, scale).astype(dtype)
    (y,) = forward("ROIPooling", [x, rois], pooled_size=pooled, spatial_scale=scale)
    assert y.shape == (5, 3) + pooled and y.dtype == np.dtype(dtype)
    np.testing.assert_allclose(y, roi_pool_ref(x.astype(np.float64), rois.astype(np.float64), *pooled, scale),
                               rtol=1e-6)


def test_roi_pooling_row_outside_the_batch_gives_zero():
    x = rng.standard_normal((1, 2, 4, 4))
    rois = np.array([[3, 0, 0, 2, 2], [0, 0, 0, 3, 3]], dtype=np.float64)
    (y,) = forward("ROIPooling", [x, rois], pooled_size=(2, 2), spatial_scale=1.0)
    np.testing.assert_array_equal(y[0], 0)
    np.testing.assert_allclose(y[1], roi_pool_ref(x, rois[1:], 2, 2, 1.0)[0])


def test_roi_pooling_gradient_goes_to_each_bins_maximum():
    x = rng.permutation(2 * 2 * 5 * 5).reshape(2, 2, 5, 5) / 10.0
    rois = np.array([[0, 0, 0, 4, 4], [1, 1, 1, 3, 4]], dtype=np.float64)
    check_gradient("ROIPooling", [x, rois], wrt=[0], pooled_size=(2, 2), spatial_scale=1.0)


def test_roi_pooling_rois_get_zero_gradient():
    x = mx.sym.Variable("data")
    r = mx.sym.Variable("rois")
    exe = mx.sym.ROIPooling(x, r, pooled_size=(2, 2), spatial_scale=1.0).simple_bind(
        mx.cpu(), data=(1, 1, 4, 4), rois=(1, 5))
    exe.arg_dict["data"][:] = rng.standard_normal((1, 1, 4, 4))
    exe.arg_dict["rois"][:] = np.array([[0, 0, 0, 3, 3]])
    exe.forward(is_train=True)
    exe.backward(nd.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(exe.grad_dict["rois"].asnumpy(), 0)
    assert exe.grad_dict["data"].asnumpy().sum() == pytest.approx(4.0)


# ---- ROIAlign ----------------------------------------------------------------------------------

@pytest.mark.parametrize("attrs", [
    dict(pooled_size=(2, 2), spatial_scale=1.0),
    dict(pooled_size=(3, 2), spatial_scale=0.5, sample_ratio=2),
    dict(pooled_size=(2, 3), spatial_scale=1.0, aligned=True),
    dict(pooled_size=(2, 2), spatial_scale=1.0, sample_ratio=1, position_sensitive=True),
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_roi_align_averages_bilinear_samples(attrs, dtype):
    c = 8 if attrs.get("position_sensitive") else 3
    x = rng.standard_normal((2, c, 6, 7)).astype(dtype)
    rois = boxes(2, 4, 6, 7, attrs["spatial_scale"]).astype(dtype)
    rois[:, 3:] += 1.0  # non-empty boxes for aligned=True
    (y,) = forward("_contrib_ROIAlign", [x, rois], **attrs)
    ref = roi_align_ref(x.astype(np.float64), rois.astype(np.float64), *attrs["pooled_size"], attrs["spatial_scale"],
                        attrs.get("sample_ratio", -1), attrs.get("position_sensitive", False),
                        attrs.get("aligned", False))
    assert y.dtype == np.dtype(dtype)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(y, ref, rtol=tol, atol=tol)


def test_roi_align_negative_batch_index_gives_zero():
    x = rng.standard_normal((1, 2, 4, 4))
    rois = np.array([[-1, 0, 0, 2, 2]], dtype=np.float64)
    (y,) = forward("_contrib_ROIAlign", [x, rois], pooled_size=(2, 2), spatial_scale=1.0)
    np.testing.assert_array_equal(y, 0)


@pytest.mark.parametrize("attrs", [dict(pooled_size=(2, 2), spatial_scale=1.0),
                                   dict(pooled_size=(2, 1), spatial_scale=0.5, sample_ratio=2, aligned=True),
                                   dict(pooled_size=(1, 2), spatial_scale=1.0, position_sensitive=True)])
def test_roi_align_gradient(attrs):
    x = rng.standard_normal((2, 4, 5, 5))
    rois = np.array([[0, 0.3, 0.2, 3.1, 3.7], [1, 1.2, 0.4, 4.5, 2.9]])
    check_gradient("_contrib_ROIAlign", [x, rois], wrt=[0], **attrs)


def test_roi_align_is_in_contrib_namespaces():
    y = nd.contrib.ROIAlign(nd.ones((1, 1, 4, 4)), nd.array([[0, 0, 0, 3, 3]]), pooled_size=(2, 2),
                            spatial_scale=1.0)
    np.testing.assert_allclose(y.asnumpy(), np.ones((1, 1, 2, 2)))
    sym = mx.sym.contrib.ROIAlign(mx.sym.Variable("data"), mx.sym.Variable("rois"), pooled_size=(3, 3),
                                  spatial_scale=0.5)
    _, outs, _ = sym.infer_shape(data=(2, 5, 8, 8), rois=(7, 5))
    assert outs == [(7, 5, 3, 3)]


# ---- Errors -------------------------------------------------------------------------------------

X = nd.zeros((1, 4, 4, 4))
R = nd.zeros((2, 5))


@pytest.mark.parametrize("call,match", [
    (lambda: nd.ROIPooling(X, R, pooled_size=(2,), spatial_scale=1.0), r"pooled_size=.*expected two positive"),
    (lambda: nd.ROIPooling(X, R, pooled_size=(0, 2), spatial_scale=1.0), r"pooled_size=.*expected two positive"),
    (lambda: nd.ROIPooling(X, R, pooled_size=(2, 2), spatial_scale=0), r"spatial_scale=0: expected a positive"),
    (lambda: nd.ROIPooling(X, nd.zeros((2, 4)), pooled_size=(2, 2), spatial_scale=1.0),
     r"rois=an array of shape \(2, 4\): expected \(num_rois, 5\)"),
    (lambda: nd.ROIPooling(nd.zeros((4, 4)), R, pooled_size=(2, 2), spatial_scale=1.0), r"expected 4 dimensions"),
    (lambda: nd.contrib.ROIAlign(X, R, pooled_size=(2, 2), spatial_scale=2.0), r"spatial_scale=2.*expected a scale in"),
    (lambda: nd.contrib.ROIAlign(X, R, pooled_size=(3, 3), spatial_scale=1.0, position_sensitive=True),
     r"expected channels divisible by pooled_size's 9 bins"),
])
def test_bad_arguments_raise_naming_the_problem(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
