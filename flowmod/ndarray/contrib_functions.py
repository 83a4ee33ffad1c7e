"""The functions MXNet 1.9.1 writes in Python in mx.nd.contrib (python/mxnet/ndarray/contrib.py)
over registered operators: rand_zipfian, isinf, isfinite, isnan, and the AdamW and LAMB
updates that take their lists of arrays as Python lists."""
from __future__ import annotations

import math

import numpy as np

from ..base import MXNetError
from ..context import current_context
from .ndarray import NDArray, full
from .ops import invoke, logical_and
from .random import uniform

__all__ = ["rand_zipfian", "isinf", "isfinite", "isnan", "uniform", "adamw_update", "mp_adamw_update",
           "multi_adamw_update", "multi_mp_adamw_update", "multi_lamb_update", "multi_mp_lamb_update"]


def rand_zipfian(true_classes, num_sampled, range_max, ctx=None):
    """rand_zipfian(true_classes, num_sampled, range_max, ctx=None)

    ``num_sampled`` classes drawn with replacement from the approximately log-uniform (Zipfian)
    distribution over [0, range_max): P(class) = (log(class + 2) - log(class + 1)) /
    log(range_max + 1). Returns (sampled_classes (int64), expected count of each true class,
    expected count of each sampled class)."""
    if not isinstance(true_classes, NDArray):
        raise MXNetError(f"rand_zipfian: true_classes={true_classes!r}: expected an NDArray")
    for key, value in (("num_sampled", num_sampled), ("range_max", range_max)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise MXNetError(f"rand_zipfian: {key}={value!r}: expected an integer >= 1")
    if ctx is None:
        ctx = current_context()
    log_range = math.log(range_max + 1)
    rand = uniform(0, log_range, shape=(num_sampled,), dtype="float64", ctx=ctx)
    sampled_classes = (rand.exp() - 1).astype("int64") % range_max
    true_cls = true_classes.as_in_context(ctx).astype("float64")
    expected_count_true = ((true_cls + 2.0) / (true_cls + 1.0)).log() / log_range * num_sampled
    sampled = sampled_classes.astype("float64")
    expected_count_sampled = ((sampled + 2.0) / (sampled + 1.0)).log() / log_range * num_sampled
    return sampled_classes, expected_count_true, expected_count_sampled


def _array(data, func):
    if not isinstance(data, NDArray):
        raise MXNetError(f"{func}: data={data!r}: expected an NDArray")
    return data


def isinf(data):
    """isinf(data): 1 where an element is +inf or -inf, else 0 (data's type)."""
    return _array(data, "isinf").abs() == np.inf


def isfinite(data):
    """isfinite(data): 1 where an element is neither infinite nor NaN, else 0."""
    data = _array(data, "isfinite")
    return logical_and(data.abs() != np.inf, data == data)


def isnan(data):
    """isnan(data): 1 where an element is NaN, else 0."""
    data = _array(data, "isnan")
    return data != data


def _rescale(rescale_grad, ctx):
    if isinstance(rescale_grad, NDArray):
        return rescale_grad.as_in_context(ctx)
    return full((1,), rescale_grad, ctx=ctx)


def _flat(*lists):
    return [x for group in zip(*lists) for x in group]


def adamw_update(weight, grad, mean, var, rescale_grad, lr, eta, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 wd=0, clip_gradient=-1, out=None, name=None, **kwargs):
    """adamw_update(weight, grad, mean, var, rescale_grad, lr, eta, beta1=0.9, beta2=0.999,
    epsilon=1e-8, wd=0, clip_gradient=-1, out=None, name=None): _adamw_update with
    rescale_grad given as a number or a one-element NDArray."""
    return invoke("_adamw_update", [weight, grad, mean, var, _rescale(rescale_grad, weight.context)], out=out,
                  lr=lr, eta=eta, beta1=beta1, beta2=beta2, epsilon=epsilon, wd=wd,
                  clip_gradient=clip_gradient, **kwargs)


def mp_adamw_update(weight, grad, mean, var, weight32, rescale_grad, lr, eta, beta1=0.9, beta2=0.999,
                    epsilon=1e-8, wd=0, clip_gradient=-1, out=None, name=None, **kwargs):
    """mp_adamw_update(weight, grad, mean, var, weight32, rescale_grad, lr, eta, ...):
    _mp_adamw_update with rescale_grad given as a number or a one-element NDArray."""
    return invoke("_mp_adamw_update", [weight, grad, mean, var, weight32, _rescale(rescale_grad, weight.context)],
                  out=out, lr=lr, eta=eta, beta1=beta1, beta2=beta2, epsilon=epsilon, wd=wd,
                  clip_gradient=clip_gradient, **kwargs)


def multi_adamw_update(weights, grads, mean, var, rescale_grad, lrs, wds, etas, out=None, name=None, size=0,
                       **kwargs):
    """multi_adamw_update(weights, grads, mean, var, rescale_grad, lrs, wds, etas, out=None,
    name=None, size=0): _multi_adamw_update over lists of arrays."""
    size = size or len(weights)
    flat = _flat(weights, grads, mean, var) + [_rescale(rescale_grad, weights[0].context)]
    return invoke("_multi_adamw_update", flat, out=out, num_weights=size, lrs=lrs, wds=wds, etas=etas, **kwargs)


def multi_mp_adamw_update(weights, grads, mean, var, weights32, rescale_grad, lrs, wds, etas, out=None, name=None,
                          size=0, **kwargs):
    """multi_mp_adamw_update(weights, grads, mean, var, weights32, rescale_grad, lrs, wds,
    etas, out=None, name=None, size=0): _multi_mp_adamw_update over lists of arrays."""
    size = size or len(weights)
    flat = _flat(weights, grads, mean, var, weights32) + [_rescale(rescale_grad, weights[0].context)]
    return invoke("_multi_mp_adamw_update", flat, out=out, num_weights=size, lrs=lrs, wds=wds, etas=etas,
                  **kwargs)


def multi_lamb_update(weights, grads, mean, var, step_count, lrs, wds, out=None, num_tensors=0, **kwargs):
    """multi_lamb_update(weights, grads, mean, var, step_count, lrs, wds, out=None,
    num_tensors=0, **kwargs): both LAMB phases for each weight, _multi_lamb_update over lists."""
    num_tensors = num_tensors or len(weights)
    return invoke("_multi_lamb_update", _flat(weights, grads, mean, var), out=out, num_tensors=num_tensors,
                  step_count=step_count, learning_rates=lrs, wds=wds, **kwargs)


def multi_mp_lamb_update(weights, grads, mean, var, weights32, step_count, lrs, wds, out=None, num_tensors=0,
                         **kwargs):
    """multi_mp_lamb_update(weights, grads, mean, var, weights32, step_count, lrs, wds,
    out=None, num_tensors=0, **kwargs): _multi_mp_lamb_update over lists of arrays."""
    num_tensors = num_tensors or len(weights)
    return invoke("_multi_mp_lamb_update", _flat(weights, grads, mean, var, weights32), out=out,
                  num_tensors=num_tensors, step_count=step_count, learning_rates=lrs, wds=wds, **kwargs)
