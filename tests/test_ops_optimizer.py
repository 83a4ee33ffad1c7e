"""Optimizer update operators against numpy versions of MXNet 1.x's formulas, run for
several steps in place (out=weight), with the state arrays updated in place."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd

rng = np.random.default_rng(3)


def clip(g, c):
    return g if c < 0 else np.clip(g, -c, c)


def np_sgd(w, g, lr, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0):
    return (1 - lr * wd) * w - lr * clip(rescale_grad * g, clip_gradient)


def np_sgd_mom(w, g, mom, lr, momentum=0.0, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0):
    mom[:] = momentum * mom - lr * wd * w - lr * clip(rescale_grad * g, clip_gradient)
    return w + mom


def np_nag_mom(w, g, mom, lr, momentum=0.0, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0):
    grad = clip(rescale_grad * g, clip_gradient) + wd * w
    mom[:] = momentum * mom - lr * grad
    return w + momentum * mom - lr * grad


def np_adam(w, g, mean, var, lr, beta1=0.9, beta2=0.999, epsilon=1e-8, wd=0.0, rescale_grad=1.0,
            clip_gradient=-1.0):
    grad = clip(rescale_grad * g + wd * w, clip_gradient)
    mean[:] = beta1 * mean + (1 - beta1) * grad
    var[:] = beta2 * var + (1 - beta2) * grad * grad
    return w - lr * mean / (np.sqrt(var) + epsilon)


def np_rmsprop(w, g, n, lr, gamma1=0.95, epsilon=1e-8, wd=0.0, rescale_grad=1.0,
               clip_gradient=-1.0, clip_weights=-1.0):
    grad = clip(rescale_grad * g + wd * w, clip_gradient)
    n[:] = (1 - gamma1) * grad * grad + gamma1 * n
    return clip(w - lr * grad / np.sqrt(n + epsilon), clip_weights)


def np_rmspropalex(w, g, n, gs, delta, lr, gamma1=0.95, gamma2=0.9, epsilon=1e-8, wd=0.0,
                   rescale_grad=1.0, clip_gradient=-1.0, clip_weights=-1.0):
    grad = clip(rescale_grad * g + wd * w, clip_gradient)
    n[:] = (1 - gamma1) * grad * grad + gamma1 * n
    gs[:] = (1 - gamma1) * grad + gamma1 * gs
    delta[:] = gamma2 * delta - lr * grad / np.sqrt(n - gs * gs + epsilon)
    return clip(w + delta, clip_weights)


def np_adagrad(w, g, history, lr, epsilon=1e-7, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0):
    grad = clip(rescale_grad * g, clip_gradient)
    history[:] += grad * grad
    return w - lr * (grad / np.sqrt(history + epsilon) + wd * w)


# op name -> (numpy reference, number of states, how states start)
OPTIMIZERS = {
    "sgd_update": (np_sgd, 0, None),
    "sgd_mom_update": (np_sgd_mom, 1, "zeros"),
    "nag_mom_update": (np_nag_mom, 1, "zeros"),
    "adam_update": (np_adam, 2, "zeros"),
    "rmsprop_update": (np_rmsprop, 1, "zeros"),
    "rmspropalex_update": (np_rmspropalex, 3, "zeros"),
    "adagrad_update": (np_adagrad, 1, "zeros"),
    "_sparse_adagrad_update": (np_adagrad, 1, "zeros"),
}

SETTINGS = {
    "sgd_update": [dict(lr=0.1), dict(lr=0.05, wd=0.01, rescale_grad=0.5, clip_gradient=0.3)],
    "sgd_mom_update": [dict(lr=0.1, momentum=0.9),
                       dict(lr=0.05, momentum=0.5, wd=0.01, rescale_grad=2.0, clip_gradient=0.4)],
    "nag_mom_update": [dict(lr=0.1, momentum=0.9),
                       dict(lr=0.05, momentum=0.5, wd=0.01, rescale_grad=2.0, clip_gradient=0.4)],
    "adam_update": [dict(lr=0.01),
                    dict(lr=0.02, beta1=0.8, beta2=0.99, epsilon=1e-6, wd=0.01, rescale_grad=0.5,
                         clip_gradient=0.2)],
    "rmsprop_update": [dict(lr=0.01),
                       dict(lr=0.02, gamma1=0.9, epsilon=1e-6, wd=0.01, rescale_grad=0.5,
                            clip_gradient=0.2, clip_weights=0.9)],
    "rmspropalex_update": [dict(lr=0.01),
                           dict(lr=0.02, gamma1=0.9, gamma2=0.8, epsilon=1e-4, wd=0.01,
                                rescale_grad=0.5, clip_gradient=0.2, clip_weights=0.9)],
    "adagrad_update": [dict(lr=0.1), dict(lr=0.1, epsilon=1e-5, wd=0.01, rescale_grad=0.5,
                                          clip_gradient=0.2)],
    "_sparse_adagrad_update": [dict(lr=0.1, clip_gradient=0.5)],
}
CASES = [(op, s) for op, settings in SETTINGS.items() for s in settings]


@pytest.mark.parametrize("op,settings", CASES)
# The last shape is large enough for the update to split across the cores (unevenly).
@pytest.mark.parametrize("shape", [(4, 3), (1, 5), (7,), (3, 131073)])
def test_updates_match_numpy_over_several_steps_in_place(op, settings, shape):
    ref, n_states, _ = OPTIMIZERS[op]
    w_np = rng.uniform(-1, 1, shape)
    states_np = [np.zeros(shape) for _ in range(n_states)]
    w = nd.array(w_np, dtype="float64")
    states = [nd.zeros(shape, dtype="float64") for _ in range(n_states)]
    for _ in range(4):
        g_np = rng.uniform(-1, 1, shape)
        w_np = ref(w_np, g_np, *states_np, **settings)
        result = nd.invoke(op, [w, nd.array(g_np, dtype="float64")] + states, out=w, **settings)
        assert result is w
    np.testing.assert_allclose(w.asnumpy(), w_np, rtol=1e-12, atol=1e-14)
    for s, s_np in zip(states, states_np):
        np.testing.assert_allclose(s.asnumpy(), s_np, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("op,settings", [(op, SETTINGS[op][-1]) for op in SETTINGS])
def test_float32_updates(op, settings):
    ref, n_states, _ = OPTIMIZERS[op]
    w_np = rng.uniform(-1, 1, (5, 2)).astype(np.float32)
    states_np = [np.zeros((5, 2), np.float64) for _ in range(n_states)]
    w = nd.array(w_np)
    states = [nd.zeros((5, 2)) for _ in range(n_states)]
    w_np = w_np.astype(np.float64)
    for _ in range(3):
        g_np = rng.uniform(-1, 1, (5, 2)).astype(np.float32)
        w_np = ref(w_np, g_np.astype(np.float64), *states_np, **settings)
        nd.invoke(op, [w, nd.array(g_np)] + states, out=w, **settings)
    assert w.dtype == np.float32
    np.testing.assert_allclose(w.asnumpy(), w_np, rtol=1e-4, atol=1e-5)


def test_float16_sgd_mom():
    w = nd.array(np.ones(4), dtype="float16")
    mom = nd.zeros((4,), dtype="float16")
    nd.sgd_mom_update(w, nd.array(np.full(4, 0.5), dtype="float16"), mom, out=w, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(w.asnumpy(), np.full(4, 0.95), rtol=1e-3)
    np.testing.assert_allclose(mom.asnumpy(), np.full(4, -0.05), rtol=1e-3)


def test_states_by_name_and_a_new_output_without_out():
    w0 = rng.uniform(-1, 1, (3,))
    g = rng.uniform(-1, 1, (3,))
    mean, var = nd.zeros((3,), dtype="float64"), nd.zeros((3,), dtype="float64")
    w = nd.array(w0, dtype="float64")
    new = nd.adam_update(weight=w, grad=nd.array(g, dtype="float64"), mean=mean, var=var, lr=0.1)
    m_np, v_np = np.zeros(3), np.zeros(3)
    expected = np_adam(w0, g, m_np, v_np, lr=0.1)
    np.testing.assert_allclose(new.asnumpy(), expected, rtol=1e-12)
    np.testing.assert_array_equal(w.asnumpy(), w0)  # without out the weight is not written
    np.testing.assert_allclose(mean.asnumpy(), m_np, rtol=1e-12)
    np.testing.assert_allclose(var.asnumpy(), v_np, rtol=1e-12)


def test_lazy_update_is_accepted_and_negative_clip_means_no_clipping():
    w = nd.array([1.0, 1.0], dtype="float64")
    nd.sgd_update(w, nd.array([100.0, -100.0], dtype="float64"), out=w, lr=0.01,
                  lazy_update=False, clip_gradient=-1)
    np.testing.assert_allclose(w.asnumpy(), [0.0, 2.0])
    nd.sgd_update(w, nd.array([100.0, -100.0], dtype="float64"), out=w, lr=0.01, clip_gradient=1)
    np.testing.assert_allclose(w.asnumpy(), [-0.01, 2.01])


def test_updates_chain_in_order_with_reads_between():
    w = nd.array(np.zeros(1000), dtype="float32")
    mom = nd.zeros((1000,))
    g = nd.ones((1000,))
    seen = []
    for _ in range(5):
        nd.sgd_mom_update(w, g, mom, out=w, lr=1.0, momentum=1.0)
        seen.append(float(w.asnumpy()[0]))
    assert seen == [-1.0, -3.0, -6.0, -10.0, -15.0]


def test_state_arrays_are_auxiliary_states_and_there_is_no_gradient():
    assert _native.op_info("sgd_mom_update", {"lr": "0.1"})["aux"] == ["mom"]
    assert _native.op_info("adam_update", {"lr": "0.1"})["aux"] == ["mean", "var"]
    assert _native.op_info("rmspropalex_update", {"lr": "0.1"})["aux"] == ["n", "g", "delta"]
    assert _native.op_info("_sparse_adagrad_update", {"lr": "0.1"})["aux"] == ["history"]
    for op in OPTIMIZERS:
        info = _native.op_info(op, {"lr": "0.1"})
        assert info["arguments"] == ["weight", "grad"] and not info["has_backward"]


@pytest.mark.parametrize("call,match", [
    (lambda: nd.sgd_update(nd.ones((2,)), nd.ones((2,))), r"sgd_update: lr=\(missing\): expected a number"),
    (lambda: nd.sgd_update(nd.ones((2,)), nd.ones((2,)), lr="fast"), r"sgd_update: lr='fast': expected a number"),
    (lambda: nd.sgd_mom_update(nd.ones((2,)), nd.ones((2,)), nd.ones((3,)), lr=0.1),
     r"sgd_mom_update: mom=an array of shape \(3,\): expected the shape of weight, \(2,\)"),
    (lambda: nd.adam_update(nd.ones((2,)), nd.ones((3,)), nd.ones((2,)), nd.ones((2,)), lr=0.1),
     r"adam_update: grad=an array of shape \(3,\): expected the shape of weight, \(2,\)"),
    (lambda: nd.sgd_update(nd.ones((2,), dtype="int32"), nd.ones((2,), dtype="int32"), lr=0.1),
     r"sgd_update: weight=an array of type int32: expected float32, float64 or float16"),
    (lambda: nd.sgd_update(nd.ones((2,)), nd.ones((2,), dtype="float64"), lr=0.1),
     r"sgd_update: grad=an array of type float64: expected the type of weight, float32"),
    (lambda: nd.nag_mom_update(nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), lr=0.1, lazy_update=True),
     r"nag_mom_update: lazy_update='True': expected an attribute of nag_mom_update"),
    (lambda: nd.adam_update(nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), lr=0.1),
     r"adam_update: inputs=3 arrays: expected 4 \(weight, grad, mean, var\)"),
    (lambda: nd.rmsprop_update(nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), lr=0.1, centered=True),
     r"rmsprop_update: centered='True': expected an attribute"),
    (lambda: nd.sgd_update(nd.ones((2,)), nd.ones((2,)), lr=0.1, out=nd.ones((3,))),
     r"sgd_update: out=an array of shape \(3,\): expected shape \(2,\)"),
])
def test_bad_arguments_raise_naming_the_problem(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
