"""mx.nd.Custom: an operator written in Python (flowmod.operator) applied to NDArrays."""
from __future__ import annotations

from .. import _native
from ..base import MXNetError
from .ndarray import NDArray
from .ops import _attr_string, _prepared, _push


def _placed(op_type: str, data: tuple, named: dict, attrs: dict) -> list:
    """The inputs in the order the prop lists them (arguments, then auxiliary states): those
    given by position first, then those given by name."""
    info = _native.op_info("Custom", {k: _attr_string(v) for k, v in attrs.items()})
    order = list(info["arguments"]) + list(info["aux"])
    slots = dict(zip(order, data))
    for key, value in named.items():
        if key not in order:
            raise MXNetError(f"Custom ({op_type}): {key}=<NDArray>: expected an input named one "
                             f"of {', '.join(order)}")
        if key in slots:
            raise TypeError(f"Custom() got multiple values for argument '{key}'")
        slots[key] = value
    missing = [k for k in order if k not in slots]
    if missing:
        raise MXNetError(f"Custom ({op_type}): input {missing[0]!r} is missing")
    return [slots[k] for k in order]


def Custom(*data, op_type: str | None = None, out=None, name: str | None = None, **kwargs):
    """Custom(*data, op_type, out=None, name=None, **kwargs)

    Runs the custom operator registered as ``op_type`` (``mx.operator.register``) on the
    NDArrays ``data``: its arguments, then its auxiliary states, in the order its prop lists
    them (or by those names as keyword arguments). Other keyword arguments reach the prop's
    ``__init__`` as strings. Returns its output, or a list when it has several."""
    if op_type is None:
        raise MXNetError("Custom: op_type is required: the name the operator's CustomOpProp "
                         "was registered under")
    for i, x in enumerate(data):
        if not isinstance(x, NDArray):
            raise MXNetError(f"Custom ({op_type}): input {i} is {x!r}, expected an NDArray")
    named = None
    for v in kwargs.values():
        if isinstance(v, NDArray):
            named = {k: v for k, v in kwargs.items() if isinstance(v, NDArray)}
            kwargs = {k: v for k, v in kwargs.items() if k not in named}
            break
    kwargs["op_type"] = op_type
    inputs = data if named is None else _placed(op_type, data, named, kwargs)
    return _push("Custom", _prepared("Custom", kwargs), [x._h for x in inputs], inputs, out)
