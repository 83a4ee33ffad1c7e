"""PythonModule and PythonLossModule: a loss written in Python as the last stage of a
SequentialModule, its gradient reaching the first module (against numpy), training equal to
the same loss as a symbol, custom Python modules, checkpoints, and errors."""
import numpy as np
import pytest

import flowmod as mx
from flowmod.base import MXNetError

N, D, H, C = 6, 5, 7, 4


def _features():
    data = mx.sym.Variable("data")
    return mx.sym.Activation(mx.sym.FullyConnected(data, name="fc1", num_hidden=H),
                             act_type="tanh")


def _scores(classes=C):
    data = mx.sym.Variable("data")
    return mx.sym.FullyConnected(data, name="fc2", num_hidden=classes)


def _squared_error_grad(scores, labels):
    """d/ds of 0.5 * ||s - onehot(y)||^2, in numpy."""
    s = scores.asnumpy()
    target = np.eye(s.shape[1], dtype=s.dtype)[labels.asnumpy().astype(int)]
    return s - target


def _chain(grad_func=_squared_error_grad, **loss_kwargs):
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(_features(), label_names=None))
    seq.add(mx.mod.Module(_scores(), label_names=None), auto_wiring=True)
    seq.add(mx.mod.PythonLossModule(grad_func=grad_func, **loss_kwargs), take_labels=True,
            auto_wiring=True)
    seq.bind(data_shapes=[("data", (N, D))], label_shapes=[("softmax_label", (N,))])
    mx.random.seed(2)
    seq.init_params(initializer=mx.init.Xavier())
    return seq


def _batch(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, D)).astype(np.float32)
    y = rng.integers(0, C, N).astype(np.float32)
    return mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)])


def _np_params(mod):
    return {k: v.asnumpy().astype(np.float64) for k, v in mod.get_params()[0].items()}


# ---- the loss in a chain ---------------------------------------------------------------------
def test_outputs_are_the_scores_it_was_given():
    seq = _chain()
    batch = _batch(0)
    seq.forward(batch, is_train=False)
    p = _np_params(seq)
    x = batch.data[0].asnumpy().astype(np.float64)
    scores = np.tanh(x @ p["fc1_weight"].T + p["fc1_bias"]) @ p["fc2_weight"].T + p["fc2_bias"]
    np.testing.assert_allclose(seq.get_outputs()[0].asnumpy(), scores, rtol=1e-4, atol=1e-5)
    assert [tuple(d) for d in seq.output_shapes] == [("pyloss_output", (N, C))]


