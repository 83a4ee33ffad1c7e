"""Random numbers (``mxnet.random``): seeding the generators and drawing samples.

Every device has its own generator; draws on one device happen in the order they were
issued, so a seed gives a reproducible stream::

    mx.random.seed(42)
    a = mx.random.uniform(0, 1, shape=(2, 3))
    mx.random.seed(42)
    b = mx.random.uniform(0, 1, shape=(2, 3))   # the same values as a

Devices draw different streams from one seed (``seed(42)`` gives ``cpu(0)`` and ``cpu(1)``
different numbers).
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _native
from .base import MXNetError
from .context import Context
# mx.random's samplers are mx.nd.random's, as in MXNet.
from .ndarray.random import (exponential, gamma, generalized_negative_binomial, multinomial,
                             negative_binomial, normal, poisson, randint, randn, shuffle,
                             uniform)

__all__ = ["seed", "uniform", "normal", "randn", "poisson", "exponential", "gamma",
           "multinomial", "negative_binomial", "generalized_negative_binomial", "shuffle",
           "randint"]


def seed(seed_state, ctx="all") -> None:
    """seed(seed_state, ctx='all')

    Seeds the random number generators: of every device (``ctx='all'``, also those used
    later) or of the device of one context. Draws pushed before the call use the old state.

    Parameters
    ----------
    seed_state : int
        The seed.
    ctx : Context or 'all'
    """
    if isinstance(seed_state, (bool, np.bool_)) or not isinstance(seed_state, numbers.Integral):
        raise MXNetError(f"seed: seed_state={seed_state!r}: expected an integer")
    state = int(seed_state) & 0xFFFF_FFFF_FFFF_FFFF
    if isinstance(ctx, str) and ctx == "all":
        _native.random_seed(state)
        return
    if not isinstance(ctx, Context):
        raise MXNetError(f"seed: ctx={ctx!r}: expected 'all' or a Context such as mx.cpu(0)")
    dev_type, dev_id = ctx.engine_device
    _native.random_seed(state, dev_type, dev_id)
