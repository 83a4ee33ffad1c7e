"""BucketingModule: buckets bound on demand share one set of weights and the default bucket's
storage, training over batches of several keys matches numpy, checkpoints, and errors."""
import json
import os
import subprocess
import textwrap

import numpy as np
import pytest

import flowmod as mx
from flowmod.base import MXNetError

FEAT, HIDDEN, CLASSES, BATCH = 4, 6, 3, 5


def _sym_gen(seq_len):
    """A bucket of ``seq_len`` steps: tanh(mean over time of x W1^T + b1) -> W2 -> softmax.
    The parameters' shapes do not depend on the key."""
    data = mx.sym.Variable("data")
    flat = mx.sym.Reshape(data, shape=(-1, FEAT))
    fc1 = mx.sym.FullyConnected(flat, name="fc1", num_hidden=HIDDEN)
    steps = mx.sym.Reshape(fc1, shape=(-1, seq_len, HIDDEN))
    pooled = mx.sym.mean(steps, axis=1)
    act = mx.sym.Activation(pooled, act_type="tanh", name="act")
    fc2 = mx.sym.FullyConnected(act, name="fc2", num_hidden=CLASSES)
    return mx.sym.SoftmaxOutput(fc2, name="softmax"), ("data",), ("softmax_label",)


def _batch(key, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, key, FEAT)).astype(np.float32)
    y = rng.integers(0, CLASSES, BATCH).astype(np.float32)
    return mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)], bucket_key=key,
                           provide_data=[mx.io.DataDesc("data", x.shape)],
                           provide_label=[mx.io.DataDesc("softmax_label", y.shape)])


def _np_forward(p, x):
    pooled = x.mean(axis=1) @ p["fc1_weight"].T + p["fc1_bias"]
    h = np.tanh(pooled)
    logits = h @ p["fc2_weight"].T + p["fc2_bias"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return h, e / e.sum(axis=1, keepdims=True)


def _np_grads(p, x, y):
    """Gradients of SoftmaxOutput's loss (summed over the batch) for the parameters and x."""
    xm = x.mean(axis=1)
    h, prob = _np_forward(p, x)
    d_logits = prob.copy()
    d_logits[np.arange(len(y)), y.astype(int)] -= 1
    d_pre = (d_logits @ p["fc2_weight"]) * (1 - h ** 2)
    grads = {"fc2_weight": d_logits.T @ h, "fc2_bias": d_logits.sum(0),
             "fc1_weight": d_pre.T @ xm, "fc1_bias": d_pre.sum(0)}
    d_x = np.repeat((d_pre @ p["fc1_weight"])[:, None, :] / x.shape[1], x.shape[1], axis=1)
    return grads, d_x


def _params(mod):
    arg, _ = mod.get_params()
    return {k: v.asnumpy().astype(np.float64) for k, v in arg.items()}


def _bound(default_key=8, optimizer=True, **bind_kwargs):
    mod = mx.mod.BucketingModule(_sym_gen, default_bucket_key=default_key)
    mod.bind(data_shapes=[("data", (BATCH, default_key, FEAT))],
             label_shapes=[("softmax_label", (BATCH,))], **bind_kwargs)
    mx.random.seed(3)
    mod.init_params(initializer=mx.init.Xavier())
    if optimizer:
        mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.5})
    return mod


# ---- one set of weights ----------------------------------------------------------------------
def test_buckets_bind_on_demand_with_the_batch_shapes():
    mod = _bound()
    mod.forward(_batch(3, 0))
    assert mod.data_shapes[0].shape == (BATCH, 3, FEAT)
    assert mod.get_outputs()[0].shape == (BATCH, CLASSES)
    assert sorted(mod._buckets) == [3, 8]


def test_bucket_executors_hold_the_default_buckets_parameter_arrays():
    mod = _bound()
    mod.forward(_batch(3, 0))
    small = mod._buckets[3]._exec_group.execs[0]
    default = mod._buckets[8]._exec_group.execs[0]
    for name in ("fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"):
        assert small.arg_dict[name] is default.arg_dict[name]
        assert small.grad_dict[name] is default.grad_dict[name]


