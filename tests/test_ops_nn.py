"""Neural-network operators: FullyConnected, Activation, LeakyReLU, softmax family,
SoftmaxActivation, the loss heads (SoftmaxOutput, regression outputs, MakeLoss), BlockGrad,
Dropout, dot and batch_dot. Forward against numpy, gradients against float64 finite
differences (op_check), loss-head gradients against MXNet's closed-form formulas."""
from __future__ import annotations

import math

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd
from op_check import _attrs, check_gradient, forward, info

rng = np.random.default_rng(42)


def randn(*shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def away_from_zero(*shape):
    """Values at least 0.1 from 0, so kinks (relu, leaky) stay out of finite differences."""
    x = rng.uniform(0.1, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    return x


def backward(op, inputs, head=None, req="write", initial=None, is_train=True, **attrs):
    """Runs the operator forward and pushes its backward; returns (outputs, input gradients)."""
    arrays = [nd.array(x, dtype=x.dtype) for x in inputs]
    meta = info(op, **attrs)
    if meta["needs_rng"]:
        _native.random_seed(7)
    outs = _native.invoke(op, [a._h for a in arrays], _attrs(attrs), [], is_train, True)
    outs = [nd.NDArray._wrap(h, None) for h in outs]
    n_vis = len(meta["outputs"])
    if head is None:
        head = [np.ones(o.shape) for o in outs[:n_vis]]
    heads = [nd.array(h, dtype=o.dtype) for h, o in zip(head, outs)]
    grads = [nd.array(np.zeros_like(x) if initial is None or initial[i] is None else initial[i], dtype=x.dtype)
             for i, x in enumerate(inputs[:len(meta["arguments"])])]
    reqs = req if isinstance(req, list) else [req] * len(grads)
    _native.invoke_backward(op, _attrs(attrs), [h._h for h in heads], [a._h for a in arrays],
                            [o._h for o in outs], [g._h for g in grads], reqs, is_train)
    return [o.asnumpy() for o in outs], [g.asnumpy() for g in grads]


def np_softmax(x, axis=-1, t=1.0):
    z = (x - x.max(axis=axis, keepdims=True)) / t
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


# ---- FullyConnected -----------------------------------------------------------------------

def fc_ref(x, w, b, flatten):
    x2 = x.reshape(x.shape[0], -1) if flatten else x
    y = x2 @ w.T
    return y if b is None else y + b


@pytest.mark.parametrize("dshape,nh,flatten", [((1, 5), 3, True), ((4, 2, 3), 2, True),
                                                ((4, 2, 3), 5, False), ((3, 1), 1, True),
                                                ((7,), 4, False), ((2, 1, 1, 3), 3, False)])
@pytest.mark.parametrize("no_bias", [False, True])
def test_fully_connected_forward(dshape, nh, flatten, no_bias):
    x = randn(*dshape, dtype=np.float32)
    k = int(np.prod(dshape[1:])) if flatten else dshape[-1]
    w = randn(nh, k, dtype=np.float32)
    b = None if no_bias else randn(nh, dtype=np.float32)
    ins = [x, w] if no_bias else [x, w, b]
    (y,) = forward("FullyConnected", ins, num_hidden=nh, no_bias=no_bias, flatten=flatten)
    np.testing.assert_allclose(y, fc_ref(x, w, b, flatten), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float16, 2e-2)])
def test_fully_connected_other_types(dtype, tol):
    x, w, b = randn(3, 4, dtype=dtype), randn(2, 4, dtype=dtype), randn(2, dtype=dtype)
    (y,) = forward("FullyConnected", [x, w, b], num_hidden=2)
    assert y.dtype == dtype
    ref = fc_ref(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), True)
    np.testing.assert_allclose(y, ref, rtol=tol, atol=tol)


def test_fully_connected_on_a_view_and_by_name():
    big = randn(6, 4, dtype=np.float32)
    w, b = randn(3, 4, dtype=np.float32), randn(3, dtype=np.float32)
    x = nd.array(big)[2:5]
    y = nd.FullyConnected(data=x, weight=nd.array(w), bias=nd.array(b), num_hidden=3)
    np.testing.assert_allclose(y.asnumpy(), big[2:5] @ w.T + b, rtol=1e-5, atol=1e-5)


def test_fully_connected_arguments_and_bias_column():
    assert info("FullyConnected", num_hidden=2)["arguments"] == ["data", "weight", "bias"]
    assert info("FullyConnected", num_hidden=2, no_bias=True)["arguments"] == ["data", "weight"]
    x, w, b = randn(2, 3), randn(4, 3), randn(4, 1)
    (y,) = forward("FullyConnected", [x, w, b], num_hidden="4", no_bias="False", flatten="True")
    np.testing.assert_allclose(y, x @ w.T + b[:, 0], rtol=1e-12)


@pytest.mark.parametrize("dshape,nh,flatten,no_bias", [((2, 3), 4, True, False), ((2, 2, 2), 3, True, False),
                                                       ((2, 2, 3), 2, False, False), ((1, 3), 2, True, True)])
def test_fully_connected_gradient(dshape, nh, flatten, no_bias):
    k = int(np.prod(dshape[1:])) if flatten else dshape[-1]
    ins = [randn(*dshape), randn(nh, k)] + ([] if no_bias else [randn(nh)])
    check_gradient("FullyConnected", ins, num_hidden=nh, flatten=flatten, no_bias=no_bias)


