"""Classification metrics: accuracy, top-k accuracy, F1 and MCC of binary classification,
and the likelihood-based ones (perplexity, cross-entropy, negative log-likelihood)."""
from __future__ import annotations

import math
import numbers

import numpy

from .. import ndarray as nd
from ..ndarray import NDArray
from ..ndarray.ops import invoke
from .base import (EvalMetric, _as_nd, _check_average, _total, _value, alias,
                   check_label_shapes, register)


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
            if self._fused_update(label, pred_label):
                continue
            if pred_label.shape != label.shape:
                pred_label = nd.argmax(pred_label, axis=self.axis)
            pred_flat = pred_label.reshape((-1,))
            label_flat = label.reshape((-1,))
            check_label_shapes(label_flat, pred_flat)
            correct = nd.equal(pred_flat.astype("int32"), label_flat.astype("int32"))
            self._add(_total(correct), pred_flat.shape[0])

    def _fused_update(self, label: NDArray, pred: NDArray) -> bool:
        """Pushes one pair's update as the single operation ``_metric_accuracy_update``
        (the same arithmetic as the operations above, one push instead of eight) where it
        applies: dense arrays on the accumulators' device, a floating-point prediction, shapes
        the checks above would pass, and accumulators made by an earlier update. Returns
        whether it did."""
        acc, total = self.sum_metric, self.global_sum_metric
        if not (type(acc) is NDArray and type(total) is NDArray and acc is not total
                and type(pred) is NDArray and type(label) is NDArray):
            return False
        if (pred.dtype not in _FLOAT_TYPES or label.dtype == numpy.bool_
                or acc.dtype != numpy.float64 or total.dtype != numpy.float64
                or acc.size != 1 or total.size != 1):
            return False
        ctx = acc.context
        if pred.context != ctx or label.context != ctx or total.context != ctx:
            return False
        shape = pred.shape
        reduce = shape != label.shape
        positions = math.prod(shape)
        if reduce:
            axis = self.axis
            if not (isinstance(axis, numbers.Integral) and -len(shape) <= axis < len(shape)
                    and shape[axis] > 0):
                return False
            positions //= shape[axis]
        if positions != label.size or not shape:
            return False
        correct = getattr(self, "_correct", None)
        if correct is None or correct.context != ctx:
            correct = self._correct = nd.zeros((1,), ctx=ctx, dtype=numpy.float64)
        invoke("_metric_accuracy_update", [pred, label, acc, total], out=correct,
               axis=int(self.axis), reduce=reduce)
        self.num_inst += positions
        self.global_num_inst += positions
        return True


_FLOAT_TYPES = (numpy.float16, numpy.float32, numpy.float64)


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


class _PickedLogLoss(EvalMetric):
    """The mean over examples of -log(p + eps), p the predicted probability of the label:
    the code of CrossEntropy and NegativeLogLikelihood, which MXNet keeps under both
    names."""

    def __init__(self, eps, name, output_names, label_names):
        super().__init__(name, eps=eps, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.eps = eps

    def update(self, labels, preds) -> None:
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            value, count = _picked_nll(label, pred, self.eps, f"{type(self).__name__}.update")
            self._add(value, count)


@register
@alias("ce")
class CrossEntropy(_PickedLogLoss):
    """CrossEntropy(eps=1e-12, name='cross-entropy', output_names=None, label_names=None)

    Mean over examples of -log(p + eps), p the predicted probability of the label
    (predictions (batch, classes)).
    """

    def __init__(self, eps=1e-12, name="cross-entropy", output_names=None, label_names=None):
        super().__init__(eps, name, output_names, label_names)


@register
@alias("nll_loss")
class NegativeLogLikelihood(_PickedLogLoss):
    """NegativeLogLikelihood(eps=1e-12, name='nll-loss', output_names=None,
    label_names=None)

    Mean over examples of -log(p + eps), p the predicted probability of the label.
    """

    def __init__(self, eps=1e-12, name="nll-loss", output_names=None, label_names=None):
        super().__init__(eps, name, output_names, label_names)
