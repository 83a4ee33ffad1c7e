"""How much of MXNet 1.9.1's operator surface flowmod has: the public names of mx.nd, mx.sym,
mx.nd.contrib, mx.nd.linalg and mx.nd.random, recorded from MXNet in
tests/data/mxnet_op_names.json (tests/data/record_mxnet_op_names.py), against flowmod's.

    python tests/test_op_coverage.py     # prints the coverage and the names still missing

The names still missing are listed here one by one, each with the reason it is left out, so
that a name lost from a namespace fails a test, and a name added has to be taken off the list.
"""
from __future__ import annotations

import json
import os

import pytest

import flowmod as mx

with open(os.path.join(os.path.dirname(__file__), "data", "mxnet_op_names.json")) as _f:
    RECORDED = json.load(_f)

NAMESPACES = {"nd": lambda: mx.nd, "sym": lambda: mx.sym, "contrib": lambda: mx.nd.contrib,
              "linalg": lambda: mx.nd.linalg, "random": lambda: mx.nd.random}

# Custom runs Python operators through mx.operator (mx.nd.Custom is there, but takes the
# operator's own arguments); the sparse-only operators work on CSR and row_sparse arrays
# alone; cast_storage converts between storage types.
_SPARSE = {"cast_storage", "Custom"}
_CONTRIB_MISSING = {
    # Quantized inference (INT8 graphs made by mx.contrib.quantization).
    "calibrate_entropy", "dequantize", "quantize", "quantize_asym", "quantize_v2", "quantized_act",
    "quantized_batch_norm", "quantized_concat", "quantized_conv", "quantized_elemwise_add",
    "quantized_elemwise_mul", "quantized_embedding", "quantized_flatten", "quantized_fully_connected",
    "quantized_pooling", "quantized_rnn", "requantize",
    # Graph operators of the Deep Graph Library, on CSR adjacency matrices.
    "dgl_adjacency", "dgl_csr_neighbor_non_uniform_sample", "dgl_csr_neighbor_uniform_sample",
    "dgl_graph_compact", "dgl_subgraph", "edge_id", "getnnz",
    # Control flow over subgraphs (Gluon's hybridized loops).
    "cond", "foreach", "while_loop",
}


def names(namespace: str) -> set:
    module = NAMESPACES[namespace]()
    return {n for n in RECORDED[namespace] if callable(getattr(module, n, None))}


def missing(namespace: str) -> set:
    return set(RECORDED[namespace]) - names(namespace)


def coverage() -> dict:
    return {ns: (len(names(ns)), len(RECORDED[ns])) for ns in NAMESPACES}


def test_recording_is_of_mxnet_1_9_1():
    assert RECORDED["mxnet_version"] == "1.9.1"


@pytest.mark.parametrize("namespace", ["nd", "sym"])
def test_nd_and_sym_have_at_least_250_of_mxnets_269_operators(namespace):
    have, total = coverage()[namespace]
    assert total == 269
    assert have >= 250, sorted(missing(namespace))


@pytest.mark.parametrize("namespace", ["linalg", "random"])
def test_linalg_and_random_have_every_mxnet_name(namespace):
    assert missing(namespace) == set()


def test_contrib_misses_only_quantization_graph_and_control_flow_operators():
    assert missing("contrib") == _CONTRIB_MISSING


def test_contrib_has_the_operators_added_for_mxnet_compatibility():
    for name in ("boolean_mask", "fft", "ifft", "adamw_update", "box_nms", "index_copy", "count_sketch"):
        assert callable(getattr(mx.nd.contrib, name)), name
        assert callable(getattr(mx.sym.contrib, name)), name


@pytest.mark.parametrize("namespace", ["nd", "sym"])
def test_nd_and_sym_miss_only_the_sparse_storage_and_custom_names(namespace):
    assert missing(namespace) <= _SPARSE | _SPARSE_ONLY


# The operators MXNet 1.9.1 defines for sparse arrays only (flowmod's sparse arrays reach them
# through mx.nd.sparse).
_SPARSE_ONLY = {"_square_sum", "sparse_retain", "_sparse_retain"}


if __name__ == "__main__":
    for ns, (have, total) in coverage().items():
        print(f"{ns:8s} {have:4d} / {total:4d}   missing: {', '.join(sorted(missing(ns))) or '-'}")
