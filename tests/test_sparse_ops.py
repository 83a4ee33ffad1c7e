"""Operators on sparse arrays against scipy.sparse and numpy: dot in MXNet's storage-type
combinations (with gradients against float64 finite differences), elementwise arithmetic and
add_n over row_sparse, csr sums, square_sum, retain, the unary operators that keep sparsity,
scalar products, clip, where, and the dense fallback with its one-time warning."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import scipy.sparse as spsp

import flowmod as mx
from flowmod.base import MXNetError
from flowmod.ndarray import sparse_ops


def rand_csr(shape, density, seed, dtype=np.float32):
    s = spsp.random(*shape, density=density, format="csr", random_state=seed, dtype=np.float64)
    s.data -= 0.5
    s = s.astype(dtype)
    return s, mx.nd.sparse.array(s)


def rand_rsp(shape, rows, seed, dtype=np.float32):
    rng = np.random.default_rng(seed)
    dense = np.zeros(shape, dtype)
    dense[rows] = rng.standard_normal((len(rows),) + shape[1:])
    return dense, mx.nd.array(dense, dtype=dtype).tostype("row_sparse")


TOL = {np.float32: 1e-5, np.float64: 1e-12}


# ---- dot -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_csr_dot_dense_is_dense(dtype):
    s, a = rand_csr((20, 30), 0.1, 1, dtype)
    w = np.random.default_rng(2).standard_normal((30, 7)).astype(dtype)
    out = mx.nd.sparse.dot(a, mx.nd.array(w, dtype=dtype))
    assert out.stype == "default" and out.dtype == dtype
    np.testing.assert_allclose(out.asnumpy(), s @ w, rtol=TOL[dtype], atol=TOL[dtype])
    out = mx.nd.dot(a, mx.nd.array(w[:, 0], dtype=dtype))
    assert out.shape == (20,)
    np.testing.assert_allclose(out.asnumpy(), s @ w[:, 0], rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_csr_transposed_dot_dense_is_row_sparse(dtype):
    s, a = rand_csr((25, 40), 0.05, 3, dtype)
    g = np.random.default_rng(4).standard_normal((25, 6)).astype(dtype)
    out = mx.nd.sparse.dot(a, mx.nd.array(g, dtype=dtype), transpose_a=True)
    assert out.stype == "row_sparse" and out.shape == (40, 6)
    np.testing.assert_array_equal(out.indices.asnumpy(), np.unique(s.indices))
    np.testing.assert_allclose(out.asnumpy(), s.T @ g, rtol=TOL[dtype], atol=TOL[dtype])
    out.check_format()
    dense = mx.nd.dot(a, mx.nd.array(g, dtype=dtype), transpose_a=True, forward_stype="default")
    assert dense.stype == "default"
    np.testing.assert_allclose(dense.asnumpy(), s.T @ g, rtol=TOL[dtype], atol=TOL[dtype])


def test_dense_dot_csr_and_csr_t_are_csr():
    s, a = rand_csr((12, 9), 0.2, 5)
    x = np.random.default_rng(6).standard_normal((4, 12)).astype(np.float32)
    out = mx.nd.dot(mx.nd.array(x), a)
    assert out.stype == "csr"
    np.testing.assert_allclose(out.asnumpy(), x @ s, rtol=1e-5, atol=1e-5)
    out = mx.nd.dot(mx.nd.array(x), a, forward_stype="default")
    assert out.stype == "default"
    np.testing.assert_allclose(out.asnumpy(), x @ s, rtol=1e-5, atol=1e-5)
    y = np.random.default_rng(7).standard_normal((4, 9)).astype(np.float32)
    out = mx.nd.dot(mx.nd.array(y), a, transpose_b=True)
    assert out.stype == "csr"
    np.testing.assert_allclose(out.asnumpy(), y @ s.T, rtol=1e-5, atol=1e-5)


def test_csr_dot_row_sparse_is_dense():
    s, a = rand_csr((6, 8), 0.3, 8)
    dense, r = rand_rsp((8, 3), [1, 5, 6], 9)
    out = mx.nd.dot(a, r)
    assert out.stype == "default"
    np.testing.assert_allclose(out.asnumpy(), s @ dense, rtol=1e-5, atol=1e-6)


def test_dot_refuses_mismatched_shapes_before_pushing():
    _, a = rand_csr((6, 8), 0.3, 8)
    with pytest.raises(MXNetError, match="inner dimensions differ"):
        mx.nd.dot(a, mx.nd.ones((7, 2)))
    with pytest.raises(MXNetError, match="lhs"):
        mx.nd.dot(mx.nd.ones((2, 5)), a)


def numeric_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        hi = f(x)
        x[i] = old - eps
        lo = f(x)
        x[i] = old
        g[i] = (hi - lo) / (2 * eps)
    return g


def test_dot_gradients_against_finite_differences():
    # d sum(G * (A @ W)) / dW = A.T @ G (csr.T x dense); d sum(H * (X @ A)) / dX = H @ A.T
    # (dense x csr.T), each checked against float64 central differences.
    s, a = rand_csr((5, 6), 0.4, 10, np.float64)
    rng = np.random.default_rng(11)
    w, g = rng.standard_normal((6, 3)), rng.standard_normal((5, 3))
    want = numeric_grad(lambda v: float((g * (s @ v)).sum()), w.copy())
    got = mx.nd.sparse.dot(a, mx.nd.array(g, dtype=np.float64), transpose_a=True).asnumpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
    x, h = rng.standard_normal((2, 5)), rng.standard_normal((2, 6))
    want = numeric_grad(lambda v: float((h * (v @ s)).sum()), x.copy())
    got = mx.nd.dot(mx.nd.array(h, dtype=np.float64), a, transpose_b=True).asnumpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


# ---- elementwise ---------------------------------------------------------------------------
@pytest.mark.parametrize("op, fn", [("elemwise_add", np.add), ("elemwise_sub", np.subtract),
                                    ("elemwise_mul", np.multiply)])
def test_row_sparse_elementwise_with_different_rows(op, fn):
    da, a = rand_rsp((7, 3), [0, 2, 5], 12)
    db, b = rand_rsp((7, 3), [2, 3, 6], 13)
    out = getattr(mx.nd, op)(a, b)
    assert out.stype == "row_sparse"
    np.testing.assert_allclose(out.asnumpy(), fn(da, db), rtol=1e-6)
    # the union of the rows, for products too, as MXNet 1.9.1 gives
    np.testing.assert_array_equal(out.indices.asnumpy(), [0, 2, 3, 5, 6])
    out.check_format()


def test_operators_on_sparse_arrays():
    da, a = rand_rsp((5, 2), [1, 3], 14)
    db, b = rand_rsp((5, 2), [0, 3], 15)
    assert (a + b).stype == "row_sparse" and (a - b).stype == "row_sparse"
    np.testing.assert_allclose((a + b).asnumpy(), da + db, rtol=1e-6)
    np.testing.assert_allclose((a * b).asnumpy(), da * db, rtol=1e-6)
    dense = np.arange(10, dtype=np.float32).reshape(5, 2)
    out = a + mx.nd.array(dense)
    assert out.stype == "default"
    np.testing.assert_allclose(out.asnumpy(), da + dense, rtol=1e-6)
    out = mx.nd.elemwise_mul(a, mx.nd.array(dense))
    assert out.stype == "row_sparse"
    np.testing.assert_allclose(out.asnumpy(), da * dense, rtol=1e-6)
    s1, c1 = rand_csr((4, 5), 0.3, 16)
    s2, c2 = rand_csr((4, 5), 0.3, 17)
    out = c1 + c2
    assert out.stype == "csr"
    np.testing.assert_allclose(out.asnumpy(), (s1 + s2).toarray(), rtol=1e-6)
    out = mx.nd.elemwise_mul(c1, c2)
    assert out.stype == "csr"
    np.testing.assert_allclose(out.asnumpy(), s1.multiply(s2).toarray(), rtol=1e-6)
    out.check_format()
    with pytest.raises(MXNetError, match="same shape"):
        mx.nd.elemwise_add(a, mx.nd.sparse.zeros("row_sparse", (4, 2)))


def test_add_n_of_row_sparse_arrays():
    parts = [rand_rsp((9, 4), rows, 20 + i) for i, rows in enumerate([[0, 1], [1, 8], [], [4]])]
    out = mx.nd.add_n(*[p[1] for p in parts])
    assert out.stype == "row_sparse"
    np.testing.assert_array_equal(out.indices.asnumpy(), [0, 1, 4, 8])
    np.testing.assert_allclose(out.asnumpy(), sum(p[0] for p in parts), rtol=1e-6)
    mixed = mx.nd.add_n(parts[0][1], mx.nd.ones((9, 4)))
    assert mixed.stype == "default"
    np.testing.assert_allclose(mixed.asnumpy(), parts[0][0] + 1, rtol=1e-6)


# ---- reductions ----------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_csr_sum_and_mean(axis, keepdims):
    s, a = rand_csr((8, 11), 0.2, 30)
    dense = s.toarray()
    out = mx.nd.sum(a, axis=axis, keepdims=keepdims)
    assert out.stype == "default"
    np.testing.assert_allclose(out.asnumpy(), dense.sum(axis=axis, keepdims=keepdims),
                               rtol=1e-5, atol=1e-6)
    out = mx.nd.mean(a, axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(out.asnumpy(), dense.mean(axis=axis, keepdims=keepdims),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.sum(axis=axis).asnumpy(), dense.sum(axis=axis), rtol=1e-5,
                               atol=1e-6)


def test_square_sum_of_row_sparse():
    dense, r = rand_rsp((6, 3), [0, 4], 31)
    out = mx.nd._internal._square_sum(r, axis=1, keepdims=True)
    assert out.stype == "row_sparse" and out.shape == (6, 1)
    np.testing.assert_allclose(out.asnumpy(), (dense ** 2).sum(1, keepdims=True), rtol=1e-6)
    out = mx.nd.sparse.square_sum(r, axis=0)
    assert out.stype == "default"
    np.testing.assert_allclose(out.asnumpy(), (dense ** 2).sum(0), rtol=1e-6)
    out = mx.nd.sparse.square_sum(r, axis=1)
    assert out.stype == "default" and out.shape == (6,)
    np.testing.assert_allclose(out.asnumpy(), (dense ** 2).sum(1), rtol=1e-6)
    np.testing.assert_allclose(mx.nd.sparse.square_sum(r).asnumpy(), (dense ** 2).sum(),
                               rtol=1e-6)


def test_retain():
    dense, r = rand_rsp((8, 2), [1, 3, 5], 32)
    out = mx.nd.sparse.retain(r, mx.nd.array([5, 0, 1], dtype=np.int64))
    assert out.stype == "row_sparse"
    np.testing.assert_array_equal(out.indices.asnumpy(), [0, 1, 5])
    want = np.zeros_like(dense)
    want[[1, 5]] = dense[[1, 5]]
    np.testing.assert_array_equal(out.asnumpy(), want)
    np.testing.assert_array_equal(r.retain([3]).asnumpy()[3], dense[3])
    with pytest.raises(MXNetError, match="outside"):
        mx.nd.sparse.retain(r, [9])
    with pytest.raises(MXNetError, match="expected 'row_sparse'"):
        mx.nd.sparse.retain(mx.nd.ones((2, 2)), [0])


# ---- value-wise ----------------------------------------------------------------------------
UNARY = [op for op in sparse_ops.KEEPS_SPARSITY if not op.startswith("_")]


@pytest.mark.parametrize("op", UNARY)
@pytest.mark.parametrize("stype", ["csr", "row_sparse"])
def test_unary_operators_keep_sparsity(op, stype):
    rng = np.random.default_rng(40)
    dense = np.where(rng.random((5, 4)) < 0.4, rng.uniform(0.1, 0.9, (5, 4)), 0)
    dense = dense.astype(np.float32)
    a = mx.nd.array(dense).tostype(stype)
    out = getattr(mx.nd, op)(a)
    assert out.stype == stype
    want = getattr(mx.nd, op)(mx.nd.array(dense)).asnumpy()
    np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("stype", ["csr", "row_sparse"])
def test_scalar_products_keep_sparsity_and_sums_do_not(stype):
    dense = np.array([[0, 2], [0, 0], [4, 0]], np.float32)
    a = mx.nd.array(dense).tostype(stype)
    for out, want in ((a * 3, dense * 3), (a / 2, dense / 2), (2 * a, dense * 2)):
        assert out.stype == stype
        np.testing.assert_allclose(out.asnumpy(), want)
    out = a + 1
    assert out.stype == "default"
    np.testing.assert_allclose(out.asnumpy(), dense + 1)


def test_clip_and_where():
    dense, r = rand_rsp((5, 3), [1, 2], 41)
    out = mx.nd.clip(r, -0.5, 0.5)
    assert out.stype == "row_sparse"
    np.testing.assert_allclose(out.asnumpy(), np.clip(dense, -0.5, 0.5))
    s, c = rand_csr((4, 6), 0.3, 42)
    out = mx.nd.clip(c, -0.2, 0.2)
    assert out.stype == "csr"
    np.testing.assert_allclose(out.asnumpy(), np.clip(s.toarray(), -0.2, 0.2))
    shifted = mx.nd.clip(r, 0.1, 0.5)  # zeros move: dense result
    assert shifted.stype == "default"
    np.testing.assert_allclose(shifted.asnumpy(), np.clip(dense, 0.1, 0.5))
    cond = mx.nd.array(np.array([[1, 0], [0, 2]], np.float32)).tostype("csr")
    x, y = mx.nd.ones((2, 2)), mx.nd.zeros((2, 2)) - 1
    out = mx.nd.where(cond, x, y)
    assert out.stype == "default"
    np.testing.assert_array_equal(out.asnumpy(), [[1, -1], [-1, 1]])


def test_fallback_is_dense_and_warns_once(caplog):
    s, a = rand_csr((3, 4), 0.5, 50)
    sparse_ops._WARNED.clear()
    with caplog.at_level(logging.WARNING, logger="flowmod"):
        out = mx.nd.exp(a)
        mx.nd.exp(a)
    assert out.stype == "default"
    np.testing.assert_allclose(out.asnumpy(), np.exp(s.toarray()), rtol=1e-6)
    warnings = [r for r in caplog.records if "Storage type fallback detected" in r.getMessage()]
    assert len(warnings) == 1
    assert "operator = exp" in warnings[0].getMessage()
    assert "input storage types = [csr, ]" in warnings[0].getMessage()


def test_fallback_into_a_sparse_output():
    _, a = rand_csr((3, 4), 0.5, 51)
    out = mx.nd.sparse.zeros("row_sparse", (3, 4))
    mx.nd.exp(a, out=out)
    assert out.stype == "row_sparse"
    np.testing.assert_allclose(out.asnumpy(), np.exp(a.asnumpy()), rtol=1e-6)


def test_bad_attributes_are_refused_for_sparse_inputs_too():
    _, a = rand_csr((3, 4), 0.5, 52)
    with pytest.raises(MXNetError, match="axis"):
        mx.nd.sum(a, axis="x")


# ---- the registered cast_storage (dense graphs) ----------------------------------------------
def test_registered_cast_storage_copies_values_and_passes_the_gradient():
    from op_check import check_gradient, forward
    x = np.random.default_rng(60).standard_normal((3, 4))
    for stype in ("default", "csr", "row_sparse"):
        (got,) = forward("cast_storage", [x], stype=stype)
        np.testing.assert_array_equal(got, x)
    check_gradient("cast_storage", [x], stype="default")
    with pytest.raises(MXNetError, match="stype='dense': expected one of"):
        forward("cast_storage", [x], stype="dense")
    with pytest.raises(MXNetError, match="stype"):
        forward("cast_storage", [x])
    sym = mx.sym.cast_storage(mx.sym.Variable("x"), stype="default")
    np.testing.assert_array_equal(sym.eval(x=mx.nd.array(x))[0].asnumpy(), x.astype(np.float32))


def test_square_sum_of_dense_and_csr():
    x = np.random.default_rng(61).standard_normal((4, 3)).astype(np.float32)
    out = mx.nd._internal._square_sum(mx.nd.array(x), axis=0, keepdims=True)
    np.testing.assert_allclose(out.asnumpy(), (x ** 2).sum(0, keepdims=True), rtol=1e-6)
    s, a = rand_csr((5, 4), 0.4, 62)
    np.testing.assert_allclose(mx.nd.sparse.square_sum(a, axis=1).asnumpy(),
                               (s.toarray() ** 2).sum(1), rtol=1e-6)


def test_dot_refuses_types_by_name():
    c = mx.nd.array([[0, 1]], dtype="int32").tostype("csr")
    with pytest.raises(MXNetError, match="dot: lhs has type int32"):
        mx.nd.dot(c, mx.nd.ones((2, 2), dtype="int32"))
    with pytest.raises(MXNetError, match="dot: lhs has type float32 and rhs float64"):
        mx.nd.dot(c.astype("float32"), mx.nd.ones((2, 2), dtype="float64"))
