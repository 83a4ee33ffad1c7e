"""LARS, layer-wise adaptive rate scaling (You et al., 2017): SGD whose learning rate is
scaled per layer by the ratio of the weight's norm to the gradient's, through MXNet's
``multi_lars`` and ``preloaded_multi_sgd_*`` operators (the rates stay on the device)."""
from __future__ import annotations

import numpy as np

from ..ndarray import NDArray, array
from ..ndarray.ops import invoke
from . import _aggregate
from ._hyperparameters import check_hyperparameters
from .optimizer import SGD, Optimizer, _check_array, register

__all__ = ["LARS"]

_NOT_SCALED = ("gamma", "beta", "bias")


@register
class LARS(Optimizer):
    """LARS(momentum=0.0, lazy_update=True, eta=0.001, eps=0, momentum_correction=True,
    **kwargs): SGD with momentum whose learning rate, for parameters whose names end neither
    with gamma, beta nor bias, is::

        lr * eta * norm(weight) / (norm(grad) * rescale_grad + wd * norm(weight) + eps)

    (``lr`` where either norm is 0). With ``momentum_correction`` the momentum is scaled by
    the ratio of the current learning rate to the previous one (Goyal et al., 2017). Only
    parameters named ``*_weight`` get weight decay. ``aggregate_num`` is
    ``MXNET_OPTIMIZER_AGGREGATION_SIZE`` (default 4).
    """

    def __init__(self, momentum=0.0, lazy_update=True, eta=0.001, eps=0,
                 momentum_correction=True, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.momentum_correction = momentum_correction
        self.lazy_update = lazy_update
        self.aggregate_num = _aggregate.size_from_env(4)
        self.eta = eta
        self.eps = eps
        self.skip = 0
        self.last_lr = None
        self.cur_lr = None
        check_hyperparameters(self)

    def _get_lrs(self, indices) -> list:
        # Remembers the rate of the previous call, for the momentum correction.
        if self.cur_lr is not None:
            self.last_lr = self.cur_lr
        lr = self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr
        if self.cur_lr is None:
            self.last_lr = lr
        self.cur_lr = lr
        return super()._get_lrs(indices)

    def set_wd_mult(self, args_wd_mult: dict) -> None:
        """As :meth:`Optimizer.set_wd_mult`, except that only ``*_weight`` parameters keep
        their weight decay (not ``*_gamma``), as MXNet's LARS has it."""
        self.wd_mult = {n: 0.0 for n in self.idx2name.values() if not n.endswith("_weight")}
        if self.sym_info:
            attr, arg_names = self.sym_info
            for name in arg_names:
                if name in attr and "__wd_mult__" in attr[name]:
                    self.wd_mult[name] = float(attr[name]["__wd_mult__"])
        self.wd_mult.update(args_wd_mult)

    # A momentum state, and the single- and multi-precision entries into _update_impl, as SGD's.
    create_state = SGD.create_state
    update = SGD.update
    update_multi_precision = SGD.update_multi_precision

    def _scaled_lrs(self, indices, weights, grads, lrs, wds, ctx) -> NDArray:
        """The learning rates (float32, on the device), LARS-scaled where the name allows:
        one multi_sum_sq for the weights' and one for the gradients' sums of squares, one
        multi_lars, as MXNet takes them (a handful of pushes for a group, not a few per
        weight)."""
        names = [self.idx2name.get(i, str(i)) for i in indices]
        scaled = [not n.endswith(_NOT_SCALED) for n in names]
        rates = array(lrs, ctx=ctx, dtype="float32")
        if not any(scaled):
            return rates
        n = len(weights)
        w_sq = invoke("multi_sum_sq", list(weights), num_arrays=n)
        g_sq = invoke("multi_sum_sq", list(grads), num_arrays=n)
        wd_in = array(wds, ctx=ctx, dtype="float32")
        new = invoke("multi_lars", [rates, w_sq, g_sq, wd_in], eta=self.eta, eps=self.eps,
                     rescale_grad=self.rescale_grad)
        if all(scaled):
            return new
        mask = array([1.0 if k else 0.0 for k in scaled], ctx=ctx, dtype="float32")
        return invoke("where", [mask, new, rates])

    def _update_impl(self, index, weight, grad, state, mixed):
        indices, weights, grads, states = _aggregate.as_lists(index, weight, grad, state)
        for w, g in zip(weights, grads):
            _check_array(w, "weight", f"{type(self).__name__}.update")
            _check_array(g, "grad", f"{type(self).__name__}.update")
        self._update_count(indices)
        lrs, wds = self._get_lrs(indices), self._get_wds(indices)
        kwargs = {"rescale_grad": self.rescale_grad}
        momentum = self.momentum > 0
        if momentum:
            corrected = self.momentum_correction and self.last_lr != 0
            kwargs["momentum"] = self.momentum * (self.cur_lr / self.last_lr) if corrected else self.momentum
        if self.clip_gradient:
            kwargs["clip_gradient"] = self.clip_gradient
        size = max(1, self.aggregate_num)
        for start in range(0, len(indices), size):
            part = slice(start, start + size)
            ws, gs, ss = weights[part], grads[part], states[part]
            ctx = ws[0].context
            rate_type = "float32" if mixed else np.dtype(ws[0].dtype).name
            lr_arr = self._scaled_lrs(indices[part], ws, gs, lrs[part], wds[part], ctx)
            wd_arr = array(wds[part], ctx=ctx, dtype=rate_type)
            if rate_type != "float32":
                lr_arr = lr_arr.astype(rate_type)
            flat = []
            for w, g, s in zip(ws, gs, ss):
                flat += [w, g]
                if mixed:
                    master, mom = s
                    flat += ([mom] if momentum else []) + [master]
                elif momentum:
                    flat.append(s)
            op = ("preloaded_multi_mp_" if mixed else "preloaded_multi_") + \
                 ("sgd_mom_update" if momentum else "sgd_update")
            invoke(op, flat + [lr_arr, wd_arr], out=list(ws), num_weights=len(ws), **kwargs)
