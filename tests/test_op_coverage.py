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

_CONTRIB_MISSING = {
    # Quantized inference (INT8 graphs made by mx.contrib.quantization).
    "calibrate_entropy", "dequantize", "quantize", "quantize_asym", "quantize_v2", "quantized_act",
    "quantized_batch_norm", "quantized_concat", "quantized_conv", "quantized_elemwise_add",
    "quantized_elemwise_mul", "quantized_embedding", "quantized_flatten", "quantized_fully_connected",
    "quantized_pooling", "quantized_rnn", "requantize",
    # Graph operators of the Deep Graph Library, on CSR adjacency matrices, and getnnz (CSR).
    "dgl_adjacency", "dgl_csr_neighbor_non_uniform_sample", "dgl_csr_neighbor_uniform_sample",
    "dgl_graph_compact", "dgl_subgraph", "edge_id", "getnnz",
    # Control flow over subgraphs (Gluon's hybridized loops).
    "cond", "foreach", "while_loop",
    # Gradient operators MXNet happens to expose under contrib (backward_quadratic, ...).
    "backward_gradientmultiplier", "backward_hawkesll", "backward_index_copy", "backward_quadratic",
    # Not yet: rotated ROIAlign, the Hawkes process likelihood, count sketch (GPU-only in MXNet)
    # and group AdaGrad (row_sparse weights).
    "RROIAlign", "hawkesll", "count_sketch", "group_adagrad_update",
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
def test_nd_and_sym_have_every_one_of_mxnets_269_operators(namespace):
    have, total = coverage()[namespace]
    assert total == 269
    assert missing(namespace) == set()


@pytest.mark.parametrize("namespace", ["linalg", "random"])
def test_linalg_and_random_have_every_mxnet_name(namespace):
    assert missing(namespace) == set()


def test_contrib_misses_only_the_listed_operators():
    assert missing("contrib") == _CONTRIB_MISSING


def test_contrib_has_the_operators_added_for_mxnet_compatibility():
    for name in ("boolean_mask", "fft", "ifft", "box_nms", "index_copy", "PSROIPooling"):
        assert callable(getattr(mx.nd.contrib, name)), name
        assert callable(getattr(mx.sym.contrib, name)), name
    for name in ("isinf", "isfinite", "isnan", "rand_zipfian", "adamw_update", "multi_lamb_update"):
        assert callable(getattr(mx.nd.contrib, name)), name


if __name__ == "__main__":
    for ns, (have, total) in coverage().items():
        print(f"{ns:8s} {have:4d} / {total:4d}   missing: {', '.join(sorted(missing(ns))) or '-'}")
