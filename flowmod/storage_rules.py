"""The operators a bound graph runs on sparse arrays, with their storage types, as MXNet's
FInferStorageType and backward storage inference decide them: ``dot`` of a csr lhs (dense or
row_sparse rhs; the rhs gradient row_sparse, ``src/operator/tensor/dot-inl.h``),
``_square_sum`` of a row_sparse array over axis 1 (row_sparse out and gradient),
``Embedding`` with ``sparse_grad`` and ``contrib.SparseEmbedding`` (row_sparse weight
gradient, ``indexing_op.h``), and the value-wise operators that keep a csr or row_sparse
array sparse. Every other operator given a sparse array runs on a dense copy of it (MXNet's
storage fallback).

A rule is ``(infer, forward, backward)``:
- ``infer(in_stypes, attrs, needs)`` -> (output stypes, input gradient stypes) or None when the
  rule does not apply (``needs[i]``: whether input i's gradient is wanted);
- ``forward(inputs, attrs)`` -> outputs (NDArrays, sparse or dense);
- ``backward(inputs, outputs, out_grads, attrs, needs)`` -> one gradient per input (None
  where not wanted).
"""
from __future__ import annotations

import numpy as np

from .ndarray import sparse_ops
from .ndarray.ops import invoke
from .ndarray.sparse import _INDEX, CSRNDArray, RowSparseNDArray, _index_array

SPARSE = ("csr", "row_sparse")
_TRUE = ("1", "true", "True")


def _truth(attrs, key, default=False) -> bool:
    value = attrs.get(key)
    return default if value is None else str(value) in _TRUE


def dense(x):
    """``x`` as a dense NDArray (a row_sparse array storing every row gives its data)."""
    if x is None or x.stype == "default":
        return x
    if x.stype == "row_sparse" and x.data.shape[0] == x.shape[0]:
        return x.data
    return x.tostype("default")


# ---- dot ------------------------------------------------------------------------------------

def _dot_infer(stypes, attrs, needs):
    ls, rs = stypes
    if ls != "csr" or rs not in ("default", "row_sparse") or _truth(attrs, "transpose_b"):
        return None
    ta = _truth(attrs, "transpose_a")
    return ["row_sparse" if ta else "default"], ["default", "default" if ta else "row_sparse"]


def _dot_forward(inputs, attrs):
    lhs, rhs = inputs
    return [sparse_ops.dot(lhs, dense(rhs), transpose_a=_truth(attrs, "transpose_a"))]


def _dot_backward(inputs, outputs, out_grads, attrs, needs):
    lhs, rhs = inputs
    ta = _truth(attrs, "transpose_a")
    g = dense(out_grads[0])
    d_lhs = d_rhs = None
    if needs[0]:
        # Dense, as MXNet's fallback computes it: g x rhs.T (rhs x g.T for lhs.T).
        d_lhs = invoke("dot", [dense(rhs), g], transpose_b=True) if ta else \
            invoke("dot", [g, dense(rhs)], transpose_b=True)
    if needs[1]:
        # d rhs = lhs.T x d out (row_sparse: the columns lhs stores), or lhs x d out for lhs.T.
        d_rhs = sparse_ops.dot(lhs, g, transpose_a=not ta)
    return [d_lhs, d_rhs]


# ---- _square_sum ----------------------------------------------------------------------------

def _square_sum_infer(stypes, attrs, needs):
    axis = str(attrs.get("axis", "None")).strip("()[], ")
    if stypes[0] != "row_sparse" or axis not in ("1", "-1") or not _truth(attrs, "keepdims") \
            or _truth(attrs, "exclude"):
        return None
    return ["row_sparse"], ["row_sparse"]


def _square_sum_forward(inputs, attrs):
    return [sparse_ops.square_sum(inputs[0], axis=1, keepdims=True)]


def _square_sum_backward(inputs, outputs, out_grads, attrs, needs):
    if not needs[0]:
        return [None]
    (x,), g = inputs, out_grads[0]
    if g.stype == "row_sparse":
        # The rows of the output gradient (MXNet's SquareSumRspGradImpl): a batch's rows.
        rows, host = g.indices, g._host_index
        values = invoke("_sparse_take_rows", [x.data, x.indices, rows])
        gvals = g.data
    else:
        rows, host, values = x.indices, x._host_index, x.data
        gvals = invoke("take", [g, rows], axis=0)
    data = invoke("broadcast_mul", [invoke("_mul_scalar", [values], scalar=2.0), gvals])
    return [RowSparseNDArray._make(x.shape, data, [rows.copy()], x.context, host)]


