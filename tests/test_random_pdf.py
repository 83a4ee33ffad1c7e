"""The densities _random_pdf_<dist> (aliases random_pdf_<dist>): values against scipy.stats,
with MXNet's parameterizations (gamma's beta and exponential's lam are rates), gradients of
the samples and parameters against float64 finite differences, and shapes as MXNet infers
them."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import flowmod as mx
from flowmod import _native, nd
from op_check import check_gradient, forward

RNG = np.random.default_rng(2024)
# Parameters of shape (2,), samples of shape (2, 3): three samples per distribution.
P = (2,)
S = (2, 3)


def _positive(shape, lo=0.5, hi=2.5):
    return RNG.uniform(lo, hi, size=shape)


def _cases():
    lo = np.array([-1.0, 0.5])
    hi = np.array([2.0, 4.0])
    mu, sigma = np.array([0.3, -1.0]), np.array([0.8, 1.7])
    a, b = np.array([1.5, 3.0]), np.array([2.0, 0.7])
    lam = np.array([0.7, 3.0])
    k, p = np.array([2.0, 4.5]), np.array([0.3, 0.6])
    gmu, galpha = np.array([2.0, 5.0]), np.array([0.5, 0.2])
    counts = np.array([[0.0, 1.0, 4.0], [2.0, 3.0, 7.0]])
    return {
        "uniform": ([RNG.uniform(lo[:, None], hi[:, None], size=S), lo, hi],
                    lambda x: stats.uniform(lo[:, None], (hi - lo)[:, None]).logpdf(x), True),
        "normal": ([RNG.normal(size=S), mu, sigma],
                   lambda x: stats.norm(mu[:, None], sigma[:, None]).logpdf(x), True),
        "gamma": ([_positive(S), a, b],
                  lambda x: stats.gamma(a[:, None], scale=1 / b[:, None]).logpdf(x), True),
        "exponential": ([_positive(S), lam],
                        lambda x: stats.expon(scale=1 / lam[:, None]).logpdf(x), True),
        "poisson": ([counts, lam], lambda x: stats.poisson(lam[:, None]).logpmf(x), False),
        "negative_binomial": ([counts, k, p],
                              lambda x: stats.nbinom(k[:, None], p[:, None]).logpmf(x), False),
        "generalized_negative_binomial": (
            [counts, gmu, galpha],
            lambda x: stats.nbinom(1 / galpha[:, None], 1 / (1 + galpha * gmu)[:, None]).logpmf(x),
            False),
    }


CASES = _cases()


@pytest.mark.parametrize("is_log", [False, True])
@pytest.mark.parametrize("key", sorted(CASES))
def test_density_matches_scipy(key, is_log):
    inputs, logpdf, _ = CASES[key]
    (out,) = forward("_random_pdf_" + key, inputs, is_log=is_log)
    expected = logpdf(inputs[0])
    np.testing.assert_allclose(out, expected if is_log else np.exp(expected), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_density_in_narrow_types(dtype):
    inputs, logpdf, _ = CASES["normal"]
    (out,) = forward("_random_pdf_normal", inputs, input_dtype=dtype)
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out, np.exp(logpdf(inputs[0])), rtol=1e-2 if dtype == "float16" else 1e-5)


@pytest.mark.parametrize("is_log", [False, True])
@pytest.mark.parametrize("key", ["normal", "gamma", "exponential"])
def test_gradient_of_continuous_densities_matches_finite_differences(key, is_log):
    inputs, _, _ = CASES[key]
    check_gradient("_random_pdf_" + key, inputs, is_log=is_log, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("is_log", [False, True])
def test_uniform_gradient_of_the_bounds_matches_finite_differences(is_log):
    inputs, _, _ = CASES["uniform"]
    check_gradient("_random_pdf_uniform", inputs, is_log=is_log, wrt=[1, 2], rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("is_log", [False, True])
@pytest.mark.parametrize("key", ["poisson", "negative_binomial", "generalized_negative_binomial"])
def test_gradient_of_discrete_densities_parameters_matches_finite_differences(key, is_log):
    inputs, _, _ = CASES[key]
    check_gradient("_random_pdf_" + key, inputs, is_log=is_log,
                   wrt=list(range(1, len(inputs))), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("key", ["poisson", "negative_binomial", "generalized_negative_binomial",
                                 "uniform"])
def test_samples_of_discrete_and_flat_densities_get_zero_gradient_as_in_mxnet(key):
    inputs, _, _ = CASES[key]
    arrays = [nd.array(x, dtype="float64") for x in inputs]
    (out,) = [nd.invoke("_random_pdf_" + key, arrays)]
    grads = [nd.array(np.full(x.shape, 9.0), dtype="float64") for x in inputs]
    _native.invoke_backward("_random_pdf_" + key, {}, [nd.ones(S, dtype="float64")._h],
                            [a._h for a in arrays], [out._h], [g._h for g in grads],
                            ["write"] + ["null"] * (len(inputs) - 1), True)
    assert np.all(grads[0].asnumpy() == 0)


# ---- dirichlet -----------------------------------------------------------------------------

ALPHA = np.array([[1.5, 2.0, 0.7], [3.0, 1.2, 2.2]])


def _dirichlet_samples(n):
    return np.stack([RNG.dirichlet(a, size=n) for a in ALPHA])   # (2, n, 3)


@pytest.mark.parametrize("is_log", [False, True])
def test_dirichlet_density_matches_scipy(is_log):
    x = _dirichlet_samples(4)
    (out,) = forward("_random_pdf_dirichlet", [x, ALPHA], is_log=is_log)
    assert out.shape == (2, 4)
    expected = np.array([[stats.dirichlet(ALPHA[i]).logpdf(x[i, j]) for j in range(4)] for i in range(2)])
    np.testing.assert_allclose(out, expected if is_log else np.exp(expected), rtol=1e-10)


@pytest.mark.parametrize("is_log", [False, True])
def test_dirichlet_gradient_matches_finite_differences(is_log):
    check_gradient("_random_pdf_dirichlet", [_dirichlet_samples(3), ALPHA], is_log=is_log,
                   rtol=1e-5, atol=1e-8)


def test_dirichlet_shapes_as_in_mxnet():
    assert _native.op_info("_random_pdf_dirichlet", {})["arguments"] == ["sample", "alpha"]
    one = nd.invoke("_random_pdf_dirichlet", [nd.array([0.2, 0.3, 0.5]), nd.array([1.0, 2.0, 3.0])])
    assert one.shape == (1,)
    many = nd.invoke("_random_pdf_dirichlet", [nd.array(_dirichlet_samples(5)), nd.array(ALPHA)])
    assert many.shape == (2, 5)


# ---- shapes and errors ---------------------------------------------------------------------

def test_parameters_of_lower_rank_broadcast_over_the_trailing_sample_dimensions():
    mu, sigma = np.array([0.0, 1.0]), np.array([1.0, 2.0])
    x = RNG.normal(size=(2, 3, 4))
    (out,) = forward("_random_pdf_normal", [x, mu, sigma])
    assert out.shape == (2, 3, 4)
    np.testing.assert_allclose(out, stats.norm(mu[:, None, None], sigma[:, None, None]).pdf(x), rtol=1e-10)


def test_random_pdf_aliases_are_the_same_operators():
    inputs, _, _ = CASES["gamma"]
    np.testing.assert_array_equal(forward("random_pdf_gamma", inputs)[0],
                                  forward("_random_pdf_gamma", inputs)[0])


@pytest.mark.parametrize("call,match", [
    (lambda: nd.invoke("_random_pdf_normal", [nd.zeros((2, 3)), nd.zeros((3,)), nd.ones((3,))]),
     r"_random_pdf_normal: mu"),
    (lambda: nd.invoke("_random_pdf_normal", [nd.zeros((2,)), nd.zeros((2, 3)), nd.ones((2, 3))]),
     r"_random_pdf_normal: mu=an array of shape \(2, 3\): expected at least one and at most"),
    (lambda: nd.invoke("_random_pdf_normal", [nd.zeros((2, 3)), nd.zeros((2,)), nd.ones((3,))]),
     r"_random_pdf_normal: "),
    (lambda: nd.invoke("_random_pdf_poisson", [nd.zeros((2,), dtype="int32"), nd.ones((2,), dtype="int32")]),
     r"_random_pdf_poisson: data=an array of type int32"),
    (lambda: nd.invoke("_random_pdf_gamma", [nd.zeros((2,)), nd.ones((2,)), nd.ones((2,))], log=True),
     r"_random_pdf_gamma: log='True': expected an attribute of"),
])
def test_bad_shapes_types_and_attributes_are_refused_before_a_push(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
