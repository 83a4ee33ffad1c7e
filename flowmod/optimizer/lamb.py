"""LAMB, layer-wise adaptive moments (You et al., 2019), on MXNet's LAMB operators: the two
phases for one parameter, ``_multi_lamb_update`` (``_multi_mp_lamb_update`` with float32
master copies) for several, as :class:`Updater` passes them in groups of ``aggregate_num``."""
from __future__ import annotations

import numpy as np

from ..ndarray import NDArray, zeros
from ..ndarray.ops import invoke
from . import _aggregate
from ._hyperparameters import check_hyperparameters
from .optimizer import Optimizer, _check_array, register

__all__ = ["LAMB"]


@register
class LAMB(Optimizer):
    """LAMB(learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-6, lower_bound=None,
    upper_bound=None, bias_correction=True, **kwargs)::

        g' = clip(grad * rescale_grad, clip_gradient)
        m = beta1 * m + (1 - beta1) * g';  v = beta2 * v + (1 - beta2) * g'**2
        d = m_hat / (sqrt(v_hat) + epsilon) + wd * weight   (bias-corrected with bias_correction)
        r1 = clip(norm(weight), lower_bound, upper_bound);  r2 = norm(d)
        weight -= lr * (r1 / r2 if r1 and r2 else 1) * d

    The state is ``(m, v)``. ``aggregate_num`` is ``MXNET_OPTIMIZER_AGGREGATION_SIZE``
    bounded to [1, 45] (default 45), as in MXNet.
    """

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-6,
                 lower_bound=None, upper_bound=None, bias_correction=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.lower_bound = lower_bound
        self.upper_bound = upper_bound
        self.bias_correction = bias_correction
        self.aggregate_num = _aggregate.size_from_env(45, limit=45)
        check_hyperparameters(self)

    def create_state(self, index, weight):
        return (zeros(weight.shape, weight.context, dtype=weight.dtype),
                zeros(weight.shape, weight.context, dtype=weight.dtype))

    def update(self, index, weight, grad, state):
        self._update_impl(index, weight, grad, state, mixed=False)

    def update_multi_precision(self, index, weight, grad, state):
        first = weight[0] if isinstance(index, (list, tuple)) else weight
        mixed = self.multi_precision and isinstance(first, NDArray) and first.dtype == np.float16
        self._update_impl(index, weight, grad, state, mixed=mixed)

    def _bounds(self) -> dict:
        bounds = {}
        if self.lower_bound:
            bounds["lower_bound"] = self.lower_bound
        if self.upper_bound:
            bounds["upper_bound"] = self.upper_bound
        return bounds

    def _update_impl(self, index, weight, grad, state, mixed):
        several = isinstance(index, (list, tuple))
        indices, weights, grads, states = _aggregate.as_lists(index, weight, grad, state)
        for w, g in zip(weights, grads):
            _check_array(w, "weight", f"{type(self).__name__}.update")
            _check_array(g, "grad", f"{type(self).__name__}.update")
        kwargs = {"beta1": self.beta1, "beta2": self.beta2, "epsilon": self.epsilon,
                  "bias_correction": self.bias_correction, "rescale_grad": self.rescale_grad}
        if self.clip_gradient:
            kwargs["clip_gradient"] = self.clip_gradient
        if several and self.aggregate_num > 1:
            self._update_count(indices)
            steps = [self._index_update_count[i] for i in indices]
            lrs, wds = self._get_lrs(indices), self._get_wds(indices)
            for start in range(0, len(indices), self.aggregate_num):
                part = slice(start, start + self.aggregate_num)
                self._multi(weights[part], grads[part], states[part], steps[part], lrs[part],
                            wds[part], mixed, kwargs)
            return
        for idx, w, g, s in zip(indices, weights, grads, states):
            self._update_count(idx)
            self._single(w, g, s, self._index_update_count[idx], self._get_lr(idx),
                         self._get_wd(idx), mixed, kwargs)

    def _single(self, weight, grad, state, t, lr, wd, mixed, kwargs):
        if mixed:
            master, (mean, var) = state
            d = invoke("mp_lamb_update_phase1", [weight, grad, mean, var, master], t=t, wd=wd, **kwargs)
            r1, r2 = invoke("norm", [master]), invoke("norm", [d])
            # MXNet's phase 2 leaves the master copy as it is; the step is written to both.
            invoke("mp_lamb_update_phase2", [weight, d, r1, r2, master], out=weight, lr=lr,
                   **self._bounds())
            invoke("lamb_update_phase2", [master, d, r1, r2], out=master, lr=lr, **self._bounds())
            return
        mean, var = state
        d = invoke("lamb_update_phase1", [weight, grad, mean, var], t=t, wd=wd, **kwargs)
        r1, r2 = invoke("norm", [weight]), invoke("norm", [d])
        invoke("lamb_update_phase2", [weight, d, r1, r2], out=weight, lr=lr, **self._bounds())

    def _multi(self, weights, grads, states, steps, lrs, wds, mixed, kwargs):
        flat = []
        for w, g, s in zip(weights, grads, states):
            if mixed:
                master, (mean, var) = s
                flat += [w, g, mean, var, master]
            else:
                mean, var = s
                flat += [w, g, mean, var]
        op = "_multi_mp_lamb_update" if mixed else "_multi_lamb_update"
        invoke(op, flat, out=list(weights), num_tensors=len(weights), step_count=tuple(steps),
               learning_rates=tuple(lrs), wds=tuple(wds), **kwargs, **self._bounds())
