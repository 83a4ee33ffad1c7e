"""Accuracy's update as one operation (_metric_accuracy_update) against the eight-operation
form it replaces and against numpy: ties, NaN, every float type of the prediction, integer
and float labels, another axis, predictions given as class indices, and the local and global
accumulators across resets."""
import numpy as np
import pytest

import flowmod as mx
from flowmod.metric.classification import Accuracy


def numpy_accuracy(label, pred, axis=1):
    label = np.asarray(label)
    pred = np.asarray(pred)
    if pred.shape != label.shape:
        pred = np.argmax(pred, axis=axis)  # numpy: first maximum, NaN the largest
    return int((pred.reshape(-1).astype(np.int32) == label.reshape(-1).astype(np.int32)).sum())


class Unfused(Accuracy):
    def _fused_update(self, label, pred):
        return False


def run_batches(metric, batches):
    for label, pred in batches:
        metric.update([mx.nd.array(label, dtype=label.dtype)], [mx.nd.array(pred, dtype=pred.dtype)])
    return metric


def fused_pushes():
    mx.nd.waitall()  # the counters count finished operations
    for op in mx.engine.stats().op_latency:
        if op.name == "_metric_accuracy_update":
            return op.count
    return 0


CASES = {
    "scores": dict(shape=(64, 10), axis=1, pdtype=np.float32, ldtype=np.float32),
    "float64": dict(shape=(33, 7), axis=1, pdtype=np.float64, ldtype=np.int32),
    "float16": dict(shape=(20, 5), axis=1, pdtype=np.float16, ldtype=np.float32),
    "axis0": dict(shape=(6, 40), axis=0, pdtype=np.float32, ldtype=np.float32),
    "axis-1 3d": dict(shape=(4, 5, 3), axis=-1, pdtype=np.float32, ldtype=np.int64),
    "middle axis": dict(shape=(4, 6, 5), axis=1, pdtype=np.float32, ldtype=np.float32),
}


def make_batch(rng, shape, axis, pdtype, ldtype, ties=False, nans=False):
    pred = rng.standard_normal(shape).astype(pdtype)
    if ties:
        pred = np.round(pred).astype(pdtype)  # many equal maxima: the first one counts
    if nans:
        pred.reshape(-1)[rng.integers(0, pred.size, 5)] = np.nan
    lshape = tuple(s for i, s in enumerate(shape) if i != axis % len(shape))
    label = rng.integers(0, shape[axis], lshape).astype(ldtype)
    return label, pred


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("variant", ["plain", "ties", "nans"])
def test_fused_matches_unfused_and_numpy(case, variant):
    rng = np.random.default_rng(7)
    c = CASES[case]
    batches = [make_batch(rng, c["shape"], c["axis"], c["pdtype"], c["ldtype"],
                          ties=variant == "ties", nans=variant == "nans") for _ in range(4)]
    before = fused_pushes()
    fused = run_batches(Accuracy(axis=c["axis"]), batches)
    slow = run_batches(Unfused(axis=c["axis"]), batches)
    # The first batch makes the accumulators; the rest go through the one operation.
    assert fused_pushes() - before == len(batches) - 1
    want = sum(numpy_accuracy(lb, pr, c["axis"]) for lb, pr in batches)
    n = sum(lb.size for lb, _ in batches)
    assert fused.num_inst == slow.num_inst == n
    assert fused.get() == slow.get() == ("accuracy", want / n)
    assert fused.get_global() == slow.get_global()


def test_class_indices_and_global_after_reset_local():
    rng = np.random.default_rng(3)
    metric = Accuracy()
    pred = rng.integers(0, 4, 50).astype(np.float32)
    label = rng.integers(0, 4, 50).astype(np.float32)
    batches = [(label, pred)] * 3
    run_batches(metric, batches)
    want = numpy_accuracy(label, pred)
    assert metric.get() == ("accuracy", want / 50)
    metric.reset_local()
    run_batches(metric, batches[:2])
    assert metric.get() == ("accuracy", want / 50)
    assert metric.global_num_inst == 250
    assert metric.get_global() == ("accuracy", 5 * want / 250)


def test_mismatched_label_still_refused():
    metric = Accuracy()
    run_batches(metric, [(np.zeros(4, np.float32), np.zeros((4, 3), np.float32))])
    with pytest.raises(ValueError, match="does not match"):
        metric.update([mx.nd.zeros((5,))], [mx.nd.zeros((4, 3))])


def test_fit_metric_matches_numpy():
    """The metric fit reports, through the one operation, is numpy's accuracy of the
    module's predictions."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 8)).astype(np.float32)
    y = rng.integers(0, 3, 200).astype(np.float32)
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=3),
                               name="softmax")
    mod = mx.mod.Module(net, context=mx.cpu())
    it = mx.io.NDArrayIter(x, y, batch_size=50)
    mod.bind(it.provide_data, it.provide_label, for_training=False)
    mod.init_params(mx.init.Xavier())
    metric = mx.metric.create("acc")
    mod.score(it, metric)
    pred = mod.predict(it).asnumpy()
    assert metric.get()[1] == numpy_accuracy(y, pred) / 200
