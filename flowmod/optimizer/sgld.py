"""SGLD, stochastic gradient Langevin dynamics (Welling and Teh, 2011)."""
from __future__ import annotations

import math

import numpy as np

from .. import random as _random
from .optimizer import Optimizer, register

__all__ = ["SGLD"]


@register
class SGLD(Optimizer):
    """SGLD(**kwargs)::

        rescaled_grad = clip(grad * rescale_grad, clip_gradient)
        weight += -lr / 2 * (rescaled_grad + wd * weight) + normal(0, sqrt(lr))

    The noise comes from the device's generator (``mx.random.seed`` makes it
    reproducible). No state.
    """

    def create_state(self, index, weight):
        return None

    def update(self, index, weight, grad, state):
        lr, wd = self._begin_update(index, weight, grad)
        g = self._preprocess(grad)
        noise = _random.normal(0, math.sqrt(lr), shape=weight.shape, dtype=np.dtype(weight.dtype).name,
                               ctx=weight.context)
        (weight - (g + weight * wd) * (lr / 2) + noise).copyto(weight)
