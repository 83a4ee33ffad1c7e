"""Optimizer updates with row_sparse gradients: with lazy_update only the rows the gradient
stores change (weight and states), checked against numpy; with lazy_update=False the dense
update of every row."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod.base import MXNetError

ROWS, COLS = 8, 3
PRESENT = np.array([1, 4, 6])


def setup(seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((ROWS, COLS)).astype(dtype)
    g_rows = rng.standard_normal((PRESENT.size, COLS)).astype(dtype)
    g_dense = np.zeros_like(w)
    g_dense[PRESENT] = g_rows
    grad = mx.nd.sparse.row_sparse_array((g_rows, PRESENT), shape=(ROWS, COLS), dtype=dtype)
    return w, g_dense, grad


def clip(x, c):
    return x if c is None or c < 0 else np.clip(x, -c, c)


def ref_sgd(w, g, s, lr, wd, rescale, c, momentum=0.0):
    if momentum:
        s[0][:] = momentum * s[0] - lr * wd * w - lr * clip(rescale * g, c)
        return w + s[0]
    return (1 - lr * wd) * w - lr * clip(rescale * g, c)


def ref_adam(w, g, s, lr, wd, rescale, c, beta1=0.9, beta2=0.999, epsilon=1e-8):
    grad = clip(rescale * g + wd * w, c)
    s[0][:] = beta1 * s[0] + (1 - beta1) * grad
    s[1][:] = beta2 * s[1] + (1 - beta2) * grad * grad
    return w - lr * s[0] / (np.sqrt(s[1]) + epsilon)


def ref_ftrl(w, g, s, lr, wd, rescale, c, lamda1=0.01, beta=1.0):
    grad = clip(rescale * g, c)
    z, n = s
    z[:] = z + grad - (np.sqrt(n + grad * grad) - np.sqrt(n)) * w / lr
    n[:] = n + grad * grad
    return (np.sign(z) * lamda1 - z) / ((beta + np.sqrt(n)) / lr + wd) * (np.abs(z) > lamda1)


def ref_adagrad(w, g, s, lr, wd, rescale, c, eps=1e-7):
    grad = clip(rescale * g, c)
    s[0][:] = s[0] + grad * grad
    return w - lr * (grad / np.sqrt(s[0] + eps) + wd * w)


CASES = [
    ("sgd_update", 0, ref_sgd, {}),
    ("sgd_mom_update", 1, ref_sgd, {"momentum": 0.9}),
    ("adam_update", 2, ref_adam, {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}),
    ("ftrl_update", 2, ref_ftrl, {"lamda1": 0.01, "beta": 1.0}),
]


def lazy_reference(ref, w, g_dense, states, kw, lr, wd, rescale, c):
    """Applies ``ref`` to the present rows only."""
    new_w = w.copy()
    sub_states = [s[PRESENT].copy() for s in states]
    new_w[PRESENT] = ref(w[PRESENT], g_dense[PRESENT], sub_states, lr, wd, rescale, c, **kw)
    for s, sub in zip(states, sub_states):
        s[PRESENT] = sub
    return new_w


@pytest.mark.parametrize("op, nstates, ref, kw", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lazy_update_changes_only_present_rows(op, nstates, ref, kw, dtype):
    w_np, g_dense, grad = setup(1, dtype)
    rng = np.random.default_rng(2)
    states_np = [np.abs(rng.standard_normal(w_np.shape)).astype(dtype) for _ in range(nstates)]
    weight = mx.nd.array(w_np, dtype=dtype)
    states = [mx.nd.array(s, dtype=dtype) for s in states_np]
    lr, wd, rescale, c = 0.1, 0.05, 0.5, 0.6
    getattr(mx.nd, op)(weight, grad, *states, out=weight, lr=lr, wd=wd, rescale_grad=rescale,
                       clip_gradient=c, **kw)
    want = lazy_reference(ref, w_np, g_dense, states_np, kw, lr, wd, rescale, c)
    got = weight.asnumpy()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    absent = np.setdiff1d(np.arange(ROWS), PRESENT)
    np.testing.assert_array_equal(got[absent], w_np[absent])
    for s, s_np in zip(states, states_np):
        np.testing.assert_allclose(s.asnumpy(), s_np, rtol=tol, atol=tol)


@pytest.mark.parametrize("op, nstates, ref, kw", CASES, ids=[c[0] for c in CASES])
def test_lazy_update_of_many_rows_split_across_cores(op, nstates, ref, kw):
    # 30,000 of 200,000 rows of width 8: large enough that the update splits its rows
    # across the cores; every present row gets the numpy update, every other stays.
    rng = np.random.default_rng(7)
    rows, cols = 200_000, 8
    present = np.sort(rng.choice(rows, 30_000, replace=False))
    w_np = rng.standard_normal((rows, cols)).astype(np.float32)
    g_rows = rng.standard_normal((present.size, cols)).astype(np.float32)
    states_np = [np.abs(rng.standard_normal(w_np.shape)).astype(np.float32)
                 for _ in range(nstates)]
    weight = mx.nd.array(w_np)
    states = [mx.nd.array(x) for x in states_np]
    grad = mx.nd.sparse.row_sparse_array((g_rows, present), shape=(rows, cols))
    getattr(mx.nd, op)(weight, grad, *states, out=weight, lr=0.1, wd=0.05, rescale_grad=0.5,
                       clip_gradient=0.6, **kw)
    want = w_np.copy()
    sub = [x[present].copy() for x in states_np]
    want[present] = ref(w_np[present], g_rows, sub, 0.1, 0.05, 0.5, 0.6, **kw)
    np.testing.assert_allclose(weight.asnumpy(), want, rtol=1e-5, atol=1e-5)
    for st, x, part in zip(states, states_np, sub):
        x[present] = part
        np.testing.assert_allclose(st.asnumpy(), x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op, nstates, ref, kw", CASES[:3], ids=[c[0] for c in CASES[:3]])
def test_lazy_update_false_is_the_dense_update(op, nstates, ref, kw):
    w_np, g_dense, grad = setup(3)
    states_np = [np.zeros_like(w_np) + 0.1 for _ in range(nstates)]
    weight = mx.nd.array(w_np)
    states = [mx.nd.array(s) for s in states_np]
    getattr(mx.nd, op)(weight, grad, *states, out=weight, lr=0.1, wd=0.1, lazy_update=False,
                       **kw)
    want = ref(w_np, g_dense, states_np, 0.1, 0.1, 1.0, None, **kw)
    np.testing.assert_allclose(weight.asnumpy(), want, rtol=1e-5, atol=1e-6)
    absent = np.setdiff1d(np.arange(ROWS), PRESENT)
    assert not np.allclose(weight.asnumpy()[absent], w_np[absent])  # weight decay applied


def test_sparse_adagrad_update_is_lazy_and_refuses_wd():
    w_np, g_dense, grad = setup(4)
    hist_np = np.full_like(w_np, 0.2)
    weight, hist = mx.nd.array(w_np), mx.nd.array(hist_np)
    mx.nd.sparse.adagrad_update(weight, grad, hist, out=weight, lr=0.3, epsilon=1e-7)
    want = lazy_reference(ref_adagrad, w_np, g_dense, [hist_np], {}, 0.3, 0.0, 1.0, None)
    np.testing.assert_allclose(weight.asnumpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hist.asnumpy(), hist_np, rtol=1e-6)
    with pytest.raises(MXNetError, match="wd=0.1: sparse adagrad_update does not support wd"):
        mx.nd.sparse.adagrad_update(weight, grad, hist, out=weight, lr=0.3, wd=0.1)


def test_row_sparse_weight_with_every_row():
    w_np, g_dense, grad = setup(5)
    weight = mx.nd.array(w_np).tostype("row_sparse")
    assert weight.data.shape[0] == ROWS
    mx.nd.sgd_update(weight, grad, out=weight, lr=0.5)
    want = w_np.copy()
    want[PRESENT] -= 0.5 * g_dense[PRESENT]
    np.testing.assert_allclose(weight.asnumpy(), want, rtol=1e-6)


OPTIMIZERS = [
    ("sgd", {"momentum": 0.9}, "sgd_mom_update", ref_sgd, 1, {"momentum": 0.9}),
    ("sgd", {}, "sgd_update", ref_sgd, 0, {}),
    ("adam", {}, "adam_update", ref_adam, 2, {}),
    ("ftrl", {}, "ftrl_update", ref_ftrl, 2, {}),
]


@pytest.mark.parametrize("name, opt_kw, op, ref, nstates, kw", OPTIMIZERS,
                         ids=[f"{o[0]}-{o[2]}" for o in OPTIMIZERS])
def test_optimizers_update_present_rows_only(name, opt_kw, op, ref, nstates, kw):
    w_np, g_dense, grad = setup(6)
    opt = mx.optimizer.create(name, learning_rate=0.1, wd=0.01, rescale_grad=1.0, **opt_kw)
    updater = mx.optimizer.get_updater(opt)
    weight = mx.nd.array(w_np)
    states_np = [np.zeros_like(w_np) for _ in range(nstates)]
    w_ref = w_np.copy()
    for step in range(1, 4):
        updater(0, grad, weight)
        lr = 0.1
        if name == "adam":
            lr *= np.sqrt(1 - 0.999 ** step) / (1 - 0.9 ** step)
        w_ref = lazy_reference(ref, w_ref, g_dense, states_np, kw, lr, 0.01, 1.0, None)
    np.testing.assert_allclose(weight.asnumpy(), w_ref, rtol=1e-4, atol=1e-5)
    absent = np.setdiff1d(np.arange(ROWS), PRESENT)
    np.testing.assert_array_equal(weight.asnumpy()[absent], w_np[absent])


def test_adagrad_optimizer_with_row_sparse_gradient():
    w_np, g_dense, grad = setup(7)
    opt = mx.optimizer.create("adagrad", learning_rate=0.2, eps=1e-7)
    updater = mx.optimizer.get_updater(opt)
    weight = mx.nd.array(w_np)
    hist = [np.zeros_like(w_np)]
    w_ref = w_np.copy()
    for _ in range(2):
        updater(3, grad, weight)
        w_ref = lazy_reference(ref_adagrad, w_ref, g_dense, hist, {}, 0.2, 0.0, 1.0, None)
    np.testing.assert_allclose(weight.asnumpy(), w_ref, rtol=1e-5, atol=1e-6)


def test_sgd_without_lazy_update_decays_every_row():
    w_np, g_dense, grad = setup(8)
    opt = mx.optimizer.create("sgd", learning_rate=0.1, wd=0.1, lazy_update=False)
    weight = mx.nd.array(w_np)
    mx.optimizer.get_updater(opt)(0, grad, weight)
    np.testing.assert_allclose(weight.asnumpy(), (1 - 0.01) * w_np - 0.1 * g_dense, rtol=1e-6)


def test_aggregated_sgd_with_sparse_gradients_goes_one_by_one():
    w_np, g_dense, grad = setup(9)
    opt = mx.optimizer.create("sgd", learning_rate=0.1, momentum=0.5)
    updater = mx.optimizer.get_updater(opt)
    weights = [mx.nd.array(w_np), mx.nd.array(w_np)]
    updater([0, 1], [grad, mx.nd.array(g_dense)], weights)
    lazy = w_np.copy()
    lazy[PRESENT] -= 0.1 * g_dense[PRESENT]
    np.testing.assert_allclose(weights[0].asnumpy(), lazy, rtol=1e-6)
    np.testing.assert_allclose(weights[1].asnumpy(), w_np - 0.1 * g_dense, rtol=1e-6)


def test_gradient_rows_out_of_range_fail_at_the_wait():
    weight = mx.nd.ones((3, 2))
    grad = mx.nd.sparse.row_sparse_array((np.ones((1, 2), np.float32), [2]), shape=(3, 2))
    grad._aux[0] = mx.nd.array([7], dtype=np.int64)
    mx.nd.sgd_update(weight, grad, out=weight, lr=0.1)
    with pytest.raises(MXNetError, match="gradient row 7 out of range"):
        weight.asnumpy()


def test_gradient_of_the_wrong_row_shape_is_refused_before_pushing():
    weight = mx.nd.ones((3, 2))
    grad = mx.nd.sparse.row_sparse_array((np.ones((1, 3)), [1]), shape=(3, 3))
    with pytest.raises(MXNetError, match="grad"):
        mx.nd.sgd_update(weight, grad, out=weight, lr=0.1)