@pytest.mark.parametrize("call,match", [
    (lambda: nd.FullyConnected(nd.ones((2, 3)), nd.ones((4, 3)), nd.ones((4,)), num_hidden=0),
     r"FullyConnected: num_hidden=0: expected an integer >= 1"),
    (lambda: nd.FullyConnected(nd.ones((2, 3)), nd.ones((4, 3)), nd.ones((4,))),
     r"FullyConnected: num_hidden=\(missing\): expected an integer"),
    (lambda: nd.FullyConnected(nd.ones((2, 3)), nd.ones((4, 3)), nd.ones((4,)), num_hidden="four"),
     r"FullyConnected: num_hidden='four': expected an integer"),
    (lambda: nd.FullyConnected(nd.ones((2, 3)), nd.ones((4, 5)), nd.ones((4,)), num_hidden=4),
     r"FullyConnected: weight=shape \(4, 5\): expected shape \(4, 3\)"),
    (lambda: nd.FullyConnected(nd.ones((2, 3)), nd.ones((4, 3)), nd.ones((3,)), num_hidden=4),
     r"FullyConnected: bias=shape \(3,\): expected shape \(4,\)"),
    (lambda: nd.FullyConnected(nd.ones((2, 3)), nd.ones((4, 3)), num_hidden=4),
     r"FullyConnected: inputs=2 arrays: expected 3 \(data, weight, bias\)"),
    (lambda: nd.FullyConnected(nd.ones((2, 3)), nd.ones((4, 3)), nd.ones((4,)), num_hidden=4, flaten=True),
     r"FullyConnected: flaten='True': expected an attribute of FullyConnected"),
    (lambda: nd.FullyConnected(nd.ones((2, 3), dtype="int32"), nd.ones((4, 3), dtype="int32"),
                               nd.ones((4,), dtype="int32"), num_hidden=4),
     r"FullyConnected: data=an array of type int32: expected float32, float64 or float16"),
    (lambda: nd.FullyConnected(nd.ones((2, 3)), nd.ones((4, 3), dtype="float64"), nd.ones((4,)), num_hidden=4),
     r"FullyConnected: weight=an array of type float64: expected float32, the type of data"),
])
def test_fully_connected_bad_arguments(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()


# ---- Activation ---------------------------------------------------------------------------

ACTS = {
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "softrelu": lambda x: np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20)))),
    "softsign": lambda x: x / (1 + np.abs(x)),
}


@pytest.mark.parametrize("act", list(ACTS))
@pytest.mark.parametrize("shape", [(1,), (3, 4), (2, 1, 3)])
def test_activation_forward(act, shape):
    x = away_from_zero(*shape) * 3
    (y,) = forward("Activation", [x], act_type=act)
    np.testing.assert_allclose(y, ACTS[act](x), rtol=1e-12, atol=1e-12)
    (y32,) = forward("Activation", [x.astype(np.float32)], act_type=f"'{act}'")
    np.testing.assert_allclose(y32, ACTS[act](x), rtol=1e-5, atol=1e-6)


def test_activation_softrelu_large_inputs_and_float16():
    x = np.array([-30.0, 0.5, 25.0, 100.0])
    (y,) = forward("Activation", [x], act_type="softrelu")
    np.testing.assert_allclose(y, [np.log1p(np.exp(-30.0)), np.log1p(np.exp(0.5)), 25.0, 100.0])
    (y16,) = forward("Activation", [x.astype(np.float16)], act_type="tanh")
    assert y16.dtype == np.float16
    np.testing.assert_allclose(y16, np.tanh(x), rtol=1e-3)


@pytest.mark.parametrize("act", list(ACTS))
def test_activation_gradient(act):
    check_gradient("Activation", [away_from_zero(2, 3)], act_type=act)


@pytest.mark.parametrize("call,match", [
    (lambda: nd.Activation(nd.ones((2,)), act_type="swish"),
     r"Activation: act_type='swish': expected one of 'relu', 'sigmoid', 'softrelu', 'softsign', 'tanh'"),
    (lambda: nd.Activation(nd.ones((2,))), r"Activation: act_type=\(missing\): expected one of"),
    (lambda: nd.Activation(nd.ones((2,), dtype="int64"), act_type="relu"),
     r"Activation: data=an array of type int64: expected float32, float64 or float16"),
])
def test_activation_bad_arguments(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()


# ---- LeakyReLU ----------------------------------------------------------------------------

SELU_ALPHA, SELU_LAMBDA = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
ERF = np.vectorize(math.erf)
LEAKY = {
    "leaky": lambda x, s: np.where(x > 0, x, s * x),
    "elu": lambda x, s: np.where(x > 0, x, s * np.expm1(x)),
    "selu": lambda x, s: SELU_LAMBDA * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)),
    "gelu": lambda x, s: 0.5 * x * (1 + ERF(x / np.sqrt(2))),
}


@pytest.mark.parametrize("act", list(LEAKY))
@pytest.mark.parametrize("shape", [(5,), (2, 3, 2)])
def test_leaky_relu_forward(act, shape):
    x = away_from_zero(*shape)
    (y,) = forward("LeakyReLU", [x], act_type=act, slope=0.3)
    np.testing.assert_allclose(y, LEAKY[act](x, 0.3), rtol=1e-12, atol=1e-12)


def test_leaky_relu_defaults_to_leaky_with_slope_quarter():
    x = away_from_zero(3, 4)
    np.testing.assert_allclose(nd.LeakyReLU(nd.array(x, dtype="float64")).asnumpy(), LEAKY["leaky"](x, 0.25))


@pytest.mark.parametrize("act", list(LEAKY))
def test_leaky_relu_gradient(act):
    check_gradient("LeakyReLU", [away_from_zero(2, 3)], act_type=act, slope=0.3)


