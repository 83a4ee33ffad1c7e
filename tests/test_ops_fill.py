"""The fill operators behind mx.sym.zeros / ones / full, and a 0 in their shape taken from
the consumers when a graph is bound."""
from __future__ import annotations

import numpy as np

import flowmod as mx


def run(sym, **shapes):
    ex = sym.simple_bind(mx.cpu(), grad_req="null", **shapes)
    for name, arr in ex.arg_dict.items():
        arr[:] = np.arange(arr.size, dtype=np.float32).reshape(arr.shape)
    ex.forward()
    return ex.outputs[0].asnumpy()


def test_known_shapes_fill_with_their_value():
    out = run(mx.sym.zeros((2, 3)) + mx.sym.ones((2, 3)) + mx.sym.full((2, 3), 2.5))
    np.testing.assert_array_equal(out, np.full((2, 3), 3.5, np.float32))


def test_zero_dimension_comes_from_the_consumer_at_bind():
    x = mx.sym.Variable("x")
    out = run(x + mx.sym.full((0, 3), 1.0), x=(4, 3))
    np.testing.assert_array_equal(out, np.arange(12, dtype=np.float32).reshape(4, 3) + 1)


def test_dtype_is_honoured():
    ex = mx.sym.ones((2,), dtype="float64").simple_bind(mx.cpu())
    ex.forward()
    assert ex.outputs[0].dtype == np.float64
