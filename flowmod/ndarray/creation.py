"""Arrays made from numbers alone by native operators: ``mx.nd.linspace`` (``_linspace``)
and ``mx.nd.eye`` (``_eye``), with MXNet 1.9's signatures."""
from __future__ import annotations

import numpy as np

from ..base import MXNetError
from .ndarray import NDArray, _context
from .ops import OP_FUNCTIONS

__all__ = ["linspace", "eye"]


def _dtype_name(dtype, fn: str) -> str:
    try:
        return np.dtype(np.float32 if dtype is None else dtype).name
    except TypeError:
        raise MXNetError(f"mx.nd.{fn}: dtype={dtype!r}: expected a numpy type or its name") from None


def _placed(result: NDArray, ctx) -> NDArray:
    return result if ctx is None else result.as_in_context(_context(ctx))


def linspace(start, stop, num, endpoint=True, ctx=None, dtype=np.float32) -> NDArray:
    """linspace(start, stop, num, endpoint=True, ctx=None, dtype=float32): ``num`` evenly
    spaced numbers from ``start`` to ``stop``, ``stop`` included unless ``endpoint`` is False
    (numpy.linspace). Integer types truncate each value toward zero.

    >>> mx.nd.linspace(2.0, 3.0, 5).asnumpy()
    array([2.  , 2.25, 2.5 , 2.75, 3.  ], dtype=float32)
    """
    return _placed(OP_FUNCTIONS["_linspace"](start=start, stop=stop, num=num, endpoint=endpoint,
                                             dtype=_dtype_name(dtype, "linspace")), ctx)


def eye(N, M=0, k=0, ctx=None, dtype=None, **kwargs) -> NDArray:
    """eye(N, M=0, k=0, ctx=None, dtype=None, **kwargs): an N x M array (N x N when M is 0)
    with ones on diagonal ``k`` (0 the main one, positive above it, negative below) and zeros
    elsewhere; float32 unless ``dtype`` is given."""
    return _placed(OP_FUNCTIONS["_eye"](N=N, M=M, k=k, dtype=_dtype_name(dtype, "eye"), **kwargs),
                   ctx)
