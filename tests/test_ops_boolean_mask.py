"""contrib.boolean_mask, whose output's first dimension is the number of non-zero entries of
index: numpy's boolean indexing as the reference, its gradient against float64 finite
differences, MXNet 1.9.1's recorded output and gradient, the Symbol graph's refusal (its
output's shape is unknown before index is computed) and the refusals of bad input."""
from __future__ import annotations

import os

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd
from op_check import check_gradient

REFS = np.load(os.path.join(os.path.dirname(__file__), "data", "mxnet_added_ops_refs.npz"))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
@pytest.mark.parametrize("index_dtype", ["float32", "int64", "bool"])
def test_boolean_mask_matches_numpy_boolean_indexing(dtype, index_dtype):
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((7, 3, 2)) * 10).astype(dtype)
    index = np.array([1, 0, 0, 1, 1, 0, 1]).astype(index_dtype)
    y = nd.contrib.boolean_mask(nd.array(data, dtype=dtype), nd.array(index, dtype=index_dtype))
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y.asnumpy(), data[index.astype(bool)])


def test_boolean_mask_of_an_all_zero_index_has_no_rows():
    y = nd.contrib.boolean_mask(nd.ones((3, 4)), nd.zeros((3,)))
    assert y.shape == (0, 4)


def test_boolean_mask_waits_for_an_index_still_being_computed():
    data = nd.array(np.arange(12.0).reshape(4, 3))
    index = nd.zeros((4,))
    index[:] = 0
    index = index + nd.array([0, 1, 0, 1])  # pushed, not waited for
    np.testing.assert_array_equal(nd.contrib.boolean_mask(data, index).asnumpy(), [[3, 4, 5], [9, 10, 11]])


def test_boolean_mask_writes_into_out():
    out = nd.zeros((2, 2))
    got = nd.contrib.boolean_mask(nd.array([[1, 2], [3, 4], [5, 6]]), nd.array([1, 0, 1]), out=out)
    assert got is out
    np.testing.assert_array_equal(out.asnumpy(), [[1, 2], [5, 6]])


def test_boolean_mask_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    data, index = rng.standard_normal((6, 2, 3)), np.array([0.0, 2.0, 1.0, 0.0, -1.0, 0.0])
    grads = check_gradient("_contrib_boolean_mask", [data, index], wrt=[0], **{"__num_selected__": 3})
    assert np.all(grads[0][[0, 3, 5]] == 0)


def test_boolean_mask_gradient_under_null_and_add():
    data, index = nd.array(np.ones((3, 2))), nd.array([1, 0, 1])
    attrs = {"__num_selected__": "2"}
    (y,) = _native.invoke("_contrib_boolean_mask", [data._h, index._h], attrs, [], True, True)
    head = nd.array([[1, 2], [3, 4]])
    g, gi = nd.full((3, 2), 5.0), nd.full((3,), 9.0)
    _native.invoke_backward("_contrib_boolean_mask", attrs, [head._h], [data._h, index._h], [y],
                            [g._h, gi._h], ["add", "null"], True)
    np.testing.assert_array_equal(g.asnumpy(), [[6, 7], [5, 5], [8, 9]])
    np.testing.assert_array_equal(gi.asnumpy(), [9, 9, 9])


def test_boolean_mask_matches_mxnet_1_9_1():
    data, index, head = REFS["boolean_mask/data"], REFS["boolean_mask/index"], REFS["boolean_mask/head"]
    a, i = nd.array(data, dtype="float64"), nd.array(index)
    y = nd.contrib.boolean_mask(a, i)
    np.testing.assert_array_equal(y.asnumpy(), REFS["boolean_mask/out"])
    attrs = {"__num_selected__": str(y.shape[0])}
    g = nd.zeros(data.shape, dtype="float64")
    _native.invoke_backward("_contrib_boolean_mask", attrs, [nd.array(head, dtype="float64")._h], [a._h, i._h],
                            [y._h], [g._h, nd.zeros(index.shape)._h], ["write", "null"], True)
    np.testing.assert_array_equal(g.asnumpy(), REFS["boolean_mask/grad"])


def test_boolean_mask_symbol_output_shape_is_unknown_until_index_is_computed():
    sym = mx.sym.contrib.boolean_mask(mx.sym.Variable("data"), mx.sym.Variable("index"))
    assert sym.list_arguments() == ["data", "index"]
    _, outs, _ = sym.infer_shape_partial(data=(4, 3), index=(4,))
    assert outs[0] is None or -1 in outs[0] or 0 in outs[0] or outs[0] == ()
    with pytest.raises(mx.MXNetError):
        sym.simple_bind(mx.cpu(), data=(4, 3), index=(4,))


@pytest.mark.parametrize("call,match", [
    (lambda: nd.contrib.boolean_mask(nd.ones((3, 2)), nd.ones((3, 1))),
     r"_contrib_boolean_mask: index=an array of shape \(3, 1\): expected a 1-d array"),
    (lambda: nd.contrib.boolean_mask(nd.ones((3, 2)), nd.ones((4,))),
     r"_contrib_boolean_mask: index=shape \(4,\): expected shape \(3,\)"),
    (lambda: nd.contrib.boolean_mask(nd.ones((3, 2)), nd.ones((3,)), axis=1),
     r"_contrib_boolean_mask: axis='?1'?: expected 0"),
    (lambda: nd.contrib.boolean_mask(np.ones((3, 2)), nd.ones((3,))),
     r"(?s)_contrib_boolean_mask: data=array\(.*expected an NDArray"),
    (lambda: nd.contrib.boolean_mask(nd.ones((3, 2)), nd.ones((3,)), bogus=2),
     r"_contrib_boolean_mask: bogus=2: expected an attribute"),
])
def test_boolean_mask_refuses_bad_input(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
