"""Operators on sparse NDArrays, dispatched on the storage types of their inputs as MXNet's
FInferStorageType does: those with a sparse kernel run on the component arrays
(csrc/ops/cpu/sparse_ops.cc, sparse_update_ops.cc, and the dense operators applied to
``data``); any other operator given a sparse array runs on dense copies of it, with MXNet's
one-time "storage fallback" warning.

An output whose number of stored elements depends on the values (csr.T x dense, the sum of
two row_sparse arrays with different rows, dense to sparse) cannot be sized inside the
operator: flowmod's arrays get their shape when they are created. Such an output's index
set is computed first, from the index arrays (small: waiting on them waits for no value
kernel) or, for dense to sparse, by ``_sparse_row_nnz`` on the engine, whose small result
is read; then the value kernel is pushed with known shapes.
"""
from __future__ import annotations

import logging

import numpy as np

from ..base import MXNetError
from .ndarray import NDArray, array as _dense_array
from .sparse import (_INDEX, BaseSparseNDArray, CSRNDArray, RowSparseNDArray, _index_array)

__all__ = ["cast_storage", "retain", "dot", "square_sum", "dispatch"]

_LOG = logging.getLogger("flowmod.ndarray.sparse")
_WARNED: set = set()


def _invoke(op, inputs, out=None, **attrs):
    from .ops import invoke
    return invoke(op, inputs, out=out, **attrs)


def _stype(x) -> str:
    return x.stype if isinstance(x, NDArray) else "default"


# ---- storage conversions --------------------------------------------------------------------

def _csr_to_dense(x: CSRNDArray) -> NDArray:
    return _invoke("_sparse_csr_to_dense", [x.data, x.indices, x.indptr], num_cols=x.shape[1])


def _rsp_to_dense(x: RowSparseNDArray) -> NDArray:
    return _invoke("_sparse_rsp_to_dense", [x.data, x.indices], num_rows=x.shape[0])


def _dense(x: NDArray) -> NDArray:
    if x.stype == "csr":
        return _csr_to_dense(x)
    if x.stype == "row_sparse":
        return _rsp_to_dense(x)
    return x


def _dense_view(x: NDArray) -> NDArray:
    """x's values as a dense array to read (a row_sparse array storing every row: its data,
    not a copy)."""
    if x.stype == "row_sparse" and x.data.shape[0] == x.shape[0]:
        return x.data
    return _dense(x)


def _dense_to_csr(x: NDArray) -> CSRNDArray:
    if x.ndim != 2:
        raise MXNetError(f"cast_storage: a csr array is 2-D; the array has shape {x.shape}")
    counts = _invoke("_sparse_row_nnz", [x]).asnumpy()
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(_INDEX)
    ptr = _index_array(indptr, x.context)
    data, indices = _invoke("_sparse_dense_to_csr", [x, ptr], nnz=int(indptr[-1]))
    return CSRNDArray._make(x.shape, data, [ptr, indices], x.context)


def _dense_to_rsp(x: NDArray) -> RowSparseNDArray:
    if x.ndim < 1:
        raise MXNetError("cast_storage: a row_sparse array has at least 1 dimension")
    rows = np.flatnonzero(_invoke("_sparse_row_nnz", [x]).asnumpy()).astype(_INDEX)
    return _rsp_rows(x, rows)


def _rsp_rows(dense: NDArray, rows: np.ndarray) -> RowSparseNDArray:
    idx = _index_array(rows, dense.context)
    data = _invoke("take", [dense, idx], axis=0) if rows.size else \
        _dense_array(np.zeros((0,) + dense.shape[1:]), ctx=dense.context, dtype=dense.dtype)
    return RowSparseNDArray._make(dense.shape, data, [idx], dense.context, rows)


def cast_storage(data: NDArray, stype: str, out: NDArray | None = None, name=None):
    """cast_storage(data, stype, out=None, name=None): ``data`` in storage ``stype``
    ('default', 'row_sparse' or 'csr'), written into ``out`` when given. Casting csr to
    row_sparse or back is refused, as in MXNet."""
    if out is not None:
        _write_into(out, cast_storage(data, stype))
        return out
    if not isinstance(data, NDArray):
        raise MXNetError(f"cast_storage: data is {type(data).__name__}, expected an NDArray")
    if stype not in ("default", "row_sparse", "csr"):
        raise MXNetError(f"cast_storage: stype={stype!r}: expected 'default', 'row_sparse' "
                         f"or 'csr'")
    src = data.stype
    if src == stype:
        return data.copy()
    if stype == "default":
        return _dense(data)
    if src != "default":
        raise MXNetError(f"cast_storage from {src} to {stype} is not supported")
    return _dense_to_csr(data) if stype == "csr" else _dense_to_rsp(data)


