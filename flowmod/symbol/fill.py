"""Constant-filled symbols (``mxnet.symbol.zeros``, ``ones``, ``full``, ``eye``) and ranges
(``arange``, ``linspace``): graph nodes with no inputs. A 0 in a fill's ``shape`` is an unknown dimension
that shape inference fills from the node's consumers, which is how an RNN cell's begin state
``zeros(shape=(0, num_hidden))`` takes the batch size of the data it meets."""
from __future__ import annotations

import numbers

import numpy as np

from ..base import MXNetError
from .symbol import OP_FUNCTIONS, Symbol

__all__ = ["zeros", "ones", "full", "arange", "linspace", "eye"]


def _check_shape(fn: str, shape) -> tuple:
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        dims = tuple(shape)
    except TypeError:
        dims = None
    if dims is None or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool)
                               and d >= 0 for d in dims):
        raise MXNetError(f"mx.sym.{fn}: shape={shape!r}: expected a tuple of non-negative "
                         f"integers (0 for a dimension inferred from the consumers)")
    return tuple(int(d) for d in dims)


def _fill_node(fn: str, op: str, shape, dtype, kwargs) -> Symbol:
    shape = _check_shape(fn, shape)
    dtype = np.dtype(np.float32 if dtype is None else dtype).name
    return OP_FUNCTIONS[op](shape=shape, dtype=dtype, **kwargs)


def zeros(shape, dtype=None, **kwargs) -> Symbol:
    """zeros(shape, dtype=None, name=None, attr=None, **kwargs): a symbol of zeros of
    ``shape`` (float32 unless ``dtype`` is given); 0 marks a dimension to infer."""
    return _fill_node("zeros", "_zeros", shape, dtype, kwargs)


def ones(shape, dtype=None, **kwargs) -> Symbol:
    """ones(shape, dtype=None, name=None, attr=None, **kwargs): a symbol of ones of
    ``shape`` (float32 unless ``dtype`` is given); 0 marks a dimension to infer."""
    return _fill_node("ones", "_ones", shape, dtype, kwargs)


def full(shape, val, dtype=None, **kwargs) -> Symbol:
    """full(shape, val, dtype=None, name=None, attr=None, **kwargs): a symbol of ``shape``
    filled with the number ``val``; 0 marks a dimension to infer."""
    if not isinstance(val, numbers.Number) or isinstance(val, bool):
        raise MXNetError(f"mx.sym.full: val={val!r}: expected a number")
    return _fill_node("full", "_full", shape, dtype, {"value": float(val), **kwargs})


def arange(start, stop=None, step=1.0, repeat=1, infer_range=False, name=None,
           dtype=None) -> Symbol:
    """arange(start, stop=None, step=1.0, repeat=1, infer_range=False, name=None, dtype=None):
    a symbol of evenly spaced values in [start, stop) (in [0, start) when stop is None), each
    repeated ``repeat`` times; float32 unless ``dtype`` is given."""
    dtype = np.dtype(np.float32 if dtype is None else dtype).name
    return OP_FUNCTIONS["_arange"](start=start, stop=stop, step=step, repeat=repeat,
                                   infer_range=infer_range, name=name, dtype=dtype)


def linspace(start, stop, num, endpoint=True, name=None, dtype=None) -> Symbol:
    """linspace(start, stop, num, endpoint=True, name=None, dtype=None): a symbol of ``num``
    evenly spaced numbers from ``start`` to ``stop`` (``stop`` included unless ``endpoint`` is
    False); float32 unless ``dtype`` is given."""
    dtype = np.dtype(np.float32 if dtype is None else dtype).name
    return OP_FUNCTIONS["_linspace"](start=start, stop=stop, num=num, endpoint=endpoint,
                                     name=name, dtype=dtype)


def eye(N, M=0, k=0, dtype=None, **kwargs) -> Symbol:
    """eye(N, M=0, k=0, dtype=None, name=None, attr=None, **kwargs): a symbol of an N x M
    array (N x N when M is 0) with ones on diagonal ``k`` and zeros elsewhere; float32 unless
    ``dtype`` is given."""
    dtype = np.dtype(np.float32 if dtype is None else dtype).name
    return OP_FUNCTIONS["_eye"](N=N, M=M, k=k, dtype=dtype, **kwargs)
