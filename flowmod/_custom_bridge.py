"""What the native Custom operator calls (csrc/bindings/custom_bindings.cc): one bridge per
parsed set of attributes (a node of a bound graph, a prepared imperative call), wrapping the
registered CustomOpProp and the CustomOp instances it creates, and checking what they return
so that mistakes are reported as errors naming the operator."""
from __future__ import annotations

import inspect
import numbers
import traceback

import numpy as np

from .base import MXNetError
from .context import Context
from .ndarray.ndarray import NDArray
from . import operator as _operator

# Each CustomOp is made for one set of input shapes and types, as MXNet makes one per bind.
_MAX_OPERATORS = 64


def _names(prop, method: str, op_type: str) -> list:
    names = getattr(prop, method)()
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise MXNetError(f"custom operator {op_type!r}: {method}() returned {names!r}, "
                         f"expected a list of strings")
    return list(names)


class _Bridge:
    __slots__ = ("op_type", "prop", "arguments", "outputs", "aux", "need_top_grad", "_ops")

    def __init__(self, op_type: str, kwargs: dict):
        cls = _operator._REGISTRY.get(op_type)
        if cls is None:
            known = ", ".join(sorted(_operator._REGISTRY)) or "none"
            raise MXNetError(f"Custom: op_type={op_type!r}: expected the name of an operator "
                             f"registered with mx.operator.register (registered: {known})")
        self.op_type = op_type
        try:
            inspect.signature(cls).bind(**kwargs)
        except TypeError:
            params = ", ".join(inspect.signature(cls).parameters) or "none"
            bad = next((k for k in kwargs if k not in inspect.signature(cls).parameters),
                       next(iter(kwargs), "op_type"))
            raise MXNetError(f"Custom ({op_type}): {bad}={kwargs.get(bad)!r}: expected the "
                             f"keyword arguments of {cls.__name__}.__init__ ({params})") from None
        self.prop = cls(**kwargs)
        self.arguments = _names(self.prop, "list_arguments", op_type)
        self.outputs = _names(self.prop, "list_outputs", op_type)
        self.aux = _names(self.prop, "list_auxiliary_states", op_type)
        self.need_top_grad = bool(getattr(self.prop, "need_top_grad_", True))
        n_out, n_in = len(self.outputs), len(self.arguments)
        deps = self.prop.declare_backward_dependency(
            list(range(n_out)), list(range(n_out, n_out + n_in)),
            list(range(n_out + n_in, 2 * n_out + n_in)))
        if not all(isinstance(d, numbers.Integral) for d in deps):
            raise MXNetError(f"custom operator {op_type!r}: declare_backward_dependency returned "
                             f"{deps!r}, expected a list of the ids it was given")
        self._check_storage_types(n_in)
        self._ops: dict = {}

    def _check_storage_types(self, n_in: int) -> None:
        # Arrays here are dense: a prop declaring sparse outputs cannot be served.
        ret = self.prop.infer_storage_type(["default"] * n_in)
        stypes = [s for group in ret for s in group] if isinstance(ret, (list, tuple)) else None
        if stypes is None or any(s != "default" for s in stypes):
            raise MXNetError(f"custom operator {self.op_type!r}: infer_storage_type returned "
                             f"{ret!r}; flowmod's arrays are dense, expected 'default' "
                             f"storage throughout")

    # --- inference ---------------------------------------------------------------------------
    def _split(self, ret, what: str):
        if not isinstance(ret, (list, tuple)) or len(ret) not in (2, 3):
            raise MXNetError(f"{what} returned {ret!r}, expected (in, out) or (in, out, aux)")
        ins, outs = list(ret[0]), list(ret[1])
        aux = list(ret[2]) if len(ret) == 3 else []
        for got, names, kind, lister in (
                (ins, self.arguments, "input", "list_arguments"),
                (outs, self.outputs, "output", "list_outputs"),
                (aux, self.aux, "auxiliary state", "list_auxiliary_states")):
            if len(got) != len(names):
                raise MXNetError(f"{what} returned {len(got)} {kind} entries, expected "
                                 f"{len(names)} ({', '.join(names) or 'none'}, as {lister} "
                                 f"says)")
        return ins, outs, aux

    def infer_shape(self, shapes: list):
        n_in = len(self.arguments)
        given = shapes[:n_in]
        try:
            ret = self.prop.infer_shape([list(s) if s is not None else [] for s in given])
        except Exception:
            # An operator's inference usually needs its inputs' shapes: wait for them.
            if any(s is None for s in given):
                return None
            raise
        ins, outs, aux = self._split(ret, "infer_shape")
        return ([self._shape(s, "input", i) for i, s in enumerate(ins + aux)],
                [self._shape(s, "output", i) for i, s in enumerate(outs)])

    def _shape(self, s, kind: str, i: int):
        try:
            dims = [int(d) for d in s]
        except (TypeError, ValueError):
            raise MXNetError(f"infer_shape returned {s!r} for {kind} {i}, expected a shape "
                             f"(a tuple of integers)") from None
        if any(d < 0 for d in dims):
            raise MXNetError(f"infer_shape returned {tuple(dims)} for {kind} {i}, expected "
                             f"dimensions >= 0")
        # MXNet's legacy shapes: () is a shape not known yet.
        return dims if dims else [-1]

    def infer_type(self, flags: list):
        n_in = len(self.arguments)
        given = [None if f < 0 else _operator._FLAG_TYPES[f] for f in flags[:n_in]]
        if given and given[0] is None:
            return None
        ret = self.prop.infer_type(given)
        ins, outs, aux = self._split(ret, "infer_type")
        return [self._flag(t) for t in ins + aux], [self._flag(t) for t in outs]

    @staticmethod
    def _flag(t) -> int:
        if t is None:
            return -1
        try:
            return _operator._TYPE_FLAGS[np.dtype(t)]
        except (KeyError, TypeError):
            raise MXNetError(f"infer_type returned {t!r}, expected one of "
                             f"{', '.join(str(np.dtype(v)) for v in _operator._FLAG_TYPES.values())}"
                             ) from None

    # --- running -----------------------------------------------------------------------------
    def _operator(self, ctx: Context, inputs: list):
        key = tuple((a.shape, a._h.dtype) for a in inputs)
        op = self._ops.get(key)
        if op is None:
            op = self.prop.create_operator(ctx, [list(a.shape) for a in inputs],
                                           [a._h.dtype for a in inputs])
            if len(self._ops) >= _MAX_OPERATORS:
                self._ops.clear()
            self._ops[key] = op
        return op

    def forward(self, dev_id: int, is_train: bool, req: list, groups: list):
        try:
            ctx = Context("cpu", dev_id)
            in_data, out_data, aux = [[NDArray._wrap(h, ctx) for h in g] for g in groups]
            op = self._operator(ctx, in_data + aux)
            with ctx:
                op.forward(is_train=is_train, req=req, in_data=in_data, out_data=out_data,
                           aux=aux)
        except BaseException:  # noqa: B036  (reported to whoever waits, as MXNet reports it)
            return traceback.format_exc()
        return None

    def backward(self, dev_id: int, is_train: bool, req: list, groups: list):
        try:
            ctx = Context("cpu", dev_id)
            out_grad, in_data, out_data, in_grad, aux = [[NDArray._wrap(h, ctx) for h in g]
                                                         for g in groups]
            op = self._operator(ctx, in_data + aux)
            with ctx:
                op.backward(req=req, out_grad=out_grad, in_data=in_data, out_data=out_data,
                            in_grad=in_grad, aux=aux)
        except BaseException:  # noqa: B036
            return traceback.format_exc()
        return None


def make_bridge(op_type: str, kwargs: dict) -> _Bridge:
    """The bridge for one parse of Custom's attributes."""
    return _Bridge(op_type, kwargs)
