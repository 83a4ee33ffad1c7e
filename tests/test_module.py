"""Module: the classic training script, step-by-step calls against numpy, checkpoints,
data parallelism across contexts, and errors."""
import json
import logging
import os
import subprocess
import textwrap

import numpy as np
import pytest

import flowmod as mx
from flowmod.base import MXNetError


def _digits():
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.float32)
    idx = np.random.default_rng(0).permutation(len(x))
    return x[idx], y[idx]


def _mlp(hidden=64, classes=10):
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data, name="fc1", num_hidden=hidden)
    act1 = mx.sym.Activation(fc1, name="relu1", act_type="relu")
    fc2 = mx.sym.FullyConnected(act1, name="fc2", num_hidden=classes)
    return mx.sym.SoftmaxOutput(fc2, name="softmax")


def _linreg():
    data = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(data, name="fc", num_hidden=1)
    return mx.sym.LinearRegressionOutput(fc, name="lro")


# ---- the classic script ------------------------------------------------------------------------
def test_fit_score_predict_on_digits(caplog):
    x, y = _digits()
    np.random.seed(0)  # NDArrayIter shuffles with numpy's global generator, as MXNet's does
    train = mx.io.NDArrayIter(x[:1500], y[:1500], batch_size=50, shuffle=True)
    val = mx.io.NDArrayIter(x[1500:], y[1500:], batch_size=50)
    mod = mx.mod.Module(_mlp())
    mx.random.seed(1)
    epochs = []
    with caplog.at_level(logging.INFO):
        mod.fit(train, eval_data=val, optimizer="sgd",
                optimizer_params={"learning_rate": 0.1, "momentum": 0.9},
                initializer=mx.init.Xavier(), num_epoch=8,
                batch_end_callback=mx.callback.Speedometer(50, 10),
                epoch_end_callback=lambda epoch, sym, arg, aux: epochs.append(epoch))
    assert epochs == list(range(8))
    assert "Epoch[7] Validation-accuracy=" in caplog.text
    assert "samples/sec" in caplog.text
    (name, acc), = mod.score(val, "acc")
    assert name == "accuracy" and acc > 0.95
    pred = mod.predict(val)
    assert pred.shape == (297, 10)  # the padded last batch is cut
    # score counts the padded samples of the last batch too (as MXNet does); predict cuts them.
    assert abs((pred.asnumpy().argmax(1) == y[1500:]).mean() - acc) < 0.01
    assert mod.output_shapes == [("softmax_output", (50, 10))]
    assert [d.name for d in mod.data_shapes] == ["data"]


