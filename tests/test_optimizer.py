"""Optimizers against numpy versions of MXNet 1.9's update formulas over several steps,
with weight decay, gradient rescaling and clipping, per-parameter multipliers and learning
rate schedules; the Optimizer base class's rules; the Updater and its state format."""
from __future__ import annotations

import copy
import math
import struct
import warnings
import zlib

import numpy as np
import pytest

import flowmod as mx
from flowmod import lr_scheduler, nd
from flowmod import optimizer as opt
from flowmod.base import MXNetError
from flowmod.optimizer import _states

SHAPE = (3, 4)


def clip(x, c):
    return x if c is None else np.clip(x, -c, c)


# -- numpy references: (w, g, state, t, lr, wd, hp) -> (w, state) -------------------------
# lr and wd include the multipliers and the schedule; hp holds the optimizer's arguments.

def ref_sgd(w, g, s, t, lr, wd, hp):
    m = hp.get("momentum", 0.0)
    gg = clip(g * hp["rescale_grad"], hp["clip_gradient"])
    if m == 0.0:
        return (1 - lr * wd) * w - lr * gg, s
    s = m * s - lr * wd * w - lr * gg
    return w + s, s


def ref_nag(w, g, s, t, lr, wd, hp):
    m = hp.get("momentum", 0.0)
    gg = clip(g * hp["rescale_grad"], hp["clip_gradient"])
    if m == 0.0:
        return (1 - lr * wd) * w - lr * gg, s
    gg = gg + wd * w
    s = m * s - lr * gg
    return w + m * s - lr * gg, s


def ref_adam(w, g, s, t, lr, wd, hp):
    b1, b2, eps = hp.get("beta1", 0.9), hp.get("beta2", 0.999), hp.get("epsilon", 1e-8)
    mean, var = s
    gg = clip(g * hp["rescale_grad"] + wd * w, hp["clip_gradient"])
    mean = b1 * mean + (1 - b1) * gg
    var = b2 * var + (1 - b2) * gg * gg
    lr_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    return w - lr_t * mean / (np.sqrt(var) + eps), (mean, var)


def ref_adagrad(w, g, s, t, lr, wd, hp):
    eps = hp.get("eps", 1e-7)
    gg = clip(g * hp["rescale_grad"], hp["clip_gradient"])
    s = s + gg * gg
    return w - lr * (gg / np.sqrt(s + eps) + wd * w), s


def ref_adadelta(w, g, s, t, lr, wd, hp):
    rho, eps = hp.get("rho", 0.9), hp.get("epsilon", 1e-5)
    acc_g, acc_d = s
    gg = clip(g * hp["rescale_grad"], hp["clip_gradient"])
    acc_g = rho * acc_g + (1 - rho) * gg * gg
    delta = np.sqrt(acc_d + eps) / np.sqrt(acc_g + eps) * gg
    acc_d = rho * acc_d + (1 - rho) * delta * delta
    return w - (delta + wd * w), (acc_g, acc_d)


def ref_rmsprop(w, g, s, t, lr, wd, hp):
    g1, g2, eps = hp.get("gamma1", 0.9), hp.get("gamma2", 0.9), hp.get("epsilon", 1e-8)
    cw = hp.get("clip_weights")
    gg = clip(g * hp["rescale_grad"] + wd * w, hp["clip_gradient"])
    if not hp.get("centered", False):
        (n,) = s
        n = (1 - g1) * gg * gg + g1 * n
        return clip(w - lr * gg / np.sqrt(n + eps), cw), (n,)
    n, gm, delta = s
    n = (1 - g1) * gg * gg + g1 * n
    gm = (1 - g1) * gg + g1 * gm
    delta = g2 * delta - lr * gg / np.sqrt(n - gm * gm + eps)
    return clip(w + delta, cw), (n, gm, delta)


def ref_signum(w, g, s, t, lr, wd, hp):
    m, wd_lh = hp.get("momentum", 0.9), hp.get("wd_lh", 0.0)
    if m == 0.0:
        return (1 - lr * wd) * w - lr * np.sign(g), s
    gg = clip(g * hp["rescale_grad"], hp["clip_gradient"])
    s = m * s - (1 - m) * wd * w - (1 - m) * gg
    return (1 - lr * wd_lh) * w + lr * np.sign(s), s