# ---- row_sparse helpers ---------------------------------------------------------------------

def unique_rows(values: np.ndarray) -> np.ndarray:
    """The sorted distinct int64 values of ``values``: by sorting, which on index arrays is
    many times faster than numpy's hash-based np.unique."""
    flat = np.sort(np.asarray(values, dtype=_INDEX).reshape(-1))
    if flat.size < 2:
        return flat
    keep = np.empty(flat.size, dtype=bool)
    keep[0] = True
    np.not_equal(flat[1:], flat[:-1], out=keep[1:])
    return flat[keep]


def _rows_of(x: RowSparseNDArray) -> np.ndarray:
    return x.host_index()


def _aligned(x: RowSparseNDArray, rows: np.ndarray, idx: NDArray) -> NDArray:
    """x's data for the rows ``rows`` (zeros where x stores none)."""
    if np.array_equal(_rows_of(x), rows):
        return x.data
    return _invoke("_sparse_take_rows", [x.data, x.indices, idx])


def retain(data: RowSparseNDArray, indices) -> RowSparseNDArray:
    """retain(data, indices): the row_sparse array of ``data``'s rows at ``indices`` (sorted
    here; rows ``data`` does not store are zeros), as ``mx.nd.sparse.retain``."""
    if data.stype != "row_sparse":
        raise MXNetError(f"retain: data has storage {data.stype!r}, expected 'row_sparse'")
    host = indices.asnumpy() if isinstance(indices, NDArray) else np.asarray(indices)
    rows = unique_rows(host)
    if rows.size and (rows[0] < 0 or rows[-1] >= data.shape[0]):
        raise MXNetError(f"retain: indices has a row outside [0, {data.shape[0]})")
    idx = _index_array(rows, data.context)
    values = _invoke("_sparse_take_rows", [data.data, data.indices, idx])
    return RowSparseNDArray._make(data.shape, values, [idx], data.context, rows)


def _rsp_binary(op: str, lhs: RowSparseNDArray, rhs: RowSparseNDArray) -> RowSparseNDArray:
    if lhs.shape != rhs.shape:
        raise MXNetError(f"{op}: lhs has shape {lhs.shape} and rhs {rhs.shape}; expected the "
                         f"same shape")
    # Every row either stores, products too (MXNet's RspRspOp keeps the union; a row only one
    # side stores is a row of zeros there).
    rows = unique_rows(np.concatenate([_rows_of(lhs), _rows_of(rhs)]))
    idx = _index_array(rows, lhs.context)
    if not rows.size:
        from .sparse import zeros
        return zeros("row_sparse", lhs.shape, ctx=lhs.context, dtype=lhs.dtype)
    data = _invoke(op, [_aligned(lhs, rows, idx), _aligned(rhs, rows, idx)])
    return RowSparseNDArray._make(lhs.shape, data, [idx], lhs.context, rows)


def _rsp_dense_mul(sparse: RowSparseNDArray, dense: NDArray) -> RowSparseNDArray:
    rows = sparse.indices
    data = _invoke("elemwise_mul", [sparse.data, _invoke("take", [dense, rows], axis=0)])
    return RowSparseNDArray._make(sparse.shape, data, [rows.copy()], sparse.context,
                                  sparse._host_index)


def _elemwise(op: str, inputs, attrs):
    lhs, rhs = inputs
    ls, rs = _stype(lhs), _stype(rhs)
    if ls == rs == "row_sparse":
        return _rsp_binary(op, lhs, rhs)
    if op == "elemwise_mul" and {ls, rs} == {"row_sparse", "default"}:
        return _rsp_dense_mul(*((lhs, rhs) if ls == "row_sparse" else (rhs, lhs)))
    if ls == rs == "csr":
        return _dense_to_csr(_invoke(op, [_csr_to_dense(lhs), _csr_to_dense(rhs)]))
    if {ls, rs} == {"row_sparse", "default"} and op != "elemwise_mul":
        # rsp + dns and dns - rsp are dense (MXNet's ElemwiseBinaryOp::DnsRspDnsOp).
        return _invoke(op, [_dense(lhs), _dense(rhs)])
    return NotImplemented


