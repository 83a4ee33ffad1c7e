"""The array-parameter samplers _sample_<dist> (one distribution per element of the parameter
arrays, MXNet's sample_<dist> aliases), _sample_multinomial with get_prob and its gradient,
and _sample_unique_zipfian."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import flowmod as mx
from flowmod import _native, nd

PER_ROW = 40_000


def _close_to_mean(x, mean, var):
    assert abs(x.mean() - mean) < 5 * np.sqrt(var / x.size), (x.mean(), mean)


# (inputs, scipy distribution of row i, continuous?)
ROWS = {
    "uniform": ([[0.0, -3.0], [1.0, 5.0]], lambda i, a, b: stats.uniform(a[i], b[i] - a[i]), True),
    "normal": ([[0.0, 10.0], [1.0, 0.5]], lambda i, m, s: stats.norm(m[i], s[i]), True),
    "exponential": ([[0.5, 4.0]], lambda i, l: stats.expon(scale=1 / l[i]), True),
    "gamma": ([[0.5, 3.0], [2.0, 1.0]], lambda i, a, b: stats.gamma(a[i], scale=b[i]), True),
    "poisson": ([[1.0, 30.0]], lambda i, l: stats.poisson(l[i]), False),
    "negative_binomial": ([[2.0, 5.0], [0.3, 0.8]], lambda i, k, p: stats.nbinom(k[i], p[i]), False),
    "generalized_negative_binomial": ([[1.0, 4.0], [0.5, 0.25]],
                                      lambda i, m, a: stats.nbinom(1 / a[i], 1 / (1 + a[i] * m[i])),
                                      False),
}


@pytest.mark.parametrize("key", sorted(ROWS))
def test_each_row_draws_from_its_own_parameters(key):
    params, dist_of, continuous = ROWS[key]
    mx.random.seed(31)
    out = nd.invoke("_sample_" + key, [nd.array(p) for p in params], shape=(PER_ROW,))
    x = out.asnumpy().astype(np.float64)
    assert x.shape == (2, PER_ROW)
    for i in range(2):
        dist = dist_of(i, *params)
        _close_to_mean(x[i], dist.mean(), dist.var())
        if continuous:
            assert stats.kstest(x[i], dist.cdf).pvalue > 1e-3
        else:
            assert np.all(x[i] == np.round(x[i]))
            # Compare the empirical cdf with the law's at its quartiles.
            for q in (0.25, 0.5, 0.75):
                v = dist.ppf(q)
                assert abs((x[i] <= v).mean() - dist.cdf(v)) < 0.01


def test_output_shape_is_parameter_shape_then_draw_shape():
    mu = nd.zeros((2, 3))
    assert nd.invoke("_sample_normal", [mu, nd.ones((2, 3))], shape=(4, 5)).shape == (2, 3, 4, 5)
    assert nd.invoke("_sample_normal", [mu, nd.ones((2, 3))]).shape == (2, 3)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_output_type_is_dtype_or_float32_whatever_the_parameters_type(dtype):
    lam = nd.array([1.0, 2.0], dtype="float64")
    assert nd.invoke("_sample_poisson", [lam]).dtype == np.float32
    assert nd.invoke("_sample_poisson", [lam], dtype=dtype).dtype == np.dtype(dtype)


def test_sample_aliases_are_the_same_operators():
    lam = nd.array([1.0, 2.0])
    mx.random.seed(5)
    a = nd.invoke("sample_exponential", [lam], shape=(10,)).asnumpy()
    mx.random.seed(5)
    np.testing.assert_array_equal(nd.invoke("_sample_exponential", [lam], shape=(10,)).asnumpy(), a)


def test_sample_reproduces_after_seed():
    mu, sigma = nd.array([0.0, 1.0]), nd.array([1.0, 2.0])
    mx.random.seed(6)
    a = nd.invoke("_sample_normal", [mu, sigma], shape=(100,)).asnumpy()
    mx.random.seed(6)
    np.testing.assert_array_equal(nd.invoke("_sample_normal", [mu, sigma], shape=(100,)).asnumpy(), a)


def test_bad_parameter_values_fail_the_operation_naming_value_and_index():
    out = nd.invoke("_sample_gamma", [nd.array([1.0, -2.0]), nd.array([1.0, 1.0])], shape=(3,))
    with pytest.raises(mx.MXNetError, match=r"_sample_gamma: alpha=-2 at index 1: expected a number > 0"):
        out.asnumpy()
    out = nd.invoke("_sample_uniform", [nd.array([2.0]), nd.array([1.0])])
    with pytest.raises(mx.MXNetError, match=r"_sample_uniform: high=1 at index 0: expected a number >= low"):
        out.asnumpy()


@pytest.mark.parametrize("call,match", [
    (lambda: nd.invoke("_sample_normal", [nd.zeros((2,)), nd.ones((3,))]),
     r"_sample_normal: .*expected shape"),
    (lambda: nd.invoke("_sample_normal", [nd.zeros((2,)), nd.ones((2,), dtype="float64")]),
     r"_sample_normal: "),
    (lambda: nd.invoke("_sample_poisson", [nd.ones((2,))], shape=(0,)),
     r"_sample_poisson: shape=\(0,\): expected a tuple of positive integers"),
    (lambda: nd.invoke("_sample_poisson", [nd.ones((2,))], dtype="int32"),
     r"_sample_poisson: dtype='int32': expected one of"),
    (lambda: nd.invoke("_sample_poisson", [nd.ones((2,), dtype="int32")]),
     r"_sample_poisson: lam=an array of type int32: expected float16, float32 or float64"),
])
def test_bad_arrays_and_attributes_are_refused_before_a_push(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()


def test_sample_gradient_is_zero_as_in_mxnet():
    mu, sigma = nd.array([0.0, 1.0]), nd.array([1.0, 2.0])
    out = nd.invoke("_sample_normal", [mu, sigma], shape=(3,))
    grads = [nd.array(np.full(2, 5.0)), nd.array(np.full(2, 5.0))]
    _native.invoke_backward("_sample_normal", {"shape": "(3,)"}, [nd.ones((2, 3))._h],
                            [mu._h, sigma._h], [out._h], [g._h for g in grads],
                            ["write", "add"], True)
    assert np.all(grads[0].asnumpy() == 0) and np.all(grads[1].asnumpy() == 5)


# ---- multinomial ---------------------------------------------------------------------------

PROBS = np.array([[0.1, 0.2, 0.3, 0.4], [0.4, 0.0, 0.5, 0.1]])


def test_multinomial_draws_each_category_with_its_probability():
    mx.random.seed(41)
    out = nd.invoke("_sample_multinomial", [nd.array(PROBS)], shape=(50_000,)).asnumpy()
    assert out.shape == (2, 50_000) and out.dtype == np.int32
    for i in range(2):
        counts = np.bincount(out[i], minlength=4)
        assert counts[PROBS[i] == 0].sum() == 0
        keep = PROBS[i] > 0
        assert stats.chisquare(counts[keep], PROBS[i][keep] * out.shape[1]).pvalue > 1e-3


def test_multinomial_shapes_as_in_mxnet():
    p1 = nd.array(PROBS[0])
    assert nd.invoke("_sample_multinomial", [p1]).shape == (1,)
    assert nd.invoke("_sample_multinomial", [p1], shape=(3, 2)).shape == (3, 2)
    assert nd.invoke("_sample_multinomial", [nd.array(PROBS)]).shape == (2,)
    data = nd.array(np.full((2, 3, 4), 0.25))
    assert nd.invoke("_sample_multinomial", [data], shape=(5,)).shape == (2, 3, 5)


@pytest.mark.parametrize("dtype", ["int32", "uint8", "float16", "float32", "float64"])
def test_multinomial_index_type_is_dtype(dtype):
    out = nd.invoke("_sample_multinomial", [nd.array(PROBS)], shape=(7,), dtype=dtype)
    assert out.dtype == np.dtype(dtype)
    assert set(np.unique(out.asnumpy()).astype(int)) <= {0, 1, 2, 3}


def test_multinomial_get_prob_returns_the_log_probability_of_each_draw():
    mx.random.seed(42)
    idx, logp = nd.invoke("_sample_multinomial", [nd.array(PROBS, dtype="float64")], shape=(9,),
                          get_prob=True)
    idx, logp = idx.asnumpy(), logp.asnumpy()
    assert logp.dtype == np.float64
    np.testing.assert_allclose(logp, np.log(np.take_along_axis(PROBS, idx.astype(int), axis=1)))


def test_multinomial_gradient_is_the_head_gradient_over_the_probability_of_each_draw():
    mx.random.seed(43)
    data = nd.array(PROBS, dtype="float64")
    idx, logp = nd.invoke("_sample_multinomial", [data], shape=(6,), get_prob=True)
    rng = np.random.default_rng(0)
    head = rng.standard_normal((2, 6))
    expected = np.zeros_like(PROBS)
    drawn = idx.asnumpy().astype(int)
    for r in range(2):
        for j in range(6):
            expected[r, drawn[r, j]] += head[r, j] / PROBS[r, drawn[r, j]]
    for req, start in (("write", 0.0), ("add", 1.0)):
        grad = nd.array(np.full(PROBS.shape, start), dtype="float64")
        _native.invoke_backward("_sample_multinomial", {"shape": "(6,)", "get_prob": "True"},
                                [nd.zeros((2, 6), dtype="int32")._h, nd.array(head, dtype="float64")._h],
                                [data._h], [idx._h, logp._h], [grad._h], [req], True)
        np.testing.assert_allclose(grad.asnumpy(), expected + start)


def test_multinomial_without_get_prob_has_a_zero_gradient():
    data = nd.array(PROBS)
    idx = nd.invoke("_sample_multinomial", [data])
    grad = nd.array(np.full(PROBS.shape, 3.0))
    _native.invoke_backward("_sample_multinomial", {}, [nd.ones((2,), dtype="int32")._h], [data._h], [idx._h],
                            [grad._h], ["write"], True)
    assert np.all(grad.asnumpy() == 0)


def test_multinomial_refuses_negative_probabilities_when_run():
    out = nd.invoke("_sample_multinomial", [nd.array([[0.5, -0.5, 1.0]])])
    with pytest.raises(mx.MXNetError, match=r"_sample_multinomial: data\[0, 1\]=-0.5: expected probabilities >= 0"):
        out.asnumpy()


@pytest.mark.parametrize("call,match", [
    (lambda: nd.invoke("_sample_multinomial", [nd.array(PROBS)], dtype="int64"),
     r"_sample_multinomial: dtype='int64': expected one of"),
    (lambda: nd.invoke("_sample_multinomial", [nd.array(PROBS, dtype="int32")]),
     r"_sample_multinomial: data=an array of type int32"),
    (lambda: nd.invoke("_sample_multinomial", [nd.array(PROBS)], shape=(0,)),
     r"_sample_multinomial: shape=\(0,\): expected a tuple of positive integers"),
])
def test_multinomial_bad_arguments_are_refused_before_a_push(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()


# ---- unique zipfian ------------------------------------------------------------------------

def _zipfian_probabilities(range_max):
    # P(c) of round(exp(u log R)) - 1 = c for u uniform on [0, 1).
    c = np.arange(range_max, dtype=np.float64)
    lo = np.log(np.maximum(c + 0.5, 1.0))
    hi = np.log(np.minimum(c + 1.5, range_max))
    return (hi - lo) / np.log(range_max)


def test_unique_zipfian_rows_hold_distinct_classes_in_range():
    mx.random.seed(51)
    samples, tries = nd.invoke("_sample_unique_zipfian", [], range_max=50, shape=(20, 10))
    s, t = samples.asnumpy(), tries.asnumpy()
    assert s.shape == (20, 10) and s.dtype == np.int64 and t.shape == (20,) and t.dtype == np.int64
    for row in s:
        assert len(set(row.tolist())) == 10
    assert s.min() >= 0 and s.max() < 50
    assert np.all(t >= 10)


def test_unique_zipfian_first_draws_follow_the_log_uniform_law():
    # With one sample a row, each row's draw is one draw of the law, taking one try.
    mx.random.seed(52)
    samples, tries = nd.invoke("_sample_unique_zipfian", [], range_max=20, shape=(40_000, 1))
    s = samples.asnumpy().reshape(-1)
    assert np.all(tries.asnumpy() == 1)
    p = _zipfian_probabilities(20)
    assert abs(p.sum() - 1) < 1e-12
    counts = np.bincount(s, minlength=20)
    assert stats.chisquare(counts, p * s.size).pvalue > 1e-3


def test_unique_zipfian_tries_count_every_draw():
    # All classes of a range of 3: the number of tries is at least 3 and its mean matches
    # the coupon collector's expectation under the law.
    mx.random.seed(53)
    _, tries = nd.invoke("_sample_unique_zipfian", [], range_max=3, shape=(20_000, 3))
    p = _zipfian_probabilities(3)
    # E[T] for collecting all of 3 coupons: sum over subsets by inclusion-exclusion.
    expect = sum(1 / q for q in p) - sum(1 / (p[i] + p[j]) for i in range(3) for j in range(i + 1, 3)) + 1
    t = tries.asnumpy().astype(np.float64)
    assert t.min() >= 3
    assert abs(t.mean() - expect) < 5 * t.std() / np.sqrt(t.size)


@pytest.mark.parametrize("attrs,match", [
    ({"range_max": "10", "shape": "(2, 11)"}, r"_sample_unique_zipfian: shape=\(2, 11\): expected at most range_max \(10\)"),
    ({"range_max": "10", "shape": "(6,)"}, r"_sample_unique_zipfian: shape=\(6,\): expected a 2-d shape"),
    ({"range_max": "0", "shape": "(1, 1)"}, r"_sample_unique_zipfian: range_max=0: expected an integer >= 1"),
    ({"shape": "(1, 1)"}, r"range_max"),
])
def test_unique_zipfian_bad_attributes_are_refused(attrs, match):
    with pytest.raises(mx.MXNetError, match=match):
        _native.prepare("_sample_unique_zipfian", attrs)