def ref_ftrl(w, g, s, t, lr, wd, hp):
    lamda1, beta = hp.get("lamda1", 0.01), hp.get("beta", 1)
    z, n = s
    gg = clip(g * hp["rescale_grad"], hp["clip_gradient"])
    z = z + gg - (np.sqrt(n + gg * gg) - np.sqrt(n)) * w / lr
    n = n + gg * gg
    w = (np.sign(z) * lamda1 - z) / ((beta + np.sqrt(n)) / lr + wd) * (np.abs(z) > lamda1)
    return w, (z, n)


def ref_adamax(w, g, s, t, lr, wd, hp):
    b1, b2 = hp.get("beta1", 0.9), hp.get("beta2", 0.999)
    m, u = s
    gg = clip(g * hp["rescale_grad"] + wd * w, hp["clip_gradient"])
    m = b1 * m + (1 - b1) * gg
    u = np.maximum(b2 * u, np.abs(gg))
    return w - lr / (1 - b1 ** t) * m / u, (m, u)


def ref_nadam(w, g, s, t, lr, wd, hp):
    b1, b2, eps = hp.get("beta1", 0.9), hp.get("beta2", 0.999), hp.get("epsilon", 1e-8)
    sd = hp.get("schedule_decay", 0.004)
    m, v, m_schedule = s
    gg = clip(g * hp["rescale_grad"] + wd * w, hp["clip_gradient"])
    mt = b1 * (1 - 0.5 * 0.96 ** (t * sd))
    mt1 = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * sd))
    m_schedule = m_schedule * mt
    m = b1 * m + (1 - b1) * gg
    v = b2 * v + (1 - b2) * gg * gg
    m_bar = (1 - mt) * gg / (1 - m_schedule) + mt1 * m / (1 - m_schedule * mt1)
    w = w - lr * m_bar / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return w, (m, v, m_schedule)


def zeros_state(n):
    z = np.zeros(SHAPE)
    return tuple(z.copy() for _ in range(n)) if n > 1 else z.copy()


# name, extra constructor arguments, reference, initial reference state, default lr
CASES = [
    ("sgd", {}, ref_sgd, lambda: None, 0.01),
    ("sgd", {"momentum": 0.9}, ref_sgd, lambda: zeros_state(1), 0.01),
    ("nag", {}, ref_nag, lambda: None, 0.01),
    ("nag", {"momentum": 0.8}, ref_nag, lambda: zeros_state(1), 0.01),
    ("adam", {}, ref_adam, lambda: zeros_state(2), 0.001),
    ("adam", {"beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6}, ref_adam,
     lambda: zeros_state(2), 0.001),
    ("adagrad", {}, ref_adagrad, lambda: zeros_state(1), 0.01),
    ("adadelta", {"rho": 0.8}, ref_adadelta, lambda: zeros_state(2), 0.01),
    ("rmsprop", {}, ref_rmsprop, lambda: (np.zeros(SHAPE),), 0.001),
    ("rmsprop", {"centered": True, "gamma1": 0.95, "gamma2": 0.8}, ref_rmsprop,
     lambda: zeros_state(3), 0.001),
    ("rmsprop", {"clip_weights": 0.4}, ref_rmsprop, lambda: (np.zeros(SHAPE),), 0.001),
    ("signum", {}, ref_signum, lambda: zeros_state(1), 0.01),
    ("signum", {"wd_lh": 0.05}, ref_signum, lambda: zeros_state(1), 0.01),
    ("signum", {"momentum": 0.0}, ref_signum, lambda: None, 0.01),
    ("ftrl", {"lamda1": 0.001}, ref_ftrl, lambda: zeros_state(2), 0.1),
    ("adamax", {}, ref_adamax, lambda: zeros_state(2), 0.002),
    ("nadam", {}, ref_nadam, lambda: zeros_state(2) + (1.0,), 0.001),
]

CONFIGS = {
    "plain": {},
    "wd_rescale_clip": {"wd": 0.1, "rescale_grad": 0.5, "clip_gradient": 0.3},
    "multipliers": {"wd": 0.05, "param_idx2name": {0: "fc_weight"},
                    "lr_mult": {"fc_weight": 0.5}, "wd_mult": {"fc_weight": 2.0}},
    "scheduler": {"wd": 0.01, "lr_scheduler": "factor"},
}


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0] + ("-" + "-".join(sorted(c[1]))
                                                              if c[1] else ""))