def _add_n(inputs, attrs):
    if not all(_stype(x) == "row_sparse" for x in inputs):
        return NotImplemented
    shape = inputs[0].shape
    for x in inputs:
        if x.shape != shape:
            raise MXNetError(f"add_n: inputs of shapes {shape} and {x.shape}; expected one "
                             f"shape")
    rows = unique_rows(np.concatenate([_rows_of(x) for x in inputs]))
    if not rows.size:
        from .sparse import zeros
        return zeros("row_sparse", shape, ctx=inputs[0].context, dtype=inputs[0].dtype)
    idx = _index_array(rows, inputs[0].context)
    data = _invoke("add_n", [_aligned(x, rows, idx) for x in inputs], num_args=len(inputs))
    return RowSparseNDArray._make(shape, data, [idx], inputs[0].context, rows)


# ---- dot ------------------------------------------------------------------------------------

def _as_2d(x: NDArray):
    return (x.reshape((x.shape[0], 1)), True) if x.ndim == 1 else (x, False)


def dot(lhs, rhs, transpose_a=False, transpose_b=False, forward_stype=None):
    """dot(lhs, rhs, transpose_a=False, transpose_b=False, forward_stype=None): the matrix
    product with MXNet's storage types: csr x dense is dense, csr.T x dense row_sparse,
    dense x csr and dense x csr.T csr (dense with forward_stype='default'); other sparse
    combinations run densely with the storage fallback warning."""
    if _stype(lhs) == _stype(rhs) == "default":
        return _invoke("dot", [lhs, rhs], transpose_a=transpose_a, transpose_b=transpose_b)
    result = _dot([lhs, rhs], {"transpose_a": transpose_a, "transpose_b": transpose_b,
                               "forward_stype": forward_stype})
    if result is NotImplemented:
        return _fallback("dot", [lhs, rhs], None,
                         {"transpose_a": transpose_a, "transpose_b": transpose_b})
    return result


def _truth(v) -> bool:
    return v if isinstance(v, bool) else str(v).lower() in ("1", "true")


def _dot(inputs, attrs):
    lhs, rhs = inputs
    ta, tb = _truth(attrs.get("transpose_a", False)), _truth(attrs.get("transpose_b", False))
    target = attrs.get("forward_stype")
    target = None if target in (None, "None") else str(target)
    ls, rs = _stype(lhs), _stype(rhs)
    for side, x in (("lhs", lhs), ("rhs", rhs)):
        if np.dtype(x.dtype).kind != "f":
            raise MXNetError(f"dot: {side} has type {np.dtype(x.dtype).name}; a sparse product "
                             f"takes floating point arrays")
    if np.dtype(lhs.dtype) != np.dtype(rhs.dtype):
        raise MXNetError(f"dot: lhs has type {np.dtype(lhs.dtype).name} and rhs "
                         f"{np.dtype(rhs.dtype).name}; expected one type")
    if ls == "csr" and rs in ("default", "row_sparse") and not tb:
        dense, was_1d = _as_2d(_dense_view(rhs))
        k = lhs.shape[0] if ta else lhs.shape[1]
        if dense.shape[0] != k:
            raise MXNetError(f"dot: lhs{'.T' if ta else ''} has shape "
                             f"{lhs.shape[::-1] if ta else lhs.shape} and rhs {rhs.shape}; "
                             f"the inner dimensions differ")
        if not ta:
            out = _invoke("_sparse_csr_dns_dot", [lhs.data, lhs.indices, lhs.indptr, dense])
            out = out.reshape((out.shape[0],)) if was_1d else out
            return _cast_to(out, target)
        rows = unique_rows(lhs.host_index())
        idx = _index_array(rows, lhs.context)
        data = _invoke("_sparse_csrT_dns_dot", [lhs.data, lhs.indices, lhs.indptr, dense, idx])
        shape = (lhs.shape[1], dense.shape[1])
        if was_1d:
            data, shape = data.reshape((rows.size,)), (lhs.shape[1],)
        out = RowSparseNDArray._make(shape, data, [idx], lhs.context, rows)
        return out if target in (None, "row_sparse") else _cast_to(_dense(out), target)
    if ls == "default" and rs == "csr" and not ta and lhs.ndim == 2:
        out = _invoke("_sparse_dns_csr_dot", [lhs, rhs.data, rhs.indices, rhs.indptr],
                      num_cols=rhs.shape[1], transpose_b=tb)
        if target is None:  # MXNet 1.9.1 on CPU: csr, transposed or not
            target = "csr"
        return _cast_to(out, target)
    return NotImplemented


