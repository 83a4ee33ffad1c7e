"""Checkpoints of a trained network (``mxnet.model``'s functions): the symbol as
``prefix-symbol.json`` and the parameters as ``prefix-EPOCH.params`` (MXNet's formats, so
checkpoints load in MXNet 1.x and MXNet's load here), and :data:`BatchEndParam`, what batch
callbacks receive.
"""
from __future__ import annotations

import logging
import numbers
import os
from collections import namedtuple

from . import checkpoint
from . import collective
from . import symbol as sym
from .base import MXNetError
from .ndarray import NDArray
from .ndarray.utils import _from_numpy, _to_numpy

# A named logger: records propagate to the handlers the application configures, and
# flowmod never installs one on the root logger (as logging.info would).
_log = logging.getLogger(__name__)

__all__ = ["BatchEndParam", "save_checkpoint", "load_checkpoint", "load_params",
           "write_checkpoint"]

BatchEndParam = namedtuple("BatchEndParams", ["epoch", "nbatch", "eval_metric", "locals"])
BatchEndParam.__doc__ = """BatchEndParam(epoch, nbatch, eval_metric, locals)

What batch-end callbacks (``Speedometer``, ``ProgressBar``, ...) receive: the epoch, the
number of the batch within it, the training metric and the caller's local variables."""


def _param_dict(params, arg: str) -> dict:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise MXNetError(f"save_checkpoint: {arg}={type(params).__name__}: expected a dict of "
                         f"str to NDArray")
    for key, value in params.items():
        if not isinstance(key, str) or not isinstance(value, NDArray):
            raise MXNetError(f"save_checkpoint: {arg}[{key!r}] is {type(value).__name__}: "
                             f"expected str keys and NDArray values")
    return params


def save_checkpoint(prefix, epoch, symbol, arg_params, aux_params, remove_amp_cast=True):
    """save_checkpoint(prefix, epoch, symbol, arg_params, aux_params, remove_amp_cast=True)

    Writes ``symbol`` (unless None) to ``prefix-symbol.json`` and the parameters to
    ``prefix-%04d.params`` % epoch, with the keys ``arg:NAME`` and ``aux:NAME``, and
    beside them ``prefix-%04d.manifest``, which lets a load tell a complete epoch from one
    whose save was interrupted (see :mod:`flowmod.checkpoint`). ``remove_amp_cast`` is
    accepted for compatibility: flowmod's graphs have no mixed-precision casts to remove.
    """
    if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral):
        raise MXNetError(f"save_checkpoint: epoch={epoch!r}: expected an integer")
    if symbol is not None and not isinstance(symbol, sym.Symbol):
        raise MXNetError(f"save_checkpoint: symbol={type(symbol).__name__}: expected a Symbol "
                         f"or None")
    arg_params = _param_dict(arg_params, "arg_params")
    aux_params = _param_dict(aux_params, "aux_params")
    save_dict = {f"arg:{k}": v for k, v in arg_params.items()}
    save_dict.update({f"aux:{k}": v for k, v in aux_params.items()})
    shared = ((f"{prefix}-symbol.json", symbol.tojson()),) if symbol is not None else ()
    write_checkpoint(prefix, epoch, save_dict, shared=shared)
    _log.info('Saved checkpoint to "%s"', checkpoint.params_name(prefix, epoch))


def write_checkpoint(prefix, epoch: int, save_dict: dict, states: bytes | None = None,
                     shared: tuple = ()) -> None:
    """Writes one epoch's checkpoint set (see :mod:`flowmod.checkpoint`): ``save_dict``
    (str to NDArray) as the params, ``states`` (optimizer state bytes) if not None, and the
    prefix's ``shared`` (file name, text) pairs. Write failures raise MXNetError. In a
    distributed job only rank 0 writes (every worker holds the same parameters)."""
    if collective.active_rank() != 0:
        return
    host = _to_numpy(save_dict, "save_checkpoint")
    try:
        checkpoint.save_set(prefix, epoch, host, states, shared)
    except OSError as e:
        raise MXNetError(f"save_checkpoint: cannot write the checkpoint of epoch {epoch} "
                         f"to prefix {os.fspath(prefix)!r}: {e}") from e


def load_params(prefix, epoch):
    """load_params(prefix, epoch) -> (arg_params, aux_params)

    The parameters of ``prefix-%04d.params`` % epoch, split by their ``arg:`` / ``aux:``
    prefixes (keys without one of them are left out).
    """
    param_name = checkpoint.params_name(prefix, epoch)
    save_dict = _from_numpy(checkpoint.read_params(prefix, epoch, "load_params"),
                                     None)
    arg_params: dict = {}
    aux_params: dict = {}
    if not save_dict:
        _log.warning("Params file '%s' is empty", param_name)
        return (arg_params, aux_params)
    if not isinstance(save_dict, dict):
        raise MXNetError(f"load_params: {param_name} holds unnamed arrays: expected "
                         f"'arg:NAME' / 'aux:NAME' keys")
    for key, value in save_dict.items():
        kind, _, name = key.partition(":")
        if kind == "arg":
            arg_params[name] = value
        elif kind == "aux":
            aux_params[name] = value
    return (arg_params, aux_params)


def load_checkpoint(prefix, epoch):
    """load_checkpoint(prefix, epoch) -> (symbol, arg_params, aux_params)

    Reads what ``save_checkpoint(prefix, epoch, ...)`` wrote. An epoch whose save was
    interrupted raises MXNetError naming the file missing or left from an earlier save.
    """
    symbol = sym.load(f"{prefix}-symbol.json")
    arg_params, aux_params = load_params(prefix, epoch)
    return (symbol, arg_params, aux_params)
