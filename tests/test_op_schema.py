"""Every registered operator's schema (description, inputs in calling order, attributes in
documented order) against MXNet 1.9.1's, recorded in tests/data/mxnet_op_schemas.json by
tests/data/record_mxnet_op_schemas.py."""
from __future__ import annotations

import json
import os

import pytest

import flowmod as mx
from flowmod import _native

OPS = _native.list_ops()
with open(os.path.join(os.path.dirname(__file__), "data", "mxnet_op_schemas.json")) as _f:
    _RECORDED = json.load(_f)
MXNET = _RECORDED["operators"]
# Registered under names MXNet 1.9.1 does not have (MXNet's is _sparse_adagrad_update), and
# the kernels of the sparse arrays, which take their component arrays (csrc/ops/cpu/sparse_*),
# and Accuracy's update in one operation (csrc/ops/cpu/metric_ops.cc).
FLOWMOD_ONLY = {"_metric_accuracy_update", "adagrad_update", "_sparse_csr_dns_dot",
                "_sparse_csrT_dns_dot", "_sparse_dns_csr_dot", "_sparse_take_rows", "_sparse_rsp_to_dense",
                "_sparse_csr_to_dense", "_sparse_row_nnz", "_sparse_dense_to_csr",
                "_sparse_csr_sum", "_rsp_sgd_update", "_rsp_sgd_mom_update",
                "_rsp_adam_update", "_rsp_ftrl_update", "_rsp_adagrad_update"}


def test_recording_is_of_mxnet_1_9_1():
    assert _RECORDED["mxnet_version"] == "1.9.1"


def test_operators_mxnet_lacks_are_the_known_ones():
    assert {op for op in OPS if op not in MXNET} == FLOWMOD_ONLY


@pytest.mark.parametrize("op", OPS)
def test_every_operator_has_a_description_and_described_inputs_and_attributes(op):
    schema = _native.op_schema(op)
    assert schema["name"] == op
    assert schema["description"].strip().endswith(".")
    for name, text in schema["inputs"]:
        assert name and text.strip(), (op, name)
    for param in schema["params"]:
        assert param["description"].strip(), (op, param["name"])
        # MXNet documents a few attributes with no type at all (_histogram's range).
        untyped = op in MXNET and [param["name"], param["type_string"]] in MXNET[op]["params"] \
            and param["type_string"].startswith(",")
        assert param["type"].strip() or untyped, (op, param["name"])
    names = [p["name"] for p in schema["params"]]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("op", sorted(set(OPS) & set(MXNET)))
def test_inputs_are_mxnet_1_9_1s_in_order(op):
    assert [name for name, _ in _native.op_schema(op)["inputs"]] == MXNET[op]["inputs"]


@pytest.mark.parametrize("op", sorted(set(OPS) & set(MXNET)))
def test_attribute_names_order_types_and_defaults_are_mxnet_1_9_1s(op):
    params = _native.op_schema(op)["params"]
    assert [[p["name"], p["type_string"]] for p in params] == MXNET[op]["params"]


@pytest.mark.parametrize("op", sorted(set(OPS) & set(MXNET)))
def test_variadic_operators_name_mxnets_count_attribute(op):
    assert _native.op_schema(op)["key_var_num_args"] == MXNET[op]["key_var_num_args"]


def test_required_attributes_have_no_default():
    params = {p["name"]: p for p in _native.op_schema("FullyConnected")["params"]}
    assert params["num_hidden"]["default"] is None
    assert params["num_hidden"]["type_string"] == "int, required"
    assert params["no_bias"]["default"] == "0"
    assert params["no_bias"]["type_string"] == "boolean, optional, default=0"


@pytest.mark.parametrize("op", OPS)
def test_parsers_accept_every_attribute_of_the_schema(op):
    # Each attribute given alone: a parser may refuse its value (a required one missing, an
    # unsupported setting), never the attribute's name.
    for param in _native.op_schema(op)["params"]:
        value = param["default"] if param["default"] is not None else "1"
        try:
            _native.prepare(op, {param["name"]: value.strip("'")})
        except mx.MXNetError as e:
            assert f"{param['name']}=" not in str(e) or "expected an attribute of" not in str(e), \
                (op, param["name"], str(e))


def test_unknown_operator_is_refused():
    with pytest.raises(mx.MXNetError, match="no operator named 'no_such_op'"):
        _native.op_schema("no_such_op")