def _cast_to(dense: NDArray, target):
    return dense if target in (None, "default") else cast_storage(dense, target)


# ---- reductions -----------------------------------------------------------------------------

def _axis(attrs):
    axis = attrs.get("axis")
    if axis in (None, "None", (), "()"):
        return None
    if isinstance(axis, (tuple, list)):
        return tuple(int(a) for a in axis) if len(axis) != 1 else int(axis[0])
    return int(str(axis).strip("(),"))


def _csr_reduce(op: str, inputs, attrs):
    (x,) = inputs
    axis = _axis(attrs)
    if x.stype != "csr" or axis not in (0, 1, -1, -2) or _truth(attrs.get("exclude", False)):
        return NotImplemented
    axis %= 2
    out = _invoke("_sparse_csr_sum", [x.data, x.indices, x.indptr], axis=axis,
                  num_cols=x.shape[1])
    if op == "mean":
        out = _invoke("_div_scalar", [out], scalar=float(x.shape[axis]))
    if _truth(attrs.get("keepdims", False)):
        out = out.reshape((1, x.shape[1]) if axis == 0 else (x.shape[0], 1))
    return out


def square_sum(data, axis=None, keepdims=False, exclude=False):
    """_square_sum(data, axis=None, keepdims=False, exclude=False): the sum of squares of a
    row_sparse array over ``axis``: dense over axis 0 (or all), row_sparse over axis 1 with
    keepdims (the rows data stores), dense over axis 1 otherwise."""
    if data.stype == "default":
        return _invoke("_square_sum", [data], axis=axis, keepdims=keepdims, exclude=exclude)
    out = _square_sum([data], {"axis": axis, "keepdims": keepdims, "exclude": exclude})
    if out is NotImplemented:
        # csr, or row_sparse with exclude or of more than 2 dimensions: on the dense values
        return square_sum(_dense(data), axis, keepdims, exclude)
    return out


def _square_sum(inputs, attrs):
    (x,) = inputs
    axis, keep = _axis(attrs), _truth(attrs.get("keepdims", False))
    if x.stype != "row_sparse" or x.ndim != 2 or _truth(attrs.get("exclude", False)):
        return NotImplemented
    if axis is None:
        out = _invoke("_square_sum", [x.data])
        return out.reshape((1, 1)) if keep else out
    if axis in (0, -2):
        return _invoke("_square_sum", [x.data], axis=0, keepdims=keep)
    if axis in (1, -1):
        rows = _invoke("_square_sum", [x.data], axis=1, keepdims=True)  # one pass
        out = RowSparseNDArray._make((x.shape[0], 1), rows, [x.indices.copy()], x.context,
                                     x._host_index)
        return out if keep else _rsp_to_dense(out).reshape((x.shape[0],))
    return NotImplemented


# ---- value-wise operators -------------------------------------------------------------------

# MXNet 1.9.1's unary operators with row_sparse and csr kernels (f(0) == 0).
KEEPS_SPARSITY = ("abs", "arcsin", "arcsinh", "arctan", "arctanh", "cbrt", "ceil", "degrees",
                  "expm1", "fix", "floor", "log1p", "negative", "radians", "relu", "rint",
                  "round", "sign", "sin", "sinh", "sqrt", "square", "tan", "tanh", "trunc",
                  "_mul_scalar", "_div_scalar")


def _with_data(x: BaseSparseNDArray, data: NDArray):
    return type(x)._make(x.shape, data, [a.copy() for a in x._aux], x.context, x._host_index)


def _valuewise(op: str):
    def run(inputs, attrs):
        if len(inputs) != 1 or inputs[0].stype == "default":
            return NotImplemented
        return _with_data(inputs[0], _invoke(op, [inputs[0].data], **attrs))
    return run


