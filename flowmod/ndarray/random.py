"""mx.nd.random: drawing samples into NDArrays (``mxnet.ndarray.random``).

Each distribution takes its parameters as numbers (``_random_<dist>``: ``shape`` draws from
one distribution) or as NDArrays of one shape (``_sample_<dist>``: for parameters of shape
``(x, y)`` and ``shape=(m, n)`` the result has shape ``(x, y, m, n)``, ``m * n`` draws from
the distribution at each index)::

    mx.nd.random.normal(0, 1, shape=(2, 3))
    mx.nd.random.normal(mx.nd.array([0, 10]), mx.nd.array([1, 2]), shape=4)   # shape (2, 4)

Draws come from the generator of the output's device, in the order they were issued, so
``mx.random.seed`` makes them reproducible. The ``*_like`` functions draw an array of the
shape and type of their input.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..base import MXNetError
from ..context import Context
from ..op_schema import Null as _Null
from .ndarray import NDArray, _dtype, _shape, empty
from .ops import OP_FUNCTIONS, invoke

__all__ = ["uniform", "normal", "randn", "poisson", "exponential", "gamma", "multinomial",
           "negative_binomial", "generalized_negative_binomial", "shuffle", "randint",
           "uniform_like", "normal_like", "exponential_like", "gamma_like", "poisson_like",
           "negative_binomial_like", "generalized_negative_binomial_like"]

_FLOAT_TYPES = ("float16", "float32", "float64")
_INT_TYPES = ("int32", "int64")


def _given(value) -> bool:
    return value is not None and value is not _Null


def _is_number(value, integral: bool = False) -> bool:
    kinds = numbers.Integral if integral else numbers.Real
    return isinstance(value, kinds) and not isinstance(value, (bool, np.bool_))


def _checked_dtype(fname: str, dtype, allowed):
    if not _given(dtype):
        return None
    dt = _dtype(dtype)
    if dt.name not in allowed:
        raise MXNetError(f"{fname}: dtype={dtype!r}: expected one of {', '.join(allowed)}")
    return dt


def _checked_out(fname, out, ctx, shape, dt, allowed):
    if not isinstance(out, NDArray):
        raise MXNetError(f"{fname}: out={out!r}: expected an NDArray")
    if ctx is not None and ctx != out.context:
        raise MXNetError(f"{fname}: ctx={ctx}: expected the context of out, {out.context}")
    if _given(shape) and _shape(shape) != out.shape:
        raise MXNetError(f"{fname}: shape={shape!r}: expected the shape of out, {out.shape}")
    if dt is not None and dt != out.dtype:
        raise MXNetError(f"{fname}: dtype={dt.name!r}: expected the type of out, "
                         f"{np.dtype(out.dtype).name}")
    if np.dtype(out.dtype).name not in allowed:
        raise MXNetError(f"{fname}: out=<NDArray of type {np.dtype(out.dtype).name}>: "
                         f"expected one of {', '.join(allowed)}")


def _scalar_sample(op, fname, params, shape, dtype, ctx, out, kwargs, allowed=_FLOAT_TYPES,
                   default="float32", integral=False):
    """Draws from one distribution of number parameters into a new array (or ``out``)."""
    for key, value in params.items():
        if not _is_number(value, integral):
            shown = "<NDArray>" if isinstance(value, NDArray) else repr(value)
            raise MXNetError(f"{fname}: {key}={shown}: expected "
                             f"{'an integer' if integral else 'a number'}")
    if ctx is not None and not isinstance(ctx, Context):
        raise MXNetError(f"{fname}: ctx={ctx!r}: expected a Context such as mx.cpu(0)")
    dt = _checked_dtype(fname, dtype, allowed)
    if out is not None:
        _checked_out(fname, out, ctx, shape, dt, allowed)
        arr = out
    else:
        arr = empty(_shape(shape) if _given(shape) else (1,), ctx=ctx,
                    dtype=dt if dt is not None else default)
    invoke(op, [], out=arr, shape=arr.shape, dtype=np.dtype(arr.dtype).name, **params, **kwargs)
    return arr


def _array_sample(op, fname, params, shape, dtype, out, kwargs):
    """One distribution per element of the NDArray parameters (``_sample_<dist>``)."""
    first = next(iter(params))
    for key, value in params.items():
        if not isinstance(value, NDArray):
            raise MXNetError(f"{fname}: {key}={value!r}: expected an NDArray, as {first} is one "
                             f"(parameters are all numbers or all NDArrays)")
    _checked_dtype(fname, dtype, _FLOAT_TYPES)
    attrs = dict(kwargs)
    if _given(shape):
        attrs["shape"] = _shape(shape)
    if _given(dtype):
        attrs["dtype"] = np.dtype(dtype).name
    return invoke(op, list(params.values()), out=out, **attrs)


def _random_helper(key, fname, params, shape, dtype, ctx, out, kwargs):
    """MXNet's dispatch: number parameters to ``_random_<key>``, NDArrays to ``_sample_<key>``."""
    first = next(iter(params.values()))
    if isinstance(first, NDArray):
        return _array_sample("_sample_" + key, fname, params, shape, dtype, out, kwargs)
    for k, v in params.items():
        if isinstance(v, NDArray):
            raise MXNetError(f"{fname}: {k}=<NDArray>: expected a number, as "
                             f"{next(iter(params))} is one (parameters are all numbers or all "
                             f"NDArrays)")
    return _scalar_sample("_random_" + key, fname, params, shape, dtype, ctx, out, kwargs)


