"""The ranges of the optimizers' hyperparameters, checked when an optimizer is built (and
when one is restored from saved states), so that a NaN learning rate or a momentum of 2 is
refused in the caller's frame instead of turning the parameters into NaN at some update.

The table is keyed by the attribute each optimizer stores the argument in (MXNet's names);
an optimizer is checked on the attributes of the table it has.
"""
from __future__ import annotations

import math
import numbers

__all__ = ["check_hyperparameters"]

_INF = math.inf

# attribute: (argument name, low, low included, high, high included, None allowed)
_RULES = {
    "lr": ("learning_rate", 0.0, True, _INF, False, True),
    "wd": ("wd", 0.0, True, _INF, False, False),
    "rescale_grad": ("rescale_grad", -_INF, False, _INF, False, False),
    "clip_gradient": ("clip_gradient", 0.0, True, _INF, False, True),
    "momentum": ("momentum", 0.0, True, 1.0, False, False),
    "beta1": ("beta1", 0.0, True, 1.0, False, False),
    "beta2": ("beta2", 0.0, True, 1.0, False, False),
    "epsilon": ("epsilon", 0.0, False, _INF, False, False),
    "float_stable_eps": ("eps", 0.0, False, _INF, False, False),
    "rho": ("rho", 0.0, True, 1.0, True, False),
    "gamma1": ("gamma1", 0.0, True, 1.0, False, False),
    "gamma2": ("gamma2", 0.0, True, 1.0, False, False),
    "clip_weights": ("clip_weights", 0.0, True, _INF, False, True),
    "wd_lh": ("wd_lh", 0.0, True, _INF, False, False),
    "lamda1": ("lamda1", 0.0, True, _INF, False, False),
    "beta": ("beta", 0.0, True, _INF, False, False),
    "schedule_decay": ("schedule_decay", 0.0, True, _INF, False, False),
    "lower_bound": ("lower_bound", 0.0, True, _INF, False, True),
    "upper_bound": ("upper_bound", 0.0, True, _INF, False, True),
    "eta": ("eta", 0.0, True, _INF, False, False),
    "eps": ("eps", 0.0, True, _INF, False, False),
    "lamda": ("lamda", 0.0, True, _INF, False, False),
}
_COUNTS = {"begin_num_update": "begin_num_update", "num_update": "num_update"}


def _range_text(low, low_in, high, high_in) -> str:
    if high == _INF:
        if low == -_INF:
            return "a finite number"
        return f"a finite number {'>=' if low_in else '>'} {low:g}"
    return f"a number in {'[' if low_in else '('}{low:g}, {high:g}{']' if high_in else ')'}"


def check_hyperparameters(optimizer) -> None:
    """Raises ValueError naming the argument, its value and the range expected for the
    first hyperparameter of ``optimizer`` outside MXNet's range."""
    owner = type(optimizer).__name__
    values = vars(optimizer)
    for attr, (arg, low, low_in, high, high_in, none_ok) in _RULES.items():
        if attr not in values:
            continue
        value = values[attr]
        expected = _range_text(low, low_in, high, high_in) + (" or None" if none_ok else "")
        if value is None:
            if none_ok:
                continue
            raise ValueError(f"{owner}: {arg}=None: expected {expected}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{owner}: {arg}={value!r}: expected {expected}")
        v = float(value)
        inside = (math.isfinite(v) and (v >= low if low_in else v > low)
                  and (v <= high if high_in else v < high))
        if not inside:
            raise ValueError(f"{owner}: {arg}={value!r}: expected {expected}")
    for attr, arg in _COUNTS.items():
        value = values.get(attr, 0)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ValueError(f"{owner}: {arg}={value!r}: expected an integer >= 0")
