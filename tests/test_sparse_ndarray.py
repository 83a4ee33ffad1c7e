"""CSRNDArray and RowSparseNDArray: creation, components, conversions, copies, slicing,
format checks and MXNet's repr."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as spsp

import flowmod as mx
from flowmod.base import MXNetError

DENSE = np.array([[0, 1, 0, 2], [0, 0, 0, 0], [3, 0, 4, 0]], np.float32)


def test_csr_from_parts_and_its_components():
    a = mx.nd.sparse.csr_matrix(([1, 2, 3, 4], [1, 3, 0, 2], [0, 2, 2, 4]), shape=(3, 4))
    assert isinstance(a, mx.nd.sparse.CSRNDArray) and isinstance(a, mx.nd.NDArray)
    assert a.stype == "csr" and a.shape == (3, 4) and a.dtype == np.float32
    assert a.context == mx.cpu(0) and a.size == 12 and a.ndim == 2
    np.testing.assert_array_equal(a.indptr.asnumpy(), [0, 2, 2, 4])
    np.testing.assert_array_equal(a.indices.asnumpy(), [1, 3, 0, 2])
    assert a.indices.dtype == np.int64 and a.indptr.dtype == np.int64
    np.testing.assert_array_equal(a.data.asnumpy(), [1, 2, 3, 4])
    np.testing.assert_array_equal(a.asnumpy(), DENSE)
    assert a._num_aux == 2 and a._aux_types == [np.int64, np.int64]
    a.check_format()


def test_csr_shape_inferred_as_mxnet_does():
    a = mx.nd.sparse.csr_matrix((np.float64([5]), [2], [0, 0, 1]))
    assert a.shape == (2, 3) and a.dtype == np.float64


def test_csr_from_coo_scipy_dense_and_shape():
    coo = mx.nd.sparse.csr_matrix(([1, 2, 3, 4, 1], ([0, 0, 2, 2, 0], [1, 3, 0, 2, 1])),
                                  shape=(3, 4))
    want = DENSE.copy()
    want[0, 1] = 2  # duplicates are summed
    np.testing.assert_array_equal(coo.asnumpy(), want)
    s = mx.nd.sparse.csr_matrix(spsp.csr_matrix(DENSE))
    np.testing.assert_array_equal(s.asnumpy(), DENSE)
    d = mx.nd.sparse.csr_matrix(DENSE)
    np.testing.assert_array_equal(d.indptr.asnumpy(), [0, 2, 2, 4])
    z = mx.nd.sparse.csr_matrix((3, 4))
    assert z.data.shape == (0,) and not z.asnumpy().any()
    assert mx.nd.sparse.array(spsp.coo_matrix(DENSE)).stype == "csr"


def test_csr_refuses_inconsistent_parts():
    with pytest.raises(MXNetError, match="indptr must start at 0"):
        mx.nd.sparse.csr_matrix(([1, 2], [0, 1], [0, 1, 3]), shape=(2, 2))
    with pytest.raises(MXNetError, match="column index is outside"):
        mx.nd.sparse.csr_matrix(([1], [5], [0, 1]), shape=(1, 3))
    with pytest.raises(MXNetError, match="expected 2 dimensions"):
        mx.nd.sparse.csr_matrix(([1], [0], [0, 1]), shape=(2, 3))


def test_row_sparse_from_parts_dense_and_shape():
    a = mx.nd.sparse.row_sparse_array(([[3, 0, 4, 0], [0, 1, 0, 2]], [2, 0]), shape=(3, 4))
    assert isinstance(a, mx.nd.sparse.RowSparseNDArray) and a.stype == "row_sparse"
    np.testing.assert_array_equal(a.indices.asnumpy(), [0, 2])  # sorted
    np.testing.assert_array_equal(a.asnumpy(), DENSE)
    a.check_format()
    b = mx.nd.sparse.row_sparse_array(DENSE)
    np.testing.assert_array_equal(b.indices.asnumpy(), [0, 2])
    assert mx.nd.sparse.row_sparse_array(([[1.0, 2.0]], [4])).shape == (5, 2)
    z = mx.nd.sparse.row_sparse_array((4, 2))
    assert z.shape == (4, 2) and z.data.shape == (0, 2)
    with pytest.raises(MXNetError, match="row index twice"):
        mx.nd.sparse.row_sparse_array(([[1.0], [2.0]], [1, 1]), shape=(3, 1))


@pytest.mark.parametrize("stype", ["csr", "row_sparse"])
def test_zeros_empty_and_nd_zeros_with_stype(stype):
    for a in (mx.nd.sparse.zeros(stype, (3, 4)), mx.nd.sparse.empty(stype, (3, 4)),
              mx.nd.zeros((3, 4), stype=stype, dtype="float64")):
        assert a.stype == stype and a.shape == (3, 4)
        np.testing.assert_array_equal(a.asnumpy(), np.zeros((3, 4)))
    assert mx.nd.zeros((2, 2), stype=stype, dtype="float64").dtype == np.float64


def test_tostype_cast_storage_round_trips():
    x = mx.nd.array(DENSE)
    assert x.stype == "default"
    for stype in ("csr", "row_sparse"):
        s = x.tostype(stype)
        assert s.stype == stype
        np.testing.assert_array_equal(s.asnumpy(), DENSE)
        back = mx.nd.cast_storage(s, stype="default")
        assert back.stype == "default"
        np.testing.assert_array_equal(back.asnumpy(), DENSE)
        assert s.tostype(stype) is not s
    with pytest.raises(MXNetError, match="cast_storage from csr to row_sparse"):
        x.tostype("csr").tostype("row_sparse")
    with pytest.raises(MXNetError, match="stype='dense'"):
        x.tostype("dense")
    three = mx.nd.array(np.arange(24).reshape(4, 3, 2) % 5 == 0, dtype="float32")
    r = three.tostype("row_sparse")
    np.testing.assert_array_equal(r.asnumpy(), three.asnumpy())


def test_repr_is_mxnets():
    assert repr(mx.nd.array(DENSE).tostype("csr")) == "\n<CSRNDArray 3x4 @cpu(0)>"
    assert repr(mx.nd.sparse.zeros("row_sparse", (3, 4))) == \
        "\n<RowSparseNDArray 3x4 @cpu(0)>"


def test_csr_slicing():
    a = mx.nd.array(DENSE).tostype("csr")
    for key in (slice(1, 3), slice(0, 2), slice(None), slice(2, 3), slice(1, 1)):
        s = a[key]
        assert s.stype == "csr"
        np.testing.assert_array_equal(s.asnumpy(), DENSE[key])
        s.check_format()
    np.testing.assert_array_equal(a[2].asnumpy(), DENSE[2:3])
    np.testing.assert_array_equal(a[-1].asnumpy(), DENSE[2:3])
    np.testing.assert_array_equal(mx.nd.slice(a, begin=1, end=3).asnumpy(), DENSE[1:3])
    with pytest.raises(MXNetError, match="step"):
        a[::2]


def test_copies_and_contexts():
    a = mx.nd.array(DENSE).tostype("csr")
    b = a.copy()
    assert b.stype == "csr" and b.data is not a.data
    np.testing.assert_array_equal(b.asnumpy(), DENSE)
    c = a.copyto(mx.cpu(1))
    assert c.context == mx.cpu(1) and c.data.context == mx.cpu(1)
    assert a.as_in_context(mx.cpu(0)) is a
    dense = mx.nd.zeros((3, 4))
    a.copyto(dense)
    np.testing.assert_array_equal(dense.asnumpy(), DENSE)
    target = mx.nd.sparse.zeros("csr", (3, 4))
    a.copyto(target)
    np.testing.assert_array_equal(target.asnumpy(), DENSE)
    with pytest.raises(MXNetError, match="cannot copy a csr array into a row_sparse"):
        a.copyto(mx.nd.sparse.zeros("row_sparse", (3, 4)))
    with pytest.raises(MXNetError, match="shape"):
        a.copyto(mx.nd.zeros((2, 2)))


def test_setitem_of_the_whole_array():
    r = mx.nd.sparse.zeros("row_sparse", (3, 4))
    r[:] = mx.nd.array(DENSE)
    np.testing.assert_array_equal(r.asnumpy(), DENSE)
    r[:] = 2
    np.testing.assert_array_equal(r.asnumpy(), np.full((3, 4), 2))
    c = mx.nd.sparse.zeros("csr", (3, 4))
    c[:] = DENSE
    np.testing.assert_array_equal(c.asnumpy(), DENSE)
    with pytest.raises(MXNetError, match=r"only \[:\]"):
        c[1:2] = DENSE[1:2]
    with pytest.raises(MXNetError, match=r"only \[:\]"):
        r[0]


def test_astype_and_asscipy():
    a = mx.nd.array(DENSE).tostype("csr").astype("float64")
    assert a.dtype == np.float64 and a.indices.dtype == np.int64
    s = a.asscipy()
    assert isinstance(s, spsp.csr_matrix)
    np.testing.assert_array_equal(s.toarray(), DENSE)
    r = mx.nd.array(DENSE).tostype("row_sparse")
    assert r.astype("float32", copy=False) is r


def test_check_format_finds_bad_indices():
    a = mx.nd.array(DENSE).tostype("csr")
    a._aux[1] = mx.nd.array([3, 1, 0, 2], dtype=np.int64)
    with pytest.raises(MXNetError, match="row 0 are not increasing"):
        a.check_format()
    a.check_format(full_check=False)
    r = mx.nd.array(DENSE).tostype("row_sparse")
    r._aux[0] = mx.nd.array([2, 0], dtype=np.int64)
    with pytest.raises(MXNetError, match="increasing"):
        r.check_format()


def test_operations_order_on_the_engine():
    # A write pushed to a component is seen by what reads the array afterwards.
    a = mx.nd.array(DENSE).tostype("row_sparse")
    a.data[:] = 7
    a.wait_to_read()
    want = np.where(DENSE.any(axis=1, keepdims=True), 7, 0) * np.ones((1, 4))
    np.testing.assert_array_equal(a.asnumpy(), want)
    b = mx.nd.sparse.retain(a, [2])
    a.data[:] = 1
    np.testing.assert_array_equal(b.asnumpy()[2], [7, 7, 7, 7])


def test_failed_kernel_surfaces_at_the_wait():
    a = mx.nd.array(DENSE).tostype("csr")
    a._aux[1] = mx.nd.array([1, 9, 0, 2], dtype=np.int64)
    out = mx.nd.dot(a, mx.nd.ones((4, 2)))
    with pytest.raises(MXNetError, match="csr column index 9 out of range"):
        out.asnumpy()


def test_inplace_arithmetic_keeps_the_storage_type():
    a = mx.nd.array(DENSE).tostype("csr")
    a += a
    assert a.stype == "csr"
    np.testing.assert_array_equal(a.asnumpy(), 2 * DENSE)
    r = mx.nd.array(DENSE).tostype("row_sparse")
    r += 1
    assert r.stype == "row_sparse"
    np.testing.assert_array_equal(r.asnumpy(), DENSE + 1)
    r *= 0
    assert r.stype == "row_sparse" and not r.asnumpy().any()


def test_reshape_and_handle_are_refused():
    a = mx.nd.array(DENSE).tostype("csr")
    with pytest.raises(MXNetError, match="cannot be reshaped"):
        a.reshape((4, 3))
    with pytest.raises(AttributeError, match="no single storage handle"):
        a.handle


def test_await_waits_for_the_components():
    import asyncio
    a = mx.nd.array(DENSE).tostype("csr")

    async def main():
        return await a

    assert asyncio.run(main()) is a


def test_sparse_dot_of_dense_arrays_is_the_dense_product(caplog):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    with caplog.at_level("WARNING", logger="flowmod"):
        out = mx.nd.sparse.dot(mx.nd.array(x), mx.nd.array(x), transpose_b=True)
    np.testing.assert_allclose(out.asnumpy(), x @ x.T)
    assert not [r for r in caplog.records if "fallback" in r.getMessage()]