def prelu_ref(x, gamma):
    g = gamma.reshape((1, -1) + (1,) * (x.ndim - 2)) if gamma.size > 1 else gamma.reshape(())
    return np.where(x > 0, x, g * x)


@pytest.mark.parametrize("shape,gsize", [((2, 3), 3), ((2, 3, 2, 2), 3), ((2, 3, 4), 1), ((1, 1), 1)])
def test_prelu_forward_and_gradient(shape, gsize):
    x = away_from_zero(*shape)
    gamma = rng.uniform(0.1, 0.5, gsize)
    (y,) = forward("LeakyReLU", [x, gamma], act_type="prelu")
    np.testing.assert_allclose(y, prelu_ref(x, gamma), rtol=1e-12)
    grads = check_gradient("LeakyReLU", [x, gamma], act_type="prelu")
    assert grads[1].shape == (gsize,)


def test_prelu_arguments_and_bad_gamma():
    assert info("LeakyReLU", act_type="prelu")["arguments"] == ["data", "gamma"]
    assert info("LeakyReLU", act_type="elu")["arguments"] == ["data"]
    with pytest.raises(mx.MXNetError, match=r"LeakyReLU: gamma=an array of shape \(2,\): expected shape \(3,\)"):
        nd.LeakyReLU(nd.ones((2, 3)), nd.ones((2,)), act_type="prelu")


def test_rrelu_predict_uses_the_midpoint_and_training_random_slopes():
    x = away_from_zero(50, 40)
    (y,) = forward("LeakyReLU", [x], act_type="rrelu", lower_bound=0.1, upper_bound=0.3)
    np.testing.assert_allclose(y, np.where(x > 0, x, 0.2 * x), rtol=1e-12)
    assert info("LeakyReLU", act_type="rrelu")["outputs"] == ["output"]
    outs, grads = backward("LeakyReLU", [x], act_type="rrelu", lower_bound=0.1, upper_bound=0.3)
    y, mask = outs
    assert mask.shape == x.shape and 0.1 <= mask.min() and mask.max() < 0.3 and mask.std() > 0.03
    np.testing.assert_allclose(y, np.where(x > 0, x, mask * x), rtol=1e-12)
    np.testing.assert_allclose(grads[0], np.where(x > 0, 1.0, mask), rtol=1e-12)
    check_gradient("LeakyReLU", [away_from_zero(2, 3)], act_type="rrelu")


def test_leaky_relu_bad_arguments():
    with pytest.raises(mx.MXNetError, match=r"LeakyReLU: act_type='swish': expected one of 'elu', 'gelu'"):
        nd.LeakyReLU(nd.ones((2,)), act_type="swish")
    with pytest.raises(mx.MXNetError, match=r"LeakyReLU: slope='steep': expected a number"):
        nd.LeakyReLU(nd.ones((2,)), slope="steep")


# ---- softmax, log_softmax, softmin --------------------------------------------------------

@pytest.mark.parametrize("op", ["softmax", "log_softmax", "softmin"])
@pytest.mark.parametrize("shape,axis", [((3, 4), -1), ((2, 3, 4), 1), ((2, 3, 4), 0), ((1, 5), 1),
                                        ((4,), 0), ((2, 1, 3), 1)])
@pytest.mark.parametrize("temperature", [None, 0.5])
def test_softmax_family_forward(op, shape, axis, temperature):
    x = randn(*shape) * 3
    (y,) = forward(op, [x], axis=axis, temperature=temperature)
    t = temperature or 1.0
    p = np_softmax(-x if op == "softmin" else x, axis, t)
    np.testing.assert_allclose(y, np.log(p) if op == "log_softmax" else p, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "softmin"])
@pytest.mark.parametrize("shape,axis,temperature", [((2, 3), -1, None), ((2, 3, 2), 1, 2.0), ((3, 2), 0, None)])
def test_softmax_family_gradient(op, shape, axis, temperature):
    check_gradient(op, [randn(*shape)], axis=axis, temperature=temperature)


def test_softmax_dtype_and_float16():
    x = randn(3, 5, dtype=np.float16)
    (y,) = forward("softmax", [x], input_dtype="float32")
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, np_softmax(x.astype(np.float64)), rtol=1e-5, atol=1e-6)
    (y16,) = forward("softmax", [x])
    assert y16.dtype == np.float16
    np.testing.assert_allclose(y16, np_softmax(x.astype(np.float64)), rtol=2e-3, atol=1e-3)
    # The gradient goes back in the input's type.
    outs, grads = backward("softmax", [randn(2, 3, dtype=np.float32)], dtype="float64")
    assert outs[0].dtype == np.float64 and grads[0].dtype == np.float32


