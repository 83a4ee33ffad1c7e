"""mx.sym.random: sampling nodes in symbolic graphs (``mxnet.symbol.random``).

As in :mod:`flowmod.ndarray.random`, number parameters give a ``_random_<dist>`` node (``shape``
draws from one distribution) and Symbol parameters a ``_sample_<dist>`` node (one distribution
per element of the parameters, the draws' shape appended)::

    mu = mx.sym.var("mu")
    x = mx.sym.random.normal(mu, mx.sym.ones_like(mu), shape=(4,))
"""
from __future__ import annotations

import numbers

import numpy as np

from ..base import MXNetError
from ..op_schema import Null as _Null
from .symbol import OP_FUNCTIONS, Symbol

__all__ = ["uniform", "normal", "randn", "poisson", "exponential", "gamma", "multinomial",
           "negative_binomial", "generalized_negative_binomial", "shuffle", "randint",
           "uniform_like", "normal_like", "exponential_like", "gamma_like", "poisson_like",
           "negative_binomial_like", "generalized_negative_binomial_like"]


def _given(value) -> bool:
    return value is not None and value is not _Null


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _attrs(shape, dtype, kwargs) -> dict:
    attrs = dict(kwargs)
    if _given(shape):
        attrs["shape"] = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    if _given(dtype):
        attrs["dtype"] = np.dtype(dtype).name
    return attrs


def _random_helper(key, fname, params, shape, dtype, kwargs, sampler=True):
    """MXNet's dispatch: number parameters to ``_random_<key>``, Symbols to ``_sample_<key>``."""
    names = list(params)
    first = params[names[0]]
    if isinstance(first, Symbol):
        if not sampler:
            raise MXNetError(f"{fname}: {names[0]}=<Symbol>: expected a number")
        for k, v in params.items():
            if not isinstance(v, Symbol):
                raise MXNetError(f"{fname}: {k}={v!r}: expected a Symbol, as {names[0]} is one "
                                 f"(parameters are all numbers or all Symbols)")
        return OP_FUNCTIONS["_sample_" + key](*params.values(), **_attrs(shape, dtype, kwargs))
    for k, v in params.items():
        if not _is_number(v):
            raise MXNetError(f"{fname}: {k}={v!r}: expected a number, as {names[0]} is one "
                             f"(parameters are all numbers or all Symbols)")
    return OP_FUNCTIONS["_random_" + key](**params, **_attrs(shape, dtype, kwargs))


def uniform(low=0, high=1, shape=_Null, dtype=_Null, **kwargs) -> Symbol:
    """uniform(low=0, high=1, shape=_Null, dtype=_Null, **kwargs)

    Draws from the uniform distribution on [low, high): numbers, or Symbols of one shape
    ``(x, y)`` for an output of shape ``(x, y) + shape``.
    """
    return _random_helper("uniform", "uniform", {"low": low, "high": high}, shape, dtype, kwargs)


def normal(loc=0, scale=1, shape=_Null, dtype=_Null, **kwargs) -> Symbol:
    """normal(loc=0, scale=1, shape=_Null, dtype=_Null, **kwargs)

    Draws from the normal distribution of mean ``loc`` and standard deviation ``scale``.
    """
    return _random_helper("normal", "normal", {"loc": loc, "scale": scale}, shape, dtype, kwargs)


def randn(*shape, **kwargs) -> Symbol:
    """randn(*shape, loc=0, scale=1, dtype=_Null, **kwargs)

    Draws from the normal distribution, the shape given by position.
    """
    loc = kwargs.pop("loc", 0)
    scale = kwargs.pop("scale", 1)
    dtype = kwargs.pop("dtype", _Null)
    return _random_helper("normal", "randn", {"loc": loc, "scale": scale},
                          shape if shape else _Null, dtype, kwargs)


def poisson(lam=1, shape=_Null, dtype=_Null, **kwargs) -> Symbol:
    """poisson(lam=1, shape=_Null, dtype=_Null, **kwargs)

    Draws from the Poisson distribution of mean ``lam``, as floating point numbers.
    """
    return _random_helper("poisson", "poisson", {"lam": lam}, shape, dtype, kwargs)