def uniform(low=0, high=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs) -> NDArray:
    """uniform(low=0, high=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs)

    Samples from the uniform distribution on [low, high).

    Parameters
    ----------
    low, high : float or NDArray
        The interval (``low <= high``). NDArrays of one shape ``(x, y)`` give an output of
        shape ``(x, y) + shape``: ``shape`` draws for each pair.
    shape : int or tuple of ints
        The draws (for each parameter pair); (1,) when neither shape nor out is given and the
        parameters are numbers.
    dtype : {'float16', 'float32', 'float64'}
        Default float32 (out's type when out is given).
    ctx : Context
        The device for number parameters (default: the current context); NDArray parameters
        draw on their own device.
    out : NDArray
        Written with the samples and returned.
    """
    return _random_helper("uniform", "uniform", {"low": low, "high": high}, shape, dtype, ctx,
                          out, kwargs)


def normal(loc=0, scale=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs) -> NDArray:
    """normal(loc=0, scale=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs)

    Samples from the normal distribution of mean ``loc`` and standard deviation ``scale``
    (``scale >= 0``); numbers or NDArrays as in :func:`uniform`.
    """
    return _random_helper("normal", "normal", {"loc": loc, "scale": scale}, shape, dtype, ctx,
                          out, kwargs)


def randn(*shape, **kwargs) -> NDArray:
    """randn(*shape, loc=0, scale=1, dtype=_Null, ctx=None, out=None, **kwargs)

    Samples from the normal distribution, the shape given by position:
    ``randn(2, 3)`` is ``normal(0, 1, shape=(2, 3))``.
    """
    loc = kwargs.pop("loc", 0)
    scale = kwargs.pop("scale", 1)
    dtype = kwargs.pop("dtype", _Null)
    ctx = kwargs.pop("ctx", None)
    out = kwargs.pop("out", None)
    return _random_helper("normal", "randn", {"loc": loc, "scale": scale},
                          shape if shape else _Null, dtype, ctx, out, kwargs)


def poisson(lam=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs) -> NDArray:
    """poisson(lam=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs)

    Samples from the Poisson distribution of mean ``lam`` (``lam >= 0``), as floating point
    numbers; a number or an NDArray as in :func:`uniform`.
    """
    return _random_helper("poisson", "poisson", {"lam": lam}, shape, dtype, ctx, out, kwargs)


def exponential(scale=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs) -> NDArray:
    """exponential(scale=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs)

    Samples from the exponential distribution of mean ``scale`` (``scale > 0``; the rate
    ``lam`` of the operators is ``1 / scale``); a number or an NDArray as in :func:`uniform`.
    """
    if _is_number(scale):
        if not scale > 0:
            raise MXNetError(f"exponential: scale={scale!r}: expected a number > 0")
        lam = 1.0 / scale
    elif isinstance(scale, NDArray):
        lam = 1.0 / scale
    else:
        raise MXNetError(f"exponential: scale={scale!r}: expected a number or an NDArray")
    return _random_helper("exponential", "exponential", {"lam": lam}, shape, dtype, ctx, out,
                          kwargs)


