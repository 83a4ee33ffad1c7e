"""LBSGD, large-batch SGD: SGD with momentum whose steps are taken once every ``batch_scale``
updates, on the mean of the gradients received since the last step, with a learning rate
warmed up over the first epochs (or scaled per layer, LARS), as MXNet 1.9.1's."""
from __future__ import annotations

import logging
import math
import warnings

import numpy as np

from ..ndarray import NDArray, zeros
from ..ndarray.ops import invoke
from .optimizer import Optimizer, register

_log = logging.getLogger(__name__)

__all__ = ["LBSGD"]

_STRATEGIES = ("linear", "power2", "sqrt", "lars")


@register
class LBSGD(Optimizer):
    """LBSGD(momentum=0.0, multi_precision=False, warmup_strategy='linear', warmup_epochs=5,
    batch_scale=1, updates_per_epoch=32, begin_epoch=0, num_epochs=60, **kwargs)

    Every ``batch_scale``-th update of a parameter takes the SGD step::

        grad = (sum of the gradients since the last step) / batch_scale
        state = momentum * state + lr * mult * (clip(rescale_grad * grad) + wd * weight)
        weight = weight - state

    and the other updates leave the weight as it is. ``mult`` grows from 1 to
    ``batch_scale`` over ``warmup_epochs * updates_per_epoch`` updates, linearly
    (``'linear'``), quadratically (``'power2'``) or as a square root (``'sqrt'``); with
    ``'lars'`` it is ``sqrt(|w|^2 / (|g|^2 + wd |w|^2 + 1e-18))`` clipped to [0.01, 100].
    ``begin_epoch`` starts the update count at ``begin_epoch * updates_per_epoch``.
    """

    def __init__(self, momentum=0.0, multi_precision=False, warmup_strategy="linear",
                 warmup_epochs=5, batch_scale=1, updates_per_epoch=32, begin_epoch=0,
                 num_epochs=60, **kwargs):
        super().__init__(**kwargs)
        _check_number("momentum", momentum)
        for key, value in (("warmup_epochs", warmup_epochs), ("updates_per_epoch", updates_per_epoch),
                           ("begin_epoch", begin_epoch), ("num_epochs", num_epochs)):
            _check_number(key, value)
        if not isinstance(batch_scale, (int, float, np.number)) or isinstance(batch_scale, bool) \
                or batch_scale <= 0:
            raise ValueError(f"LBSGD: batch_scale={batch_scale!r}: expected a number > 0 (the "
                             f"number of updates whose gradients make one step)")
        if not isinstance(warmup_strategy, str):
            raise ValueError(f"LBSGD: warmup_strategy={warmup_strategy!r}: expected one of "
                             f"{', '.join(_STRATEGIES)}")
        _log.info("Running Large-Batch SGD Algorithm")
        _log.info("(Batch_scale=%f, warmup_epochs=%d, warmup_strategy=%s, updates_per_epoch=%d)",
                     batch_scale, warmup_epochs, warmup_strategy, updates_per_epoch)
        self.momentum = momentum
        self.multi_precision = multi_precision
        self.warmup_strategy = warmup_strategy
        self.warmup_epochs = warmup_epochs
        self.batch_scale = batch_scale
        self.updates_per_epoch = updates_per_epoch
        self.init_updates = begin_epoch * updates_per_epoch
        self.num_epochs = num_epochs
        self.lbmult = 1
        self.cumgrads = {}
        self.adaptive = False
        self.admult = 1

    def create_state(self, index, weight):
        """The momentum (None when ``momentum`` is 0); for a float16 weight under
        ``multi_precision``, ``(momentum, float32 copy of weight)``."""
        momentum = None
        if self.multi_precision and weight.dtype == np.float16:
            master = weight.astype(np.float32)
            if self.momentum != 0.0:
                momentum = zeros(weight.shape, weight.context, dtype=np.float32)
            return (momentum, master)
        if weight.dtype == np.float16 and not self.multi_precision:
            warnings.warn("Accumulating with float16 in optimizer can lead to poor accuracy or slow "
                          "convergence. Consider using multi_precision=True option of the SGD optimizer")
        if self.momentum != 0.0:
            momentum = zeros(weight.shape, weight.context, dtype=weight.dtype)
        return momentum

    def _get_lbmult(self, nup):
        """The warmup's learning rate multiplier after ``nup`` updates."""
        nwup = self.warmup_epochs * self.updates_per_epoch
        maxmult = float(self.batch_scale)
        if nup >= nwup:
            return maxmult
        if nwup <= 1:
            return 1.0
        if self.warmup_strategy == "linear":
            return 1.0 + (maxmult - 1) * nup / nwup
        if self.warmup_strategy == "power2":
            return 1.0 + (maxmult - 1) * (nup * nup) / (nwup * nwup)
        if self.warmup_strategy == "sqrt":
            return 1.0 + (maxmult - 1) * math.sqrt(float(nup) / nwup)
        return 1.0

    def _get_lars(self, weight, g, wd):
        """The layer's LARS multiplier, clipped to [0.01, 100]."""
        weight2 = self._l2norm(weight)
        grad2 = self._l2norm(g)
        lars = math.sqrt(weight2 / (grad2 + wd * weight2 + 1e-18))
        return min(max(lars, 0.01), 100)

    def _l2norm(self, v):
        """The sum of squares of ``v`` (waits for it)."""
        return (v * v).asnumpy().sum()

    def _reset_cum_gradient(self, index):
        self.cumgrads[index]["cum_grad"] = 0

    def _get_cum_gradient(self, index):
        return self.cumgrads.get(index, {})

    def _put_cum_gradient(self, index, cgrad):
        self.cumgrads[index] = cgrad

    def _cumulate_gradient(self, grad, index):
        """Adds ``grad`` to the gradients of ``index`` since its last step."""
        cgrad = self._get_cum_gradient(index)
        if cgrad and cgrad["num_cums"] > 0:
            cum_grad = cgrad["cum_grad"] + grad
            num_cums = cgrad["num_cums"] + 1
        else:
            cum_grad = grad
            num_cums = self.init_updates + 1
        cgrad = {"cum_grad": cum_grad, "num_cums": num_cums}
        self._put_cum_gradient(index, cgrad)
        return cgrad

    def update(self, index, weight, grad, state):
        _check_nd(weight, "weight")
        _check_nd(grad, "grad")
        # MXNet reads the rate before counting the update.
        lr = self._get_lr(index)
        wd = self._get_wd(index)
        self._update_count(index)
        cgrad = self._cumulate_gradient(grad, index)
        if cgrad["num_cums"] % self.batch_scale != 0:
            invoke("sgd_update", [weight, grad], out=weight, lr=0.0, wd=wd)
            return
        grad = cgrad["cum_grad"] / self.batch_scale
        if self.warmup_strategy == "lars":
            lbmult = self._get_lars(weight, grad, wd)
        else:
            lbmult = self._get_lbmult(cgrad["num_cums"])
        kwargs = {"rescale_grad": self.rescale_grad, "lr": lr * lbmult, "wd": wd}
        if self.momentum > 0:
            kwargs["momentum"] = self.momentum
        if self.clip_gradient:
            kwargs["clip_gradient"] = self.clip_gradient
        if not isinstance(state, (list, tuple)):
            if state is not None:
                invoke("sgd_mom_update", [weight, grad, state], out=weight, **kwargs)
            else:
                invoke("sgd_update", [weight, grad], out=weight, **kwargs)
        elif state[0] is not None:
            invoke("mp_sgd_mom_update", [weight, grad, state[0], state[1]], out=weight, **kwargs)
        else:
            invoke("mp_sgd_update", [weight, grad, state[1]], out=weight, **kwargs)
        self._reset_cum_gradient(index)


def _check_number(key, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"LBSGD: {key}={value!r}: expected a number")


def _check_nd(value, arg):
    if not isinstance(value, NDArray):
        raise TypeError(f"LBSGD.update: {arg}={value!r}: expected an NDArray")
