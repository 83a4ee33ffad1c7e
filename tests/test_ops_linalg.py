"""The linalg operators (mx.nd.linalg / mx.sym.linalg, registered as _linalg_X and linalg_X):
forward against numpy, batched over leading axes, in float32 and float64; gradients against
float64 finite differences (through the lower triangle for the operators that read only that
triangle of a symmetric input, as MXNet's own tests symmetrize theirs); grad_req write, add and
null; MXNet 1.9.1's recorded results where numpy fixes signs or orders differently
(tests/data/make_mxnet_linalg_refs.py); and the errors, before a push for bad shapes and
attributes, at the wait for a matrix that cannot be factorized."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd
from op_check import _attrs, check_gradient, forward, info

rng = np.random.default_rng(31)
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
REFS = np.load(os.path.join(DATA, "mxnet_linalg_refs.npz"))
META = json.loads(str(REFS["meta"]))
DTYPES = ["float32", "float64"]
TOL = {"float32": dict(rtol=1e-4, atol=1e-5), "float64": dict(rtol=1e-10, atol=1e-12)}


def randn(*shape):
    return rng.standard_normal(shape)


def T(a):
    return np.swapaxes(a, -1, -2)


def spd(*shape):
    a = randn(*shape)
    return a @ T(a) + shape[-1] * np.eye(shape[-1])


def triangular(*shape, lower=True):
    a = randn(*shape) + 3 * np.eye(shape[-1])  # well away from singular
    return np.tril(a) if lower else np.triu(a)


def backward(op, inputs, heads=None, req="write", initial=None, **attrs):
    """Forward in training mode, then the backward kernel; returns (outputs, input gradients)."""
    arrays = [nd.array(x, dtype=x.dtype) for x in inputs]
    outs = _native.invoke(op, [a._h for a in arrays], _attrs(attrs), [], True, True)
    n_visible = len(info(op, **attrs)["outputs"])
    visible = [nd.NDArray._wrap(h, None).asnumpy() for h in outs[:n_visible]]
    if heads is None:
        heads = [rng.standard_normal(o.shape) for o in visible]
    head_arrays = [nd.array(h, dtype=inputs[0].dtype) for h in heads]
    reqs = req if isinstance(req, list) else [req] * len(inputs)
    grads = [nd.array(np.zeros_like(x) if initial is None else initial[i], dtype=x.dtype)
             for i, x in enumerate(inputs)]
    _native.invoke_backward(op, _attrs(attrs), [h._h for h in head_arrays], [a._h for a in arrays], outs,
                            [g._h for g in grads], reqs, True)
    return visible, [g.asnumpy() for g in grads]


def check_lower_gradient(op, a, eps=1e-6, rtol=1e-5, atol=1e-7, **attrs):
    """For an operator that reads only the lower triangle of a symmetric input: its gradient is
    symmetric, and each entry (i, j) of the lower triangle moves the output as the pair
    (i, j), (j, i) of a symmetric matrix does."""
    a = np.asarray(a, dtype=np.float64)
    outs = forward(op, [a], **attrs)
    heads = [rng.standard_normal(o.shape) for o in outs]
    _, (g,) = backward(op, [a], heads=heads, **attrs)
    np.testing.assert_allclose(g, T(g), rtol=1e-9, atol=1e-9, err_msg=f"{op}: gradient not symmetric")
    n = a.shape[-1]
    for idx in np.ndindex(a.shape):
        i, j = idx[-2:]
        if j > i:
            continue
        plus, minus = a.copy(), a.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric = sum(float(np.sum(h * (p - m))) for h, p, m in
                      zip(heads, forward(op, [plus], **attrs), forward(op, [minus], **attrs))) / (2 * eps)
        expected = g[idx] if i == j else g[idx] + g[idx[:-2] + (j, i)]
        np.testing.assert_allclose(expected, numeric, rtol=rtol, atol=atol, err_msg=f"{op}: entry {idx} of {n}x{n}")


def test_all_seventeen_are_in_both_namespaces_under_both_names():
    names = ["gemm", "gemm2", "potrf", "potri", "trsm", "trmm", "syrk", "sumlogdiag", "gelqf", "syevd",
             "inverse", "det", "slogdet", "extractdiag", "makediag", "extracttrian", "maketrian"]
    ops = set(_native.list_ops())
    for name in names:
        assert hasattr(mx.nd.linalg, name) and hasattr(mx.sym.linalg, name), name
        assert f"_linalg_{name}" in ops
        # MXNet 1.9.1 registers syevd under its underscored name only.
        assert (f"linalg_{name}" in ops) == (name != "syevd")


# ---- gemm, gemm2 -----------------------------------------------------------------------------

def op_t(a, t):
    return T(a) if t else a


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_gemm2_matches_numpy_batched(dtype, ta, tb):
    a = randn(2, 3, *((5, 4) if ta else (4, 5))).astype(dtype)
    b = randn(2, 3, *((6, 5) if tb else (5, 6))).astype(dtype)
    (y,) = forward("_linalg_gemm2", [a, b], transpose_a=ta, transpose_b=tb, alpha=1.5)
    assert y.dtype == np.dtype(dtype) and y.shape == (2, 3, 4, 6)
    np.testing.assert_allclose(y, 1.5 * op_t(a, ta).astype(np.float64) @ op_t(b, tb), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_adds_beta_times_c(dtype):
    a, b, c = randn(3, 4, 5).astype(dtype), randn(3, 6, 5).astype(dtype), randn(3, 4, 6).astype(dtype)
    (y,) = forward("_linalg_gemm", [a, b, c], transpose_b=True, alpha=2.0, beta=-0.5)
    np.testing.assert_allclose(y, 2.0 * a.astype(np.float64) @ T(b) - 0.5 * c, **TOL[dtype])


@pytest.mark.parametrize("axis", [0, 1, -3])
def test_gemm2_takes_rows_from_axis(axis):
    # Rows on `axis`, columns last; the other axes are batch axes.
    a, b = randn(3, 4, 2, 5), randn(3, 4, 2, 6)
    rows = axis % 4
    (y,) = forward("_linalg_gemm2", [a, b], transpose_a=True, axis=axis)
    am, bm = np.moveaxis(a, rows, -2), np.moveaxis(b, rows, -2)
    np.testing.assert_allclose(y, np.moveaxis(T(am) @ bm, -2, rows), rtol=1e-12)


def test_gemm_gradient_with_axis():
    a, b, c = randn(3, 2, 2), randn(3, 2, 4), randn(2, 2, 4)
    check_gradient("_linalg_gemm", [a, b, c], transpose_a=True, alpha=0.7, beta=1.3, axis=0)


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_gemm2_gradient(ta, tb):
    a = randn(2, *((3, 2) if ta else (2, 3)))
    b = randn(2, *((4, 3) if tb else (3, 4)))
    check_gradient("_linalg_gemm2", [a, b], transpose_a=ta, transpose_b=tb, alpha=-1.5)


@pytest.mark.parametrize("ta,tb", [(False, True), (True, False)])
def test_gemm_gradient(ta, tb):
    a = randn(2, *((3, 2) if ta else (2, 3)))
    b = randn(2, *((4, 3) if tb else (3, 4)))
    check_gradient("linalg_gemm", [a, b, randn(2, 2, 4)], transpose_a=ta, transpose_b=tb, alpha=0.5, beta=2.0)


def test_gemm2_is_a_product_in_a_symbol_graph():
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    y = mx.sym.linalg.gemm2(a, b, transpose_b=True)
    ex = y.simple_bind(mx.cpu(), a=(2, 3, 4), b=(2, 5, 4))
    av, bv = randn(2, 3, 4), randn(2, 5, 4)
    out = ex.forward(a=nd.array(av), b=nd.array(bv))[0].asnumpy()
    np.testing.assert_allclose(out, av @ T(bv), rtol=1e-5, atol=1e-5)


# ---- syrk, trmm, trsm -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transpose", [False, True])
def test_syrk_matches_numpy(dtype, transpose):
    a = randn(2, 3, 5).astype(dtype)
    (y,) = forward("_linalg_syrk", [a], transpose=transpose, alpha=0.5)
    ref = T(a) @ a if transpose else a @ T(a)
    np.testing.assert_allclose(y, 0.5 * ref.astype(np.float64), **TOL[dtype])


@pytest.mark.parametrize("transpose", [False, True])
def test_syrk_gradient(transpose):
    check_gradient("linalg_syrk", [randn(2, 3, 4)], transpose=transpose, alpha=1.5)


TRIANG = [(t, r, lo) for t in (False, True) for r in (False, True) for lo in (False, True)]


def triang_ref(a, b, transpose, rightside, lower, alpha, solve):
    m = op_t(np.tril(a) if lower else np.triu(a), transpose)
    if solve:
        m = np.linalg.inv(m)
    return alpha * (b @ m if rightside else m @ b)


@pytest.mark.parametrize("op", ["trmm", "trsm"])
@pytest.mark.parametrize("transpose,rightside,lower", TRIANG)
@pytest.mark.parametrize("dtype", DTYPES)
def test_triangular_products_match_numpy(op, transpose, rightside, lower, dtype):
    # A's other triangle is noise the operators must not read.
    a = (triangular(2, 3, 3, lower=lower) + (np.triu if lower else np.tril)(randn(2, 3, 3), 1 if lower else -1))
    b = randn(2, 4, 3) if rightside else randn(2, 3, 4)
    (y,) = forward(f"_linalg_{op}", [a.astype(dtype), b.astype(dtype)], transpose=transpose, rightside=rightside,
                   lower=lower, alpha=-0.8)
    ref = triang_ref(a.astype(dtype).astype(np.float64), b.astype(dtype), transpose, rightside, lower, -0.8,
                     op == "trsm")
    np.testing.assert_allclose(y, ref, **TOL[dtype])


@pytest.mark.parametrize("op", ["trmm", "trsm"])
@pytest.mark.parametrize("transpose,rightside,lower", TRIANG)
def test_triangular_products_gradient(op, transpose, rightside, lower):
    a = triangular(2, 3, 3, lower=lower)
    b = randn(2, 2, 3) if rightside else randn(2, 3, 2)
    check_gradient(f"linalg_{op}", [a, b], transpose=transpose, rightside=rightside, lower=lower, alpha=1.7)


# ---- potrf, potri, sumlogdiag ----------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_potrf_is_numpys_cholesky(dtype):
    a = spd(2, 3, 4, 4)
    (l,) = forward("_linalg_potrf", [a.astype(dtype)])
    np.testing.assert_allclose(l, np.linalg.cholesky(a), **TOL[dtype])


def test_potrf_reads_only_the_lower_triangle():
    a = spd(2, 3, 3)
    (l,) = forward("_linalg_potrf", [np.tril(a) + np.triu(randn(2, 3, 3), 1)])
    np.testing.assert_allclose(l, np.linalg.cholesky(a), rtol=1e-12)


def test_potrf_gradient():
    check_lower_gradient("_linalg_potrf", spd(2, 3, 3))


def test_potrf_upper_matches_mxnet():
    ref("potrf_upper")


@pytest.mark.parametrize("dtype", DTYPES)
def test_potri_inverts_from_the_cholesky_factor(dtype):
    l = triangular(2, 4, 4)
    (y,) = forward("_linalg_potri", [l.astype(dtype)])
    np.testing.assert_allclose(y, np.linalg.inv(l @ T(l)), **TOL[dtype])


def test_potri_gradient():
    check_gradient("linalg_potri", [triangular(2, 3, 3)])


def test_potri_upper_matches_mxnet():
    ref("potri_upper")


@pytest.mark.parametrize("dtype", DTYPES)
def test_sumlogdiag_matches_numpy(dtype):
    a = spd(2, 3, 4, 4)
    (y,) = forward("_linalg_sumlogdiag", [a.astype(dtype)])
    np.testing.assert_allclose(y, np.log(np.diagonal(a, axis1=-2, axis2=-1)).sum(-1), **TOL[dtype])


def test_sumlogdiag_of_one_matrix_has_shape_1():
    (y,) = forward("_linalg_sumlogdiag", [spd(3, 3)])
    assert y.shape == (1,)


def test_sumlogdiag_gradient():
    check_gradient("linalg_sumlogdiag", [spd(2, 3, 3)])


# ---- inverse, det, slogdet -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_inverse_matches_numpy(dtype):
    a = randn(2, 3, 4, 4) + 4 * np.eye(4)
    (y,) = forward("_linalg_inverse", [a.astype(dtype)])
    np.testing.assert_allclose(y, np.linalg.inv(a.astype(dtype).astype(np.float64)), **TOL[dtype])


def test_inverse_gradient():
    check_gradient("linalg_inverse", [randn(2, 3, 3) + 3 * np.eye(3)])


@pytest.mark.parametrize("dtype", DTYPES)
def test_det_and_slogdet_match_numpy(dtype):
    a = randn(2, 3, 4, 4).astype(dtype)
    (d,) = forward("_linalg_det", [a])
    sign, logdet = forward("_linalg_slogdet", [a])
    ref_sign, ref_log = np.linalg.slogdet(a.astype(np.float64))
    np.testing.assert_allclose(d, np.linalg.det(a.astype(np.float64)), **TOL[dtype])
    np.testing.assert_array_equal(sign, ref_sign)
    np.testing.assert_allclose(logdet, ref_log, **TOL[dtype])


def test_det_of_one_matrix_has_shape_1():
    (d,) = forward("_linalg_det", [np.array([[1.0, 4.0], [2.0, 3.0]])])
    np.testing.assert_allclose(d, [-5.0])


def test_det_gradient():
    check_gradient("linalg_det", [randn(2, 3, 3)])


def test_slogdet_gradient():
    check_gradient("linalg_slogdet", [randn(2, 3, 3)])


def test_det_and_slogdet_match_mxnet():
    ref("det")
    ref("slogdet")


def test_singular_matrix_has_det_zero_and_no_gradient():
    a = np.array([[[1.0, 2.0], [2.0, 4.0]], [[2.0, 1.0], [1.0, 3.0]]])
    (d,), (g,) = backward("_linalg_det", [a], heads=[np.ones(2)])
    (sign, logdet), (gl,) = backward("_linalg_slogdet", [a], heads=[np.ones(2), np.ones(2)])
    np.testing.assert_allclose(d, [0.0, 5.0], atol=1e-12)
    assert sign[0] == 0 and logdet[0] == -np.inf
    np.testing.assert_array_equal(g[0], 0)
    np.testing.assert_array_equal(gl[0], 0)
    np.testing.assert_allclose(g[1], 5.0 * np.linalg.inv(a[1]).T, rtol=1e-12)


# ---- extractdiag, makediag, extracttrian, maketrian --------------------------------------------

def trian_ref(a, offset, lower):
    # MXNet's packing: the lower triangle row by row, the upper one column by column.
    m = a if (offset < 0 or (offset == 0 and lower)) else T(a)
    rows, cols = np.tril_indices(a.shape[-1], -abs(offset))
    return m[..., rows, cols]


@pytest.mark.parametrize("offset", [0, 1, -2])
@pytest.mark.parametrize("dtype", DTYPES)
def test_extractdiag_and_makediag_match_numpy(offset, dtype):
    a = randn(2, 4, 4).astype(dtype)
    (d,) = forward("_linalg_extractdiag", [a], offset=offset)
    np.testing.assert_array_equal(d, np.diagonal(a, offset, axis1=-2, axis2=-1))
    (m,) = forward("_linalg_makediag", [d], offset=offset)
    np.testing.assert_array_equal(m, np.stack([np.diag(v, offset) for v in d]))


@pytest.mark.parametrize("offset,lower", [(0, True), (0, False), (1, True), (-1, False), (-2, True)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_extracttrian_and_maketrian_are_inverse(offset, lower, dtype):
    a = randn(2, 4, 4).astype(dtype)
    (v,) = forward("_linalg_extracttrian", [a], offset=offset, lower=lower)
    np.testing.assert_array_equal(v, trian_ref(a, offset, lower))
    (m,) = forward("_linalg_maketrian", [v], offset=offset, lower=lower)
    (back,) = forward("_linalg_extracttrian", [m], offset=offset, lower=lower)
    np.testing.assert_array_equal(back, v)
    np.testing.assert_array_equal(m[a != m], 0)


@pytest.mark.parametrize("case", [c for c in sorted(META) if "trian" in c or "diag" in c])
def test_diagonals_and_triangles_match_mxnet(case):
    ref(case)


@pytest.mark.parametrize("op,shape,attrs", [
    ("extractdiag", (2, 3, 3), {"offset": -1}), ("makediag", (2, 3), {"offset": 1}),
    ("extracttrian", (2, 3, 3), {"offset": 1}), ("maketrian", (2, 6), {"lower": False}),
])
def test_layout_gradients(op, shape, attrs):
    check_gradient(f"linalg_{op}", [randn(*shape)], **attrs)


# ---- gelqf, syevd ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_gelqf_factors_a_into_l_and_orthonormal_q(dtype):
    a = randn(2, 3, 5).astype(dtype)
    q, l = forward("_linalg_gelqf", [a])
    assert q.shape == (2, 3, 5) and l.shape == (2, 3, 3)
    np.testing.assert_allclose(l @ q, a, **TOL[dtype])
    np.testing.assert_allclose(q @ T(q), np.broadcast_to(np.eye(3), (2, 3, 3)), **TOL[dtype])
    np.testing.assert_array_equal(l, np.tril(l))


def test_gelqf_gradient():
    check_gradient("linalg_gelqf", [randn(2, 2, 4)])


@pytest.mark.parametrize("dtype", DTYPES)
def test_syevd_diagonalizes_with_ascending_eigenvalues(dtype):
    s = randn(2, 4, 4)
    a = (s + T(s)).astype(dtype)
    u, lam = forward("_linalg_syevd", [a])
    np.testing.assert_allclose(lam, np.linalg.eigvalsh(a.astype(np.float64)), **TOL[dtype])
    np.testing.assert_allclose(T(u) @ (lam[..., None] * u), a, rtol=1e-4 if dtype == "float32" else 1e-10,
                               atol=1e-4 if dtype == "float32" else 1e-10)
    # Each eigenvector's largest entry is positive.
    rows = np.abs(u).argmax(-1)
    assert np.all(np.take_along_axis(u, rows[..., None], -1) > 0)


def test_syevd_gradient():
    check_lower_gradient("_linalg_syevd", np.array([[[2.0, 0.3, -0.4], [0.3, -1.0, 0.5], [-0.4, 0.5, 0.7]]]))


@pytest.mark.parametrize("case", ["gelqf", "syevd"])
def test_decompositions_match_mxnet(case):
    ref(case)


def ref(case):
    """Outputs and the input gradient against those MXNet 1.9.1 recorded for the same input and
    head gradients."""
    m = META[case]
    op = f"_linalg_{m['op']}"
    heads = [REFS[f"{case}/head{i}"] for i in range(m["outputs"])]
    outs, (g,) = backward(op, [REFS[f"{case}/in"]], heads=heads, **m["attrs"])
    for i, o in enumerate(outs):
        np.testing.assert_allclose(o, REFS[f"{case}/out{i}"], rtol=1e-9, atol=1e-12, err_msg=f"{case}: output {i}")
    np.testing.assert_allclose(g, REFS[f"{case}/grad"], rtol=1e-8, atol=1e-10, err_msg=f"{case}: gradient")


# ---- grad_req ---------------------------------------------------------------------------------

@pytest.mark.parametrize("op,inputs,attrs", [
    ("_linalg_gemm2", lambda: [randn(2, 3), randn(3, 4)], {}),
    ("_linalg_trsm", lambda: [triangular(3, 3), randn(3, 2)], {}),
    ("_linalg_potrf", lambda: [spd(3, 3)], {}),
    ("_linalg_inverse", lambda: [randn(3, 3) + 3 * np.eye(3)], {}),
    ("_linalg_syevd", lambda: [spd(3, 3)], {}),
    ("_linalg_extracttrian", lambda: [randn(3, 3)], {}),
])
def test_grad_req_add_accumulates_and_null_leaves_alone(op, inputs, attrs):
    xs = inputs()
    heads = [randn(*o.shape) for o in forward(op, xs, **attrs)]
    _, written = backward(op, xs, heads=heads, **attrs)
    initial = [np.full_like(x, 7.0) for x in xs]
    _, added = backward(op, xs, heads=heads, req="add", initial=initial, **attrs)
    _, untouched = backward(op, xs, heads=heads, req="null", initial=initial, **attrs)
    for w, a, u in zip(written, added, untouched):
        np.testing.assert_allclose(a, w + 7.0, rtol=1e-12)
        np.testing.assert_array_equal(u, 7.0)


# ---- Errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("call,match", [
    (lambda: mx.nd.linalg.gemm2(nd.ones((2, 3)), nd.ones((4, 2))),
     r"_linalg_gemm2: B=an array of shape \(4, 2\): expected matrices whose inner dimension matches A's \(\(2, 3\), 3\)"),
    (lambda: mx.nd.linalg.gemm2(nd.ones((2, 3)), nd.ones((3,))),
     r"_linalg_gemm2: B=an array of shape \(3,\): expected the rank of A"),
    (lambda: mx.nd.linalg.gemm2(nd.ones((2, 2, 3)), nd.ones((3, 3, 2))),
     r"_linalg_gemm2: B=an array of shape \(3, 3, 2\): expected the batch axes of A"),
    (lambda: mx.nd.linalg.gemm2(nd.ones((2, 3)), nd.ones((3, 2)), axis=1),
     r"_linalg_gemm2: axis=1: expected a row axis in \[-2, 0\]"),
    (lambda: mx.nd.linalg.gemm(nd.ones((2, 3)), nd.ones((3, 2)), nd.ones((3, 3))),
     r"_linalg_gemm: C=shape \(3, 3\): expected shape \(2, 2\)"),
    (lambda: mx.nd.linalg.gemm2(nd.ones((2, 3), dtype="float16"), nd.ones((3, 2), dtype="float16")),
     r"_linalg_gemm2: A=an array of type float16: expected float32 or float64"),
    (lambda: mx.nd.linalg.potrf(nd.ones((2, 3))),
     r"_linalg_potrf: A=an array of shape \(2, 3\): expected square matrices in the last two axes"),
    (lambda: nd.linalg_inverse(nd.ones((3,))),
     r"linalg_inverse: A=an array of shape \(3,\): expected an array of rank >= 2"),
    (lambda: mx.nd.linalg.trsm(nd.ones((3, 3)), nd.ones((2, 4))),
     r"_linalg_trsm: B=an array of shape \(2, 4\): expected as many rows as A has \(3\)"),
    (lambda: mx.nd.linalg.trmm(nd.ones((3, 3)), nd.ones((3, 4)), rightside=True),
     r"_linalg_trmm: B=an array of shape \(3, 4\): expected as many columns as A has \(3\)"),
    (lambda: mx.nd.linalg.gelqf(nd.ones((4, 3))),
     r"_linalg_gelqf: A=an array of shape \(4, 3\): expected matrices with no more rows than columns"),
    (lambda: mx.nd.linalg.extractdiag(nd.ones((3, 3)), offset=3),
     r"_linalg_extractdiag: offset=3: expected an offset of magnitude below the matrices' size \(3\)"),
    (lambda: mx.nd.linalg.maketrian(nd.ones((2, 5))),
     r"_linalg_maketrian: A=an array of shape \(2, 5\): expected a last axis of triangular length"),
    (lambda: mx.nd.linalg.det(nd.ones((2, 3, 4))),
     r"_linalg_det: A=an array of shape \(2, 3, 4\): expected square matrices"),
    (lambda: mx.nd.linalg.syrk(nd.ones((2, 3)), upper=True),
     r"_linalg_syrk: upper=.*: expected an attribute of _linalg_syrk"),
])
def test_bad_arguments_raise_before_a_push(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()


def test_potrf_of_an_indefinite_matrix_fails_at_the_wait_and_the_engine_goes_on():
    a = nd.array(np.array([[[4.0, 1.0], [1.0, 3.0]], [[1.0, 2.0], [2.0, 1.0]]]))
    l = mx.nd.linalg.potrf(a)
    with pytest.raises(mx.MXNetError, match=r"_linalg_potrf: the matrix at batch index 1 is not positive definite"):
        l.asnumpy()
    np.testing.assert_allclose(mx.nd.linalg.potrf(a[0]).asnumpy(), np.linalg.cholesky(a[0].asnumpy()), rtol=1e-6)


def test_inverse_of_a_singular_matrix_fails_at_the_wait():
    y = mx.nd.linalg.inverse(nd.array(np.array([[1.0, 2.0], [2.0, 4.0]])))
    with pytest.raises(mx.MXNetError, match=r"_linalg_inverse: the matrix at batch index 0 is singular"):
        y.asnumpy()


def test_slogdet_gradient_flows_through_a_symbol_graph():
    # The hidden LU factors and int32 pivots travel through the executor's plan to backward.
    a = mx.sym.Variable("a")
    _, logdet = mx.sym.linalg.slogdet(a)
    ex = mx.sym.sum(logdet).simple_bind(mx.cpu(), a=(2, 3, 3), type_dict={"a": np.float64})
    x = randn(2, 3, 3)
    ex.forward(is_train=True, a=nd.array(x, dtype="float64"))
    ex.backward(nd.ones((1,), dtype="float64"))
    np.testing.assert_allclose(ex.grad_dict["a"].asnumpy(), T(np.linalg.inv(x)), rtol=1e-10)
