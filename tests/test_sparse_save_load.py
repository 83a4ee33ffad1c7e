"""nd.save / nd.load of sparse arrays in MXNet 1.9.1's format: byte for byte against files
MXNet wrote (tests/data/make_mxnet_sparse_files.py), both ways, and corrupted sparse records
raising MXNetError."""
from __future__ import annotations

import os
import struct

import numpy as np
import pytest

import flowmod as mx
from flowmod import params_format as pf
from flowmod.base import MXNetError

DATA = os.path.join(os.path.dirname(__file__), "data", "mxnet_sparse")
CASES = np.load(os.path.join(DATA, "cases.npz"))
NAMES = sorted({k.split(".")[0] for k in CASES.files})


def build(name):
    """The case's array, built in flowmod from its recorded components."""
    stype, shape = str(CASES[name + ".stype"]), tuple(CASES[name + ".shape"])
    data = CASES[name + ".data"]
    if stype == "csr":
        return mx.nd.sparse.csr_matrix((data, CASES[name + ".indices"], CASES[name + ".indptr"]),
                                       shape=shape, dtype=data.dtype)
    return mx.nd.sparse.row_sparse_array((data, CASES[name + ".indices"]), shape=shape,
                                         dtype=data.dtype)


def mxnet_bytes(name):
    with open(os.path.join(DATA, name + ".nd"), "rb") as f:
        return f.read()


@pytest.mark.parametrize("name", NAMES)
def test_save_writes_mxnets_bytes(name, tmp_path):
    path = str(tmp_path / "a.nd")
    mx.nd.save(path, [build(name)])
    with open(path, "rb") as f:
        assert f.read() == mxnet_bytes(name)


@pytest.mark.parametrize("name", NAMES)
def test_load_reads_mxnets_files(name):
    (got,) = mx.nd.load(os.path.join(DATA, name + ".nd"))
    want = build(name)
    assert type(got) is type(want) and got.stype == want.stype
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got.data.asnumpy(), want.data.asnumpy())
    np.testing.assert_array_equal(got.indices.asnumpy(), want.indices.asnumpy())
    if got.stype == "csr":
        np.testing.assert_array_equal(got.indptr.asnumpy(), want.indptr.asnumpy())
    np.testing.assert_array_equal(got.asnumpy(), want.asnumpy())


def test_mixed_dict_both_ways(tmp_path):
    loaded = mx.nd.load(os.path.join(DATA, "mixed_dict.nd"))
    assert sorted(loaded) == ["b", "w", "x"]
    assert loaded["w"].stype == "row_sparse" and loaded["x"].stype == "csr"
    assert loaded["b"].stype == "default"
    np.testing.assert_array_equal(loaded["w"].asnumpy(), build("rsp_f32").asnumpy())
    np.testing.assert_array_equal(loaded["x"].asnumpy(), build("csr_f32").asnumpy())
    path = str(tmp_path / "m.nd")
    mx.nd.save(path, {"w": build("rsp_f32"), "x": build("csr_f32"), "b": mx.nd.array([1, 2, 3])})
    with open(path, "rb") as f:
        assert f.read() == mxnet_bytes("mixed_dict")


def test_round_trip_of_operator_results(tmp_path):
    from flowmod import test_utils
    x = test_utils.rand_ndarray((20, 7), "csr", density=0.3)
    r = mx.nd.sparse.dot(x, mx.nd.ones((20, 4)), transpose_a=True)
    path = str(tmp_path / "r.nd")
    mx.nd.save(path, [x, r])
    a, b = mx.nd.load(path)
    np.testing.assert_array_equal(a.asnumpy(), x.asnumpy())
    np.testing.assert_array_equal(b.asnumpy(), r.asnumpy())
    assert b.stype == "row_sparse"


def test_empty_storage_shape_is_taken_from_the_indices():
    # MXNet writes a storage shape of (0, ...) for some arrays whose values are there; as
    # MXNet does, the reader takes it from the index shapes.
    buf = bytearray(mxnet_bytes("rsp_f32"))
    assert struct.unpack_from("<iqq", buf, 32)[0] == 2
    struct.pack_into("<q", buf, 36, 0)
    (got,) = mx.nd.load_frombuffer(bytes(buf))
    np.testing.assert_array_equal(got.asnumpy(), build("rsp_f32").asnumpy())


