"""mx.callback and mx.model's checkpoints: Speedometer's and the other callbacks' log lines,
do_checkpoint / save_checkpoint / load_checkpoint round trips."""
from __future__ import annotations

import logging
import os
import re
import types

import numpy as np
import pytest

import flowmod as mx
import flowmod.callback as callback
import flowmod.metric as metric
import flowmod.model as model
import flowmod.fileio as fileio
from flowmod.model import BatchEndParam


def _metric(value_pairs):
    """An Accuracy metric updated with (label, pred-class) pairs."""
    acc = metric.Accuracy()
    for label, pred in value_pairs:
        acc.update([mx.nd.array(label)], [mx.nd.array(pred)])
    return acc


def test_batch_end_param_fields():
    p = BatchEndParam(epoch=1, nbatch=2, eval_metric=None, locals={"a": 1})
    assert p._fields == ("epoch", "nbatch", "eval_metric", "locals")
    assert type(p).__name__ == "BatchEndParams"
    assert callback.BatchEndParam is BatchEndParam


def test_speedometer_auto_reset(caplog, monkeypatch):
    clock = iter([100.0, 102.0, 103.0])
    monkeypatch.setattr(callback, "time", types.SimpleNamespace(time=lambda: next(clock)))
    acc = _metric([([0, 1, 1, 1], [0, 1, 0, 1])])
    speed = callback.Speedometer(batch_size=8, frequent=2)
    with caplog.at_level(logging.INFO):
        speed(BatchEndParam(0, 0, acc, None))  # starts the clock at 100
        speed(BatchEndParam(0, 1, acc, None))  # not a multiple of 2: nothing
        speed(BatchEndParam(0, 2, acc, None))  # 2 batches * 8 samples in 2 s
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["Epoch[0] Batch [0-2]\tSpeed: 8.00 samples/sec\taccuracy=0.750000"]
    assert acc.num_inst == 0  # reset_local after logging
    assert acc.global_num_inst == 4


def test_speedometer_without_reset_and_without_metric(caplog, monkeypatch):
    clock = iter([0.0, 4.0, 10.0, 16.0, 20.0, 30.0])
    monkeypatch.setattr(callback, "time", types.SimpleNamespace(time=lambda: next(clock)))
    acc = _metric([([0, 1], [0, 0])])
    speed = callback.Speedometer(batch_size=10, frequent=4, auto_reset=False)
    with caplog.at_level(logging.INFO):
        speed(BatchEndParam(3, 0, acc, None))
        speed(BatchEndParam(3, 4, acc, None))
        speed(BatchEndParam(3, 8, None, None))
        # A new epoch (nbatch goes back) restarts the clock without logging.
        speed(BatchEndParam(4, 0, None, None))
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["Epoch[3] Batch [0-4]\tSpeed: 10.00 samples/sec\taccuracy=0.500000",
                     "Iter[3] Batch [8]\tSpeed: 6.67 samples/sec"]
    assert acc.num_inst == 2
    with pytest.raises(ValueError, match="frequent"):
        callback.Speedometer(10, frequent=0)


def test_speedometer_composite_metric_line(caplog, monkeypatch):
    clock = iter([0.0, 1.0, 2.0])
    monkeypatch.setattr(callback, "time", types.SimpleNamespace(time=lambda: next(clock)))
    comp = metric.create(["acc", "mae"])
    comp.update([mx.nd.array([1, 2])], [mx.nd.array([1, 1])])
    speed = callback.Speedometer(batch_size=1, frequent=1)
    with caplog.at_level(logging.INFO):
        speed(BatchEndParam(0, 0, comp, None))
        speed(BatchEndParam(0, 1, comp, None))
    assert caplog.records[-1].getMessage() == \
        "Epoch[0] Batch [0-1]\tSpeed: 1.00 samples/sec\taccuracy=0.500000\tmae=0.500000"


def test_log_train_metric(caplog):
    acc = _metric([([0, 1, 1, 0], [0, 1, 1, 1])])
    cb = callback.log_train_metric(period=5, auto_reset=True)
    with caplog.at_level(logging.INFO):
        cb(BatchEndParam(2, 3, acc, None))
        assert not caplog.records
        cb(BatchEndParam(2, 5, acc, None))
    assert [r.getMessage() for r in caplog.records] == ["Iter[2] Batch[5] Train-accuracy=0.750000"]
    assert acc.num_inst == 0


def test_progress_bar(caplog):
    bar = callback.ProgressBar(total=4, length=8)
    with caplog.at_level(logging.INFO):
        bar(BatchEndParam(0, 1, None, None))
        bar(BatchEndParam(0, 3, None, None))
    assert [r.getMessage() for r in caplog.records] == ["[==------] 25%\r", "[======--] 75%\r"]


