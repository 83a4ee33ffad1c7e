"""mx.metric: every metric against numpy on random inputs over several updates, local and
global accumulation, create, and that built-in updates push without waiting."""
from __future__ import annotations

import math

import numpy as np
import pytest

import flowmod as mx
import flowmod.metric as metric
from flowmod.ndarray import NDArray

RNG = np.random.default_rng(7)


def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _batches(n_batches=4, batch=16, classes=5):
    out = []
    for _ in range(n_batches):
        pred = _softmax(RNG.normal(size=(batch, classes))).astype(np.float32)
        label = RNG.integers(0, classes, size=batch).astype(np.float32)
        out.append((label, pred))
    return out


def _feed(m, batches, as_nd=True, start=0, stop=None):
    for label, pred in batches[start:stop]:
        if as_nd:
            m.update([mx.nd.array(label)], [mx.nd.array(pred)])
        else:
            m.update([label], [pred])


class _NoWaiting:
    """Makes reading an NDArray's values fail while on: what runs then must only push."""

    def __init__(self, monkeypatch):
        self._mp = monkeypatch

    def __call__(self):
        def forbidden(*_args, **_kwargs):
            raise AssertionError("update() waited for an NDArray")
        for attr in ("asnumpy", "asscalar", "wait_to_read", "__array__", "__bool__"):
            self._mp.setattr(NDArray, attr, forbidden)

    def undo(self):
        self._mp.undo()


@pytest.fixture
def no_waiting(monkeypatch):
    return _NoWaiting(monkeypatch)


# ---- reference computations -------------------------------------------------------------

def ref_accuracy(batches):
    correct = sum((p.argmax(axis=1) == l.astype(np.int32)).sum() for l, p in batches)
    return correct / sum(len(l) for l, _ in batches)


def ref_topk(batches, k):
    correct = 0
    for l, p in batches:
        top = np.argsort(-p, axis=1)[:, :k]
        correct += (top == l.astype(np.int32)[:, None]).sum()
    return correct / sum(len(l) for l, _ in batches)


def ref_ce(batches, eps=1e-12):
    total = sum(-np.log(p[np.arange(len(l)), l.astype(np.int64)].astype(np.float64) + eps).sum()
                for l, p in batches)
    return total / sum(len(l) for l, _ in batches)


def ref_confusion(label, pred):
    pl = pred.argmax(axis=1) == 1
    lt = label.astype(np.int32) == 1
    tp = float((pl & lt).sum())
    fp = float((pl & ~lt).sum())
    fn = float((~pl & lt).sum())
    tn = float((~pl & ~lt).sum())
    return tp, fp, fn, tn


def ref_f1(tp, fp, fn, tn):
    p = tp / (tp + fp) if tp + fp > 0 else 0.0
    r = tp / (tp + fn) if tp + fn > 0 else 0.0
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def ref_mcc(tp, fp, fn, tn):
    denom = 1.0
    for t in [tp + fp, tp + fn, tn + fp, tn + fn]:
        if t != 0:
            denom *= t
    return (tp * tn - fp * fn) / math.sqrt(denom)


# ---- classification ------------------------------------------------------------------

@pytest.mark.parametrize("as_nd", [True, False])
def test_accuracy_local_and_global(as_nd):
    batches = _batches(6)
    acc = metric.Accuracy()
    _feed(acc, batches, as_nd, 0, 3)
    name, value = acc.get()
    assert name == "accuracy"
    assert value == pytest.approx(ref_accuracy(batches[:3]))
    assert acc.num_inst == 48
    acc.reset_local()
    assert math.isnan(acc.get()[1])
    _feed(acc, batches, as_nd, 3, 6)
    assert acc.get()[1] == pytest.approx(ref_accuracy(batches[3:]))
    assert acc.get_global()[1] == pytest.approx(ref_accuracy(batches))
    assert acc.get_name_value() == [("accuracy", acc.get()[1])]
    assert acc.get_global_name_value() == [("accuracy", acc.get_global()[1])]
    acc.reset()
    assert math.isnan(acc.get()[1]) and math.isnan(acc.get_global()[1])