@pytest.mark.parametrize("name", ["csr_f32", "rsp_f64_3d"])
def test_every_truncation_raises(name):
    buf = mxnet_bytes(name)
    for cut in range(len(buf) - 8):  # the last 8 bytes are the name count
        with pytest.raises(MXNetError):
            pf.loads(buf[:cut])


def test_inconsistent_shapes_raise():
    buf = bytearray(mxnet_bytes("csr_f32"))
    # the shape's row count (after the storage shape: magic, stype, ndim 1, nnz, ndim 2)
    struct.pack_into("<q", buf, 24 + 4 + 4 + 4 + 8 + 4, 9)
    with pytest.raises(MXNetError, match="csr shapes do not fit"):
        mx.nd.load_frombuffer(bytes(buf))
    buf = bytearray(mxnet_bytes("rsp_f32"))
    # the index array's type flag: float32 is not an index type
    off = 24 + 4 + 4 + (4 + 16) + (4 + 16) + 8 + 4
    struct.pack_into("<i", buf, off, 0)
    with pytest.raises(MXNetError, match="expected an integer type"):
        mx.nd.load_frombuffer(bytes(buf))


def test_every_flipped_header_byte_fails_cleanly_or_loads():
    buf = mxnet_bytes("rsp_f32")
    for at in range(24, 24 + 100):
        bad = bytearray(buf)
        bad[at] ^= 0xFF
        try:
            for arr in pf.loads(bytes(bad)):
                assert isinstance(arr, (np.ndarray, pf.SparseArray))
        except MXNetError:
            pass


def test_save_refuses_inconsistent_sparse_records():
    rec = pf.SparseArray("csr", (3, 2), np.zeros(2, np.float32),
                         [np.zeros(3, np.int64), np.zeros(2, np.int64)])
    with pytest.raises(MXNetError, match="csr shapes do not fit"):
        pf.dumps([rec])


@pytest.mark.parametrize("rec, words", [
    (pf.SparseArray("csr", (2, 3), np.float32([1]), [np.int64([0, 1, 2]), np.int64([0])]),
     "indptr does not rise"),
    (pf.SparseArray("csr", (2, 3), np.float32([1]), [np.int64([0, 1, 1]), np.int64([3])]),
     "column index is outside"),
    (pf.SparseArray("row_sparse", (4, 1), np.float32([[1], [2]]), [np.int64([2, 1])]),
     "row indices do not increase"),
    (pf.SparseArray("row_sparse", (4, 1), np.float32([[1]]), [np.int64([4])]),
     "row indices do not increase"),
])
def test_corrupted_index_values_raise_at_load(rec, words):
    buf = pf.dumps([rec])
    with pytest.raises(MXNetError, match=words):
        mx.nd.load_frombuffer(buf)


PEER = os.environ.get("FLOWMOD_PEER_MXNET")
PEER_SCRIPT = r"""
import sys
import numpy as np
import mxnet as mx
work = sys.argv[1]
loaded = mx.nd.load(work + "/ours.nd")
np.savez(work + "/theirs_view.npz", **{k: v.asnumpy() for k, v in loaded.items()},
         **{k + ".stype": np.array(v.stype) for k, v in loaded.items()})
mx.nd.save(work + "/theirs.nd", loaded)
"""


@pytest.mark.skipif(not PEER, reason="set FLOWMOD_PEER_MXNET to a Python with mxnet 1.9.1 "
                                     "to check sparse files against real MXNet")
def test_interop_with_real_mxnet(tmp_path):
    import subprocess
    from flowmod import test_utils
    np.random.seed(12)
    ours = {"c": test_utils.rand_ndarray((30, 17), "csr", density=0.2),
            "r": test_utils.rand_ndarray((40, 3, 2), "row_sparse", density=0.3, dtype="float64"),
            "d": mx.nd.array(np.arange(5))}
    mx.nd.save(str(tmp_path / "ours.nd"), ours)
    script = tmp_path / "peer.py"
    script.write_text(PEER_SCRIPT)
    subprocess.run([PEER, str(script), str(tmp_path)], check=True, timeout=300)
    view = np.load(tmp_path / "theirs_view.npz")
    for k, v in ours.items():
        assert str(view[k + ".stype"]) == v.stype
        np.testing.assert_array_equal(view[k], v.asnumpy())
    assert (tmp_path / "theirs.nd").read_bytes() == (tmp_path / "ours.nd").read_bytes()
