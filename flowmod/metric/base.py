"""The base of metrics (``mxnet.metric.EvalMetric``), the registry ``create`` reads, and
the helpers the built-in metrics share: checking and converting their inputs and summing on
the engine."""
from __future__ import annotations

import numbers

import numpy

from .. import ndarray as nd
from .. import registry
from ..context import cpu
from ..ndarray import NDArray

def check_label_shapes(labels, preds, wrap=False, shape=False):
    """check_label_shapes(labels, preds, wrap=False, shape=False)

    Raises ValueError unless ``labels`` and ``preds`` have the same length (or, with
    ``shape``, the same shape). With ``wrap``, a single array becomes a one-element list.
    Returns ``(labels, preds)``.
    """
    if not shape:
        label_shape, pred_shape = len(labels), len(preds)
    else:
        label_shape, pred_shape = labels.shape, preds.shape
    if label_shape != pred_shape:
        raise ValueError(f"Shape of labels {label_shape} does not match shape of "
                         f"predictions {pred_shape}")
    if wrap:
        if isinstance(labels, (NDArray, numpy.ndarray)):
            labels = [labels]
        if isinstance(preds, (NDArray, numpy.ndarray)):
            preds = [preds]
    return labels, preds


def _as_nd(x, who: str, arg: str) -> NDArray:
    """An NDArray for ``x``: itself, or a copy of a numpy array (pushed, not waited for)."""
    if isinstance(x, NDArray):
        return x
    if isinstance(x, (numpy.ndarray, numpy.generic, list, tuple, numbers.Number)):
        host = numpy.asarray(x)
        if host.dtype not in (numpy.float32, numpy.float64, numpy.float16, numpy.int32,
                              numpy.int64, numpy.int8, numpy.uint8):
            host = host.astype(numpy.float64) if host.dtype.kind in "biuf" else host
        if host.dtype.kind not in "iuf":
            raise TypeError(f"{who}: {arg} has type {host.dtype}: expected numbers")
        if host.ndim == 0:
            host = host.reshape(1)
        return nd.array(host, dtype=host.dtype)
    raise TypeError(f"{who}: {arg}={type(x).__name__}: expected an NDArray or a numpy array")


def _as_numpy(x) -> numpy.ndarray:
    return x.asnumpy() if isinstance(x, NDArray) else numpy.asarray(x)


def _value(x):
    """A Python number for an accumulator: waits for an NDArray's value."""
    if isinstance(x, NDArray):
        return float(x.asnumpy().reshape(-1)[0])
    return x


def _total(x) -> NDArray:
    """The sum of all elements of ``x`` as a one-element float64 NDArray (pushed), on
    cpu(0) where the accumulators live whichever device computed it."""
    return nd.sum(x).reshape((1,)).astype("float64").as_in_context(cpu())


