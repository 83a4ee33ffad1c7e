"""Updates of several parameters in one push: the grouping MXNet 1.9's Updater does (by
weight type, in groups of the optimizer's ``aggregate_num``) and SGD's dispatch to the
single-weight and multi-weight operators, with and without float32 master copies.

A state under ``multi_precision`` is ``(float32 master copy, inner state)``, as
:meth:`Optimizer.create_state_multi_precision` makes it.
"""
from __future__ import annotations

import os

import numpy as np

from ..base import MXNetError
from ..ndarray import NDArray
from ..ndarray.ops import invoke

__all__ = ["size_from_env", "as_lists", "groups", "sgd_single", "sgd_group"]


def size_from_env(default: int, limit: int | None = None) -> int:
    """``MXNET_OPTIMIZER_AGGREGATION_SIZE`` as an int (``default`` when unset), at most
    ``limit`` and at least 1 when a limit is given (LAMB's), as MXNet reads it."""
    text = os.getenv("MXNET_OPTIMIZER_AGGREGATION_SIZE", str(default))
    try:
        size = int(text)
    except ValueError:
        raise MXNetError(f"MXNET_OPTIMIZER_AGGREGATION_SIZE={text!r}: expected an integer") from None
    if limit is not None:
        size = max(1, min(limit, size))
    return size


def as_lists(index, weight, grad, state) -> tuple:
    """(indices, weights, grads, states) as lists, from one parameter's or several."""
    if isinstance(index, (list, tuple)):
        indices, weights, grads, states = list(index), list(weight), list(grad), list(state)
        if not len(indices) == len(weights) == len(grads) == len(states):
            raise ValueError(f"update: {len(indices)} indices, {len(weights)} weights, "
                             f"{len(grads)} gradients and {len(states)} states: expected as "
                             f"many of each")
        return indices, weights, grads, states
    return [index], [weight], [grad], [state]


def groups(items: list, size: int) -> list:
    """``items`` (index, weight, grad) grouped by weight type in order of first appearance,
    each type's run cut into pieces of at most ``size``."""
    by_type: dict = {}
    for item in items:
        by_type.setdefault(item[1].dtype, []).append(item)
    out = []
    for run in by_type.values():
        for start in range(0, len(run), size):
            out.append(run[start:start + size])
    return out


def sgd_single(weight, grad, state, lr, wd, mixed, momentum, lazy_update, kwargs) -> None:
    """One SGD step of one parameter, in place."""
    if mixed and grad.dtype != weight.dtype:
        # A float32 gradient for a float16 weight (MXNet's operators take the weight's type):
        # the step is taken on the master copy in float32 and rounded into the weight.
        master, mom = state
        sgd_single(master, grad, mom, lr, wd, False, momentum, lazy_update, kwargs)
        invoke("cast", [master], out=weight, dtype=str(np.dtype(weight.dtype)))
        return
    if mixed:
        master, mom = state
        if mom is not None:
            invoke("mp_sgd_mom_update", [weight, grad, mom, master], out=weight, lr=lr, wd=wd,
                   lazy_update=lazy_update, **kwargs)
        else:
            kwargs = {k: v for k, v in kwargs.items() if k != "momentum"}
            invoke("mp_sgd_update", [weight, grad, master], out=weight, lr=lr, wd=wd,
                   lazy_update=lazy_update, **kwargs)
    elif state is not None:
        invoke("sgd_mom_update", [weight, grad, state], out=weight, lr=lr, wd=wd,
               lazy_update=lazy_update, **kwargs)
    else:
        kwargs = {k: v for k, v in kwargs.items() if k != "momentum"}
        invoke("sgd_update", [weight, grad], out=weight, lr=lr, wd=wd,
               lazy_update=lazy_update, **kwargs)


def _dense_pairs(weights, grads) -> bool:
    """Whether every (weight, gradient) pair is dense and of one type."""
    for w, g in zip(weights, grads):
        if type(w) is NDArray and type(g) is NDArray:
            if w._h.dtype != g._h.dtype:
                return False
        elif g.dtype != w.dtype or g.stype != "default" or w.stype != "default":
            return False
    return True


def sgd_group(weights, grads, states, lrs, wds, mixed, momentum, kwargs) -> None:
    """One SGD step of each parameter, in place, in one multi-weight push."""
    # Sparse gradients go one weight at a time (MXNet's multi-weight updates are dense only).
    if not _dense_pairs(weights, grads):
        for w, g, s, lr, wd in zip(weights, grads, states, lrs, wds):
            sgd_single(w, g, s, lr, wd, mixed, momentum, True, dict(kwargs))
        return
    flat = []
    for w, g, s in zip(weights, grads, states):
        flat += [w, g]
        if mixed:
            master, mom = s
            flat += ([mom] if momentum else []) + [master]
        elif momentum:
            flat.append(s)
    op = ("multi_mp_" if mixed else "multi_") + ("sgd_mom_update" if momentum else "sgd_update")
    if not momentum:
        kwargs = {k: v for k, v in kwargs.items() if k != "momentum"}
    invoke(op, flat, out=list(weights), num_weights=len(weights), lrs=tuple(lrs), wds=tuple(wds),
           **kwargs)