def test_gradient_of_grad_func_reaches_the_first_module():
    seq = _chain()
    p = _np_params(seq)
    batch = _batch(1)
    seq.forward_backward(batch)
    x = batch.data[0].asnumpy().astype(np.float64)
    y = batch.label[0].asnumpy().astype(int)
    h = np.tanh(x @ p["fc1_weight"].T + p["fc1_bias"])
    scores = h @ p["fc2_weight"].T + p["fc2_bias"]
    d_scores = scores - np.eye(C)[y]
    d_pre = (d_scores @ p["fc2_weight"]) * (1 - h ** 2)
    loss_grad = seq._modules[2].get_input_grads()[0].asnumpy()
    np.testing.assert_allclose(loss_grad, d_scores, rtol=1e-4, atol=1e-5)
    first = seq._modules[0]._exec_group.execs[0].grad_dict
    np.testing.assert_allclose(first["fc1_weight"].asnumpy(), d_pre.T @ x, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(first["fc1_bias"].asnumpy(), d_pre.sum(0), rtol=1e-4, atol=1e-5)


def test_grad_func_gets_the_scores_and_the_labels():
    seen = {}

    def grad(scores, labels):
        seen["scores"], seen["labels"] = scores.asnumpy(), labels.asnumpy()
        return mx.nd.zeros(scores.shape)

    seq = _chain(grad_func=grad)
    batch = _batch(2)
    seq.forward_backward(batch)
    np.testing.assert_array_equal(seen["labels"], batch.label[0].asnumpy())
    np.testing.assert_array_equal(seen["scores"], seq.get_outputs()[0].asnumpy())


def test_fit_with_a_python_softmax_loss_matches_softmax_output():
    """The cross-entropy gradient written in Python trains as SoftmaxOutput does."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x, y = (d.data[:500] / 16.0).astype(np.float32), d.target[:500].astype(np.float32)

    def softmax_ce_grad(scores, labels):
        s = scores.asnumpy()
        e = np.exp(s - s.max(axis=1, keepdims=True))
        prob = e / e.sum(axis=1, keepdims=True)
        prob[np.arange(len(s)), labels.asnumpy().astype(int)] -= 1
        return prob

    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(_scores(classes=10), label_names=None))
    seq.add(mx.mod.PythonLossModule(grad_func=softmax_ce_grad), take_labels=True,
            auto_wiring=True)
    seq.bind(data_shapes=[("data", (50, 64))], label_shapes=[("softmax_label", (50,))])
    mx.random.seed(4)
    seq.init_params(initializer=mx.init.Xavier())
    init = {k: v.copy() for k, v in seq.get_params()[0].items()}
    single = mx.mod.Module(mx.sym.SoftmaxOutput(_scores(classes=10), name="softmax"))
    opt = {"learning_rate": 0.2, "momentum": 0.9}
    seq.fit(mx.io.NDArrayIter(x, y, batch_size=50), num_epoch=2, optimizer_params=opt)
    single.fit(mx.io.NDArrayIter(x, y, batch_size=50), num_epoch=2, optimizer_params=opt,
               arg_params=init, aux_params={})
    got, expected = seq.get_params()[0], single.get_params()[0]
    for name in expected:
        np.testing.assert_allclose(got[name].asnumpy(), expected[name].asnumpy(),
                                   rtol=1e-4, atol=1e-5)


def test_update_metric_evaluates_the_scores():
    seq = _chain()
    batch = _batch(3)
    seq.forward(batch, is_train=False)
    metric = mx.metric.create("acc")
    seq.update_metric(metric, batch.label)
    scores = seq.get_outputs()[0].asnumpy()
    assert metric.get()[1] == pytest.approx(
        float((scores.argmax(1) == batch.label[0].asnumpy()).mean()))


def test_a_chain_ending_in_a_python_loss_round_trips_its_parameters(tmp_path):
    seq = _chain()
    seq.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.3})
    seq.forward_backward(_batch(4))
    seq.update()
    fname = str(tmp_path / "pyloss.params")
    seq.save_params(fname)
    other = _chain()
    other.load_params(fname)
    batch = _batch(5)
    seq.forward(batch, is_train=False)
    other.forward(batch, is_train=False)
    np.testing.assert_array_equal(other.get_outputs()[0].asnumpy(),
                                  seq.get_outputs()[0].asnumpy())


# ---- PythonModule as a base ------------------------------------------------------------------
class _Double(mx.mod.PythonModule):
    """Doubles its input: a parameter-free Python stage in the middle of a chain."""

    def __init__(self):
        super().__init__(data_names=["data"], label_names=None, output_names=["double_output"])
        self._out = self._grad = None

    def _compute_output_shapes(self):
        return [("double_output", tuple(self._data_shapes[0].shape))]

    def forward(self, data_batch, is_train=None):
        self._out = data_batch.data[0] * 2

    def get_outputs(self, merge_multi_context=True):
        return [self._out]

    def backward(self, out_grads=None):
        self._grad = out_grads[0] * 2

    def get_input_grads(self, merge_multi_context=True):
        return [self._grad]


def test_a_python_module_in_the_middle_passes_gradients_through():
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(_features(), label_names=None))
    seq.add(_Double(), auto_wiring=True)
    seq.add(mx.mod.Module(_scores(), label_names=None), auto_wiring=True)
    seq.bind(data_shapes=[("data", (N, D))], inputs_need_grad=True)
    seq.init_params(initializer=mx.init.Xavier())
    seq.init_optimizer()
    p = _np_params(seq)
    batch = _batch(6)
    head = np.random.default_rng(7).standard_normal((N, C))
    seq.forward(batch)
    seq.backward([mx.nd.array(head.astype(np.float32))])
    seq.update()  # the Python stage has nothing to update
    x = batch.data[0].asnumpy().astype(np.float64)
    h = np.tanh(x @ p["fc1_weight"].T + p["fc1_bias"])
    d_x = ((head @ p["fc2_weight"]) * 2 * (1 - h ** 2)) @ p["fc1_weight"]
    np.testing.assert_allclose(seq.get_input_grads()[0].asnumpy(), d_x, rtol=1e-4, atol=1e-5)


def test_python_module_defaults_have_no_parameters():
    mod = _Double()
    mod.bind(data_shapes=[("data", (N, D))])
    mod.init_params()
    mod.init_optimizer()
    assert mod.get_params() == ({}, {})
    assert mod.params_initialized and mod.optimizer_initialized
    assert mod.output_shapes == [("double_output", (N, D))]


# ---- errors ----------------------------------------------------------------------------------
def test_python_module_without_output_shapes_raises_at_bind():
    mod = mx.mod.PythonModule(["data"], None, ["out"])
    with pytest.raises(MXNetError, match="_compute_output_shapes"):
        mod.bind(data_shapes=[("data", (N, D))])


def test_backward_without_grad_func_raises():
    seq = _chain(grad_func=None)
    seq.forward(_batch(0))
    with pytest.raises(MXNetError, match="no grad_func"):
        seq.backward()


def test_grad_func_of_the_wrong_shape_raises():
    seq = _chain(grad_func=lambda s, y: np.zeros((N, C + 1), np.float32))
    seq.forward(_batch(0))
    with pytest.raises(MXNetError, match=r"grad_func returned shape \(6, 5\), expected"):
        seq.backward()


def test_out_grads_given_to_the_loss_raise():
    loss = mx.mod.PythonLossModule(grad_func=_squared_error_grad)
    loss.bind(data_shapes=[("data", (N, C))], label_shapes=[("softmax_label", (N,))])
    loss.forward(mx.io.DataBatch([mx.nd.zeros((N, C))], [mx.nd.zeros((N,))]))
    with pytest.raises(MXNetError, match="out_grads must be None"):
        loss.backward(out_grads=[mx.nd.zeros((N, C))])


def test_binding_under_another_data_name_suggests_auto_wiring():
    loss = mx.mod.PythonLossModule(grad_func=_squared_error_grad)
    with pytest.raises(MXNetError, match="auto_wiring"):
        loss.bind(data_shapes=[("fc2_output", (N, C))])


def test_a_non_callable_grad_func_raises():
    with pytest.raises(MXNetError, match="grad_func"):
        mx.mod.PythonLossModule(grad_func=3)


def test_more_than_one_data_name_raises():
    with pytest.raises(MXNetError, match="data_names"):
        mx.mod.PythonLossModule(data_names=("a", "b"))


def test_loss_backward_returns_a_future_of_the_gradient():
    seq = _chain()
    seq.forward(_batch(8))
    assert seq._modules[2].backward().result(timeout=30) is None
    assert seq._modules[2].get_input_grads()[0].shape == (N, C)


def test_python_loss_example_trains_with_a_hinge_loss():
    import os
    import re
    import subprocess
    import sys
    script = os.path.join(os.path.dirname(__file__), "..", "examples", "python_loss.py")
    done = subprocess.run([sys.executable, script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    accuracy = float(re.search(r"validation accuracy ([0-9.]+)", done.stdout).group(1))
    assert accuracy >= 0.9