def test_one_epoch_of_sgd_equals_numpy():
    """Linear regression trained by fit equals the same mini-batch SGD written in numpy."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    y = (x @ [1.0, -2.0, 0.5] + 0.3).astype(np.float32)
    it = mx.io.NDArrayIter(x, y, batch_size=10, label_name="lro_label")
    mod = mx.mod.Module(_linreg(), label_names=["lro_label"])
    w0 = rng.standard_normal((1, 3)).astype(np.float32)
    mod.fit(it, num_epoch=2, optimizer="sgd", optimizer_params={"learning_rate": 0.05},
            arg_params={"fc_weight": mx.nd.array(w0), "fc_bias": mx.nd.zeros((1,))},
            eval_metric="mse")
    w, b = w0.astype(np.float64), np.zeros(1)
    for _ in range(2):
        for i in range(0, 40, 10):
            xb, yb = x[i:i + 10], y[i:i + 10]
            g = (xb @ w.T + b)[:, 0] - yb
            w = w - 0.05 * (g @ xb)[None, :] / 10
            b = b - 0.05 * g.sum() / 10
    arg, _ = mod.get_params()
    np.testing.assert_allclose(arg["fc_weight"].asnumpy(), w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arg["fc_bias"].asnumpy(), b, rtol=1e-5, atol=1e-6)


def test_step_by_step_calls_and_input_gradients():
    mod = mx.mod.Module(_linreg(), label_names=["lro_label"])
    mod.bind(data_shapes=[("data", (4, 3))], label_shapes=[("lro_label", (4,))],
             inputs_need_grad=True)
    mod.init_params(initializer=mx.init.Zero())
    w = np.array([[1.0, 2.0, 3.0]], np.float32)
    mod.set_params({"fc_weight": mx.nd.array(w), "fc_bias": mx.nd.array([0.5])}, {})
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    yb = np.ones(4, np.float32)
    batch = mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(yb)])
    mod.forward(batch, is_train=True)
    out = mod.get_outputs()[0].asnumpy()
    np.testing.assert_allclose(out[:, 0], x @ w[0] + 0.5)
    mod.backward()
    # LinearRegressionOutput's gradient is (out - label), reaching data through the weight.
    g = out[:, 0] - yb
    np.testing.assert_allclose(mod.get_input_grads()[0].asnumpy(), g[:, None] * w, rtol=1e-6)
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.1})
    mod.update()
    arg, _ = mod.get_params()
    np.testing.assert_allclose(arg["fc_weight"].asnumpy(), w - 0.1 * (g @ x)[None] / 4,
                               rtol=1e-5)
    metric = mx.metric.create("mse")
    mod.update_metric(metric, [mx.nd.array(yb)])
    np.testing.assert_allclose(metric.get()[1], np.mean((out[:, 0] - yb) ** 2), rtol=1e-6)


def test_fixed_params_are_not_updated_and_get_params_is_a_snapshot():
    x, y = _digits()
    it = mx.io.NDArrayIter(x[:200], y[:200], batch_size=50)
    mod = mx.mod.Module(_mlp(), fixed_param_names=["fc1_weight"])
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params(mx.init.Xavier())
    mod.init_optimizer(optimizer_params={"learning_rate": 0.5})
    before = {k: v.asnumpy().copy() for k, v in mod.get_params()[0].items()}
    snapshot = mod.get_params()[0]["fc2_weight"]
    for batch in it:
        mod.forward_backward(batch)
        mod.update()
    np.testing.assert_array_equal(snapshot.asnumpy(), before["fc2_weight"])
    after = mod.get_params()[0]
    np.testing.assert_array_equal(after["fc1_weight"].asnumpy(), before["fc1_weight"])
    assert not np.allclose(after["fc2_weight"].asnumpy(), before["fc2_weight"])


def test_predict_forms_and_iter_predict():
    x, y = _digits()
    it = mx.io.NDArrayIter(x[:130], y[:130], batch_size=50)
    mod = mx.mod.Module(_mlp())
    mod.bind(it.provide_data, it.provide_label, for_training=False)
    mod.init_params(mx.init.Xavier())
    merged = mod.predict(it)
    assert merged.shape == (130, 10)
    listed = mod.predict(it, always_output_list=True)
    assert isinstance(listed, list) and listed[0].shape == (130, 10)
    per_batch = mod.predict(it, merge_batches=False)
    assert [b[0].shape[0] for b in per_batch] == [50, 50, 30]
    got = [(outs[0].shape[0], i) for outs, i, batch in mod.iter_predict(it)]
    assert got == [(50, 0), (50, 1), (30, 2)]
    np.testing.assert_allclose(mod.predict(x[:50]).asnumpy(), merged.asnumpy()[:50], rtol=1e-6)


def test_forward_with_another_batch_size_reshapes():
    mod = mx.mod.Module(_mlp(hidden=8, classes=3))
    mod.bind([("data", (10, 5))], [("softmax_label", (10,))], for_training=False)
    mod.init_params(mx.init.Xavier())
    x = np.random.default_rng(3).standard_normal((10, 5)).astype(np.float32)
    mod.forward(mx.io.DataBatch([mx.nd.array(x)]))
    full = mod.get_outputs()[0].asnumpy()
    mod.forward(mx.io.DataBatch([mx.nd.array(x[:4])]))
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), full[:4], rtol=1e-6)
    assert mod.data_shapes[0].shape == (4, 5)


# ---- checkpoints ------------------------------------------------------------------------------
def test_checkpoint_round_trip_with_optimizer_states(tmp_path):
    x, y = _digits()
    it = mx.io.NDArrayIter(x[:300], y[:300], batch_size=50)
    mod = mx.mod.Module(_mlp())
    mod.fit(it, num_epoch=1, optimizer="sgd",
            optimizer_params={"learning_rate": 0.1, "momentum": 0.9},
            initializer=mx.init.Xavier())
    prefix = str(tmp_path / "mlp")
    mod.save_checkpoint(prefix, 1, save_optimizer_states=True)
    assert sorted(os.listdir(tmp_path)) == ["mlp-0001.manifest", "mlp-0001.params",
                                           "mlp-0001.states", "mlp-symbol.json"]
    loaded = mx.mod.Module.load(prefix, 1, load_optimizer_states=True)
    loaded.bind(it.provide_data, it.provide_label)
    np.testing.assert_allclose(loaded.predict(it).asnumpy(), mod.predict(it).asnumpy(),
                               rtol=1e-6)
    loaded.init_optimizer(optimizer="sgd",
                          optimizer_params={"learning_rate": 0.1, "momentum": 0.9})
    # One more identical epoch on both: the momentum came back with the states.
    for m in (mod, loaded):
        it.reset()
        for batch in it:
            m.forward_backward(batch)
            m.update()
    for k, v in mod.get_params()[0].items():
        np.testing.assert_allclose(loaded.get_params()[0][k].asnumpy(), v.asnumpy(),
                                   rtol=1e-5, atol=1e-6)


def test_save_and_load_params(tmp_path):
    mod = mx.mod.Module(_mlp(hidden=4, classes=2))
    mod.bind([("data", (3, 5))], [("softmax_label", (3,))])
    mod.init_params(mx.init.Xavier())
    fname = str(tmp_path / "p.params")
    mod.save_params(fname)
    assert sorted(mx.nd.load(fname)) == ["arg:fc1_bias", "arg:fc1_weight", "arg:fc2_bias",
                                         "arg:fc2_weight"]
    other = mx.mod.Module(_mlp(hidden=4, classes=2))
    other.bind([("data", (3, 5))], [("softmax_label", (3,))])
    other.init_params()
    other.load_params(fname)
    for k, v in mod.get_params()[0].items():
        np.testing.assert_array_equal(other.get_params()[0][k].asnumpy(), v.asnumpy())
    mx.nd.save(fname, {"weird:x": mx.nd.ones((1,))})
    with pytest.raises(ValueError, match="Invalid param file"):
        other.load_params(fname)


MXNET_CHECKPOINT = """
import json, sys, numpy as np, mxnet as mx
prefix = sys.argv[1]
data = mx.sym.Variable("data")
fc1 = mx.sym.FullyConnected(data, name="fc1", num_hidden=16)
bn = mx.sym.BatchNorm(fc1, name="bn1", fix_gamma=False)
act = mx.sym.Activation(bn, act_type="relu", name="relu1")
out = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(act, name="fc2", num_hidden=4), name="softmax")
mod = mx.mod.Module(out)
x = np.random.RandomState(0).rand(20, 8).astype("float32")
y = np.arange(20) % 4
it = mx.io.NDArrayIter(x, y, batch_size=10)
mod.fit(it, num_epoch=2, initializer=mx.init.Xavier(), optimizer_params={"learning_rate": 0.1})
mod.save_checkpoint(prefix, 2)
print(json.dumps(mod.predict(it).asnumpy().tolist()))
"""


def test_mxnet_checkpoint_loads_and_predicts_the_same(tmp_path):
    python = os.environ.get("FLOWMOD_PEER_MXNET")
    if not python:
        pytest.skip("set FLOWMOD_PEER_MXNET to a Python with mxnet 1.9.1 to check checkpoints "
                    "written by MXNet")
    prefix = str(tmp_path / "peer")
    res = subprocess.run([python, "-c", textwrap.dedent(MXNET_CHECKPOINT), prefix],
                         capture_output=True, text=True, check=True)
    expected = np.array(json.loads(res.stdout.strip().splitlines()[-1]))
    mod = mx.mod.Module.load(prefix, 2)
    x = np.random.RandomState(0).rand(20, 8).astype("float32")
    it = mx.io.NDArrayIter(x, np.arange(20) % 4, batch_size=10)
    mod.bind(it.provide_data, it.provide_label, for_training=False)
    np.testing.assert_allclose(mod.predict(it).asnumpy(), expected, rtol=1e-4, atol=1e-5)


# ---- data parallelism -------------------------------------------------------------------------
def test_two_contexts_train_like_one():
    x, y = _digits()
    results = []
    for contexts in ([mx.cpu(0)], [mx.cpu(0), mx.cpu(1)]):
        it = mx.io.NDArrayIter(x[:400], y[:400], batch_size=40)
        mod = mx.mod.Module(_mlp(hidden=16), context=contexts)
        mx.random.seed(7)
        mod.fit(it, num_epoch=2, initializer=mx.init.Xavier(),
                optimizer_params={"learning_rate": 0.2})
        results.append({k: v.asnumpy() for k, v in mod.get_params()[0].items()})
        assert len(mod._exec_group.execs) == len(contexts)
    for k in results[0]:
        np.testing.assert_allclose(results[1][k], results[0][k], rtol=1e-4, atol=1e-5)


def test_work_load_list_splits_the_batch():
    mod = mx.mod.Module(_mlp(hidden=4, classes=2), context=[mx.cpu(0), mx.cpu(1)],
                        work_load_list=[3, 1])
    mod.bind([("data", (8, 5))], [("softmax_label", (8,))])
    assert [e.arg_dict["data"].shape[0] for e in mod._exec_group.execs] == [6, 2]
    mod.init_params(mx.init.Xavier())
    x = np.random.default_rng(0).standard_normal((8, 5)).astype(np.float32)
    mod.forward(mx.io.DataBatch([mx.nd.array(x)], [mx.nd.zeros((8,))]), is_train=False)
    single = mx.mod.Module(_mlp(hidden=4, classes=2))
    single.bind([("data", (8, 5))], [("softmax_label", (8,))], for_training=False)
    single.set_params(*mod.get_params())
    single.forward(mx.io.DataBatch([mx.nd.array(x)]))
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(),
                               single.get_outputs()[0].asnumpy(), rtol=1e-6)


# ---- monitor -----------------------------------------------------------------------------------
def test_monitor_reports_outputs_and_arguments():
    mod = mx.mod.Module(_mlp(hidden=4, classes=2))
    mod.bind([("data", (3, 5))], [("softmax_label", (3,))])
    mod.init_params(mx.init.Xavier())
    mon = mx.mon.Monitor(1, pattern="fc1.*")
    mod.install_monitor(mon)
    mon.tic()
    mod.forward(mx.io.DataBatch([mx.nd.ones((3, 5))], [mx.nd.zeros((3,))]))
    names = [k for _, k, _ in mon.toc()]
    assert names == ["fc1_output", "fc1_weight", "fc1_bias"]


# ---- errors -----------------------------------------------------------------------------------
def test_errors_are_clear():
    with pytest.raises(ValueError, match="input with name 'image' is not found"):
        mx.mod.Module(_mlp(), data_names=["image"])
    mod = mx.mod.Module(_mlp())
    with pytest.raises(MXNetError, match="bind"):
        mod.forward(mx.io.DataBatch([mx.nd.ones((2, 5))]))
    with pytest.raises(ValueError, match="don't match names"):
        mod.bind([("img", (2, 5))], [("softmax_label", (2,))])
    mod.bind([("data", (2, 5))], [("softmax_label", (2,))])
    mod.init_params()
    with pytest.raises(MXNetError, match="init_optimizer"):
        mod.update()
    with pytest.raises(MXNetError, match="num_epoch"):
        mod.fit(mx.io.NDArrayIter(np.zeros((4, 5)), np.zeros(4), batch_size=2))
    with pytest.raises(RuntimeError, match="fc1_bias is not presented"):
        mod.init_params(initializer=None, arg_params={"fc1_weight": mx.nd.zeros((64, 5))},
                        force_init=True)
    with pytest.raises(MXNetError, match=r"fc1_weight has shape \(3, 3\)"):
        mod.init_params(arg_params={"fc1_weight": mx.nd.zeros((3, 3))}, allow_missing=True,
                        force_init=True)
    with pytest.raises(MXNetError, match="inputs_need_grad"):
        mod.get_input_grads()


def test_init_params_twice_keeps_values_unless_forced():
    mod = mx.mod.Module(_mlp(hidden=4, classes=2))
    mod.bind([("data", (3, 5))], [("softmax_label", (3,))])
    mod.init_params(mx.init.Xavier())
    before = mod.get_params()[0]["fc1_weight"].asnumpy().copy()
    with pytest.warns(UserWarning, match="already initialized"):
        mod.init_params(mx.init.One())
    np.testing.assert_array_equal(mod.get_params()[0]["fc1_weight"].asnumpy(), before)
    mod.init_params(mx.init.One(), force_init=True)
    np.testing.assert_array_equal(mod.get_params()[0]["fc1_weight"].asnumpy(), 1.0)


def test_bad_optimizer_and_truncated_params_leave_the_module_usable(tmp_path):
    x, y = _digits()
    it = mx.io.NDArrayIter(x[:100], y[:100], batch_size=50)
    mod = mx.mod.Module(_mlp(hidden=8))
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params(mx.init.Xavier())
    with pytest.raises(Exception, match="nosuchopt"):
        mod.init_optimizer(optimizer="nosuchopt")
    fname = str(tmp_path / "m.params")
    mod.save_params(fname)
    with open(fname, "rb") as f:
        data = f.read()
    with open(fname, "wb") as f:
        f.write(data[:len(data) // 2])
    with pytest.raises(MXNetError):
        mod.load_params(fname)
    # Still usable: an optimizer, a training step and a prediction.
    mod.init_optimizer(optimizer="sgd")
    for batch in it:
        mod.forward_backward(batch)
        mod.update()
    assert np.isfinite(mod.predict(it).asnumpy()).all()


def test_group2ctxs_places_layers_on_their_devices():
    """Model parallelism: each ctx_group's operators run on the workers of its device, and
    training gives what one device gives."""
    def net():
        data = mx.sym.Variable("data")
        with mx.AttrScope(ctx_group="dev1"):
            h = mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=16, name="fc1"),
                                  act_type="relu")
        with mx.AttrScope(ctx_group="dev2"):
            out = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=10, name="fc2"),
                                       name="softmax")
        return out

    x, y = _digits()
    results = []
    for group2ctxs in (None, {"dev1": mx.cpu(1), "dev2": mx.cpu(2)}):
        it = mx.io.NDArrayIter(x[:200], y[:200], batch_size=50)
        mod = mx.mod.Module(net(), group2ctxs=group2ctxs)
        mx.random.seed(3)
        before = mx.engine.stats()
        mod.fit(it, num_epoch=2, initializer=mx.init.Xavier(),
                optimizer_params={"learning_rate": 0.1})
        mx.nd.waitall()
        after = mx.engine.stats()
        results.append({k: v.asnumpy() for k, v in mod.get_params()[0].items()})
        if group2ctxs:
            for dev in (mx.cpu(1), mx.cpu(2)):
                assert after.lane(dev).completed > before.lane(dev).completed
    for k in results[0]:
        np.testing.assert_allclose(results[1][k], results[0][k], rtol=1e-5, atol=1e-6)


def test_borrowed_optimizer_carries_momentum_across_modules_sharing_parameters():
    """A module bound with shared_module and borrow_optimizer trains the same weights with the
    same optimizer state: alternating batches between the two equals one module taking both."""
    x, y = _digits()
    batches = [mx.io.DataBatch([mx.nd.array(x[i:i + 20])], [mx.nd.array(y[i:i + 20])])
               for i in (0, 20, 40, 60)]
    sgd = {"learning_rate": 0.3, "momentum": 0.9}

    def fresh(shared=None):
        m = mx.mod.Module(_mlp())
        m.bind([("data", (20, 64))], [("softmax_label", (20,))], shared_module=shared)
        if shared is None:
            mx.random.seed(3)
            m.init_params(mx.init.Xavier())
        return m

    ref = fresh()
    ref.init_optimizer(optimizer="sgd", optimizer_params=sgd)
    for batch in batches:
        ref.forward_backward(batch)
        ref.update()

    first = fresh()
    second = fresh(shared=first)
    first.init_optimizer(optimizer="sgd", optimizer_params=sgd)
    assert not second.optimizer_initialized
    second.borrow_optimizer(first)
    for i, batch in enumerate(batches):
        mod = first if i % 2 == 0 else second
        mod.forward_backward(batch)
        mod.update()
    want = ref.get_params()[0]
    for mod in (first, second):
        got = mod.get_params()[0]
        for name in want:
            np.testing.assert_allclose(got[name].asnumpy(), want[name].asnumpy(), rtol=1e-5,
                                       atol=1e-6, err_msg=name)


def test_bind_with_a_shared_module_borrows_its_optimizer():
    owner = mx.mod.Module(_mlp())
    owner.bind([("data", (4, 64))], [("softmax_label", (4,))])
    owner.init_params()
    owner.init_optimizer()
    other = mx.mod.Module(_mlp())
    other.bind([("data", (8, 64))], [("softmax_label", (8,))], shared_module=owner)
    assert other.optimizer_initialized and other._updater is owner._updater


def test_borrow_optimizer_before_the_owner_has_one_raises():
    owner = mx.mod.Module(_mlp())
    owner.bind([("data", (4, 64))], [("softmax_label", (4,))])
    owner.init_params()
    other = mx.mod.Module(_mlp())
    other.bind([("data", (4, 64))], [("softmax_label", (4,))], shared_module=owner)
    with pytest.raises(MXNetError, match="borrow_optimizer"):
        other.borrow_optimizer(owner)
