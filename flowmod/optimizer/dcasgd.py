"""DCASGD, asynchronous SGD with delay compensation (Zheng et al., 2016)."""
from __future__ import annotations

from ..ndarray import zeros
from ._hyperparameters import check_hyperparameters
from .optimizer import Optimizer, register

__all__ = ["DCASGD"]


@register
class DCASGD(Optimizer):
    """DCASGD(momentum=0.0, lamda=0.04, **kwargs)::

        rescaled_grad = clip(grad * rescale_grad, clip_gradient)
        step = -lr * (rescaled_grad + wd * weight
                      + lamda * rescaled_grad ** 2 * (weight - previous_weight))
        mom = momentum * mom + step     (with momentum; mom = step without)
        previous_weight = weight
        weight += mom

    The state is ``(mom or None, previous_weight)``.

    Parameters
    ----------
    momentum : float, optional
    lamda : float, optional
        The scale of the delay compensation.
    """

    def __init__(self, momentum=0.0, lamda=0.04, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.weight_previous: dict = {}
        self.lamda = lamda
        check_hyperparameters(self)

    def create_state(self, index, weight):
        mom = None if self.momentum == 0.0 else zeros(weight.shape, weight.context, dtype=weight.dtype)
        return (mom, weight.copy())

    def update(self, index, weight, grad, state):
        lr, wd = self._begin_update(index, weight, grad)
        g = self._preprocess(grad)
        mom, previous = state
        step = (g + weight * wd + g * g * (weight - previous) * self.lamda) * (-lr)
        if mom is not None:
            (mom * self.momentum + step).copyto(mom)
            step = mom
        weight.copyto(previous)
        (weight + step).copyto(weight)
