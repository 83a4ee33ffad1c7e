"""all_finite and fill_element_0index, the operators MXNet documents with NDArray attributes:
their values against numpy, the arrays taken by position or by name as MXNet's front ends
take them, and bad arguments refused."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd

rng = np.random.default_rng(41)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_all_finite_matches_numpy(dtype):
    x = rng.standard_normal((3, 4)).astype(dtype)
    got = nd.all_finite(nd.array(x, dtype=dtype))
    assert got.dtype == np.float32 and got.shape == (1,)
    assert got.asnumpy().tolist() == [1.0]
    for bad in (np.inf, -np.inf, np.nan):
        y = x.copy()
        y[1, 2] = bad
        assert nd.all_finite(data=nd.array(y, dtype=dtype)).asnumpy().tolist() == [0.0]


def test_all_finite_without_init_output_only_clears_the_output():
    # MXNet 1.9.1: multi_all_finite-style accumulation into one output across calls
    out = nd.ones((1,))
    nd.all_finite(nd.array([1.0, 2.0]), init_output=False, out=out)
    assert out.asnumpy().tolist() == [1.0]
    nd.all_finite(nd.array([1.0, np.inf]), init_output=False, out=out)
    assert out.asnumpy().tolist() == [0.0]
    nd.all_finite(nd.array([1.0, 2.0]), init_output=False, out=out)
    assert out.asnumpy().tolist() == [0.0]


def test_fill_element_0index_fills_one_element_per_row():
    lhs = rng.standard_normal((3, 4)).astype(np.float32)
    mhs = np.array([7, 8, 9], np.float32)
    rhs = np.array([0, 3, 1], np.float32)
    got = nd.fill_element_0index(nd.array(lhs), nd.array(mhs), nd.array(rhs)).asnumpy()
    expected = lhs.copy()
    expected[np.arange(3), rhs.astype(np.int64)] = mhs
    np.testing.assert_array_equal(got, expected)
    named = nd.fill_element_0index(lhs=nd.array(lhs), mhs=nd.array(mhs), rhs=nd.array(rhs)).asnumpy()
    np.testing.assert_array_equal(named, expected)


@pytest.mark.parametrize("call,match", [
    (lambda: nd.all_finite(nd.ones((2,), dtype="int32")), r"all_finite: data=an array of type int32"),
    (lambda: nd.all_finite(data="x"), r"all_finite: data='x': expected an NDArray given as the input data"),
    (lambda: nd.fill_element_0index(nd.ones((3,)), nd.ones((3,)), nd.ones((3,))),
     r"fill_element_0index: lhs=an array of shape \(3,\): expected a matrix"),
    (lambda: nd.fill_element_0index(nd.ones((2, 3)), nd.ones((3,)), nd.ones((2,))),
     r"fill_element_0index: mhs=shape \(3,\): expected shape \(2,\)"),
])
def test_bad_arguments_are_refused(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()


def test_fill_element_0index_column_outside_the_row_fails_where_read():
    out = nd.fill_element_0index(nd.ones((2, 3)), nd.ones((2,)), nd.array([0, 3]))
    with pytest.raises(mx.MXNetError, match=r"rhs\[1\]=3 is outside the 3 columns of lhs"):
        out.asnumpy()


def test_all_finite_symbol_takes_its_array_by_position_or_name():
    for s in (mx.sym.all_finite(mx.sym.var("x")), mx.sym.all_finite(data=mx.sym.var("x"))):
        assert s.list_arguments() == ["x"]
        (out,) = s.eval(ctx=mx.cpu(), x=nd.array([1.0, np.nan]))
        assert out.asnumpy().tolist() == [0.0]
