"""Operators written in Python (``mxnet.operator``): subclass :class:`CustomOp` for the
computation and :class:`CustomOpProp` for its interface, register the prop under a name, and
use it as ``mx.sym.Custom(data, op_type=name)`` or ``mx.nd.Custom(x, op_type=name)``.

Example::

    class Square(mx.operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            self.assign(out_data[0], req[0], in_data[0] * in_data[0])

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            self.assign(in_grad[0], req[0], 2 * in_data[0] * out_grad[0])

    @mx.operator.register("square")
    class SquareProp(mx.operator.CustomOpProp):
        def create_operator(self, ctx, shapes, dtypes):
            return Square()

    y = mx.nd.Custom(mx.nd.array([1, 2, 3]), op_type="square")

A custom operator's forward and backward run as engine operations of their own, on the
device's Python lane: its worker holds the interpreter's lock only while the operator's
code runs, so native operators of other branches keep running meanwhile. The arrays it is
handed are its inputs' and outputs' storage; what it pushes on them (an assignment, ``mx.nd``
operators) is ordered as usual, and the operation finishes once all of it has. An exception
raised inside reaches whoever waits for the outputs as ``MXNetError``, with its traceback.
"""
from __future__ import annotations

import traceback
from typing import Callable

import numpy as np

from . import _native
from .base import MXNetError
from .context import Context

__all__ = ["CustomOp", "CustomOpProp", "register", "get_all_registered_operators"]

# MXNet's type flags, as infer_type sees them (numpy types) and create_operator (flags).
_FLAG_TYPES = {0: np.float32, 1: np.float64, 2: np.float16, 3: np.uint8, 4: np.int32,
               5: np.int8, 6: np.int64, 7: np.bool_}
_TYPE_FLAGS = {np.dtype(t): f for f, t in _FLAG_TYPES.items()}


class CustomOp:
    """CustomOp()

    The computation of an operator written in Python. Override :meth:`forward` and
    :meth:`backward`; write results with :meth:`assign`, which honours ``req``."""

    def __init__(self) -> None:
        pass

    def forward(self, is_train: bool, req: list, in_data: list, out_data: list, aux: list) -> None:
        """forward(is_train, req, in_data, out_data, aux)

        Computes ``out_data`` from ``in_data``. ``req`` holds one of 'null', 'write',
        'inplace' or 'add' per output; ``aux`` are the auxiliary states (writable)."""
        pass

    def backward(self, req: list, out_grad: list, in_data: list, out_data: list, in_grad: list,
                 aux: list) -> None:
        """backward(req, out_grad, in_data, out_data, in_grad, aux)

        Computes ``in_grad`` (one per argument, under ``req``) from the gradients of the
        outputs ``out_grad`` and the forward's arrays."""
        pass

    def assign(self, dst, req: str, src) -> None:
        """assign(dst, req, src): ``dst[:] = src`` for 'write' and 'inplace', ``dst[:] += src``
        for 'add', nothing for 'null'."""
        if req == "null":
            return
        if req in ("write", "inplace"):
            dst[:] = src
        elif req == "add":
            dst[:] += src
        else:
            raise MXNetError(f"assign: req={req!r}: expected 'null', 'write', 'inplace' or 'add'")