def test_accuracy_with_class_labels_of_same_shape_and_axis():
    acc = metric.Accuracy()
    acc.update([mx.nd.array([0, 1, 2, 2])], [mx.nd.array([0, 1, 1, 2.7])])
    assert acc.get()[1] == pytest.approx(0.75)  # compared as int32: 2.7 -> 2
    acc = metric.Accuracy(axis=0)
    pred = RNG.normal(size=(3, 10)).astype(np.float32)
    label = RNG.integers(0, 3, size=10).astype(np.float32)
    acc.update([mx.nd.array(label)], [mx.nd.array(pred)])
    assert acc.get()[1] == pytest.approx((pred.argmax(axis=0) == label).mean())
    with pytest.raises(ValueError, match="does not match"):
        metric.Accuracy().update([mx.nd.array([0, 1])], [mx.nd.array([0, 1]),
                                                         mx.nd.array([1, 1])])
    with pytest.raises(ValueError, match="does not match"):
        metric.Accuracy().update([mx.nd.array([0, 1, 1])], [mx.nd.zeros((2, 4))])


@pytest.mark.parametrize("k", [2, 3, 5, 9])
def test_top_k_accuracy(k):
    batches = _batches(4)
    m = metric.TopKAccuracy(top_k=k)
    assert m.name == f"top_k_accuracy_{k}"
    _feed(m, batches)
    assert m.get()[1] == pytest.approx(ref_topk(batches, min(k, 5)))
    with pytest.raises(ValueError, match="top_k"):
        metric.TopKAccuracy(top_k=1)
    with pytest.raises(ValueError, match="no more than 2 dims"):
        m.update([mx.nd.zeros((2,))], [mx.nd.zeros((2, 3, 4))])


def _binary_batches(n=5, batch=20):
    out = []
    for _ in range(n):
        pred = _softmax(RNG.normal(size=(batch, 2))).astype(np.float32)
        label = RNG.integers(0, 2, size=batch).astype(np.float32)
        out.append((label, pred))
    return out


@pytest.mark.parametrize("cls,ref", [(metric.F1, ref_f1), (metric.MCC, ref_mcc)])
def test_f1_mcc_macro(cls, ref):
    batches = _binary_batches()
    m = cls()
    _feed(m, batches, start=0, stop=3)
    expected = np.mean([ref(*ref_confusion(l, p)) for l, p in batches[:3]])
    assert m.get()[1] == pytest.approx(expected)
    m.reset_local()
    _feed(m, batches, start=3)
    assert m.get()[1] == pytest.approx(np.mean([ref(*ref_confusion(l, p))
                                                for l, p in batches[3:]]))
    assert m.get_global()[1] == pytest.approx(np.mean([ref(*ref_confusion(l, p))
                                                       for l, p in batches]))


@pytest.mark.parametrize("cls,ref", [(metric.F1, ref_f1), (metric.MCC, ref_mcc)])
def test_f1_mcc_micro(cls, ref):
    batches = _binary_batches()
    m = cls(average="micro")
    _feed(m, batches, start=0, stop=2)
    counts = np.sum([ref_confusion(l, p) for l, p in batches[:2]], axis=0)
    assert m.get()[1] == pytest.approx(ref(*counts))
    assert m.num_inst == 40
    m.reset_local()
    _feed(m, batches, start=2)
    counts = np.sum([ref_confusion(l, p) for l, p in batches[2:]], axis=0)
    assert m.get()[1] == pytest.approx(ref(*counts))
    counts = np.sum([ref_confusion(l, p) for l, p in batches], axis=0)
    assert m.get_global()[1] == pytest.approx(ref(*counts))


def test_confusion_counts_accumulate_on_the_engine():
    batches = _binary_batches(3)
    f1 = metric.F1(average="micro")
    _feed(f1, batches, start=0, stop=1)
    f1.reset_local()
    _feed(f1, batches, start=1)
    counts = f1.metrics
    local = np.sum([ref_confusion(l, p) for l, p in batches[1:]], axis=0)
    glob = np.sum([ref_confusion(l, p) for l, p in batches], axis=0)
    assert isinstance(counts.true_positives, NDArray)
    got = [counts.true_positives, counts.false_positives, counts.false_negatives,
           counts.true_negatives]
    assert [float(x.asnumpy()[0]) for x in got] == list(local)
    got = [counts.global_true_positives, counts.global_false_positives,
           counts.global_false_negatives, counts.global_true_negatives]
    assert [float(x.asnumpy()[0]) for x in got] == list(glob)
    assert counts.total_examples == 40 and counts.global_total_examples == 60


