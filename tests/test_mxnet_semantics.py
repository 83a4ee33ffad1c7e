"""Module and executor semantics that follow MXNet 1.9.1, each compared with what MXNet
returns (recorded by ``tests/data/make_mxnet_conventions_refs.py`` into
``tests/data/mxnet_conventions_refs.json``) or with a reference computed here."""
from __future__ import annotations

import inspect
import json
import os
import time
from functools import reduce

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd, sym

with open(os.path.join(os.path.dirname(__file__), "data", "mxnet_conventions_refs.json")) as f:
    REF = json.load(f)
MODULE = REF["module"]


def _softmax_fc(num_hidden=3):
    return sym.SoftmaxOutput(sym.FullyConnected(sym.Variable("data"), num_hidden=num_hidden,
                                                name="fc"), name="softmax")


def _bound(for_training=True, grad_req="write", batch=8, features=40):
    mod = mx.mod.Module(_softmax_fc())
    mod.bind(data_shapes=[("data", (batch, features))],
             label_shapes=[("softmax_label", (batch,))], for_training=for_training,
             grad_req=grad_req)
    mod.init_params(mx.init.Uniform(0.5))
    return mod


def _batch(batch, features, seed=0):
    rng = np.random.default_rng(seed)
    return mx.io.DataBatch([nd.array(rng.standard_normal((batch, features)))],
                           [nd.array(rng.integers(0, 3, batch))])


# ---- backward ---------------------------------------------------------------------------------
def test_backward_with_every_grad_req_null_is_a_no_op():
    ex = sym.FullyConnected(sym.Variable("x"), num_hidden=2, name="fc").simple_bind(
        mx.cpu(), x=(2, 3), grad_req="null")
    ex.forward(is_train=True)
    ex.backward()
    assert ex.grad_arrays == [None, None, None]


def test_module_bound_with_grad_req_null_runs_backward_and_update_without_changes():
    mod = _bound(grad_req="null")
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 1.0})
    before = {k: v.asnumpy() for k, v in mod.get_params()[0].items()}
    mod.forward(_batch(8, 40), is_train=True)
    mod.backward()
    mod.update()
    for name, value in mod.get_params()[0].items():
        np.testing.assert_array_equal(value.asnumpy(), before[name])


def test_backward_of_a_non_loss_head_without_its_gradient_raises_as_mxnet():
    assert "head_gradient is required" in MODULE["backward_without_head_gradient"]["message"]
    ex = sym.FullyConnected(sym.Variable("x"), num_hidden=2, name="fc").simple_bind(
        mx.cpu(), x=(2, 3))
    ex.forward(is_train=True)
    with pytest.raises(mx.MXNetError, match="head_gradient is required"):
        ex.backward()


# ---- group2ctxs -------------------------------------------------------------------------------
def _grouped_net():
    with mx.AttrScope(ctx_group="stage1"):
        h = sym.FullyConnected(sym.Variable("data"), num_hidden=4, name="fc1")
    with mx.AttrScope(ctx_group="stage2"):
        out = sym.FullyConnected(sym.relu(h), num_hidden=2, name="fc2")
    return sym.LinearRegressionOutput(out, name="lro")


def test_group2ctxs_as_a_list_of_one_dict_per_context_trains_like_one_context():
    x = np.random.default_rng(1).standard_normal((6, 3)).astype(np.float32)
    y = np.random.default_rng(2).standard_normal((6, 2)).astype(np.float32)
    results = []
    for ctxs, groups in (([mx.cpu(0)], None),
                         ([mx.cpu(0), mx.cpu(1)], [{"stage1": mx.cpu(0), "stage2": mx.cpu(1)},
                                                   {"stage1": mx.cpu(1), "stage2": mx.cpu(0)}])):
        mod = mx.mod.Module(_grouped_net(), label_names=["lro_label"], context=ctxs,
                            group2ctxs=groups)
        mod.bind([("data", (6, 3))], [("lro_label", (6, 2))])
        mx.random.seed(4)
        mod.init_params(mx.init.Xavier())
        mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.1})
        mod.forward_backward(mx.io.DataBatch([nd.array(x)], [nd.array(y)]))
        mod.update()
        results.append({k: v.asnumpy() for k, v in mod.get_params()[0].items()})
    for name in results[0]:
        np.testing.assert_allclose(results[1][name], results[0][name], rtol=1e-5, atol=1e-6)