def test_update_through_one_bucket_is_seen_by_the_others():
    mod = _bound()
    before = _params(mod)
    batch = _batch(3, 1)
    mod.forward_backward(batch)
    mod.update()
    after = _params(mod)
    grads, _ = _np_grads(before, batch.data[0].asnumpy().astype(np.float64),
                         batch.label[0].asnumpy())
    for name in before:
        np.testing.assert_allclose(after[name], before[name] - 0.5 / BATCH * grads[name],
                                   rtol=1e-4, atol=1e-5)
    # The default bucket computes with the weights the small bucket updated.
    other = _batch(8, 2)
    mod.forward(other, is_train=False)
    _, prob = _np_forward(after, other.data[0].asnumpy().astype(np.float64))
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), prob, rtol=1e-4, atol=1e-5)


def test_smaller_bucket_borrows_the_default_buckets_storage():
    mod = _bound(default_key=16)
    mod.forward(_batch(4, 0))
    small = mod._buckets[4]._exec_group.execs[0].plan_stats
    alone = mx.mod.Module(_sym_gen(4)[0])
    alone.bind(data_shapes=[("data", (BATCH, 4, FEAT))], label_shapes=[("softmax_label", (BATCH,))])
    standalone = alone._exec_group.execs[0].plan_stats
    assert small["shared_blocks"] > 0
    assert small["planned_bytes"] < standalone["planned_bytes"]


def test_buckets_sharing_storage_compute_what_each_computes_alone():
    """Interleaved passes of buckets over shared storage give the results of fresh Modules."""
    mod = _bound(default_key=8, optimizer=False)
    params = _params(mod)
    batches = [_batch(k, s) for s, k in enumerate((8, 2, 5, 8, 2, 5))]
    for b in batches:
        mod.forward(b, is_train=True)
        mod.backward()
        _, prob = _np_forward(params, b.data[0].asnumpy().astype(np.float64))
        np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), prob, rtol=1e-4, atol=1e-5)


def test_bucket_larger_than_the_default_gets_storage_of_its_own():
    mod = _bound(default_key=4, optimizer=False)
    params = _params(mod)
    batch = _batch(12, 5)
    mod.forward(batch, is_train=False)
    _, prob = _np_forward(params, batch.data[0].asnumpy().astype(np.float64))
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), prob, rtol=1e-4, atol=1e-5)


# ---- training --------------------------------------------------------------------------------
class _BucketIter(mx.io.DataIter):
    """Batches of the given keys, in order, carrying their bucket_key and shapes."""

    def __init__(self, batches, default_key):
        super().__init__(BATCH)
        self._batches = batches
        self._i = 0
        self.default_bucket_key = default_key
        self.provide_data = [mx.io.DataDesc("data", (BATCH, default_key, FEAT))]
        self.provide_label = [mx.io.DataDesc("softmax_label", (BATCH,))]

    def reset(self):
        self._i = 0

    def next(self):
        if self._i == len(self._batches):
            raise StopIteration
        self._i += 1
        return self._batches[self._i - 1]


def test_fit_over_batches_of_several_keys_matches_numpy_sgd():
    batches = [_batch(k, s) for s, k in enumerate((8, 3, 5, 3, 8, 5, 2))]
    mod = mx.mod.BucketingModule(_sym_gen, default_bucket_key=8)
    mx.random.seed(11)
    init = mx.init.Xavier()
    mod.fit(_BucketIter(batches, 8), num_epoch=2, optimizer="sgd",
            optimizer_params={"learning_rate": 0.3}, initializer=init)
    # The reference starts from the same initial values.
    ref_mod = mx.mod.Module(_sym_gen(8)[0])
    ref_mod.bind(data_shapes=[("data", (BATCH, 8, FEAT))],
                 label_shapes=[("softmax_label", (BATCH,))])
    mx.random.seed(11)
    ref_mod.init_params(initializer=init)
    p = _params(ref_mod)
    for _ in range(2):
        for b in batches:
            grads, _ = _np_grads(p, b.data[0].asnumpy().astype(np.float64),
                                 b.label[0].asnumpy())
            p = {k: v - 0.3 / BATCH * grads[k] for k, v in p.items()}
    got = _params(mod)
    for name in p:
        np.testing.assert_allclose(got[name], p[name], rtol=1e-3, atol=1e-4)
    assert sorted(mod._buckets) == [2, 3, 5, 8]