def test_f1_edge_cases():
    f1 = metric.F1()
    # Nothing predicted positive and no positive label: precision = recall = 0 -> F1 = 0.
    f1.update([mx.nd.array([0, 0])], [mx.nd.array([[0.9, 0.1], [0.8, 0.2]])])
    assert f1.get()[1] == 0.0
    f1 = metric.F1()
    f1.update([mx.nd.array([1, 0, 1])], [mx.nd.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])])
    assert f1.get()[1] == pytest.approx(1.0)
    bad = metric.F1()
    bad.update([mx.nd.array([0, 2])], [mx.nd.array([[0.9, 0.1], [0.8, 0.2]])])
    with pytest.raises(ValueError, match="binary"):
        bad.get()
    bad.reset()
    assert math.isnan(bad.get()[1])
    with pytest.raises(ValueError, match="average"):
        metric.F1(average="weighted")


# ---- regression ----------------------------------------------------------------------

@pytest.mark.parametrize("cls,fn", [
    (metric.MAE, lambda d: np.abs(d).mean()),
    (metric.MSE, lambda d: (d ** 2).mean()),
    (metric.RMSE, lambda d: np.sqrt((d ** 2).mean()))])
@pytest.mark.parametrize("label_shape", [(12,), (12, 1)])
def test_regression_metrics(cls, fn, label_shape):
    batches = [(RNG.normal(size=label_shape).astype(np.float32),
                RNG.normal(size=(12,)).astype(np.float32)) for _ in range(4)]
    m = cls()
    _feed(m, batches, start=0, stop=3)
    ref = [fn(l.reshape(-1, 1).astype(np.float64) - p.reshape(-1, 1)) for l, p in batches]
    assert m.get()[1] == pytest.approx(np.mean(ref[:3]), rel=1e-5)
    assert m.num_inst == 3
    m.reset_local()
    _feed(m, batches, as_nd=False, start=3)
    assert m.get()[1] == pytest.approx(ref[3], rel=1e-5)
    assert m.get_global()[1] == pytest.approx(np.mean(ref), rel=1e-5)


# ---- likelihoods -----------------------------------------------------------------------

@pytest.mark.parametrize("cls,name", [(metric.CrossEntropy, "cross-entropy"),
                                      (metric.NegativeLogLikelihood, "nll-loss")])
def test_cross_entropy_and_nll(cls, name):
    batches = _batches(5)
    m = cls()
    assert m.name == name
    _feed(m, batches, start=0, stop=2)
    assert m.get()[1] == pytest.approx(ref_ce(batches[:2]), rel=1e-6)
    m.reset_local()
    _feed(m, batches, start=2)
    assert m.get()[1] == pytest.approx(ref_ce(batches[2:]), rel=1e-6)
    assert m.get_global()[1] == pytest.approx(ref_ce(batches), rel=1e-6)
    assert m.num_inst == 48 and m.global_num_inst == 80
    m = cls(eps=0.5)
    _feed(m, batches)
    assert m.get()[1] == pytest.approx(ref_ce(batches, 0.5), rel=1e-6)
    with pytest.raises(ValueError):
        cls().update([mx.nd.array([0, 1, 2])], [mx.nd.zeros((2, 3))])


def test_perplexity():
    batches = _batches(4)
    m = metric.Perplexity(ignore_label=None)
    _feed(m, batches)
    assert m.get()[1] == pytest.approx(math.exp(ref_ce(batches, 0.0)), rel=1e-5)
    assert m.get_global()[1] == pytest.approx(m.get()[1])
    # With an ignored label: those positions count neither in the loss nor in the number.
    m = metric.Perplexity(ignore_label=0)
    _feed(m, batches)
    loss, num = 0.0, 0
    for l, p in batches:
        keep = l != 0
        loss -= np.log(np.maximum(p[np.arange(len(l)), l.astype(int)][keep], 1e-10)).sum()
        num += keep.sum()
    assert m.get()[1] == pytest.approx(math.exp(loss / num), rel=1e-5)
    # A 3-d prediction (batch, time, vocab) with its (batch, time) labels.
    pred = _softmax(RNG.normal(size=(6, 7))).reshape(2, 3, 7).astype(np.float32)
    label = RNG.integers(0, 7, size=(2, 3)).astype(np.float32)
    m = metric.Perplexity(ignore_label=None)
    m.update([mx.nd.array(label)], [mx.nd.array(pred)])
    flat = pred.reshape(6, 7)[np.arange(6), label.reshape(-1).astype(int)]
    assert m.get()[1] == pytest.approx(math.exp(-np.log(flat).mean()), rel=1e-5)
    with pytest.raises(ValueError, match="shape mismatch"):
        m.update([mx.nd.zeros((5,))], [mx.nd.zeros((4, 7))])


