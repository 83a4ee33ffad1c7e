"""The scalar-parameter samplers _random_<dist> and _random_<dist>_like (and MXNet's
random_<dist> aliases): their draws against the distributions (moments within statistical
bounds and a goodness-of-fit test on large samples, with fixed seeds), reproducibility after
a seed, shapes and types, and bad parameters refused before anything is pushed."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import flowmod as mx
from flowmod import _native, nd

N = 200_000


def draw(op, shape=(N,), dtype="float32", **params):
    out = nd.empty(shape, dtype=dtype)
    nd.invoke(op, [], out=out, shape=shape, dtype=dtype, **params)
    return out.asnumpy().astype(np.float64)


# (operator params, scipy distribution with the same law, continuous?)
CASES = {
    "exponential": ({"lam": 2.5}, stats.expon(scale=1 / 2.5), True),
    "gamma": ({"alpha": 2.0, "beta": 3.0}, stats.gamma(2.0, scale=3.0), True),
    "gamma_small_shape": ({"alpha": 0.4, "beta": 1.5}, stats.gamma(0.4, scale=1.5), True),
    "poisson": ({"lam": 4.0}, stats.poisson(4.0), False),
    "poisson_large_mean": ({"lam": 150.0}, stats.poisson(150.0), False),
    "negative_binomial": ({"k": 3, "p": 0.4}, stats.nbinom(3, 0.4), False),
    # mean mu, variance mu + alpha mu^2: scipy's nbinom(n = 1/alpha, p = 1/(1 + alpha mu)).
    "generalized_negative_binomial": ({"mu": 2.0, "alpha": 0.5},
                                      stats.nbinom(2.0, 1 / (1 + 0.5 * 2.0)), False),
}


def _op(case):
    return "_random_" + case.replace("_small_shape", "").replace("_large_mean", "")


def _mean_and_variance_within_bounds(x, dist):
    mean, var = dist.mean(), dist.var()
    # Five standard errors of the sample mean and of the sample variance.
    assert abs(x.mean() - mean) < 5 * np.sqrt(var / x.size)
    fourth = dist.moment(4) - 4 * mean * dist.moment(3) + 6 * mean ** 2 * dist.moment(2) - 3 * mean ** 4
    assert abs(x.var() - var) < 5 * np.sqrt((fourth - var ** 2) / x.size)


def _goodness_of_fit(x, dist, continuous):
    if continuous:
        assert stats.kstest(x, dist.cdf).pvalue > 1e-3
        return
    assert np.all(x == np.round(x)) and x.min() >= 0
    # Chi-square over the values holding nearly all the mass, the tail pooled into one cell.
    lo, hi = int(dist.ppf(1e-4)), int(dist.ppf(1 - 1e-4))
    values = np.arange(lo, hi + 1)
    expected = dist.pmf(values) * x.size
    counts = np.array([(x == v).sum() for v in values], dtype=np.float64)
    keep = expected >= 5
    rest_expected = x.size - expected[keep].sum()
    rest_counts = x.size - counts[keep].sum()
    f_obs = np.append(counts[keep], rest_counts)
    f_exp = np.append(expected[keep], rest_expected)
    assert stats.chisquare(f_obs, f_exp).pvalue > 1e-3


@pytest.mark.parametrize("case", sorted(CASES))
def test_draws_have_the_distributions_mean_and_variance(case):
    params, dist, _ = CASES[case]
    mx.random.seed(11)
    _mean_and_variance_within_bounds(draw(_op(case), **params), dist)


@pytest.mark.parametrize("case", sorted(CASES))
def test_draws_pass_a_goodness_of_fit_test(case):
    params, dist, continuous = CASES[case]
    mx.random.seed(12)
    _goodness_of_fit(draw(_op(case), **params), dist, continuous)


@pytest.mark.parametrize("case", sorted(CASES))
def test_like_form_draws_the_same_distribution_in_the_inputs_shape_and_type(case):
    params, dist, continuous = CASES[case]
    mx.random.seed(13)
    data = nd.zeros((N // 400, 400), dtype="float64")
    out = nd.invoke(_op(case) + "_like", [data], **params)
    assert out.shape == data.shape and out.dtype == np.float64
    x = out.asnumpy().reshape(-1)
    _mean_and_variance_within_bounds(x, dist)
    _goodness_of_fit(x, dist, continuous)


@pytest.mark.parametrize("key,params,dist", [
    ("uniform", {"low": -2.0, "high": 3.0}, stats.uniform(-2.0, 5.0)),
    ("normal", {"loc": 1.0, "scale": 2.0}, stats.norm(1.0, 2.0)),
])
def test_uniform_and_normal_like_forms_draw_their_distributions(key, params, dist):
    mx.random.seed(14)
    x = nd.invoke(f"_random_{key}_like", [nd.zeros((N,))], **params).asnumpy().astype(np.float64)
    _mean_and_variance_within_bounds(x, dist)
    assert stats.kstest(x, dist.cdf).pvalue > 1e-3


def test_generalized_negative_binomial_of_zero_dispersion_is_poisson():
    mx.random.seed(15)
    x = draw("_random_generalized_negative_binomial", mu=3.0, alpha=0.0)
    _goodness_of_fit(x, stats.poisson(3.0), False)


@pytest.mark.parametrize("op,params", [
    ("_random_poisson", {"lam": 0.0}),
    ("_random_negative_binomial", {"k": 0, "p": 0.5}),
    ("_random_negative_binomial", {"k": 4, "p": 1.0}),
    ("_random_generalized_negative_binomial", {"mu": 0.0, "alpha": 1.0}),
])
def test_degenerate_parameters_draw_zeros(op, params):
    assert np.all(draw(op, shape=(1000,), **params) == 0)


@pytest.mark.parametrize("case", sorted(CASES))
def test_seed_reproduces_the_draws(case):
    params, _, _ = CASES[case]
    mx.random.seed(21)
    a = draw(_op(case), shape=(500,), **params)
    b = draw(_op(case), shape=(500,), **params)
    mx.random.seed(21)
    np.testing.assert_array_equal(draw(_op(case), shape=(500,), **params), a)
    assert not np.array_equal(a, b)


def test_like_forms_reproduce_after_seed():
    data = nd.zeros((300,))
    mx.random.seed(22)
    a = nd.invoke("_random_gamma_like", [data], alpha=2.0).asnumpy()
    mx.random.seed(22)
    np.testing.assert_array_equal(nd.invoke("_random_gamma_like", [data], alpha=2.0).asnumpy(), a)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("op", ["_random_exponential", "_random_gamma", "_random_poisson"])
def test_output_takes_the_requested_type_and_shape(op, dtype):
    out = nd.empty((3, 4), dtype=dtype)
    nd.invoke(op, [], out=out, shape=(3, 4), dtype=dtype)
    assert out.dtype == np.dtype(dtype) and out.shape == (3, 4)
    assert np.all(np.isfinite(out.asnumpy()))


def test_type_defaults_to_float32():
    info = _native.op_info("_random_gamma", {"shape": "(2,)"})
    assert info["arguments"] == []
    out = nd._random_gamma(shape=(2, 5))
    assert out.dtype == np.float32 and out.shape == (2, 5)


@pytest.mark.parametrize("alias", ["random_exponential", "random_gamma", "random_poisson",
                                   "random_negative_binomial",
                                   "random_generalized_negative_binomial", "random_uniform",
                                   "uniform", "random_normal", "normal", "random_randint"])
def test_mxnet_aliases_are_the_same_operators(alias):
    target = {"uniform": "_random_uniform", "normal": "_random_normal"}.get(alias, "_" + alias)
    attrs = {"low": "0", "high": "5"} if "randint" in alias else {}
    mx.random.seed(3)
    a = nd.invoke(alias, [], out=nd.empty((50,), dtype="int32" if "randint" in alias else "float32"),
                  shape=(50,), **attrs).asnumpy()
    mx.random.seed(3)
    b = nd.invoke(target, [], out=nd.empty((50,), dtype=a.dtype), shape=(50,), **attrs).asnumpy()
    np.testing.assert_array_equal(a, b)


def test_like_forms_give_a_zero_gradient():
    data = nd.array(np.arange(6.0))
    out = nd.invoke("_random_normal_like", [data])
    grad = nd.array(np.full(6, 7.0))
    _native.invoke_backward("_random_normal_like", {}, [nd.ones((6,))._h], [data._h], [out._h],
                            [grad._h], ["write"], True)
    assert np.all(grad.asnumpy() == 0)


@pytest.mark.parametrize("op,attrs,match", [
    ("_random_exponential", {"lam": "0"}, r"_random_exponential: lam=0: expected a number > 0"),
    ("_random_exponential", {"lam": "-1"}, r"lam=-1: expected a number > 0"),
    ("_random_gamma", {"alpha": "-1"}, r"_random_gamma: alpha=-1: expected a number > 0"),
    ("_random_gamma", {"beta": "0"}, r"_random_gamma: beta=0: expected a number > 0"),
    ("_random_poisson", {"lam": "-0.5"}, r"_random_poisson: lam=-0.5: expected a number >= 0"),
    ("_random_negative_binomial", {"k": "-2"}, r"k=-2: expected a number >= 0"),
    ("_random_negative_binomial", {"k": "1.5"}, r"k='1.5': expected an integer"),
    ("_random_negative_binomial", {"p": "1.5"}, r"p=1.5: expected a probability in \(0, 1\]"),
    ("_random_negative_binomial", {"p": "0"}, r"p=0: expected a probability in \(0, 1\]"),
    ("_random_generalized_negative_binomial", {"mu": "-1"}, r"mu=-1: expected a number >= 0"),
    ("_random_generalized_negative_binomial", {"alpha": "-1"}, r"alpha=-1: expected a number >= 0"),
    ("_random_gamma", {"dtype": "int32"}, r"dtype='int32': expected one of 'None', 'float16'"),
    ("_random_gamma", {"scale": "1"}, r"_random_gamma: scale='1': expected an attribute of"),
    ("_random_gamma_like", {"alpha": "0"}, r"_random_gamma_like: alpha=0: expected a number > 0"),
    ("_random_poisson_like", {"shape": "(2,)"}, r"_random_poisson_like: shape="),
])
def test_bad_parameters_are_refused_before_a_push(op, attrs, match):
    with pytest.raises(mx.MXNetError, match=match):
        _native.prepare(op, attrs)


def test_like_form_refuses_integer_input():
    with pytest.raises(mx.MXNetError, match=r"_random_uniform_like: data=an array of type int32"):
        nd.invoke("_random_uniform_like", [nd.zeros((2,), dtype="int32")])