class EvalMetric:
    """EvalMetric(name, output_names=None, label_names=None, **kwargs)

    The base class of metrics. A subclass defines ``update(labels, preds)``, adding to
    ``sum_metric`` / ``num_inst`` (the local accumulation) and ``global_sum_metric`` /
    ``global_num_inst``; ``get()`` reports ``sum_metric / num_inst``.

    Parameters
    ----------
    name : str
        The metric's name, as ``get()`` reports it.
    output_names : list of str, optional
        The outputs ``update_dict`` passes on (default: all of them, in order).
    label_names : list of str, optional
        The labels ``update_dict`` passes on (default: all of them, in order).
    has_global_stats : bool (keyword)
        Whether the subclass maintains the global accumulation; if not, ``get_global()`` is
        ``get()``.
    """

    def __init__(self, name, output_names=None, label_names=None, **kwargs):
        self.name = str(name)
        self.output_names = output_names
        self.label_names = label_names
        self._has_global_stats = kwargs.pop("has_global_stats", False)
        self._kwargs = kwargs
        self.reset()

    def __str__(self) -> str:
        return f"EvalMetric: {dict(self.get_name_value())}"

    def get_config(self) -> dict:
        """get_config(): a dict that ``create`` makes an equal metric from."""
        config = self._kwargs.copy()
        config.update({"metric": self.__class__.__name__, "name": self.name,
                       "output_names": self.output_names, "label_names": self.label_names})
        return config

    def update_dict(self, label, pred) -> None:
        """update_dict(label, pred): ``update`` from dicts of name to array, taking the
        entries named by ``label_names`` / ``output_names`` (all, in order, by default)."""
        if self.output_names is not None:
            pred = [pred[name] for name in self.output_names]
        else:
            pred = list(pred.values())
        if self.label_names is not None:
            label = [label[name] for name in self.label_names]
        else:
            label = list(label.values())
        self.update(label, pred)

    def update(self, labels, preds) -> None:
        """update(labels, preds): adds a batch (lists of arrays, one per output)."""
        raise TypeError(f"{type(self).__name__} cannot update: a subclass of EvalMetric must "
                        f"define update(labels, preds)")

    def reset(self) -> None:
        """reset(): clears the local and the global accumulation."""
        self.num_inst = 0
        self.sum_metric = 0.0
        self.global_num_inst = 0
        self.global_sum_metric = 0.0

    def reset_local(self) -> None:
        """reset_local(): clears the local accumulation only."""
        self.num_inst = 0
        self.sum_metric = 0.0

    def get(self):
        """get() -> (name, value): the local value, NaN before any instance. Waits for the
        accumulators."""
        num_inst = _value(self.num_inst)
        if num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, _value(self.sum_metric) / num_inst)

    def get_global(self):
        """get_global() -> (name, value): the value since the last ``reset()``."""
        if self._has_global_stats:
            num_inst = _value(self.global_num_inst)
            if num_inst == 0:
                return (self.name, float("nan"))
            return (self.name, _value(self.global_sum_metric) / num_inst)
        return self.get()

    def get_name_value(self):
        """get_name_value(): ``get()`` as a list of (name, value) pairs."""
        name, value = self.get()
        if not isinstance(name, list):
            name = [name]
        if not isinstance(value, list):
            value = [value]
        return list(zip(name, value))

    def get_global_name_value(self):
        """get_global_name_value(): ``get_global()`` as a list of (name, value) pairs."""
        if self._has_global_stats:
            name, value = self.get_global()
            if not isinstance(name, list):
                name = [name]
            if not isinstance(value, list):
                value = [value]
            return list(zip(name, value))
        return self.get_name_value()

    def _arrays(self) -> list:
        """The NDArrays this metric accumulates into, which the engine writes on
        ``update``: its attributes that are NDArrays, and those of the metrics it holds in
        lists (a composite's children)."""
        found: list = []
        for value in vars(self).values():
            if isinstance(value, NDArray):
                found.append(value)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    if isinstance(item, EvalMetric):
                        found.extend(item._arrays())
        return found

    def _add(self, value, count) -> None:
        """Adds ``value`` (an NDArray or a number) and ``count`` to both accumulations."""
        self.sum_metric += value
        self.global_sum_metric += value
        self.num_inst += count
        self.global_num_inst += count


_register = registry.get_register_func(EvalMetric, "metric")
alias = registry.get_alias_func(EvalMetric, "metric")
_create = registry.get_create_func(EvalMetric, "metric")


def register(klass):
    """register(klass): registers a subclass of EvalMetric under its lower-cased class name
    for ``create``. Returns the class (use as a decorator)."""
    return _register(klass)


def create(metric, *args, **kwargs):
    """create(metric, *args, **kwargs)

    A metric from a registered name ('acc', 'accuracy', 'ce', 'f1', 'mse', ...), an
    EvalMetric (returned as is), a function ``feval(label, pred)`` (a :class:`CustomMetric`),
    a config dict from ``get_config()``, or a list of any of these (a
    :class:`CompositeEvalMetric`). Further arguments go to the metric's constructor.
    """
    # Both are metrics made by create itself, so they are defined after it.
    from .composite import CompositeEvalMetric
    from .custom import CustomMetric
    if callable(metric):
        return CustomMetric(metric, *args, **kwargs)
    if isinstance(metric, list):
        composite = CompositeEvalMetric()
        for child in metric:
            composite.add(create(child, *args, **kwargs))
        return composite
    return _create(metric, *args, **kwargs)


def _check_average(who: str, average) -> None:
    if average not in ("macro", "micro"):
        raise ValueError(f"{who}: average={average!r}: expected 'macro' or 'micro'")
