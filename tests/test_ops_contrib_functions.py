"""The functions MXNet 1.9.1 writes in Python in mx.nd.contrib: isinf, isfinite and isnan
against numpy, rand_zipfian's classes and expected counts against its definition, and the
list-taking AdamW and LAMB updates against the registered operators they call."""
from __future__ import annotations

import math

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd

VALUES = np.array([1.0, np.inf, -np.inf, np.nan, -2.5, 0.0])


@pytest.mark.parametrize("name", ["isinf", "isfinite", "isnan"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_elementwise_checks_match_numpy(name, dtype):
    got = getattr(nd.contrib, name)(nd.array(VALUES, dtype=dtype))
    np.testing.assert_array_equal(got.asnumpy(), getattr(np, name)(VALUES).astype(dtype))


def test_elementwise_checks_refuse_non_arrays():
    with pytest.raises(mx.MXNetError, match=r"isnan: data=\[1\.0\]: expected an NDArray"):
        nd.contrib.isnan([1.0])


def test_rand_zipfian_draws_classes_in_range_with_their_expected_counts():
    mx.random.seed(3)
    true = nd.array([0, 3, 9])
    sampled, count_true, count_sampled = nd.contrib.rand_zipfian(true, 500, 10)
    s = sampled.asnumpy()
    assert sampled.dtype == np.int64 and s.shape == (500,)
    assert s.min() >= 0 and s.max() < 10
    prob = lambda c: np.log((c + 2.0) / (c + 1.0)) / math.log(11)  # noqa: E731
    np.testing.assert_allclose(count_true.asnumpy(), prob(np.array([0, 3, 9.0])) * 500, rtol=1e-12)
    np.testing.assert_allclose(count_sampled.asnumpy(), prob(s.astype(np.float64)) * 500, rtol=1e-12)
    # Small classes are the most frequent.
    assert np.mean(s == 0) > np.mean(s == 9)


def test_rand_zipfian_refuses_bad_counts():
    with pytest.raises(mx.MXNetError, match=r"rand_zipfian: range_max=0: expected an integer >= 1"):
        nd.contrib.rand_zipfian(nd.array([1]), 3, 0)


def _states(shape, seed):
    rng = np.random.default_rng(seed)
    return [nd.array(rng.standard_normal(shape)) for _ in range(3)] + [nd.array(np.abs(rng.standard_normal(shape)))]


def test_adamw_update_takes_rescale_grad_as_a_number():
    w, g, m, v = _states((3, 2), 0)
    w2, g2, m2, v2 = [x.copy() for x in (w, g, m, v)]
    nd.contrib.adamw_update(w, g, m, v, 0.5, lr=0.1, eta=1.0, wd=0.01, out=w)
    mx.nd.invoke("_adamw_update", [w2, g2, m2, v2, nd.full((1,), 0.5)], out=w2, lr=0.1, eta=1.0, wd=0.01)
    np.testing.assert_array_equal(w.asnumpy(), w2.asnumpy())
    np.testing.assert_array_equal(v.asnumpy(), v2.asnumpy())


def test_multi_lamb_update_takes_lists():
    groups = [_states((4,), 1), _states((2, 3), 2)]
    copies = [[x.copy() for x in grp] for grp in groups]
    weights = [grp[0] for grp in groups]
    nd.contrib.multi_lamb_update(weights, [grp[1] for grp in groups], [grp[2] for grp in groups],
                                 [grp[3] for grp in groups], step_count=[1, 1], lrs=[0.1, 0.2], wds=[0.0, 0.01],
                                 out=weights)
    flat = [x for grp in copies for x in grp]
    mx.nd.invoke("_multi_lamb_update", flat, out=[grp[0] for grp in copies], num_tensors=2, step_count=[1, 1],
                 learning_rates=[0.1, 0.2], wds=[0.0, 0.01])
    for got, want in zip(weights, copies):
        np.testing.assert_array_equal(got.asnumpy(), want[0].asnumpy())


def test_crop_is_slice_under_mxnets_alias():
    x = np.arange(24.0).reshape(2, 3, 4)
    got = nd.crop(nd.array(x), begin=(0, 1), end=(2, 3))
    np.testing.assert_array_equal(got.asnumpy(), x[0:2, 1:3])
    assert mx.sym.crop(mx.sym.Variable("x"), begin=(0,), end=(1,)).infer_shape(x=(2, 3))[1] == [(1, 3)]
