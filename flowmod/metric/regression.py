"""Regression metrics: mean absolute, mean squared and root mean squared error, Pearson's
correlation, and the mean of loss outputs."""
from __future__ import annotations

import math

import numpy

from .. import ndarray as nd
from ..ndarray import NDArray
from .base import (EvalMetric, _as_nd, _check_average, _total, _value, alias,
                   check_label_shapes, register)


def _regression_pair(label, pred, who):
    label = _as_nd(label, who, "label")
    pred = _as_nd(pred, who, "pred")
    if label.ndim == 1:
        label = label.reshape((label.shape[0], 1))
    if pred.ndim == 1:
        pred = pred.reshape((pred.shape[0], 1))
    return nd.broadcast_sub(label.astype("float64"), pred.astype("float64"))


class _MeanError(EvalMetric):
    """A batch's error, a reduction (``_reduce``) of label - pred over its elements, averaged
    over batches."""

    def __init__(self, name, output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    @staticmethod
    def _reduce(diff: NDArray) -> NDArray:
        raise TypeError("a subclass of _MeanError defines _reduce(diff)")

    def update(self, labels, preds) -> None:
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            diff = _regression_pair(label, pred, f"{type(self).__name__}.update")
            self._add(self._reduce(diff).reshape((1,)), 1)


@register
class MAE(_MeanError):
    """MAE(name='mae', output_names=None, label_names=None)

    Mean absolute error: the mean of |label - pred| of each batch (1-d arrays taken as
    columns, broadcasting), averaged over batches.
    """

    def __init__(self, name="mae", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names)

    @staticmethod
    def _reduce(diff: NDArray) -> NDArray:
        return nd.mean(nd.abs(diff))


@register
class MSE(_MeanError):
    """MSE(name='mse', output_names=None, label_names=None)

    Mean squared error of each batch, averaged over batches (inputs as in :class:`MAE`).
    """

    def __init__(self, name="mse", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names)

    @staticmethod
    def _reduce(diff: NDArray) -> NDArray:
        return nd.mean(nd.square(diff))


@register
class RMSE(_MeanError):
    """RMSE(name='rmse', output_names=None, label_names=None)

    Root mean squared error of each batch, averaged over batches (inputs as in
    :class:`MAE`).
    """

    def __init__(self, name="rmse", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names)

    @staticmethod
    def _reduce(diff: NDArray) -> NDArray:
        return nd.sqrt(nd.mean(nd.square(diff)))


@register
@alias("pearsonr")
class PearsonCorrelation(EvalMetric):
    """PearsonCorrelation(name='pearsonr', output_names=None, label_names=None,
    average='macro')

    Pearson's correlation coefficient between labels and predictions (flattened).
    ``average='macro'`` averages the coefficient of each batch; ``'micro'`` gives the
    coefficient of all values seen since ``reset()``, from running means and sums of
    squares kept on the engine.
    """

    def __init__(self, name="pearsonr", output_names=None, label_names=None, average="macro"):
        _check_average("PearsonCorrelation", average)
        self.average = average
        super().__init__(name, output_names=output_names, label_names=label_names,
                         average=average, has_global_stats=True)
        if self.average == "micro":
            self.reset_micro()

    def reset_micro(self) -> None:
        """Clears the running statistics of 'micro' averaging."""
        self._sse_p = 0.0
        self._mean_p = 0.0
        self._sse_l = 0.0
        self._mean_l = 0.0
        self._pred_nums = 0
        self._label_nums = 0
        self._conv = 0.0
        self.num_inst = 0
        self.global_num_inst = 0
        self.sum_metric = 0.0
        self.global_sum_metric = 0.0

    def reset(self) -> None:
        super().reset()
        if self.average == "micro":
            self.reset_micro()

    @staticmethod
    def update_variance(new_values, *aggregate):
        """Welford's update of (count, mean, sum of squared deviations) by a batch."""
        count, mean, m_2 = aggregate
        count += new_values.shape[0]
        delta = new_values - mean
        mean = mean + nd.sum(delta).reshape((1,)) / count
        delta_2 = new_values - mean
        m_2 = m_2 + nd.sum(delta * delta_2).reshape((1,))
        return count, mean, m_2

    def update_cov(self, label, pred) -> None:
        """Adds the batch's co-deviations, with the label mean updated and the prediction
        mean not yet."""
        self._conv = self._conv + nd.sum((label - self._mean_l) *
                                         (pred - self._mean_p)).reshape((1,))

    def update(self, labels, preds) -> None:
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label = _as_nd(label, "PearsonCorrelation.update", "label")
            pred = _as_nd(pred, "PearsonCorrelation.update", "pred")
            check_label_shapes(label, pred, False, True)
            label = label.reshape((-1,)).astype("float64")
            pred = pred.reshape((-1,)).astype("float64")
            if self.average == "macro":
                dl = nd.broadcast_sub(label, nd.mean(label).reshape((1,)))
                dp = nd.broadcast_sub(pred, nd.mean(pred).reshape((1,)))
                corr = nd.sum(dl * dp).reshape((1,)) / nd.sqrt(
                    nd.sum(nd.square(dl)).reshape((1,)) * nd.sum(nd.square(dp)).reshape((1,)))
                self._add(corr, 1)
            else:
                self.num_inst += 1
                self.global_num_inst += 1
                self._label_nums, self._mean_l, self._sse_l = self.update_variance(
                    label, self._label_nums, self._mean_l, self._sse_l)
                self.update_cov(label, pred)
                self._pred_nums, self._mean_p, self._sse_p = self.update_variance(
                    pred, self._pred_nums, self._mean_p, self._sse_p)

    def get(self):
        if _value(self.num_inst) == 0:
            return (self.name, float("nan"))
        if self.average == "macro":
            return (self.name, _value(self.sum_metric) / _value(self.num_inst))
        n = self._label_nums
        sse_p, sse_l, conv = _value(self._sse_p), _value(self._sse_l), _value(self._conv)
        denom = (n - 1) * math.sqrt(sse_p / (n - 1)) * math.sqrt(sse_l / (n - 1)) \
            if n > 1 else 0.0
        return (self.name, conv / denom if denom else float("nan"))

    def get_global(self):
        if self.average == "micro":
            return self.get()
        return super().get_global()


@register
class Loss(EvalMetric):
    """Loss(name='loss', output_names=None, label_names=None)

    The mean of the values of the outputs (for networks whose outputs are losses, such as
    MakeLoss); labels are ignored.
    """

    def __init__(self, name="loss", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def update(self, _, preds) -> None:
        if isinstance(preds, (NDArray, numpy.ndarray)):
            preds = [preds]
        for pred in preds:
            pred = _as_nd(pred, "Loss.update", "pred")
            self._add(_total(pred), pred.size)