def test_score_and_predict_switch_buckets():
    batches = [_batch(k, s) for s, k in enumerate((8, 3, 3))]
    mod = _bound()
    it = _BucketIter(batches, 8)
    pred = mod.predict(it)
    params = _params(mod)
    expected = np.concatenate([_np_forward(params, b.data[0].asnumpy().astype(np.float64))[1]
                               for b in batches])
    np.testing.assert_allclose(pred.asnumpy(), expected, rtol=1e-4, atol=1e-5)
    (name, acc), = mod.score(it, "acc")
    labels = np.concatenate([b.label[0].asnumpy() for b in batches])
    assert name == "accuracy"
    assert acc == pytest.approx(float((expected.argmax(1) == labels).mean()))


def test_prepare_binds_the_next_bucket_and_keeps_the_current_one():
    mod = _bound()
    mod.prepare(_batch(4, 0))
    assert 4 in mod._buckets and mod._buckets[4].binded
    assert mod._curr_bucket_key == 8


def test_batch_without_bucket_key_runs_in_the_default_bucket():
    mod = _bound()
    x = np.random.default_rng(0).standard_normal((BATCH, 8, FEAT)).astype(np.float32)
    mod.forward(mx.io.DataBatch([mx.nd.array(x)]), is_train=False)
    _, prob = _np_forward(_params(mod), x.astype(np.float64))
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), prob, rtol=1e-4, atol=1e-5)


def test_input_grads_of_the_current_bucket_match_numpy():
    mod = _bound(optimizer=False, inputs_need_grad=True)
    batch = _batch(3, 4)
    mod.forward_backward(batch)
    _, d_x = _np_grads(_params(mod), batch.data[0].asnumpy().astype(np.float64),
                       batch.label[0].asnumpy())
    (grad,) = mod.get_input_grads()
    assert grad.shape == (BATCH, 3, FEAT)
    np.testing.assert_allclose(grad.asnumpy(), d_x, rtol=1e-4, atol=1e-5)


def test_update_metric_uses_the_current_buckets_outputs():
    mod = _bound()
    batch = _batch(5, 6)
    mod.forward(batch, is_train=False)
    metric = mx.metric.create("acc")
    mod.update_metric(metric, batch.label)
    _, prob = _np_forward(_params(mod), batch.data[0].asnumpy().astype(np.float64))
    assert metric.get()[1] == pytest.approx(
        float((prob.argmax(1) == batch.label[0].asnumpy()).mean()))


def test_monitor_reaches_buckets_bound_after_install():
    mod = _bound()
    seen = []

    class _Mon:
        def install(self, exe):
            seen.append(exe)

    mod.install_monitor(_Mon())
    mod.forward(_batch(2, 0))
    assert mod._buckets[2]._exec_group.execs[0] in seen


def _state_sym_gen(seq_len):
    data = mx.sym.Variable("data")
    state = mx.sym.Variable("state")
    flat = mx.sym.Reshape(data, shape=(-1, FEAT))
    fc1 = mx.sym.FullyConnected(flat, name="fc1", num_hidden=HIDDEN)
    steps = mx.sym.Reshape(fc1, shape=(-1, seq_len, HIDDEN))
    out = mx.sym.mean(steps, axis=1) + state
    return mx.sym.MakeLoss(out, name="loss"), ("data",), None


def test_states_are_set_and_read_on_the_current_bucket():
    mod = mx.mod.BucketingModule(_state_sym_gen, default_bucket_key=6, state_names=["state"])
    mod.bind(data_shapes=[("data", (BATCH, 6, FEAT))], for_training=False)
    mod.init_params()
    x = np.zeros((BATCH, 3, FEAT), np.float32)
    mod.forward(mx.io.DataBatch([mx.nd.array(x)], bucket_key=3,
                                provide_data=[mx.io.DataDesc("data", x.shape)]))
    mod.set_states(value=0.25)
    (state,) = mod.get_states()
    np.testing.assert_array_equal(state.asnumpy(), np.full((BATCH, HIDDEN), 0.25, np.float32))
    mod.forward(mx.io.DataBatch([mx.nd.array(x)], bucket_key=3))
    bias = mod.get_params()[0]["fc1_bias"].asnumpy()
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(),
                               np.broadcast_to(bias + 0.25, (BATCH, HIDDEN)), rtol=1e-6)