def test_update_matches_reference(case, config):
    name, extra, ref, init_state, default_lr = case
    cfg = dict(CONFIGS[config])
    lr_mult = cfg.pop("lr_mult", {})
    wd_mult = cfg.pop("wd_mult", {})
    kwargs = dict(extra, **cfg)
    sched_ref = None
    if kwargs.get("lr_scheduler") == "factor":
        kwargs["lr_scheduler"] = lr_scheduler.FactorScheduler(step=1, factor=0.8,
                                                              base_lr=default_lr)
        sched_ref = lr_scheduler.FactorScheduler(step=1, factor=0.8, base_lr=default_lr)
    o = opt.create(name, **kwargs)
    o.set_lr_mult(lr_mult)
    o.set_wd_mult(wd_mult)
    updater = opt.get_updater(o)
    hp = dict(extra, rescale_grad=kwargs.get("rescale_grad", 1.0),
              clip_gradient=kwargs.get("clip_gradient"))
    rng = np.random.default_rng(zlib.crc32(f"{name}{config}{sorted(extra)}".encode()))
    w_ref = rng.uniform(-1, 1, SHAPE)
    weight = nd.array(w_ref, dtype=np.float32)
    w_ref = weight.asnumpy().astype(np.float64)
    state = init_state()
    for t in range(1, 6):
        g = rng.uniform(-1, 1, SHAPE).astype(np.float32)
        updater(0, nd.array(g), weight)
        lr = sched_ref(t) if sched_ref is not None else default_lr
        lr *= lr_mult.get("fc_weight", 1.0)
        wd = kwargs.get("wd", 0.0) * wd_mult.get("fc_weight", 1.0)
        w_ref, state = ref(w_ref, g.astype(np.float64), state, t, lr, wd, hp)
    np.testing.assert_allclose(weight.asnumpy(), w_ref, rtol=2e-4, atol=2e-5)
    assert o.num_update == 5


def test_states_updated_in_place_with_expected_structure():
    w = nd.ones(SHAPE)
    for name, kwargs, kind in [("sgd", {}, type(None)), ("sgd", {"momentum": 0.9}, nd.NDArray),
                               ("adam", {}, tuple), ("rmsprop", {}, tuple),
                               ("rmsprop", {"centered": True}, tuple)]:
        u = opt.get_updater(opt.create(name, **kwargs))
        u(7, nd.ones(SHAPE), w)
        assert isinstance(u.states[7], kind), name
    u = opt.get_updater(opt.create("adam"))
    u(0, nd.ones(SHAPE), w)
    mean_before = u.states[0][0]
    u(0, nd.ones(SHAPE), w)
    assert u.states[0][0] is mean_before
    np.testing.assert_allclose(mean_before.asnumpy(), 0.19, rtol=1e-5)