@pytest.mark.parametrize("op", ["softmax", "softmin"])
def test_float32_softmax_over_wide_rows(op):
    # Rows of float32 run in vector clones: 1003 covers full vectors of every width and a
    # remainder; entries far below the maximum underflow to 0.
    x = randn(4, 1003).astype(np.float32) * 4
    x[1, ::7] = -200 if op == "softmax" else 200
    (y,) = forward(op, [x], axis=-1)
    p = np_softmax(-x.astype(np.float64) if op == "softmin" else x.astype(np.float64), -1, 1.0)
    np.testing.assert_allclose(y, p, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(y.sum(axis=1), 1, rtol=1e-5)


def test_softmax_on_a_view():
    big = randn(5, 4, dtype=np.float32)
    y = nd.softmax(nd.array(big)[1:3], axis=1)
    np.testing.assert_allclose(y.asnumpy(), np_softmax(big[1:3]), rtol=1e-5)


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_use_length(op):
    x = randn(3, 4, 2)
    length = np.array([[1, 4], [2, 3], [4, 1]], dtype=np.int32)  # per (axis 0, axis 2) position
    assert info(op, use_length=True)["arguments"] == ["data", "length"]
    (y,) = forward(op, [x, length], axis=1, use_length=True)
    for i in range(3):
        for j in range(2):
            n = length[i, j]
            p = np_softmax(x[i, :n, j])
            np.testing.assert_allclose(y[i, :n, j], np.log(p) if op == "log_softmax" else p, rtol=1e-10)
            assert not y[i, n:, j].any()
    grads = check_gradient(op, [x, length], wrt=[0], axis=1, use_length=True)
    _, g = backward(op, [x, length.astype(np.int64)], axis=1, use_length=True)
    assert g[1].dtype == np.int64 and not g[1].any()
    assert grads[0].shape == x.shape


@pytest.mark.parametrize("call,match", [
    (lambda: nd.softmax(nd.ones((2, 3)), axis=2), r"softmax: axis=2: expected an axis in \[-2, 2\)"),
    (lambda: nd.log_softmax(nd.ones((2, 3)), dtype="int32"),
     r"log_softmax: dtype='int32': expected one of 'None', 'float16', 'float32', 'float64'"),
    (lambda: nd.softmax(nd.ones((2, 3)), temperature=0), r"softmax: temperature=0.000000: expected a finite"),
    (lambda: nd.softmax(nd.ones((2, 3)), nd.ones((2,)), use_length=True),
     r"softmax: length=an array of type float32: expected int32 or int64"),
    (lambda: nd.softmax(nd.ones((2, 3)), nd.ones((3,), dtype="int32"), use_length=True),
     r"softmax: length=shape \(3,\): expected shape \(2,\)"),
    (lambda: nd.softmax(nd.ones((2, 3), dtype="int32")), r"softmax: data=an array of type int32"),
])
def test_softmax_bad_arguments(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()


# ---- SoftmaxActivation --------------------------------------------------------------------

@pytest.mark.parametrize("mode,shape,axis", [("instance", (3, 4), -1), ("instance", (2, 3, 4), -1),
                                             ("channel", (2, 3, 2, 2), 1), ("channel", (1, 4, 3), 1)])
def test_softmax_activation(mode, shape, axis):
    x = randn(*shape)
    (y,) = forward("SoftmaxActivation", [x], mode=mode)
    np.testing.assert_allclose(y, np_softmax(x, axis), rtol=1e-12)
    check_gradient("SoftmaxActivation", [randn(*shape[:2], *[1] * (len(shape) - 2))], mode=mode)


def test_softmax_activation_channel_needs_three_dimensions():
    with pytest.raises(mx.MXNetError,
                       match=r"SoftmaxActivation: data=an array of shape \(2, 3\): expected at least 3 dim"):
        nd.SoftmaxActivation(nd.ones((2, 3)), mode="channel")
    with pytest.raises(mx.MXNetError, match=r"SoftmaxActivation: mode='batch': expected one of 'channel', 'instance'"):
        nd.SoftmaxActivation(nd.ones((2, 3)), mode="batch")


# ---- SoftmaxOutput ------------------------------------------------------------------------

def softmax_output_grad(out, label, grad_scale=1.0, ignore_label=-1.0, use_ignore=False,
                        normalization="null", multi_output=False, preserve_shape=False,
                        smooth_alpha=0.0, head=None):
    """MXNet 1.9's SoftmaxOutput backward, written from its definition."""
    if label.shape == out.shape:
        g = (out - label) * grad_scale
        return g * head if head is not None else g
    lab = label.reshape(-1).astype(np.int64)
    ign = int(ignore_label)
    valid = max(int(np.sum(lab != ign)), 1)
    if multi_output:
        n, k = out.shape[:2]
        o3 = out.reshape(n, k, -1)
        s = o3.shape[2]
        l2 = lab.reshape(n, s)
        g = o3.copy()
        for i in range(n):
            for j in range(s):
                if use_ignore and l2[i, j] == ign:
                    g[i, :, j] = 0
                elif 0 <= l2[i, j] < k:
                    g[i, l2[i, j], j] -= 1
        count = {"null": 1, "batch": n, "valid": valid}[normalization]
        g *= grad_scale / (1 if normalization == "valid" else s) / count
        g = g.reshape(out.shape)
    else:
        rows = out.reshape(-1, out.shape[-1]) if preserve_shape else out.reshape(out.shape[0], -1)
        r, k = rows.shape
        g = np.empty_like(rows)
        for i in range(r):
            target = np.full(k, smooth_alpha / (k - 1) if k > 1 else 0.0)
            if 0 <= lab[i] < k:
                target[lab[i]] = 1 - smooth_alpha
            g[i] = 0 if (use_ignore and lab[i] == ign) else rows[i] - target
        count = {"null": 1, "batch": lab.size, "valid": valid}[normalization]
        g = (g * grad_scale / count).reshape(out.shape)
    return g * head if head is not None else g


SOFTMAX_OUTPUT_CASES = [
    dict(),
    dict(grad_scale=0.5),
    dict(use_ignore=True, ignore_label=2),
    dict(normalization="batch", grad_scale=2.0),
    dict(normalization="valid", use_ignore=True, ignore_label=1),
    dict(normalization="valid", ignore_label=0),  # counts valid labels without use_ignore
    dict(smooth_alpha=0.2),
    dict(smooth_alpha=0.1, use_ignore=True, ignore_label=3, normalization="valid"),
]


@pytest.mark.parametrize("attrs", SOFTMAX_OUTPUT_CASES)
@pytest.mark.parametrize("batch", [1, 6])
def test_softmax_output_backward_matches_mxnet_formula(attrs, batch):
    x = randn(batch, 5)
    label = rng.integers(0, 5, batch).astype(np.float64)
    label[0] = attrs.get("ignore_label", 0)
    head = randn(batch, 5)  # ignored
    outs, grads = backward("SoftmaxOutput", [x, label], head=[head], **attrs)
    np.testing.assert_allclose(outs[0], np_softmax(x), rtol=1e-12)
    np.testing.assert_allclose(grads[0], softmax_output_grad(outs[0], label, **attrs), rtol=1e-10, atol=1e-14)
    assert not grads[1].any()


@pytest.mark.parametrize("attrs", [dict(), dict(normalization="batch"), dict(normalization="null", grad_scale=3.0),
                                   dict(normalization="valid", use_ignore=True, ignore_label=1)])
@pytest.mark.parametrize("lshape", ["flat", "spatial"])
def test_softmax_output_multi_output(attrs, lshape):
    x = randn(2, 4, 3, 2)
    label = rng.integers(0, 4, (2, 3, 2)).astype(np.float64)
    label[0, 0, 0] = 1
    if lshape == "flat":
        label = label.reshape(2, 6)
    outs, grads = backward("SoftmaxOutput", [x, label], multi_output=True, **attrs)
    np.testing.assert_allclose(outs[0], np_softmax(x, 1), rtol=1e-12)
    ref = softmax_output_grad(outs[0], label, multi_output=True, **attrs)
    np.testing.assert_allclose(grads[0], ref, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("attrs", [dict(), dict(smooth_alpha=0.1, use_ignore=True, ignore_label=3,
                                                 normalization="valid")])
def test_softmax_output_large_enough_to_split_across_cores(attrs):
    # 700 x 1000 is over the size at which the head's rows are split across idle cores.
    x = randn(700, 1000)
    label = rng.integers(0, 1000, 700).astype(np.float64)
    label[::7] = 3
    outs, grads = backward("SoftmaxOutput", [x, label], **attrs)
    np.testing.assert_allclose(outs[0], np_softmax(x), rtol=1e-12)
    np.testing.assert_allclose(grads[0], softmax_output_grad(outs[0], label, **attrs), rtol=1e-10,
                               atol=1e-14)
    xs = randn(300, 10, 100)
    out = mx.nd.SoftmaxOutput(mx.nd.array(xs, dtype="float64"), mx.nd.zeros((300, 100), dtype="float64"),
                              multi_output=True)
    np.testing.assert_allclose(out.asnumpy(), np_softmax(xs, 1), rtol=1e-12)


def test_softmax_output_default_layout_flattens_and_preserve_shape_uses_last_axis():
    x = randn(2, 3, 4)
    label = rng.integers(0, 4, (2, 3)).astype(np.float64)
    outs, grads = backward("SoftmaxOutput", [x, label], normalization="batch")
    np.testing.assert_allclose(outs[0], np_softmax(x.reshape(2, -1)).reshape(x.shape), rtol=1e-12)
    np.testing.assert_allclose(grads[0], softmax_output_grad(outs[0], label, normalization="batch"), rtol=1e-10)
    outs, grads = backward("SoftmaxOutput", [x, label], preserve_shape=True, normalization="valid",
                           use_ignore=True, ignore_label=2)
    np.testing.assert_allclose(outs[0], np_softmax(x, -1), rtol=1e-12)
    ref = softmax_output_grad(outs[0], label, preserve_shape=True, normalization="valid", use_ignore=True,
                              ignore_label=2)
    np.testing.assert_allclose(grads[0], ref, rtol=1e-10)


def test_softmax_output_probability_labels_out_grad_and_add():
    x = randn(3, 4)
    prob = np_softmax(randn(3, 4))
    head = randn(3, 4)
    outs, grads = backward("SoftmaxOutput", [x, prob], head=[head], grad_scale=2.0, normalization="batch")
    np.testing.assert_allclose(grads[0], (outs[0] - prob) * 2.0, rtol=1e-12)
    label = np.array([0.0, 3.0, 1.0])
    _, grads = backward("SoftmaxOutput", [x, label], head=[head], out_grad=True)
    np.testing.assert_allclose(grads[0], softmax_output_grad(np_softmax(x), label, head=head), rtol=1e-10)
    init = [np.ones((3, 4)), np.full(3, 5.0)]
    _, added = backward("SoftmaxOutput", [x, label], req="add", initial=init)
    np.testing.assert_allclose(added[0], 1 + softmax_output_grad(np_softmax(x), label), rtol=1e-10)
    np.testing.assert_array_equal(added[1], init[1])
    # The deprecated name is the same operator.
    np.testing.assert_allclose(nd.Softmax(nd.array(x), nd.array(label)).asnumpy(), np_softmax(x), rtol=1e-6)


@pytest.mark.parametrize("call,match", [
    (lambda: nd.SoftmaxOutput(nd.ones((2, 3)), nd.ones((3,))),
     r"SoftmaxOutput: label=shape \(3,\): expected shape \(2,\)"),
    (lambda: nd.SoftmaxOutput(nd.ones((2, 3, 4)), nd.ones((2, 5)), multi_output=True),
     r"SoftmaxOutput: label=an array of shape \(2, 5\): expected shape \(2, 4\) or \(2, 4\)"),
    (lambda: nd.SoftmaxOutput(nd.ones((2, 3)), nd.ones((2,)), normalization="all"),
     r"SoftmaxOutput: normalization='all': expected one of 'null', 'batch', 'valid'"),
    (lambda: nd.SoftmaxOutput(nd.ones((2, 3)), nd.ones((2,)), smooth_alpha=1.5),
     r"SoftmaxOutput: smooth_alpha=1.500000: expected a number in \[0, 1\]"),
    (lambda: nd.SoftmaxOutput(nd.ones((2, 3)), nd.ones((2,), dtype="int32")),
     r"SoftmaxOutput: label=an array of type int32: expected float32, the type of data"),
])
def test_softmax_output_bad_arguments(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()


# ---- Regression outputs -------------------------------------------------------------------

@pytest.mark.parametrize("op", ["LinearRegressionOutput", "LogisticRegressionOutput", "MAERegressionOutput"])
@pytest.mark.parametrize("dshape,lshape", [((4, 1), (4,)), ((3, 5), (3, 5)), ((1, 2, 3), (1, 6))])
@pytest.mark.parametrize("grad_scale", [1.0, 0.5])
def test_regression_outputs(op, dshape, lshape, grad_scale):
    x, label = randn(*dshape), randn(*lshape)
    head = randn(*dshape)  # ignored
    outs, grads = backward(op, [x, label], head=[head], grad_scale=grad_scale)
    y = 1 / (1 + np.exp(-x)) if op == "LogisticRegressionOutput" else x
    np.testing.assert_allclose(outs[0], y, rtol=1e-12)
    diff = y - label.reshape(dshape)
    d = np.where(diff > 0, 1.0, -1.0) if op == "MAERegressionOutput" else diff
    num_output = label.size / label.shape[0]
    np.testing.assert_allclose(grads[0], d * grad_scale / num_output, rtol=1e-12)
    assert not grads[1].any()
    _, added = backward(op, [x, label], req=["add", "null"], initial=[np.ones(dshape), None],
                        grad_scale=grad_scale)
    np.testing.assert_allclose(added[0], 1 + d * grad_scale / num_output, rtol=1e-12)


def test_regression_output_bad_label():
    with pytest.raises(mx.MXNetError,
                       match=r"LinearRegressionOutput: label=an array of shape \(3, 2\): expected a shape with"):
        nd.LinearRegressionOutput(nd.ones((2, 3)), nd.ones((3, 2)))
    with pytest.raises(mx.MXNetError, match=r"MAERegressionOutput: grad_scale='big': expected a number"):
        nd.MAERegressionOutput(nd.ones((2, 3)), nd.ones((2, 3)), grad_scale="big")


# ---- MakeLoss, make_loss, BlockGrad -------------------------------------------------------

@pytest.mark.parametrize("attrs,expected", [
    (dict(), lambda x: np.full(x.shape, 1.0)),
    (dict(grad_scale=3.0, normalization="batch"), lambda x: np.full(x.shape, 3.0 / x.shape[0])),
    (dict(normalization="valid", valid_thresh=0.5), lambda x: np.full(x.shape, 1.0 / max(np.sum(x > 0.5), 1))),
])
def test_make_loss(attrs, expected):
    x = randn(4, 3)
    outs, grads = backward("MakeLoss", [x], head=[randn(4, 3)], **attrs)
    np.testing.assert_array_equal(outs[0], x)
    np.testing.assert_allclose(grads[0], expected(x), rtol=1e-12)
    _, grads = backward("MakeLoss", [np.full((2, 2), -1.0)], normalization="valid")
    np.testing.assert_array_equal(grads[0], np.ones((2, 2)))  # no valid element: divided by 1


@pytest.mark.parametrize("op", ["BlockGrad", "stop_gradient"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_block_grad(op, dtype):
    x = (randn(3, 2) * 5).astype(dtype)
    outs, grads = backward(op, [x], head=[np.ones((3, 2), dtype=dtype)])
    np.testing.assert_array_equal(outs[0], x)
    assert grads[0].dtype == dtype and not grads[0].any()
    _, added = backward(op, [x], req="add", initial=[np.full((3, 2), 4, dtype=dtype)])
    np.testing.assert_array_equal(added[0], np.full((3, 2), 4, dtype=dtype))
    np.testing.assert_array_equal(getattr(nd, op)(nd.array(x, dtype=dtype)).asnumpy(), x)


def test_make_loss_lowercase_gradient_is_ones():
    outs, grads = backward("make_loss", [randn(2, 3)], head=[randn(2, 3)])
    np.testing.assert_array_equal(grads[0], np.ones((2, 3)))


# ---- Dropout ------------------------------------------------------------------------------

def dropout(x, seed, is_train=True, **attrs):
    _native.random_seed(seed)
    a = nd.array(x, dtype=x.dtype)
    outs = _native.invoke("Dropout", [a._h], _attrs(attrs), [], is_train, True)
    return [nd.NDArray._wrap(h, None).asnumpy() for h in outs]


def test_dropout_predict_mode_is_identity():
    x = randn(20, 30, dtype=np.float32)
    y, mask = dropout(x, 1, is_train=False, p=0.5)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(mask, np.ones_like(x))
    assert info("Dropout")["outputs"] == ["output"] and info("Dropout")["num_outputs"] == 2
    np.testing.assert_array_equal(nd.Dropout(nd.array(x), p=0.3).asnumpy(), x)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_training_drops_about_p_and_scales_the_rest(p):
    x = rng.uniform(1, 2, (100, 200)).astype(np.float32)
    y, mask = dropout(x, 3, p=p)
    dropped = np.mean(mask == 0)
    assert abs(dropped - p) < 0.02
    kept = mask != 0
    np.testing.assert_allclose(mask[kept], 1 / (1 - p), rtol=1e-6)
    np.testing.assert_allclose(y, x * mask, rtol=1e-6)
    assert not y[~kept].any()


def test_dropout_always_mode_applies_outside_training():
    x = np.ones((50, 50), dtype=np.float32)
    y, _ = dropout(x, 4, is_train=False, p=0.5, mode="always")
    assert 0.4 < np.mean(y == 0) < 0.6


def test_dropout_same_seed_same_mask():
    x = randn(30, 40, dtype=np.float32)
    a, b, c = dropout(x, 11, p=0.5), dropout(x, 11, p=0.5), dropout(x, 12, p=0.5)
    np.testing.assert_array_equal(a[1], b[1])
    assert (a[1] != c[1]).any()


def test_dropout_gradient_is_head_times_mask():
    x = randn(6, 5)
    head = randn(6, 5)
    outs, grads = backward("Dropout", [x], head=[head], p=0.4)
    np.testing.assert_allclose(grads[0], head * outs[1], rtol=1e-12)
    check_gradient("Dropout", [randn(3, 4)], p=0.5)
    _, grads = backward("Dropout", [x], head=[head], is_train=False, p=0.4)
    np.testing.assert_array_equal(grads[0], head)


def test_dropout_axes_share_the_mask():
    x = np.ones((4, 30, 5))
    y, mask = dropout(x, 5, p=0.5, axes=(1,))
    assert mask.shape == (4, 1, 5)
    np.testing.assert_allclose(y, np.broadcast_to(mask, x.shape))
    outs, grads = backward("Dropout", [randn(2, 3, 4)], head=[np.ones((2, 3, 4))], p=0.5, axes="(0, 2)")
    assert outs[1].shape == (1, 3, 1)
    np.testing.assert_allclose(grads[0], np.broadcast_to(outs[1], (2, 3, 4)))
    check_gradient("Dropout", [randn(2, 3, 2)], p=0.5, axes=(2,))


@pytest.mark.parametrize("call,match", [
    (lambda: nd.Dropout(nd.ones((2,)), p=1.0), r"Dropout: p=1.000000: expected a number in \[0, 1\)"),
    (lambda: nd.Dropout(nd.ones((2,)), p=-0.5), r"Dropout: p=-0.500000: expected a number in \[0, 1\)"),
    (lambda: nd.Dropout(nd.ones((2,)), mode="sometimes"), r"Dropout: mode='sometimes': expected one of"),
    (lambda: nd.Dropout(nd.ones((2, 3)), axes=(2,)), r"Dropout: axes=2: expected an axis in \[-2, 2\)"),
    (lambda: nd.Dropout(nd.ones((2,)), cudnn_off="maybe"), r"Dropout: cudnn_off='maybe': expected True or False"),
])
def test_dropout_bad_arguments(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
    nd.Dropout(nd.ones((2,)), cudnn_off=True, p=0.2).wait_to_read()


# ---- dot and batch_dot --------------------------------------------------------------------

def dot_ref(a, b, ta=False, tb=False):
    if a.ndim == 1 and b.ndim == 1:
        return np.array([a @ b])
    a2 = a.reshape(a.shape[0], -1).T if ta else a.reshape(-1, a.shape[-1])
    b2 = b.reshape(-1, b.shape[-1]).T if tb else b.reshape(b.shape[0], -1)
    la = (a.shape[1:] if ta else a.shape[:-1]) if a.ndim > 1 else ()
    lb = (b.shape[:-1] if tb else b.shape[1:]) if b.ndim > 1 else ()
    return (a2 @ b2).reshape(la + lb)


DOT_CASES = [((3, 4), (4, 5), False, False), ((4, 3), (4, 5), True, False), ((3, 4), (5, 4), False, True),
             ((4, 3), (5, 4), True, True), ((4,), (4,), False, False), ((2, 3, 4), (4, 5), False, False),
             ((4,), (4, 3), False, False), ((3, 4), (4,), False, False), ((2, 3, 4), (2, 3, 5), True, False),
             ((2, 3, 4), (5, 3, 4), False, True), ((1, 1), (1, 2), False, False)]


@pytest.mark.parametrize("ls,rs,ta,tb", DOT_CASES)
def test_dot_forward(ls, rs, ta, tb):
    a, b = randn(*ls, dtype=np.float32), randn(*rs, dtype=np.float32)
    (y,) = forward("dot", [a, b], transpose_a=ta, transpose_b=tb)
    np.testing.assert_allclose(y, dot_ref(a, b, ta, tb), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("ls,rs,ta,tb", [c for c in DOT_CASES if np.prod(c[0]) * np.prod(c[1]) <= 150])
def test_dot_gradient(ls, rs, ta, tb):
    check_gradient("dot", [randn(*ls), randn(*rs)], transpose_a=ta, transpose_b=tb)


def test_dot_types_and_views():
    a, b = randn(3, 4, dtype=np.float16), randn(4, 2, dtype=np.float16)
    (y,) = forward("dot", [a, b])
    assert y.dtype == np.float16
    np.testing.assert_allclose(y, a.astype(np.float64) @ b, rtol=1e-2, atol=1e-2)
    big = randn(6, 4, dtype=np.float32)
    y = nd.dot(nd.array(big)[1:4], nd.array(big)[2:6])
    np.testing.assert_allclose(y.asnumpy(), big[1:4] @ big[2:6], rtol=1e-5)


@pytest.mark.parametrize("ls,rs,ta,tb", [((2, 3, 4), (2, 4, 5), False, False), ((2, 4, 3), (2, 4, 5), True, False),
                                         ((2, 3, 4), (2, 5, 4), False, True), ((1, 4, 3), (1, 5, 4), True, True),
                                         ((2, 2, 3, 4), (2, 2, 4, 1), False, False)])
def test_batch_dot(ls, rs, ta, tb):
    a, b = randn(*ls), randn(*rs)
    (y,) = forward("batch_dot", [a, b], transpose_a=ta, transpose_b=tb)
    ref = np.matmul(np.swapaxes(a, -1, -2) if ta else a, np.swapaxes(b, -1, -2) if tb else b)
    np.testing.assert_allclose(y, ref, rtol=1e-12)
    small = [randn(*((1,) * (len(ls) - 3) + (2,) + ls[-2:])), randn(*((1,) * (len(rs) - 3) + (2,) + rs[-2:]))]
    check_gradient("batch_dot", small, transpose_a=ta, transpose_b=tb)


@pytest.mark.parametrize("call,match", [
    (lambda: nd.dot(nd.ones((2, 3)), nd.ones((4, 5))),
     r"dot: rhs=an array of shape \(4, 5\): expected a shape whose contracted axis matches lhs"),
    (lambda: nd.dot(nd.ones((3,)), nd.ones((3,)), transpose_a=True),
     r"dot: transpose_a=True: expected False for two vectors"),
    (lambda: nd.dot(nd.ones((2, 3)), nd.ones((3, 5)), forward_stype="csr"),
     r"dot: forward_stype='csr': expected one of 'None', 'default'"),
    (lambda: nd.batch_dot(nd.ones((2, 3)), nd.ones((3, 5))),
     r"batch_dot: lhs=an array of shape \(2, 3\): expected an array of at least 3 dimensions"),
    (lambda: nd.batch_dot(nd.ones((2, 3, 4)), nd.ones((3, 4, 5))),
     r"batch_dot: rhs=an array of shape \(3, 4, 5\): expected the batch axes of lhs"),
    (lambda: nd.batch_dot(nd.ones((2, 3, 4)), nd.ones((2, 3, 5))),
     r"batch_dot: rhs=an array of shape \(2, 3, 5\): expected a shape whose contracted axis"),
    (lambda: nd.dot(nd.ones((2, 3), dtype="int32"), nd.ones((3, 5), dtype="int32")),
     r"dot: lhs=an array of type int32: expected float32, float64 or float16"),
    (lambda: nd.dot(nd.ones((2, 3)), nd.ones((3, 5), dtype="float64")),
     r"dot: rhs=an array of type float64: expected float32, the type of lhs"),
])
def test_dot_bad_arguments(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()


# ---- Across operators ---------------------------------------------------------------------

def test_null_requests_leave_gradients_alone():
    x, w, b = randn(3, 4), randn(2, 4), randn(2)
    g = randn(3, 2)
    init = [np.full((3, 4), 7.0), np.zeros((2, 4)), np.full(2, 7.0)]
    _, grads = backward("FullyConnected", [x, w, b], head=[g], req=["null", "write", "null"], initial=init,
                        num_hidden=2)
    np.testing.assert_array_equal(grads[0], init[0])
    np.testing.assert_allclose(grads[1], g.T @ x, rtol=1e-12)
    np.testing.assert_array_equal(grads[2], init[2])
    xs, gamma = away_from_zero(2, 3), np.array([0.1, 0.2, 0.3])
    _, grads = backward("LeakyReLU", [xs, gamma], req=["null", "write"], initial=[np.full((2, 3), 7.0), None],
                        act_type="prelu")
    np.testing.assert_array_equal(grads[0], np.full((2, 3), 7.0))
    np.testing.assert_allclose(grads[1], np.where(xs > 0, 0, xs).sum(axis=0), rtol=1e-12)


@pytest.mark.parametrize("op,inputs,attrs,ref", [
    ("LeakyReLU", [np.array([[-1.0, 2.0]])], dict(act_type="gelu"), lambda x: LEAKY["gelu"](x, 0)),
    ("LeakyReLU", [np.array([[-1.0, 2.0]]), np.array([0.5])], dict(act_type="prelu"),
     lambda x, g: np.where(x > 0, x, 0.5 * x)),
    ("Dropout", [np.array([[-1.0, 2.0]])], dict(p=0.5), lambda x: x),
    ("SoftmaxOutput", [np.array([[-1.0, 2.0]]), np.array([1.0])], dict(), lambda x, l: np_softmax(x)),
    ("log_softmax", [np.array([[-1.0, 2.0]])], dict(), lambda x: np.log(np_softmax(x))),
    ("batch_dot", [np.ones((1, 2, 3)), np.ones((1, 3, 2))], dict(), lambda a, b: a @ b),
    ("LogisticRegressionOutput", [np.array([[-1.0, 2.0]]), np.zeros((1, 2))], dict(),
     lambda x, l: 1 / (1 + np.exp(-x))),
])
def test_float16(op, inputs, attrs, ref):
    (y,) = forward(op, [x.astype(np.float16) for x in inputs], **attrs)
    assert y.dtype == np.float16
    np.testing.assert_allclose(y, ref(*inputs), rtol=2e-3, atol=2e-3)
