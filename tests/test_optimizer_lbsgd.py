"""LBSGD (large-batch SGD with warmup or LARS): the weights after each of several updates
against MXNet 1.9.1's recorded ones (tests/data/make_mxnet_added_ops_refs.py), a numpy
reference of the step, its states and the refusals."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd

REFS = np.load(os.path.join(os.path.dirname(__file__), "data", "mxnet_added_ops_refs.npz"))
META = json.loads(str(REFS["meta"]))
CASES = [k.split("/")[1] for k in META if k.startswith("lbsgd/")]


@pytest.mark.parametrize("case", CASES)
def test_lbsgd_steps_match_mxnet_1_9_1(case):
    opt = mx.optimizer.create("lbsgd", **META[f"lbsgd/{case}"])
    w = nd.array(REFS["lbsgd/weight0"], dtype="float64")
    state = opt.create_state(0, w)
    for step, g in enumerate(REFS["lbsgd/grads"]):
        opt.update(0, w, nd.array(g, dtype="float64"), state)
        # MXNet's update operators hold lr, wd and momentum as float32 even for float64
        # weights; flowmod keeps them in double: the steps agree to float32's precision.
        np.testing.assert_allclose(w.asnumpy(), REFS[f"lbsgd/{case}"][step], rtol=1e-6, atol=1e-7,
                                   err_msg=f"{case}: after update {step + 1}")


def test_lbsgd_linear_warmup_step_matches_numpy():
    lr, momentum, wd, scale, nwup = 0.1, 0.9, 0.01, 4, 8
    opt = mx.optimizer.LBSGD(learning_rate=lr, momentum=momentum, wd=wd, batch_scale=scale, warmup_epochs=2,
                             updates_per_epoch=4)
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 2))
    w, state = nd.array(w0), None
    state = opt.create_state(0, w)
    ref_w, ref_mom, acc = w0.astype(np.float32), np.zeros((3, 2), np.float32), np.zeros((3, 2), np.float32)
    for t in range(1, 9):
        g = rng.standard_normal((3, 2)).astype(np.float32)
        opt.update(0, w, nd.array(g), state)
        acc = acc + g
        if t % scale == 0:
            mult = 1.0 + (scale - 1) * t / nwup if t < nwup else float(scale)
            ref_mom = momentum * ref_mom - lr * mult * (acc / scale + wd * ref_w)
            ref_w = ref_w + ref_mom
            acc = np.zeros_like(acc)
        np.testing.assert_allclose(w.asnumpy(), ref_w, rtol=1e-5, atol=1e-6, err_msg=f"update {t}")


def test_lbsgd_lars_multiplier_is_clipped_to_its_bounds():
    opt = mx.optimizer.LBSGD(warmup_strategy="lars")
    assert opt._get_lars(nd.ones((4,)) * 1e-6, nd.ones((4,)) * 1e3, 0.0) == 0.01
    assert opt._get_lars(nd.ones((4,)) * 1e3, nd.ones((4,)) * 1e-6, 0.0) == 100
    assert math.isclose(opt._get_lars(nd.ones((4,)) * 2, nd.ones((4,)), 0.0), 2.0)


def test_lbsgd_states_follow_momentum_and_multi_precision():
    assert mx.optimizer.LBSGD().create_state(0, nd.ones((2,))) is None
    mom = mx.optimizer.LBSGD(momentum=0.9).create_state(0, nd.ones((2,), dtype="float64"))
    assert mom.dtype == np.float64 and mom.asnumpy().tolist() == [0, 0]
    mom, master = mx.optimizer.LBSGD(momentum=0.9, multi_precision=True).create_state(
        0, nd.ones((2,), dtype="float16"))
    assert mom.dtype == np.float32 and master.dtype == np.float32


def test_lbsgd_multi_precision_updates_float16_weights_through_a_float32_copy():
    opt = mx.optimizer.LBSGD(learning_rate=0.5, momentum=0.5, multi_precision=True)
    w = nd.array([1.0, 2.0], dtype="float16")
    state = opt.create_state_multi_precision(0, w)
    opt.update_multi_precision(0, w, nd.array([1.0, 1.0], dtype="float16"), state)
    assert w.dtype == np.float16
    np.testing.assert_allclose(w.asnumpy(), [0.5, 1.5])


def test_lbsgd_is_registered_under_its_name():
    assert isinstance(mx.optimizer.create("lbsgd"), mx.optimizer.LBSGD)
    assert "lbsgd" in mx.optimizer.Optimizer.opt_registry


@pytest.mark.parametrize("kwargs,match", [
    ({"batch_scale": 0}, r"LBSGD: batch_scale=0: expected a number > 0"),
    ({"momentum": "0.9"}, r"LBSGD: momentum='0.9': expected a number"),
    ({"warmup_strategy": 3}, r"LBSGD: warmup_strategy=3: expected one of linear"),
])
def test_lbsgd_refuses_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mx.optimizer.LBSGD(**kwargs)


def test_lbsgd_update_refuses_non_arrays():
    opt = mx.optimizer.LBSGD()
    with pytest.raises(TypeError, match=r"LBSGD.update: grad=\[1, 2\]: expected an NDArray"):
        opt.update(0, nd.ones((2,)), [1, 2], None)
