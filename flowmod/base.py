"""Errors and small shared definitions (``mxnet.base``'s public names)."""
from __future__ import annotations

import numbers

__all__ = ["MXNetError", "string_types", "numeric_types", "integer_types"]

string_types = (str,)
numeric_types = (float, int, numbers.Number)
integer_types = (int,)


class MXNetError(RuntimeError):
    """The error flowmod raises, as ``mxnet.base.MXNetError`` is MXNet's.

    Raised for bad arguments (naming the argument, the value received and what was
    expected) and where a failed operator's result is waited for. In that case the message
    reads ``operator 'NAME' failed: MESSAGE`` and the attributes ``op_name`` and
    ``op_message`` hold its two parts::

        try:
            flowmod.engine.wait(var)
        except flowmod.MXNetError as e:
            print(e.op_name, e.op_message)
    """

    op_name: str | None = None
    op_message: str | None = None
