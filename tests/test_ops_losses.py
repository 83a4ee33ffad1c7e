"""Losses: smooth_l1 against its formula and finite differences, SVMOutput's L1/L2-SVM
gradients against MXNet's closed forms, softmax_cross_entropy against numpy and finite
differences, and their error messages."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd
from op_check import _attrs, check_gradient, forward, info

rng = np.random.default_rng(31)


def smooth_l1_ref(x, sigma):
    s2 = sigma * sigma
    return np.where(np.abs(x) < 1 / s2, 0.5 * s2 * x * x, np.abs(x) - 0.5 / s2)


def backward(op, inputs, head=None, req="write", initial=None, **attrs):
    """Forward in training mode, then backward; returns (outputs, input gradients)."""
    arrays = [nd.array(x, dtype=x.dtype) for x in inputs]
    outs = _native.invoke(op, [a._h for a in arrays], _attrs(attrs), [], True, True)
    outs = [nd.NDArray._wrap(h, None) for h in outs]
    if head is None:
        head = np.ones(outs[0].shape)
    heads = [nd.array(head, dtype=inputs[0].dtype)]
    grads = [nd.array(np.zeros_like(x) if initial is None else initial[i], dtype=x.dtype)
             for i, x in enumerate(inputs)]
    reqs = req if isinstance(req, list) else [req] * len(grads)
    _native.invoke_backward(op, _attrs(attrs), [h._h for h in heads], [a._h for a in arrays],
                            [o._h for o in outs], [g._h for g in grads], reqs, True)
    return [o.asnumpy() for o in outs], [g.asnumpy() for g in grads]


# ---- smooth_l1 ---------------------------------------------------------------------------------

@pytest.mark.parametrize("sigma", [1.0, 2.0, 0.5])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_smooth_l1_forward(sigma, dtype):
    x = rng.uniform(-4, 4, (3, 5)).astype(dtype)
    got = nd.smooth_l1(nd.array(x, dtype=dtype), scalar=sigma)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got.asnumpy(), smooth_l1_ref(x.astype(np.float64), sigma), rtol=1e-6)


def test_smooth_l1_default_sigma_is_one():
    np.testing.assert_allclose(nd.smooth_l1(nd.array([1.0, 2.0, 3.0, 4.0])).asnumpy(), [0.5, 1.5, 2.5, 3.5])


@pytest.mark.parametrize("sigma", [1.0, 3.0])
def test_smooth_l1_gradient(sigma):
    x = rng.uniform(-2, 2, (3, 4))
    x[np.abs(np.abs(x) - 1 / sigma ** 2) < 0.02] = 0.05  # away from the kink
    check_gradient("smooth_l1", [x], scalar=sigma)


# ---- SVMOutput ---------------------------------------------------------------------------------

def svm_grad_ref(x, label, margin, reg, linear):
    rows = x.reshape(-1, x.shape[-1])
    lab = label.reshape(-1).astype(int)
    g = np.zeros_like(rows)
    for r in range(rows.shape[0]):
        for c in range(rows.shape[1]):
            s = rows[r, c]
            if c == lab[r]:
                g[r, c] = -reg * (margin > s) if linear else -2 * reg * max(margin - s, 0)
            else:
                g[r, c] = reg * (margin > -s) if linear else 2 * reg * max(margin + s, 0)
    return g.reshape(x.shape)


@pytest.mark.parametrize("linear", [False, True])
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4)])
def test_svm_output_gradient_matches_mxnet_formula(linear, shape):
    x = rng.uniform(-2, 2, shape)
    label = rng.integers(0, shape[-1], shape[:-1]).astype(np.float64)
    outs, grads = backward("SVMOutput", [x, label], head=rng.standard_normal(shape), margin=0.8,
                           regularization_coefficient=0.7, use_linear=linear)
    np.testing.assert_array_equal(outs[0], x)
    np.testing.assert_allclose(grads[0], svm_grad_ref(x, label, 0.8, 0.7, linear), rtol=1e-12)
    np.testing.assert_array_equal(grads[1], np.zeros(shape[:-1]))


def test_svm_output_adds_under_grad_req_add_and_defaults():
    x = rng.uniform(-2, 2, (3, 4))
    label = np.array([0.0, 3.0, 1.0])
    _, grads = backward("SVMOutput", [x, label], req=["add", "null"], initial=[np.ones((3, 4)), np.full(3, 5.0)])
    np.testing.assert_allclose(grads[0], 1 + svm_grad_ref(x, label, 1.0, 1.0, False), rtol=1e-12)
    np.testing.assert_array_equal(grads[1], np.full(3, 5.0))
    meta = info("SVMOutput")
    assert meta["arguments"] == ["data", "label"] and meta["outputs"] == ["output"]


def test_svm_output_infers_the_label_shape():
    sym = mx.sym.SVMOutput(mx.sym.Variable("data"), name="svm")
    args, outs, _ = sym.infer_shape(data=(6, 10))
    assert sym.list_arguments() == ["data", "svm_label"]
    assert args == [(6, 10), (6,)] and outs == [(6, 10)]


# ---- softmax_cross_entropy ---------------------------------------------------------------------

def np_softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_cross_entropy_forward(dtype):
    x = rng.uniform(-3, 3, (5, 4)).astype(dtype)
    label = rng.integers(0, 4, 5).astype(dtype)
    (y,) = forward("softmax_cross_entropy", [x, label])
    assert y.shape == (1,) and y.dtype == np.dtype(dtype)
    p = np_softmax(x.astype(np.float64))
    np.testing.assert_allclose(y, [-np.log(p[np.arange(5), label.astype(int)]).sum()], rtol=1e-6)


def test_softmax_cross_entropy_mxnet_example():
    x = nd.array([[1, 2, 3], [11, 7, 5]])
    np.testing.assert_allclose(nd.softmax_cross_entropy(x, nd.array([2, 0])).asnumpy(), [0.4281871], rtol=1e-6)


def test_softmax_cross_entropy_gradient():
    x = rng.uniform(-2, 2, (3, 4))
    label = np.array([1.0, 0.0, 3.0])
    check_gradient("softmax_cross_entropy", [x, label], wrt=[0])
    _, g = backward("softmax_cross_entropy", [x, label], head=np.array([2.0]))
    onehot = np.eye(4)[label.astype(int)]
    np.testing.assert_allclose(g[0], 2 * (np_softmax(x) - onehot), rtol=1e-12)


def test_softmax_cross_entropy_label_outside_the_classes_fails_when_read():
    y = nd.softmax_cross_entropy(nd.ones((2, 3)), nd.array([0, 3]))
    with pytest.raises(mx.MXNetError, match=r"softmax_cross_entropy: label 3.* outside \[0, 3\)"):
        y.asnumpy()


# ---- Errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("call,match", [
    (lambda: nd.smooth_l1(nd.ones((2,)), scalar="wide"), r"smooth_l1: scalar='wide': expected a number"),
    (lambda: nd.smooth_l1(nd.ones((2,)), scalar=0), r"smooth_l1: scalar=0: expected a nonzero sigma"),
    (lambda: nd.smooth_l1(nd.array([1, 2], dtype="int32")),
     r"smooth_l1: data=an array of type int32: expected float32, float64 or float16"),
    (lambda: nd.SVMOutput(nd.ones((4,)), nd.ones(())),
     r"SVMOutput: data=an array of shape \(4,\): expected at least 2 dimensions"),
    (lambda: nd.SVMOutput(nd.ones((4, 3)), nd.ones((3,))), r"SVMOutput: label=shape \(3,\): expected shape \(4,\)"),
    (lambda: nd.SVMOutput(nd.ones((4, 3)), nd.ones((4,)), margin="x"), r"SVMOutput: margin='x': expected a number"),
    (lambda: nd.SVMOutput(nd.ones((4, 3)), nd.ones((4,)), use_linear="maybe"),
     r"SVMOutput: use_linear='maybe': expected True or False"),
    (lambda: nd.softmax_cross_entropy(nd.ones((2, 3, 1)), nd.ones((2,))),
     r"softmax_cross_entropy: data=an array of shape \(2, 3, 1\): expected 2 dimensions"),
    (lambda: nd.softmax_cross_entropy(nd.ones((2, 3)), nd.ones((3,))),
     r"softmax_cross_entropy: label=shape \(3,\): expected shape \(2,\)"),
    (lambda: nd.softmax_cross_entropy(nd.ones((2, 3)), nd.ones((2,), dtype="float64")),
     r"softmax_cross_entropy: label=an array of type float64: expected float32, the type of data"),
])
def test_bad_arguments_raise_naming_the_problem(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()


def test_loss_operators_in_a_symbol_graph():
    data, label = mx.sym.Variable("data"), mx.sym.Variable("label")
    loss = mx.sym.MakeLoss(mx.sym.sum(mx.sym.smooth_l1(data - label, scalar=1.0)))
    ex = loss.simple_bind(mx.cpu(), data=(2, 3), label=(2, 3))
    x, t = rng.uniform(-2, 2, (2, 3)), rng.uniform(-2, 2, (2, 3))
    ex.arg_dict["data"][:] = x
    ex.arg_dict["label"][:] = t
    (out,) = ex.forward(is_train=True)
    np.testing.assert_allclose(out.asnumpy(), smooth_l1_ref(x - t, 1.0).sum(), rtol=1e-5)
    ex.backward()
    d = x - t
    np.testing.assert_allclose(ex.grad_dict["data"].asnumpy(), np.where(np.abs(d) < 1, d, np.sign(d)), rtol=1e-5)