# ---- Monitor ----------------------------------------------------------------------------------
def test_monitor_reports_the_entries_and_values_mxnet_reports():
    it = mx.io.NDArrayIter(nd.array([[0.05, .10]]), nd.array([[.01, 0.99]]), batch_size=1)
    x = sym.FullyConnected(name="fc_0", data=sym.Variable("data"), num_hidden=2)
    x = sym.Activation(name="act_0", data=x, act_type="sigmoid")
    x = sym.FullyConnected(name="fc_1", data=x, num_hidden=2)
    x = sym.Activation(name="act_1", data=x, act_type="sigmoid")
    x = sym.LinearRegressionOutput(data=x, name="softmax", grad_scale=2)

    def mean_abs(a):
        return nd.divide(nd.sum(nd.abs(a)), reduce(lambda p, q: p * q, a.shape))
    mon = mx.mon.Monitor(1, stat_func=mean_abs, pattern=".*", sort=True)
    mod = mx.mod.Module(x, context=[mx.cpu()])
    mod.bind(it.provide_data, label_shapes=it.provide_label, for_training=True)
    mod.install_monitor(mon)
    mod.init_params(arg_params={"fc_0_weight": nd.array([[.15, .20], [.25, .30]]),
                                "fc_0_bias": nd.array([.35, .35]),
                                "fc_1_weight": nd.array([[.40, .45], [.50, .55]]),
                                "fc_1_bias": nd.array([.60, .60])})
    mon.tic()
    mod.forward_backward(next(iter(it)))
    got = [[k, float(v.split()[0].strip("[]"))] for _, k, v in mon.toc()]
    assert len(REF["monitor"]) == 21
    assert [k for k, _ in got] == [k for k, _ in REF["monitor"]]
    # The gradients of data and label are outputs nothing asked for: MXNet leaves their
    # memory unwritten (its entries show whatever the buffer held), flowmod's are zeros.
    unwritten = {"fc_0_backward_output0", "softmax_backward_output1"}
    assert all(v == 0 for k, v in got if k in unwritten)
    np.testing.assert_allclose([v for k, v in got if k not in unwritten],
                               [v for k, v in REF["monitor"] if k not in unwritten], rtol=1e-5)


# ---- fit reads ahead --------------------------------------------------------------------------
class _RecyclingIter(mx.io.DataIter):
    """Returns one DataBatch object every time, as MXNet's C++ iterators do: ``in_place``
    overwrites its arrays (``arr[:] = ...``), otherwise its lists get new arrays."""

    def __init__(self, x, y, batch_size, in_place):
        super().__init__(batch_size)
        self.x, self.y, self.in_place, self.cursor = x, y, in_place, 0
        self.batch = mx.io.DataBatch([nd.zeros((batch_size,) + x.shape[1:])],
                                     [nd.zeros((batch_size,))], pad=0)
        self.provide_data = [mx.io.DataDesc("data", (batch_size,) + x.shape[1:])]
        self.provide_label = [mx.io.DataDesc("softmax_label", (batch_size,))]

    def reset(self):
        self.cursor = 0

    def next(self):
        if self.cursor >= len(self.x):
            raise StopIteration
        s = slice(self.cursor, self.cursor + self.batch_size)
        self.cursor += self.batch_size
        if self.in_place:
            self.batch.data[0][:] = self.x[s]
            self.batch.label[0][:] = self.y[s]
        else:
            self.batch.data[:] = [nd.array(self.x[s])]
            self.batch.label[:] = [nd.array(self.y[s])]
        return self.batch


def _fit(train):
    mod = mx.mod.Module(_softmax_fc())
    mx.random.seed(3)
    # The pause after each batch lets the reader run ahead and call next() again before
    # the loop takes the batch it read last: what a recycled batch must survive.
    mod.fit(train, optimizer="sgd", optimizer_params={"learning_rate": 0.5},
            initializer=mx.init.Xavier(), num_epoch=2,
            batch_end_callback=lambda param: time.sleep(0.02))
    return {k: v.asnumpy() for k, v in mod.get_params()[0].items()}


