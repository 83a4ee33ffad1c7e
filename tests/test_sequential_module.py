"""SequentialModule: chaining, gradients passed module to module (against float64 finite
differences), training equal to one Module over the whole network, parameters and
checkpoints, and errors."""
import numpy as np
import pytest

import flowmod as mx
from flowmod.base import MXNetError

N, D, H, C = 6, 5, 7, 4


def _features(hidden=H, name="fc1"):
    data = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(data, name=name, num_hidden=hidden)
    return mx.sym.Activation(fc, act_type="tanh", name=name + "_act")


def _head(classes=C, name="fc2", loss=True):
    data = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(data, name=name, num_hidden=classes)
    return mx.sym.SoftmaxOutput(fc, name="softmax") if loss else fc


def _chain(loss=True):
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(_features(), label_names=None))
    if loss:
        seq.add(mx.mod.Module(_head()), take_labels=True, auto_wiring=True)
    else:
        seq.add(mx.mod.Module(_head(loss=False), label_names=None), auto_wiring=True)
    return seq


def _bind(seq, inputs_need_grad=False, labels=True):
    seq.bind(data_shapes=[("data", (N, D))],
             label_shapes=[("softmax_label", (N,))] if labels else None,
             inputs_need_grad=inputs_need_grad)
    mx.random.seed(5)
    seq.init_params(initializer=mx.init.Xavier())
    return seq


def _np_params(mod):
    arg, _ = mod.get_params()
    return {k: v.asnumpy().astype(np.float64) for k, v in arg.items()}


def _np_chain(p, x):
    h = np.tanh(x @ p["fc1_weight"].T + p["fc1_bias"])
    return h @ p["fc2_weight"].T + p["fc2_bias"]


def _batch(seed, n=N):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, D)).astype(np.float32)
    y = rng.integers(0, C, n).astype(np.float32)
    return mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)])


# ---- chaining --------------------------------------------------------------------------------
def test_add_returns_the_module_for_chaining():
    seq = mx.mod.SequentialModule()
    m1, m2 = mx.mod.Module(_features(), label_names=None), mx.mod.Module(_head())
    assert seq.add(m1).add(m2, take_labels=True, auto_wiring=True) is seq
    assert seq._metas == [{}, {"take_labels": True, "auto_wiring": True}]


def test_meta_keys_are_mxnets():
    assert mx.mod.SequentialModule.META_TAKE_LABELS == "take_labels"
    assert mx.mod.SequentialModule.META_AUTO_WIRING == "auto_wiring"


def test_names_and_shapes_come_from_the_first_and_last_modules():
    seq = _bind(_chain())
    assert seq.data_names == ["data"]
    assert seq.output_names == ["softmax_output"]
    assert [tuple(d) for d in seq.data_shapes] == [("data", (N, D))]
    assert [tuple(d) for d in seq.output_shapes] == [("softmax_output", (N, C))]
    assert [tuple(d) for d in seq.label_shapes] == [("softmax_label", (N,))]


def test_label_shapes_are_none_when_no_module_takes_labels():
    seq = _bind(_chain(loss=False), labels=True)
    assert seq.label_shapes is None


def test_forward_feeds_each_module_the_previous_outputs():
    seq = _bind(_chain(loss=False))
    batch = _batch(0)
    seq.forward(batch, is_train=False)
    expected = _np_chain(_np_params(seq), batch.data[0].asnumpy().astype(np.float64))
    np.testing.assert_allclose(seq.get_outputs()[0].asnumpy(), expected, rtol=1e-4, atol=1e-5)


def test_predict_returns_the_last_modules_outputs():
    seq = _bind(_chain(loss=False))
    x = np.random.default_rng(1).standard_normal((2 * N, D)).astype(np.float32)
    pred = seq.predict(mx.io.NDArrayIter(x, batch_size=N))
    np.testing.assert_allclose(pred.asnumpy(), _np_chain(_np_params(seq), x.astype(np.float64)),
                               rtol=1e-4, atol=1e-5)


