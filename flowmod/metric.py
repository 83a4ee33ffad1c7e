"""Evaluation metrics (``mxnet.metric``).

A metric accumulates over ``update(labels, preds)`` calls (lists of arrays, one per output)
and reports with ``get()``. It keeps two accumulations: the *local* one, which
``reset_local()`` clears (as ``Speedometer`` does every few batches), and the *global* one,
cleared only by ``reset()``::

    acc = mx.metric.create('acc')
    acc.update([label], [pred])
    name, value = acc.get()

The built-in metrics accumulate on the engine: ``update`` pushes array operations that add
into one-element NDArray accumulators (``sum_metric``) and counts instances in Python from
the arrays' shapes (``num_inst``), so it returns at once and never waits for the network's
outputs. ``get()`` waits for the accumulators and turns them into Python floats. Labels and
predictions may be NDArrays or numpy arrays (numpy arrays are copied to the engine).

:class:`CustomMetric` and :func:`np` call a Python function on numpy arrays, so their
``update`` waits for each batch's arrays.

A metric written as a subclass of :class:`EvalMetric` may keep Python numbers in
``sum_metric`` and ``num_inst`` as in MXNet; ``get()`` accepts either.
"""
from __future__ import annotations

import math
import numbers
from collections import OrderedDict

import numpy

from . import ndarray as nd
from . import registry
from .base import numeric_types, string_types
from .context import cpu
from .ndarray import NDArray

__all__ = ["EvalMetric", "register", "alias", "create", "check_label_shapes",
           "CompositeEvalMetric", "Accuracy", "TopKAccuracy", "F1", "MCC", "Perplexity", "MAE",
           "MSE", "RMSE", "CrossEntropy", "NegativeLogLikelihood", "PearsonCorrelation", "Loss",
           "CustomMetric", "np"]


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
    if callable(metric):
        return CustomMetric(metric, *args, **kwargs)
    if isinstance(metric, list):
        composite = CompositeEvalMetric()
        for child in metric:
            composite.add(create(child, *args, **kwargs))
        return composite
    return _create(metric, *args, **kwargs)


@register
@alias("composite")
class CompositeEvalMetric(EvalMetric):
    """CompositeEvalMetric(metrics=None, name='composite', output_names=None,
    label_names=None)

    Several metrics updated together; ``get()`` gives the lists of their names and values.
    """

    def __init__(self, metrics=None, name="composite", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        if metrics is None:
            metrics = []
        self.metrics = [create(i) for i in metrics]

    def add(self, metric) -> None:
        """add(metric): adds a child metric (anything ``create`` accepts)."""
        self.metrics.append(create(metric))

    def get_metric(self, index):
        """get_metric(index): the child metric at ``index``."""
        try:
            return self.metrics[index]
        except IndexError:
            raise ValueError(f"Metric index {index} is out of range 0 and "
                             f"{len(self.metrics)}") from None

    def update_dict(self, labels, preds) -> None:
        if self.label_names is not None:
            labels = OrderedDict([i for i in labels.items() if i[0] in self.label_names])
        if self.output_names is not None:
            preds = OrderedDict([i for i in preds.items() if i[0] in self.output_names])
        for metric in self.metrics:
            metric.update_dict(labels, preds)

    def update(self, labels, preds) -> None:
        for metric in self.metrics:
            metric.update(labels, preds)

    def reset(self) -> None:
        try:
            for metric in self.metrics:
                metric.reset()
        except AttributeError:
            pass  # called by EvalMetric.__init__ before self.metrics exists

    def reset_local(self) -> None:
        try:
            for metric in self.metrics:
                metric.reset_local()
        except AttributeError:
            pass

    def _collect(self, getter):
        names, values = [], []
        for metric in self.metrics:
            name, value = getter(metric)
            if isinstance(name, string_types):
                name = [name]
            if isinstance(value, numeric_types):
                value = [value]
            names.extend(name)
            values.extend(value)
        return (names, values)

    def get(self):
        return self._collect(lambda m: m.get())

    def get_global(self):
        return self._collect(lambda m: m.get_global())

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"metrics": [i.get_config() for i in self.metrics]})
        return config


