"""NDArray storage, creation, views, copies and casts, against numpy."""
from __future__ import annotations

import gc

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd

ONES = nd.ones((2,))
DTYPES = ["float32", "float64", "float16", "uint8", "int8", "int32", "int64", "bool"]


def test_array_from_numpy_defaults_to_float32_as_in_mxnet_1x():
    src = np.arange(6, dtype=np.float64).reshape(2, 3)
    a = nd.array(src)
    assert a.dtype is np.float32 and a.shape == (2, 3) and a.context == mx.cpu(0)
    np.testing.assert_array_equal(a.asnumpy(), src.astype(np.float32))


def test_array_from_ndarray_keeps_its_type():
    a = nd.array([1, 2, 3], dtype="int64")
    assert nd.array(a).dtype is np.int64
    np.testing.assert_array_equal(nd.array(a).asnumpy(), [1, 2, 3])


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_round_trips_through_numpy(dtype):
    rng = np.random.default_rng(0)
    src = (rng.standard_normal((3, 5)) * 50).astype(dtype)
    a = nd.array(src, dtype=dtype)
    assert a.dtype is np.dtype(dtype).type
    np.testing.assert_array_equal(a.asnumpy(), src)


@pytest.mark.parametrize("src", DTYPES)
@pytest.mark.parametrize("dst", ["float32", "float64", "float16", "int32", "uint8", "bool"])
def test_astype_converts_as_numpy_does(src, dst):
    values = np.array([[0, 1, 2.5, 100], [3, 0, 7, 1]], dtype=np.float64).astype(src)
    got = nd.array(values, dtype=src).astype(dst).asnumpy()
    np.testing.assert_array_equal(got, values.astype(dst))
    assert got.dtype == np.dtype(dst)


def test_astype_without_copy_of_same_type_is_the_same_array():
    a = nd.ones((2,))
    assert a.astype("float32", copy=False) is a
    assert a.astype("float32") is not a


@pytest.mark.parametrize("make,reference", [
    (lambda: nd.zeros((2, 3)), np.zeros((2, 3), np.float32)),
    (lambda: nd.ones(4, dtype="int32"), np.ones(4, np.int32)),
    (lambda: nd.full((2, 2), 7.5), np.full((2, 2), 7.5, np.float32)),
    (lambda: nd.arange(5), np.arange(5, dtype=np.float32)),
    (lambda: nd.arange(2, 11, 3), np.arange(2, 11, 3, dtype=np.float32)),
    (lambda: nd.arange(0, 3, repeat=2), np.repeat(np.arange(3, dtype=np.float32), 2)),
    (lambda: nd.zeros((0, 3)), np.zeros((0, 3), np.float32)),
    (lambda: nd.zeros_like(nd.ones((2, 1), dtype="int8")), np.zeros((2, 1), np.int8)),
    (lambda: nd.ones_like(nd.zeros((3,), dtype="float64")), np.ones(3, np.float64)),
])
def test_creation_functions_match_numpy(make, reference):
    got = make()
    assert got.shape == reference.shape and got.dtype is reference.dtype.type
    np.testing.assert_array_equal(got.asnumpy(), reference)


def test_empty_has_the_requested_shape_type_and_context():
    a = nd.empty((3, 2), ctx=mx.cpu(1), dtype="float64")
    assert (a.shape, a.dtype, a.context, a.size, a.ndim) == ((3, 2), np.float64, mx.cpu(1), 6, 2)


def test_arrays_are_created_on_the_current_context():
    with mx.cpu(2):
        assert nd.zeros((1,)).context == mx.cpu(2)
    assert nd.zeros((1,)).context == mx.cpu(0)


def test_first_axis_slices_share_storage_with_the_array():
    a = nd.array(np.arange(12).reshape(4, 3))
    rows = a[1:3]
    rows[:] = -1
    row = a[0]
    row[:] = 9
    expected = np.arange(12, dtype=np.float32).reshape(4, 3)
    expected[1:3] = -1
    expected[0] = 9
    np.testing.assert_array_equal(a.asnumpy(), expected)
    assert rows.shape == (2, 3) and row.shape == (3,)


def test_integer_index_of_a_1d_array_gives_shape_1_as_in_mxnet_1x():
    a = nd.array([4, 5, 6])
    assert a[-1].shape == (1,) and a[-1].asscalar() == 6


