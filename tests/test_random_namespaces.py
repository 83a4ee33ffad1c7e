"""mx.nd.random, mx.sym.random and mx.random as MXNet 1.9.1 has them: the same names and
signatures, number parameters dispatched to _random_<dist> and array (Symbol) parameters to
_sample_<dist>, the *_like functions, and mx.random.seed governing all of them."""
from __future__ import annotations

import inspect
import json
import os

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd

# dir(mxnet.ndarray.random) and dir(mxnet.symbol.random) of MXNet 1.9.1, public functions.
MXNET_RANDOM_NAMESPACE = {
    "exponential", "exponential_like", "gamma", "gamma_like", "generalized_negative_binomial",
    "generalized_negative_binomial_like", "multinomial", "negative_binomial",
    "negative_binomial_like", "normal", "normal_like", "poisson", "poisson_like", "randint",
    "randn", "shuffle", "uniform", "uniform_like"}
# dir(mxnet.random): seed and ndarray.random's __all__.
MXNET_RANDOM_MODULE = {
    "seed", "exponential", "gamma", "generalized_negative_binomial", "multinomial",
    "negative_binomial", "normal", "poisson", "randint", "randn", "shuffle", "uniform"}


@pytest.mark.parametrize("module", [mx.nd.random, mx.sym.random])
def test_namespace_has_mxnets_functions(module):
    assert set(module.__all__) == MXNET_RANDOM_NAMESPACE
    for name in MXNET_RANDOM_NAMESPACE:
        assert callable(getattr(module, name)), name


def test_mx_random_has_seed_and_the_samplers():
    assert set(mx.random.__all__) == MXNET_RANDOM_MODULE
    assert mx.random.uniform is mx.nd.random.uniform


@pytest.mark.parametrize("name,params", [
    ("uniform", ["low", "high", "shape", "dtype", "ctx", "out", "kwargs"]),
    ("normal", ["loc", "scale", "shape", "dtype", "ctx", "out", "kwargs"]),
    ("exponential", ["scale", "shape", "dtype", "ctx", "out", "kwargs"]),
    ("gamma", ["alpha", "beta", "shape", "dtype", "ctx", "out", "kwargs"]),
    ("negative_binomial", ["k", "p", "shape", "dtype", "ctx", "out", "kwargs"]),
    ("multinomial", ["data", "shape", "get_prob", "out", "dtype", "kwargs"]),
    ("randint", ["low", "high", "shape", "dtype", "ctx", "out", "kwargs"]),
])
def test_nd_signatures_are_mxnets(name, params):
    assert list(inspect.signature(getattr(mx.nd.random, name)).parameters) == params


def test_like_functions_take_the_operators_signature():
    params = list(inspect.signature(mx.nd.random.gamma_like).parameters)
    assert params[:3] == ["data", "alpha", "beta"]


def test_number_parameters_draw_one_distribution_of_the_given_shape():
    mx.random.seed(1)
    x = mx.nd.random.gamma(2.0, 0.5, shape=(3, 4), dtype="float64")
    assert x.shape == (3, 4) and x.dtype == np.float64
    assert mx.nd.random.poisson(3).shape == (1,)


def test_array_parameters_draw_one_distribution_per_element():
    mx.random.seed(2)
    low, high = nd.array([0.0, 10.0, 100.0]), nd.array([1.0, 11.0, 101.0])
    x = mx.nd.random.uniform(low, high, shape=2000).asnumpy()
    assert x.shape == (3, 2000)
    for i, base in enumerate([0.0, 10.0, 100.0]):
        assert np.all((x[i] >= base) & (x[i] < base + 1))
        assert abs(x[i].mean() - (base + 0.5)) < 0.05


def test_exponential_with_array_scale_has_that_mean():
    mx.random.seed(3)
    x = mx.nd.random.exponential(nd.array([0.5, 4.0]), shape=20000).asnumpy()
    np.testing.assert_allclose(x.mean(axis=1), [0.5, 4.0], rtol=0.05)


def test_exponential_number_scale_is_the_mean():
    mx.random.seed(4)
    x = mx.nd.random.exponential(3.0, shape=50000).asnumpy()
    assert abs(x.mean() - 3.0) < 0.1


