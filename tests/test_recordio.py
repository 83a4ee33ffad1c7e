"""mx.recordio against files MXNet 1.9.1 wrote (tests/data/recordio, made by
make_mxnet_recordio.py there): the same records read, the same bytes written."""
import os
import pickle
import struct

import numpy as np
import pytest

import flowmod as mx
from flowmod.base import MXNetError

DATA = os.path.join(os.path.dirname(__file__), "data", "recordio")
MAGIC = struct.pack("<I", 0xCED7230A)


def plain_records():
    # The records make_mxnet_recordio.py writes into plain.rec.
    rng = np.random.RandomState(7)
    noise = rng.randint(0, 256, 37, dtype=np.uint8).tobytes()
    return [b"", b"a", b"ab", b"abc", b"abcd", b"abcde", MAGIC, MAGIC + b"xy",
            b"abcd" + MAGIC + b"efgh", b"ab" + MAGIC + b"cd", b"abcd" + MAGIC,
            MAGIC + MAGIC, b"abcd" + MAGIC + MAGIC + b"z", noise, noise + MAGIC + noise[:3]]


def test_image(h, w, seed):
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 11) % 256, (y * 13) % 256, ((x + y) * 7) % 256], -1)
    return np.clip(img + rng.randint(-8, 8, img.shape), 0, 255).astype(np.uint8)


test_image.__test__ = False


def read_all(rec):
    out = []
    while True:
        item = rec.read()
        if item is None:
            return out
        out.append(item)


def data(name):
    return os.path.join(DATA, name)


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def test_reads_the_records_mxnet_wrote():
    rec = mx.recordio.MXRecordIO(data("plain.rec"), "r")
    assert read_all(rec) == plain_records()


def test_writes_the_bytes_mxnet_writes(tmp_path):
    rec = mx.recordio.MXRecordIO(str(tmp_path / "out.rec"), "w")
    for r in plain_records():
        rec.write(r)
    rec.close()
    assert file_bytes(tmp_path / "out.rec") == file_bytes(data("plain.rec"))


def test_random_records_with_magic_numbers_round_trip(tmp_path):
    rng = np.random.RandomState(3)
    records = []
    for _ in range(200):
        parts = [rng.randint(0, 256, rng.randint(0, 12), dtype=np.uint8).tobytes()
                 for _ in range(rng.randint(1, 5))]
        records.append(MAGIC.join(parts))
    w = mx.recordio.MXRecordIO(str(tmp_path / "r.rec"), "w")
    for r in records:
        w.write(r)
    w.close()
    assert read_all(mx.recordio.MXRecordIO(str(tmp_path / "r.rec"), "r")) == records


def test_read_returns_none_after_the_last_record():
    rec = mx.recordio.MXRecordIO(data("indexed.rec"), "r")
    assert len(read_all(rec)) == 5
    assert rec.read() is None


def test_reset_reads_again_from_the_first_record():
    rec = mx.recordio.MXRecordIO(data("plain.rec"), "r")
    rec.read()
    rec.read()
    rec.reset()
    assert rec.read() == plain_records()[0]


def test_reset_of_a_writer_truncates_the_file(tmp_path):
    path = str(tmp_path / "w.rec")
    rec = mx.recordio.MXRecordIO(path, "w")
    rec.write(b"first")
    rec.reset()
    rec.write(b"second")
    rec.close()
    assert read_all(mx.recordio.MXRecordIO(path, "r")) == [b"second"]


def test_invalid_flag_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="Invalid flag"):
        mx.recordio.MXRecordIO(str(tmp_path / "x.rec"), "a")


def test_missing_file_names_the_path(tmp_path):
    path = str(tmp_path / "missing.rec")
    with pytest.raises(MXNetError, match="missing.rec"):
        mx.recordio.MXRecordIO(path, "r")


