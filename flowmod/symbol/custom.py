"""mx.sym.Custom: an operator written in Python (flowmod.operator) in a symbolic graph."""
from __future__ import annotations

from ..base import MXNetError
from .symbol import Symbol, _create


def Custom(*data, op_type: str | None = None, name: str | None = None, attr: dict | None = None,
           **kwargs) -> Symbol:
    """Custom(*data, op_type, name=None, attr=None, **kwargs)

    Applies the custom operator registered as ``op_type`` (``mx.operator.register``) to the
    symbols ``data``, placed as its prop lists its arguments and auxiliary states, or given
    by those names as keyword arguments; inputs not given become variables named
    ``<name>_<argument>`` (``softmax_label``). Other keyword arguments reach the prop's
    ``__init__`` as strings, and are saved with the graph."""
    if op_type is None:
        raise MXNetError("Custom: op_type is required: the name the operator's CustomOpProp "
                         "was registered under")
    for i, a in enumerate(data):
        if not isinstance(a, Symbol):
            raise TypeError(f"Custom: positional argument {i} is {a!r}, expected a Symbol "
                            f"(attributes go by keyword)")
    return _create("Custom", data, dict(kwargs, op_type=op_type), name, attr, "custom")
