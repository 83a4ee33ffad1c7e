"""Saving and loading NDArrays in MXNet 1.x's binary format (``mx.nd.save``, ``mx.nd.load``).

The format lives in ``flowmod.params_format``; this module converts between NDArrays and the
numpy arrays it reads and writes. Files written here load in MXNet 1.x, and MXNet's load here.
"""
from __future__ import annotations

import numpy as np

from .. import params_format
from ..base import MXNetError
from ..context import Context
from .ndarray import NDArray, _DTYPE_FLAGS, _context, array
from .sparse import CSRNDArray, RowSparseNDArray

__all__ = ["save", "load", "load_frombuffer"]


def _host(item: NDArray):
    """What the file holds for ``item``: its values, or for a sparse array its components."""
    if item.stype == "default":
        return item.asnumpy()
    return params_format.SparseArray(item.stype, item.shape, item.data.asnumpy(),
                                     [a.asnumpy() for a in item._aux])


def _to_numpy(data, func: str):
    if isinstance(data, NDArray):
        return [_host(data)]
    if isinstance(data, (list, tuple)):
        out = []
        for i, item in enumerate(data):
            if not isinstance(item, NDArray):
                raise MXNetError(f"{func}(data): data[{i}] is {type(item).__name__}, "
                                 f"expected an NDArray")
            out.append(_host(item))
        return out
    if isinstance(data, dict):
        out = {}
        for key, item in data.items():
            if not isinstance(key, str):
                raise MXNetError(f"{func}(data): key {key!r} is not a str")
            if not isinstance(item, NDArray):
                raise MXNetError(f"{func}(data): data[{key!r}] is {type(item).__name__}, "
                                 f"expected an NDArray")
            out[key] = _host(item)
        return out
    raise MXNetError(f"{func}(data={type(data).__name__}): expected an NDArray, a list of "
                     f"NDArrays or a dict of str to NDArray")


def _from_numpy(loaded, ctx: Context | None):
    def convert(key, host) -> NDArray:
        if isinstance(host, params_format.SparseArray):
            return sparse_array(key, host)
        if host.dtype not in _DTYPE_FLAGS:
            raise MXNetError(f"load: array {key!r} has type {host.dtype}, which flowmod's "
                             f"NDArray does not support")
        return array(host, ctx=ctx, dtype=host.dtype)

    def sparse_array(key, rec):
        if rec.data.dtype not in _DTYPE_FLAGS:
            raise MXNetError(f"load: array {key!r} has type {rec.data.dtype}, which flowmod's "
                             f"NDArray does not support")
        place = _context(ctx)
        data = array(rec.data, ctx=place, dtype=rec.data.dtype)
        aux = [array(a, ctx=place, dtype=np.int64) for a in rec.aux]
        cls = CSRNDArray if rec.stype == "csr" else RowSparseNDArray
        return cls._make(rec.shape, data, aux, place)

    if isinstance(loaded, dict):
        return {k: convert(k, v) for k, v in loaded.items()}
    return [convert(i, v) for i, v in enumerate(loaded)]


def save(fname, data) -> None:
    """save(fname, data)

    Saves an NDArray, a list of NDArrays or a dict of str to NDArray to ``fname`` in MXNet's
    binary format (sparse arrays in MXNet's sparse records). Waits for pending writes of the arrays. The file is replaced atomically:
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