def test_indexed_reader_reads_mxnet_index():
    rec = mx.recordio.MXIndexedRecordIO(data("indexed.idx"), data("indexed.rec"), "r")
    assert rec.keys == [0, 10, 20, 30, 40]
    assert rec.idx == {0: 0, 10: 16, 20: 40, 30: 56, 40: 80}
    assert rec.read_idx(30) == b"record_3" + MAGIC
    assert rec.read_idx(0) == b"record_0"


def test_indexed_writer_writes_mxnet_index_and_records(tmp_path):
    rec = mx.recordio.MXIndexedRecordIO(str(tmp_path / "o.idx"), str(tmp_path / "o.rec"), "w")
    for i in range(5):
        rec.write_idx(i * 10, b"record_%d" % i + MAGIC * (i % 2))
    rec.close()
    assert file_bytes(tmp_path / "o.rec") == file_bytes(data("indexed.rec"))
    assert file_bytes(tmp_path / "o.idx") == file_bytes(data("indexed.idx"))


def test_tell_is_the_offset_of_the_next_record(tmp_path):
    rec = mx.recordio.MXIndexedRecordIO(str(tmp_path / "o.idx"), str(tmp_path / "o.rec"), "w")
    offsets = []
    for r in (b"abc", b"", MAGIC + b"x"):
        offsets.append(rec.tell())
        rec.write_idx(len(offsets), r)
    # 8-byte headers, payloads padded to 4 bytes, a magic number splitting the last record.
    assert offsets == [0, 12, 20]
    assert rec.tell() == 20 + 8 + 0 + 8 + 4


def test_string_keys_read_with_key_type(tmp_path):
    rec = mx.recordio.MXIndexedRecordIO(str(tmp_path / "s.idx"), str(tmp_path / "s.rec"), "w",
                                        key_type=str)
    rec.write_idx("b", b"B")
    rec.write_idx("a", b"A")
    rec.close()
    rec = mx.recordio.MXIndexedRecordIO(str(tmp_path / "s.idx"), str(tmp_path / "s.rec"), "r",
                                        key_type=str)
    assert rec.keys == ["b", "a"]
    assert rec.read_idx("a") == b"A"


def test_unknown_key_raises_key_error():
    rec = mx.recordio.MXIndexedRecordIO(data("indexed.idx"), data("indexed.rec"), "r")
    with pytest.raises(KeyError, match="5"):
        rec.read_idx(5)


def test_pickled_reader_reopens_at_the_first_record():
    rec = mx.recordio.MXIndexedRecordIO(data("indexed.idx"), data("indexed.rec"), "r")
    rec.read()
    copy = pickle.loads(pickle.dumps(rec))
    assert copy.keys == rec.keys
    assert copy.read() == b"record_0"
    assert copy.read_idx(40) == b"record_4"


def test_use_from_another_process_is_forbidden():
    rec = mx.recordio.MXRecordIO(data("plain.rec"), "r")
    rec.pid = -1  # as after a fork
    with pytest.raises(RuntimeError, match="multiple processes"):
        rec.read()


def write_bytes(tmp_path, raw):
    path = str(tmp_path / "bad.rec")
    with open(path, "wb") as f:
        f.write(raw)
    return path


def test_truncated_payload_raises_naming_its_offset(tmp_path):
    raw = file_bytes(data("indexed.rec"))
    rec = mx.recordio.MXRecordIO(write_bytes(tmp_path, raw[:52]), "r")
    assert rec.read() == b"record_0"
    assert rec.read() == b"record_1" + MAGIC
    with pytest.raises(MXNetError, match="truncated record at offset 40"):
        rec.read()


def test_truncated_header_raises_naming_its_offset(tmp_path):
    raw = file_bytes(data("indexed.rec"))
    rec = mx.recordio.MXRecordIO(write_bytes(tmp_path, raw[:16 + 5]), "r")
    rec.read()
    with pytest.raises(MXNetError, match="offset 16"):
        rec.read()


def test_record_cut_between_its_parts_raises(tmp_path):
    # record_1 + magic: a first part of 8 bytes, then an empty last part at offset 32.
    raw = file_bytes(data("indexed.rec"))
    rec = mx.recordio.MXRecordIO(write_bytes(tmp_path, raw[:32]), "r")
    rec.read()
    with pytest.raises(MXNetError, match="truncated record at offset 16"):
        rec.read()


