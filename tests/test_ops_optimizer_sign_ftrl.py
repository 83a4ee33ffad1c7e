"""signsgd_update, signum_update, ftrl_update and ftml_update against numpy versions of MXNet
1.9's formulas, over several steps in place, with their state arrays updated in place."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd

rng = np.random.default_rng(11)


def clip(g, c):
    return g if c < 0 else np.clip(g, -c, c)


def np_signsgd(w, g, lr, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0):
    return (1 - lr * wd) * w - lr * np.sign(g)


def np_signum(w, g, mom, lr, momentum=0.0, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0, wd_lh=0.0):
    mom[:] = (momentum * mom - (1 - momentum) * wd * w
              - (1 - momentum) * clip(rescale_grad * g, clip_gradient))
    return (1 - lr * wd_lh) * w + lr * np.sign(mom)


def np_ftrl(w, g, z, n, lr, lamda1=0.01, beta=1.0, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0):
    g = clip(rescale_grad * g, clip_gradient)
    z[:] += g - (np.sqrt(n + g * g) - np.sqrt(n)) * w / lr
    n[:] += g * g
    return (np.sign(z) * lamda1 - z) / ((beta + np.sqrt(n)) / lr + wd) * (np.abs(z) > lamda1)


def np_ftml(w, g, d, v, z, lr, t, beta1=0.6, beta2=0.999, epsilon=1e-8, wd=0.0,
            rescale_grad=1.0, clip_grad=-1.0):
    g = clip(rescale_grad * g + wd * w, clip_grad)
    v[:] = beta2 * v + (1 - beta2) * g * g
    d_t = (1 - beta1 ** t) / lr * (np.sqrt(v / (1 - beta2 ** t)) + epsilon)
    z[:] = beta1 * z + (1 - beta1) * g - (d_t - beta1 * d) * w
    d[:] = d_t
    return -z / d_t


# op -> (reference, number of states, settings)
CASES = {
    "signsgd_update": (np_signsgd, 0, [dict(lr=0.1), dict(lr=0.05, wd=0.1, rescale_grad=3.0,
                                                          clip_gradient=0.01)]),
    "signum_update": (np_signum, 1, [dict(lr=0.1, momentum=0.9),
                                     dict(lr=0.05, momentum=0.5, wd=0.1, rescale_grad=2.0,
                                          clip_gradient=0.3, wd_lh=0.2)]),
    "ftrl_update": (np_ftrl, 2, [dict(lr=0.1), dict(lr=0.2, lamda1=0.05, beta=0.5, wd=0.1,
                                                    rescale_grad=0.5, clip_gradient=0.3)]),
    "ftml_update": (np_ftml, 3, [dict(lr=0.1), dict(lr=0.05, beta1=0.5, beta2=0.99, epsilon=1e-6,
                                                    wd=0.1, rescale_grad=2.0, clip_grad=0.4)]),
}
PARAMS = [(op, s) for op, (_, _, settings) in CASES.items() for s in settings]


def run_steps(op, settings, shape, dtype, steps=4):
    ref, n_states, _ = CASES[op]
    w_np = rng.uniform(-1, 1, shape)
    states_np = [np.zeros(shape) for _ in range(n_states)]
    w = nd.array(w_np, dtype=dtype)
    w_np = w.asnumpy().astype(np.float64)
    states = [nd.zeros(shape, dtype=dtype) for _ in range(n_states)]
    for t in range(1, steps + 1):
        g = nd.array(rng.uniform(-1, 1, shape), dtype=dtype)
        extra = dict(t=t) if op == "ftml_update" else {}
        w_np = ref(w_np, g.asnumpy().astype(np.float64), *states_np, **settings, **extra)
        assert nd.invoke(op, [w, g] + states, out=w, **settings, **extra) is w
    return w, states, w_np, states_np


@pytest.mark.parametrize("op,settings", PARAMS)
@pytest.mark.parametrize("shape", [(4, 3), (7,), (2, 131073)])
def test_float64_updates_match_numpy_over_several_steps_in_place(op, settings, shape):
    w, states, w_np, states_np = run_steps(op, settings, shape, "float64")
    # FTML's weight is -z / d_t with d_t near lr: rounding differences grow by 1 / lr.
    tol = dict(rtol=1e-9, atol=1e-11) if op == "ftml_update" else dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(w.asnumpy(), w_np, **tol)
    for s, s_np in zip(states, states_np):
        np.testing.assert_allclose(s.asnumpy(), s_np, **tol)


@pytest.mark.parametrize("op,settings", PARAMS)
def test_float32_updates_match_numpy(op, settings):
    w, states, w_np, _ = run_steps(op, settings, (5, 2), "float32", steps=3)
    assert w.dtype == np.float32
    np.testing.assert_allclose(w.asnumpy(), w_np, rtol=1e-4, atol=1e-5)


def test_signsgd_ignores_the_gradients_scale_and_clipping():
    w = nd.array([1.0, 1.0, 1.0], dtype="float64")
    nd.signsgd_update(w, nd.array([5.0, -0.001, 0.0], dtype="float64"), out=w, lr=0.5,
                      rescale_grad=10.0, clip_gradient=0.1)
    np.testing.assert_array_equal(w.asnumpy(), [0.5, 1.5, 1.0])


def test_states_are_auxiliary_and_there_is_no_gradient():
    assert _native.op_info("signum_update", {"lr": "0.1"})["aux"] == ["mom"]
    assert _native.op_info("ftrl_update", {"lr": "0.1"})["aux"] == ["z", "n"]
    info = _native.op_info("ftml_update", {"lr": "0.1", "t": "1"})
    assert info["aux"] == ["d", "v", "z"] and info["arguments"] == ["weight", "grad"]
    assert not info["has_backward"]


@pytest.mark.parametrize("call,match", [
    (lambda: nd.signum_update(nd.ones((2,)), nd.ones((2,)), nd.ones((3,)), lr=0.1),
     r"signum_update: mom=an array of shape \(3,\): expected the shape of weight, \(2,\)"),
    (lambda: nd.ftrl_update(nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), nd.ones((2,), dtype="float64"),
                            lr=0.1),
     r"ftrl_update: n=an array of type float64: expected the type of weight, float32"),
    (lambda: nd.ftml_update(nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), nd.ones((2,)),
                            lr=0.1), r"ftml_update: t=\(missing\)"),
    (lambda: nd.ftml_update(nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), nd.ones((2,)),
                            lr=0.1, t=0), r"ftml_update: t=0: expected an update count >= 1"),
    (lambda: nd.ftml_update(nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), nd.ones((2,)),
                            lr=0.1, t=1, beta1=1.5), r"ftml_update: beta1=1.5\d*: expected a number in \[0, 1\]"),
    (lambda: nd.ftml_update(nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), nd.ones((2,)),
                            lr=0.1, t=1, clip_gradient=1.0),
     r"ftml_update: clip_gradient='1.0': expected an attribute of ftml_update"),
    (lambda: nd.signsgd_update(nd.ones((2,), dtype="int32"), nd.ones((2,), dtype="int32"), lr=0.1),
     r"signsgd_update: weight=an array of type int32: expected float32, float64 or float16"),
    (lambda: nd.signum_update(nd.ones((2,)), nd.ones((2,)), lr=0.1),
     r"signum_update: inputs=2 arrays: expected 3 \(weight, grad, mom\)"),
])
def test_bad_arguments_raise_naming_the_problem_before_a_push(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
