"""Elementwise math operators (erf ... logical_not, hard_sigmoid) against numpy and scipy, their
gradients against float64 finite differences, the zero gradients MXNet gives the rounding
operators and logical_not, and their error messages."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import special

import flowmod as mx
from flowmod import _native, nd
from op_check import check_gradient, forward

rng = np.random.default_rng(11)


def mx_rint(x):
    # MXNet takes floor on a tie: rint(1.5) = 1, rint(-1.5) = -2
    lo, hi = np.floor(x), np.ceil(x)
    return np.where(x - lo <= hi - x, lo, hi)


# name -> (reference, domain of the test values)
MATH = {
    "erf": (special.erf, (-2, 2)),
    "erfinv": (special.erfinv, (-0.95, 0.95)),
    "gamma": (special.gamma, (0.2, 4)),
    "gammaln": (special.gammaln, (0.2, 6)),
    "log2": (np.log2, (0.2, 5)),
    "log10": (np.log10, (0.2, 5)),
    "tan": (np.tan, (-1.2, 1.2)),
    "arcsin": (np.arcsin, (-0.9, 0.9)),
    "arccos": (np.arccos, (-0.9, 0.9)),
    "arctan": (np.arctan, (-3, 3)),
    "sinh": (np.sinh, (-2, 2)),
    "cosh": (np.cosh, (-2, 2)),
    "arcsinh": (np.arcsinh, (-3, 3)),
    "arccosh": (np.arccosh, (1.2, 4)),
    "arctanh": (np.arctanh, (-0.9, 0.9)),
    "degrees": (np.degrees, (-3, 3)),
    "radians": (np.radians, (-200, 200)),
    "trunc": (np.trunc, (-3, 3)),
    "fix": (np.fix, (-3, 3)),
    "rint": (mx_rint, (-3, 3)),
    "cbrt": (np.cbrt, (0.2, 8)),
    "rcbrt": (lambda x: 1 / np.cbrt(x), (0.2, 8)),
    "softsign": (lambda x: x / (1 + np.abs(x)), (-3, 3)),
    "logical_not": (lambda x: (x == 0).astype(x.dtype), (-2, 2)),
}
ZERO_GRAD = ["trunc", "fix", "rint", "logical_not"]


def values(name, shape, dtype="float64"):
    lo, hi = MATH[name][1]
    x = rng.uniform(lo, hi, shape)
    if name in ZERO_GRAD:
        x.reshape(-1)[::3] = 0  # some exact zeros for logical_not, whole values for rounding
    return x.astype(dtype)


@pytest.mark.parametrize("name", sorted(MATH))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_math_operators_match_numpy_and_scipy(name, dtype):
    x = values(name, (3, 4), dtype)
    got = getattr(nd, name)(nd.array(x, dtype=dtype))
    assert got.dtype == np.dtype(dtype) and got.shape == (3, 4)
    rtol = 2e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got.asnumpy(), MATH[name][0](x.astype(np.float64)), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name", sorted(MATH))
def test_math_operators_on_empty_and_one_element_arrays(name):
    for shape in [(0, 3), (1,)]:
        x = values(name, shape)
        (y,) = forward(name, [x])
        np.testing.assert_allclose(y, MATH[name][0](x), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(set(MATH) - set(ZERO_GRAD)))
def test_math_gradients_match_finite_differences(name):
    check_gradient(name, [values(name, (2, 3))], rtol=1e-5)


@pytest.mark.parametrize("name", ZERO_GRAD)
def test_rounding_and_logical_not_have_zero_gradient(name):
    x = nd.array(values(name, (2, 3)) + 0.3, dtype="float64")
    head = nd.array(rng.standard_normal((2, 3)), dtype="float64")
    grad = nd.array(np.full((2, 3), 7.0), dtype="float64")
    outs = _native.invoke(name, [x._h], {}, [], True, True)
    _native.invoke_backward(name, {}, [head._h], [x._h], outs, [grad._h], ["add"], True)
    np.testing.assert_array_equal(grad.asnumpy(), np.full((2, 3), 7.0))
    _native.invoke_backward(name, {}, [head._h], [x._h], outs, [grad._h], ["write"], True)
    np.testing.assert_array_equal(grad.asnumpy(), np.zeros((2, 3)))


def test_rint_takes_floor_on_ties_and_fix_rounds_towards_zero():
    x = nd.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -1.7, 1.7])
    assert nd.rint(x).asnumpy().tolist() == [-3, -2, -1, 0, 1, 2, -2, 2]
    assert nd.fix(x).asnumpy().tolist() == [-2, -1, 0, 0, 1, 2, -1, 1]
    assert nd.trunc(x).asnumpy().tolist() == [-2, -1, 0, 0, 1, 2, -1, 1]


def test_special_function_edges():
    np.testing.assert_array_equal(nd.erfinv(nd.array([-1.0, 0.0, 1.0], dtype="float64")).asnumpy(),
                                  [-np.inf, 0.0, np.inf])
    assert np.isnan(nd.erfinv(nd.array([1.5])).asnumpy()[0])
    # gamma's poles and lgamma of negative arguments
    x = np.array([-2.5, -0.5, 0.5, 10.0, 30.0])
    np.testing.assert_allclose(nd.gamma(nd.array(x, dtype="float64")).asnumpy(), special.gamma(x), rtol=1e-12)
    np.testing.assert_allclose(nd.gammaln(nd.array(x, dtype="float64")).asnumpy(), special.gammaln(x), rtol=1e-12)


def test_digamma_in_the_gradients_of_gamma_and_gammaln():
    x = np.array([-2.5, -0.3, 0.1, 1.0, 7.5, 40.0])
    check_gradient("gammaln", [x[None, 1:]], rtol=1e-6)
    head = nd.ones((6,), dtype="float64")
    a = nd.array(x, dtype="float64")
    g = nd.zeros((6,), dtype="float64")
    outs = _native.invoke("gammaln", [a._h], {}, [], True, True)
    _native.invoke_backward("gammaln", {}, [head._h], [a._h], outs, [g._h], ["write"], True)
    np.testing.assert_allclose(g.asnumpy(), special.digamma(x), rtol=1e-12)
    outs = _native.invoke("gamma", [a._h], {}, [], True, True)
    _native.invoke_backward("gamma", {}, [head._h], [a._h], outs, [g._h], ["write"], True)
    np.testing.assert_allclose(g.asnumpy(), special.gamma(x) * special.digamma(x), rtol=1e-11)


@pytest.mark.parametrize("dtype", ["int32", "int64", "int8"])
def test_integer_arrays_keep_their_type(dtype):
    x = np.array([[-3, 0, 2], [5, 0, -7]], dtype=dtype)
    a = nd.array(x, dtype=dtype)
    for name, fn in [("trunc", lambda v: v), ("fix", lambda v: v), ("rint", lambda v: v),
                     ("logical_not", lambda v: (v == 0).astype(v.dtype))]:
        got = getattr(nd, name)(a)
        assert got.dtype == np.dtype(dtype), name
        np.testing.assert_array_equal(got.asnumpy(), fn(x), err_msg=name)
    # transcendental functions compute in float and truncate, as MXNet's legacy operators
    np.testing.assert_array_equal(nd.degrees(nd.array([1, 2], dtype="int32")).asnumpy(), [57, 114])


def test_logical_not_on_bool():
    got = nd.logical_not(nd.array([True, False], dtype="bool"))
    assert got.dtype == np.bool_ and got.asnumpy().tolist() == [False, True]


# ---- hard_sigmoid ------------------------------------------------------------------------------

@pytest.mark.parametrize("alpha,beta", [(0.2, 0.5), (0.3, 0.4), (1.0, 0.0)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_hard_sigmoid_forward(alpha, beta, dtype):
    x = rng.uniform(-5, 5, (4, 5)).astype(dtype)
    got = nd.hard_sigmoid(nd.array(x, dtype=dtype), alpha=alpha, beta=beta)
    np.testing.assert_allclose(got.asnumpy(), np.clip(alpha * x + beta, 0, 1), rtol=1e-6, atol=1e-7)


def test_hard_sigmoid_defaults_are_alpha_0_2_beta_0_5():
    x = np.array([-3.0, -1.0, 0.0, 1.0, 3.0])
    np.testing.assert_allclose(nd.hard_sigmoid(nd.array(x)).asnumpy(), np.clip(0.2 * x + 0.5, 0, 1), rtol=1e-6)


def test_hard_sigmoid_gradient():
    x = rng.uniform(-4, 4, (3, 4))
    x[np.abs(0.3 * x + 0.4) < 0.02] = 0.5
    x[np.abs(0.3 * x + 0.4 - 1) < 0.02] = 0.5
    check_gradient("hard_sigmoid", [x], alpha=0.3, beta=0.4)


# ---- Symbols and errors ------------------------------------------------------------------------

def test_math_operators_are_symbols_too():
    data = mx.sym.Variable("data")
    net = mx.sym.hard_sigmoid(mx.sym.erf(data), alpha=0.25)
    ex = net.simple_bind(mx.cpu(), data=(2, 3))
    x = rng.uniform(-2, 2, (2, 3)).astype(np.float32)
    ex.arg_dict["data"][:] = x
    (out,) = ex.forward()
    np.testing.assert_allclose(out.asnumpy(), np.clip(0.25 * special.erf(x) + 0.5, 0, 1), rtol=1e-5)


@pytest.mark.parametrize("call,match", [
    (lambda: nd.erf(nd.array([True], dtype="bool")), r"erf: data=an array of type bool: expected a numeric type"),
    (lambda: nd.tan(nd.ones((2,)), scalar=1), r"tan: scalar='1': expected no attributes"),
    (lambda: nd.hard_sigmoid(nd.ones((2,)), gamma=1), r"hard_sigmoid: gamma='1': expected an attribute of "
                                                      r"hard_sigmoid: 'alpha', 'beta'"),
    (lambda: nd.hard_sigmoid(nd.ones((2,)), alpha="steep"), r"hard_sigmoid: alpha='steep': expected a number"),
    (lambda: nd.hard_sigmoid(nd.array([1, 2], dtype="int32")),
     r"hard_sigmoid: data=an array of type int32: expected float32, float64 or float16"),
    (lambda: nd.cbrt(nd.ones((2, 3)), out=nd.ones((3, 2))), r"cbrt: out=an array of shape \(3, 2\): expected shape \(2, 3\)"),
])
def test_bad_arguments_raise_naming_the_problem(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
