"""flowmod.random (MXNet's mx.random) and the sampling operators behind it: seeding gives
reproducible streams per device, samples have the expected distribution, and bad arguments
raise MXNetError naming the problem."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd
from flowmod import random as mxrandom


def test_the_same_seed_gives_the_same_stream():
    mxrandom.seed(42)
    a = mxrandom.uniform(0, 1, shape=(50,)).asnumpy()
    b = mxrandom.normal(0, 1, shape=(3, 4)).asnumpy()
    c = mxrandom.randint(0, 100, shape=(20,)).asnumpy()
    mxrandom.seed(42)
    np.testing.assert_array_equal(mxrandom.uniform(0, 1, shape=(50,)).asnumpy(), a)
    np.testing.assert_array_equal(mxrandom.normal(0, 1, shape=(3, 4)).asnumpy(), b)
    np.testing.assert_array_equal(mxrandom.randint(0, 100, shape=(20,)).asnumpy(), c)
    mxrandom.seed(43)
    assert not np.array_equal(mxrandom.uniform(0, 1, shape=(50,)).asnumpy(), a)


def test_successive_draws_differ():
    mxrandom.seed(1)
    a = mxrandom.uniform(shape=(20,)).asnumpy()
    b = mxrandom.uniform(shape=(20,)).asnumpy()
    assert not np.array_equal(a, b)


def test_devices_draw_different_streams():
    mxrandom.seed(7)
    a = mxrandom.uniform(shape=(100,), ctx=mx.cpu(0))
    b = mxrandom.uniform(shape=(100,), ctx=mx.cpu(1))
    assert a.context == mx.cpu(0) and b.context == mx.cpu(1)
    assert not np.array_equal(a.asnumpy(), b.asnumpy())
    # each device's stream is reproducible on its own
    mxrandom.seed(7)
    np.testing.assert_array_equal(mxrandom.uniform(shape=(100,), ctx=mx.cpu(1)).asnumpy(), b.asnumpy())


def test_seeding_one_device_leaves_the_others_alone():
    mxrandom.seed(3)
    mxrandom.seed(11, ctx=mx.cpu(1))
    a1 = mxrandom.uniform(shape=(30,), ctx=mx.cpu(1)).asnumpy()
    a0 = mxrandom.uniform(shape=(30,), ctx=mx.cpu(0)).asnumpy()
    mxrandom.seed(3)
    np.testing.assert_array_equal(mxrandom.uniform(shape=(30,), ctx=mx.cpu(0)).asnumpy(), a0)
    mxrandom.seed(11, ctx=mx.cpu(1))
    np.testing.assert_array_equal(mxrandom.uniform(shape=(30,), ctx=mx.cpu(1)).asnumpy(), a1)


def test_uniform_moments_and_range():
    mxrandom.seed(0)
    x = mxrandom.uniform(-2, 3, shape=(100000,)).asnumpy().astype(np.float64)
    assert x.min() >= -2 and x.max() < 3
    assert abs(x.mean() - 0.5) < 0.03
    assert abs(x.var() - 25 / 12) < 0.05


def test_normal_moments():
    mxrandom.seed(0)
    x = mxrandom.normal(2, 3, shape=(100000,), dtype="float64").asnumpy()
    assert x.dtype == np.float64
    assert abs(x.mean() - 2) < 0.05
    assert abs(x.std() - 3) < 0.05
    assert np.all(mxrandom.normal(1.5, 0, shape=(4,)).asnumpy() == 1.5)


def test_randint_range_and_type():
    mxrandom.seed(0)
    x = mxrandom.randint(-3, 4, shape=(20000,))
    assert x.dtype == np.int32
    values = x.asnumpy()
    assert set(np.unique(values)) == set(range(-3, 4))
    counts = np.bincount(values + 3)
    assert counts.min() > 2500
    y = mxrandom.randint(0, 2 ** 40, shape=(100,), dtype="int64")
    assert y.dtype == np.int64 and y.asnumpy().max() > 2 ** 32


def test_shapes_types_and_out():
    assert mxrandom.uniform().shape == (1,)
    assert mxrandom.normal(shape=5).shape == (5,)
    assert mxrandom.uniform(shape=(2, 3), dtype="float16").dtype == np.float16
    out = nd.zeros((3, 2), dtype="float64")
    got = mxrandom.uniform(5, 6, out=out)
    assert got is out and out.dtype == np.float64
    assert np.all((out.asnumpy() >= 5) & (out.asnumpy() < 6))
    out1 = nd.zeros((4,), ctx=mx.cpu(1))
    mxrandom.normal(out=out1)
    assert out1.context == mx.cpu(1) and np.all(out1.asnumpy() != 0)
    empty = mxrandom.uniform(shape=(0, 3))
    assert empty.shape == (0, 3)


def test_float16_uniform_stays_below_high():
    mxrandom.seed(5)
    x = mxrandom.uniform(0, 1, shape=(20000,), dtype="float16").asnumpy()
    assert x.max() < 1 and x.min() >= 0


def test_shuffle_is_a_permutation_of_the_rows():
    mxrandom.seed(9)
    data = nd.array(np.arange(20).reshape(10, 2), dtype="int64")
    out = mxrandom.shuffle(data).asnumpy()
    assert sorted(map(tuple, out)) == [(2 * i, 2 * i + 1) for i in range(10)]
    assert not np.array_equal(out, data.asnumpy())
    np.testing.assert_array_equal(data.asnumpy(), np.arange(20).reshape(10, 2))  # input untouched
    flat = mxrandom.shuffle(nd.arange(50)).asnumpy()
    assert sorted(flat) == list(range(50))
    mxrandom.seed(9)
    np.testing.assert_array_equal(mxrandom.shuffle(data).asnumpy(), out)


def test_shuffle_in_place_and_of_a_row_slice():
    big = nd.array(np.arange(12).reshape(6, 2))
    view = big[1:5]
    mxrandom.shuffle(view, out=view)
    got = big.asnumpy()
    assert sorted(map(tuple, got[1:5])) == [(2.0, 3.0), (4.0, 5.0), (6.0, 7.0), (8.0, 9.0)]
    np.testing.assert_array_equal(got[[0, 5]], [[0, 1], [10, 11]])


def test_the_operators_are_registered_without_gradient():
    for name in ["_random_uniform", "_random_normal", "_random_randint", "_shuffle"]:
        info = _native.op_info(name, {"low": "0", "high": "2"} if name == "_random_randint" else {})
        assert info["needs_rng"] and not info["has_backward"]
    assert _native.op_info("_random_uniform", {})["arguments"] == []
    assert _native.op_info("_shuffle", {})["arguments"] == ["data"]


def test_operators_accept_mxnet_attribute_forms():
    out = nd.empty((2, 2))
    nd.invoke("_random_uniform", [], out=out, low="0.5", high="0.75", shape="(2, 2)", ctx="cpu(0)",
              dtype="None")
    assert np.all((out.asnumpy() >= 0.5) & (out.asnumpy() < 0.75))
    ints = nd.empty((5,), dtype="int64")
    nd.invoke("_random_randint", [], out=ints, low=3, high=4, shape=(5,), dtype="'int64'")
    assert ints.asnumpy().tolist() == [3] * 5


@pytest.mark.parametrize("call,match", [
    (lambda: mxrandom.uniform(2, 1, shape=(2,)), r"_random_uniform: high=1: expected a number >= low"),
    (lambda: mxrandom.normal(0, -1, shape=(2,)), r"_random_normal: scale=-1: expected a number >= 0"),
    (lambda: mxrandom.randint(5, 5, shape=(2,)), r"_random_randint: high=5: expected an integer > low"),
    (lambda: mxrandom.randint(0.5, 5), r"randint: low=0.5: expected an integer"),
    (lambda: mxrandom.uniform("a", 1), r"uniform: low='a': expected a number"),
    (lambda: mxrandom.uniform(nd.zeros((2,)), 1), r"uniform: high=1: expected an NDArray, as low is one"),
    (lambda: mxrandom.uniform(shape=(2,), dtype="int32"), r"uniform: dtype='int32': expected one of float16"),
    (lambda: mxrandom.randint(0, 3, dtype="float32"), r"randint: dtype='float32': expected one of int32, int64"),
    (lambda: mxrandom.uniform(shape=(-1, 2)), r"shape=\(-1, 2\): expected a tuple of non-negative integers"),
    (lambda: mxrandom.uniform(ctx="cpu"), r"uniform: ctx='cpu': expected a Context"),
    (lambda: mxrandom.uniform(shape=(3,), out=nd.zeros((2,))), r"uniform: shape=\(3,\): expected the shape of out"),
    (lambda: mxrandom.uniform(out=nd.zeros((2,), dtype="int32")), r"uniform: out=<NDArray of type int32>"),
    (lambda: mxrandom.uniform(out=nd.zeros((2,)), ctx=mx.cpu(1)), r"uniform: ctx=cpu\(1\): expected the context of out"),
    (lambda: mxrandom.seed(1.5), r"seed: seed_state=1.5: expected an integer"),
    (lambda: mxrandom.seed(1, ctx="cpu"), r"seed: ctx='cpu': expected 'all' or a Context"),
    (lambda: mxrandom.shuffle(np.arange(3)), r"shuffle: data=array\(\[0, 1, 2\]\): expected an NDArray"),
    (lambda: nd.invoke("_random_uniform", [], out=nd.empty((2,)), shape=(2,), dtype="int8"),
     r"_random_uniform: dtype='int8': expected one of 'None', 'float16'"),
    (lambda: nd.invoke("_random_normal", [], out=nd.empty((2,)), shape=(2,), mean=1),
     r"_random_normal: mean='1': expected an attribute of _random_normal"),
    (lambda: nd.invoke("_random_uniform", [], out=nd.empty((2,)), shape=(3,)),
     r"_random_uniform: out=an array of shape \(2,\): expected shape \(3,\)"),
])
def test_bad_arguments_raise_naming_the_problem(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