def test_general_indexing_returns_a_copy_with_numpy_semantics():
    src = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    a = nd.array(src)
    for key in [(1, slice(None), 2), (slice(None), 1), (Ellipsis, -1), slice(None, None, -1)]:
        np.testing.assert_array_equal(a[key].asnumpy(), src[key])


def test_setitem_accepts_scalars_arrays_and_broadcastable_numpy():
    a = nd.zeros((3, 4))
    a[0] = 2
    a[1] = nd.arange(4)
    a[2] = np.array([[1], [2], [3], [4]]).reshape(4)
    a[1:3] = a[1:3]  # assigning a view to itself changes nothing
    expected = np.array([[2, 2, 2, 2], [0, 1, 2, 3], [1, 2, 3, 4]], np.float32)
    np.testing.assert_array_equal(a.asnumpy(), expected)
    a[:] = np.array([1, 2, 3, 4])
    np.testing.assert_array_equal(a.asnumpy(), np.tile([1, 2, 3, 4], (3, 1)))
    a[:, 0] = 0
    np.testing.assert_array_equal(a.asnumpy()[:, 0], [0, 0, 0])


def test_setitem_with_a_mismatched_shape_raises_before_writing():
    a = nd.zeros((2, 3))
    with pytest.raises(mx.MXNetError, match="shape"):
        a[0] = nd.zeros((4,))
    with pytest.raises(mx.MXNetError, match="broadcast"):
        a[:] = np.zeros((5,))
    np.testing.assert_array_equal(a.asnumpy(), np.zeros((2, 3)))


# MXNet's documented examples for Reshape's special values.
@pytest.mark.parametrize("src,target,expected", [
    ((2, 3, 4), (4, 0, 2), (4, 3, 2)),
    ((2, 3, 4), (2, 0, 0), (2, 3, 4)),
    ((2, 3, 4), (6, 1, -1), (6, 1, 4)),
    ((2, 3, 4), (3, -1, 8), (3, 1, 8)),
    ((2, 3, 4), (-1,), (24,)),
    ((2, 3, 4), (-2,), (2, 3, 4)),
    ((2, 3, 4), (2, -2), (2, 3, 4)),
    ((2, 3, 4), (-2, 1, 1), (2, 3, 4, 1, 1)),
    ((2, 3, 4), (-3, 4), (6, 4)),
    ((2, 3, 4, 5), (-3, -3), (6, 20)),
    ((2, 3, 4), (0, -3), (2, 12)),
    ((2, 3, 4), (-3, -2), (6, 4)),
    ((2, 3, 4), (-4, 1, 2, -2), (1, 2, 3, 4)),
    ((2, 3, 4), (2, -4, -1, 3, -2), (2, 1, 3, 4)),
])
def test_reshape_special_values_follow_mxnet(src, target, expected):
    a = nd.array(np.arange(np.prod(src)).reshape(src))
    b = a.reshape(target)
    assert b.shape == expected
    np.testing.assert_array_equal(b.asnumpy(), np.arange(np.prod(src)).reshape(expected))


def test_reshape_reverse_matches_special_values_from_the_right():
    # MXNet's documented example: (10, 5, 4) with (-1, 0) gives (40, 5), reversed (50, 4).
    a = nd.zeros((10, 5, 4))
    assert a.reshape((-1, 0)).shape == (40, 5)
    assert a.reshape((-1, 0), reverse=True).shape == (50, 4)


def test_reshape_is_a_view():
    a = nd.zeros((2, 3))
    flat = a.reshape(-1)
    flat[:] = 4
    np.testing.assert_array_equal(a.asnumpy(), np.full((2, 3), 4))


@pytest.mark.parametrize("target", [(5, -1), (-1, -1), (4, 0, 0, 0), (-3, -3), (-4, 5, -1)])
def test_impossible_reshapes_raise(target):
    with pytest.raises(mx.MXNetError, match="shape"):
        nd.zeros((2, 3)).reshape(target)


def test_copyto_a_context_makes_a_new_array_there():
    a = nd.array([[1, 2], [3, 4]])
    b = a.copyto(mx.cpu(1))
    assert b.context == mx.cpu(1)
    a[:] = 0
    np.testing.assert_array_equal(b.asnumpy(), [[1, 2], [3, 4]])


