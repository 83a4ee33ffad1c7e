"""The array-creation functions take MXNet 1.9's arguments and refuse what flowmod does not
support instead of dropping it: sparse storage types and unknown keywords. Expected values
are MXNet 1.9.1's (``tests/data/mxnet_conventions_refs.json``)."""
from __future__ import annotations

import inspect
import json
import os

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd

with open(os.path.join(os.path.dirname(__file__), "data", "mxnet_conventions_refs.json")) as f:
    CREATION = json.load(f)["creation"]


def _signature(fn):
    return str(inspect.signature(fn)).split(" ->")[0].replace("ctx: 'Context | None' = None",
                                                              "ctx=None")


def test_full_defaults_to_float32_as_mxnet():
    assert np.dtype(nd.full((2,), 3).dtype).name == CREATION["full_dtype"]
    assert inspect.signature(nd.full).parameters["dtype"].default is np.float32
    assert nd.full((2,), 3, dtype=None).dtype == np.float32


def test_full_signature_is_mxnets():
    assert _signature(nd.full).replace("out: 'NDArray | None' = None", "out=None") == \
        CREATION["full_signature"]


def test_arange_signature_is_mxnets():
    assert _signature(nd.arange) == CREATION["arange_signature"]


@pytest.mark.parametrize("infer_range", [None, False, True])
def test_arange_values_do_not_depend_on_infer_range_as_in_mxnet(infer_range):
    np.testing.assert_array_equal(nd.arange(1, 6, 2, infer_range=infer_range).asnumpy(),
                                  CREATION["arange"][str(infer_range)])


def test_arange_refuses_an_infer_range_that_is_not_a_bool():
    with pytest.raises(mx.MXNetError, match=r"infer_range='yes': expected None, True or False"):
        nd.arange(3, infer_range="yes")


# ---- sparse storage ---------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda stype: nd.zeros((2, 2), stype=stype),
    lambda stype: nd.empty((2, 2), stype=stype),
], ids=["zeros", "empty"])
@pytest.mark.parametrize("stype", ["row_sparse", "csr"])
def test_sparse_storage_type_gives_a_sparse_array(make, stype):
    assert CREATION["zeros_row_sparse_stype"] == "row_sparse"
    assert CREATION["empty_csr_stype"] == "csr"
    a = make(stype)
    assert a.stype == stype and a.shape == (2, 2) and a.data.shape[0] == 0
    np.testing.assert_array_equal(a.asnumpy(), np.zeros((2, 2)))


@pytest.mark.parametrize("stype", ["row_sparse", "csr"])
def test_ones_is_dense_only(stype):
    with pytest.raises(mx.MXNetError, match=f"ones: stype='{stype}': ones makes dense"):
        nd.ones((2, 2), stype=stype)


def test_default_storage_type_is_accepted_as_in_mxnet():
    assert CREATION["zeros_default_stype"] == "default"
    np.testing.assert_array_equal(nd.zeros((2, 2), stype="default").asnumpy(), np.zeros((2, 2)))
    np.testing.assert_array_equal(nd.empty((1,), stype=None).shape, (1,))


def test_unknown_storage_type_names_the_choices():
    with pytest.raises(mx.MXNetError, match=r"stype='dense': expected one of 'default', "
                                            r"'row_sparse', 'csr'"):
        nd.zeros((2,), stype="dense")


def test_scipy_sparse_matrix_gives_a_csr_array():
    sparse = pytest.importorskip("scipy.sparse")
    a = nd.array(sparse.csr_matrix(np.eye(2)))
    assert a.stype == "csr" and a.dtype == np.float64
    np.testing.assert_array_equal(a.asnumpy(), np.eye(2))


def test_array_takes_no_storage_type_as_in_mxnet():
    ref = CREATION["array_stype"]
    with pytest.raises(TypeError) as info:
        nd.array([1, 2], stype="csr")
    assert str(info.value) == ref["full"]


# ---- unknown keywords -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["zeros", "ones"])
def test_unknown_keyword_of_zeros_and_ones_is_a_type_error_and_an_mxnet_error(name):
    # MXNet's fill operator raises MXNetError; Python's own error would be a TypeError.
    assert CREATION[f"{name}_bogus"]["type"] == "MXNetError"
    with pytest.raises(TypeError, match=rf"{name}\(\) got unexpected keyword arguments "
                                        r"'bogus'") as info:
        getattr(nd, name)((2,), bogus=1)
    assert isinstance(info.value, mx.MXNetError)


@pytest.mark.parametrize("name,call", [("empty", lambda: nd.empty((2,), bogus=1)),
                                       ("full", lambda: nd.full((2,), 1, bogus=1))])
def test_unknown_keyword_of_empty_and_full_is_mxnets_type_error(name, call):
    with pytest.raises(TypeError) as info:
        call()
    assert str(info.value) == CREATION[f"{name}_bogus"]["full"]


def test_zeros_and_ones_fill_the_out_array():
    out = nd.ones((2, 2))
    assert nd.zeros((2, 2), out=out) is out
    np.testing.assert_array_equal(out.asnumpy(), np.zeros((2, 2)))
    assert nd.ones((2, 2), out=out) is out
    np.testing.assert_array_equal(out.asnumpy(), np.ones((2, 2)))


def test_out_that_is_not_an_array_is_refused():
    with pytest.raises(mx.MXNetError, match=r"zeros: out=\[0\]: expected an NDArray"):
        nd.zeros((1,), out=[0])
