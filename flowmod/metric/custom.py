"""Metrics computed by a Python function on numpy arrays (``mxnet.metric.CustomMetric`` and
``mxnet.metric.np``): their updates wait for each batch's arrays."""
from __future__ import annotations

import numpy

from ..ndarray import NDArray
from .base import EvalMetric, _as_numpy, check_label_shapes, register


@register
class CustomMetric(EvalMetric):
    """CustomMetric(feval, name=None, allow_extra_outputs=False, output_names=None,
    label_names=None)

    A metric computed by ``feval(label, pred)`` on numpy arrays, one call per output;
    it returns the batch's value (counted as one instance) or a (sum_metric, num_inst)
    pair. ``update`` converts the arrays to numpy, so it waits for them. The name defaults
    to feval's (``custom(<lambda>)`` for a lambda). With ``allow_extra_outputs``, labels
    and predictions may differ in number (the extra ones are not evaluated).
    """

    def __init__(self, feval, name=None, allow_extra_outputs=False, output_names=None,
                 label_names=None):
        if not callable(feval):
            raise TypeError(f"CustomMetric: feval={feval!r}: expected a function "
                            f"feval(label, pred)")
        if name is None:
            name = feval.__name__
            if name.find("<") != -1:
                name = f"custom({name})"
        super().__init__(name, feval=feval, allow_extra_outputs=allow_extra_outputs,
                         output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self._feval = feval
        self._allow_extra_outputs = allow_extra_outputs

    def update(self, labels, preds) -> None:
        if not self._allow_extra_outputs:
            labels, preds = check_label_shapes(labels, preds, True)
        else:
            if isinstance(labels, (NDArray, numpy.ndarray)):
                labels = [labels]
            if isinstance(preds, (NDArray, numpy.ndarray)):
                preds = [preds]
        for pred, label in zip(preds, labels):
            reval = self._feval(_as_numpy(label), _as_numpy(pred))
            if isinstance(reval, tuple):
                sum_metric, num_inst = reval
                self._add(sum_metric, num_inst)
            else:
                self._add(reval, 1)

    def get_config(self):
        raise TypeError("CustomMetric cannot be serialized: its feval is a Python function")


def np(numpy_feval, name=None, allow_extra_outputs=False):
    """np(numpy_feval, name=None, allow_extra_outputs=False)

    A :class:`CustomMetric` from a function of numpy arrays ``numpy_feval(label, pred)``,
    returning a number or a (sum_metric, num_inst) pair. Its updates wait for the arrays.
    """
    def feval(label, pred):
        return numpy_feval(label, pred)
    feval.__name__ = numpy_feval.__name__
    return CustomMetric(feval, name, allow_extra_outputs)
