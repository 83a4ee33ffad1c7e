"""The index helpers against numpy: ravel_multi_index / unravel_index, batch_take,
argmax_channel, choose_element_0index (pick), contrib.index_array, contrib.index_copy,
contrib.arange_like, khatri_rao, split_v2 and histogram, with their gradients where they pass
one on and their refusals of bad arguments."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd
from op_check import check_gradient, forward

rng = np.random.default_rng(31)


@pytest.mark.parametrize("op", ["_ravel_multi_index", "ravel_multi_index"])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_ravel_multi_index_matches_numpy(op, dtype):
    shape = (3, 4, 5)
    coords = np.stack([rng.integers(0, d, 7) for d in shape]).astype(dtype)
    got = forward(op, [coords], shape=shape)[0]
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, np.ravel_multi_index(tuple(coords.astype(np.int64)), shape))


@pytest.mark.parametrize("op", ["_unravel_index", "unravel_index"])
def test_unravel_index_matches_numpy(op):
    flat = rng.integers(0, 60, 9).astype(np.float32)
    got = forward(op, [flat], shape=(3, 4, 5))[0]
    np.testing.assert_array_equal(got, np.stack(np.unravel_index(flat.astype(np.int64), (3, 4, 5))))


@pytest.mark.parametrize("call,match", [
    (lambda: nd.ravel_multi_index(nd.ones((2, 3))), r"ravel_multi_index: shape=\(missing\): expected the shape"),
    (lambda: nd.ravel_multi_index(nd.ones((3, 3)), shape=(2, 2)),
     r"ravel_multi_index: data=an array of shape \(3, 3\): expected shape \(2, N\)"),
    (lambda: nd._unravel_index(nd.ones((2, 3)), shape=(2, 2)), r"_unravel_index: data=an array of shape \(2, 3\)"),
    (lambda: nd._unravel_index(nd.ones((2,)), shape=(0, 2)), r"expected a tuple of positive integers"),
])
def test_bad_ravel_arguments_are_refused(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()


def test_batch_take_takes_one_element_per_row_clipping_indices():
    # MXNet 1.9.1: batch_take([[1, 2], [3, 4], [5, 6]], [0, 1, 0]) = [1, 4, 5]
    x = nd.array([[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(nd.batch_take(x, nd.array([0, 1, 0], dtype="int32")).asnumpy(), [1, 4, 5])
    np.testing.assert_array_equal(nd.batch_take(x, nd.array([-3, 7, 1], dtype="int32")).asnumpy(), [1, 4, 6])
    with pytest.raises(mx.MXNetError, match=r"batch_take: indices="):
        nd.batch_take(x, nd.array([0, 1, 0]))  # float32 indices: MXNet takes int32 only
    with pytest.raises(mx.MXNetError, match=r"batch_take: indices=an array of shape \(2,\): expected 3 elements"):
        nd.batch_take(x, nd.array([0, 1], dtype="int32"))


@pytest.mark.parametrize("shape", [(2, 3), (2, 5, 3)])
def test_argmax_channel_is_argmax_along_axis_one(shape):
    x = rng.standard_normal(shape).astype(np.float32)
    got = nd.argmax_channel(nd.array(x))
    np.testing.assert_array_equal(got.asnumpy(), np.argmax(x, axis=1))
    np.testing.assert_array_equal(nd.array(x).argmax_channel().asnumpy(), np.argmax(x, axis=1))
    with pytest.raises(mx.MXNetError, match=r"argmax_channel: axis='1': expected no attributes"):
        nd.argmax_channel(nd.array(x), axis=1)


def test_choose_element_0index_is_pick():
    x = rng.standard_normal((3, 4))
    idx = np.array([0, 3, 1], dtype=np.float64)
    np.testing.assert_array_equal(forward("choose_element_0index", [x, idx])[0], x[np.arange(3), [0, 3, 1]])
    check_gradient("choose_element_0index", [x, idx], wrt=[0])
    with pytest.raises(mx.MXNetError, match=r"choose_element_0index: mode='x'"):
        nd.choose_element_0index(nd.array(x), nd.array(idx), mode="x")


def test_index_array_lists_coordinates():
    x = nd.zeros((2, 3))
    got = nd.contrib.index_array(x)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.asnumpy(), np.stack(np.indices((2, 3)), axis=-1))
    np.testing.assert_array_equal(nd.contrib.index_array(x, axes=(1,)).asnumpy(), np.indices((2, 3))[1][..., None])
    np.testing.assert_array_equal(nd.contrib.index_array(x, axes=(-1, 0)).asnumpy(),
                                  np.stack([np.indices((2, 3))[1], np.indices((2, 3))[0]], axis=-1))
    with pytest.raises(mx.MXNetError, match=r"_contrib_index_array: axes=2: expected"):
        nd.contrib.index_array(x, axes=(2,))


def test_index_copy_replaces_rows_and_splits_the_gradient():
    old = rng.standard_normal((4, 2))
    new = rng.standard_normal((2, 2))
    idx = np.array([3, 0], dtype=np.float64)
    expected = old.copy()
    expected[[3, 0]] = new
    np.testing.assert_array_equal(forward("_contrib_index_copy", [old, idx, new])[0], expected)
    check_gradient("_contrib_index_copy", [old, idx, new], wrt=[0, 2])
    bad = nd.contrib.index_copy(nd.array(old), nd.array([4, 0]), nd.array(new))
    with pytest.raises(mx.MXNetError, match=r"index_vector\[0\]=4 is outside the 4 rows of old_tensor"):
        bad.asnumpy()
    with pytest.raises(mx.MXNetError, match=r"_contrib_index_copy: new_tensor=an array of shape \(3, 2\)"):
        nd.contrib.index_copy(nd.array(old), nd.array(idx), nd.ones((3, 2)))


def test_arange_like_follows_mxnet():
    x = nd.zeros((2, 3))
    # MXNet 1.9.1 values
    np.testing.assert_array_equal(nd.contrib.arange_like(x, start=1, step=2, repeat=2).asnumpy(),
                                  [[1, 1, 3], [3, 5, 5]])
    np.testing.assert_array_equal(nd.contrib.arange_like(x, axis=-1, repeat=2).asnumpy(), [0, 0, 1])
    ints = nd.contrib.arange_like(x.astype("int32"), start=0.5)
    assert ints.dtype == np.int32
    np.testing.assert_array_equal(ints.asnumpy(), [[0, 1, 2], [3, 4, 5]])
    with pytest.raises(mx.MXNetError, match=r"_contrib_arange_like: repeat=0: expected an integer >= 1"):
        nd.contrib.arange_like(x, repeat=0)


def test_khatri_rao_matches_the_columnwise_kronecker_product():
    a = rng.standard_normal((2, 3))
    b = rng.standard_normal((4, 3))
    c = rng.standard_normal((1, 3))
    got = nd.khatri_rao(nd.array(a), nd.array(b), nd.array(c)).asnumpy()
    expected = np.stack([np.kron(np.kron(a[:, k], b[:, k]), c[:, k]) for k in range(3)], axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # MXNet's example
    got = nd.khatri_rao(nd.array([[1, -1], [2, -3]]), nd.array([[1, 4], [2, 5], [3, 6]])).asnumpy()
    np.testing.assert_array_equal(got, [[1, -4], [2, -5], [3, -6], [2, -12], [4, -15], [6, -18]])
    with pytest.raises(mx.MXNetError, match=r"khatri_rao: arg1=an array of shape \(2, 2\): expected 3 columns"):
        nd.khatri_rao(nd.ones((2, 3)), nd.ones((2, 2)))


@pytest.mark.parametrize("split,axis", [(3, 0), ((2, 3), 0), ((1,), 1), (2, -1)])
def test_split_v2_matches_numpy_split(split, axis):
    x = rng.standard_normal((6, 4)).astype(np.float32)
    got = nd.split_v2(nd.array(x), split, axis=axis)
    expected = np.split(x, split if isinstance(split, int) else list(split), axis=axis)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g.asnumpy(), e)
    method = nd.array(x).split_v2(split, axis=axis)
    assert len(method) == len(expected)


def test_split_v2_squeeze_axis_and_gradient():
    x = rng.standard_normal((3, 2))
    got = nd.split_v2(nd.array(x), 3, axis=0, squeeze_axis=True)
    assert [g.shape for g in got] == [(2,), (2,), (2,)]
    check_gradient("_split_v2", [x], indices=(0, 1), axis=0)
    check_gradient("_split_v2", [rng.standard_normal((2, 5))], indices=(), sections=2, axis=1)
    with pytest.raises(ValueError, match="equal division"):
        nd.split_v2(nd.array(x), 2)
    with pytest.raises(mx.MXNetError, match=r"_split_v2: squeeze_axis=True: expected pieces of length 1"):
        nd.split_v2(nd.array(x), (1,), squeeze_axis=True)


def test_symbol_split_v2_with_sections_infers_nearly_equal_pieces():
    pieces = mx.sym.split_v2(mx.sym.var("x"), 3, axis=1)
    assert pieces.infer_shape(x=(2, 7))[1] == [(2, 3), (2, 2), (2, 2)]


def test_histogram_matches_numpy():
    x = nd.array([0, 1, 1, 2, 3, 3.5, 10])
    counts, edges = nd.histogram(x, bins=3, range=(0, 4))
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts.asnumpy(), [3, 1, 2])  # 10 lies outside: not counted
    np.testing.assert_allclose(edges.asnumpy(), np.linspace(0, 4, 4), rtol=1e-6)
    counts, edges = nd.histogram(x, bins=nd.array([0, 1, 2, 5]))
    np.testing.assert_array_equal(counts.asnumpy(), [1, 2, 3])
    np.testing.assert_array_equal(edges.asnumpy(), [0, 1, 2, 5])
    data = rng.standard_normal(500).astype(np.float32)
    counts, _ = nd.histogram(nd.array(data), bins=7, range=(-1.5, 2.0))
    np.testing.assert_array_equal(counts.asnumpy(), np.histogram(data, bins=7, range=(-1.5, 2.0))[0])
    with pytest.warns(UserWarning, match="range is not specified"):
        counts, edges = nd.histogram(x, bins=2)
    np.testing.assert_array_equal(counts.asnumpy(), [6, 1])
    s = mx.sym.histogram(mx.sym.var("a"), bins=4, range=(0, 1))
    assert s.infer_shape(a=(10,))[1] == [(4,), (5,)]


@pytest.mark.parametrize("call,match", [
    (lambda: nd._histogram(nd.ones((3,)), bin_cnt=3), r"_histogram: range=None: expected \(min, max\)"),
    (lambda: nd._histogram(nd.ones((3,)), bin_cnt=3, range=(2, 1)), r"_histogram: range='\(2, 1\)': expected a pair"),
    (lambda: nd._histogram(nd.ones((3,)), bin_cnt=0, range=(0, 1)), r"_histogram: bin_cnt=0: expected a number of bins"),
    (lambda: nd._histogram(nd.ones((3,)), nd.ones((1,))), r"_histogram: bins=an array of shape \(1,\)"),
])
def test_bad_histogram_arguments_are_refused(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()


def test_index_helpers_have_zero_gradients():
    x = nd.array(rng.standard_normal((2, 3)))
    outs = _native.invoke("_contrib_arange_like", [x._h], {}, [], True, True)
    g = nd.array(np.full((2, 3), 4.0))
    _native.invoke_backward("_contrib_arange_like", {}, [nd.ones((2, 3))._h], [x._h], outs, [g._h], ["write"], True)
    np.testing.assert_array_equal(g.asnumpy(), np.zeros((2, 3)))
