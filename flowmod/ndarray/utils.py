"""Saving and loading NDArrays in MXNet 1.x's binary format (``mx.nd.save``, ``mx.nd.load``).

The format lives in ``flowmod.params_format``; this module converts between NDArrays and the
numpy arrays it reads and writes. Files written here load in MXNet 1.x, and MXNet's load here.
"""
from __future__ import annotations

import numpy as np

from .. import params_format
from ..base import MXNetError
from ..context import Context
from .ndarray import NDArray, _DTYPE_FLAGS, array

__all__ = ["save", "load", "load_frombuffer"]


def _to_numpy(data, func: str):
    if isinstance(data, NDArray):
        return [data.asnumpy()]
    if isinstance(data, (list, tuple)):
        out = []
        for i, item in enumerate(data):
            if not isinstance(item, NDArray):
                raise MXNetError(f"{func}(data): data[{i}] is {type(item).__name__}, "
                                 f"expected an NDArray")
            out.append(item.asnumpy())
        return out
    if isinstance(data, dict):
        out = {}
        for key, item in data.items():
            if not isinstance(key, str):
                raise MXNetError(f"{func}(data): key {key!r} is not a str")
            if not isinstance(item, NDArray):
                raise MXNetError(f"{func}(data): data[{key!r}] is {type(item).__name__}, "
                                 f"expected an NDArray")
            out[key] = item.asnumpy()
        return out
    raise MXNetError(f"{func}(data={type(data).__name__}): expected an NDArray, a list of "
                     f"NDArrays or a dict of str to NDArray")


def _from_numpy(loaded, ctx: Context | None):
    def convert(key, host: np.ndarray) -> NDArray:
        if host.dtype not in _DTYPE_FLAGS:
            raise MXNetError(f"load: array {key!r} has type {host.dtype}, which flowmod's "
                             f"NDArray does not support")
        return array(host, ctx=ctx, dtype=host.dtype)

    if isinstance(loaded, dict):
        return {k: convert(k, v) for k, v in loaded.items()}
    return [convert(i, v) for i, v in enumerate(loaded)]


def save(fname, data) -> None:
    """save(fname, data)

    Saves an NDArray, a list of NDArrays or a dict of str to NDArray to ``fname`` in MXNet's
    binary format. Waits for pending writes of the arrays. The file is replaced atomically:
    readers see the old file or the new one, never a mixture.
    """
    params_format.save(fname, _to_numpy(data, "save"))


def load(fname, ctx: Context | None = None):
    """load(fname, ctx=None)

    Loads a file written by ``save`` or by MXNet 1.x's ``mx.nd.save`` (``.params`` files
    among them): a dict of str to NDArray if the file has names, else a list. A truncated or
    corrupted file raises MXNetError.
    """
    return _from_numpy(params_format.load(fname), ctx)


def load_frombuffer(buf, ctx: Context | None = None):
    """load_frombuffer(buf, ctx=None): ``load`` from the bytes of such a file."""
    return _from_numpy(params_format.loads(buf), ctx)
