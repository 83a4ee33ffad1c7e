"""_linspace and _eye, and mx.nd/mx.sym linspace and eye over them, against numpy."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd


@pytest.mark.parametrize("start,stop,num,endpoint", [(2.0, 3.0, 5, True), (2.0, 3.0, 5, False), (0, 1, 1, True),
                                                     (5, -5, 11, True), (0, 1, 0, True), (1, 2, 1, False)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linspace_matches_numpy(start, stop, num, endpoint, dtype):
    got = nd.linspace(start, stop, num, endpoint=endpoint, dtype=dtype)
    assert got.dtype == dtype and got.shape == (num,)
    np.testing.assert_allclose(got.asnumpy(), np.linspace(start, stop, num, endpoint=endpoint), rtol=1e-6, atol=1e-6)


def test_linspace_integer_types_truncate_as_mxnet():
    # MXNet 1.9.1: linspace(0, 10, 5, dtype='int32') = [0, 2, 5, 7, 10]
    got = nd.linspace(0, 10, 5, dtype="int32")
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got.asnumpy(), [0, 2, 5, 7, 10])


@pytest.mark.parametrize("n,m,k", [(3, 0, 0), (3, 4, 1), (3, 4, -1), (4, 2, -3), (2, 2, 5), (0, 0, 0)])
@pytest.mark.parametrize("dtype", [None, "float64", "int32", "uint8"])
def test_eye_matches_numpy(n, m, k, dtype):
    got = nd.eye(n, m, k, dtype=dtype)
    assert got.dtype == np.dtype(dtype or "float32")
    np.testing.assert_array_equal(got.asnumpy(), np.eye(n, m or n, k))


def test_symbol_linspace_and_eye_evaluate_to_numpys():
    lin = mx.sym.linspace(0, 1, 4, endpoint=False, name="lin")
    (out,) = lin.eval(ctx=mx.cpu())
    np.testing.assert_allclose(out.asnumpy(), np.linspace(0, 1, 4, endpoint=False), rtol=1e-6)
    assert lin.infer_shape()[1] == [(4,)]
    eye = mx.sym.eye(2, 3, 1, dtype="float64")
    (out,) = eye.eval(ctx=mx.cpu())
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out.asnumpy(), np.eye(2, 3, 1))


@pytest.mark.parametrize("call,match", [
    (lambda: nd.linspace(0, 1, -1), r"_linspace: num=-1: expected a non-negative number of samples"),
    (lambda: nd._linspace(start=0, stop=1, num=3, step=2), r"_linspace: step=2: expected no such attribute: "
                                                          r"linspace takes start, stop, num and endpoint"),
    (lambda: nd._linspace(start=0, stop=1), r"_linspace: num=\(missing\): expected an integer"),
    (lambda: nd.eye(-1), r"_eye: N=-1: expected a non-negative number of rows"),
    (lambda: nd.eye(2, dtype="bool"), r"_eye: dtype='bool': expected one of"),
    (lambda: nd.eye(2, 2, 0.5), r"_eye: k='0.5': expected an integer"),
])
def test_bad_linspace_and_eye_arguments_are_refused(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