def exponential(scale=1, shape=_Null, dtype=_Null, **kwargs) -> Symbol:
    """exponential(scale=1, shape=_Null, dtype=_Null, **kwargs)

    Draws from the exponential distribution of mean ``scale`` (rate ``1 / scale``).
    """
    if _is_number(scale):
        if not scale > 0:
            raise MXNetError(f"exponential: scale={scale!r}: expected a number > 0")
        lam = 1.0 / scale
    elif isinstance(scale, Symbol):
        lam = 1.0 / scale
    else:
        raise MXNetError(f"exponential: scale={scale!r}: expected a number or a Symbol")
    return _random_helper("exponential", "exponential", {"lam": lam}, shape, dtype, kwargs)


def gamma(alpha=1, beta=1, shape=_Null, dtype=_Null, **kwargs) -> Symbol:
    """gamma(alpha=1, beta=1, shape=_Null, dtype=_Null, **kwargs)

    Draws from the gamma distribution of shape ``alpha`` and scale ``beta``.
    """
    return _random_helper("gamma", "gamma", {"alpha": alpha, "beta": beta}, shape, dtype, kwargs)


def negative_binomial(k=1, p=1, shape=_Null, dtype=_Null, **kwargs) -> Symbol:
    """negative_binomial(k=1, p=1, shape=_Null, dtype=_Null, **kwargs)

    Draws the number of failures before the ``k``-th success of trials of success
    probability ``p``, as floating point numbers.
    """
    return _random_helper("negative_binomial", "negative_binomial", {"k": k, "p": p}, shape,
                          dtype, kwargs)


def generalized_negative_binomial(mu=1, alpha=1, shape=_Null, dtype=_Null, **kwargs) -> Symbol:
    """generalized_negative_binomial(mu=1, alpha=1, shape=_Null, dtype=_Null, **kwargs)

    Draws from the negative binomial distribution of mean ``mu`` and dispersion ``alpha``.
    """
    return _random_helper("generalized_negative_binomial", "generalized_negative_binomial",
                          {"mu": mu, "alpha": alpha}, shape, dtype, kwargs)


def multinomial(data, shape=_Null, get_prob=True, dtype="int32", **kwargs) -> Symbol:
    """multinomial(data, shape=_Null, get_prob=True, dtype='int32', **kwargs)

    Draws category indices from the distributions on the last axis of ``data``; with
    ``get_prob`` (the default here, as in MXNet's symbol API) the node has a second output,
    the log-probability of each draw, through which the gradient flows to ``data``.
    """
    if not isinstance(data, Symbol):
        raise MXNetError(f"multinomial: data={data!r}: expected a Symbol")
    attrs = _attrs(shape, dtype, kwargs)
    return OP_FUNCTIONS["_sample_multinomial"](data, get_prob=bool(get_prob), **attrs)


def shuffle(data, **kwargs) -> Symbol:
    """shuffle(data, **kwargs)

    The rows (first-axis slices) of ``data`` in a random order.
    """
    return OP_FUNCTIONS["_shuffle"](data, **kwargs)


def randint(low, high, shape=_Null, dtype=_Null, **kwargs) -> Symbol:
    """randint(low, high, shape=_Null, dtype=_Null, **kwargs)

    Draws integers uniformly from [low, high); ``dtype`` 'int32' (default) or 'int64'.
    """
    for k, v in (("low", low), ("high", high)):
        if not isinstance(v, numbers.Integral) or isinstance(v, (bool, np.bool_)):
            raise MXNetError(f"randint: {k}={v!r}: expected an integer")
    return _random_helper("randint", "randint", {"low": low, "high": high}, shape, dtype,
                          kwargs, sampler=False)


def _like(key: str):
    fn = OP_FUNCTIONS[f"_random_{key}_like"]

    def like(*args, **kwargs):
        return fn(*args, **kwargs)

    like.__name__ = like.__qualname__ = f"{key}_like"
    like.__signature__ = fn.__signature__
    like.__doc__ = fn.__doc__
    return like


uniform_like = _like("uniform")
normal_like = _like("normal")
exponential_like = _like("exponential")
gamma_like = _like("gamma")
poisson_like = _like("poisson")
negative_binomial_like = _like("negative_binomial")
generalized_negative_binomial_like = _like("generalized_negative_binomial")
