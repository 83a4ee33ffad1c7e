"""Remainder (broadcast_mod, _mod, _mod_scalar, _rmod_scalar and NDArray/Symbol %), hypot,
the logical and/or/xor in all their forms, and MXNet's other names of the arithmetic and
comparison operators (broadcast_plus, _PlusScalar, _Equal, ...), against numpy."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd
from op_check import check_gradient, forward

rng = np.random.default_rng(29)


def python_mod(a, b):
    """MXNet's remainder: numpy's (the sign of b), and 0 where b is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, 0, np.mod(a, np.where(b == 0, 1, b))).astype(np.result_type(a, b))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.int8])
def test_broadcast_mod_matches_numpys_remainder(dtype):
    a = rng.integers(-20, 20, (3, 4)).astype(dtype)
    b = rng.integers(-6, 6, (1, 4)).astype(dtype)
    got = nd.broadcast_mod(nd.array(a, dtype=dtype), nd.array(b, dtype=dtype))
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.asnumpy(), python_mod(a, np.broadcast_to(b, a.shape)))


def test_mod_recorded_mxnet_values_and_operators():
    # MXNet 1.9.1: [5, -5, 5, -5, 5.5, 0] % [3, 3, -3, -3, 2, 2] = [2, 1, -1, -2, 1.5, 0]
    a, b = nd.array([5, -5, 5, -5, 5.5, 0]), nd.array([3, 3, -3, -3, 2, 2])
    np.testing.assert_allclose((a % b).asnumpy(), [2, 1, -1, -2, 1.5, 0])
    np.testing.assert_allclose((a % 3).asnumpy(), [2, 1, 2, 1, 2.5, 0])
    np.testing.assert_allclose((7 % b).asnumpy(), [1, 1, -2, -2, 1, 1])
    np.testing.assert_array_equal(nd.broadcast_mod(nd.array([1]), nd.array([0])).asnumpy(), [0])
    np.testing.assert_allclose(nd.modulo(a, b).asnumpy(), [2, 1, -1, -2, 1.5, 0])
    c = a.copy()
    c %= 3
    np.testing.assert_allclose(c.asnumpy(), [2, 1, 2, 1, 2.5, 0])
    x, y = mx.sym.var("x"), mx.sym.var("y")
    (out,) = (x % y).eval(ctx=mx.cpu(), x=a, y=b)
    np.testing.assert_allclose(out.asnumpy(), [2, 1, -1, -2, 1.5, 0])
    (out,) = (7 % y).eval(ctx=mx.cpu(), y=b)
    np.testing.assert_allclose(out.asnumpy(), [1, 1, -2, -2, 1, 1])


def test_integer_mod_by_zero_and_by_minus_one_is_zero():
    a = nd.array([-2147483648, 7, -7], dtype="int32")
    np.testing.assert_array_equal(nd.broadcast_mod(a, nd.array([-1, 0, 0], dtype="int32")).asnumpy(), [0, 0, 0])


@pytest.mark.parametrize("op", ["broadcast_mod", "_mod", "_Mod"])
def test_mod_gradient_matches_finite_differences(op):
    a = rng.uniform(0.5, 9.5, (2, 3))
    b = rng.uniform(0.7, 3.0, (2, 3)) * rng.choice([-1, 1], (2, 3))
    if op == "broadcast_mod":
        b = b[:1]
    check_gradient(op, [a, b])


@pytest.mark.parametrize("op", ["_mod_scalar", "_rmod_scalar", "_ModScalar", "_RModScalar"])
def test_scalar_mod_matches_numpy_and_its_gradient(op):
    x = rng.uniform(0.5, 9.5, (2, 3))
    reverse = "r" in op.lower()[:3]
    got = forward(op, [x], scalar=2.5)[0]
    np.testing.assert_allclose(got, python_mod(2.5, x) if reverse else python_mod(x, 2.5), rtol=1e-12)
    check_gradient(op, [x], scalar=2.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hypot_matches_numpy(dtype):
    a, b = rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal((3, 1)).astype(dtype)
    got = nd.broadcast_hypot(nd.array(a, dtype=dtype), nd.array(b, dtype=dtype))
    assert got.dtype == dtype
    np.testing.assert_allclose(got.asnumpy(), np.hypot(a, b), rtol=1e-6)
    np.testing.assert_allclose(forward("_hypot_scalar", [a], scalar=4.0)[0], np.hypot(a, 4.0), rtol=1e-6)
    np.testing.assert_allclose(forward("_Hypot", [a, a])[0], np.hypot(a, a), rtol=1e-6)


def test_symbol_hypot_takes_symbols_and_numbers():
    x = mx.sym.var("x")
    (out,) = mx.sym.hypot(x, 4).eval(ctx=mx.cpu(), x=nd.array([3, 5, 2]))
    np.testing.assert_allclose(out.asnumpy(), np.hypot([3, 5, 2], 4), rtol=1e-6)
    assert mx.sym.hypot(3, 4) == 5.0


@pytest.mark.parametrize("op,attrs", [("broadcast_hypot", {}), ("_hypot", {}), ("_hypot_scalar", {"scalar": -1.5})])
def test_hypot_gradient_matches_finite_differences(op, attrs):
    a = rng.standard_normal((2, 3))
    inputs = [a] if attrs else [a, rng.standard_normal((2, 3) if op == "_hypot" else (1, 3))]
    check_gradient(op, inputs, **attrs)


LOGICAL = {"and": np.logical_and, "or": np.logical_or, "xor": np.logical_xor}


@pytest.mark.parametrize("word", sorted(LOGICAL))
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.uint8])
def test_logical_operators_match_numpy_in_every_form(word, dtype):
    a = rng.integers(0, 3, (3, 4)).astype(dtype)
    b = rng.integers(0, 2, (3, 4)).astype(dtype)
    expected = LOGICAL[word](a, b).astype(dtype)
    for op in (f"broadcast_logical_{word}", f"_logical_{word}", f"_Logical_{word.capitalize()}"):
        got = forward(op, [a, b])[0]
        assert got.dtype == dtype, op
        np.testing.assert_array_equal(got, expected, err_msg=op)
    for op in (f"_logical_{word}_scalar", f"_Logical{word.capitalize()}Scalar"):
        np.testing.assert_array_equal(forward(op, [a], scalar=0.0)[0], LOGICAL[word](a, 0).astype(dtype), err_msg=op)
    fn = getattr(nd, f"logical_{word}")
    np.testing.assert_array_equal(fn(nd.array(a, dtype=dtype), nd.array(b[:1], dtype=dtype)).asnumpy(),
                                  LOGICAL[word](a, b[:1]).astype(dtype))
    np.testing.assert_array_equal(fn(1, nd.array(a, dtype=dtype)).asnumpy(), LOGICAL[word](1, a).astype(dtype))
    assert fn(1, 0) == int(LOGICAL[word](1, 0))