def test_updater_lists_of_indices():
    u = opt.get_updater(opt.create("sgd", learning_rate=0.5))
    w = [nd.ones((2,)), nd.ones((3,))]
    u([0, 1], [nd.ones((2,)), nd.ones((3,)) * 2], w)
    np.testing.assert_allclose(w[0].asnumpy(), [0.5, 0.5])
    np.testing.assert_allclose(w[1].asnumpy(), [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="as many"):
        u([0, 1], [nd.ones((2,))], w)
    with pytest.raises(TypeError, match="grad"):
        u(0, np.ones(2), w[0])


def test_multi_precision_float16():
    o = opt.create("sgd", learning_rate=0.1, momentum=0.9, multi_precision=True)
    u = opt.get_updater(o)
    w16 = nd.array(np.full((4,), 1.0), dtype=np.float16)
    u(0, nd.array(np.full((4,), 0.001), dtype=np.float16), w16)
    master, mom = u.states[0]
    assert master.dtype == np.float32 and mom.dtype == np.float32
    np.testing.assert_allclose(master.asnumpy(), 1.0 - 0.1 * np.float32(np.float16(0.001)),
                               rtol=1e-6)
    assert w16.dtype == np.float16
    np.testing.assert_allclose(w16.asnumpy(), master.asnumpy().astype(np.float16))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt.create("sgd").create_state_multi_precision(0, w16)
    assert any("multi_precision" in str(c.message) for c in caught)


# -- the base class -----------------------------------------------------------------------

def test_create_is_case_insensitive_and_defaults():
    assert type(opt.create("SGD")) is opt.SGD
    assert type(opt.create("AdAm")) is opt.Adam
    assert type(opt.create("ftrl")) is opt.Ftrl
    assert opt.Optimizer.create_optimizer("nag").momentum == 0.0
    assert opt.create("sgd").learning_rate == 0.01
    assert opt.create("adam").learning_rate == 0.001
    assert opt.create("ftrl").learning_rate == 0.1
    with pytest.raises(ValueError, match="Cannot find optimizer nope"):
        opt.create("nope")


def test_register_custom_optimizer_and_override_warning():
    @opt.register
    class MyTestOpt(opt.Optimizer):
        def update(self, index, weight, grad, state):
            (weight + grad).copyto(weight)

    try:
        o = opt.create("mytestopt", learning_rate=3.0)
        assert isinstance(o, MyTestOpt) and o.lr == 3.0
        w = nd.zeros((2,))
        opt.get_updater(o)(0, nd.ones((2,)), w)
        np.testing.assert_allclose(w.asnumpy(), [1, 1])
        with pytest.warns(UserWarning, match="overriding"):
            opt.register(type("MyTestOpt", (opt.Optimizer,), {}))
    finally:
        del opt.Optimizer.opt_registry["mytestopt"]
    with pytest.raises(TypeError):
        opt.register(42)


def test_learning_rate_and_scheduler_interaction(capsys):
    o = opt.create("sgd")
    o.set_learning_rate(0.3)
    assert o.learning_rate == 0.3
    s = lr_scheduler.FactorScheduler(step=1, factor=0.5, base_lr=0.2)
    o = opt.SGD(lr_scheduler=s)
    assert o.lr is None and s.base_lr == 0.2  # the scheduler's own rate is kept
    with pytest.raises(UserWarning, match="LRScheduler"):
        o.set_learning_rate(0.1)
    s2 = lr_scheduler.FactorScheduler(step=1, factor=0.5, base_lr=0.2)
    opt.SGD(learning_rate=0.7, lr_scheduler=s2)
    assert s2.base_lr == 0.7
    assert "overwritten" in capsys.readouterr().out
    o = opt.SGD(lr_scheduler=lr_scheduler.FactorScheduler(step=2, factor=0.5, base_lr=1.0))
    o.num_update = 5
    assert o.learning_rate == 0.25


def test_wd_mult_rule_and_symbol_attributes():
    idx2name = {0: "fc1_weight", 1: "fc1_bias", 2: "bn_gamma", 3: "bn_beta", 4: "emb_weight"}
    data = mx.sym.Variable("data")
    w = mx.sym.Variable("fc1_weight", lr_mult=0.1)
    b = mx.sym.Variable("fc1_bias", wd_mult=3.0)
    net = mx.sym.FullyConnected(data=data, weight=w, bias=b, num_hidden=4, name="fc1")
    o = opt.create("sgd", learning_rate=1.0, wd=0.5, param_idx2name=idx2name, sym=net)
    # Names not ending with _weight/_gamma get wd_mult 0, unless the symbol sets it.
    assert o._get_wd(0) == 0.5
    assert o._get_wd(1) == 1.5
    assert o._get_wd(2) == 0.5
    assert o._get_wd(3) == 0.0
    assert o._get_lr(0) == pytest.approx(0.1)
    assert o._get_lr(1) == 1.0
    o.set_wd_mult({"bn_beta": 0.5, 4: 2.0})
    assert o._get_wd(3) == 0.25
    assert o._get_wd(4) == 1.0  # by index, ahead of the name
    o.set_lr_mult({"fc1_bias": 2.0})
    assert o._get_lr(1) == 2.0 and o._get_lr(0) == pytest.approx(0.1)
    assert o._get_lr(99) == 1.0 and o._get_wd(99) == 0.5  # unknown indices: no multiplier
    with pytest.raises(TypeError, match="param_idx2name"):
        opt.create("sgd", param_idx2name=[("a", 1)])


def test_num_update_counting():
    o = opt.create("sgd", begin_num_update=10)
    u = opt.get_updater(o)
    w = nd.ones((2,))
    u(0, nd.ones((2,)), w)
    u(0, nd.ones((2,)), w)
    u(1, nd.ones((2,)), w)
    assert o._index_update_count == {0: 12, 1: 11}
    assert o.num_update == 12


def test_base_update_and_deprecated():
    with pytest.raises(TypeError, match="base class"):
        opt.Optimizer().update(0, nd.ones((1,)), nd.ones((1,)), None)
    with pytest.raises(DeprecationWarning):
        opt.Optimizer().set_lr_scale({})


# -- Updater states -----------------------------------------------------------------------

def _run(u, steps, seed, weights):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        for i, w in enumerate(weights):
            u(i, nd.array(rng.uniform(-1, 1, w.shape).astype(np.float32)), w)


@pytest.mark.parametrize("name, kwargs", [
    ("sgd", {}), ("sgd", {"momentum": 0.9}), ("nag", {"momentum": 0.9}), ("adam", {}),
    ("adagrad", {}), ("adadelta", {}), ("rmsprop", {"centered": True}), ("signum", {}),
    ("ftrl", {}), ("adamax", {}), ("nadam", {}),
    ("sgd", {"momentum": 0.9, "multi_precision": True}),
])
def test_get_set_states_round_trip_continues_identically(name, kwargs):
    sched = lr_scheduler.FactorScheduler(step=2, factor=0.7, base_lr=0.05)
    o = opt.create(name, lr_scheduler=sched, wd=0.01, param_idx2name={0: "a_weight",
                                                                     1: "a_bias"}, **kwargs)
    dtype = np.float16 if kwargs.get("multi_precision") else np.float32
    u = opt.get_updater(o)
    weights = [nd.array(np.linspace(-1, 1, 6).reshape(2, 3), dtype=dtype),
               nd.array(np.linspace(0.5, 1, 4), dtype=dtype)]
    _run(u, 3, 1, weights)
    blob = u.get_states(dump_optimizer=True)
    saved = [w.copy() for w in weights]
    u2 = opt.get_updater(opt.create("sgd"))
    u2.set_states(blob)
    assert type(u2.optimizer) is type(o)
    assert u2.optimizer.num_update == o.num_update
    assert u2.optimizer._index_update_count == o._index_update_count
    assert u2.optimizer.idx2name == o.idx2name
    assert type(u2.optimizer.lr_scheduler) is lr_scheduler.FactorScheduler
    assert u2.optimizer.lr_scheduler.base_lr == o.lr_scheduler.base_lr
    _run(u, 3, 2, weights)
    _run(u2, 3, 2, saved)
    for a, b in zip(weights, saved):
        np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())


