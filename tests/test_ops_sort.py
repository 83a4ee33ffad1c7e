"""sort, argsort and cumsum (_np_cumsum) against numpy: values, positions (stable, NaN as
the largest), dtypes, gradients against float64 finite differences, and bad arguments refused
before anything is pushed."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd
from op_check import check_gradient, forward

rng = np.random.default_rng(21)


def stable_argsort(x, axis, ascend):
    """numpy's stable argsort, descending order keeping ties first-come."""
    if axis is None:
        x, axis = x.reshape(-1), 0
    if ascend:
        return np.argsort(x, axis=axis, kind="stable")
    # Reversing a stable ascending sort would break ties backwards: sort by (not NaN, -x),
    # stably, instead (NaN, the largest, first).
    x = np.moveaxis(x, axis, -1)
    neg = np.where(np.isnan(x), 0, -x.astype(np.float64))
    flat_neg, flat_nan = neg.reshape(-1, x.shape[-1]), ~np.isnan(x).reshape(-1, x.shape[-1])
    order = np.stack([np.lexsort((flat_neg[r], flat_nan[r])) for r in range(flat_neg.shape[0])])
    return np.moveaxis(order.reshape(x.shape), -1, axis)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("axis", [-1, 0, 1, None])
@pytest.mark.parametrize("ascend", [True, False])
def test_argsort_matches_numpys_stable_argsort(dtype, axis, ascend):
    x = rng.integers(0, 5, (3, 70, 4)).astype(dtype)  # many ties; 70 takes the radix path
    got = nd.argsort(nd.array(x, dtype=dtype), axis=axis, is_ascend=ascend)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.asnumpy(), stable_argsort(x, axis, ascend))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.int8, np.uint8])
@pytest.mark.parametrize("n", [5, 300])
def test_sort_matches_numpy_for_each_type(dtype, n):
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    lo, hi = (info.min, info.max) if info else (-1e6, 1e6)
    x = rng.uniform(lo, hi, (4, n)).astype(dtype)
    for ascend in (True, False):
        got = nd.sort(nd.array(x, dtype=dtype), is_ascend=ascend)
        assert got.dtype == dtype
        expected = np.sort(x, axis=-1)
        np.testing.assert_array_equal(got.asnumpy(), expected if ascend else expected[:, ::-1])


@pytest.mark.parametrize("n", [7, 200])
def test_nan_sorts_as_the_largest_and_negative_zero_ties_with_zero(n):
    x = rng.standard_normal(n).astype(np.float32)
    x[[1, 4]] = np.nan
    x[2], x[5] = -0.0, 0.0
    x[3] = np.inf
    idx = nd.argsort(nd.array(x)).asnumpy().astype(np.int64)
    np.testing.assert_array_equal(idx, stable_argsort(x, 0, True))
    assert list(idx[-2:]) == [1, 4]
    desc = nd.argsort(nd.array(x), is_ascend=False).asnumpy().astype(np.int64)
    assert list(desc[:3]) == [1, 4, 3]
    np.testing.assert_array_equal(desc, stable_argsort(x, 0, False))


def test_argsort_index_dtype_and_sort_of_flattened_array():
    x = rng.standard_normal((3, 4)).astype(np.float32)
    for dt in ("int32", "int64", "float64", "float16", "uint8"):
        got = nd.argsort(nd.array(x), dtype=dt)
        assert got.dtype == np.dtype(dt)
        np.testing.assert_array_equal(got.asnumpy(), np.argsort(x, axis=-1, kind="stable"))
    flat = nd.sort(nd.array(x), axis=None)
    assert flat.shape == (12,)
    np.testing.assert_array_equal(flat.asnumpy(), np.sort(x.reshape(-1)))


def test_argsort_recorded_mxnet_example():
    # MXNet 1.9.1: argsort([[0, -1, 5, 5, inf]], is_ascend=0) = [[4, 2, 3, 0, 1]]
    x = nd.array([[0, -1, 5, 5, np.inf]])
    np.testing.assert_array_equal(nd.argsort(x, is_ascend=0).asnumpy(), [[4, 2, 3, 0, 1]])
    np.testing.assert_array_equal(nd.argsort(x).asnumpy(), [[1, 0, 2, 3, 4]])


def test_large_argsort_splits_rows_and_matches_numpy():
    x = rng.standard_normal((64, 2048)).astype(np.float32)
    np.testing.assert_array_equal(nd.argsort(nd.array(x)).asnumpy(),
                                  np.argsort(x, axis=-1, kind="stable"))


def test_methods_sort_and_argsort():
    x = nd.array([[3, 1, 2]])
    np.testing.assert_array_equal(x.sort().asnumpy(), [[1, 2, 3]])
    np.testing.assert_array_equal(x.argsort(is_ascend=False).asnumpy(), [[0, 2, 1]])
    s = mx.sym.var("x").sort(axis=0)
    assert s.list_arguments() == ["x"]
    assert s.infer_shape(x=(2, 3))[1] == [(2, 3)]


