"""The operators MXNet 1.9 keeps under their older or fused names: BatchNorm_v1,
contrib.SyncBatchNorm (one device), contrib.BatchNormWithReLU, Convolution_v1 and Pooling_v1,
against numpy and against the operators they share kernels with, their gradients against
float64 finite differences, and the errors for attributes their schemas do not have."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd
from op_check import check_gradient, forward, info

rng = np.random.default_rng(47)


def randn(*shape):
    return rng.standard_normal(shape)


def bn_ref(x, gamma, beta, eps):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * gamma.reshape(shape) + beta.reshape(shape)
    return y, mean, var


def bn_inputs(shape):
    c = shape[1]
    return [randn(*shape), randn(c), randn(c), randn(c), np.abs(randn(c)) + 0.5]


SYNC = dict(key="bn0")
# Both operators declare eps and momentum floats in MXNet: float64 data sees them rounded.
EPS = float(np.float32(1e-3))
MOMENTUM = float(np.float32(0.8))


# ---- BatchNorm_v1 and SyncBatchNorm ------------------------------------------------------------

@pytest.mark.parametrize("op,extra", [("BatchNorm_v1", {}), ("_contrib_SyncBatchNorm", SYNC)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_outputs_the_batch_mean_and_variance(op, extra, dtype):
    x, g, b, mm, mv = [a.astype(dtype) for a in bn_inputs((4, 3, 2, 5))]
    y, mean, var = forward(op, [x, g, b, mm, mv], is_train=True, fix_gamma=False, output_mean_var=True,
                           eps=1e-3, **extra)
    ry, rmean, rvar = bn_ref(x.astype(np.float64), g, b, EPS)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(y, ry, rtol=tol, atol=tol)
    np.testing.assert_allclose(mean, rmean, rtol=tol, atol=tol)
    np.testing.assert_allclose(var, rvar, rtol=tol, atol=tol)


@pytest.mark.parametrize("op,extra", [("BatchNorm_v1", {}), ("_contrib_SyncBatchNorm", SYNC)])
def test_inference_uses_and_outputs_the_moving_statistics(op, extra):
    x, g, b, mm, mv = bn_inputs((2, 3, 4))
    y, mean, var = forward(op, [x, g, b, mm, mv], is_train=False, output_mean_var=True, **extra)
    shape = (1, -1, 1)
    np.testing.assert_allclose(y, (x - mm.reshape(shape)) / np.sqrt(mv.reshape(shape) + EPS) + b.reshape(shape),
                               rtol=1e-12)
    np.testing.assert_allclose(mean, mm, rtol=1e-12)
    np.testing.assert_allclose(var, mv, rtol=1e-12)


@pytest.mark.parametrize("op,extra", [("BatchNorm_v1", {}), ("_contrib_SyncBatchNorm", SYNC)])
def test_training_moves_the_moving_statistics(op, extra):
    x, g, b, mm, mv = bn_inputs((4, 2, 3))
    arrays = [nd.array(a, dtype="float64") for a in (x, g, b, mm, mv)]
    from flowmod import _native
    from op_check import _attrs
    _native.invoke(op, [a._h for a in arrays], _attrs(dict(momentum=0.8, **extra)), [], True, True)
    _, mean, var = bn_ref(x, g, b, EPS)
    np.testing.assert_allclose(arrays[3].asnumpy(), MOMENTUM * mm + (1 - MOMENTUM) * mean, rtol=1e-12)
    np.testing.assert_allclose(arrays[4].asnumpy(), MOMENTUM * mv + (1 - MOMENTUM) * var, rtol=1e-12)


@pytest.mark.parametrize("op,extra", [("BatchNorm_v1", {}), ("_contrib_SyncBatchNorm", SYNC),
                                      ("_contrib_BatchNormWithReLU", {})])
@pytest.mark.parametrize("is_train", [True, False])
def test_gradient(op, extra, is_train):
    check_gradient(op, bn_inputs((3, 2, 2, 2)), is_train=is_train, fix_gamma=False, **extra)


@pytest.mark.parametrize("op,extra", [("BatchNorm_v1", {}), ("_contrib_SyncBatchNorm", SYNC)])
def test_gradient_with_mean_and_var_outputs(op, extra):
    inputs = bn_inputs((3, 2, 3))
    n_visible = len(info(op, output_mean_var=True, **extra)["outputs"])
    heads = [randn(3, 2, 3), np.zeros(2), np.zeros(2)]
    assert n_visible == 3
    check_gradient(op, inputs, head_grads=heads, fix_gamma=False, output_mean_var=True, **extra)


def test_sync_batch_norm_on_one_device_is_batch_norm():
    inputs = bn_inputs((4, 3, 5))
    (ours,) = forward("_contrib_SyncBatchNorm", inputs, is_train=True, fix_gamma=False, key="k")
    (theirs,) = forward("BatchNorm", inputs, is_train=True, fix_gamma=False)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


# ---- BatchNormWithReLU -----------------------------------------------------------------------------

@pytest.mark.parametrize("is_train", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_norm_with_relu_is_relu_of_batch_norm(is_train, dtype):
    inputs = [a.astype(dtype) for a in bn_inputs((2, 3, 4, 2))]
    (fused,) = forward("_contrib_BatchNormWithReLU", inputs, is_train=is_train, fix_gamma=False)
    (plain,) = forward("BatchNorm", inputs, is_train=is_train, fix_gamma=False)
    assert fused.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(fused, np.maximum(plain, 0))


def test_batch_norm_with_relu_takes_an_axis():
    inputs = [randn(2, 3, 4)] + [a for a in bn_inputs((2, 4))[1:]]
    (fused,) = forward("_contrib_BatchNormWithReLU", inputs, is_train=True, axis=-1)
    (plain,) = forward("BatchNorm", inputs, is_train=True, axis=-1)
    np.testing.assert_array_equal(fused, np.maximum(plain, 0))


def test_symbols_create_the_moving_statistics_as_auxiliary_states():
    for make in (lambda d: mx.sym.BatchNorm_v1(d, name="bn"),
                 lambda d: mx.sym.contrib.SyncBatchNorm(d, key="bn", name="bn"),
                 lambda d: mx.sym.contrib.BatchNormWithReLU(d, name="bn")):
        sym = make(mx.sym.Variable("data"))
        assert sym.list_arguments() == ["data", "bn_gamma", "bn_beta"]
        assert sym.list_auxiliary_states() == ["bn_moving_mean", "bn_moving_var"]
        args, outs, auxs = sym.infer_shape(data=(2, 6, 3, 3))
        assert args[1:] == [(6,), (6,)] and auxs == [(6,), (6,)] and outs == [(2, 6, 3, 3)]


# ---- Convolution_v1 and Pooling_v1 -----------------------------------------------------------------

@pytest.mark.parametrize("attrs", [dict(kernel=(3, 3), num_filter=4),
                                   dict(kernel=(2, 3), stride=(2, 1), pad=(1, 0), dilate=(1, 2), num_filter=2),
                                   dict(kernel=(3, 3), num_filter=4, num_group=2, no_bias=True)])
def test_convolution_v1_is_convolution(attrs):
    x = randn(2, 4, 6, 7)
    w = randn(attrs["num_filter"], 4 // attrs.get("num_group", 1), *attrs["kernel"])
    inputs = [x, w] if attrs.get("no_bias") else [x, w, randn(attrs["num_filter"])]
    (ours,) = forward("Convolution_v1", inputs, **attrs)
    (theirs,) = forward("Convolution", inputs, **attrs)
    np.testing.assert_array_equal(ours, theirs)
    check_gradient("Convolution_v1", [a[:1, ...] if i == 0 else a for i, a in enumerate(inputs)], **attrs)


def pool_v1_ref(x, kernel, stride, pad, pool_type, convention):
    """MXNet's first Pooling: zero padding, windows cut at the padded input's end, avg by the
    whole kernel."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    rounding = np.floor if convention == "valid" else np.ceil
    oh = 1 + int(rounding((h + 2 * pad[0] - kernel[0]) / stride[0]))
    ow = 1 + int(rounding((w + 2 * pad[1] - kernel[1]) / stride[1]))
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * stride[0]:i * stride[0] + kernel[0], j * stride[1]:j * stride[1] + kernel[1]]
            if pool_type == "max":
                out[:, :, i, j] = win.max(axis=(2, 3))
            elif pool_type == "sum":
                out[:, :, i, j] = win.sum(axis=(2, 3))
            else:
                out[:, :, i, j] = win.sum(axis=(2, 3)) / (kernel[0] * kernel[1])
    return out