def _clip(inputs, attrs):
    x = inputs[0]
    lo, hi = float(attrs.get("a_min", 0)), float(attrs.get("a_max", 0))
    if len(inputs) != 1 or x.stype == "default" or not lo <= 0 <= hi:
        return NotImplemented
    return _with_data(x, _invoke("clip", [x.data], **attrs))


def _where(inputs, attrs):
    cond, x, y = inputs
    if cond.stype != "csr" or x.stype != "default" or y.stype != "default":
        return NotImplemented
    return _invoke("where", [_csr_to_dense(cond), x, y])


def _bound(v):
    if isinstance(v, (tuple, list)):
        return list(v)
    return [None if v in (None, "None") else v]


def _slice_csr(inputs, attrs):
    """slice of a csr matrix along its rows (MXNet's SliceCsrImpl; columns must be whole)."""
    (x,) = inputs
    if x.stype != "csr" or attrs.get("step") not in (None, (), "()", "None"):
        return NotImplemented
    begin, end = _bound(attrs.get("begin", ())), _bound(attrs.get("end", ()))
    cols_whole = (len(begin) < 2 or begin[1] in (None, 0)) and (
        len(end) < 2 or end[1] in (None, x.shape[1]))
    if not cols_whole:
        return NotImplemented
    b = 0 if not begin or begin[0] is None else int(begin[0])
    e = x.shape[0] if not end or end[0] is None else int(end[0])
    return x[b:e]


# ---- optimizer updates ----------------------------------------------------------------------

_UPDATES = {"sgd_update": ("_rsp_sgd_update", 0), "sgd_mom_update": ("_rsp_sgd_mom_update", 1),
            "adam_update": ("_rsp_adam_update", 2), "ftrl_update": ("_rsp_ftrl_update", 2),
            "adagrad_update": ("_rsp_adagrad_update", 1),
            "_sparse_adagrad_update": ("_rsp_adagrad_update", 1)}
_ALWAYS_LAZY = ("ftrl_update", "adagrad_update", "_sparse_adagrad_update")


def _weight_dense(w: NDArray) -> NDArray:
    if w.stype == "default":
        return w
    if w.stype == "row_sparse":
        if w.data.shape[0] != w.shape[0]:
            # Rows not stored are zeros: the weight (or state) takes all its rows, once, so
            # that the update writes them in place, as MXNet fills an uninitialized one.
            host = np.arange(w.shape[0], dtype=_INDEX)
            rows = _index_array(host, w.context)
            w._replace(RowSparseNDArray._make(w.shape, _rsp_to_dense(w), [rows], w.context,
                                              host))
        return w.data  # every row stored: the data is the dense weight
    raise MXNetError(f"update: a {w.stype} weight must be dense or row_sparse")


def _update(op: str):
    kernel, num_states = _UPDATES[op]

    def run(inputs, attrs, out):
        weight, grad, states = inputs[0], inputs[1], list(inputs[2:])
        if grad.stype != "row_sparse" or any(s.stype == "csr" for s in [weight] + states):
            return NotImplemented
        if kernel == "_rsp_adagrad_update" and float(attrs.get("wd", 0)) != 0:
            raise MXNetError(f"{op}: wd={attrs['wd']}: sparse adagrad_update does not support "
                             f"wd (expected 0), as in MXNet")
        lazy = op in _ALWAYS_LAZY or _truth(attrs.pop("lazy_update", True))
        attrs.pop("lazy_update", None)
        w = _weight_dense(weight)
        st = [_weight_dense(s) for s in states]
        target = w if out is None or out is weight else (out if out.stype == "default"
                                                         else _weight_dense(out))
        if not lazy:
            # Standard dense semantics: every row decays and every state moves.
            dense_attrs = dict(attrs, lazy_update=False) if op in ("sgd_update",
                                                                   "sgd_mom_update",
                                                                   "adam_update") else attrs
            _invoke(op, [w, _rsp_to_dense(grad)] + st, out=target, **dense_attrs)
        else:
            if np.dtype(grad.dtype) != np.dtype(w.dtype):
                raise MXNetError(f"{op}: grad has type {grad.dtype}, weight {w.dtype}")
            _invoke(kernel, [w, grad.data, grad.indices] + st, out=target, **attrs)
        return out if out is not None else target
    return run


# ---- dispatch -------------------------------------------------------------------------------

def _binary_entry(op):
    return lambda inputs, attrs: _elemwise(op, inputs, attrs)