# ---- checkpoints -----------------------------------------------------------------------------
def test_checkpoint_round_trips_every_bucket(tmp_path):
    mod = _bound()
    mod.forward_backward(_batch(3, 0))
    mod.update()
    prefix = str(tmp_path / "bucket")
    mod.save_checkpoint(prefix, 2)
    for name in ("bucket-0002.params", "bucket-3-symbol.json", "bucket-8-symbol.json",
                 "bucket.buckets"):
        assert os.path.exists(tmp_path / name)
    loaded = mx.mod.BucketingModule.load(prefix, 2, sym_gen=_sym_gen, default_bucket_key=8)
    loaded.bind(data_shapes=[("data", (BATCH, 8, FEAT))],
                label_shapes=[("softmax_label", (BATCH,))], for_training=False)
    expected = _params(mod)
    got = _params(loaded)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name])
    for key in (3, 8):
        batch = _batch(key, 9)
        mod.forward(batch, is_train=False)
        loaded.forward(batch, is_train=False)
        np.testing.assert_array_equal(loaded.get_outputs()[0].asnumpy(),
                                      mod.get_outputs()[0].asnumpy())


def test_checkpoint_with_non_integer_bucket_keys_raises(tmp_path):
    def gen(key):
        return _sym_gen(int(key[1:]))
    mod = mx.mod.BucketingModule(gen, default_bucket_key="b4")
    mod.bind(data_shapes=[("data", (BATCH, 4, FEAT))], label_shapes=[("softmax_label", (BATCH,))])
    mod.init_params()
    with pytest.raises(MXNetError, match="not integers"):
        mod.save_checkpoint(str(tmp_path / "x"), 0)


def test_rebinding_keeps_the_trained_parameters():
    mod = _bound()
    mod.forward_backward(_batch(3, 0))
    mod.update()
    before = _params(mod)
    mod.bind(data_shapes=[("data", (BATCH, 8, FEAT))],
             label_shapes=[("softmax_label", (BATCH,))], for_training=False, force_rebind=True)
    after = _params(mod)
    for name in before:
        np.testing.assert_array_equal(after[name], before[name])


# ---- errors ----------------------------------------------------------------------------------
def test_unknown_bucket_key_raises_naming_the_key():
    def gen(key):
        if key not in (4, 8):
            raise KeyError(key)
        return _sym_gen(key)
    mod = mx.mod.BucketingModule(gen, default_bucket_key=8)
    mod.bind(data_shapes=[("data", (BATCH, 8, FEAT))], label_shapes=[("softmax_label", (BATCH,))])
    mod.init_params()
    with pytest.raises(MXNetError, match=r"sym_gen\(7\) raised KeyError"):
        mod.forward(_batch(7, 0))
    assert mod._curr_bucket_key == 8 and 7 not in mod._buckets


def test_sym_gen_without_a_result_raises():
    def gen(key):
        return _sym_gen(key) if key == 8 else None
    mod = mx.mod.BucketingModule(gen, default_bucket_key=8)
    mod.bind(data_shapes=[("data", (BATCH, 8, FEAT))], label_shapes=[("softmax_label", (BATCH,))])
    mod.init_params()
    with pytest.raises(MXNetError, match=r"sym_gen\(5\) returned None"):
        mod.switch_bucket(5, [("data", (BATCH, 5, FEAT))])


def test_missing_default_bucket_key_raises():
    with pytest.raises(MXNetError, match="default_bucket_key"):
        mx.mod.BucketingModule(_sym_gen)


def test_switch_bucket_before_bind_raises():
    mod = mx.mod.BucketingModule(_sym_gen, default_bucket_key=8)
    with pytest.raises(MXNetError, match="bind"):
        mod.switch_bucket(3, [("data", (BATCH, 3, FEAT))])


def test_names_before_bind_come_from_the_default_bucket():
    mod = mx.mod.BucketingModule(_sym_gen, default_bucket_key=8)
    assert mod.data_names == ["data"]
    assert mod.output_names == ["softmax_output"]


def test_buckets_over_two_devices_share_weights_per_device():
    mod = mx.mod.BucketingModule(_sym_gen, default_bucket_key=8,
                                 context=[mx.cpu(0), mx.cpu(1)])
    mod.bind(data_shapes=[("data", (BATCH, 8, FEAT))],
             label_shapes=[("softmax_label", (BATCH,))])
    mx.random.seed(3)
    mod.init_params(initializer=mx.init.Xavier())
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.5})
    before = _params(mod)
    batch = _batch(3, 1)
    mod.forward_backward(batch)
    mod.update()
    for small, default in zip(mod._buckets[3]._exec_group.execs,
                              mod._buckets[8]._exec_group.execs):
        assert small.arg_dict["fc1_weight"] is default.arg_dict["fc1_weight"]
    grads, _ = _np_grads(before, batch.data[0].asnumpy().astype(np.float64),
                         batch.label[0].asnumpy())
    after = _params(mod)
    for name in before:
        np.testing.assert_allclose(after[name], before[name] - 0.5 / BATCH * grads[name],
                                   rtol=1e-4, atol=1e-5)
    other = _batch(8, 2)
    mod.forward(other, is_train=False)
    _, prob = _np_forward(after, other.data[0].asnumpy().astype(np.float64))
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), prob, rtol=1e-4, atol=1e-5)


