"""Normalization operators: LRN, InstanceNorm, L2Normalization, LayerNorm and GroupNorm against
numpy, their gradients against float64 finite differences, shape inference both ways, the
error messages, and AlexNet from MXNet's image-classification symbol zoo (with LRN) binding
and running forward and backward."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd
from op_check import check_gradient, forward, info

rng = np.random.default_rng(21)


def randn(*shape):
    return rng.standard_normal(shape)


# ---- References ------------------------------------------------------------------------------

def lrn_ref(x, nsize, alpha=1e-4, beta=0.75, knorm=2.0):
    c = x.shape[1]
    half = nsize // 2
    sq = x ** 2
    s = np.zeros_like(x)
    for k in range(c):
        s[:, k] = sq[:, max(0, k - half):min(c, k + half + 1)].sum(axis=1)
    return x * (knorm + alpha / nsize * s) ** -beta


def moments_ref(x, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return mean, var, (x - mean) / np.sqrt(var + eps)


def instance_norm_ref(x, gamma, beta, eps=1e-3):
    axes = tuple(range(2, x.ndim))
    _, _, xhat = moments_ref(x, axes, eps)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return xhat * gamma.reshape(shape) + beta.reshape(shape)


def layer_norm_ref(x, gamma, beta, axis=-1, eps=1e-5):
    mean, var, xhat = moments_ref(x, axis, eps)
    shape = [1] * x.ndim
    shape[axis] = -1
    return xhat * gamma.reshape(shape) + beta.reshape(shape), mean, np.sqrt(var + eps)


def group_norm_ref(x, gamma, beta, groups, eps=1e-5):
    n, c = x.shape[:2]
    g = x.reshape((n, groups, -1))
    mean, var, xhat = moments_ref(g, 2, eps)
    y = xhat * gamma.reshape(1, -1, 1) + beta.reshape(1, -1, 1)
    return y.reshape(x.shape), mean.reshape(n, groups), np.sqrt(var + eps).reshape(n, groups)


def l2_ref(x, mode, eps=1e-10):
    if mode == "instance":
        axes = tuple(range(1, x.ndim))
    elif mode == "channel":
        axes = (1,)
    else:
        axes = tuple(range(2, x.ndim))
    return x / np.sqrt((x ** 2).sum(axis=axes, keepdims=True) + eps)


# ---- LRN ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,nsize", [((2, 5, 3, 4), 3), ((1, 7, 2, 2), 5), ((2, 3, 1, 1), 5), ((1, 1, 2, 3), 1)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lrn_forward(shape, nsize, dtype):
    x = randn(*shape).astype(dtype)
    (y,) = forward("LRN", [x], nsize=nsize, alpha=0.5, beta=0.6, knorm=1.5)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_allclose(y, lrn_ref(x.astype(np.float64), nsize, 0.5, 0.6, 1.5), rtol=1e-5)


def test_lrn_defaults_are_mxnet_s():
    x = randn(1, 6, 2, 2) * 30
    (y,) = forward("LRN", [x], nsize=5)
    np.testing.assert_allclose(y, lrn_ref(x, 5), rtol=1e-12)
    meta = info("LRN", nsize=5)
    assert meta["arguments"] == ["data"] and meta["outputs"] == ["output"]


@pytest.mark.parametrize("nsize", [1, 3, 5])
def test_lrn_gradient(nsize):
    check_gradient("LRN", [randn(2, 6, 2, 3)], nsize=nsize, alpha=0.7, beta=0.75, knorm=1.0)


# ---- InstanceNorm ------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(2, 3, 4), (2, 3, 4, 5), (1, 2, 1, 3, 2)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_instance_norm_forward(shape, dtype):
    x = randn(*shape).astype(dtype)
    gamma, beta = randn(shape[1]).astype(dtype), randn(shape[1]).astype(dtype)
    (y,) = forward("InstanceNorm", [x, gamma, beta], eps=1e-3)
    assert y.dtype == np.dtype(dtype)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(y, instance_norm_ref(x.astype(np.float64), gamma, beta), rtol=tol, atol=tol)


@pytest.mark.parametrize("shape", [(2, 3, 4), (1, 2, 2, 3)])
def test_instance_norm_gradient(shape):
    check_gradient("InstanceNorm", [randn(*shape), randn(shape[1]), randn(shape[1])])


def test_instance_norm_infers_parameter_shapes():
    sym = mx.sym.InstanceNorm(mx.sym.Variable("data"), name="in")
    args, outs, _ = sym.infer_shape(data=(2, 3, 5))
    assert args == [(2, 3, 5), (3,), (3,)] and outs == [(2, 3, 5)]
    assert sym.list_arguments() == ["data", "in_gamma", "in_beta"]


# ---- L2Normalization ---------------------------------------------------------------------------

@pytest.mark.parametrize("mode,shape", [("instance", (3, 4)), ("instance", (2, 3, 4)), ("instance", (4,)),
                                        ("channel", (2, 3, 4)), ("channel", (2, 3, 2, 2)),
                                        ("spatial", (2, 3, 4)), ("spatial", (2, 3, 2, 2))])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_l2_normalization_forward(mode, shape, dtype):
    x = randn(*shape).astype(dtype)
    (y,) = forward("L2Normalization", [x], mode=mode, eps=1e-4)
    np.testing.assert_allclose(y, l2_ref(x.astype(np.float64), mode, 1e-4), rtol=1e-5 if dtype == "float32" else 1e-12)


def test_l2_normalization_defaults_to_instance_mode():
    x = randn(2, 3, 4)
    (y,) = forward("L2Normalization", [x])
    np.testing.assert_allclose(y, l2_ref(x, "instance"), rtol=1e-12)


@pytest.mark.parametrize("mode,shape", [("instance", (2, 3)), ("channel", (2, 3, 2)), ("spatial", (2, 2, 3))])
def test_l2_normalization_gradient(mode, shape):
    check_gradient("L2Normalization", [randn(*shape)], mode=mode)


# ---- LayerNorm ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,axis", [((3, 5), -1), ((2, 3, 4), -1), ((2, 3, 4), 1), ((2, 3, 4), 0), ((6,), 0)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_layer_norm_forward(shape, axis, dtype):
    x = randn(*shape).astype(dtype)
    c = shape[axis]
    gamma, beta = randn(c).astype(dtype), randn(c).astype(dtype)
    y, mean, std = forward("LayerNorm", [x, gamma, beta], axis=axis, eps=1e-3, output_mean_var=True)
    ry, rmean, rstd = layer_norm_ref(x.astype(np.float64), gamma, beta, axis, 1e-3)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(y, ry, rtol=tol, atol=tol)
    np.testing.assert_allclose(mean, rmean, rtol=tol, atol=tol)
    np.testing.assert_allclose(std, rstd, rtol=tol, atol=tol)


def test_layer_norm_defaults_last_axis_and_one_output():
    x, g, b = randn(2, 4), randn(4), randn(4)
    outs = forward("LayerNorm", [x, g, b])
    assert len(outs) == 1
    np.testing.assert_allclose(outs[0], layer_norm_ref(x, g, b)[0], rtol=1e-12)
    assert info("LayerNorm", output_mean_var=True)["outputs"] == ["output", "mean", "std"]


@pytest.mark.parametrize("shape,axis", [((3, 4), -1), ((2, 3, 2), 1), ((2, 3, 2), 0)])
def test_layer_norm_gradient(shape, axis):
    c = shape[axis]
    check_gradient("LayerNorm", [randn(*shape), randn(c), randn(c)], axis=axis)


def test_layer_norm_shape_inference_both_ways():
    sym = mx.sym.LayerNorm(mx.sym.Variable("data"), axis=1, name="ln")
    args, outs, _ = sym.infer_shape(data=(2, 5, 3))
    assert args == [(2, 5, 3), (5,), (5,)] and outs == [(2, 5, 3)]
    sym = mx.sym.LayerNorm(mx.sym.Variable("data"), output_mean_var=True)
    _, outs, _ = sym.infer_shape(data=(2, 5, 3))
    assert outs == [(2, 5, 3), (2, 5, 1), (2, 5, 1)]
    # the channel count from gamma when the data leaves it open
    sym = mx.sym.LayerNorm(mx.sym.Variable("data"), name="ln")
    args, _, _ = sym.infer_shape_partial(data=(2, 0), ln_gamma=(7,))
    assert args[0] == (2, 7) and args[2] == (7,)


# ---- GroupNorm ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,groups", [((2, 4, 3), 2), ((2, 6, 2, 2), 3), ((1, 4, 3, 1), 1), ((2, 4, 2), 4)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_group_norm_forward(shape, groups, dtype):
    x = randn(*shape).astype(dtype)
    gamma, beta = randn(groups).astype(dtype), randn(groups).astype(dtype)
    y, mean, std = forward("GroupNorm", [x, gamma, beta], num_groups=groups, output_mean_var=True)
    ry, rmean, rstd = group_norm_ref(x.astype(np.float64), gamma, beta, groups)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(y, ry, rtol=tol, atol=tol)
    np.testing.assert_allclose(mean, rmean, rtol=tol, atol=tol)
    np.testing.assert_allclose(std, rstd, rtol=tol, atol=tol)


@pytest.mark.parametrize("shape,groups", [((2, 4, 3), 2), ((1, 3, 2, 2), 3)])
def test_group_norm_gradient(shape, groups):
    check_gradient("GroupNorm", [randn(*shape), randn(groups), randn(groups)], num_groups=groups)


def test_group_norm_parameters_are_per_group():
    sym = mx.sym.GroupNorm(mx.sym.Variable("data"), num_groups=2, name="gn")
    args, outs, _ = sym.infer_shape(data=(3, 8, 5))
    assert args == [(3, 8, 5), (2,), (2,)] and outs == [(3, 8, 5)]


# ---- Gradient requests -------------------------------------------------------------------------

@pytest.mark.parametrize("op,inputs,attrs", [
    ("LRN", [(2, 3, 2, 2)], {"nsize": 3}),
    ("L2Normalization", [(2, 3, 2)], {"mode": "channel"}),
    ("InstanceNorm", [(2, 3, 2), (3,), (3,)], {}),
    ("LayerNorm", [(2, 3), (3,), (3,)], {}),
    ("GroupNorm", [(2, 4, 2), (2,), (2,)], {"num_groups": 2}),
])
def test_null_requests_leave_gradients_alone(op, inputs, attrs):
    from flowmod import _native
    from op_check import _attrs
    arrays = [nd.array(randn(*s), dtype="float64") for s in inputs]
    outs = _native.invoke(op, [a._h for a in arrays], _attrs(attrs), [], True, True)
    head = nd.array(randn(*inputs[0]), dtype="float64")
    grads = [nd.array(np.full(s, 3.0), dtype="float64") for s in inputs]
    _native.invoke_backward(op, _attrs(attrs), [head._h], [a._h for a in arrays], outs,
                            [g._h for g in grads], ["null"] * len(inputs), True)
    for g, s in zip(grads, inputs):
        np.testing.assert_array_equal(g.asnumpy(), np.full(s, 3.0))


# ---- float32 gradients of the row kernels -----------------------------------------------------

def moments_grad_ref(x, gamma, dy, groups_of, params_of, eps):
    """dx, dgamma, dbeta of y = xhat * gamma[p] + beta[p] in float64, the statistics of each
    row of groups_of(x) (2-D: rows, k); params_of maps an (rows, k) array to the per-element
    parameter index array."""
    xr, dyr = groups_of(x), groups_of(dy)
    p = params_of(xr.shape)
    mean = xr.mean(axis=1, keepdims=True)
    inv = 1 / np.sqrt(xr.var(axis=1, keepdims=True) + eps)
    xhat = (xr - mean) * inv
    dxhat = dyr * gamma[p]
    dx = (dxhat - dxhat.mean(axis=1, keepdims=True) - xhat * (dxhat * xhat).mean(axis=1, keepdims=True)) * inv
    dgamma = np.bincount(p.ravel(), (dyr * xhat).ravel(), minlength=gamma.size)
    dbeta = np.bincount(p.ravel(), dyr.ravel(), minlength=gamma.size)
    return dx.reshape(x.shape), dgamma, dbeta


@pytest.mark.parametrize("req", ["write", "add"])
@pytest.mark.parametrize("op,shape,attrs", [
    ("LayerNorm", (7, 37), {}),              # one part, a tail after the 8-wide lanes
    ("LayerNorm", (300, 1024), {}),          # large enough to split across the cores
    ("GroupNorm", (6, 4, 9), {"num_groups": 2}),
    ("InstanceNorm", (160, 16, 64), {}),     # per-row parameters, split across the cores
])
def test_float32_row_kernel_gradients_match_float64_reference(op, shape, attrs, req):
    from flowmod import _native
    from op_check import _attrs
    x = randn(*shape) * 2 + 0.5
    dy = randn(*shape)
    if op == "LayerNorm":
        c, eps = shape[-1], 1e-5
        groups_of = lambda a: a.reshape(-1, shape[-1])
        params_of = lambda s: np.broadcast_to(np.arange(s[1]), s)
    elif op == "GroupNorm":
        c, eps = attrs["num_groups"], 1e-5
        groups_of = lambda a: a.reshape(-1, a.size // (shape[0] * c))
        params_of = lambda s: np.broadcast_to((np.arange(s[0]) % c)[:, None], s)
    else:
        c, eps = shape[1], 1e-3
        groups_of = lambda a: a.reshape(-1, a.size // (shape[0] * c))
        params_of = lambda s: np.broadcast_to((np.arange(s[0]) % c)[:, None], s)
    gamma, beta = randn(c), randn(c)
    ref = moments_grad_ref(x, gamma, dy, groups_of, params_of, eps)
    arrays = [nd.array(a, dtype="float32") for a in (x, gamma, beta)]
    outs = _native.invoke(op, [a._h for a in arrays], _attrs(attrs), [], True, True)
    head = nd.array(dy, dtype="float32")
    start = [np.full(a.shape, 0.25 if req == "add" else 0.0) for a in (x, gamma, beta)]
    grads = [nd.array(a, dtype="float32") for a in start]
    _native.invoke_backward(op, _attrs(attrs), [head._h], [a._h for a in arrays], outs,
                            [g._h for g in grads], [req] * 3, True)
    for got, want, base in zip(grads, ref, start):
        scale = np.abs(want).max()
        np.testing.assert_allclose(got.asnumpy() - base, want, rtol=1e-4, atol=1e-5 * scale)


# ---- Errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("call,match", [
    (lambda: nd.LRN(nd.ones((1, 3, 2, 2))), r"LRN: nsize=\(missing\): expected an integer"),
    (lambda: nd.LRN(nd.ones((1, 3, 2, 2)), nsize=4), r"LRN: nsize=4: expected an odd window width >= 1"),
    (lambda: nd.LRN(nd.ones((3, 2, 2)), nsize=3),
     r"LRN: data=an array of shape \(3, 2, 2\): expected 4 dimensions \(batch, channel, height, width\)"),
    (lambda: nd.LRN(nd.ones((1, 3, 2, 2)), nsize=3, size=3), r"LRN: size='3': expected an attribute of LRN"),
    (lambda: nd.InstanceNorm(nd.ones((2, 3)), nd.ones((3,)), nd.ones((3,))),
     r"InstanceNorm: data=an array of shape \(2, 3\): expected at least 3 dimensions"),
    (lambda: nd.InstanceNorm(nd.ones((2, 3, 4)), nd.ones((4,)), nd.ones((3,))),
     r"InstanceNorm: gamma=shape \(4,\): expected shape \(3,\)"),
    (lambda: nd.L2Normalization(nd.ones((2, 3)), mode="channel"),
     r"L2Normalization: data=an array of shape \(2, 3\): expected at least 3 dimensions in mode='channel'"),
    (lambda: nd.L2Normalization(nd.ones((2, 3)), mode="batch"),
     r"L2Normalization: mode='batch': expected one of 'channel', 'instance', 'spatial'"),
    (lambda: nd.LayerNorm(nd.ones((2, 3)), nd.ones((3,)), nd.ones((3,)), axis=2),
     r"LayerNorm: axis=2: expected an axis in \[-2, 2\)"),
    (lambda: nd.LayerNorm(nd.ones((2, 3)), nd.ones((2,)), nd.ones((2,))),
     r"LayerNorm: gamma=shape \(2,\): expected shape \(3,\)"),
    (lambda: nd.LayerNorm(nd.ones((2, 3)), nd.ones((3,)), nd.ones((3,)), eps=-1),
     r"LayerNorm: eps=-1: expected a number >= 0"),
    (lambda: nd.GroupNorm(nd.ones((2, 5, 3)), nd.ones((2,)), nd.ones((2,)), num_groups=2),
     r"GroupNorm: data=an array of shape \(2, 5, 3\): expected 5 channels divisible by num_groups=2"),
    (lambda: nd.GroupNorm(nd.ones((2, 4, 3)), nd.ones((2,)), nd.ones((2,)), num_groups=0),
     r"GroupNorm: num_groups=0: expected an integer >= 1"),
    (lambda: nd.LayerNorm(nd.ones((2, 3)), nd.ones((3,), dtype="float64"), nd.ones((3,))),
     r"LayerNorm: gamma=an array of type float64: expected float32, the type of data"),
])
def test_bad_arguments_raise_naming_the_problem(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()


# ---- AlexNet (MXNet's image-classification symbol zoo) -----------------------------------------

def alexnet(num_classes, width=1.0):
    """The layers of the zoo's alexnet.get_symbol: five convolutions (two followed by LRN and
    max pooling), three fully connected layers with dropout, SoftmaxOutput. ``width`` scales
    the channel and hidden counts."""
    def ch(n):
        return max(1, int(n * width))

    def conv(data, name, kernel, filters, stride=(1, 1), pad=(0, 0)):
        c = mx.sym.Convolution(data=data, name=name, kernel=kernel, stride=stride, pad=pad, num_filter=ch(filters))
        return mx.sym.Activation(data=c, act_type="relu")

    x = mx.sym.Variable("data")
    x = conv(x, "conv1", (11, 11), 96, stride=(4, 4))
    x = mx.sym.LRN(data=x, alpha=0.0001, beta=0.75, knorm=2, nsize=5, name="lrn1")
    x = mx.sym.Pooling(data=x, pool_type="max", kernel=(3, 3), stride=(2, 2))
    x = conv(x, "conv2", (5, 5), 256, pad=(2, 2))
    x = mx.sym.LRN(data=x, alpha=0.0001, beta=0.75, knorm=2, nsize=5, name="lrn2")
    x = mx.sym.Pooling(data=x, kernel=(3, 3), stride=(2, 2), pool_type="max")
    x = conv(x, "conv3", (3, 3), 384, pad=(1, 1))
    x = conv(x, "conv4", (3, 3), 384, pad=(1, 1))
    x = conv(x, "conv5", (3, 3), 256, pad=(1, 1))
    x = mx.sym.Pooling(data=x, kernel=(3, 3), stride=(2, 2), pool_type="max")
    x = mx.sym.Flatten(data=x)
    for i in (1, 2):
        x = mx.sym.FullyConnected(data=x, name=f"fc{i}", num_hidden=ch(4096))
        x = mx.sym.Activation(data=x, act_type="relu")
        x = mx.sym.Dropout(data=x, p=0.5)
    x = mx.sym.FullyConnected(data=x, name="fc3", num_hidden=num_classes)
    return mx.sym.SoftmaxOutput(data=x, name="softmax")


def test_alexnet_binds_and_runs_forward_and_backward_with_lrn():
    net = alexnet(10, width=1 / 8)
    ex = net.simple_bind(mx.cpu(), data=(2, 3, 224, 224), grad_req="write")
    init = np.random.default_rng(0)
    for name, arr in ex.arg_dict.items():
        if name == "softmax_label":
            arr[:] = np.array([3, 7])
        else:
            arr[:] = init.uniform(-0.1, 0.1, arr.shape) * (20 if name == "data" else 1)
    (prob,) = ex.forward(is_train=True)
    p = prob.asnumpy()
    assert p.shape == (2, 10)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    ex.backward()
    for name, grad in ex.grad_dict.items():
        g = grad.asnumpy()
        assert g.shape == ex.arg_dict[name].shape and np.all(np.isfinite(g)), name
    assert np.abs(ex.grad_dict["conv1_weight"].asnumpy()).sum() > 0


def test_alexnet_lrn_layer_matches_numpy_inside_the_graph():
    net = alexnet(10, width=1 / 8)
    internals = net.get_internals()
    relu1 = internals[internals.list_outputs().index("lrn1_output") - 1]
    group = mx.sym.Group([relu1, internals["lrn1_output"]])
    ex = group.simple_bind(mx.cpu(), data=(1, 3, 224, 224), grad_req="null")
    init = np.random.default_rng(1)
    for name, arr in ex.arg_dict.items():
        arr[:] = init.uniform(-1, 1, arr.shape)
    relu, lrn = (o.asnumpy() for o in ex.forward())
    assert relu.shape == (1, 12, 54, 54)
    np.testing.assert_allclose(lrn, lrn_ref(relu.astype(np.float64), 5), rtol=1e-5, atol=1e-6)