# ---- gradients -------------------------------------------------------------------------------
def test_input_grads_equal_float64_finite_differences_of_the_chain():
    seq = _bind(_chain(loss=False), inputs_need_grad=True)
    p = _np_params(seq)
    batch = _batch(2)
    head_grad = np.random.default_rng(3).standard_normal((N, C))
    seq.forward(batch, is_train=True)
    seq.backward(out_grads=[mx.nd.array(head_grad.astype(np.float32))])
    (grad,) = seq.get_input_grads()

    x = batch.data[0].asnumpy().astype(np.float64)
    def loss(v):
        return float((_np_chain(p, v) * head_grad).sum())
    eps = 1e-6
    fd = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += eps
        down[idx] -= eps
        fd[idx] = (loss(up) - loss(down)) / (2 * eps)
    np.testing.assert_allclose(grad.asnumpy(), fd, rtol=1e-4, atol=1e-5)


def test_parameter_gradients_of_the_first_module_come_through_the_second():
    seq = _bind(_chain())
    p = _np_params(seq)
    batch = _batch(4)
    seq.forward_backward(batch)
    x = batch.data[0].asnumpy().astype(np.float64)
    y = batch.label[0].asnumpy().astype(int)
    h = np.tanh(x @ p["fc1_weight"].T + p["fc1_bias"])
    logits = h @ p["fc2_weight"].T + p["fc2_bias"]
    prob = np.exp(logits - logits.max(1, keepdims=True))
    prob /= prob.sum(1, keepdims=True)
    prob[np.arange(N), y] -= 1
    d_pre = (prob @ p["fc2_weight"]) * (1 - h ** 2)
    first = seq._modules[0]._exec_group.execs[0]
    np.testing.assert_allclose(first.grad_dict["fc1_weight"].asnumpy(), d_pre.T @ x,
                               rtol=1e-4, atol=1e-5)


def test_get_input_grads_without_inputs_need_grad_raises():
    seq = _bind(_chain())
    seq.forward_backward(_batch(0))
    with pytest.raises(MXNetError, match="inputs_need_grad"):
        seq.get_input_grads()


# ---- training --------------------------------------------------------------------------------
def _digits():
    from sklearn.datasets import load_digits
    d = load_digits()
    return (d.data[:600] / 16.0).astype(np.float32), d.target[:600].astype(np.float32)


def test_fit_matches_the_single_module_of_the_whole_network():
    x, y = _digits()
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(_features(hidden=32), label_names=None))
    seq.add(mx.mod.Module(_head(classes=10)), take_labels=True, auto_wiring=True)
    seq.bind(data_shapes=[("data", (50, 64))], label_shapes=[("softmax_label", (50,))])
    mx.random.seed(7)
    seq.init_params(initializer=mx.init.Xavier())
    init_arg, init_aux = seq.get_params()
    init_arg = {k: v.copy() for k, v in init_arg.items()}

    data = mx.sym.Variable("data")
    hidden = mx.sym.Activation(mx.sym.FullyConnected(data, name="fc1", num_hidden=32),
                               act_type="tanh")
    whole = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(hidden, name="fc2", num_hidden=10),
                                 name="softmax")
    single = mx.mod.Module(whole)

    opt = {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-4}
    seq.fit(mx.io.NDArrayIter(x, y, batch_size=50), num_epoch=3, optimizer="sgd",
            optimizer_params=opt)
    single.fit(mx.io.NDArrayIter(x, y, batch_size=50), num_epoch=3, optimizer="sgd",
               optimizer_params=opt, arg_params=init_arg, aux_params=init_aux)
    got, expected = seq.get_params()[0], single.get_params()[0]
    assert sorted(got) == sorted(expected)
    for name in expected:
        np.testing.assert_allclose(got[name].asnumpy(), expected[name].asnumpy(),
                                   rtol=1e-4, atol=1e-5)
    (_, acc), = seq.score(mx.io.NDArrayIter(x, y, batch_size=50), "acc")
    (_, acc_single), = single.score(mx.io.NDArrayIter(x, y, batch_size=50), "acc")
    assert acc == pytest.approx(acc_single)