_IMPLS = {"dot": _dot, "add_n": _add_n, "ElementWiseSum": _add_n, "_square_sum": _square_sum,
          "sum": lambda i, a: _csr_reduce("sum", i, a),
          "mean": lambda i, a: _csr_reduce("mean", i, a),
          "clip": _clip, "where": _where, "cast_storage": None, "slice": _slice_csr,
          "crop": _slice_csr}
for _op in ("elemwise_add", "elemwise_sub", "elemwise_mul"):
    _IMPLS[_op] = _binary_entry(_op)
for _alias, _op in (("_add", "elemwise_add"), ("_plus", "elemwise_add"),
                    ("_Plus", "elemwise_add"), ("_sub", "elemwise_sub"),
                    ("_minus", "elemwise_sub"), ("_Minus", "elemwise_sub"),
                    ("_mul", "elemwise_mul"), ("_Mul", "elemwise_mul"),
                    ("broadcast_add", "elemwise_add"), ("broadcast_plus", "elemwise_add"),
                    ("broadcast_sub", "elemwise_sub"), ("broadcast_minus", "elemwise_sub"),
                    ("broadcast_mul", "elemwise_mul")):
    _IMPLS[_alias] = _binary_entry(_op)
for _op in KEEPS_SPARSITY:
    _IMPLS[_op] = _valuewise(_op)
_IMPLS_WITH_OUT = {op: _update(op) for op in _UPDATES}


def warn_fallback(op_name, stypes, out_stype, attrs) -> None:
    """MXNet's "Storage type fallback detected" warning, once per operator and input storage
    types."""
    key = (op_name, tuple(stypes))
    if key not in _WARNED:
        _WARNED.add(key)
        params = ", ".join(f'"{k}" : {v}' for k, v in attrs.items())
        _LOG.warning("\nStorage type fallback detected:\noperator = %s\ninput storage types "
                     "= [%s]\noutput storage types = [%s]\nparams = {%s}\ncontext.dev_mask = "
                     "cpu\nThe operator with default storage type will be dispatched for "
                     "execution. You're seeing this warning message because the operator "
                     "above is unable to process the given ndarrays with specified storage "
                     "types, context and parameter. Temporary dense ndarrays are generated in "
                     "order to execute the operator. This does not affect the correctness of "
                     "the programme.", op_name, ", ".join(stypes) + ", ", out_stype + ", ",
                     params)


def _fallback(op_name, inputs, out, attrs):
    warn_fallback(op_name, [_stype(x) for x in inputs],
                  out.stype if isinstance(out, NDArray) else "default", attrs)
    dense = [_dense(x) if isinstance(x, NDArray) else x for x in inputs]
    if isinstance(out, BaseSparseNDArray):
        result = _invoke(op_name, dense, **attrs)
        _write_into(out, result)
        return out
    return _invoke(op_name, dense, out=out, **attrs)


def _write_into(out: NDArray, result):
    if isinstance(out, BaseSparseNDArray):
        converted = result if _stype(result) == out.stype else cast_storage(_dense(result),
                                                                            out.stype)
        out._replace(converted.astype(out.dtype, copy=False))
    else:
        _dense(result).copyto(out)


def dispatch(op_name, inputs, out, attrs):
    """Runs ``op_name`` on ``inputs`` some of which (or ``out``) are sparse: its sparse
    kernel where it has one for these storage types, else the dense fallback."""
    inputs, attrs = list(inputs), dict(attrs)
    impl = _IMPLS_WITH_OUT.get(op_name)
    if impl is not None:
        result = impl(inputs, attrs, out)
        if result is not NotImplemented:
            return result
    impl = _IMPLS.get(op_name)
    if op_name == "cast_storage":
        result = cast_storage(inputs[0], attrs.get("stype", "default"))
    elif impl is not None:
        result = impl(inputs, attrs)
    else:
        result = NotImplemented
    if result is NotImplemented:
        return _fallback(op_name, inputs, out, attrs)
    if out is None:
        return result
    _write_into(out, result)
    return out


def has_sparse(inputs, out=None) -> bool:
    """Whether any of ``inputs`` or ``out`` is a sparse NDArray."""
    if isinstance(out, BaseSparseNDArray):
        return True
    if isinstance(out, (list, tuple)) and any(isinstance(o, BaseSparseNDArray) for o in out):
        return True
    return any(isinstance(x, BaseSparseNDArray) for x in inputs)