def test_set_states_without_optimizer_keeps_updater_optimizer():
    o = opt.create("adam")
    u = opt.get_updater(o)
    w = nd.ones((3,))
    _run(u, 2, 0, [w])
    blob = u.get_states()
    other = opt.create("adam", learning_rate=0.5)
    u2 = opt.get_updater(other)
    u2.set_states(blob)
    assert u2.optimizer is other
    assert set(u2.states) == {0}
    for a, b in zip(u.states[0], u2.states[0]):
        np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    assert u2.states_synced == {0: False}
    w2 = w.copy()
    _run(u2, 1, 5, [w2])
    assert u2.states_synced == {0: True}


def test_state_structures_and_keys_round_trip():
    a, b, c = nd.array([1.0, 2.0]), nd.array([[3.0]]), nd.array([4.0], dtype=np.float64)
    states = {0: None, "fc_weight": a, 2: (b, None, (c,)), 3: [a.copy()]}
    got, optimizer = _states.loads(_states.dumps(states), opt.Optimizer.opt_registry)
    assert optimizer is None
    assert set(got) == {0, "fc_weight", 2, 3}
    assert got[0] is None
    np.testing.assert_array_equal(got["fc_weight"].asnumpy(), [1, 2])
    assert isinstance(got[2], tuple) and got[2][1] is None
    np.testing.assert_array_equal(got[2][0].asnumpy(), [[3]])
    assert got[2][2][0].dtype == np.float64
    assert isinstance(got[3], list)