@register
@alias("acc")
class Accuracy(EvalMetric):
    """Accuracy(axis=1, name='accuracy', output_names=None, label_names=None)

    The fraction of predictions equal to the labels. A prediction whose shape differs from
    its label's is turned into class indices by argmax along ``axis``; both are then
    compared as int32, element by element.
    """

    def __init__(self, axis=1, name="accuracy", output_names=None, label_names=None):
        super().__init__(name, axis=axis, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.axis = axis

    def update(self, labels, preds) -> None:
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred_label in zip(labels, preds):
            label = _as_nd(label, "Accuracy.update", "label")
            pred_label = _as_nd(pred_label, "Accuracy.update", "pred")
            if pred_label.shape != label.shape:
                pred_label = nd.argmax(pred_label, axis=self.axis)
            pred_flat = pred_label.reshape((-1,))
            label_flat = label.reshape((-1,))
            check_label_shapes(label_flat, pred_flat)
            correct = nd.equal(pred_flat.astype("int32"), label_flat.astype("int32"))
            self._add(_total(correct), pred_flat.shape[0])


@register
@alias("top_k_accuracy", "top_k_acc")
class TopKAccuracy(EvalMetric):
    """TopKAccuracy(top_k=1, name='top_k_accuracy', output_names=None, label_names=None)

    The fraction of labels among the ``top_k`` highest-scored classes of their
    prediction (2-d predictions, (batch, classes); 1-d predictions are taken as class
    indices). ``top_k`` must be an integer more than 1 (use Accuracy otherwise); the name
    gets ``_<top_k>`` appended.
    """

    def __init__(self, top_k=1, name="top_k_accuracy", output_names=None, label_names=None):
        super().__init__(name, top_k=top_k, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.top_k = top_k
        if not (isinstance(top_k, numbers.Integral) and top_k > 1):
            raise ValueError(f"TopKAccuracy: top_k={top_k!r}: expected an integer > 1 (use "
                             f"Accuracy if top_k is no more than 1)")
        self.name += f"_{self.top_k}"

    def update(self, labels, preds) -> None:
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred_label in zip(labels, preds):
            label = _as_nd(label, "TopKAccuracy.update", "label")
            pred_label = _as_nd(pred_label, "TopKAccuracy.update", "pred")
            if pred_label.ndim > 2:
                raise ValueError(f"TopKAccuracy: predictions of shape {pred_label.shape}: "
                                 f"Predictions should be no more than 2 dims")
            check_label_shapes(label, pred_label)
            num_samples = pred_label.shape[0]
            label_i = label.reshape((-1,)).astype("int32")
            if pred_label.ndim == 1:
                correct = nd.equal(pred_label.astype("int32"), label_i)
            else:
                top_k = min(pred_label.shape[1], self.top_k)
                top = nd.topk(pred_label.astype("float32"), axis=1, k=top_k, ret_typ="indices",
                              dtype="int32")
                correct = nd.broadcast_equal(top, label_i.reshape((-1, 1)))
            self._add(_total(correct), num_samples)


class _BinaryClassificationMetrics:
    """The confusion counts of a binary classification, accumulated on the engine: true
    positives, predicted positives and actual positives (locally and globally), and the
    number of examples in Python."""

    def __init__(self):
        self._invalid = 0.0
        self.reset_stats()

    def update_binary_stats(self, label, pred) -> None:
        label = _as_nd(label, "update_binary_stats", "label")
        pred = _as_nd(pred, "update_binary_stats", "pred")
        check_label_shapes(label, pred)
        pred_true = nd.equal(nd.argmax(pred, axis=1).astype("int32").reshape((-1,)), 1)
        label_i = label.reshape((-1,)).astype("int32")
        label_true = nd.equal(label_i, 1)
        # Labels other than 0 and 1, reported by check_binary() when the value is read.
        self._invalid += _total(nd.not_equal(label_i, 0) * nd.not_equal(label_i, 1))
        tp = _total(pred_true * label_true)
        npos = _total(pred_true)
        lpos = _total(label_true)
        n = label_i.shape[0]
        self.true_positives += tp
        self.pred_positives += npos
        self.label_positives += lpos
        self.total_examples += n
        self.global_true_positives += tp
        self.global_pred_positives += npos
        self.global_label_positives += lpos
        self.global_total_examples += n

    def check_binary(self, who: str) -> None:
        """Raises ValueError if a label other than 0 and 1 was seen since clear_invalid()."""
        if _value(self._invalid) > 0:
            raise ValueError(f"{who} currently only supports binary classification: labels "
                             f"must be 0 or 1")

    def clear_invalid(self) -> None:
        self._invalid = 0.0

    @staticmethod
    def _fscore(tp, npos, lpos):
        if not isinstance(tp, NDArray):
            return 0.0
        precision = tp / nd.maximum(npos, 1.0)  # 0 when nothing was predicted positive
        recall = tp / nd.maximum(lpos, 1.0)
        return 2 * precision * recall / nd.maximum(precision + recall, 1e-300)

    @staticmethod
    def _mcc(tp, npos, lpos, n):
        if not isinstance(tp, NDArray):
            return 0.0
        fp = npos - tp
        fn = lpos - tp
        tn = (n - npos) - fn
        # (tp+fp)(tp+fn)(tn+fp)(tn+fn), leaving out the terms that are 0.
        terms = [npos, lpos, n - lpos, n - npos]
        denom = None
        for t in terms:
            t = t + nd.equal(t, 0.0)
            denom = t if denom is None else denom * t
        return (tp * tn - fp * fn) / nd.sqrt(denom)

    # The other three counts, derived on the engine from the accumulated ones.
    @property
    def false_positives(self):
        return self.pred_positives - self.true_positives

    @property
    def false_negatives(self):
        return self.label_positives - self.true_positives

    @property
    def true_negatives(self):
        return self.total_examples - self.pred_positives - self.false_negatives

    @property
    def global_false_positives(self):
        return self.global_pred_positives - self.global_true_positives

    @property
    def global_false_negatives(self):
        return self.global_label_positives - self.global_true_positives

    @property
    def global_true_negatives(self):
        return self.global_total_examples - self.global_pred_positives - \
            self.global_false_negatives

    @property
    def fscore(self):
        """F1 of the local counts (an NDArray; 0.0 before any update)."""
        return self._fscore(self.true_positives, self.pred_positives, self.label_positives)

    @property
    def global_fscore(self):
        return self._fscore(self.global_true_positives, self.global_pred_positives,
                            self.global_label_positives)

    def matthewscc(self, use_global=False):
        """Matthews correlation coefficient of the local (or global) counts."""
        if use_global:
            return self._mcc(self.global_true_positives, self.global_pred_positives,
                             self.global_label_positives, self.global_total_examples)
        return self._mcc(self.true_positives, self.pred_positives, self.label_positives,
                         self.total_examples)

    def local_reset_stats(self) -> None:
        self.true_positives = 0.0
        self.pred_positives = 0.0
        self.label_positives = 0.0
        self.total_examples = 0

    def reset_stats(self) -> None:
        self.local_reset_stats()
        self.global_true_positives = 0.0
        self.global_pred_positives = 0.0
        self.global_label_positives = 0.0
        self.global_total_examples = 0


def _check_average(who: str, average) -> None:
    if average not in ("macro", "micro"):
        raise ValueError(f"{who}: average={average!r}: expected 'macro' or 'micro'")


class _BinaryMetric(EvalMetric):
    """F1 and MCC: a score of the confusion counts, averaged over updates ('macro') or of
    the counts pooled over updates ('micro')."""

    _score_name = ""

    def __init__(self, name, output_names, label_names, average):
        _check_average(type(self).__name__, average)
        self.average = average
        self.metrics = _BinaryClassificationMetrics()
        super().__init__(name=name, output_names=output_names, label_names=label_names,
                         average=average, has_global_stats=True)

    def _score(self, use_global):
        raise TypeError(f"{type(self).__name__} must define _score")

    def update(self, labels, preds) -> None:
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            self.metrics.update_binary_stats(label, pred)
        if self.average == "macro":
            self._add(self._score(False), 1)
            self.metrics.reset_stats()
        else:
            self.sum_metric = self._score(False) * self.metrics.total_examples
            self.global_sum_metric = self._score(True) * self.metrics.global_total_examples
            self.num_inst = self.metrics.total_examples
            self.global_num_inst = self.metrics.global_total_examples

    def get(self):
        self.metrics.check_binary(type(self).__name__)
        return super().get()

    def get_global(self):
        self.metrics.check_binary(type(self).__name__)
        return super().get_global()

    def reset(self) -> None:
        super().reset()
        self.metrics.reset_stats()
        self.metrics.clear_invalid()

    def reset_local(self) -> None:
        super().reset_local()
        self.metrics.local_reset_stats()


@register
class F1(_BinaryMetric):
    """F1(name='f1', output_names=None, label_names=None, average='macro')

    The F1 score of a binary classification: 2PR / (P + R) with precision P = tp / (tp + fp)
    and recall R = tp / (tp + fn) (0 when undefined). Predictions are (batch, 2) scores
    (class 1 is positive when it scores highest); labels are 0 or 1. ``average='macro'``
    averages the score of each update; ``'micro'`` scores the counts of all updates.
    Labels other than 0 and 1 raise ValueError when the value is read.
    """

    def __init__(self, name="f1", output_names=None, label_names=None, average="macro"):
        super().__init__(name, output_names, label_names, average)

    def _score(self, use_global):
        return self.metrics.global_fscore if use_global else self.metrics.fscore


@register
class MCC(_BinaryMetric):
    """MCC(name='mcc', output_names=None, label_names=None, average='macro')

    The Matthews correlation coefficient of a binary classification,
    (tp tn - fp fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn)), leaving out the factors that are
    0. Inputs and ``average`` as in :class:`F1`.
    """

    def __init__(self, name="mcc", output_names=None, label_names=None, average="macro"):
        super().__init__(name, output_names, label_names, average)

    def _score(self, use_global):
        return self.metrics.matthewscc(use_global)


@register
class Perplexity(EvalMetric):
    """Perplexity(ignore_label, axis=-1, name='perplexity', output_names=None,
    label_names=None)

    exp of the mean negative log-likelihood of the labels under the predicted
    distributions along ``axis``. Labels equal to ``ignore_label`` (unless None) are left
    out; then the count of instances is an NDArray too, read by ``get()``.
    """

    def __init__(self, ignore_label, axis=-1, name="perplexity", output_names=None,
                 label_names=None):
        super().__init__(name, ignore_label=ignore_label, axis=axis, output_names=output_names,
                         label_names=label_names, has_global_stats=True)
        self.ignore_label = ignore_label
        self.axis = axis

    def update(self, labels, preds) -> None:
        if len(labels) != len(preds):
            raise ValueError(f"Perplexity: {len(labels)} labels and {len(preds)} predictions: "
                             f"expected as many of each")
        loss = 0.0
        num = 0
        for label, pred in zip(labels, preds):
            label = _as_nd(label, "Perplexity.update", "label")
            pred = _as_nd(pred, "Perplexity.update", "pred")
            axis = self.axis % pred.ndim
            if label.size * pred.shape[axis] != pred.size:
                raise ValueError(f"Perplexity: shape mismatch: {label.shape} vs. {pred.shape}")
            label = label.as_in_context(pred.context)
            index_shape = pred.shape[:axis] + pred.shape[axis + 1:]
            picked = nd.pick(pred, label.reshape(index_shape or (1,)).astype("int32"),
                             axis=axis).reshape((-1,))
            if self.ignore_label is not None:
                ignore = nd.equal(label.reshape((-1,)), self.ignore_label).astype(picked.dtype)
                num = num - _total(ignore)
                picked = picked * (1 - ignore) + ignore
            loss = loss - _total(nd.log(nd.maximum(picked, 1e-10)))
            num = num + picked.size
        self._add(loss, num)

    def get(self):
        num_inst = _value(self.num_inst)
        if num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, math.exp(_value(self.sum_metric) / num_inst))

    def get_global(self):
        num_inst = _value(self.global_num_inst)
        if num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, math.exp(_value(self.global_sum_metric) / num_inst))


