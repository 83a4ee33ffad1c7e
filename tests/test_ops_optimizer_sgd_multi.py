"""The mixed-precision SGD updates (mp_sgd_update, mp_sgd_mom_update, mp_nag_mom_update) and
the multi-weight ones (multi_*, preloaded_multi_*) against numpy versions of MXNet 1.9's
formulas, and each multi operator against the single-weight operator applied per weight."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd

rng = np.random.default_rng(5)


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


MP = {"mp_sgd_update": (np_sgd, 0, dict(lr=0.05, wd=0.1, rescale_grad=0.5, clip_gradient=0.3)),
      "mp_sgd_mom_update": (np_sgd_mom, 1, dict(lr=0.05, momentum=0.9, wd=0.1, rescale_grad=2.0,
                                                clip_gradient=0.4)),
      "mp_nag_mom_update": (np_nag_mom, 1, dict(lr=0.05, momentum=0.8, wd=0.1, rescale_grad=2.0,
                                                clip_gradient=0.4))}


@pytest.mark.parametrize("op", sorted(MP))
@pytest.mark.parametrize("shape", [(6, 3), (2, 131073)])
def test_mixed_precision_updates_step_the_float32_master_and_round_it_into_the_weight(op, shape):
    ref, n_states, settings = MP[op]
    master_np = rng.uniform(-1, 1, shape).astype(np.float32).astype(np.float64)
    states_np = [np.zeros(shape) for _ in range(n_states)]
    w = nd.array(master_np, dtype="float16")
    w32 = nd.array(master_np, dtype="float32")
    states = [nd.zeros(shape, dtype="float32") for _ in range(n_states)]
    for _ in range(4):
        g = nd.array(rng.uniform(-1, 1, shape), dtype="float16")
        master_np = ref(master_np, g.asnumpy().astype(np.float64), *states_np, **settings)
        assert nd.invoke(op, [w, g] + states + [w32], out=w, **settings) is w
    assert w.dtype == np.float16 and w32.dtype == np.float32
    np.testing.assert_allclose(w32.asnumpy(), master_np, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(w.asnumpy(), w32.asnumpy().astype(np.float16))
    for s, s_np in zip(states, states_np):
        np.testing.assert_allclose(s.asnumpy(), s_np, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", sorted(MP))
def test_mixed_precision_update_of_float32_weights_matches_numpy(op):
    ref, n_states, settings = MP[op]
    w_np = rng.uniform(-1, 1, (9,))
    states_np = [np.zeros(9) for _ in range(n_states)]
    w = nd.array(w_np, dtype="float32")
    w32 = nd.array(w_np, dtype="float32")
    states = [nd.zeros((9,), dtype="float32") for _ in range(n_states)]
    for _ in range(3):
        g = nd.array(rng.uniform(-1, 1, (9,)), dtype="float32")
        w_np = ref(w_np, g.asnumpy().astype(np.float64), *states_np, **settings)
        nd.invoke(op, [w, g] + states + [w32], out=w, **settings)
    np.testing.assert_allclose(w.asnumpy(), w_np, rtol=1e-5, atol=1e-6)


# multi op -> (single op, per-weight roles after weight and grad, preloaded, mixed)
MULTI = {
    "multi_sgd_update": ("sgd_update", 0, False, False),
    "multi_sgd_mom_update": ("sgd_mom_update", 1, False, False),
    "multi_mp_sgd_update": ("mp_sgd_update", 1, False, True),
    "multi_mp_sgd_mom_update": ("mp_sgd_mom_update", 2, False, True),
    "preloaded_multi_sgd_update": ("sgd_update", 0, True, False),
    "preloaded_multi_sgd_mom_update": ("sgd_mom_update", 1, True, False),
    "preloaded_multi_mp_sgd_update": ("mp_sgd_update", 1, True, True),
    "preloaded_multi_mp_sgd_mom_update": ("mp_sgd_mom_update", 2, True, True),
}
SHAPES = [(3, 4), (5,), (2, 2, 3)]


def make_group(shape, n_extra, mixed, dtype):
    w = rng.uniform(-1, 1, shape)
    arrays = [nd.array(w, dtype=dtype), nd.array(rng.uniform(-1, 1, shape), dtype=dtype)]
    state_type = "float32" if mixed else dtype
    arrays += [nd.array(rng.uniform(-0.1, 0.1, shape), dtype=state_type) for _ in range(n_extra - mixed)]
    if mixed:
        arrays.append(nd.array(arrays[0].asnumpy(), dtype="float32"))
    return arrays


def copies(group):
    return [a.copy() for a in group]


@pytest.mark.parametrize("op", sorted(MULTI))
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_multi_update_equals_the_single_update_applied_to_each_weight(op, dtype):
    single, n_states, preloaded, mixed = MULTI[op]
    if mixed and dtype == "float64":
        dtype = "float16"
    momentum = {"momentum": 0.9} if "mom" in op else {}
    # Binary fractions: preloaded float16 rates hold them exactly, as the attributes do.
    lrs, wds = [0.125, 0.0625, 0.25], [0.0, 0.015625, 0.125]
    groups = [make_group(s, n_states, mixed, dtype) for s in SHAPES]
    expected = [copies(g) for g in groups]
    for _ in range(3):
        flat = [a for g in groups for a in g]
        lists = {}
        if preloaded:
            lr_type = "float32" if mixed else dtype
            flat += [nd.array(lrs, dtype=lr_type), nd.array(wds, dtype=lr_type)]
        else:
            lists = dict(lrs=lrs, wds=wds)
        out = [g[0] for g in groups]
        result = nd.invoke(op, flat, out=out, num_weights=3, rescale_grad=0.5, clip_gradient=0.3,
                           **momentum, **lists)
        assert result is out
        for e, lr, wd in zip(expected, lrs, wds):
            nd.invoke(single, e, out=e[0], lr=lr, wd=wd, rescale_grad=0.5, clip_gradient=0.3, **momentum)
    for g, e in zip(groups, expected):
        for a, b in zip(g, e):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())


def test_multi_sgd_through_the_generated_function_takes_its_inputs_by_position():
    w1, w2 = nd.array([1.0, 2.0]), nd.array([[3.0]])
    g1, g2 = nd.array([1.0, 1.0]), nd.array([[2.0]])
    nd.multi_sgd_update(w1, g1, w2, g2, out=[w1, w2], lrs=(0.5, 0.25), wds=(0.0, 0.0), num_weights=2)
    np.testing.assert_allclose(w1.asnumpy(), [0.5, 1.5])
    np.testing.assert_allclose(w2.asnumpy(), [[2.5]])


def test_multi_sgd_without_out_returns_the_new_weights_and_leaves_them():
    w1, g1 = nd.array([1.0]), nd.array([1.0])
    w2, g2 = nd.array([2.0]), nd.array([4.0])
    new = nd.multi_sgd_update(w1, g1, w2, g2, lrs=(0.5, 0.5), wds=(0.0, 0.0), num_weights=2)
    assert isinstance(new, list) and len(new) == 2
    np.testing.assert_allclose([new[0].asnumpy()[0], new[1].asnumpy()[0]], [0.5, 0.0])
    np.testing.assert_allclose([w1.asnumpy()[0], w2.asnumpy()[0]], [1.0, 2.0])


def test_multi_states_are_written_arguments_named_per_weight():
    info = _native.op_info("multi_mp_sgd_mom_update", {"lrs": "(0.1, 0.1)", "wds": "(0, 0)", "num_weights": "2"})
    assert info["arguments"] == ["weight_0", "grad_0", "mom_0", "weight32_0",
                                 "weight_1", "grad_1", "mom_1", "weight32_1"]
    info = _native.op_info("preloaded_multi_sgd_update", {"num_weights": "2"})
    assert info["arguments"] == ["weight_0", "grad_0", "weight_1", "grad_1", "lrs", "wds"]
    assert _native.op_info("mp_sgd_mom_update", {"lr": "0.1"})["aux"] == ["mom", "weight32"]


def test_multi_update_orders_after_earlier_writes_of_its_states():
    # mom is written by the multi operator: a later read must see every update before it.
    w, g, mom = nd.zeros((1000,)), nd.ones((1000,)), nd.zeros((1000,))
    seen = []
    for _ in range(4):
        nd.multi_sgd_mom_update(w, g, mom, out=[w], lrs=(1.0,), wds=(0.0,), momentum=1.0, num_weights=1)
        seen.append(float(mom.asnumpy()[-1]))
    assert seen == [-1.0, -2.0, -3.0, -4.0]


F32 = "float32"
BAD = [
    (lambda: nd.multi_sgd_update(nd.ones((2,)), nd.ones((2,)), lrs=(0.1, 0.2), wds=(0.0,), num_weights=1),
     r"multi_sgd_update: lrs=a tuple of 2 values: expected 1 values, one per weight"),
    (lambda: nd.multi_sgd_update(nd.ones((2,)), nd.ones((2,)), lrs=(0.1,), wds=(0.0,), num_weights=0),
     r"multi_sgd_update: num_weights=0: expected an integer >= 1"),
    (lambda: nd.multi_sgd_update(nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), lrs=(0.1,), wds=(0.0,),
                                 num_weights=1),
     r"multi_sgd_update: inputs=3 arrays: expected 2 \(weight_0, grad_0\)"),
    (lambda: nd.multi_sgd_update(nd.ones((2,)), nd.ones((3,)), lrs=(0.1,), wds=(0.0,), num_weights=1),
     r"multi_sgd_update: grad_0=an array of shape \(3,\): expected the shape of weight_0, \(2,\)"),
    (lambda: nd.multi_sgd_update(nd.ones((2,)), nd.ones((2,)), nd.ones((2,), dtype="float64"),
                                 nd.ones((2,), dtype="float64"), lrs=(0.1, 0.1), wds=(0.0, 0.0), num_weights=2),
     r"multi_sgd_update: weight_1=an array of type float64: expected the type of weight_0, float32"),
    (lambda: nd.multi_mp_sgd_update(nd.ones((2,), dtype="float16"), nd.ones((2,), dtype="float16"),
                                    nd.ones((2,), dtype="float16"), lrs=(0.1,), wds=(0.0,), num_weights=1),
     r"multi_mp_sgd_update: weight32_0=an array of type float16: expected float32"),
    (lambda: nd.preloaded_multi_sgd_update(nd.ones((2,)), nd.ones((2,)), nd.ones((2,)), nd.ones((1,)),
                                           num_weights=1),
     r"preloaded_multi_sgd_update: lrs=an array of shape \(2,\): expected an array of 1 elements"),
    (lambda: nd.multi_sgd_update(nd.ones((2,)), nd.ones((2,)), lrs="fast", wds=(0.0,), num_weights=1),
     r"multi_sgd_update: lrs='fast': expected a tuple of numbers"),
    (lambda: nd.multi_sgd_update(nd.ones((2,)), nd.ones((2,)), lrs=(0.1,), wds=(0.0,), num_weights=1, lr=0.1),
     r"multi_sgd_update: lr='0.1': expected an attribute of multi_sgd_update"),
    (lambda: nd.mp_sgd_update(nd.ones((2,), dtype="float16"), nd.ones((2,), dtype="float16"),
                              nd.ones((2,), dtype="float16"), lr=0.1),
     r"mp_sgd_update: weight32=an array of type float16: expected float32"),
    (lambda: nd.mp_sgd_mom_update(nd.ones((2,), dtype="float16"), nd.ones((2,), dtype="float16"),
                                  nd.ones((3,)), nd.ones((2,)), lr=0.1),
     r"mp_sgd_mom_update: mom=an array of shape \(3,\): expected the shape of weight, \(2,\)"),
]


@pytest.mark.parametrize("call,match", BAD)
def test_bad_arguments_raise_naming_the_problem_before_a_push(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