def test_fixed_parameters_stay_fixed_in_every_bucket():
    mod = mx.mod.BucketingModule(_sym_gen, default_bucket_key=8, fixed_param_names=["fc1_weight"])
    mod.bind(data_shapes=[("data", (BATCH, 8, FEAT))],
             label_shapes=[("softmax_label", (BATCH,))])
    mod.init_params(initializer=mx.init.Xavier())
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.5})
    before = _params(mod)
    for key in (3, 8):
        mod.forward_backward(_batch(key, key))
        mod.update()
    after = _params(mod)
    np.testing.assert_array_equal(after["fc1_weight"], before["fc1_weight"])
    assert not np.allclose(after["fc2_weight"], before["fc2_weight"])


def test_forward_returns_the_buckets_future_of_outputs():
    mod = _bound()
    fut = mod.forward(_batch(3, 0), is_train=False)
    (out,) = fut.result(timeout=30)
    assert out.shape == (BATCH, CLASSES)


def test_fit_async_over_batches_of_several_keys_matches_fit():
    import asyncio
    batches = [_batch(k, s) for s, k in enumerate((8, 3, 5, 3, 8, 5, 2))]
    results = []
    for run in ("sync", "async"):
        mod = mx.mod.BucketingModule(_sym_gen, default_bucket_key=8)
        mx.random.seed(11)
        kwargs = dict(num_epoch=2, optimizer="sgd", initializer=mx.init.Xavier(),
                      optimizer_params={"learning_rate": 0.3, "momentum": 0.9})
        if run == "sync":
            mod.fit(_BucketIter(batches, 8), **kwargs)
        else:
            asyncio.run(mod.fit_async(_BucketIter(batches, 8), **kwargs))
        results.append(_params(mod))
    for name in results[0]:
        np.testing.assert_array_equal(results[1][name], results[0][name])


# ---- MXNet's files ---------------------------------------------------------------------------
PEER_BUCKETING = """
import json, sys
import numpy as np
import mxnet as mx
FEAT, HIDDEN, CLASSES, BATCH = 4, 6, 3, 5
def sym_gen(seq_len):
    data = mx.sym.Variable("data")
    flat = mx.sym.Reshape(data, shape=(-1, FEAT))
    fc1 = mx.sym.FullyConnected(flat, name="fc1", num_hidden=HIDDEN)
    steps = mx.sym.Reshape(fc1, shape=(-1, seq_len, HIDDEN))
    act = mx.sym.Activation(mx.sym.mean(steps, axis=1), act_type="tanh", name="act")
    fc2 = mx.sym.FullyConnected(act, name="fc2", num_hidden=CLASSES)
    return mx.sym.SoftmaxOutput(fc2, name="softmax"), ("data",), ("softmax_label",)
prefix, mode = sys.argv[1], sys.argv[2]
x = np.random.RandomState(0).rand(BATCH, 3, FEAT).astype("float32")
batch = mx.io.DataBatch([mx.nd.array(x)], [mx.nd.zeros((BATCH,))], bucket_key=3,
                        provide_data=[mx.io.DataDesc("data", x.shape)],
                        provide_label=[mx.io.DataDesc("softmax_label", (BATCH,))])
if mode == "write":
    mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=8)
    mod.bind([("data", (BATCH, 8, FEAT))], [("softmax_label", (BATCH,))])
    mod.init_params(mx.init.Xavier())
    mod.forward(batch, is_train=False)
    out = mod.get_outputs()[0].asnumpy()
    mod.save_checkpoint(prefix, 1)
else:
    mod = mx.mod.BucketingModule.load(prefix, 1, sym_gen=sym_gen, default_bucket_key=8)
    mod.bind([("data", (BATCH, 8, FEAT))], [("softmax_label", (BATCH,))], for_training=False)
    mod.forward(batch, is_train=False)
    out = mod.get_outputs()[0].asnumpy()
print(json.dumps(out.tolist()))
"""


