"""Broadcasting and shape operators: broadcast_to, broadcast_axis/broadcast_axes,
broadcast_like, reshape_like, SwapAxis/swapaxes, shape_array, size_array, add_n/ElementWiseSum
and diag against numpy, their gradients against float64 finite differences, and their error
messages."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd
from op_check import check_gradient, forward, info

rng = np.random.default_rng(41)


def randn(*shape):
    return rng.standard_normal(shape)


# ---- broadcast_to, broadcast_axis, broadcast_like ----------------------------------------------

@pytest.mark.parametrize("src,shape,expected", [((1, 3), (4, 3), (4, 3)), ((2, 1, 1), (2, 3, 4), (2, 3, 4)),
                                                ((2, 1), (0, 5), (2, 5)), ((3,), (3,), (3,))])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_broadcast_to(src, shape, expected, dtype):
    x = (randn(*src) * 10).astype(dtype)
    y = nd.broadcast_to(nd.array(x, dtype=dtype), shape=shape)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y.asnumpy(), np.broadcast_to(x, expected))


def test_broadcast_to_gradient_sums_over_broadcast_axes():
    check_gradient("broadcast_to", [randn(2, 1, 3)], shape=(2, 4, 3))
    check_gradient("broadcast_to", [randn(1, 1)], shape=(3, 2))


@pytest.mark.parametrize("name", ["broadcast_axis", "broadcast_axes"])
def test_broadcast_axis(name):
    x = randn(2, 1, 1)
    (y,) = forward(name, [x], axis=(1, -1), size=(3, 4))
    np.testing.assert_array_equal(y, np.broadcast_to(x, (2, 3, 4)))
    check_gradient(name, [x], axis=(1, 2), size=(3, 2))


def test_broadcast_like():
    x, like = randn(1, 3), randn(4, 3)
    (y,) = forward("broadcast_like", [x, like])
    np.testing.assert_array_equal(y, np.broadcast_to(x, (4, 3)))
    (y,) = forward("broadcast_like", [randn(2, 1), randn(5, 7, 3)], lhs_axes=(1,), rhs_axes=(-1,))
    assert y.shape == (2, 3)
    grads = check_gradient("broadcast_like", [x, like])
    np.testing.assert_array_equal(grads[1], np.zeros((4, 3)))


def test_broadcast_like_keeps_lhs_type():
    y = nd.broadcast_like(nd.array([[1], [2]], dtype="int32"), nd.ones((2, 3)))
    assert y.dtype == np.int32 and y.asnumpy().tolist() == [[1, 1, 1], [2, 2, 2]]


# ---- reshape_like ------------------------------------------------------------------------------

def test_reshape_like_takes_rhs_shape():
    x = randn(2, 6)
    (y,) = forward("reshape_like", [x, randn(3, 4)])
    np.testing.assert_array_equal(y, x.reshape(3, 4))


def test_reshape_like_with_ranges():
    x = randn(30, 7)
    (y,) = forward("reshape_like", [x, randn(15, 2, 4)], lhs_begin=0, lhs_end=1, rhs_begin=0, rhs_end=2)
    np.testing.assert_array_equal(y, x.reshape(15, 2, 7))
    (y,) = forward("reshape_like", [randn(2, 3, 4), randn(6, 5)], lhs_end=-1, rhs_end=1)
    assert y.shape == (6, 4)


def test_reshape_like_gradient():
    grads = check_gradient("reshape_like", [randn(2, 3), randn(3, 2)])
    np.testing.assert_array_equal(grads[1], np.zeros((3, 2)))


# ---- SwapAxis ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["SwapAxis", "swapaxes"])
@pytest.mark.parametrize("shape,d1,d2", [((2, 3, 4), 0, 2), ((2, 3), 1, 0), ((2, 3, 4, 5), 1, -1), ((3,), 0, 0)])
def test_swap_axis(name, shape, d1, d2):
    x = randn(*shape)
    (y,) = forward(name, [x], dim1=d1, dim2=d2)
    np.testing.assert_array_equal(y, np.swapaxes(x, d1, d2))


def test_swap_axis_gradient_and_shape_inference_both_ways():
    check_gradient("SwapAxis", [randn(2, 3, 4)], dim1=0, dim2=2)
    sym = mx.sym.SwapAxis(mx.sym.Variable("data"), dim1=0, dim2=1)
    args, outs, _ = sym.infer_shape(data=(2, 5))
    assert args == [(2, 5)] and outs == [(5, 2)]


# ---- shape_array, size_array -------------------------------------------------------------------

def test_shape_and_size_arrays_are_int64():
    x = nd.ones((2, 3, 4))
    s = nd.shape_array(x)
    assert s.dtype == np.int64 and s.asnumpy().tolist() == [2, 3, 4]
    n = nd.size_array(x)
    assert n.dtype == np.int64 and n.asnumpy().tolist() == [24]


# ---- add_n -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["add_n", "ElementWiseSum"])
@pytest.mark.parametrize("count", [1, 2, 5])
def test_add_n(name, count):
    xs = [randn(3, 4) for _ in range(count)]
    y = getattr(nd, name)(*[nd.array(x, dtype="float64") for x in xs])
    np.testing.assert_allclose(y.asnumpy(), sum(xs), rtol=1e-12)


def test_add_n_gradient_and_argument_names():
    check_gradient("add_n", [randn(2, 3), randn(2, 3), randn(2, 3)], num_args=3)
    assert info("add_n", num_args=3)["arguments"] == ["arg0", "arg1", "arg2"]
    sym = mx.sym.add_n(mx.sym.Variable("a"), mx.sym.Variable("b"))
    assert sym.list_arguments() == ["a", "b"]
    _, outs, _ = sym.infer_shape(a=(2, 2))
    assert outs == [(2, 2)]


# ---- diag --------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [0, 1, -2])
def test_diag_of_a_vector_builds_a_matrix(k):
    x = randn(4)
    (y,) = forward("diag", [x], k=k)
    np.testing.assert_array_equal(y, np.diag(x, k))
    check_gradient("diag", [x], k=k)


@pytest.mark.parametrize("shape,k,a1,a2", [((3, 4), 0, 0, 1), ((3, 4), 1, 0, 1), ((4, 3), -1, 0, 1), ((2, 3), 3, 0, 1),
                                           ((2, 3, 4), 0, 1, 2), ((2, 3, 4), 1, 2, 0), ((3, 2, 4), -1, 0, 2)])
def test_diag_of_matrices_extracts_diagonals(shape, k, a1, a2):
    x = randn(*shape)
    (y,) = forward("diag", [x], k=k, axis1=a1, axis2=a2)
    np.testing.assert_array_equal(y, np.diagonal(x, offset=k, axis1=a1, axis2=a2))
    check_gradient("diag", [x], k=k, axis1=a1, axis2=a2)


# ---- Errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("call,match", [
    (lambda: nd.broadcast_to(nd.ones((2, 3)), shape=(4, 3)),
     r"broadcast_to: data=an array of shape \(2, 3\): expected a shape that broadcasts to \(4, 3\)"),
    (lambda: nd.broadcast_to(nd.ones((2, 3)), shape=(1, 2, 3)),
     r"broadcast_to: shape=\(1, 2, 3\): expected a shape of the data's rank 2"),
    (lambda: nd.broadcast_axis(nd.ones((2, 3)), axis=(1,), size=(4,)),
     r"broadcast_axis: data=an array of shape \(2, 3\): expected size 1 along axis 1"),
    (lambda: nd.broadcast_axis(nd.ones((2, 1)), axis=(1,), size=(4, 2)),
     r"broadcast_axis: size=\(4, 2\): expected one size for each of the 1 axes"),
    (lambda: nd.broadcast_axis(nd.ones((2, 1)), axis=(2,), size=(4,)),
     r"broadcast_axis: axis=2: expected an axis in \[-2, 2\)"),
    (lambda: nd.broadcast_like(nd.ones((2, 3)), nd.ones((3,))),
     r"broadcast_like: rhs=an array of shape \(3,\): expected the rank of lhs \(2, 3\)"),
    (lambda: nd.reshape_like(nd.ones((2, 3)), nd.ones((4, 2))),
     r"reshape_like: rhs=an array of shape \(4, 2\): expected a shape giving lhs \(2, 3\) as many elements"),
    (lambda: nd.SwapAxis(nd.ones((2, 3)), dim1=2), r"SwapAxis: dim1=2: expected an axis in \[-2, 2\)"),
    (lambda: nd.add_n(nd.ones((2, 3)), nd.ones((3, 2))), r"add_n: arg1=shape \(2, 3\): expected shape \(3, 2\)"),
    (lambda: nd.add_n(nd.ones((2,)), nd.ones((2,), dtype="float64")),
     r"add_n: arg1=type float32: expected float64"),
    (lambda: nd.diag(nd.ones((2, 3)), axis1=1, axis2=1), r"diag: axis2=1: expected an axis other than axis1=1"),
    (lambda: nd.diag(nd.ones((2, 3)), k=4),
     r"diag: k=4: expected a diagonal of the 2 x 3 matrices \(an offset in \[-2, 3\]\)"),
])
def test_bad_arguments_raise_naming_the_problem(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
