"""Learning rate schedules (``mx.lr_scheduler``), with MXNet 1.9's semantics.

A scheduler is called with the optimizer's ``num_update`` (the largest number of updates any
parameter has received) and returns the learning rate to use. Schedulers keep state:
FactorScheduler and MultiFactorScheduler lower ``base_lr`` as ``num_update`` passes their
steps, PolyScheduler and CosineScheduler store the last rate in ``base_lr``.
"""
from __future__ import annotations

import logging
import math
import numbers

# A named logger: records propagate to the handlers the application configures, and
# flowmod never installs one on the root logger (as logging.info would).
_log = logging.getLogger(__name__)

__all__ = ["LRScheduler", "FactorScheduler", "MultiFactorScheduler", "PolyScheduler",
           "CosineScheduler"]


def _check_int(value, arg: str, cls: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{cls}: {arg}={value!r}: expected an int")


class LRScheduler:
    """Base class of learning rate schedules.

    Parameters
    ----------
    base_lr : float, optional
        The learning rate after warm-up.
    warmup_steps : int, optional
        Number of updates during which the warm-up rate is used.
    warmup_begin_lr : float, optional
        The rate at update 0 of the warm-up.
    warmup_mode : str, optional
        ``'linear'``: the rate grows linearly from ``warmup_begin_lr`` to ``base_lr`` during
        the warm-up; ``'constant'``: the rate stays ``warmup_begin_lr``.
    """

    def __init__(self, base_lr: float = 0.01, warmup_steps: int = 0,
                 warmup_begin_lr: float = 0, warmup_mode: str = "linear"):
        cls = type(self).__name__
        self.base_lr = base_lr
        _check_int(warmup_steps, "warmup_steps", cls)
        self.warmup_steps = warmup_steps
        self.warmup_final_lr = base_lr
        self.warmup_begin_lr = warmup_begin_lr
        if self.warmup_begin_lr > self.warmup_final_lr:
            raise ValueError(f"{cls}: warmup_begin_lr={warmup_begin_lr!r} is larger than "
                             f"base_lr={base_lr!r}: the base rate has to be at least the warm-up "
                             f"begin rate")
        if self.warmup_steps < 0:
            raise ValueError(f"{cls}: warmup_steps={warmup_steps!r}: expected 0 or more")
        if warmup_mode not in ("linear", "constant"):
            raise ValueError(f"{cls}: warmup_mode={warmup_mode!r}: expected 'linear' or "
                             f"'constant'")
        self.warmup_mode = warmup_mode

    def get_warmup_lr(self, num_update: int) -> float:
        """The warm-up learning rate at ``num_update`` (< ``warmup_steps``)."""
        if num_update >= self.warmup_steps:
            raise ValueError(f"get_warmup_lr: num_update={num_update!r} is not inside the "
                             f"warm-up, which has {self.warmup_steps} steps")
        if self.warmup_mode == "linear":
            increase = ((self.warmup_final_lr - self.warmup_begin_lr)
                        * float(num_update) / float(self.warmup_steps))
            return self.warmup_begin_lr + increase
        return self.warmup_begin_lr

    def __call__(self, num_update: int) -> float:
        """The learning rate at ``num_update``; every schedule defines it."""
        raise TypeError(
            f"{type(self).__name__} does not define __call__: LRScheduler is the base class of "
            f"the schedules; use FactorScheduler, MultiFactorScheduler, PolyScheduler or "
            f"CosineScheduler, or define __call__(num_update) in a subclass")


class FactorScheduler(LRScheduler):
    """Multiplies the rate by ``factor`` every ``step`` updates, never going below
    ``stop_factor_lr``: after warm-up the rate is
    ``max(base_lr * factor ** floor((num_update - 1) / step), stop_factor_lr)``.

    Parameters
    ----------
    step : int
        Updates between two changes of the rate (at least 1).
    factor : float, optional
        The multiplier (at most 1).
    stop_factor_lr : float, optional
        The smallest rate.
    base_lr, warmup_steps, warmup_begin_lr, warmup_mode
        As in :class:`LRScheduler`.
    """

    def __init__(self, step: int, factor: float = 1, stop_factor_lr: float = 1e-8,
                 base_lr: float = 0.01, warmup_steps: int = 0, warmup_begin_lr: float = 0,
                 warmup_mode: str = "linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if step < 1:
            raise ValueError(f"FactorScheduler: step={step!r}: the schedule step must be 1 or "
                             f"more updates")
        if factor > 1.0:
            raise ValueError(f"FactorScheduler: factor={factor!r}: expected at most 1, so that "
                             f"the rate decreases")
        self.step = step
        self.factor = factor
        self.stop_factor_lr = stop_factor_lr
        self.count = 0

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        # A loop, not a test: training resumed at a later update catches up at once.
        while num_update > self.count + self.step:
            self.count += self.step
            self.base_lr *= self.factor
            if self.base_lr < self.stop_factor_lr:
                self.base_lr = self.stop_factor_lr
                _log.info("Update[%d]: now learning rate arrived at %0.5e, will not "
                          "change in the future", num_update, self.base_lr)
            else:
                _log.info("Update[%d]: Change learning rate to %0.5e",
                          num_update, self.base_lr)
        return self.base_lr


class MultiFactorScheduler(LRScheduler):
    """Multiplies the rate by ``factor`` each time ``num_update`` passes one of the
    increasing update counts in ``step``.

    Parameters
    ----------
    step : list of int
        Increasing update counts, each at least 1.
    factor : float, optional
        The multiplier (at most 1).
    base_lr, warmup_steps, warmup_begin_lr, warmup_mode
        As in :class:`LRScheduler`.
    """

    def __init__(self, step, factor: float = 1, base_lr: float = 0.01, warmup_steps: int = 0,
                 warmup_begin_lr: float = 0, warmup_mode: str = "linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if not isinstance(step, list) or len(step) < 1:
            raise ValueError(f"MultiFactorScheduler: step={step!r}: expected a non-empty list "
                             f"of update counts")
        for i, s in enumerate(step):
            if i != 0 and step[i] <= step[i - 1]:
                raise ValueError(f"MultiFactorScheduler: step={step!r}: the schedule steps must "
                                 f"be an increasing list of integers")
            if s < 1:
                raise ValueError(f"MultiFactorScheduler: step={step!r}: every schedule step "
                                 f"must be 1 or more updates")
        if factor > 1.0:
            raise ValueError(f"MultiFactorScheduler: factor={factor!r}: expected at most 1, so "
                             f"that the rate decreases")
        self.step = step
        self.cur_step_ind = 0
        self.factor = factor
        self.count = 0

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        while self.cur_step_ind <= len(self.step) - 1:
            if num_update > self.step[self.cur_step_ind]:
                self.count = self.step[self.cur_step_ind]
                self.cur_step_ind += 1
                self.base_lr *= self.factor
                _log.info("Update[%d]: Change learning rate to %0.5e",
                          num_update, self.base_lr)
            else:
                return self.base_lr
        return self.base_lr


class PolyScheduler(LRScheduler):
    """Polynomial decay from ``base_lr`` to ``final_lr`` over ``max_update`` updates::

        final_lr + (base_lr - final_lr) * (1 - (num_update - warmup_steps) / max_steps) ** pwr

    with ``max_steps = max_update - warmup_steps``; ``final_lr`` after ``max_update``.

    Parameters
    ----------
    max_update : int
        The update count at which the rate reaches ``final_lr`` (at least 1).
    base_lr : float, optional
    pwr : float, optional
        The power of the decay.
    final_lr : float, optional
    warmup_steps, warmup_begin_lr, warmup_mode
        As in :class:`LRScheduler`.
    """

    def __init__(self, max_update: int, base_lr: float = 0.01, pwr: float = 2,
                 final_lr: float = 0, warmup_steps: int = 0, warmup_begin_lr: float = 0,
                 warmup_mode: str = "linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        _check_int(max_update, "max_update", "PolyScheduler")
        if max_update < 1:
            raise ValueError(f"PolyScheduler: max_update={max_update!r}: the maximum number of "
                             f"updates must be strictly positive")
        self.power = pwr
        self.base_lr_orig = self.base_lr
        self.max_update = max_update
        self.final_lr = final_lr
        self.max_steps = self.max_update - self.warmup_steps

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        if num_update <= self.max_update:
            self.base_lr = self.final_lr + (self.base_lr_orig - self.final_lr) * pow(
                1 - float(num_update - self.warmup_steps) / float(self.max_steps), self.power)
        return self.base_lr


class CosineScheduler(LRScheduler):
    """Cosine decay from ``base_lr`` to ``final_lr`` over ``max_update`` updates::

        final_lr + (base_lr - final_lr) * (1 + cos(pi * (num_update - warmup_steps) / max_steps)) / 2

    with ``max_steps = max_update - warmup_steps``; ``final_lr`` after ``max_update``.

    Parameters
    ----------
    max_update : int
        The update count at which the rate reaches ``final_lr`` (at least 1).
    base_lr : float, optional
    final_lr : float, optional
    warmup_steps, warmup_begin_lr, warmup_mode
        As in :class:`LRScheduler`.
    """

    def __init__(self, max_update: int, base_lr: float = 0.01, final_lr: float = 0,
                 warmup_steps: int = 0, warmup_begin_lr: float = 0, warmup_mode: str = "linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        _check_int(max_update, "max_update", "CosineScheduler")
        if max_update < 1:
            raise ValueError(f"CosineScheduler: max_update={max_update!r}: the maximum number "
                             f"of updates must be strictly positive")
        self.base_lr_orig = base_lr
        self.max_update = max_update
        self.final_lr = final_lr
        self.max_steps = self.max_update - self.warmup_steps

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        if num_update <= self.max_update:
            self.base_lr = self.final_lr + (self.base_lr_orig - self.final_lr) * (
                1 + math.cos(math.pi * (num_update - self.warmup_steps) / self.max_steps)) / 2
        return self.base_lr