def test_randn_takes_the_shape_by_position():
    mx.random.seed(5)
    x = mx.nd.random.randn(2, 3, loc=1.0, scale=0.0)
    assert x.shape == (2, 3) and np.all(x.asnumpy() == 1.0)
    assert mx.nd.random.randn().shape == (1,)


def test_negative_binomial_through_the_namespace():
    mx.random.seed(6)
    x = mx.nd.random.negative_binomial(4, 0.5, shape=40000).asnumpy()
    assert abs(x.mean() - 4.0) < 0.1


def test_generalized_negative_binomial_with_array_parameters():
    mx.random.seed(7)
    x = mx.nd.random.generalized_negative_binomial(nd.array([1.0, 6.0]), nd.array([0.0, 0.5]),
                                                   shape=40000).asnumpy()
    np.testing.assert_allclose(x.mean(axis=1), [1.0, 6.0], rtol=0.05)
    np.testing.assert_allclose(x.var(axis=1), [1.0, 6.0 + 0.5 * 36], rtol=0.1)


def test_multinomial_returns_samples_and_log_probabilities_with_get_prob():
    probs = nd.array([[0.25, 0.75], [1.0, 0.0]])
    idx, logp = mx.nd.random.multinomial(probs, shape=3, get_prob=True)
    assert idx.shape == (2, 3) and logp.shape == (2, 3)
    assert np.all(idx.asnumpy()[1] == 0)
    assert mx.nd.random.multinomial(probs).dtype == np.int32


def test_like_functions_draw_in_the_inputs_shape():
    mx.random.seed(8)
    x = mx.nd.random.uniform_like(nd.zeros((4, 5)), low=2, high=3)
    assert x.shape == (4, 5) and np.all((x.asnumpy() >= 2) & (x.asnumpy() < 3))
    assert mx.nd.random.poisson_like(nd.zeros((7,), dtype="float64"), lam=2).dtype == np.float64


def test_shuffle_permutes_the_rows():
    mx.random.seed(9)
    data = nd.array(np.arange(12).reshape(6, 2))
    out = mx.nd.random.shuffle(data).asnumpy()
    assert sorted(map(tuple, out.tolist())) == sorted(map(tuple, data.asnumpy().tolist()))


def test_seed_reproduces_array_parameter_draws():
    mu, sigma = nd.array([0.0, 5.0]), nd.array([1.0, 2.0])
    mx.random.seed(10)
    a = mx.nd.random.normal(mu, sigma, shape=50).asnumpy()
    mx.random.seed(10)
    np.testing.assert_array_equal(mx.nd.random.normal(mu, sigma, shape=50).asnumpy(), a)