@pytest.mark.parametrize("attrs", [dict(), dict(axis=0), dict(axis=1, is_ascend=False), dict(axis=None)])
def test_sort_gradient_matches_finite_differences(attrs):
    x = rng.permutation(24).reshape(2, 3, 4) / 7.0  # distinct values: sort is smooth there
    check_gradient("sort", [x], **attrs)


def test_argsort_gradient_is_zero_and_add_leaves_it():
    x = rng.standard_normal((2, 5))
    arrays = [nd.array(x, dtype=np.float64)]
    outs = _native.invoke("argsort", [a._h for a in arrays], {}, [], True, True)
    head = nd.array(np.ones((2, 5)))
    for req, initial, expected in [("write", np.full((2, 5), 7.0), 0.0), ("add", np.full((2, 5), 7.0), 7.0)]:
        g = nd.array(initial, dtype=np.float64)
        _native.invoke_backward("argsort", {}, [head._h], [a._h for a in arrays], outs, [g._h], [req], True)
        np.testing.assert_array_equal(g.asnumpy(), np.full((2, 5), expected))


@pytest.mark.parametrize("call,match", [
    (lambda: nd.sort(nd.ones((2, 3)), axis=2), r"sort: axis=2: expected"),
    (lambda: nd.argsort(nd.ones((2, 3)), axis=-3), r"argsort: axis=-3: expected"),
    (lambda: nd.argsort(nd.ones((2, 300)), dtype="uint8"), r"argsort: dtype=uint8: expected a type that holds every index up to 299"),
    (lambda: nd.argsort(nd.ones((2, 3)), dtype="int8"), r"argsort: dtype='int8': expected one of"),
    (lambda: nd.sort(nd.ones((2, 3)), is_ascend="maybe"), r"sort: is_ascend='maybe': expected True or False"),
    (lambda: nd.sort(nd.ones((2, 3), dtype="float16")), r"sort: data=an array of type float16: expected"),
    (lambda: nd.sort(nd.ones((2, 3)), k=2), r"sort: k='2': expected an attribute of sort: 'axis', 'is_ascend'"),
])
def test_bad_sort_arguments_are_refused(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()


# ---- cumsum -----------------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["cumsum", "_np_cumsum"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cumsum_matches_numpy(op, axis, dtype):
    x = rng.standard_normal((3, 4, 5)).astype(dtype)
    got = nd.invoke(op, [nd.array(x, dtype=dtype)], axis=axis)
    assert got.dtype == dtype
    np.testing.assert_allclose(got.asnumpy(), np.cumsum(x, axis=axis), rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_cumsum_types_follow_mxnet():
    ints = nd.array([[3, 1, 2]], dtype="int32")
    got = nd.cumsum(ints, axis=1)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got.asnumpy(), [[3, 4, 6]])
    as_float = nd.cumsum(ints, axis=1, dtype="float64")
    assert as_float.dtype == np.float64
    np.testing.assert_array_equal(as_float.asnumpy(), [[3, 4, 6]])
    bools = forward("cumsum", [np.array([True, False, True])])[0]
    assert bools.dtype == np.int64
    np.testing.assert_array_equal(bools, [1, 1, 2])
    # int8 wraps as MXNet's int8 sums do
    np.testing.assert_array_equal(nd.cumsum(nd.array([100, 100], dtype="int8")).asnumpy(),
                                  np.array([100, 200], dtype=np.int64).astype(np.int8))


def test_cumsum_of_a_scalar_shaped_array_flattens():
    assert nd.cumsum(nd.ones((2, 3))).shape == (6,)


@pytest.mark.parametrize("attrs", [dict(), dict(axis=0), dict(axis=2), dict(axis=-2, dtype="float64")])
def test_cumsum_gradient_matches_finite_differences(attrs):
    check_gradient("cumsum", [rng.standard_normal((2, 3, 4))], **attrs)


def test_cumsum_symbol_infers_its_shape_and_type():
    y = mx.sym.cumsum(mx.sym.var("a"), axis=1)
    assert y.list_arguments() == ["a"]
    args, outs, _ = y.infer_shape(a=(2, 5))
    assert outs == [(2, 5)]
    flat = mx.sym.cumsum(mx.sym.var("a"))
    assert flat.infer_shape(a=(2, 5))[1] == [(10,)]


@pytest.mark.parametrize("call,match", [
    (lambda: nd.cumsum(nd.ones((2, 3)), axis=2), r"cumsum: axis=2: expected"),
    (lambda: nd.cumsum(nd.ones((2, 3)), dtype="uint8"), r"cumsum: dtype='uint8': expected one of"),
    (lambda: nd.cumsum(nd.ones((2, 3)), axes=1), r"cumsum: axes='1': expected an attribute of cumsum: 'axis', 'dtype'"),
])
def test_bad_cumsum_arguments_are_refused(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
