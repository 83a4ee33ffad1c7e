"""Correlation (FlowNet's correlation layer) against a numpy reference, its gradients against
float64 finite differences, MXNet 1.9.1's recorded outputs and gradients
(tests/data/make_mxnet_added_ops_refs.py), the symbol front end and the refusals."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd
from op_check import check_gradient, forward

REFS = np.load(os.path.join(os.path.dirname(__file__), "data", "mxnet_added_ops_refs.npz"))
META = json.loads(str(REFS["meta"]))


def correlation_ref(d1, d2, kernel_size=1, max_displacement=1, stride1=1, stride2=1, pad_size=0,
                    is_multiply=True):
    """MXNet's CPU correlation, from its definition: patches anchored at their corner."""
    n, c, h, w = d1.shape
    pad = ((0, 0), (0, 0), (pad_size, pad_size), (pad_size, pad_size))
    p1, p2 = np.pad(d1, pad), np.pad(d2, pad)
    k, md = kernel_size, max_displacement
    border = md + (k - 1) // 2
    top_h = math.ceil((h + 2 * pad_size - 2 * border) / stride1)
    top_w = math.ceil((w + 2 * pad_size - 2 * border) / stride1)
    radius = md // stride2
    grid = 2 * radius + 1
    out = np.zeros((n, grid * grid, top_h, top_w))
    for q in range(grid * grid):
        dy, dx = (q // grid - radius) * stride2, (q % grid - radius) * stride2
        for i in range(top_h):
            for j in range(top_w):
                y1, x1 = i * stride1 + md, j * stride1 + md
                a = p1[:, :, y1:y1 + k, x1:x1 + k]
                b = p2[:, :, y1 + dy:y1 + dy + k, x1 + dx:x1 + dx + k]
                v = a * b if is_multiply else np.abs(a - b)
                out[:, q, i, j] = v.sum(axis=(1, 2, 3)) / (k * k * c)
    return out


CASES = [
    ((2, 3, 5, 6), {}),
    ((1, 2, 8, 7), {"kernel_size": 3, "max_displacement": 2, "pad_size": 2}),
    ((2, 2, 9, 9), {"max_displacement": 3, "stride1": 2, "stride2": 2, "pad_size": 1}),
    ((1, 3, 6, 6), {"kernel_size": 3, "max_displacement": 1, "pad_size": 1, "is_multiply": False}),
]


@pytest.mark.parametrize("shape,attrs", CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_correlation_matches_numpy(shape, attrs, dtype):
    rng = np.random.default_rng(0)
    d1, d2 = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    (y,) = forward("Correlation", [d1, d2], **attrs)
    assert y.dtype == np.dtype(dtype)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(y, correlation_ref(d1.astype(np.float64), d2.astype(np.float64), **attrs),
                               rtol=tol, atol=tol)


@pytest.mark.parametrize("shape,attrs", CASES)
def test_correlation_gradients_match_finite_differences(shape, attrs):
    rng = np.random.default_rng(1)
    check_gradient("Correlation", [rng.standard_normal(shape), rng.standard_normal(shape)], **attrs)


def test_correlation_gradient_under_null_leaves_the_array_alone():
    rng = np.random.default_rng(2)
    d1, d2 = nd.array(rng.standard_normal((1, 2, 4, 4))), nd.array(rng.standard_normal((1, 2, 4, 4)))
    outs = _native.invoke("Correlation", [d1._h, d2._h], {}, [], True, True)
    head = nd.ones((1, 9, 2, 2))
    g1, g2 = nd.full((1, 2, 4, 4), 7.0), nd.zeros((1, 2, 4, 4))
    _native.invoke_backward("Correlation", {}, [head._h], [d1._h, d2._h], outs, [g1._h, g2._h],
                            ["null", "write"], True)
    np.testing.assert_array_equal(g1.asnumpy(), np.full((1, 2, 4, 4), 7.0))
    assert np.abs(g2.asnumpy()).sum() > 0


@pytest.mark.parametrize("case", [k.split("/")[1] for k in META if k.startswith("correlation/")])
def test_correlation_matches_mxnet_1_9_1(case):
    key = f"correlation/{case}"
    attrs = META[key]
    d1, d2, head = REFS[f"{key}/data1"], REFS[f"{key}/data2"], REFS[f"{key}/head"]
    a1, a2 = nd.array(d1, dtype="float64"), nd.array(d2, dtype="float64")
    outs = _native.invoke("Correlation", [a1._h, a2._h], {k: str(v) for k, v in attrs.items()}, [], True, True)
    y = nd.NDArray._wrap(outs[0], None).asnumpy()
    np.testing.assert_allclose(y, REFS[f"{key}/out"], rtol=1e-10, atol=1e-12)
    g1, g2 = nd.zeros(d1.shape, dtype="float64"), nd.zeros(d2.shape, dtype="float64")
    h = nd.array(head, dtype="float64")
    _native.invoke_backward("Correlation", {k: str(v) for k, v in attrs.items()}, [h._h], [a1._h, a2._h], outs,
                            [g1._h, g2._h], ["write", "write"], True)
    np.testing.assert_allclose(g1.asnumpy(), REFS[f"{key}/grad1"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g2.asnumpy(), REFS[f"{key}/grad2"], rtol=1e-10, atol=1e-12)


def test_correlation_symbol_has_one_output_and_trains_like_the_ndarray_call():
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    sym = mx.sym.Correlation(a, b, kernel_size=3, max_displacement=2, pad_size=2)
    assert sym.list_arguments() == ["a", "b"]
    assert sym.list_outputs() == [sym.name + "_output"]
    _, outs, _ = sym.infer_shape(a=(2, 3, 8, 8), b=(2, 3, 8, 8))
    assert outs == [(2, 25, 6, 6)]
    rng = np.random.default_rng(3)
    d1, d2 = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((2, 3, 8, 8))
    exe = sym.simple_bind(mx.cpu(), a=(2, 3, 8, 8), b=(2, 3, 8, 8))
    exe.arg_dict["a"][:] = d1
    exe.arg_dict["b"][:] = d2
    exe.forward(is_train=True)
    expected = correlation_ref(d1, d2, kernel_size=3, max_displacement=2, pad_size=2)
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), expected, rtol=1e-5, atol=1e-6)
    exe.backward(nd.ones((2, 25, 6, 6)))
    # d/d a of sum(out) = the sum, over the displacements reaching each element, of b / count.
    assert exe.grad_dict["a"].shape == (2, 3, 8, 8)
    assert np.isfinite(exe.grad_dict["b"].asnumpy()).all()


def test_correlation_nd_function_takes_mxnet_positional_attributes():
    rng = np.random.default_rng(4)
    d1, d2 = rng.standard_normal((1, 1, 5, 5)), rng.standard_normal((1, 1, 5, 5))
    # MXNet's order: kernel_size, max_displacement, stride1, stride2, pad_size, is_multiply.
    y = nd.Correlation(nd.array(d1), nd.array(d2), 1, 2, 1, 1, 2, False)
    np.testing.assert_allclose(y.asnumpy(), correlation_ref(d1, d2, 1, 2, 1, 1, 2, False), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("attrs,match", [
    ({"kernel_size": 2}, r"Correlation: kernel_size=2: expected an odd number"),
    ({"stride1": 0}, r"Correlation: stride1=0: expected an integer >= 1"),
    ({"stride2": 0}, r"Correlation: stride2=0: expected an integer >= 1"),
    ({"pad_size": -1}, r"Correlation: pad_size=-1: expected an integer >= 0"),
    ({"max_displacement": 5}, r"Correlation: data1=an array of shape \(1, 1, 5, 5\): expected height and width"),
    ({"bogus": 1}, r"Correlation: bogus='1': expected an attribute of Correlation"),
])
def test_correlation_refuses_bad_attributes_before_pushing(attrs, match):
    with pytest.raises(mx.MXNetError, match=match):
        nd.Correlation(nd.zeros((1, 1, 5, 5)), nd.zeros((1, 1, 5, 5)), **attrs)


def test_correlation_refuses_inputs_of_other_shapes_or_ranks():
    with pytest.raises(mx.MXNetError, match=r"Correlation: data2=.*\(1, 1, 5, 6\)"):
        nd.Correlation(nd.zeros((1, 1, 5, 5)), nd.zeros((1, 1, 5, 6)))
    with pytest.raises(mx.MXNetError, match=r"Correlation: data1=an array of shape \(5, 5\): expected 4 dimensions"):
        nd.Correlation(nd.zeros((5, 5)), nd.zeros((5, 5)))
    with pytest.raises(mx.MXNetError, match=r"Correlation: data=an array of type int32: expected float32, float64 or float16"):
        nd.Correlation(nd.zeros((1, 1, 5, 5), dtype="int32"), nd.zeros((1, 1, 5, 5), dtype="int32"))
