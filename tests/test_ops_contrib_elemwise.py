"""contrib.quadratic, contrib.gradientmultiplier, contrib.round_ste, contrib.sign_ste,
amp_cast and moments against numpy, their gradients against float64 finite differences (or
the straight-through rule), and bad arguments refused before a push."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd
from op_check import _attrs, check_gradient, forward

rng = np.random.default_rng(37)


def backward(op, x, head, req="write", initial=None, **attrs):
    arrays = [nd.array(x, dtype=x.dtype)]
    outs = _native.invoke(op, [a._h for a in arrays], _attrs(attrs), [], True, True)
    g = nd.array(initial if initial is not None else np.zeros_like(x), dtype=x.dtype)
    _native.invoke_backward(op, _attrs(attrs), [nd.array(head, dtype=head.dtype)._h], [a._h for a in arrays], outs,
                            [g._h], [req], True)
    return g.asnumpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_quadratic_matches_numpy_and_its_gradient(dtype):
    x = rng.standard_normal((3, 4)).astype(dtype)
    got = nd.contrib.quadratic(nd.array(x, dtype=dtype), a=2.0, b=-1.5, c=0.5)
    assert got.dtype == dtype
    np.testing.assert_allclose(got.asnumpy(), 2 * x * x - 1.5 * x + 0.5, rtol=1e-5)
    check_gradient("_contrib_quadratic", [x.astype(np.float64)], a=2.0, b=-1.5, c=0.5)


def test_gradientmultiplier_is_the_identity_with_a_scaled_gradient():
    x = rng.standard_normal((2, 3))
    np.testing.assert_array_equal(forward("_contrib_gradientmultiplier", [x], scalar=-2.0)[0], x)
    head = rng.standard_normal((2, 3))
    np.testing.assert_allclose(backward("_contrib_gradientmultiplier", x, head, scalar=-2.0), -2 * head)
    np.testing.assert_allclose(backward("_contrib_gradientmultiplier", x, head, req="add", initial=np.ones((2, 3)),
                                        scalar=0.5), 1 + 0.5 * head)


@pytest.mark.parametrize("op,fn", [("_contrib_round_ste", None), ("_contrib_sign_ste", np.sign)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_straight_through_estimators(op, fn, dtype):
    x = np.array([-2.5, -0.5, 0.0, 0.5, 1.5, 2.5, -1.2], dtype=dtype)
    # MXNet 1.9.1: round_ste([-2.5, -0.5, 0.5, 1.5, 2.5]) = [-3, -1, 1, 2, 3] (halves away from zero)
    expected = np.sign(x) * np.floor(np.abs(x) + 0.5) if fn is None else fn(x)
    got = forward(op, [x])[0]
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, expected)
    head = rng.standard_normal(x.shape)
    np.testing.assert_allclose(backward(op, x.astype(np.float64), head), head)


@pytest.mark.parametrize("src,dtype,out", [("float32", "float16", "float16"), ("float16", "float32", "float32"),
                                           ("float32", "float64", "float64"), ("int32", "float16", "int32"),
                                           ("float32", "int32", "int32"), ("float64", "float16", "float64")])
def test_amp_cast_converts_float16_and_float32_only(src, dtype, out):
    x = np.array([1.25, -2.0, 3.0])
    got = nd.amp_cast(nd.array(x, dtype=src), dtype=dtype)
    assert got.dtype == np.dtype(out)
    np.testing.assert_array_equal(got.asnumpy(), x.astype(src).astype(out))


def test_amp_cast_gradient_comes_back_in_the_input_type():
    x = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    arrays = [nd.array(x)]
    outs = _native.invoke("amp_cast", [arrays[0]._h], {"dtype": "float16"}, [], True, True)
    head = nd.array([0.5, 1.5, -2.0], dtype="float16")
    g = nd.zeros((3,))
    _native.invoke_backward("amp_cast", {"dtype": "float16"}, [head._h], [arrays[0]._h], outs, [g._h], ["write"], True)
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g.asnumpy(), [0.5, 1.5, -2.0])
    with pytest.raises(mx.MXNetError, match=r"amp_cast: dtype=\(missing\): expected one of"):
        nd.amp_cast(nd.array(x))


@pytest.mark.parametrize("axes,keepdims", [((0,), False), ((1,), True), ((0, 2), False), ((0, 1, 2), False),
                                           ((-1,), True)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_moments_match_numpy(axes, keepdims, dtype):
    x = rng.standard_normal((3, 4, 5)).astype(dtype)
    mean, var = nd.moments(nd.array(x, dtype=dtype), axes=axes, keepdims=keepdims)
    ref_mean = x.astype(np.float64).mean(axis=axes, keepdims=keepdims)
    ref_var = x.astype(np.float64).var(axis=axes, keepdims=keepdims)
    if ref_mean.ndim == 0:
        ref_mean, ref_var = ref_mean.reshape(1), ref_var.reshape(1)
    assert mean.shape == ref_mean.shape and mean.dtype == dtype
    np.testing.assert_allclose(mean.asnumpy(), ref_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var.asnumpy(), ref_var, rtol=1e-5, atol=1e-6)


def test_moments_recorded_mxnet_values():
    # MXNet 1.9.1: moments([[1, 2], [3, 5]], axes=(0, 1)) = ([2.75], [2.1875])
    mean, var = nd.moments(nd.array([[1, 2], [3, 5]]), axes=(0, 1))
    np.testing.assert_allclose(mean.asnumpy(), [2.75])
    np.testing.assert_allclose(var.asnumpy(), [2.1875])


@pytest.mark.parametrize("axes,keepdims", [((0,), False), ((1, 2), True), ((0, 1, 2), False)])
def test_moments_gradient_matches_finite_differences(axes, keepdims):
    check_gradient("moments", [rng.standard_normal((2, 3, 4))], axes=axes, keepdims=keepdims)


@pytest.mark.parametrize("call,match", [
    (lambda: nd.moments(nd.ones((2, 3))), r"moments: axes=None: expected the axes to reduce over"),
    (lambda: nd.moments(nd.ones((2, 3)), axes=(2,)), r"moments: axes=2: expected"),
    (lambda: nd.moments(nd.ones((2, 3)), axes=(0, 0)), r"moments: axes=\(0, \.\.\.\): expected distinct axes"),
    (lambda: nd.moments(nd.ones((2, 3), dtype="int32"), axes=(0,)), r"moments: "),
    (lambda: nd.contrib.quadratic(nd.ones((2,)), a="x"), r"_contrib_quadratic: a='x': expected a number"),
])
def test_bad_arguments_are_refused(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()


def test_allclose_follows_numpy():
    a = rng.standard_normal((3, 4)).astype(np.float32)
    assert nd.contrib.allclose(nd.array(a), nd.array(a * (1 + 1e-7))).asnumpy().tolist() == [1]
    assert nd.contrib.allclose(nd.array(a), nd.array(a + 1e-3)).asnumpy().tolist() == [0]
    got = nd.contrib.allclose(nd.array(a), nd.array(a + 1e-3), atol=1e-2)
    assert got.dtype == np.uint8 and got.asnumpy().tolist() == [1]
    nan = nd.array([np.nan, 1.0])
    assert nd.contrib.allclose(nan, nan).asnumpy().tolist() == [1]
    assert nd.contrib.allclose(nan, nan, equal_nan=False).asnumpy().tolist() == [0]
    with pytest.raises(mx.MXNetError, match=r"_contrib_allclose: b=an array of shape \(2,\): expected the shape of a"):
        nd.contrib.allclose(nd.ones((3,)), nd.ones((2,)))