def test_update_metric_uses_the_modules_that_take_labels():
    seq = _bind(_chain())
    batch = _batch(6)
    seq.forward(batch, is_train=False)
    metric = mx.metric.create("acc")
    seq.update_metric(metric, batch.label)
    logits = _np_chain(_np_params(seq), batch.data[0].asnumpy().astype(np.float64))
    assert metric.get()[1] == pytest.approx(
        float((logits.argmax(1) == batch.label[0].asnumpy()).mean()))


def test_monitor_is_installed_on_every_module():
    seq = _bind(_chain())
    seen = []

    class _Mon:
        def install(self, exe):
            seen.append(exe)

    seq.install_monitor(_Mon())
    assert seen == [m._exec_group.execs[0] for m in seq._modules]


# ---- parameters and checkpoints --------------------------------------------------------------
def test_get_params_merges_every_modules_parameters():
    seq = _bind(_chain())
    arg, aux = seq.get_params()
    assert sorted(arg) == ["fc1_bias", "fc1_weight", "fc2_bias", "fc2_weight"]
    assert aux == {}


def test_set_params_reaches_every_module():
    seq = _bind(_chain())
    values = {k: mx.nd.full(v.shape, 0.125) for k, v in seq.get_params()[0].items()}
    seq.set_params(values, {})
    for name, value in _np_params(seq).items():
        np.testing.assert_array_equal(value, np.full(value.shape, 0.125))


def test_init_params_with_a_name_no_module_has_raises():
    seq = _chain()
    seq.bind(data_shapes=[("data", (N, D))], label_shapes=[("softmax_label", (N,))])
    seq.init_params()
    arg = dict(seq.get_params()[0])
    arg["fc9_weight"] = mx.nd.zeros((1,))
    with pytest.raises(MXNetError, match="fc9_weight"):
        seq.set_params(arg, {})


def test_save_params_and_load_params_round_trip(tmp_path):
    seq = _bind(_chain())
    seq.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.5})
    seq.forward_backward(_batch(0))
    seq.update()
    fname = str(tmp_path / "chain.params")
    seq.save_params(fname)
    other = _chain()
    other.bind(data_shapes=[("data", (N, D))], label_shapes=[("softmax_label", (N,))])
    other.load_params(fname)
    batch = _batch(1)
    seq.forward(batch, is_train=False)
    other.forward(batch, is_train=False)
    np.testing.assert_array_equal(other.get_outputs()[0].asnumpy(),
                                  seq.get_outputs()[0].asnumpy())


def test_members_checkpoints_rebuild_the_chain(tmp_path):
    seq = _bind(_chain())
    seq.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.5})
    seq.forward_backward(_batch(0))
    seq.update()
    for i, member in enumerate(seq._modules):
        member.save_checkpoint(str(tmp_path / f"layer{i}"), 1)
    rebuilt = mx.mod.SequentialModule()
    rebuilt.add(mx.mod.Module.load(str(tmp_path / "layer0"), 1, label_names=None))
    rebuilt.add(mx.mod.Module.load(str(tmp_path / "layer1"), 1), take_labels=True,
                auto_wiring=True)
    rebuilt.bind(data_shapes=[("data", (N, D))], label_shapes=[("softmax_label", (N,))],
                 for_training=False)
    rebuilt.init_params()
    batch = _batch(2)
    seq.forward(batch, is_train=False)
    rebuilt.forward(batch, is_train=False)
    np.testing.assert_array_equal(rebuilt.get_outputs()[0].asnumpy(),
                                  seq.get_outputs()[0].asnumpy())


# ---- errors ----------------------------------------------------------------------------------
def test_add_after_bind_raises():
    seq = _bind(_chain())
    with pytest.raises(MXNetError, match="already bound"):
        seq.add(mx.mod.Module(_head(name="fc3")))


def test_unknown_meta_raises_naming_it():
    with pytest.raises(MXNetError, match="take_label"):
        mx.mod.SequentialModule().add(mx.mod.Module(_head()), take_label=True)