@pytest.mark.parametrize("in_place", [False, True], ids=["new-arrays", "overwritten-arrays"])
def test_fit_with_an_iterator_that_recycles_its_batch_matches_a_fresh_batch_iterator(in_place):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 6)).astype(np.float32)
    y = rng.integers(0, 3, 40).astype(np.float32)
    expected = _fit(mx.io.NDArrayIter(x, y, batch_size=8))
    got = _fit(_RecyclingIter(x, y, 8, in_place))
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-6)


# ---- BaseModule -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", MODULE["abstract_methods"])
def test_base_module_method_raises_not_implemented_as_mxnet(name):
    fn = getattr(mx.mod.BaseModule(), name)
    required = [p for p in inspect.signature(fn).parameters.values()
                if p.default is p.empty and p.kind == p.POSITIONAL_OR_KEYWORD]
    with pytest.raises(NotImplementedError):
        fn(*[None] * len(required))


@pytest.mark.parametrize("name", MODULE["abstract_properties"])
def test_base_module_property_raises_not_implemented_as_mxnet(name):
    with pytest.raises(NotImplementedError):
        getattr(mx.mod.BaseModule(), name)


# ---- set_params -------------------------------------------------------------------------------
def test_set_params_with_a_missing_parameter_raises_runtime_error_as_mxnet():
    assert MODULE["set_params_missing"]["type"] == "RuntimeError"
    mod = _bound()
    arg, aux = (dict(p) for p in mod.get_params())
    del arg["fc_bias"]
    with pytest.raises(RuntimeError, match="fc_bias"):
        mod.set_params(arg, aux)


def test_set_params_with_an_extra_parameter_raises_value_error_as_mxnet():
    assert MODULE["set_params_extra"]["type"] == "ValueError"
    mod = _bound()
    arg, aux = (dict(p) for p in mod.get_params())
    arg["unknown"] = nd.ones((1,))
    with pytest.raises(ValueError, match="unknown"):
        mod.set_params(arg, aux, allow_missing=True, allow_extra=False)


def test_set_params_refuses_an_extra_parameter_also_without_allow_missing():
    # MXNet 1.9.1 documents the error for allow_extra=False but raises it only with
    # allow_missing=True; flowmod raises it (ValueError) in both cases.
    assert MODULE["set_params_extra_not_missing"] is None
    mod = _bound()
    arg, aux = (dict(p) for p in mod.get_params())
    arg["unknown"] = nd.ones((1,))
    with pytest.raises(ValueError, match="unknown"):
        mod.set_params(arg, aux, allow_extra=False)


def test_set_params_with_allow_extra_skips_an_extra_parameter_as_mxnet():
    assert MODULE["set_params_extra_allowed"] is None
    mod = _bound()
    arg, aux = (dict(p) for p in mod.get_params())
    arg["unknown"] = nd.ones((1,))
    mod.set_params(arg, aux, allow_missing=True, allow_extra=True)
    assert "unknown" not in mod.get_params()[0]


# ---- batches of other shapes ------------------------------------------------------------------
def test_batch_with_another_feature_count_raises_naming_the_input_and_both_shapes():
    assert MODULE["forward_41_features"]["type"] == "MXNetError"
    mod = _bound(for_training=False)
    with pytest.raises(mx.MXNetError, match=r"'data' has shape \(8, 41\), bound with "
                                            r"\(8, 40\).*'fc_weight'.*\(3, 40\) to \(3, 41\)"):
        mod.forward(_batch(8, 41), is_train=False)


def test_refused_batch_leaves_the_module_bound_as_it_was():
    mod = _bound(for_training=False)
    batch = _batch(8, 40)
    mod.forward(batch, is_train=False)
    expected = mod.get_outputs()[0].asnumpy()
    with pytest.raises(mx.MXNetError):
        mod.forward(_batch(8, 41), is_train=False)
    assert mod.data_shapes[0].shape == (8, 40)
    mod.forward(batch, is_train=False)
    np.testing.assert_array_equal(mod.get_outputs()[0].asnumpy(), expected)


