"""Records the sparse .nd files tests/test_sparse_save_load.py compares flowmod's bytes with.

Run once with MXNet 1.9.1's Python: python tests/data/make_mxnet_sparse_files.py
It writes tests/data/mxnet_sparse/*.nd (MXNet's mx.nd.save of each case below) and
tests/data/mxnet_sparse/cases.npz (each case's components, from which flowmod rebuilds the
same arrays without MXNet).
"""
import os

import mxnet as mx
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mxnet_sparse")
os.makedirs(OUT, exist_ok=True)
rng = np.random.RandomState(7)
dense = np.where(rng.rand(6, 5) < 0.4, rng.randn(6, 5), 0).astype(np.float32)
dense3 = np.where(rng.rand(7, 2, 3) < 0.5, rng.randn(7, 2, 3), 0).astype(np.float64)
cases = {
    "csr_f32": mx.nd.array(dense).tostype("csr"),
    "csr_f64_parts": mx.nd.sparse.csr_matrix(
        (np.float64([1.5, -2, 3]), np.int64([0, 4, 2]), np.int64([0, 2, 2, 3])), shape=(3, 5)),
    "csr_zeros": mx.nd.sparse.zeros("csr", (4, 3)),
    "csr_f16": mx.nd.array(dense, dtype="float16").tostype("csr"),
    "rsp_f32": mx.nd.array(dense).tostype("row_sparse"),
    "rsp_f64_3d": mx.nd.array(dense3, dtype="float64").tostype("row_sparse"),
    "rsp_zeros": mx.nd.sparse.zeros("row_sparse", (5, 2)),
    "rsp_int32": mx.nd.sparse.row_sparse_array(
        (np.int32([[1, 2], [3, 4]]), np.int64([1, 3])), shape=(4, 2), dtype="int32"),
}
components = {}
for name, arr in cases.items():
    mx.nd.save(os.path.join(OUT, name + ".nd"), [arr])
    components[name + ".stype"] = np.array(arr.stype)
    components[name + ".shape"] = np.array(arr.shape, np.int64)
    components[name + ".data"] = arr.data.asnumpy()
    if arr.stype == "csr":
        components[name + ".indptr"] = arr.indptr.asnumpy()
    components[name + ".indices"] = arr.indices.asnumpy()
mx.nd.save(os.path.join(OUT, "mixed_dict.nd"),
           {"w": cases["rsp_f32"], "x": cases["csr_f32"], "b": mx.nd.array([1, 2, 3])})
np.savez(os.path.join(OUT, "cases.npz"), **components)