def square_sum_dot(lhs, weight):
    """``dot(lhs, _square_sum(weight, axis=1, keepdims=True))`` for a csr ``lhs``, reading
    only the weight rows whose columns ``lhs`` stores: a factorization machine's batch
    touches thousands of a weight's millions of rows, and the product reads no others."""
    cols = lhs.host_index()
    rows, pos = np.unique(cols, return_inverse=True)
    ctx = lhs.context
    if rows.size == 0:  # a batch with no stored element reads no row
        from .ndarray import zeros
        return zeros((lhs.shape[0], 1), ctx, dtype=weight.dtype)
    taken = invoke("_sparse_take_rows", [weight.data, weight.indices, _index_array(rows, ctx)])
    sums = invoke("_square_sum", [taken], axis=1, keepdims=True)
    # The lhs with its columns renumbered by their position among `rows`: (m, rows.size).
    return invoke("_sparse_csr_dns_dot",
                  [lhs.data, _index_array(pos.astype(_INDEX), ctx), lhs.indptr, sums])


# ---- Embedding ------------------------------------------------------------------------------

def _embedding_infer(op):
    def infer(stypes, attrs, needs):
        if stypes[0] != "default" or needs[0]:
            return None
        if op == "Embedding" and not _truth(attrs, "sparse_grad"):
            return None
        return ["default"], [None, "row_sparse"]
    return infer


def _embedding_forward(inputs, attrs):
    data, weight = inputs
    params = {k: v for k, v in attrs.items() if k in ("input_dim", "output_dim", "dtype")}
    return [invoke("Embedding", [data, dense(weight)], **params)]


def _embedding_backward(inputs, outputs, out_grads, attrs, needs):
    if not needs[1]:
        return [None, None]
    data, weight = inputs
    g = dense(out_grads[0])
    tokens = data.asnumpy().reshape(-1).astype(_INDEX)
    n, dim = tokens.size, int(weight.shape[1])
    if tokens.size and (tokens.min() < 0 or tokens.max() >= weight.shape[0]):
        tokens = np.clip(tokens, 0, weight.shape[0] - 1)  # Embedding clips its indices
    # The gradient rows are the sums of the output gradients of each index: one-hot rows of
    # a csr matrix, transposed, times the output gradient (the csr.T x dense kernel).
    ctx = data.context
    onehot = CSRNDArray._make((n, int(weight.shape[0])), _ones(n, g.dtype, ctx),
                              [_index_array(np.arange(n + 1), ctx), _index_array(tokens, ctx)],
                              ctx, tokens)
    return [None, sparse_ops.dot(onehot, g.reshape((n, dim)), transpose_a=True)]


def _ones(n, dtype, ctx):
    from .ndarray import ones
    return ones((n,), ctx=ctx, dtype=dtype)


# ---- value-wise -----------------------------------------------------------------------------

def _valuewise_infer(stypes, attrs, needs):
    if stypes[0] not in SPARSE or needs[0]:
        return None
    return [stypes[0]], [None]


def _valuewise(op):
    def forward(inputs, attrs):
        return [sparse_ops.dispatch(op, inputs, None, attrs)]
    return forward


def _no_backward(inputs, outputs, out_grads, attrs, needs):
    return [None] * len(inputs)


RULES = {
    "dot": (_dot_infer, _dot_forward, _dot_backward),
    "_square_sum": (_square_sum_infer, _square_sum_forward, _square_sum_backward),
    "Embedding": (_embedding_infer("Embedding"), _embedding_forward, _embedding_backward),
    "_contrib_SparseEmbedding": (_embedding_infer("_contrib_SparseEmbedding"),
                                 _embedding_forward, _embedding_backward),
}
for _op in sparse_ops.KEEPS_SPARSITY:
    RULES[_op] = (_valuewise_infer, _valuewise(_op), _no_backward)

# Operators whose gradient is sparse although their inputs are dense.
SPARSE_GRAD_OPS = ("Embedding", "_contrib_SparseEmbedding")


def accumulate(grads: list):
    """The sum of ``grads`` (row_sparse when they all are, else dense)."""
    grads = [g for g in grads if g is not None]
    if not grads:
        return None
    if len(grads) == 1:
        return grads[0]
    if all(g.stype == "row_sparse" for g in grads):
        return sparse_ops.dispatch("add_n", grads, None, {"num_args": len(grads)})
    return invoke("add_n", [dense(g) for g in grads], num_args=len(grads))