def test_batch_of_another_size_reshapes_as_mxnet():
    mod = _bound(for_training=False)
    batch = _batch(8, 40)
    mod.forward(batch, is_train=False)
    full = mod.get_outputs()[0].asnumpy()
    mod.forward(mx.io.DataBatch([batch.data[0][:4]], [batch.label[0][:4]]), is_train=False)
    out = mod.get_outputs()[0]
    assert list(out.shape) == MODULE["forward_batch_4_output_shape"]
    np.testing.assert_allclose(out.asnumpy(), full[:4], rtol=1e-6)


def test_batch_of_another_sample_shape_reshapes_a_network_without_parameters_as_mxnet():
    mod = mx.mod.Module(sym.relu(sym.Variable("data")), label_names=None)
    mod.bind(data_shapes=[("data", (8, 40))], for_training=False)
    mod.init_params()
    x = np.random.default_rng(7).standard_normal((8, 41)).astype(np.float32)
    mod.forward(mx.io.DataBatch([nd.array(x)]), is_train=False)
    out = mod.get_outputs()[0].asnumpy()
    assert list(out.shape) == MODULE["forward_41_features_without_parameters"]
    np.testing.assert_array_equal(out, np.maximum(x, 0))


def test_executor_group_refuses_a_batch_that_does_not_fit_naming_the_input():
    mod = _bound(for_training=False)
    with pytest.raises(mx.MXNetError, match=r"input 'data' has shape \(8, 41\) in the batch, "
                                            r"but is bound with shape \(8, 40\)"):
        mod._exec_group.forward(_batch(8, 41), is_train=False)


# ---- BucketingModule.load_dict ----------------------------------------------------------------
def _bucket_sym(key):
    data = sym.Variable("data")
    h = sym.FullyConnected(sym.reshape(data, shape=(-1, 4)), num_hidden=3, name="fc")
    out = sym.SoftmaxOutput(sym.reshape(h, shape=(-1, key, 3)), name="softmax", preserve_shape=True)
    return out, ("data",), ("softmax_label",)


def test_load_dict_has_mxnets_signature():
    assert str(inspect.signature(mx.mod.BucketingModule.load_dict)).split(" ->")[0] == \
        MODULE["load_dict_signature"]


def test_load_dict_builds_every_bucket_with_the_shared_parameters():
    rng = np.random.default_rng(6)
    arg = {"fc_weight": nd.array(rng.standard_normal((3, 4))),
           "fc_bias": nd.array(rng.standard_normal(3))}
    mod = mx.mod.BucketingModule.load_dict(
        sym_dict={k: _bucket_sym(k)[0] for k in (2, 5)}, sym_gen=_bucket_sym,
        default_bucket_key=5, arg_params=arg, aux_params={})
    mod.bind([("data", (2, 5, 4))], [("softmax_label", (2, 5))], for_training=False)
    x = rng.standard_normal((2, 2, 4)).astype(np.float32)
    mod.forward(mx.io.DataBatch([nd.array(x)], [nd.zeros((2, 2))], bucket_key=2,
                                provide_data=[mx.io.DataDesc("data", (2, 2, 4))],
                                provide_label=[mx.io.DataDesc("softmax_label", (2, 2))]),
                is_train=False)
    logits = x @ arg["fc_weight"].asnumpy().T + arg["fc_bias"].asnumpy()
    e = np.exp(logits - logits.max(-1, keepdims=True))
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), e / e.sum(-1, keepdims=True),
                               rtol=1e-5)
    assert sorted(mod._buckets) == [2, 5]


@pytest.mark.parametrize("missing", ["sym_dict", "sym_gen", "default_bucket_key", "arg_params",
                                     "aux_params"])
def test_load_dict_names_a_missing_argument(missing):
    kwargs = dict(sym_dict={2: _bucket_sym(2)[0]}, sym_gen=_bucket_sym, default_bucket_key=2,
                  arg_params={}, aux_params={})
    kwargs[missing] = None
    with pytest.raises(mx.MXNetError, match=f"load_dict: {missing} is required"):
        mx.mod.BucketingModule.load_dict(**kwargs)
