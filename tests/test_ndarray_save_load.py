"""nd.save and nd.load: NDArrays through MXNet's binary format."""
from __future__ import annotations

import struct

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd


def test_a_dict_of_arrays_round_trips_with_types_and_shapes(tmp_path):
    data = {"fc1_weight": nd.array(np.arange(6).reshape(2, 3)),
            "fc1_bias": nd.zeros((3,), dtype="float64"),
            "steps": nd.array([1, 2], dtype="int64")}
    nd.save(tmp_path / "model.params", data)
    loaded = nd.load(tmp_path / "model.params")
    assert list(loaded) == list(data)
    for key in data:
        assert loaded[key].dtype is data[key].dtype
        np.testing.assert_array_equal(loaded[key].asnumpy(), data[key].asnumpy())


def test_a_list_and_a_single_array_load_as_lists(tmp_path):
    nd.save(tmp_path / "a", [nd.ones((2,)), nd.zeros((1, 1), dtype="uint8")])
    nd.save(tmp_path / "b", nd.full((3,), 4))
    a, b = nd.load(tmp_path / "a"), nd.load(tmp_path / "b")
    assert isinstance(a, list) and len(a) == 2 and a[1].dtype is np.uint8
    np.testing.assert_array_equal(b[0].asnumpy(), [4, 4, 4])


def test_save_waits_for_pending_writes(tmp_path):
    a = nd.zeros((4,))
    for i in range(10):
        a += 1
    nd.save(tmp_path / "x", [a])
    np.testing.assert_array_equal(nd.load(tmp_path / "x")[0].asnumpy(), [10] * 4)


def test_load_reads_a_file_laid_out_by_hand_as_mxnet_writes_it():
    # One named float32 array of shape (2,), V2 record on cpu(0).
    body = struct.pack("<QQQ", 0x112, 0, 1)
    body += struct.pack("<Iii", 0xF993FAC9, 0, 1) + struct.pack("<q", 2)
    body += struct.pack("<iii", 1, 0, 0) + np.array([1.5, -2], np.float32).tobytes()
    body += struct.pack("<Q", 1) + struct.pack("<Q", 3) + b"arg"
    loaded = nd.load_frombuffer(body)
    np.testing.assert_array_equal(loaded["arg"].asnumpy(), [1.5, -2])


def test_load_places_arrays_on_the_given_context(tmp_path):
    nd.save(tmp_path / "c", [nd.ones((1,))])
    assert nd.load(tmp_path / "c", ctx=mx.cpu(1))[0].context == mx.cpu(1)


def test_a_truncated_file_raises_mxnet_error(tmp_path):
    nd.save(tmp_path / "t", {"w": nd.ones((8,))})
    raw = (tmp_path / "t").read_bytes()
    (tmp_path / "t").write_bytes(raw[:-5])
    with pytest.raises(mx.MXNetError):
        nd.load(tmp_path / "t")


@pytest.mark.parametrize("data", [[np.ones(2)], {"a": 1}, {1: nd.ones((1,))}, "x"])
def test_saving_what_is_not_ndarrays_raises_naming_it(tmp_path, data):
    with pytest.raises(mx.MXNetError, match="save"):
        nd.save(tmp_path / "bad", data)
    assert not (tmp_path / "bad").exists()