class CustomOpProp:
    """CustomOpProp(need_top_grad=True)

    The interface of an operator written in Python: its arguments, outputs and auxiliary
    states, their shapes and types, what its backward reads, and the :class:`CustomOp` that
    computes it. Keyword arguments given to ``mx.sym.Custom``/``mx.nd.Custom`` (besides
    ``op_type``) reach ``__init__`` as strings, as in MXNet.

    Parameters
    ----------
    need_top_grad : bool
        False for a loss: its backward takes no gradient from the operators above.
    """

    def __init__(self, need_top_grad: bool = True) -> None:
        self.need_top_grad_ = need_top_grad

    def infer_shape(self, in_shape: list) -> tuple:
        """infer_shape(in_shape) -> (in_shapes, out_shapes[, aux_shapes]): every output
        shaped as the first input, no auxiliary state."""
        return in_shape, (in_shape[0],) * len(self.list_outputs()), ()

    def infer_type(self, in_type: list) -> tuple:
        """infer_type(in_type) -> (in_types, out_types[, aux_types]): every output and
        auxiliary state of the first input's type."""
        return (in_type, [in_type[0]] * len(self.list_outputs()),
                [in_type[0]] * len(self.list_auxiliary_states()))

    def infer_storage_type(self, in_stype: list) -> tuple:
        """infer_storage_type(in_stype) -> (in, out, aux) storage types: all 'default'."""
        for i, stype in enumerate(in_stype):
            if stype != "default":
                raise MXNetError(f"infer_storage_type: input {i} has storage type {stype!r}; "
                                 f"the default implementation takes 'default' only")
        return (in_stype, ["default"] * len(self.list_outputs()),
                ["default"] * len(self.list_auxiliary_states()))

    def infer_storage_type_backward(self, ograd_stype: list, in_stype: list, out_stype: list,
                                    igrad_stype: list, aux_stype: list) -> tuple:
        """infer_storage_type_backward(ograd_stype, in_stype, out_stype, igrad_stype,
        aux_stype): every storage type 'default'."""
        lists = [ograd_stype, in_stype, out_stype, igrad_stype, aux_stype]
        for stypes in lists:
            if any(s not in ("default", "undefined", None) for s in stypes):
                raise MXNetError("infer_storage_type_backward: the default implementation "
                                 "takes storage type 'default' only")
        return tuple(["default"] * len(s) for s in lists)

    def list_outputs(self) -> list:
        """list_outputs() -> ['output']"""
        return ["output"]

    def list_arguments(self) -> list:
        """list_arguments() -> ['data']"""
        return ["data"]

    def list_auxiliary_states(self) -> list:
        """list_auxiliary_states() -> []"""
        return []

    def declare_backward_dependency(self, out_grad: list, in_data: list, out_data: list) -> list:
        """declare_backward_dependency(out_grad, in_data, out_data) -> list of int: the ids
        of what backward reads (all of them; the output gradients only when
        need_top_grad)."""
        deps = []
        if self.need_top_grad_:
            deps.extend(out_grad)
        deps.extend(in_data)
        deps.extend(out_data)
        return deps

    def create_operator(self, ctx: Context, in_shapes: list, in_dtypes: list) -> CustomOp:
        """create_operator(ctx, in_shapes, in_dtypes) -> CustomOp: the operator for these
        input shapes and type flags (arguments, then auxiliary states), on ``ctx``."""
        return CustomOp()


_REGISTRY: dict[str, type] = {}


def register(reg_name: str) -> Callable[[type], type]:
    """register(reg_name): a class decorator registering a :class:`CustomOpProp` subclass
    under ``reg_name``, the ``op_type`` of ``mx.sym.Custom``/``mx.nd.Custom``."""
    if not isinstance(reg_name, str) or not reg_name:
        raise MXNetError(f"register: reg_name={reg_name!r}: expected a non-empty string")

    def do_register(prop_cls: type) -> type:
        if not (isinstance(prop_cls, type) and issubclass(prop_cls, CustomOpProp)):
            raise MXNetError(f"register({reg_name!r}): {prop_cls!r} is not a subclass of "
                             f"mx.operator.CustomOpProp")
        _REGISTRY[reg_name] = prop_cls
        return prop_cls

    return do_register


def get_all_registered_operators() -> list:
    """get_all_registered_operators() -> list of str: the names of every registered
    operator (the native ones; operators written in Python are all 'Custom')."""
    return list(_native.list_ops())


from ._custom_bridge import make_bridge as _bridge  # noqa: E402  (the native side's entry)
