"""contrib.DeformableConvolution (DCNv1) and contrib.ModulatedDeformableConvolution (DCNv2):
forward against a numpy reference of bilinear sampling, gradients of data, offset, mask, weight
and bias against float64 finite differences (under write, add and null), all-zero offsets
against Convolution, MXNet 1.9.1's recorded results, and the refusals of bad attributes and
shapes."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native
from mxnet_deform_refs import cases, check_case
from op_check import _attrs, check_gradient, forward

rng = np.random.default_rng(7)
DCN = "_contrib_DeformableConvolution"
MDCN = "_contrib_ModulatedDeformableConvolution"


def sample_v1(plane, y, x):
    H, W = plane.shape
    if not (0 <= y < H and 0 <= x < W):
        return 0.0
    y0, x0 = int(np.floor(y)), int(np.floor(x))
    if y0 >= H - 1:
        y0 = y1 = H - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= W - 1:
        x0 = x1 = W - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * plane[y0, x0] + (1 - ly) * lx * plane[y0, x1] + ly * (1 - lx) * plane[y1, x0]
            + ly * lx * plane[y1, x1])


def sample_v2(plane, y, x):
    H, W = plane.shape
    if not (-1 < y < H and -1 < x < W):
        return 0.0
    y0, x0 = int(np.floor(y)), int(np.floor(x))
    ly, lx = y - y0, x - x0

    def at(r, c):
        return plane[r, c] if 0 <= r < H and 0 <= c < W else 0.0

    return ((1 - ly) * (1 - lx) * at(y0, x0) + (1 - ly) * lx * at(y0, x0 + 1) + ly * (1 - lx) * at(y0 + 1, x0)
            + ly * lx * at(y0 + 1, x0 + 1))


def dcn_ref(data, offset, weight, bias, kernel, stride=(1, 1), pad=(0, 0), dilate=(1, 1), num_group=1,
            num_deformable_group=1, mask=None):
    N, C, H, W = data.shape
    kh, kw = kernel
    F = weight.shape[0]
    Ho = (H + 2 * pad[0] - dilate[0] * (kh - 1) - 1) // stride[0] + 1
    Wo = (W + 2 * pad[1] - dilate[1] * (kw - 1) - 1) // stride[1] + 1
    sample = sample_v1 if mask is None else sample_v2
    cpg = C // num_deformable_group
    col = np.zeros((N, C, kh * kw, Ho, Wo))
    for n in range(N):
        for c in range(C):
            g = c // cpg
            for i in range(kh):
                for j in range(kw):
                    k = i * kw + j
                    for oh in range(Ho):
                        for ow in range(Wo):
                            y = oh * stride[0] - pad[0] + i * dilate[0] + offset[n, g * 2 * kh * kw + 2 * k, oh, ow]
                            x = ow * stride[1] - pad[1] + j * dilate[1] + offset[n, g * 2 * kh * kw + 2 * k + 1, oh, ow]
                            m = 1.0 if mask is None else mask[n, g * kh * kw + k, oh, ow]
                            col[n, c, k, oh, ow] = m * sample(data[n, c], y, x)
    Cg, Fg = C // num_group, F // num_group
    out = np.zeros((N, F, Ho, Wo))
    for grp in range(num_group):
        w = weight[grp * Fg:(grp + 1) * Fg].reshape(Fg, -1)
        cols = col[:, grp * Cg:(grp + 1) * Cg].reshape(N, Cg * kh * kw, Ho * Wo)
        out[:, grp * Fg:(grp + 1) * Fg] = np.einsum("fk,nkp->nfp", w, cols).reshape(N, Fg, Ho, Wo)
    if bias is not None:
        out += bias.reshape(1, F, 1, 1)
    return out


GEOMETRIES = [
    dict(shape=(2, 2, 5, 4), kernel=(3, 3), pad=(1, 1), num_filter=3),
    dict(shape=(1, 4, 6, 7), kernel=(2, 3), stride=(2, 1), dilate=(1, 2), pad=(1, 0), num_filter=4, num_group=2,
         num_deformable_group=2),
]


def inputs_for(g, modulated, spread=1.5):
    attrs = {k: v for k, v in g.items() if k != "shape"}
    N, C, H, W = g["shape"]
    kh, kw = g["kernel"]
    dg = g.get("num_deformable_group", 1)
    meta = _native.op_info(MDCN if modulated else DCN, _attrs(attrs))
    assert meta["arguments"][0] == "data"
    shapes = [g["shape"]]
    sym = (mx.sym.contrib.ModulatedDeformableConvolution if modulated else mx.sym.contrib.DeformableConvolution)
    s = sym(data=mx.sym.var("data"), **attrs)
    arg_shapes, out_shapes, _ = s.infer_shape(data=g["shape"])
    Ho, Wo = out_shapes[0][2:]
    data = rng.uniform(-1, 1, g["shape"])
    # Offsets away from whole numbers: the sampling is not differentiable there.
    offset = rng.uniform(-spread, spread, (N, 2 * dg * kh * kw, Ho, Wo))
    offset = np.round(offset * 4) / 4 + 0.11
    ins = [data, offset]
    if modulated:
        ins.append(rng.uniform(0, 1, (N, dg * kh * kw, Ho, Wo)))
    ins.append(rng.uniform(-1, 1, arg_shapes[len(ins)]))
    ins.append(rng.uniform(-1, 1, (g["num_filter"],)))
    return ins, attrs


@pytest.mark.parametrize("modulated", [False, True])
@pytest.mark.parametrize("geom", range(len(GEOMETRIES)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_matches_numpy(modulated, geom, dtype):
    ins, attrs = inputs_for(GEOMETRIES[geom], modulated)
    op = MDCN if modulated else DCN
    out = forward(op, [x.astype(dtype) for x in ins], **attrs)[0]
    assert out.dtype == dtype
    ref_attrs = {k: v for k, v in attrs.items() if k != "num_filter"}
    mask = ins[2] if modulated else None
    expected = dcn_ref(ins[0], ins[1], ins[-2], ins[-1], mask=mask, **ref_attrs)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("modulated", [False, True])
@pytest.mark.parametrize("geom", range(len(GEOMETRIES)))
def test_gradients_match_finite_differences(modulated, geom):
    ins, attrs = inputs_for(GEOMETRIES[geom], modulated)
    check_gradient(MDCN if modulated else DCN, ins, eps=1e-6, rtol=1e-5, atol=1e-7, **attrs)


def test_gradients_without_bias_and_null_requests():
    ins, attrs = inputs_for(GEOMETRIES[0], False)
    check_gradient(DCN, ins[:3], no_bias=True, wrt=[1], **attrs)
    check_gradient(DCN, ins[:3], no_bias=True, wrt=[0, 2], **attrs)


def test_samples_outside_the_map_have_zero_value_and_gradient():
    ins, attrs = inputs_for(GEOMETRIES[0], False)
    ins[1] = np.full_like(ins[1], 50.5)
    out = forward(DCN, ins, **attrs)[0]
    np.testing.assert_allclose(out, np.broadcast_to(ins[-1].reshape(1, -1, 1, 1), out.shape))
    grads = check_gradient(DCN, ins, **attrs)
    assert not grads[0].any() and not grads[1].any() and not grads[2].any()


@pytest.mark.parametrize("geom", range(len(GEOMETRIES)))
@pytest.mark.parametrize("modulated", [False, True])
def test_zero_offsets_equal_convolution(geom, modulated):
    ins, attrs = inputs_for(GEOMETRIES[geom], modulated)
    ins[1] = np.zeros_like(ins[1])
    if modulated:
        ins[2] = np.ones_like(ins[2])
    conv_attrs = {k: v for k, v in attrs.items() if k != "num_deformable_group"}
    x, w, b = ins[0], ins[-2], ins[-1]
    deform = mx.nd.contrib.ModulatedDeformableConvolution if modulated else mx.nd.contrib.DeformableConvolution
    out = deform(*[mx.nd.array(a, dtype="float64") for a in ins], **attrs).asnumpy()
    conv = mx.nd.Convolution(mx.nd.array(x, dtype="float64"), mx.nd.array(w, dtype="float64"),
                             mx.nd.array(b, dtype="float64"), **conv_attrs).asnumpy()
    np.testing.assert_allclose(out, conv, rtol=1e-12, atol=1e-12)
    # The data, weight and bias gradients too.
    head = rng.standard_normal(out.shape)
    gd = check_gradient(DCN if not modulated else MDCN, ins, head_grads=[head], wrt=[0, len(ins) - 2, len(ins) - 1],
                        **attrs)
    gc = check_gradient("Convolution", [x, w, b], head_grads=[head], **conv_attrs)
    for a, c in zip([gd[0], gd[-2], gd[-1]], gc):
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-12)


def test_symbol_infers_shapes_both_ways():
    s = mx.sym.contrib.DeformableConvolution(data=mx.sym.var("data"), offset=mx.sym.var("offset"), kernel=(3, 3),
                                             pad=(1, 1), num_filter=4, num_deformable_group=2)
    assert s.list_arguments() == ["data", "offset", s.list_arguments()[2], s.list_arguments()[3]]
    args, outs, _ = s.infer_shape(data=(2, 6, 5, 7))
    assert args == [(2, 6, 5, 7), (2, 36, 5, 7), (4, 6, 3, 3), (4,)] and outs == [(2, 4, 5, 7)]
    m = mx.sym.contrib.ModulatedDeformableConvolution(data=mx.sym.var("data"), offset=mx.sym.var("offset"),
                                                      mask=mx.sym.var("mask"), kernel=(2, 2), num_filter=3,
                                                      no_bias=True)
    args, outs, _ = m.infer_shape(data=(1, 2, 4, 4))
    assert args == [(1, 2, 4, 4), (1, 8, 3, 3), (1, 4, 3, 3), (3, 2, 2, 2)] and outs == [(1, 3, 3, 3)]


@pytest.mark.parametrize("case", cases("dcn", "mdcn"))
def test_matches_mxnet(case):
    check_case(case)


@pytest.mark.parametrize("attrs, arg", [
    (dict(kernel=(3,), num_filter=2), "kernel"),
    (dict(kernel=(3, 3, 3), num_filter=2), "kernel"),
    (dict(kernel=(3, 3), num_filter=0), "num_filter"),
    (dict(kernel=(3, 3), num_filter=3, num_group=2), "num_filter"),
    (dict(kernel=(3, 3), num_filter=2, stride=(0, 1)), "stride"),
    (dict(kernel=(3, 3), num_filter=2, pad=(1,)), "pad"),
    (dict(kernel=(3, 3), num_filter=2, num_deformable_group=0), "num_deformable_group"),
    (dict(kernel=(3, 3), num_filter=2, layout="NCW"), "layout"),
    (dict(kernel=(3, 3), num_filter=2, bogus=1), "bogus"),
])
def test_bad_attributes_are_refused(attrs, arg):
    with pytest.raises(mx.MXNetError, match=f"{arg}="):
        mx.nd.contrib.DeformableConvolution(mx.nd.zeros((1, 2, 5, 5)), mx.nd.zeros((1, 18, 3, 3)),
                                            mx.nd.zeros((2, 2, 3, 3)), mx.nd.zeros((2,)), **attrs)


def test_bad_shapes_are_refused():
    x, w, b = mx.nd.zeros((1, 4, 5, 5)), mx.nd.zeros((2, 4, 3, 3)), mx.nd.zeros((2,))
    with pytest.raises(mx.MXNetError, match="offset="):
        mx.nd.contrib.DeformableConvolution(x, mx.nd.zeros((1, 18, 4, 3)), w, b, kernel=(3, 3), num_filter=2)
    with pytest.raises(mx.MXNetError, match="data="):
        mx.nd.contrib.DeformableConvolution(mx.nd.zeros((4, 5, 5)), mx.nd.zeros((1, 18, 3, 3)), w, b, kernel=(3, 3),
                                            num_filter=2)
    with pytest.raises(mx.MXNetError, match="num_deformable_group="):
        mx.nd.contrib.DeformableConvolution(x, mx.nd.zeros((1, 54, 3, 3)), w, b, kernel=(3, 3), num_filter=2,
                                            num_deformable_group=3)
    with pytest.raises(mx.MXNetError, match="kernel="):
        mx.nd.contrib.DeformableConvolution(mx.nd.zeros((1, 4, 2, 2)), mx.nd.zeros((1, 18, 1, 1)), w, b,
                                            kernel=(3, 3), num_filter=2)
    with pytest.raises(mx.MXNetError, match="mask="):
        mx.nd.contrib.ModulatedDeformableConvolution(x, mx.nd.zeros((1, 18, 3, 3)), mx.nd.zeros((1, 18, 3, 3)), w, b,
                                                     kernel=(3, 3), num_filter=2)
    with pytest.raises(mx.MXNetError, match="data="):
        mx.nd.contrib.DeformableConvolution(x.astype("int32"), mx.nd.zeros((1, 18, 3, 3)), w, b, kernel=(3, 3),
                                            num_filter=2)