def test_pearson_macro_and_micro():
    batches = [(RNG.normal(size=(30,)).astype(np.float32),
                RNG.normal(size=(30,)).astype(np.float32)) for _ in range(4)]
    batches = [(l, (0.6 * l + p).astype(np.float32)) for l, p in batches]
    m = metric.PearsonCorrelation()
    assert m.name == "pearsonr"
    _feed(m, batches)
    expected = np.mean([np.corrcoef(p, l)[0, 1] for l, p in batches])
    assert m.get()[1] == pytest.approx(expected, rel=1e-6)
    m = metric.PearsonCorrelation(average="micro")
    _feed(m, batches)
    all_l = np.concatenate([l for l, _ in batches]).astype(np.float64)
    all_p = np.concatenate([p for _, p in batches]).astype(np.float64)
    assert m.get()[1] == pytest.approx(np.corrcoef(all_p, all_l)[0, 1], rel=1e-6)
    assert m.get_global()[1] == pytest.approx(m.get()[1])
    m.reset()
    assert math.isnan(m.get()[1])
    with pytest.raises(ValueError):
        m.update([mx.nd.zeros((3,))], [mx.nd.zeros((4,))])


def test_loss():
    preds = [RNG.normal(size=(8, 2)).astype(np.float32) for _ in range(3)]
    m = metric.Loss()
    for p in preds:
        m.update(None, [mx.nd.array(p)])
    assert m.get()[1] == pytest.approx(np.concatenate(preds).mean(), rel=1e-5, abs=1e-6)
    m.update(None, mx.nd.array(preds[0]))
    assert m.num_inst == 64


# ---- composite, custom, create ---------------------------------------------------------

def test_composite():
    batches = _batches(3)
    comp = metric.CompositeEvalMetric()
    comp.add("acc")
    comp.add(metric.CrossEntropy())
    _feed(comp, batches)
    names, values = comp.get()
    assert names == ["accuracy", "cross-entropy"]
    assert values[0] == pytest.approx(ref_accuracy(batches))
    assert values[1] == pytest.approx(ref_ce(batches), rel=1e-6)
    assert comp.get_metric(1).name == "cross-entropy"
    with pytest.raises(ValueError, match="out of range"):
        comp.get_metric(2)
    comp.reset_local()
    assert all(math.isnan(v) for v in comp.get()[1])
    assert comp.get_global()[1][0] == pytest.approx(ref_accuracy(batches))
    comp.reset()
    assert all(math.isnan(v) for v in comp.get_global()[1])
    assert dict(comp.get_name_value()).keys() == {"accuracy", "cross-entropy"}


def test_update_dict_selects_by_name():
    label, pred = _batches(1)[0]
    acc = metric.Accuracy(output_names=["softmax_output"], label_names=["softmax_label"])
    acc.update_dict({"softmax_label": mx.nd.array(label), "other": mx.nd.zeros((1,))},
                    {"softmax_output": mx.nd.array(pred), "x": mx.nd.zeros((1,))})
    assert acc.get()[1] == pytest.approx(ref_accuracy([(label, pred)]))
    comp = metric.CompositeEvalMetric(["acc"], label_names=["softmax_label"],
                                      output_names=["softmax_output"])
    comp.update_dict({"softmax_label": mx.nd.array(label), "other": mx.nd.zeros((1,))},
                     {"softmax_output": mx.nd.array(pred), "x": mx.nd.zeros((1,))})
    assert comp.get()[1][0] == pytest.approx(ref_accuracy([(label, pred)]))


def test_custom_metric_and_np():
    batches = _batches(3)

    def my_acc(label, pred):
        assert isinstance(label, np.ndarray) and isinstance(pred, np.ndarray)
        return (pred.argmax(axis=1) == label).mean()

    m = metric.create(my_acc)
    assert isinstance(m, metric.CustomMetric) and m.name == "my_acc"
    _feed(m, batches)
    expected = np.mean([(p.argmax(axis=1) == l).mean() for l, p in batches])
    assert m.get()[1] == pytest.approx(expected)
    pair = metric.np(lambda l, p: ((p.argmax(axis=1) == l).sum(), len(l)))
    assert pair.name == "custom(<lambda>)"
    _feed(pair, batches)
    assert pair.get()[1] == pytest.approx(ref_accuracy(batches))
    assert pair.get_global()[1] == pytest.approx(ref_accuracy(batches))
    extra = metric.CustomMetric(lambda l, p: 1.0, name="extra", allow_extra_outputs=True)
    extra.update([mx.nd.zeros((2,))], [mx.nd.zeros((2,)), mx.nd.zeros((2,))])
    assert extra.num_inst == 1
    with pytest.raises(TypeError, match="serialized"):
        extra.get_config()