def test_log_validation_metrics(caplog):
    acc = _metric([([0, 1], [0, 1])])
    with caplog.at_level(logging.INFO):
        callback.LogValidationMetricsCallback()(BatchEndParam(7, 0, acc, None))
        callback.LogValidationMetricsCallback()(BatchEndParam(7, 0, None, None))
    assert [r.getMessage() for r in caplog.records] == ["Epoch[7] Validation-accuracy=1.000000"]


def _small_net():
    data = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(data=data, num_hidden=3, name="fc1")
    bn = mx.sym.BatchNorm(data=fc, name="bn1")
    return mx.sym.SoftmaxOutput(data=bn, name="softmax")


def _params():
    rng = np.random.default_rng(3)
    arg = {"fc1_weight": mx.nd.array(rng.normal(size=(3, 4))),
           "fc1_bias": mx.nd.array(rng.normal(size=(3,))),
           "bn1_gamma": mx.nd.array(rng.normal(size=(3,))),
           "bn1_beta": mx.nd.array(rng.normal(size=(3,)))}
    aux = {"bn1_moving_mean": mx.nd.array(rng.normal(size=(3,))),
           "bn1_moving_var": mx.nd.array(rng.uniform(1, 2, size=(3,)))}
    return arg, aux


def _assert_same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k].asnumpy(), b[k].asnumpy())


def test_do_checkpoint_writes_what_load_checkpoint_reads(tmp_path):
    prefix = str(tmp_path / "net")
    net = _small_net()
    arg, aux = _params()
    cb = callback.do_checkpoint(prefix, period=2)
    cb(0, net, arg, aux)  # epoch 1: not a multiple of 2
    assert not os.path.exists(f"{prefix}-0001.params")
    cb(1, net, arg, aux)
    assert os.path.exists(f"{prefix}-symbol.json") and os.path.exists(f"{prefix}-0002.params")
    sym, arg2, aux2 = model.load_checkpoint(prefix, 2)
    assert sym.tojson() == net.tojson()
    assert sym.list_arguments() == net.list_arguments()
    assert sym.list_auxiliary_states() == ["bn1_moving_mean", "bn1_moving_var"]
    _assert_same(arg, arg2)
    _assert_same(aux, aux2)
    keys = set(mx.nd.load(f"{prefix}-0002.params"))
    assert keys == {f"arg:{k}" for k in arg} | {f"aux:{k}" for k in aux}
    # Only the final files remain: no temporary files are left beside them.
    assert sorted(os.listdir(tmp_path)) == ["net-0002.manifest", "net-0002.params",
                                           "net-symbol.json"]


def test_save_checkpoint_without_symbol_and_load_params(tmp_path, caplog):
    prefix = str(tmp_path / "p")
    arg, aux = _params()
    with caplog.at_level(logging.INFO):
        model.save_checkpoint(prefix, 12, None, arg, aux)
    assert f'Saved checkpoint to "{prefix}-0012.params"' in caplog.text
    assert not os.path.exists(f"{prefix}-symbol.json")
    arg2, aux2 = model.load_params(prefix, 12)
    _assert_same(arg, arg2)
    _assert_same(aux, aux2)
    with pytest.raises(mx.MXNetError, match="epoch"):
        model.save_checkpoint(prefix, "1", None, arg, aux)
    with pytest.raises(mx.MXNetError, match="arg_params"):
        model.save_checkpoint(prefix, 1, None, {"w": np.zeros(2)}, aux)
    model.save_checkpoint(prefix, 3, None, {}, {})
    with caplog.at_level(logging.WARNING):
        assert model.load_params(prefix, 3) == ({}, {})
    assert re.search(r"Params file '.*p-0003.params' is empty", caplog.text)


def test_checkpoint_replaces_files_atomically(tmp_path, monkeypatch):
    prefix = str(tmp_path / "net")
    net = _small_net()
    arg, aux = _params()
    model.save_checkpoint(prefix, 1, net, arg, aux)
    json_path = f"{prefix}-symbol.json"
    umask = os.umask(0)
    os.umask(umask)
    # A new file gets the usual permissions, not the temporary file's 0600.
    assert os.stat(json_path).st_mode & 0o777 == 0o666 & ~umask
    os.chmod(json_path, 0o640)
    other = mx.sym.FullyConnected(data=mx.sym.Variable("x"), num_hidden=2, name="fc9")
    model.save_checkpoint(prefix, 1, other, arg, aux)
    assert os.stat(json_path).st_mode & 0o777 == 0o640
    assert mx.sym.load(json_path).tojson() == other.tojson()
    # A failed rename leaves the previous file whole and no temporary file behind.
    before = open(json_path).read()

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "replace", failing_replace)
    with pytest.raises(mx.MXNetError, match="disk full"):
        model.save_checkpoint(prefix, 1, net, arg, aux)
    monkeypatch.undo()
    assert open(json_path).read() == before
    assert sorted(os.listdir(tmp_path)) == ["net-0001.manifest", "net-0001.params",
                                           "net-symbol.json"]