def test_adding_something_other_than_a_module_raises():
    with pytest.raises(MXNetError, match="expected a module"):
        mx.mod.SequentialModule().add(_head())


def test_binding_an_empty_chain_raises():
    with pytest.raises(MXNetError, match="empty"):
        mx.mod.SequentialModule().bind(data_shapes=[("data", (N, D))])


def test_mismatched_shapes_between_modules_raise_naming_the_layer():
    data = mx.sym.Variable("data")
    wants_seven = mx.sym.FullyConnected(mx.sym.Reshape(data, shape=(N, 5)), num_hidden=2,
                                        name="fc3")
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(_features(), label_names=None))
    seq.add(mx.mod.Module(wants_seven, label_names=None), auto_wiring=True)
    with pytest.raises(MXNetError, match=r"layer 1 \(Module\) cannot be bound to layer 0's "
                                         r"outputs \[\('data', \(6, 7\)\)\]"):
        seq.bind(data_shapes=[("data", (N, D))])
    assert not seq.binded


def test_outputs_not_wired_to_the_next_data_names_raise():
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(_features(), label_names=None))
    seq.add(mx.mod.Module(_head(loss=False), label_names=None))
    with pytest.raises(MXNetError, match="layer 1"):
        seq.bind(data_shapes=[("data", (N, D))])


def test_auto_wiring_with_a_different_number_of_inputs_raises():
    two = mx.sym.Variable("a") + mx.sym.Variable("b")
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(_features(), label_names=None))
    seq.add(mx.mod.Module(two, data_names=("a", "b"), label_names=None), auto_wiring=True)
    with pytest.raises(MXNetError, match=r"takes 2 data inputs \['a', 'b'\], but layer 0 "
                                         r"gives 1 outputs"):
        seq.bind(data_shapes=[("data", (N, D))])


def test_duplicated_parameter_names_raise():
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(_features(hidden=D), label_names=None))
    seq.add(mx.mod.Module(_features(hidden=D), label_names=None), auto_wiring=True)
    seq.bind(data_shapes=[("data", (N, D))])
    with pytest.raises(MXNetError, match="duplicated parameter name 'fc1_"):
        seq.init_params()


# ---- futures ---------------------------------------------------------------------------------
def test_forward_returns_a_future_of_the_last_modules_outputs():
    seq = _bind(_chain(loss=False))
    batch = _batch(8)
    fut = seq.forward(batch, is_train=False)
    (out,) = fut.result(timeout=30)
    expected = _np_chain(_np_params(seq), batch.data[0].asnumpy().astype(np.float64))
    np.testing.assert_allclose(out.asnumpy(), expected, rtol=1e-4, atol=1e-5)


def test_backward_and_update_return_futures_that_resolve():
    seq = _bind(_chain())
    seq.init_optimizer()
    seq.forward(_batch(9))
    assert seq.backward().result(timeout=30) is None
    assert seq.update().result(timeout=30) is None


def test_fit_async_trains_the_chain_under_asyncio():
    import asyncio
    x, y = _digits()
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(_features(hidden=32), label_names=None))
    seq.add(mx.mod.Module(_head(classes=10)), take_labels=True, auto_wiring=True)
    mx.random.seed(7)
    asyncio.run(seq.fit_async(mx.io.NDArrayIter(x, y, batch_size=50), num_epoch=5,
                              optimizer_params={"learning_rate": 0.1, "momentum": 0.9},
                              initializer=mx.init.Xavier()))
    (_, acc), = seq.score(mx.io.NDArrayIter(x, y, batch_size=50), "acc")
    assert acc > 0.8


def test_sequential_module_example_reaches_ninety_percent():
    import os
    import re
    import subprocess
    import sys
    script = os.path.join(os.path.dirname(__file__), "..", "examples", "sequential_module.py")
    done = subprocess.run([sys.executable, script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    accuracy = float(re.search(r"validation accuracy ([0-9.]+)", done.stdout).group(1))
    assert accuracy >= 0.9
    assert "predictions identical" in done.stdout