def _regression_pair(label, pred, who):
    label = _as_nd(label, who, "label")
    pred = _as_nd(pred, who, "pred")
    if label.ndim == 1:
        label = label.reshape((label.shape[0], 1))
    if pred.ndim == 1:
        pred = pred.reshape((pred.shape[0], 1))
    return nd.broadcast_sub(label.astype("float64"), pred.astype("float64"))


@register
class MAE(EvalMetric):
    """MAE(name='mae', output_names=None, label_names=None)

    Mean absolute error: the mean of |label - pred| of each batch (1-d arrays taken as
    columns, broadcasting), averaged over batches.
    """

    def __init__(self, name="mae", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def update(self, labels, preds) -> None:
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            diff = _regression_pair(label, pred, "MAE.update")
            self._add(nd.mean(nd.abs(diff)).reshape((1,)), 1)


@register
class MSE(EvalMetric):
    """MSE(name='mse', output_names=None, label_names=None)

    Mean squared error of each batch, averaged over batches (inputs as in :class:`MAE`).
    """

    def __init__(self, name="mse", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def update(self, labels, preds) -> None:
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            diff = _regression_pair(label, pred, "MSE.update")
            self._add(nd.mean(nd.square(diff)).reshape((1,)), 1)


@register
class RMSE(EvalMetric):
    """RMSE(name='rmse', output_names=None, label_names=None)

    Root mean squared error of each batch, averaged over batches (inputs as in
    :class:`MAE`).
    """

    def __init__(self, name="rmse", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def update(self, labels, preds) -> None:
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            diff = _regression_pair(label, pred, "RMSE.update")
            self._add(nd.sqrt(nd.mean(nd.square(diff))).reshape((1,)), 1)


def _picked_nll(label, pred, eps, who):
    """-sum(log(p + eps)) of the probabilities ``pred`` (batch, classes) gives the labels."""
    label = _as_nd(label, who, "label")
    pred = _as_nd(pred, who, "pred")
    label = label.reshape((-1,))
    if pred.ndim != 2 or label.shape[0] != pred.shape[0]:
        raise ValueError(f"{who}: labels of shape {label.shape} and predictions of shape "
                         f"{pred.shape}: expected predictions (batch, classes) and one label "
                         f"per row")
    prob = nd.pick(pred.astype("float64"), label.astype("int64"), axis=1)
    return -_total(nd.log(prob + eps)), label.shape[0]


@register
@alias("ce")
class CrossEntropy(EvalMetric):
    """CrossEntropy(eps=1e-12, name='cross-entropy', output_names=None, label_names=None)

    Mean over examples of -log(p + eps), p the predicted probability of the label
    (predictions (batch, classes)).
    """

    def __init__(self, eps=1e-12, name="cross-entropy", output_names=None, label_names=None):
        super().__init__(name, eps=eps, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.eps = eps

    def update(self, labels, preds) -> None:
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            value, count = _picked_nll(label, pred, self.eps, "CrossEntropy.update")
            self._add(value, count)


@register
@alias("nll_loss")
class NegativeLogLikelihood(EvalMetric):
    """NegativeLogLikelihood(eps=1e-12, name='nll-loss', output_names=None,
    label_names=None)

    Mean over examples of -log(p + eps), p the predicted probability of the label.
    """

    def __init__(self, eps=1e-12, name="nll-loss", output_names=None, label_names=None):
        super().__init__(name, eps=eps, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.eps = eps

    def update(self, labels, preds) -> None:
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            value, count = _picked_nll(label, pred, self.eps, "NegativeLogLikelihood.update")
            self._add(value, count)


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
