"""Signum, Ftrl, FTML, LAMB, LARS, DCASGD and SGD (with momentum, multi-precision float16 and
the multi-weight path) trained a few steps against MXNet 1.9.1's weights from the same start
and gradients (tests/data/make_mxnet_optimizer_refs.py), and their states saved and loaded
with Module checkpoints."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd

REFS = np.load(os.path.join(os.path.dirname(__file__), "data", "mxnet_optimizer_refs.npz"))
CASES = json.loads(str(REFS["cases"]))
COMMON = json.loads(str(REFS["common"]))
NAMES = ["fc_weight", "fc_bias", "bn_gamma"]
STEPS = 4


def train(name, kwargs, dtype, together=True):
    opt = mx.optimizer.create(name, param_idx2name=dict(enumerate(NAMES)), **COMMON, **kwargs)
    updater = mx.optimizer.get_updater(opt)
    weights = [nd.array(REFS[f"init_{i}"], dtype=dtype) for i in range(3)]
    for t in range(STEPS):
        grads = [nd.array(REFS[f"grad_{t}_{i}"], dtype=dtype) for i in range(3)]
        if together:
            updater(list(range(3)), grads, weights)
        else:
            for i in range(3):
                updater(i, grads[i], weights[i])
    return weights, updater


@pytest.mark.parametrize("case", sorted(CASES))
def test_weights_after_training_match_mxnet_1_9_1(case):
    name, kwargs, dtype = CASES[case]
    weights, _ = train(name, kwargs, dtype)
    tol = dict(rtol=2e-3, atol=2e-3) if dtype == "float16" else dict(rtol=2e-5, atol=2e-6)
    for i, w in enumerate(weights):
        assert w.dtype == np.dtype(dtype)
        np.testing.assert_allclose(w.asnumpy(), REFS[f"{case}_{i}"], **tol, err_msg=f"{case} {NAMES[i]}")


@pytest.mark.parametrize("case", ["sgd_mom", "sgd_mom_mp16", "lamb", "lars"])
def test_one_parameter_at_a_time_gives_the_weights_of_the_aggregated_updates(case):
    name, kwargs, dtype = CASES[case]
    together, _ = train(name, kwargs, dtype, together=True)
    alone, _ = train(name, kwargs, dtype, together=False)
    tol = dict(rtol=2e-3, atol=2e-3) if dtype == "float16" else dict(rtol=1e-5, atol=1e-6)
    for a, b in zip(together, alone):
        np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), **tol)


def test_sgd_aggregates_in_groups_of_the_environments_size(monkeypatch):
    monkeypatch.setenv("MXNET_OPTIMIZER_AGGREGATION_SIZE", "2")
    assert mx.optimizer.SGD().aggregate_num == 2
    monkeypatch.setenv("MXNET_OPTIMIZER_AGGREGATION_SIZE", "100")
    assert mx.optimizer.LAMB().aggregate_num == 45
    monkeypatch.delenv("MXNET_OPTIMIZER_AGGREGATION_SIZE")
    assert mx.optimizer.SGD().aggregate_num == 4 and mx.optimizer.Adam().aggregate_num == 0


def test_multi_precision_keeps_float32_master_copies_in_the_state():
    weights, updater = train("sgd", {"learning_rate": 0.1, "momentum": 0.9, "multi_precision": True},
                             "float16")
    master, mom = updater.states[0]
    assert master.dtype == np.float32 and mom.dtype == np.float32
    np.testing.assert_array_equal(weights[0].asnumpy(), master.asnumpy().astype(np.float16))


@pytest.mark.parametrize("name,kwargs", [
    ("ftml", {}), ("lamb", {"multi_precision": True}), ("lars", {"momentum": 0.9}),
    ("dcasgd", {"momentum": 0.5}), ("sgld", {}), ("signum", {}),
])
def test_new_optimizer_states_survive_a_module_checkpoint(tmp_path, name, kwargs):
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data, num_hidden=3, name="fc")
    net = mx.sym.LinearRegressionOutput(net, name="out")
    x = np.random.RandomState(0).uniform(-1, 1, (8, 4)).astype(np.float32)
    y = np.random.RandomState(1).uniform(-1, 1, (8, 3)).astype(np.float32)
    it = mx.io.NDArrayIter(x, y, batch_size=4, label_name="out_label")
    mod = mx.mod.Module(net, label_names=["out_label"])
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params(mx.init.Uniform(0.5))
    mod.init_optimizer(optimizer=name, optimizer_params=dict(learning_rate=0.01, **kwargs))
    batch = next(iter(it))
    for _ in range(2):
        mod.forward_backward(batch)
        mod.update()
    prefix = str(tmp_path / "net")
    mod.save_checkpoint(prefix, 1, save_optimizer_states=True)
    saved = mod._updater.states
    loaded = mx.mod.Module.load(prefix, 1, load_optimizer_states=True, label_names=["out_label"])
    loaded.bind(it.provide_data, it.provide_label)
    loaded.init_optimizer(optimizer=name, optimizer_params=dict(learning_rate=0.01, **kwargs))

    def flat(state):
        if state is None:
            return []
        if isinstance(state, (tuple, list)):
            return [a for s in state for a in flat(s)]
        return [state.asnumpy()]

    assert sorted(loaded._updater.states) == sorted(saved)
    for key in saved:
        for a, b in zip(flat(saved[key]), flat(loaded._updater.states[key])):
            np.testing.assert_array_equal(a, b)


def test_sgld_adds_gaussian_noise_of_variance_lr_to_the_half_step():
    mx.random.seed(3)
    w = nd.zeros((20000,))
    opt = mx.optimizer.SGLD(learning_rate=0.04)
    opt.update(0, w, nd.ones((20000,)), None)
    delta = w.asnumpy() + 0.02  # the deterministic half step is -lr / 2 * grad
    assert abs(delta.mean()) < 0.01 and abs(delta.std() - 0.2) < 0.01


def test_dcasgd_with_momentum_compensates_the_delay_from_the_previous_weight():
    opt = mx.optimizer.DCASGD(learning_rate=0.1, momentum=0.5, lamda=0.5)
    w = nd.array([1.0, 2.0], dtype="float64")
    state = opt.create_state(0, w)
    state[1][:] = nd.array([0.0, 0.0], dtype="float64")
    g = np.array([1.0, -2.0])
    opt.update(0, w, nd.array(g, dtype="float64"), state)
    step = -0.1 * (g + 0.5 * g * g * (np.array([1.0, 2.0]) - 0.0))
    np.testing.assert_allclose(w.asnumpy(), [1.0, 2.0] + step)
    np.testing.assert_allclose(state[0].asnumpy(), step)
    np.testing.assert_allclose(state[1].asnumpy(), [1.0, 2.0])


@pytest.mark.parametrize("name,arg,value", [
    ("lamb", "lower_bound", -1.0), ("lars", "eta", -0.1), ("lars", "momentum", 1.0),
    ("dcasgd", "lamda", -1.0), ("ftml", "beta1", 1.0), ("ftml", "epsilon", 0.0),
])
def test_out_of_range_hyperparameters_of_the_new_optimizers_are_refused(name, arg, value):
    with pytest.raises(ValueError, match=rf"{arg}={value!r}: expected"):
        mx.optimizer.create(name, **{arg: value})