@pytest.mark.parametrize("call,match", [
    (lambda: mx.nd.random.uniform(nd.zeros((2,)), 1), r"uniform: high=1: expected an NDArray, as low is one"),
    (lambda: mx.nd.random.uniform(0, nd.ones((2,))), r"uniform: high=<NDArray>: expected a number, as low is one"),
    (lambda: mx.nd.random.exponential(0), r"exponential: scale=0: expected a number > 0"),
    (lambda: mx.nd.random.exponential(-2.0), r"exponential: scale=-2.0: expected a number > 0"),
    (lambda: mx.nd.random.gamma(-1, 1), r"_random_gamma: alpha=-1: expected a number > 0"),
    (lambda: mx.nd.random.negative_binomial(1.5, 0.5), r"negative_binomial: k=1.5: expected an integer"),
    (lambda: mx.nd.random.poisson(nd.ones((2,)), dtype="int32"), r"poisson: dtype='int32': expected one of"),
    (lambda: mx.nd.random.multinomial([0.5, 0.5]), r"multinomial: data=\[0.5, 0.5\]: expected an NDArray"),
    (lambda: mx.nd.random.randint(nd.zeros((1,)), 3), r"randint: low=<NDArray>: expected an integer"),
])
def test_bad_arguments_raise_naming_the_problem(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()


# ---- mx.sym.random ---------------------------------------------------------------------------

def test_symbol_with_number_parameters_is_a_random_node():
    x = mx.sym.random.normal(0, 1, shape=(2, 3))
    assert x.list_arguments() == []
    assert "_random_normal" in x.tojson()
    _, out_shapes, _ = x.infer_shape()
    assert out_shapes == [(2, 3)]


def test_symbol_with_symbol_parameters_is_a_sample_node():
    mu, sigma = mx.sym.var("mu"), mx.sym.var("sigma")
    x = mx.sym.random.normal(mu, sigma, shape=(4,))
    assert x.list_arguments() == ["mu", "sigma"]
    _, out_shapes, _ = x.infer_shape(mu=(3,), sigma=(3,))
    assert out_shapes == [(3, 4)]


def test_symbol_sampler_runs_and_matches_its_ndarray_twin_after_seed():
    mu, sigma = mx.sym.var("mu"), mx.sym.var("sigma")
    x = mx.sym.random.gamma(mu, sigma, shape=(5,))
    args = {"mu": nd.array([1.0, 2.0]), "sigma": nd.array([1.0, 0.5])}
    mx.random.seed(20)
    (got,) = x.eval(ctx=mx.cpu(), **args)
    mx.random.seed(20)
    want = mx.nd.random.gamma(args["mu"], args["sigma"], shape=(5,))
    np.testing.assert_array_equal(got.asnumpy(), want.asnumpy())


def test_symbol_exponential_of_a_symbol_scale_is_a_sample_of_its_inverse():
    scale = mx.sym.var("scale")
    x = mx.sym.random.exponential(scale, shape=(30000,))
    mx.random.seed(21)
    (got,) = x.eval(ctx=mx.cpu(), scale=nd.array([2.0]))
    assert abs(got.asnumpy().mean() - 2.0) < 0.1


def test_symbol_multinomial_has_two_outputs_by_default_as_in_mxnet():
    data = mx.sym.var("data")
    assert len(mx.sym.random.multinomial(data).list_outputs()) == 2
    assert len(mx.sym.random.multinomial(data, get_prob=False).list_outputs()) == 1


def test_symbol_like_and_randn_and_randint():
    data = mx.sym.var("data")
    y = mx.sym.random.normal_like(data, loc=0, scale=2)
    _, out_shapes, _ = y.infer_shape(data=(3, 2))
    assert out_shapes == [(3, 2)]
    _, out_shapes, _ = mx.sym.random.randn(2, 5).infer_shape()
    assert out_shapes == [(2, 5)]
    _, out_types, _ = mx.sym.random.randint(0, 5, shape=(2,), dtype="int64").infer_type()
    assert out_types == [np.int64]


@pytest.mark.parametrize("call,match", [
    (lambda: mx.sym.random.uniform(mx.sym.var("a"), 1), r"uniform: high=1: expected a Symbol, as low is one"),
    (lambda: mx.sym.random.uniform(0, mx.sym.var("b")), r"uniform: high=<.*>: expected a number"),
    (lambda: mx.sym.random.randint(mx.sym.var("a"), 3), r"randint: low=.*: expected an integer"),
    (lambda: mx.sym.random.exponential(0), r"exponential: scale=0: expected a number > 0"),
])
def test_symbol_bad_arguments_raise_naming_the_problem(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()


def test_every_random_and_sample_operator_of_mxnet_is_registered():
    with open(os.path.join(os.path.dirname(__file__), "data", "mxnet_op_schemas.json")) as f:
        mxnet_ops = json.load(f)["operators"]
    wanted = {op for op in mxnet_ops
              if op.startswith(("_random_", "random_", "_sample_", "sample_"))
              or op in ("uniform", "normal", "shuffle", "_shuffle")}
    assert len(wanted) == 60
    assert wanted - set(_native.list_ops()) == set()


def test_symbol_multinomial_gradient_through_an_executor_is_counts_over_probabilities():
    data = mx.sym.var("data")
    drawn = mx.sym.random.multinomial(data, shape=(4,), get_prob=True)
    net = mx.sym.Group([mx.sym.BlockGrad(drawn[0]), mx.sym.MakeLoss(mx.sym.sum(drawn[1]))])
    ex = net.simple_bind(mx.cpu(), data=(2, 3))
    probs = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]], dtype=np.float32)
    ex.arg_dict["data"][:] = nd.array(probs)
    mx.random.seed(30)
    ex.forward(is_train=True)
    ex.backward()
    idx = ex.outputs[0].asnumpy().astype(int)
    counts = np.stack([np.bincount(row, minlength=3) for row in idx])
    np.testing.assert_allclose(ex.grad_dict["data"].asnumpy(), counts / probs, rtol=1e-6)