def gamma(alpha=1, beta=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs) -> NDArray:
    """gamma(alpha=1, beta=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs)

    Samples from the gamma distribution of shape ``alpha`` and scale ``beta`` (both > 0; mean
    ``alpha * beta``); numbers or NDArrays as in :func:`uniform`.
    """
    return _random_helper("gamma", "gamma", {"alpha": alpha, "beta": beta}, shape, dtype, ctx,
                          out, kwargs)


def negative_binomial(k=1, p=1, shape=_Null, dtype=_Null, ctx=None, out=None,
                      **kwargs) -> NDArray:
    """negative_binomial(k=1, p=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs)

    Samples the number of failures before the ``k``-th success of trials that succeed with
    probability ``p`` (``k >= 0`` an integer, ``0 < p <= 1``), as floating point numbers;
    numbers or NDArrays as in :func:`uniform`.
    """
    if not isinstance(k, NDArray) and _is_number(k) and not _is_number(k, integral=True):
        if float(k) != int(k):
            raise MXNetError(f"negative_binomial: k={k!r}: expected an integer")
        k = int(k)
    return _random_helper("negative_binomial", "negative_binomial", {"k": k, "p": p}, shape,
                          dtype, ctx, out, kwargs)


def generalized_negative_binomial(mu=1, alpha=1, shape=_Null, dtype=_Null, ctx=None, out=None,
                                  **kwargs) -> NDArray:
    """generalized_negative_binomial(mu=1, alpha=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs)

    Samples from the negative binomial distribution of mean ``mu`` and dispersion ``alpha``
    (variance ``mu + alpha * mu**2``; Poisson when ``alpha`` is 0; both >= 0), as floating
    point numbers; numbers or NDArrays as in :func:`uniform`.
    """
    return _random_helper("generalized_negative_binomial", "generalized_negative_binomial",
                          {"mu": mu, "alpha": alpha}, shape, dtype, ctx, out, kwargs)


def multinomial(data, shape=_Null, get_prob=False, out=None, dtype="int32", **kwargs):
    """multinomial(data, shape=_Null, get_prob=False, out=None, dtype='int32', **kwargs)

    Samples category indices from the distributions on the last axis of ``data`` (each row
    sums to one): for data of shape ``(d1, ..., dn-1, k)`` the result has shape
    ``(d1, ..., dn-1) + shape``; for 1-d data, ``shape`` (or (1,)). With ``get_prob``, returns
    ``[samples, log_probabilities]``; the gradient of the log-probabilities flows back to
    ``data`` (the score-function estimator).

    dtype : {'int32', 'uint8', 'float16', 'float32', 'float64'}
        The type of the indices.
    """
    if not isinstance(data, NDArray):
        raise MXNetError(f"multinomial: data={data!r}: expected an NDArray")
    attrs = dict(kwargs)
    if _given(shape):
        attrs["shape"] = _shape(shape)
    return invoke("_sample_multinomial", [data], out=out, get_prob=bool(get_prob),
                  dtype=np.dtype(dtype).name if _given(dtype) else "int32", **attrs)


def shuffle(data, **kwargs) -> NDArray:
    """shuffle(data, out=None)

    A new array holding the rows (first-axis slices) of ``data`` in a random order; a 1-d
    array's elements. With ``out``, writes there and returns it.
    """
    if not isinstance(data, NDArray):
        raise MXNetError(f"shuffle: data={data!r}: expected an NDArray")
    out = kwargs.pop("out", None)
    return invoke("_shuffle", [data], out=out, **kwargs)


def randint(low, high, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs) -> NDArray:
    """randint(low, high, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs)

    Samples integers uniformly from [low, high) (``low < high``, numbers). ``dtype`` is
    'int32' (default) or 'int64'; ``shape``, ``ctx`` and ``out`` as in :func:`uniform`.
    """
    return _scalar_sample("_random_randint", "randint", {"low": low, "high": high}, shape,
                          dtype, ctx, out, kwargs, _INT_TYPES, "int32", integral=True)


def _like(key: str):
    fn = OP_FUNCTIONS[f"_random_{key}_like"]
    name = f"{key}_like"

    def like(*args, **kwargs):
        return fn(*args, **kwargs)

    like.__name__ = like.__qualname__ = name
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