@pytest.mark.parametrize("pool_type", ["max", "avg", "sum"])
@pytest.mark.parametrize("convention", ["valid", "full"])
@pytest.mark.parametrize("kernel,stride,pad", [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)),
                                               ((3, 2), (2, 3), (1, 0))])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pooling_v1_matches_its_zero_padded_definition(pool_type, convention, kernel, stride, pad, dtype):
    x = (randn(2, 3, 7, 8) - 0.8).astype(dtype)  # mostly negative: zero padding shows in max
    (y,) = forward("Pooling_v1", [x], kernel=kernel, stride=stride, pad=pad, pool_type=pool_type,
                   pooling_convention=convention)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(y, pool_v1_ref(x.astype(np.float64), kernel, stride, pad, pool_type, convention),
                               rtol=tol, atol=tol)


@pytest.mark.parametrize("pool_type", ["max", "avg", "sum"])
def test_pooling_v1_global(pool_type):
    x = randn(2, 3, 4, 5)
    (y,) = forward("Pooling_v1", [x], global_pool=True, pool_type=pool_type)
    ref = {"max": x.max(axis=(2, 3)), "avg": x.mean(axis=(2, 3)), "sum": x.sum(axis=(2, 3))}[pool_type]
    np.testing.assert_allclose(y[:, :, 0, 0], ref, rtol=1e-12)