def _blob_with(header: dict, arrays=()) -> bytes:
    import json
    from flowmod import params_format
    text = json.dumps(header).encode()
    return (_states.MAGIC + struct.pack("<IQ", 1, len(text)) + text
            + params_format.dumps([np.asarray(x, np.float32) for x in arrays]))


@pytest.mark.parametrize("blob, match", [
    (b"", "does not start"),
    (b"\x80\x04\x95garbage-pickle-like-bytes", "does not start"),
    (_states.MAGIC + struct.pack("<IQ", 2, 0), "version 2"),
    (_states.MAGIC + struct.pack("<IQ", 1, 1000) + b"{}", "claims 1000 bytes"),
    (_states.MAGIC + struct.pack("<IQ", 1, 5) + b"{nope", "not valid UTF-8 JSON"),
    (_blob_with({"states": []}), "exactly the keys"),
    (_blob_with({"states": [[0, {"array": 1}]], "optimizer": None}, [[1.0]]), "refers to array 1"),
    (_blob_with({"states": [[0, {"array": 0}], [1, {"array": 0}]], "optimizer": None},
                [[1.0]]), "another state"),
    (_blob_with({"states": [], "optimizer": None}, [[1.0]]), "belong to no state"),
    (_blob_with({"states": [[0, {"pickle": 0}]], "optimizer": None}), "tag 'pickle'"),
    (_blob_with({"states": [[[1], None]], "optimizer": None}), "int or str"),
    (_blob_with({"states": [[0, None], [0, None]], "optimizer": None}), "appears twice"),
    (_blob_with({"states": [], "optimizer": {"name": "os.system", "class": "x",
                                             "attrs": {}}}), "unknown optimizer"),
    (_blob_with({"states": [], "optimizer": {"name": "sgd", "class": "SGD",
                                             "attrs": {"lr": {"eval": "1"}}}}), "expected one of"),
    (_blob_with({"states": [], "optimizer": {"name": "sgd", "class": "SGD", "attrs": {
        "lr_scheduler": {"lr_scheduler": "builtins.object", "attrs": {}}}}}),
     "unknown learning rate scheduler"),
])
def test_malformed_states_raise(blob, match):
    u = opt.get_updater(opt.create("sgd"))
    with pytest.raises(MXNetError, match=match):
        u.set_states(blob)
    assert u.states == {}


def test_truncated_array_data_raises_and_non_bytes_rejected():
    u = opt.get_updater(opt.create("adam"))
    _run(u, 1, 0, [nd.ones((5,))])
    blob = u.get_states(True)
    for cut in (len(blob) - 3, len(blob) - 25):
        with pytest.raises(MXNetError, match="malformed"):
            opt.get_updater(opt.create("sgd")).set_states(blob[:cut])
    with pytest.raises(TypeError, match="expected bytes"):
        u.set_states("not bytes")


def test_dump_optimizer_rejects_unstorable_attributes():
    o = opt.create("sgd")
    o.custom = object()
    u = opt.get_updater(o)
    with pytest.raises(TypeError, match="custom"):
        u.get_states(dump_optimizer=True)
    u.get_states(dump_optimizer=False)


def test_optimizer_copy_of_attributes_is_independent():
    o = opt.create("nadam", wd=0.1, param_idx2name={0: "x_weight"})
    u = opt.get_updater(o)
    _run(u, 2, 0, [nd.ones((2,))])
    u2 = opt.get_updater(opt.create("sgd"))
    u2.set_states(u.get_states(True))
    restored = u2.optimizer
    assert restored.m_schedule == o.m_schedule
    expected = copy.copy(vars(o))
    for key, value in vars(restored).items():
        assert value == expected[key], key
