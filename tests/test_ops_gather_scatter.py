"""gather_nd, scatter_nd, _scatter_set_nd and slice_like against numpy indexing, their
gradients against float64 finite differences, and bad shapes refused before a push."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd
from op_check import check_gradient, forward

rng = np.random.default_rng(23)


def gather_reference(data, indices):
    return data[tuple(indices.astype(np.int64))]


@pytest.mark.parametrize("dshape,ishape", [((2, 3), (2, 4)), ((2, 3, 4), (1, 5)), ((2, 3, 4), (2, 2, 3)),
                                           ((5,), (1, 3)), ((2, 3), (2, 1))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_gather_nd_matches_numpy_indexing(dshape, ishape, dtype):
    data = rng.uniform(-5, 5, dshape).astype(dtype)
    indices = np.stack([rng.integers(0, dshape[j], ishape[1:]) for j in range(ishape[0])])
    got = nd.gather_nd(nd.array(data, dtype=dtype), nd.array(indices))
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.asnumpy(), gather_reference(data, indices))


def test_gather_nd_counts_negative_indices_from_the_end_and_truncates_floats():
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    # MXNet 1.9.1: gather_nd(arange(6).reshape(2, 3), [[1], [-1]]) = [5]
    np.testing.assert_array_equal(nd.gather_nd(nd.array(data), nd.array([[1], [-1]])).asnumpy(), [5])
    np.testing.assert_array_equal(nd.gather_nd(nd.array(data), nd.array([[0.9, 1.2]])).asnumpy(), [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(
        nd.gather_nd(nd.array(data), nd.array([[1, 0]], dtype="int64")).asnumpy(), [[3, 4, 5], [0, 1, 2]])


def test_gather_nd_out_of_range_index_fails_where_the_result_is_read():
    out = nd.gather_nd(nd.ones((2, 3)), nd.array([[2]]))
    with pytest.raises(mx.MXNetError, match=r"IndexError: index 2 is out of bounds for axis 0 with size 2"):
        out.asnumpy()


@pytest.mark.parametrize("dshape,ishape", [((2, 3), (2, 4)), ((2, 3, 4), (1, 5)), ((3, 4), (2, 2, 2))])
def test_gather_nd_gradient_matches_finite_differences(dshape, ishape):
    data = rng.standard_normal(dshape)
    # repeated coordinates: their gradients add up
    indices = np.stack([rng.integers(0, dshape[j], ishape[1:]) for j in range(ishape[0])]).astype(np.float64)
    check_gradient("gather_nd", [data, indices], wrt=[0])


def test_scatter_nd_is_the_zero_array_with_the_values_written():
    # MXNet 1.9.1: scatter_nd([5, 6], [[1, 0], [2, 1]], shape=(2, 3)) = [[0, 6, 0], [0, 0, 5]]
    got = nd.scatter_nd(nd.array([5, 6]), nd.array([[1, 0], [2, 1]]), shape=(2, 3))
    np.testing.assert_array_equal(got.asnumpy(), [[0, 6, 0], [0, 0, 5]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_scatter_nd_writes_blocks_into_the_output_shape(dtype):
    values = rng.uniform(-5, 5, (3, 4)).astype(dtype)
    indices = np.array([[0, 2, 1], [1, 0, 2]])  # distinct coordinates
    got = forward("scatter_nd", [values, indices.astype(np.float32)], shape=(3, 3, 4))[0]
    expected = np.zeros((3, 3, 4), dtype)
    expected[tuple(indices)] = values
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, expected)


def test_scatter_nd_gradient_gathers_the_head_gradient():
    values = rng.standard_normal((3, 4))
    indices = np.array([[0, 2, 1], [1, 0, 2]], dtype=np.float64)
    check_gradient("scatter_nd", [values, indices], wrt=[0], shape=(3, 3, 4))


def test_scatter_set_nd_writes_into_a_copy_of_lhs():
    lhs = np.ones((2, 2), np.float32)
    got = forward("_scatter_set_nd", [lhs, np.array([2, 3, 0], np.float32), np.array([[1, 1, 0], [0, 1, 0]], np.float32)],
                  shape=(2, 2))[0]
    np.testing.assert_array_equal(got, [[0, 1], [2, 3]])
    np.testing.assert_array_equal(lhs, np.ones((2, 2)))


@pytest.mark.parametrize("call,match", [
    (lambda: nd.gather_nd(nd.ones((2, 3)), nd.array([1, 2])),
     r"gather_nd: indices=an array of shape \(2,\): expected at least 2 dimensions"),
    (lambda: nd.gather_nd(nd.ones((2, 3)), nd.ones((3, 1))),
     r"gather_nd: indices=an array of shape \(3, 1\): expected at most 2 coordinates"),
    (lambda: nd.scatter_nd(nd.ones((2,)), nd.ones((2, 3)), shape=(2, 3)),
     r"scatter_nd: data=an array of shape \(2,\): expected shape \(3,\)"),
    (lambda: nd.scatter_nd(nd.ones((2,)), nd.ones((1, 2))),
     r"scatter_nd: shape=\(missing\): expected a tuple"),
    (lambda: nd.scatter_nd(nd.ones((2,)), nd.ones((1, 2)), shape=(-1, 2)),
     r"scatter_nd: shape=\(-1, 2\): expected a tuple of non-negative integers"),
])
def test_bad_gather_scatter_shapes_are_refused(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()


def test_gather_nd_symbol_infers_shapes():
    y = mx.sym.gather_nd(mx.sym.var("data"), mx.sym.var("indices"))
    assert y.list_arguments() == ["data", "indices"]
    assert y.infer_shape(data=(4, 5, 6), indices=(2, 7))[1] == [(7, 6)]


# ---- slice_like -------------------------------------------------------------------------------

@pytest.mark.parametrize("axes,expected", [((), (2, 3, 4)), ((0,), (2, 5, 6)), ((-1,), (3, 5, 4)),
                                           ((0, 2), (2, 5, 4))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_slice_like_matches_numpy_slicing(axes, expected, dtype):
    data = rng.uniform(-5, 5, (3, 5, 6)).astype(dtype)
    got = nd.slice_like(nd.array(data, dtype=dtype), nd.zeros((2, 3, 4)), axes=axes)
    assert got.shape == expected and got.dtype == dtype
    np.testing.assert_array_equal(got.asnumpy(), data[tuple(slice(0, e) for e in expected)])


def test_slice_like_recorded_mxnet_example():
    # MXNet 1.9.1: slice_like(arange(12).reshape(3, 4), zeros((2, 3)), axes=(-1,)) keeps 3 rows
    x = nd.arange(12).reshape((3, 4))
    np.testing.assert_array_equal(nd.slice_like(x, nd.zeros((2, 3)), axes=(-1,)).asnumpy(),
                                  [[0, 1, 2], [4, 5, 6], [8, 9, 10]])
    np.testing.assert_array_equal(x.slice_like(nd.zeros((2, 3))).asnumpy(), [[0, 1, 2], [4, 5, 6]])


@pytest.mark.parametrize("axes", [(), (1,), (0, -1)])
def test_slice_like_gradient_matches_finite_differences(axes):
    check_gradient("slice_like", [rng.standard_normal((3, 4, 5)), np.zeros((2, 3, 4))], wrt=[0], axes=axes)


def test_slice_like_gives_shape_like_a_zero_gradient():
    data, like = nd.array(rng.standard_normal((3, 4))), nd.zeros((2, 2))
    outs = _native.invoke("slice_like", [data._h, like._h], {}, [], True, True)
    head = nd.ones((2, 2))
    gd, gl = nd.array(np.full((3, 4), 5.0)), nd.array(np.full((2, 2), 5.0))
    _native.invoke_backward("slice_like", {}, [head._h], [data._h, like._h], outs, [gd._h, gl._h],
                            ["write", "write"], True)
    expected = np.zeros((3, 4))
    expected[:2, :2] = 1
    np.testing.assert_array_equal(gd.asnumpy(), expected)
    np.testing.assert_array_equal(gl.asnumpy(), np.zeros((2, 2)))


@pytest.mark.parametrize("call,match", [
    (lambda: nd.slice_like(nd.ones((2, 3)), nd.ones((3, 3))),
     r"slice_like: shape_like=an array of shape \(3, 3\): expected at most 2 elements on axis 0"),
    (lambda: nd.slice_like(nd.ones((2, 3)), nd.ones((2,))),
     r"slice_like: shape_like=an array of shape \(2,\): expected the rank of data"),
    (lambda: nd.slice_like(nd.ones((2, 3)), nd.ones((2, 3)), axes=(2,)), r"slice_like: axes=2: expected"),
    (lambda: nd.slice_like(nd.ones((2, 3)), nd.ones((2,)), axes=(1,)),
     r"slice_like: axes=1: expected axes that shape_like \(2,\) has too"),
])
def test_bad_slice_like_arguments_are_refused(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
