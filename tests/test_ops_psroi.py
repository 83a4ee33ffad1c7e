"""contrib.PSROIPooling (R-FCN's position-sensitive pooling): forward against a numpy reference
written from MXNet's definition, the data gradient against float64 finite differences (under
write, add and null; rois get zeros), MXNet 1.9.1's recorded results, and the refusals of bad
attributes, shapes and batch indices."""
from __future__ import annotations

import math

import numpy as np
import pytest

import flowmod as mx
from mxnet_deform_refs import cases, check_case
from op_check import check_gradient, forward

rng = np.random.default_rng(17)
OP = "_contrib_PSROIPooling"


def psroi_ref(data, rois, spatial_scale, output_dim, pooled_size, group_size=0):
    G = group_size or pooled_size
    P = pooled_size
    N, C, H, W = data.shape
    out = np.zeros((len(rois), output_dim, P, P))
    for r, (b, x1, y1, x2, y2) in enumerate(rois):
        sx, sy = round(x1) * spatial_scale, round(y1) * spatial_scale
        ex, ey = (round(x2) + 1) * spatial_scale, (round(y2) + 1) * spatial_scale
        rw, rh = max(ex - sx, 0.1), max(ey - sy, 0.1)
        bh, bw = rh / P, rw / P
        for c in range(output_dim):
            for i in range(P):
                for j in range(P):
                    h0 = min(max(math.floor(i * bh + sy), 0), H)
                    h1 = min(max(math.ceil((i + 1) * bh + sy), 0), H)
                    w0 = min(max(math.floor(j * bw + sx), 0), W)
                    w1 = min(max(math.ceil((j + 1) * bw + sx), 0), W)
                    gi, gj = min(i * G // P, G - 1), min(j * G // P, G - 1)
                    ch = (c * G + gi) * G + gj
                    if h1 > h0 and w1 > w0:
                        out[r, c, i, j] = data[int(b), ch, h0:h1, w0:w1].mean()
    return out


def make_rois(n, batch, size):
    # Corners off the .5 boundaries, where rounding would make finite differences meaningless
    # anyway (rois get no gradient), and some regions leaving the map.
    a = rng.uniform(-2, size, (n, 2))
    b = rng.uniform(0, size + 4, (n, 2))
    return np.concatenate([rng.integers(0, batch, (n, 1)), np.minimum(a, b), np.maximum(a, b)], axis=1)


CONFIGS = [
    dict(shape=(2, 2 * 9, 6, 7), spatial_scale=0.25, output_dim=2, pooled_size=3),
    dict(shape=(1, 3 * 4, 5, 5), spatial_scale=0.5, output_dim=3, pooled_size=4, group_size=2),
    dict(shape=(1, 1 * 9, 4, 4), spatial_scale=1.0, output_dim=1, pooled_size=3, group_size=3),
]


@pytest.mark.parametrize("cfg", range(len(CONFIGS)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_matches_numpy(cfg, dtype):
    c = dict(CONFIGS[cfg])
    shape = c.pop("shape")
    data = rng.uniform(-1, 1, shape)
    rois = make_rois(6, shape[0], shape[2] / c["spatial_scale"])
    out = forward(OP, [data.astype(dtype), rois.astype(dtype)], **c)[0]
    assert out.dtype == dtype and out.shape == (6, c["output_dim"], c["pooled_size"], c["pooled_size"])
    np.testing.assert_allclose(out, psroi_ref(data, rois.astype(dtype).astype(np.float64), **c), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("cfg", range(len(CONFIGS)))
def test_gradient_matches_finite_differences(cfg):
    c = dict(CONFIGS[cfg])
    shape = c.pop("shape")
    data = rng.uniform(-1, 1, shape)
    rois = make_rois(4, shape[0], shape[2] / c["spatial_scale"])
    grads = check_gradient(OP, [data, rois], wrt=[0], **c)
    assert grads[0].any()
    # rois get a zero gradient (batch index 0: a nudged index 1 would truncate to 0).
    rois[:, 0] = 0
    zero = check_gradient(OP, [data, rois], wrt=[1], **c)
    assert not zero[1].any()


def test_front_ends_take_the_arrays_mxnet_lists_as_attributes():
    data = mx.nd.array(rng.uniform(size=(1, 8, 4, 4)))
    rois = mx.nd.array([[0, 0, 0, 3, 3], [0, 1, 2, 3, 3]])
    a = mx.nd.contrib.PSROIPooling(data, rois, 1.0, 2, 2).asnumpy()
    b = mx.nd.contrib.PSROIPooling(data=data, rois=rois, spatial_scale=1.0, output_dim=2, pooled_size=2).asnumpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, psroi_ref(data.asnumpy(), rois.asnumpy(), 1.0, 2, 2), rtol=1e-6)
    s = mx.sym.contrib.PSROIPooling(mx.sym.var("d"), mx.sym.var("r"), spatial_scale=0.5, output_dim=2, pooled_size=2)
    assert s.list_arguments() == ["d", "r"]
    args, outs, _ = s.infer_shape(d=(1, 8, 4, 4), r=(3, 5))
    assert outs == [(3, 2, 2, 2)]


@pytest.mark.parametrize("case", cases("psroi"))
def test_matches_mxnet(case):
    check_case(case)


@pytest.mark.parametrize("attrs, arg", [
    (dict(spatial_scale=1.5, output_dim=2, pooled_size=2), "spatial_scale"),
    (dict(spatial_scale=0.5, output_dim=0, pooled_size=2), "output_dim"),
    (dict(spatial_scale=0.5, output_dim=2, pooled_size=0), "pooled_size"),
    (dict(spatial_scale=0.5, output_dim=2, pooled_size=2, group_size=-1), "group_size"),
    (dict(spatial_scale=0.5, output_dim=2, pooled_size=2, bogus=1), "bogus"),
    (dict(spatial_scale=0.5, output_dim=3, pooled_size=2), "data"),
])
def test_bad_attributes_are_refused(attrs, arg):
    with pytest.raises(mx.MXNetError, match=f"{arg}="):
        mx.nd.contrib.PSROIPooling(mx.nd.zeros((1, 8, 4, 4)), mx.nd.zeros((2, 5)), **attrs)


def test_bad_shapes_and_batch_indices_are_refused():
    attrs = dict(spatial_scale=0.5, output_dim=2, pooled_size=2)
    with pytest.raises(mx.MXNetError, match="rois="):
        mx.nd.contrib.PSROIPooling(mx.nd.zeros((1, 8, 4, 4)), mx.nd.zeros((2, 4)), **attrs)
    with pytest.raises(mx.MXNetError, match="data="):
        mx.nd.contrib.PSROIPooling(mx.nd.zeros((8, 4, 4)), mx.nd.zeros((2, 5)), **attrs)
    with pytest.raises(mx.MXNetError, match="data="):
        mx.nd.contrib.PSROIPooling(mx.nd.zeros((1, 8, 4, 4), dtype="int32"), mx.nd.zeros((2, 5), dtype="int32"),
                                   **attrs)
    with pytest.raises(mx.MXNetError, match="batch index 3"):
        mx.nd.contrib.PSROIPooling(mx.nd.zeros((1, 8, 4, 4)), mx.nd.array([[3, 0, 0, 2, 2]]), **attrs).asnumpy()


# ---- DeformablePSROIPooling ------------------------------------------------------------------

DOP = "_contrib_DeformablePSROIPooling"


def dpsroi_ref(data, rois, trans, spatial_scale, output_dim, group_size, pooled_size, part_size=0,
               sample_per_part=1, trans_std=0.0, no_trans=False):
    P, G, S = pooled_size, group_size, sample_per_part
    Q = part_size or P
    N, C, H, W = data.shape
    classes = 1 if no_trans else trans.shape[1] // 2
    per_class = output_dim // classes
    out = np.zeros((len(rois), output_dim, P, P))
    for r, (b, x1, y1, x2, y2) in enumerate(rois):
        sx, sy = round(x1) * spatial_scale - 0.5, round(y1) * spatial_scale - 0.5
        ex, ey = (round(x2) + 1) * spatial_scale - 0.5, (round(y2) + 1) * spatial_scale - 0.5
        rw, rh = max(ex - sx, 0.1), max(ey - sy, 0.1)
        bh, bw = rh / P, rw / P
        for c in range(output_dim):
            for i in range(P):
                for j in range(P):
                    ph, pw = int(np.floor(i / P * Q)), int(np.floor(j / P * Q))
                    tx = ty = 0.0
                    if not no_trans:
                        k = c // per_class
                        tx, ty = trans[r, 2 * k, ph, pw] * trans_std, trans[r, 2 * k + 1, ph, pw] * trans_std
                    ws, hs = j * bw + sx + tx * rw, i * bh + sy + ty * rh
                    gi, gj = min(i * G // P, G - 1), min(j * G // P, G - 1)
                    plane = data[int(b), (c * G + gi) * G + gj]
                    vals = []
                    for ih in range(S):
                        for iw in range(S):
                            w, h = ws + iw * bw / S, hs + ih * bh / S
                            if w < -0.5 or w > W - 0.5 or h < -0.5 or h > H - 0.5:
                                continue
                            w, h = min(max(w, 0), W - 1), min(max(h, 0), H - 1)
                            x0, xx, y0, yy = int(np.floor(w)), int(np.ceil(w)), int(np.floor(h)), int(np.ceil(h))
                            fx, fy = w - x0, h - y0
                            vals.append((1 - fx) * (1 - fy) * plane[y0, x0] + (1 - fx) * fy * plane[yy, x0]
                                        + fx * (1 - fy) * plane[y0, xx] + fx * fy * plane[yy, xx])
                    out[r, c, i, j] = np.mean(vals) if vals else 0.0
    return out


DCONFIGS = [
    dict(shape=(2, 2 * 9, 6, 7), classes=1, spatial_scale=0.25, output_dim=2, group_size=3, pooled_size=3,
         sample_per_part=2, trans_std=0.2),
    dict(shape=(1, 4 * 4, 5, 6), classes=2, spatial_scale=0.5, output_dim=4, group_size=2, pooled_size=4,
         part_size=2, sample_per_part=3, trans_std=0.1),
]


def dpsroi_inputs(cfg):
    c = dict(DCONFIGS[cfg])
    shape, classes = c.pop("shape"), c.pop("classes")
    data = rng.uniform(-1, 1, shape)
    rois = make_rois(3, shape[0], shape[2] / c["spatial_scale"])
    Q = c.get("part_size") or c["pooled_size"]
    trans = rng.uniform(-0.5, 0.5, (3, 2 * classes, Q, Q))
    return data, rois, trans, c


@pytest.mark.parametrize("cfg", range(len(DCONFIGS)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_deformable_forward_matches_numpy(cfg, dtype):
    data, rois, trans, c = dpsroi_inputs(cfg)
    out = forward(DOP, [data.astype(dtype), rois.astype(dtype), trans.astype(dtype)], **c)[0]
    assert out.dtype == dtype
    r64 = rois.astype(dtype).astype(np.float64)
    np.testing.assert_allclose(out, dpsroi_ref(data, r64, trans, **c), rtol=1e-4, atol=1e-5)
    plain = forward(DOP, [data.astype(dtype), rois.astype(dtype)], no_trans=True, **c)[0]
    np.testing.assert_allclose(plain, dpsroi_ref(data, r64, None, no_trans=True, **c), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cfg", range(len(DCONFIGS)))
def test_deformable_gradients_match_finite_differences(cfg):
    data, rois, trans, c = dpsroi_inputs(cfg)
    grads = check_gradient(DOP, [data, rois, trans], wrt=[0, 2], rtol=1e-4, atol=1e-6, **c)
    assert grads[0].any() and grads[2].any()
    check_gradient(DOP, [data, rois], wrt=[0], no_trans=True, **c)


@pytest.mark.parametrize("case", cases("dpsroi"))
def test_deformable_matches_mxnet(case):
    check_case(case)


def test_deformable_shapes_and_refusals():
    s = mx.sym.contrib.DeformablePSROIPooling(mx.sym.var("d"), mx.sym.var("r"), mx.sym.var("t"), spatial_scale=0.5,
                                              output_dim=4, group_size=2, pooled_size=3, part_size=2)
    assert s.list_arguments() == ["d", "r", "t"] and len(s.list_outputs()) == 1
    args, outs, _ = s.infer_shape(d=(1, 16, 5, 5), r=(3, 5), t=(3, 4, 2, 2))
    assert outs == [(3, 4, 3, 3)]
    x, r = mx.nd.zeros((1, 16, 5, 5)), mx.nd.zeros((2, 5))
    attrs = dict(spatial_scale=0.5, output_dim=4, group_size=2, pooled_size=2)
    with pytest.raises(mx.MXNetError, match="trans="):
        mx.nd.contrib.DeformablePSROIPooling(x, r, mx.nd.zeros((2, 3, 2, 2)), **attrs)
    with pytest.raises(mx.MXNetError, match="trans="):
        mx.nd.contrib.DeformablePSROIPooling(x, r, mx.nd.zeros((2, 2, 3, 3)), **attrs)
    with pytest.raises(mx.MXNetError, match="data="):
        mx.nd.contrib.DeformablePSROIPooling(mx.nd.zeros((1, 15, 5, 5)), r, no_trans=True, **attrs)
    with pytest.raises(mx.MXNetError, match="trans_std="):
        mx.nd.contrib.DeformablePSROIPooling(x, r, no_trans=True, trans_std=2, **attrs)
    with pytest.raises(mx.MXNetError, match="sample_per_part="):
        mx.nd.contrib.DeformablePSROIPooling(x, r, no_trans=True, sample_per_part=0, **attrs)
    with pytest.raises(mx.MXNetError, match="group_size="):
        mx.nd.contrib.DeformablePSROIPooling(x, r, no_trans=True, spatial_scale=0.5, output_dim=4, pooled_size=2,
                                             group_size=0)