def test_logical_operators_have_zero_gradients():
    a, b = nd.array([[0.0, 1.0, 2.0]]), nd.array([[1.0, 0.0, 3.0]])
    outs = _native.invoke("broadcast_logical_and", [a._h, b._h], {}, [], True, True)
    ga, gb = nd.array([[9.0, 9.0, 9.0]]), nd.array([[9.0, 9.0, 9.0]])
    _native.invoke_backward("broadcast_logical_and", {}, [nd.ones((1, 3))._h], [a._h, b._h], outs,
                            [ga._h, gb._h], ["write", "add"], True)
    np.testing.assert_array_equal(ga.asnumpy(), [[0, 0, 0]])
    np.testing.assert_array_equal(gb.asnumpy(), [[9, 9, 9]])


ALIASES = [
    ("broadcast_plus", "broadcast_add", 2), ("broadcast_minus", "broadcast_sub", 2),
    ("_Equal", "_equal", 2), ("_Not_Equal", "_not_equal", 2), ("_Greater", "_greater", 2),
    ("_Greater_Equal", "_greater_equal", 2), ("_Lesser", "_lesser", 2), ("_Lesser_Equal", "_lesser_equal", 2),
    ("_PlusScalar", "_plus_scalar", 1), ("_MinusScalar", "_minus_scalar", 1), ("_RMinusScalar", "_rminus_scalar", 1),
    ("_MulScalar", "_mul_scalar", 1), ("_DivScalar", "_div_scalar", 1), ("_RDivScalar", "_rdiv_scalar", 1),
    ("_PowerScalar", "_power_scalar", 1), ("_RPowerScalar", "_rpower_scalar", 1),
    ("_MaximumScalar", "_maximum_scalar", 1), ("_MinimumScalar", "_minimum_scalar", 1),
    ("_EqualScalar", "_equal_scalar", 1), ("_NotEqualScalar", "_not_equal_scalar", 1),
    ("_GreaterScalar", "_greater_scalar", 1), ("_GreaterEqualScalar", "_greater_equal_scalar", 1),
    ("_LesserScalar", "_lesser_scalar", 1), ("_LesserEqualScalar", "_lesser_equal_scalar", 1),
    ("_ModScalar", "_mod_scalar", 1), ("_RModScalar", "_rmod_scalar", 1), ("_HypotScalar", "_hypot_scalar", 1),
]


@pytest.mark.parametrize("alias,op,arity", ALIASES)
def test_mxnet_alias_computes_what_its_operator_does(alias, op, arity):
    a = rng.uniform(0.5, 3.0, (2, 3))
    b = rng.uniform(0.5, 3.0, (1, 3) if op.startswith("broadcast") else (2, 3))
    inputs = [a, b] if arity == 2 else [a]
    attrs = {} if arity == 2 else {"scalar": 1.5}
    np.testing.assert_array_equal(forward(alias, inputs, **attrs)[0], forward(op, inputs, **attrs)[0])
    if op.startswith(("broadcast", "_plus", "_minus", "_rminus", "_mul", "_div", "_rdiv", "_power", "_rpower")):
        check_gradient(alias, inputs, **attrs)


def test_every_capitalized_name_mxnet_registers_is_registered():
    import json
    import os
    path = os.path.join(os.path.dirname(__file__), "data", "mxnet_op_schemas.json")
    with open(path) as f:
        mxnet_ops = json.load(f)["operators"]
    wanted = {n for n in mxnet_ops if n[:2] in {f"_{c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}}
    # Graph plumbing and Python-function operators, not arithmetic.
    plumbing = {"_CachedOp", "_CachedOpThreadSafe", "_CrossDeviceCopy", "_CustomFunction", "_NDArray",
                "_Native", "_NoGradient"}
    assert sorted(wanted - plumbing - set(_native.list_ops())) == []


@pytest.mark.parametrize("call,match", [
    (lambda: nd.broadcast_mod(nd.ones((2, 3)), nd.ones((4,))), r"broadcast_mod: rhs=an array of shape \(4,\)"),
    (lambda: nd._mod(nd.ones((2, 3)), nd.ones((3,))), r"_mod: rhs=an array of shape \(3,\): expected the shape of lhs"),
    (lambda: nd._hypot_scalar(nd.ones((2,)), scalar="x"), r"_hypot_scalar: scalar='x': expected a number"),
    (lambda: nd.broadcast_logical_or(nd.ones((2,)), nd.ones((2,), dtype="int32")), r"broadcast_logical_or: "),
])
def test_bad_operands_are_refused(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