@pytest.mark.parametrize("pool_type", ["max", "avg", "sum"])
@pytest.mark.parametrize("convention", ["valid", "full"])
def test_pooling_v1_gradient(pool_type, convention):
    x = rng.permutation(1 * 2 * 5 * 6).reshape(1, 2, 5, 6) / 7.0 - 4.0
    check_gradient("Pooling_v1", [x], kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type=pool_type,
                   pooling_convention=convention)


# ---- Errors ------------------------------------------------------------------------------------

X = nd.zeros((2, 3, 4, 4))
P = [nd.ones((3,)) for _ in range(4)]


@pytest.mark.parametrize("call,match", [
    (lambda: nd.BatchNorm_v1(X, *P[:2], axis=1), r"axis"),
    (lambda: nd.contrib.SyncBatchNorm(X, *P[:2]), r"key=\(missing\)"),
    (lambda: nd.contrib.SyncBatchNorm(X, *P[:2], key="k", ndev=2), r"ndev=2: expected 1"),
    (lambda: nd.contrib.BatchNormWithReLU(X, *P[:2], eps=-1), r"eps=-1.*expected a number >= 0"),
    (lambda: nd.Convolution_v1(X, nd.zeros((2, 3, 3)), nd.zeros((2,)), kernel=(3,), num_filter=2),
     r"kernel=.*expected \(h, w\): Convolution_v1 is 2-D"),
    (lambda: nd.Pooling_v1(X, kernel=(2,)), r"kernel=.*expected \(h, w\): Pooling_v1 is 2-D"),
    (lambda: nd.Pooling_v1(X, kernel=(2, 2), pool_type="lp"), r"pool_type='lp'"),
    (lambda: nd.Pooling_v1(X, kernel=(2, 2), pooling_convention="same"), r"pooling_convention='same'"),
    (lambda: nd.Pooling_v1(X, kernel=(2, 2), cudnn_off=True), r"cudnn_off"),
])
def test_bad_arguments_raise_naming_the_problem(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