def _peer(tmp_path, mode):
    python = os.environ.get("FLOWMOD_PEER_MXNET")
    if not python:
        pytest.skip("set FLOWMOD_PEER_MXNET to a Python with mxnet 1.9.1 to check bucketing "
                    "checkpoints against MXNet")
    res = subprocess.run([python, "-c", textwrap.dedent(PEER_BUCKETING),
                          str(tmp_path / "peer"), mode],
                         capture_output=True, text=True, check=True)
    return np.array(json.loads(res.stdout.strip().splitlines()[-1]))


def _peer_batch():
    x = np.random.RandomState(0).rand(BATCH, 3, FEAT).astype("float32")
    return mx.io.DataBatch([mx.nd.array(x)], [mx.nd.zeros((BATCH,))], bucket_key=3,
                           provide_data=[mx.io.DataDesc("data", x.shape)],
                           provide_label=[mx.io.DataDesc("softmax_label", (BATCH,))])


def test_checkpoint_written_by_mxnet_loads_and_predicts_the_same(tmp_path):
    expected = _peer(tmp_path, "write")
    mod = mx.mod.BucketingModule.load(str(tmp_path / "peer"), 1, sym_gen=_sym_gen,
                                      default_bucket_key=8)
    mod.bind([("data", (BATCH, 8, FEAT))], [("softmax_label", (BATCH,))], for_training=False)
    mod.forward(_peer_batch(), is_train=False)
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), expected, rtol=1e-5, atol=1e-6)


def test_checkpoint_written_here_loads_in_mxnet(tmp_path):
    mod = _bound()
    mod.forward(_peer_batch(), is_train=False)
    expected = mod.get_outputs()[0].asnumpy()
    mod.save_checkpoint(str(tmp_path / "peer"), 1)
    np.testing.assert_allclose(_peer(tmp_path, "read"), expected, rtol=1e-5, atol=1e-6)


def _features_gen(seq_len):
    data = mx.sym.Variable("data")
    flat = mx.sym.Reshape(data, shape=(-1, FEAT))
    fc1 = mx.sym.FullyConnected(flat, name="fc1", num_hidden=HIDDEN)
    steps = mx.sym.Reshape(fc1, shape=(-1, seq_len, HIDDEN))
    return mx.sym.Activation(mx.sym.mean(steps, axis=1), act_type="tanh"), ("data",), None


def test_a_bucketing_module_without_labels_leads_a_sequential_module():
    """Batches carry labels for the head; the bucketed first stage binds none."""
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.BucketingModule(_features_gen, default_bucket_key=8))
    data = mx.sym.Variable("data")
    head = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, name="fc2", num_hidden=CLASSES),
                                name="softmax")
    seq.add(mx.mod.Module(head), take_labels=True, auto_wiring=True)
    seq.bind([("data", (BATCH, 8, FEAT))], [("softmax_label", (BATCH,))])
    mx.random.seed(3)
    seq.init_params(initializer=mx.init.Xavier())
    seq.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.5})
    before = _params(seq)
    batch = _batch(3, 1)
    seq.forward_backward(batch)
    seq.update()
    grads, _ = _np_grads(before, batch.data[0].asnumpy().astype(np.float64),
                         batch.label[0].asnumpy())
    after = _params(seq)
    for name in before:
        np.testing.assert_allclose(after[name], before[name] - 0.5 / BATCH * grads[name],
                                   rtol=1e-4, atol=1e-5)


def test_a_bucket_with_other_parameters_raises_naming_them():
    def gen(key):
        if key == 8:
            return _sym_gen(key)
        data = mx.sym.Variable("data")
        out = mx.sym.FullyConnected(mx.sym.Reshape(data, shape=(-1, key * FEAT)),
                                    name="other", num_hidden=CLASSES)
        return mx.sym.SoftmaxOutput(out, name="softmax"), ("data",), ("softmax_label",)
    mod = mx.mod.BucketingModule(gen, default_bucket_key=8)
    mod.bind(data_shapes=[("data", (BATCH, 8, FEAT))], label_shapes=[("softmax_label", (BATCH,))])
    mod.init_params()
    with pytest.raises(MXNetError, match=r"bucket 3 has the parameters \['other_weight', "
                                         r"'other_bias'\]"):
        mod.forward(_batch(3, 0))
    assert mod._curr_bucket_key == 8
