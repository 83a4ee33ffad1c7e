"""FTML, Follow the Moving Leader (Zheng and Kwok, 2017), on the fused ``ftml_update``."""
from __future__ import annotations

from ..ndarray import zeros
from ..ndarray.ops import invoke
from ._hyperparameters import check_hyperparameters
from .optimizer import Optimizer, register

__all__ = ["FTML"]


@register
class FTML(Optimizer):
    """FTML(beta1=0.6, beta2=0.999, epsilon=1e-8, **kwargs)::

        rescaled_grad = clip(grad * rescale_grad + wd * weight, clip_gradient)
        v = beta2 * v + (1 - beta2) * rescaled_grad ** 2
        d_t = (1 - beta1 ** t) / lr * (sqrt(v / (1 - beta2 ** t)) + epsilon)
        z = beta1 * z + (1 - beta1) * rescaled_grad - (d_t - beta1 * d_(t-1)) * weight
        weight = - z / d_t

    with ``t`` the number of updates of this parameter. The state is ``(d, v, z)``.

    Parameters
    ----------
    beta1 : float, optional
        In [0, 1), usually near 0.5.
    beta2 : float, optional
        In [0, 1), usually near 1.
    epsilon : float, optional
        Added to the denominator for stability.
    """

    def __init__(self, beta1=0.6, beta2=0.999, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        check_hyperparameters(self)

    def create_state(self, index, weight):
        return tuple(zeros(weight.shape, weight.context, dtype=weight.dtype) for _ in range(3))

    def update(self, index, weight, grad, state):
        lr, wd = self._begin_update(index, weight, grad)
        kwargs = {"beta1": self.beta1, "beta2": self.beta2, "epsilon": self.epsilon,
                  "rescale_grad": self.rescale_grad, "t": self._index_update_count[index]}
        if self.clip_gradient:
            kwargs["clip_grad"] = self.clip_gradient
        d, v, z = state
        invoke("ftml_update", [weight, grad, d, v, z], out=weight, lr=lr, wd=wd, **kwargs)