def test_copyto_an_array_converts_into_its_type():
    a = nd.array([1.7, 2.2])
    dst = nd.zeros((2,), dtype="int32")
    assert a.copyto(dst) is dst
    np.testing.assert_array_equal(dst.asnumpy(), [1, 2])
    with pytest.raises(mx.MXNetError, match="shape"):
        a.copyto(nd.zeros((3,)))


def test_as_in_context_returns_the_array_itself_on_its_context():
    a = nd.ones((2,))
    assert a.as_in_context(mx.cpu(0)) is a
    b = a.as_in_context(mx.cpu(3))
    assert b.context == mx.cpu(3) and b is not a


def test_copy_is_independent_of_the_original():
    a = nd.ones((3,))
    b = a.copy()
    a[:] = 5
    np.testing.assert_array_equal(b.asnumpy(), [1, 1, 1])


def test_asscalar_needs_one_element():
    assert nd.array([3.5]).asscalar() == np.float32(3.5)
    with pytest.raises(mx.MXNetError, match="one element"):
        nd.zeros((2,)).asscalar()


def test_numpy_conversion_and_len():
    a = nd.array([[1, 2, 3]])
    np.testing.assert_array_equal(np.asarray(a), [[1, 2, 3]])
    assert len(a) == 1 and "<NDArray 1x3 @cpu(0)>" in repr(a)


@pytest.mark.parametrize("call", [
    lambda: nd.zeros((2,), dtype="complex64"),
    lambda: nd.zeros((-1, 2)),
    lambda: nd.zeros("abc"),
    lambda: nd.zeros((2,), ctx=mx.gpu(0)),
    lambda: nd.zeros((2,), ctx="cpu"),
    lambda: nd.array([[1, 2], [3]]),
    lambda: nd.full((2,), "x"),
    lambda: nd.arange(0, 5, 0),
    lambda: ONES.astype("object"),
    lambda: ONES.copyto("cpu(0)"),
    lambda: ONES.reshape("x"),
])
def test_bad_arguments_raise_mxnet_error_naming_them(call):
    nd.waitall()
    before = mx.engine.stats().lane().pushed
    with pytest.raises(mx.MXNetError):
        call()
    mx.engine.wait_all()
    assert mx.engine.stats().lane().pushed == before


def test_create_compute_drop_loop_reuses_pooled_storage():
    def cycle():
        a = nd.ones((256, 256))
        b = a.astype("float64")
        b[0] = 2
        b.wait_to_read()

    # Start from an empty pool: blocks that earlier tests returned would count otherwise.
    nd.waitall()
    gc.collect()
    nd.waitall()
    mx._native.storage_release()
    for _ in range(50):
        cycle()
    nd.waitall()
    gc.collect()
    nd.waitall()
    in_use_before, _ = mx._native.storage_bytes()
    for _ in range(500):
        cycle()
    nd.waitall()
    gc.collect()
    nd.waitall()
    in_use_after, pooled = mx._native.storage_bytes()
    assert in_use_after == in_use_before
    # A few blocks serve every iteration: frees run on the engine, so the next iteration may
    # allocate before the last one's blocks are back, but the pool never grows with the
    # number of iterations (500 of them would need 375 MiB).
    assert pooled <= 8 * 256 * 256 * (4 + 8)


def test_pool_gives_large_blocks_back_beyond_its_bound():
    # A burst of large temporaries (an initializer's, or batches in flight at once) is not
    # kept once released: the pool keeps at most 256 MiB of blocks of 1 MiB and more.
    nd.waitall()
    gc.collect()
    nd.waitall()
    mx._native.storage_release()
    burst = [nd.ones((16, 1 << 20)) for _ in range(6)]  # 64 MiB each, all live at once
    assert all(float(b[15, -1].asscalar()) == 1.0 for b in burst)
    del burst
    gc.collect()
    nd.waitall()
    _, pooled = mx._native.storage_bytes()
    assert pooled <= (256 << 20) + (1 << 20)  # and a few small blocks of the reads
    again = nd.zeros((16, 1 << 20))  # a pooled block is reused, and reads as written
    assert float(again.sum().asscalar()) == 0.0
    _, pooled_after = mx._native.storage_bytes()
    assert pooled_after <= pooled - (63 << 20)


def test_reading_an_array_orders_after_its_pending_writes():
    a = nd.zeros((1000,))
    for i in range(1, 51):
        a[:] = i
    assert a.asnumpy()[0] == 50
