"""LAMB's two phases, the fused multi-weight LAMB, multi_lars and the AdamW updates against
numpy versions of MXNet 1.9's formulas, over several steps, float32 and float16 weights with
float32 master copies."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd

rng = np.random.default_rng(17)


def clip(g, c):
    return g if c < 0 else np.clip(g, -c, c)


def np_lamb_phase1(w, g, mean, var, t, wd, beta1=0.9, beta2=0.999, epsilon=1e-6,
                   bias_correction=True, rescale_grad=1.0, clip_gradient=-1.0):
    g = clip(g * rescale_grad, clip_gradient)
    mean[:] = beta1 * mean + (1 - beta1) * g
    var[:] = beta2 * var + (1 - beta2) * g * g
    if bias_correction:
        return mean / (1 - beta1 ** t) / (np.sqrt(var / (1 - beta2 ** t)) + epsilon) + wd * w
    return mean / (np.sqrt(var) + epsilon) + wd * w


def np_trusted_lr(lr, r1, r2, lower_bound=-1.0, upper_bound=-1.0):
    if lower_bound >= 0:
        r1 = max(r1, lower_bound)
    if upper_bound >= 0:
        r1 = min(r1, upper_bound)
    return lr if r1 == 0 or r2 == 0 else lr * r1 / r2


PHASE1 = [dict(), dict(beta1=0.8, beta2=0.99, epsilon=1e-4, rescale_grad=2.0, clip_gradient=0.5),
          dict(bias_correction=False)]
BOUNDS = [dict(), dict(lower_bound=3.0), dict(upper_bound=0.5)]


@pytest.mark.parametrize("settings", PHASE1)
@pytest.mark.parametrize("bounds", BOUNDS)
def test_lamb_phases_match_numpy_over_several_steps(settings, bounds):
    shape = (6, 5)
    w_np = rng.uniform(-1, 1, shape)
    mean_np, var_np = np.zeros(shape), np.zeros(shape)
    w = nd.array(w_np, dtype="float64")
    mean, var = nd.zeros(shape, dtype="float64"), nd.zeros(shape, dtype="float64")
    for t in range(1, 5):
        g_np = rng.uniform(-1, 1, shape)
        d_np = np_lamb_phase1(w_np, g_np, mean_np, var_np, t, 0.01, **settings)
        d = nd.lamb_update_phase1(w, nd.array(g_np, dtype="float64"), mean, var, t=t, wd=0.01, **settings)
        np.testing.assert_allclose(d.asnumpy(), d_np, rtol=1e-12)
        r1, r2 = np.linalg.norm(w_np), np.linalg.norm(d_np)
        w_np = w_np - np_trusted_lr(0.1, r1, r2, **bounds) * d_np
        nd.lamb_update_phase2(w, d, nd.array([r1], dtype="float64"), nd.array([r2], dtype="float64"),
                              lr=0.1, out=w, **bounds)
    np.testing.assert_allclose(w.asnumpy(), w_np, rtol=1e-12)
    np.testing.assert_allclose(mean.asnumpy(), mean_np, rtol=1e-12)
    np.testing.assert_allclose(var.asnumpy(), var_np, rtol=1e-12)


def test_lamb_phase2_takes_plain_lr_when_a_norm_is_zero():
    w = nd.array([1.0, 2.0], dtype="float64")
    g = nd.array([1.0, 1.0], dtype="float64")
    out = nd.lamb_update_phase2(w, g, nd.array([0.0], dtype="float64"), nd.array([5.0], dtype="float64"), lr=0.5)
    np.testing.assert_allclose(out.asnumpy(), [0.5, 1.5])


def test_mixed_precision_lamb_phases_use_the_master_copy():
    shape = (4, 3)
    w32_np = rng.uniform(-1, 1, shape).astype(np.float32)
    w = nd.array(w32_np, dtype="float16")
    w32 = nd.array(w32_np, dtype="float32")
    mean, var = nd.zeros(shape), nd.zeros(shape)
    mean_np, var_np = np.zeros(shape), np.zeros(shape)
    g = nd.array(rng.uniform(-1, 1, shape), dtype="float16")
    d = nd.mp_lamb_update_phase1(w, g, mean, var, w32, t=1, wd=0.1)
    assert d.dtype == np.float32
    d_np = np_lamb_phase1(w32_np.astype(np.float64), g.asnumpy().astype(np.float64), mean_np, var_np, 1, 0.1)
    np.testing.assert_allclose(d.asnumpy(), d_np, rtol=1e-5, atol=1e-6)
    r1, r2 = nd.array([2.0]), nd.array([4.0])
    new = nd.mp_lamb_update_phase2(w, d, r1, r2, w32, lr=0.1)
    assert new.dtype == np.float16
    expected = (w32_np - 0.05 * d.asnumpy()).astype(np.float16)
    np.testing.assert_array_equal(new.asnumpy(), expected)
    np.testing.assert_array_equal(w32.asnumpy(), w32_np)  # phase 2 leaves the master copy, as MXNet does


def np_multi_lamb_step(w, g, mean, var, t, lr, wd, w32=None, lower_bound=-1.0, upper_bound=-1.0, **kw):
    base = w if w32 is None else w32
    d = np_lamb_phase1(base, g, mean, var, t, wd, **kw)
    lr = np_trusted_lr(lr, np.linalg.norm(w), np.linalg.norm(d), lower_bound, upper_bound)
    return base - lr * d


@pytest.mark.parametrize("mixed", [False, True])
def test_multi_lamb_matches_numpy_for_each_weight_over_several_steps(mixed):
    shapes = [(3, 4), (7,)]
    dtype = "float16" if mixed else "float32"
    lrs, wds = (0.1, 0.05), (0.01, 0.0)
    w_np = [rng.uniform(-1, 1, s).astype(np.float32).astype(np.float64) for s in shapes]
    ws = [nd.array(x, dtype=dtype) for x in w_np]
    w32s = [nd.array(x, dtype="float32") for x in w_np]
    means, vars_ = [nd.zeros(s) for s in shapes], [nd.zeros(s) for s in shapes]
    m_np, v_np = [np.zeros(s) for s in shapes], [np.zeros(s) for s in shapes]
    settings = dict(rescale_grad=0.5, clip_gradient=0.8, lower_bound=0.1, upper_bound=10.0)
    op = "_multi_mp_lamb_update" if mixed else "_multi_lamb_update"
    for t in range(1, 4):
        gs = [nd.array(rng.uniform(-1, 1, s), dtype=dtype) for s in shapes]
        for k in range(2):
            weight_now = ws[k].asnumpy().astype(np.float64)
            w_np[k] = np_multi_lamb_step(weight_now, gs[k].asnumpy().astype(np.float64), m_np[k], v_np[k],
                                         t, lrs[k], wds[k], w_np[k] if mixed else None, **settings)
        flat = []
        for k in range(2):
            flat += [ws[k], gs[k], means[k], vars_[k]] + ([w32s[k]] if mixed else [])
        nd.invoke(op, flat, out=ws, learning_rates=lrs, wds=wds, step_count=(t, t), num_tensors=2, **settings)
    for k in range(2):
        master = w32s[k] if mixed else ws[k]
        np.testing.assert_allclose(master.asnumpy(), w_np[k], rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(means[k].asnumpy(), m_np[k], rtol=2e-5, atol=1e-6)
    if mixed:
        np.testing.assert_array_equal(ws[0].asnumpy(), w32s[0].asnumpy().astype(np.float16))


def test_multi_lars_matches_its_formula():
    lrs = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    wsq = np.array([4.0, 0.0, 9.0, 1.0], np.float32)
    gsq = np.array([1.0, 1.0, 0.0, 16.0], np.float32)
    wds = np.array([0.01, 0.0, 0.1, 0.5], np.float32)
    out = nd.multi_lars(nd.array(lrs), nd.array(wsq), nd.array(gsq), nd.array(wds), eta=0.5, eps=1e-3,
                        rescale_grad=2.0)
    wn, gn = np.sqrt(wsq.astype(np.float64)), np.sqrt(gsq.astype(np.float64))
    valid = (wn > 0) & (gn > 0)
    expected = np.where(valid, lrs * 0.5 * wn / np.where(valid, gn * 2.0 + wds * wn + 1e-3, 1), lrs)
    np.testing.assert_allclose(out.asnumpy(), expected, rtol=1e-6)


def np_adamw(w, g, mean, var, lr, eta, scale, beta1=0.9, beta2=0.999, epsilon=1e-8, wd=0.0,
             clip_gradient=-1.0):
    g = clip(scale * g, clip_gradient)
    mean[:] = beta1 * mean + (1 - beta1) * g
    var[:] = beta2 * var + (1 - beta2) * g * g
    return w - eta * (lr * mean / (np.sqrt(var) + epsilon) + wd * w)


ADAMW = [dict(lr=0.01, eta=1.0), dict(lr=0.02, eta=0.5, beta1=0.8, beta2=0.99, epsilon=1e-6, wd=0.1,
                                      clip_gradient=0.3)]


@pytest.mark.parametrize("settings", ADAMW)
def test_adamw_matches_numpy_over_several_steps(settings):
    shape = (5, 4)
    w_np = rng.uniform(-1, 1, shape)
    m_np, v_np = np.zeros(shape), np.zeros(shape)
    w = nd.array(w_np, dtype="float64")
    mean, var = nd.zeros(shape, dtype="float64"), nd.zeros(shape, dtype="float64")
    scale = nd.array([0.5])
    for _ in range(4):
        g_np = rng.uniform(-1, 1, shape)
        w_np = np_adamw(w_np, g_np, m_np, v_np, scale=0.5, **settings)
        nd._adamw_update(w, nd.array(g_np, dtype="float64"), mean, var, scale, out=w, **settings)
    np.testing.assert_allclose(w.asnumpy(), w_np, rtol=1e-12)
    np.testing.assert_allclose(var.asnumpy(), v_np, rtol=1e-12)


@pytest.mark.parametrize("bad", [0.0, np.nan, np.inf])
def test_adamw_skips_the_step_for_a_scale_of_nan_inf_or_zero(bad):
    w, g = nd.array([1.0, 2.0]), nd.array([1.0, 1.0])
    mean, var = nd.ones((2,)), nd.ones((2,))
    nd._adamw_update(w, g, mean, var, nd.array([bad]), out=w, lr=0.1, eta=1.0, wd=0.5)
    np.testing.assert_array_equal(w.asnumpy(), [1.0, 2.0])
    np.testing.assert_array_equal(mean.asnumpy(), [1.0, 1.0])


def test_mixed_precision_adamw_steps_the_master_copy():
    shape = (3, 3)
    w32_np = rng.uniform(-1, 1, shape).astype(np.float32).astype(np.float64)
    w = nd.array(w32_np, dtype="float16")
    w32 = nd.array(w32_np, dtype="float32")
    mean, var = nd.zeros(shape), nd.zeros(shape)
    m_np, v_np = np.zeros(shape), np.zeros(shape)
    for _ in range(3):
        g = nd.array(rng.uniform(-1, 1, shape), dtype="float16")
        w32_np = np_adamw(w32_np, g.asnumpy().astype(np.float64), m_np, v_np, lr=0.01, eta=1.0, scale=1.0, wd=0.1)
        nd._mp_adamw_update(w, g, mean, var, w32, nd.array([1.0]), out=w, lr=0.01, eta=1.0, wd=0.1)
    np.testing.assert_allclose(w32.asnumpy(), w32_np, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(w.asnumpy(), w32.asnumpy().astype(np.float16))


@pytest.mark.parametrize("mixed", [False, True])
def test_multi_adamw_equals_single_adamw_per_weight(mixed):
    dtype = "float16" if mixed else "float32"
    shapes = [(2, 3), (4,)]
    lrs, wds, etas = (0.01, 0.02), (0.1, 0.0), (1.0, 0.5)
    groups, singles = [], []
    for s in shapes:
        w = rng.uniform(-1, 1, s)
        g = [nd.array(w, dtype=dtype), nd.array(rng.uniform(-1, 1, s), dtype=dtype), nd.zeros(s, dtype="float32" if mixed else dtype),
             nd.zeros(s, dtype="float32" if mixed else dtype)]
        if mixed:
            g.append(nd.array(g[0].asnumpy(), dtype="float32"))
        groups.append(g)
        singles.append([a.copy() for a in g])
    scale = nd.array([0.5], dtype="float32")
    single_op = "_mp_adamw_update" if mixed else "_adamw_update"
    multi_op = "_multi_mp_adamw_update" if mixed else "_multi_adamw_update"
    for _ in range(3):
        nd.invoke(multi_op, [a for g in groups for a in g] + [nd.array([0.5], dtype=dtype if not mixed else "float32")],
                  out=[g[0] for g in groups], lrs=lrs, wds=wds, etas=etas, num_weights=2, clip_gradient=0.4)
        for s, lr, wd, eta in zip(singles, lrs, wds, etas):
            nd.invoke(single_op, s + [scale], out=s[0], lr=lr, wd=wd, eta=eta, clip_gradient=0.4)
    for g, s in zip(groups, singles):
        for a, b in zip(g, s):
            np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())


def test_written_inputs_before_a_read_one_are_written_arguments():
    info = _native.op_info("_adamw_update", {"lr": "0.1", "eta": "1"})
    assert info["arguments"] == ["weight", "grad", "mean", "var", "rescale_grad"] and info["aux"] == []
    info = _native.op_info("_multi_lamb_update", {"learning_rates": "(0.1,)", "wds": "(0,)", "step_count": "(1,)"})
    assert info["arguments"] == ["weight_0", "grad_0", "mean_0", "var_0"]


@pytest.mark.parametrize("call,match", [
    (lambda: nd.lamb_update_phase1(nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), t=1),
     r"lamb_update_phase1: wd=\(missing\)"),
    (lambda: nd.lamb_update_phase1(nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), t=0, wd=0.0),
     r"lamb_update_phase1: t=0: expected an update count >= 1 with bias_correction"),
    (lambda: nd.lamb_update_phase2(nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), nd.ones((1,)), lr=0.1),
     r"lamb_update_phase2: r1=an array of shape \(2,\): expected an array of one element"),
    (lambda: nd.mp_lamb_update_phase1(nd.ones((2,), dtype="float16"), nd.ones((2,), dtype="float16"),
                                      nd.ones((2,), dtype="float16"), nd.ones((2,)), nd.ones((2,)), t=1, wd=0.0),
     r"mp_lamb_update_phase1: mean=an array of type float16: expected float32"),
    (lambda: nd._multi_lamb_update(nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), nd.ones((2,)),
                                   learning_rates=(0.1,), wds=(0.0,), step_count=(1, 2), num_tensors=1),
     r"_multi_lamb_update: step_count=a tuple of 2 counts: expected 1 counts, one per weight"),
    (lambda: nd._adamw_update(nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), nd.ones((2,)),
                              lr=0.1, eta=1.0),
     r"_adamw_update: rescale_grad=an array of shape \(2,\): expected an array of one element"),
    (lambda: nd._adamw_update(nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), nd.ones((1,)), lr=0.1),
     r"_adamw_update: eta=\(missing\)"),
    (lambda: nd.multi_lars(nd.ones((2,), dtype="float64"), nd.ones((2,)), nd.ones((2,)), nd.ones((2,)),
                           eta=1.0, eps=0.0), r"multi_lars: lrs=an array of type float64: expected float32"),
])
def test_bad_arguments_raise_naming_the_problem_before_a_push(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