@pytest.mark.parametrize("name,cls", [
    ("acc", metric.Accuracy), ("accuracy", metric.Accuracy), ("ce", metric.CrossEntropy),
    ("top_k_accuracy", metric.TopKAccuracy), ("f1", metric.F1), ("mcc", metric.MCC),
    ("mae", metric.MAE), ("mse", metric.MSE), ("rmse", metric.RMSE),
    ("nll_loss", metric.NegativeLogLikelihood), ("perplexity", metric.Perplexity),
    ("pearsonr", metric.PearsonCorrelation), ("loss", metric.Loss), ("Accuracy", metric.Accuracy),
    ("composite", metric.CompositeEvalMetric)])
def test_create_by_name(name, cls):
    args = {"top_k_accuracy": (5,), "perplexity": (None,)}.get(name, ())
    m = metric.create(name, *args)
    assert type(m) is cls


def test_create_list_instance_config_and_errors():
    comp = metric.create(["acc", "ce", metric.F1()])
    assert isinstance(comp, metric.CompositeEvalMetric)
    assert [type(x) for x in comp.metrics] == [metric.Accuracy, metric.CrossEntropy, metric.F1]
    acc = metric.Accuracy(axis=0, name="a0")
    assert metric.create(acc) is acc
    again = metric.create(acc.get_config())
    assert type(again) is metric.Accuracy and again.axis == 0 and again.name == "a0"
    comp2 = metric.create(comp.get_config())
    assert [type(x) for x in comp2.metrics] == [metric.Accuracy, metric.CrossEntropy, metric.F1]
    assert metric.create("top_k_accuracy", top_k=3).top_k == 3
    with pytest.raises(ValueError, match="not registered"):
        metric.create("no_such_metric")
    with pytest.raises(TypeError):
        metric.create(3)


def test_register_custom_subclass_with_python_numbers():
    @metric.register
    class Counter(metric.EvalMetric):
        def __init__(self, name="counter"):
            super().__init__(name)

        def update(self, labels, preds):
            self.sum_metric += len(labels)
            self.num_inst += 2

    m = metric.create("counter")
    m.update([1, 2, 3], [1, 2, 3])
    assert m.get() == ("counter", 1.5)
    assert m.get_global() == ("counter", 1.5)  # no global stats: get_global is get
    assert str(m) == "EvalMetric: {'counter': 1.5}"
    with pytest.raises(TypeError, match="update"):
        metric.EvalMetric("base").update([], [])


# ---- the engine --------------------------------------------------------------------------

@pytest.mark.parametrize("factory", [
    metric.Accuracy, lambda: metric.TopKAccuracy(3), metric.F1, metric.MCC,
    lambda: metric.F1(average="micro"), metric.MAE, metric.MSE, metric.RMSE,
    metric.CrossEntropy, metric.NegativeLogLikelihood, lambda: metric.Perplexity(None),
    lambda: metric.Perplexity(0), metric.PearsonCorrelation,
    lambda: metric.PearsonCorrelation(average="micro"), metric.Loss,
    lambda: metric.create(["acc", "ce"])])
def test_update_pushes_without_waiting(factory, no_waiting):
    m = factory()
    pred2 = _softmax(RNG.normal(size=(16, 2))).astype(np.float32)
    label = RNG.integers(0, 2, size=16).astype(np.float32)
    preds = [mx.nd.array(pred2)]
    labels = [mx.nd.array(label)]
    if isinstance(m, (metric.MAE, metric.MSE, metric.RMSE, metric.PearsonCorrelation)):
        preds = [mx.nd.array(pred2[:, 1])]
    no_waiting()
    for _ in range(3):
        m.update(labels, preds)
    no_waiting.undo()
    # Once reading is allowed again, get() waits and gives finite numbers.
    values = m.get()[1]
    values = values if isinstance(values, list) else [values]
    assert all(np.isfinite(v) for v in values)


def test_get_matches_after_pushed_updates():
    # The values are only read at get(): updates pushed back to back give the right answer.
    batches = _batches(20, batch=64, classes=10)
    acc = metric.Accuracy()
    ce = metric.CrossEntropy()
    for label, pred in batches:
        l, p = mx.nd.array(label), mx.nd.array(pred)
        acc.update([l], [p])
        ce.update([l], [p])
    assert isinstance(acc.sum_metric, NDArray) and isinstance(acc.num_inst, int)
    assert acc.get()[1] == pytest.approx(ref_accuracy(batches))
    assert ce.get()[1] == pytest.approx(ref_ce(batches), rel=1e-6)
