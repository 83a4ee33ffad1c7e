"""MXNet's example/numpy-ops custom operators under flowmod's Module paths: custom_softmax.py's
MLP trained with fit (one device and a data-parallel pair) against MXNet 1.9.1's recorded
results, weighted_logistic_regression.py's outputs and gradients, and the same softmax in a
BucketingModule and a SequentialModule against the native SoftmaxOutput it reimplements."""
from __future__ import annotations

import json
import os

import gc

import numpy as np
import pytest

import flowmod as mx
import custom_op_cases as cases

with open(os.path.join(os.path.dirname(__file__), "data", "mxnet_custom_op_refs.json")) as _f:
    MXNET = json.load(_f)

cases.register_example_ops(mx)


@pytest.fixture(autouse=True)
def _collect_cycles():
    # Executors and operators made here sit in reference cycles: collect them within the
    # test, so that their storage is not freed (pushed) in the middle of a later one.
    yield
    gc.collect()


def test_recording_is_of_mxnet_1_9_1():
    assert MXNET["mxnet_version"] == "1.9.1"


def _compare_run(ours, theirs):
    assert ours["val_acc"] == pytest.approx(theirs["val_acc"], abs=1e-9)
    assert ours["train_acc"] == pytest.approx(theirs["train_acc"], abs=1e-9)
    assert ours["val_ce"] == pytest.approx(theirs["val_ce"], rel=1e-4)
    assert ours["train_ce"] == pytest.approx(theirs["train_ce"], rel=1e-4)
    np.testing.assert_allclose(ours["predicted"], theirs["predicted"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours["fc3_weight"], theirs["fc3_weight"], rtol=1e-4, atol=1e-5)


def test_custom_softmax_mlp_trains_as_under_mxnet():
    _compare_run(cases.train_softmax_mlp(mx, mx.cpu()), MXNET["softmax_mlp"])


def test_custom_softmax_mlp_trains_data_parallel_as_under_mxnet():
    _compare_run(cases.train_softmax_mlp(mx, [mx.cpu(0), mx.cpu(1)]),
                 MXNET["softmax_mlp_two_devices"])


def test_custom_softmax_trains_as_the_native_softmax_output():
    custom = cases.train_softmax_mlp(mx, mx.cpu(), head="custom", num_epoch=2)
    native = cases.train_softmax_mlp(mx, mx.cpu(), head="native", num_epoch=2)
    np.testing.assert_allclose(custom["fc3_weight"], native["fc3_weight"], rtol=1e-4, atol=1e-5)
    assert custom["val_acc"] == native["val_acc"]


def test_weighted_logistic_regression_matches_mxnet():
    ours = cases.weighted_logistic_regression(mx)
    for key, value in MXNET["weighted_logistic_regression"].items():
        np.testing.assert_allclose(ours[key], value, rtol=1e-6, atol=1e-7, err_msg=key)


# --- BucketingModule and SequentialModule ---------------------------------------------------
FEAT, HIDDEN = 4, 6


def _sym_gen(head):
    def sym_gen(seq_len):
        data = mx.sym.Variable("data")
        flat = mx.sym.Reshape(data, shape=(-1, FEAT))
        fc1 = mx.sym.FullyConnected(flat, name="fc1", num_hidden=HIDDEN)
        pooled = mx.sym.mean(mx.sym.Reshape(fc1, shape=(-1, seq_len, HIDDEN)), axis=1)
        act = mx.sym.Activation(pooled, act_type="tanh")
        fc2 = mx.sym.FullyConnected(act, name="fc2", num_hidden=cases.N_CLASSES)
        if head == "custom":
            out = mx.sym.Custom(fc2, name="softmax", op_type="softmax")
        else:
            out = mx.sym.SoftmaxOutput(fc2, name="softmax")
        return out, ("data",), ("softmax_label",)
    return sym_gen


def _batches(seed=3):
    rng = np.random.default_rng(seed)
    out = []
    for key in (2, 5, 3, 5, 2):
        x = rng.standard_normal((8, key, FEAT)).astype(np.float32)
        y = rng.integers(0, cases.N_CLASSES, 8).astype(np.float32)
        out.append(mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)], bucket_key=key,
                                   provide_data=[mx.io.DataDesc("data", x.shape)],
                                   provide_label=[mx.io.DataDesc("softmax_label", y.shape)]))
    return out


def _train_bucketing(head):
    mod = mx.mod.BucketingModule(_sym_gen(head), default_bucket_key=5, context=mx.cpu())
    first = _batches()[1]
    mod.bind(first.provide_data, first.provide_label)
    rng = np.random.RandomState(4)
    shapes = {"fc1_weight": (HIDDEN, FEAT), "fc1_bias": (HIDDEN,),
              "fc2_weight": (cases.N_CLASSES, HIDDEN), "fc2_bias": (cases.N_CLASSES,)}
    mod.init_params(arg_params={k: mx.nd.array(rng.uniform(-0.5, 0.5, s)) for k, s in shapes.items()})
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.1})
    outputs = []
    for batch in _batches():
        mod.forward(batch, is_train=True)
        outputs.append(mod.get_outputs()[0].asnumpy())
        mod.backward()
        mod.update()
    args, _ = mod.get_params()
    return outputs, {k: v.asnumpy() for k, v in args.items()}


def test_custom_op_in_a_bucketing_module_trains_as_softmax_output():
    custom_out, custom_args = _train_bucketing("custom")
    native_out, native_args = _train_bucketing("native")
    for c, n in zip(custom_out, native_out):
        np.testing.assert_allclose(c, n, rtol=1e-5, atol=1e-6)
    for k in native_args:
        np.testing.assert_allclose(custom_args[k], native_args[k], rtol=1e-5, atol=1e-6, err_msg=k)


def _train_sequential(head):
    x, y = cases.blobs(seed=5, n=100)
    it = mx.io.NDArrayIter(x, y, batch_size=20, label_name="softmax_label")
    body = mx.sym.FullyConnected(mx.sym.Variable("data"), name="fc1", num_hidden=8)
    body = mx.sym.Activation(body, act_type="relu")
    fc2 = mx.sym.FullyConnected(mx.sym.Variable("data"), name="fc2", num_hidden=cases.N_CLASSES)
    if head == "custom":
        top = mx.sym.Custom(fc2, name="softmax", op_type="softmax")
    else:
        top = mx.sym.SoftmaxOutput(fc2, name="softmax")
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(body, label_names=None))
    seq.add(mx.mod.Module(top), take_labels=True, auto_wiring=True)
    rng = np.random.RandomState(6)
    shapes = {"fc1_weight": (8, cases.N_FEATURES), "fc1_bias": (8,),
              "fc2_weight": (cases.N_CLASSES, 8), "fc2_bias": (cases.N_CLASSES,)}
    params = {k: mx.nd.array(rng.uniform(-0.3, 0.3, s)) for k, s in sorted(shapes.items())}
    seq.fit(it, num_epoch=2, arg_params=params, optimizer="sgd",
            optimizer_params={"learning_rate": 0.1})
    return seq.predict(it).asnumpy(), dict(seq.score(it, "acc"))["accuracy"]


def test_custom_op_in_a_sequential_module_trains_as_softmax_output():
    custom_pred, custom_acc = _train_sequential("custom")
    native_pred, native_acc = _train_sequential("native")
    np.testing.assert_allclose(custom_pred, native_pred, rtol=1e-5, atol=1e-6)
    assert custom_acc == native_acc