def test_bad_magic_number_raises_naming_the_offset(tmp_path):
    raw = bytearray(file_bytes(data("indexed.rec")))
    raw[16] ^= 0xFF
    rec = mx.recordio.MXRecordIO(write_bytes(tmp_path, bytes(raw)), "r")
    rec.read()
    with pytest.raises(MXNetError, match="no record starts at offset 16"):
        rec.read()


def test_length_past_the_end_of_the_file_raises_without_reading_it(tmp_path):
    raw = MAGIC + struct.pack("<I", 1000) + b"abcd"
    rec = mx.recordio.MXRecordIO(write_bytes(tmp_path, raw), "r")
    with pytest.raises(MXNetError, match="announces 1000 bytes, the file has 4"):
        rec.read()


def test_record_starting_with_a_middle_part_raises(tmp_path):
    raw = MAGIC + struct.pack("<I", (2 << 29) | 4) + b"abcd"
    rec = mx.recordio.MXRecordIO(write_bytes(tmp_path, raw), "r")
    with pytest.raises(MXNetError, match="continuation flag 2"):
        rec.read()


def test_index_offset_outside_the_file_raises(tmp_path):
    (tmp_path / "x.idx").write_text("0\t0\n1\t4096\n")
    with pytest.raises(MXNetError, match="offset 4096 is outside"):
        mx.recordio.MXIndexedRecordIO(str(tmp_path / "x.idx"), data("indexed.rec"), "r")


def test_pack_with_scalar_label_round_trips():
    header = mx.recordio.IRHeader(5, 2.5, 17, 3)
    h, payload = mx.recordio.unpack(mx.recordio.pack(header, b"xyz"))
    assert h == mx.recordio.IRHeader(0, 2.5, 17, 3)
    assert payload == b"xyz"


def test_pack_with_label_array_matches_mxnet():
    ref = np.load(data("images_ref.npz"))
    packed = mx.recordio.pack(mx.recordio.IRHeader(0, [1.5, 2.5, 3.5], 7, 0), b"payload")
    assert packed == ref["multi_label"].tobytes()
    h, payload = mx.recordio.unpack(packed)
    assert h.flag == 3 and h.id == 7
    np.testing.assert_array_equal(h.label, np.array([1.5, 2.5, 3.5], np.float32))
    assert payload == b"payload"


def test_unpack_of_a_short_record_raises():
    with pytest.raises(MXNetError, match="shorter than"):
        mx.recordio.unpack(b"abc")


@pytest.mark.parametrize("index,kwargs", [(0, dict(quality=90, img_fmt=".jpg")),
                                          (1, dict(quality=3, img_fmt=".png"))])
def test_pack_img_writes_the_record_mxnet_writes(index, kwargs):
    imgs = [test_image(12, 16, 0), test_image(16, 12, 1)]
    header = mx.recordio.IRHeader(0, [3.0, 1.0][index], 100 + index, 0)
    rec = mx.recordio.MXIndexedRecordIO(data("images.idx"), data("images.rec"), "r")
    assert mx.recordio.pack_img(header, imgs[index], **kwargs) == rec.read_idx(index)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_unpack_img_decodes_as_mxnet(index):
    ref = np.load(data("images_ref.npz"))
    rec = mx.recordio.MXIndexedRecordIO(data("images.idx"), data("images.rec"), "r")
    header, img = mx.recordio.unpack_img(rec.read_idx(index))
    assert header.id == 100 + index
    np.testing.assert_array_equal(img, ref[f"unpack_img_{index}"])


def test_png_record_keeps_its_pixels_exactly():
    rec = mx.recordio.MXIndexedRecordIO(data("images.idx"), data("images.rec"), "r")
    _, img = mx.recordio.unpack_img(rec.read_idx(1))
    np.testing.assert_array_equal(img, test_image(16, 12, 1))
