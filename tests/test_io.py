"""flowmod.io against numpy slicing of the same data and hand-written idx/CSV files."""
from __future__ import annotations

import gc
import gzip
import struct
import threading

import numpy as np
import pytest

import flowmod as mx
import flowmod.io as mio
from flowmod.base import MXNetError


def _np(batch_arrays):
    return [a.asnumpy() for a in batch_arrays]


def _expected_batches(data, label, bs, handle, order=None):
    """The (data, label, pad) batches of one epoch computed with numpy indexing."""
    n = data.shape[0]
    order = np.arange(n) if order is None else order
    out = []
    for start in range(0, n, bs):
        end = start + bs
        if end <= n:
            pos, pad = order[start:end], 0
        elif handle == "pad":
            pos, pad = order[np.arange(start, end) % n], end - n
        else:
            break
        out.append((data[pos], label[pos], pad))
    return out


@pytest.mark.parametrize("handle", ["pad", "discard", "roll_over"])
@pytest.mark.parametrize("n,bs", [(10, 3), (12, 4), (7, 7), (5, 2)])
def test_ndarrayiter_matches_numpy(handle, n, bs):
    data = np.arange(n * 6, dtype=np.float32).reshape(n, 2, 3)
    label = np.arange(n, dtype=np.float32) * 10
    it = mio.NDArrayIter(data, label, batch_size=bs, last_batch_handle=handle)
    got = [(_np(b.data)[0], _np(b.label)[0], b.pad) for b in it]
    want = _expected_batches(data, label, bs, handle)
    assert len(got) == len(want)
    for (gd, gl, gp), (wd, wl, wp) in zip(got, want):
        np.testing.assert_array_equal(gd, wd)
        np.testing.assert_array_equal(gl, wl)
        assert gp == wp
        assert gd.dtype == np.float32
    # Iterating again without reset gives nothing; reset ('pad'/'discard') gives the same.
    assert list(it) == []
    if handle != "roll_over":
        it.reset()
        again = [(_np(b.data)[0], b.pad) for b in it]
        assert [p for _, p in again] == [w[2] for w in want]


def test_ndarrayiter_pad_larger_than_data_tiles():
    data = np.arange(3, dtype=np.float32)
    it = mio.NDArrayIter(data, batch_size=8)
    batches = list(it)
    assert len(batches) == 1
    np.testing.assert_array_equal(batches[0].data[0].asnumpy(), [0, 1, 2, 0, 1, 2, 0, 1])
    assert batches[0].pad == 5
    assert batches[0].label == []


def test_ndarrayiter_roll_over_two_epochs():
    data = np.arange(10, dtype=np.float32).reshape(10, 1)
    label = np.arange(10, dtype=np.float32) + 100
    it = mio.NDArrayIter(data, label, batch_size=4, last_batch_handle="roll_over")
    epoch1 = [(b.data[0].asnumpy()[:, 0], b.label[0].asnumpy(), b.pad) for b in it]
    assert [e[0].tolist() for e in epoch1] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    it.reset()
    epoch2 = [(b.data[0].asnumpy()[:, 0], b.label[0].asnumpy(), b.pad) for b in it]
    # Samples 8 and 9 open the second epoch; pad reports the two carried samples.
    assert [e[0].tolist() for e in epoch2] == [[8, 9, 0, 1], [2, 3, 4, 5], [6, 7, 8, 9]]
    assert [e[1].tolist() for e in epoch2][0] == [108, 109, 100, 101]
    assert [e[2] for e in epoch2] == [2, 0, 0]
    it.reset()
    # Epoch 2 ended on a full batch: epoch 3 starts at sample 0 and leaves 8 and 9 over.
    epoch3 = [b.data[0].asnumpy()[:, 0].tolist() for b in it]
    assert epoch3 == [[0, 1, 2, 3], [4, 5, 6, 7]]
    it.reset()
    assert next(it).data[0].asnumpy()[:, 0].tolist() == [8, 9, 0, 1]
    next(it)
    it.hard_reset()
    assert [b.data[0].asnumpy()[:, 0].tolist() for b in it] == [[0, 1, 2, 3], [4, 5, 6, 7]]


@pytest.mark.parametrize("handle", ["pad", "discard", "roll_over"])
def test_ndarrayiter_shuffle_is_paired_permutation(handle):
    n, bs = 23, 5
    data = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    label = np.arange(n, dtype=np.float32)
    np.random.seed(7)
    it = mio.NDArrayIter(data, label, batch_size=bs, shuffle=True, last_batch_handle=handle)
    orders = []
    for _ in range(3):
        seen = []
        for b in it:
            d, l = b.data[0].asnumpy(), b.label[0].asnumpy()
            # data and label stay paired: row i of data is sample label[i].
            np.testing.assert_array_equal(d, data[l.astype(int)])
            valid = bs - b.pad if handle == "pad" else bs
            seen.extend(l[:valid].astype(int).tolist())
        orders.append(seen)
        it.reset()
    if handle == "pad":
        assert sorted(orders[0]) == list(range(n))
    elif handle == "discard":
        assert len(set(orders[0])) == len(orders[0]) == (n // bs) * bs
    assert orders[0] != sorted(orders[0])
    assert orders[0] != orders[1]


def test_ndarrayiter_shuffle_order_follows_np_random():
    n = 9
    data = np.arange(n, dtype=np.float32)
    np.random.seed(3)
    it = mio.NDArrayIter(data, batch_size=n, shuffle=True)
    got1 = next(it).data[0].asnumpy()
    it.reset()
    got2 = next(it).data[0].asnumpy()
    # The reference: the index array is shuffled in place and applied to the already
    # shuffled data at every reset.
    np.random.seed(3)
    idx = np.arange(n)
    np.random.shuffle(idx)
    ref1 = data[idx]
    np.random.shuffle(idx)
    ref2 = ref1[idx]
    np.testing.assert_array_equal(got1, ref1)
    np.testing.assert_array_equal(got2, ref2)


def test_ndarrayiter_dict_and_list_inputs_sorted_by_name():
    n = 6
    a = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    b = np.arange(n, dtype=np.float64) * -1
    lab = mx.nd.array(np.arange(n), dtype=np.int32)
    it = mio.NDArrayIter({"zeta": a, "alpha": b}, {"y": lab}, batch_size=4)
    assert [d.name for d in it.provide_data] == ["alpha", "zeta"]
    assert [d.shape for d in it.provide_data] == [(4,), (4, 2)]
    assert [d.dtype for d in it.provide_data] == [np.float32, np.float32]
    assert it.provide_label == [("y", (4,))]
    assert it.provide_label[0].dtype == np.int32
    batches = list(it)
    np.testing.assert_array_equal(batches[0].data[0].asnumpy(), b[:4])
    np.testing.assert_array_equal(batches[0].data[1].asnumpy(), a[:4])
    np.testing.assert_array_equal(batches[1].data[1].asnumpy(), a[[4, 5, 0, 1]])
    np.testing.assert_array_equal(batches[1].label[0].asnumpy(), [4, 5, 0, 1])
    assert batches[1].label[0].dtype == np.int32
    assert batches[0].data[0].context == mx.cpu()

    it2 = mio.NDArrayIter([a, a * 2], label=None, batch_size=3, data_name="x")
    assert [d.name for d in it2.provide_data] == ["_0_x", "_1_x"]
    assert it2.provide_label == []
    first = next(it2)
    np.testing.assert_array_equal(first.data[1].asnumpy(), a[:3] * 2)
    assert str(first) == "DataBatch: data shapes: [(3, 2), (3, 2)] label shapes: None"


def test_ndarrayiter_default_names_and_datadesc():
    it = mio.NDArrayIter(np.zeros((4, 3, 5, 5)), np.zeros((4, 1)), batch_size=2)
    d = it.provide_data[0]
    assert isinstance(d, mio.DataDesc) and isinstance(d, tuple)
    assert (d.name, d.shape, d.dtype, d.layout) == ("data", (2, 3, 5, 5), np.float32, "NCHW")
    assert repr(d) == "DataDesc[data,(2, 3, 5, 5),<class 'numpy.float32'>,NCHW]"
    assert it.provide_label[0] == ("softmax_label", (2, 1))
    assert mio.DataDesc.get_batch_axis("TNC") == 1
    assert mio.DataDesc.get_batch_axis(None) == 0
    descs = mio.DataDesc.get_list([("a", (1, 2)), ("b", (3,))], [("a", np.int32), ("b", "f")])
    assert [(x.name, x.shape, x.dtype) for x in descs] == [("a", (1, 2), np.int32),
                                                           ("b", (3,), "f")]
    assert mio.DataDesc.get_list([("a", (1,))], None)[0].dtype == np.float32


def test_ndarrayiter_protocol_methods():
    data = np.arange(5, dtype=np.float32)
    it = mio.NDArrayIter(data, data + 1, batch_size=2)
    assert it.iter_next()
    np.testing.assert_array_equal(it.getdata()[0].asnumpy(), [0, 1])
    np.testing.assert_array_equal(it.getlabel()[0].asnumpy(), [1, 2])
    assert it.getpad() == 0 and it.getindex() is None
    assert it.iter_next() and it.iter_next()
    assert it.getpad() == 1
    assert not it.iter_next()
    np.testing.assert_array_equal(it.data[0][1].asnumpy(), data)


@pytest.mark.parametrize("kwargs,match", [
    (dict(data=np.zeros((4, 2)), label=np.zeros(5)), "same number of samples"),
    (dict(data={"a": np.zeros(4), "b": np.zeros(3)}), "'b'"),
    (dict(data=np.zeros(4), batch_size=0), "batch_size=0"),
    (dict(data=np.zeros(4), batch_size=-2), "batch_size=-2"),
    (dict(data=np.zeros(4), batch_size=2.5), "batch_size=2.5"),
    (dict(data=np.zeros(4), last_batch_handle="wrap"), "last_batch_handle='wrap'"),
    (dict(data=None), "data=None"),
    (dict(data=[]), r"data=\[\]"),
])
def test_ndarrayiter_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mio.NDArrayIter(**kwargs)


def test_ndarrayiter_bad_type():
    with pytest.raises(TypeError, match="'data'"):
        mio.NDArrayIter([["a", object()]])
    with pytest.raises(TypeError):
        mio.NDArrayIter(42)


def test_databatch_and_base_dataiter():
    with pytest.raises(TypeError, match="data"):
        mio.DataBatch(mx.nd.zeros((2,)))
    b = mio.DataBatch([mx.nd.zeros((2, 3))], [mx.nd.zeros((2,))], pad=1, index=[4, 5],
                      bucket_key=7, provide_data=[("data", (2, 3))])
    assert (b.pad, b.index, b.bucket_key) == (1, [4, 5], 7)
    assert str(b) == "DataBatch: data shapes: [(2, 3)] label shapes: [(2,)]"
    assert list(mio.DataIter(batch_size=4)) == []
    assert mio.DataIter(3).batch_size == 3

    class Counting(mio.DataIter):
        def __init__(self):
            super().__init__(2)
            self.i = 0

        def iter_next(self):
            self.i += 1
            return self.i <= 3

        def getdata(self):
            return [mx.nd.full((2,), self.i)]

        def getlabel(self):
            return [mx.nd.zeros((2,))]

        def getpad(self):
            return 0

    got = [b.data[0].asnumpy()[0] for b in Counting()]
    assert got == [1, 2, 3]


# -- MNIST ----------------------------------------------------------------------------------
def _idx_files(tmp_path, images: np.ndarray, labels: np.ndarray, gz: bool):
    count, rows, cols = images.shape
    img = struct.pack(">IIII", 0x803, count, rows, cols) + images.astype(np.uint8).tobytes()
    lab = struct.pack(">II", 0x801, labels.shape[0]) + labels.astype(np.uint8).tobytes()
    suffix = ".gz" if gz else ""
    ip, lp = tmp_path / f"img-idx3-ubyte{suffix}", tmp_path / f"lab-idx1-ubyte{suffix}"
    ip.write_bytes(gzip.compress(img) if gz else img)
    lp.write_bytes(gzip.compress(lab) if gz else lab)
    return str(ip), str(lp)


def _mnist_data(count=10, rows=28, cols=28):
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, size=(count, rows, cols)).astype(np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 255, 0
    labels = (np.arange(count) * 3 % 10).astype(np.uint8)
    return images, labels


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("flat", [False, True])
def test_mnist_values(tmp_path, gz, flat):
    images, labels = _mnist_data()
    ip, lp = _idx_files(tmp_path, images, labels, gz)
    it = mio.MNISTIter(image=ip, label=lp, batch_size=4, shuffle=False, flat=flat,
                       silent=True)
    shape = (4, 784) if flat else (4, 1, 28, 28)
    assert it.provide_data == [("data", shape)]
    assert it.provide_label == [("softmax_label", (4,))]
    batches = list(it)
    assert len(batches) == 2  # the two images after the last full batch are left out
    for k, b in enumerate(batches):
        d, l = b.data[0].asnumpy(), b.label[0].asnumpy()
        assert d.dtype == np.float32 and d.shape == shape and b.pad == 0
        ref = images[4 * k:4 * k + 4].astype(np.float32) / 256.0
        np.testing.assert_array_equal(d, ref.reshape(shape))
        np.testing.assert_array_equal(l, labels[4 * k:4 * k + 4].astype(np.float32))
        np.testing.assert_array_equal(b.index, np.arange(4 * k, 4 * k + 4))
    assert batches[0].data[0].asnumpy().reshape(4, 784)[0, 0] == 255 / 256
    it.reset()
    assert len(list(it)) == 2


def test_mnist_shuffle_parts_and_dtype(tmp_path):
    images, labels = _mnist_data(count=12, rows=4, cols=3)
    ip, lp = _idx_files(tmp_path, images, labels, gz=True)
    it = mio.MNISTIter(image=ip, label=lp, batch_size=3, shuffle=True, seed=5, silent=True,
                       flat=True)
    epoch = [(b.data[0].asnumpy(), b.label[0].asnumpy(), b.index) for b in it]
    idx = np.concatenate([e[2] for e in epoch]).astype(int)
    assert sorted(idx.tolist()) == list(range(12)) and idx.tolist() != list(range(12))
    for d, l, ix in epoch:
        ix = ix.astype(int)
        np.testing.assert_array_equal(d, images[ix].reshape(3, 12) / np.float32(256))
        np.testing.assert_array_equal(l, labels[ix])
    it.reset()
    assert [b.index.tolist() for b in it] == [e[2].tolist() for e in epoch]

    part = mio.MNISTIter(image=ip, label=lp, batch_size=2, shuffle=False, silent=True,
                         num_parts=3, part_index=1, dtype="float64")
    got = [b for b in part]
    assert len(got) == 2 and got[0].data[0].dtype == np.float64
    np.testing.assert_array_equal(got[0].data[0].asnumpy()[:, 0], images[4:6] / 256.0)
    np.testing.assert_array_equal(got[1].label[0].asnumpy(), labels[6:8])


def test_mnist_errors(tmp_path):
    images, labels = _mnist_data(count=4)
    ip, lp = _idx_files(tmp_path, images, labels, gz=False)
    with pytest.raises(MXNetError, match="image='.*missing'"):
        mio.MNISTIter(image=str(tmp_path / "missing"), label=lp, silent=True)
    with pytest.raises(MXNetError, match="label=.*magic number 0x00000803"):
        mio.MNISTIter(image=ip, label=ip, batch_size=2, silent=True)
    with pytest.raises(MXNetError, match="image=.*magic number 0x00000801"):
        mio.MNISTIter(image=lp, label=lp, batch_size=2, silent=True)
    bad = tmp_path / "trunc"
    bad.write_bytes(open(ip, "rb").read()[:100])
    with pytest.raises(MXNetError, match="truncated"):
        mio.MNISTIter(image=str(bad), label=lp, batch_size=2, silent=True)
    short = tmp_path / "short.gz"
    short.write_bytes(gzip.compress(b"\x00\x00"))
    with pytest.raises(MXNetError, match="short.gz"):
        mio.MNISTIter(image=str(short), label=lp, batch_size=2, silent=True)
    with pytest.raises(MXNetError, match="batch_size=0"):
        mio.MNISTIter(image=ip, label=lp, batch_size=0, silent=True)
    with pytest.raises(MXNetError, match="batch_size=8"):
        mio.MNISTIter(image=ip, label=lp, batch_size=8, silent=True)
    with pytest.raises(MXNetError, match="part_index=2"):
        mio.MNISTIter(image=ip, label=lp, num_parts=2, part_index=2, silent=True)
    other = _idx_files(tmp_path / "..", *_mnist_data(count=3), gz=True)
    with pytest.raises(MXNetError, match="4 images .* 3 labels"):
        mio.MNISTIter(image=ip, label=other[1], batch_size=2, silent=True)


# -- CSV ------------------------------------------------------------------------------------
def _write_csv(path, rows):
    path.write_text("\n".join(",".join(str(v) for v in r) for r in rows) + "\n")
    return str(path)


def test_csv_round_batch_and_next_epoch(tmp_path):
    data = np.arange(5 * 6, dtype=np.float32).reshape(5, 2, 3) / 4
    label = np.arange(5, dtype=np.float32) + 0.5
    dp = _write_csv(tmp_path / "d.csv", data.reshape(5, 6))
    lp = _write_csv(tmp_path / "l.csv", label.reshape(5, 1))
    it = mio.CSVIter(data_csv=dp, data_shape=(2, 3), label_csv=lp, batch_size=2)
    assert it.provide_data == [("data", (2, 2, 3))]
    assert it.provide_label == [("softmax_label", (2,))]
    epoch1 = [(b.data[0].asnumpy(), b.label[0].asnumpy(), b.pad) for b in it]
    order1 = [0, 1, 2, 3, 4, 0]
    assert [e[2] for e in epoch1] == [0, 0, 1]
    np.testing.assert_array_equal(np.concatenate([e[0] for e in epoch1]), data[order1])
    np.testing.assert_array_equal(np.concatenate([e[1] for e in epoch1]), label[order1])
    it.reset()
    # The row read to fill up the last batch is not read again at the next epoch's start.
    epoch2 = [(b.data[0].asnumpy(), b.pad) for b in it]
    np.testing.assert_array_equal(np.concatenate([e[0] for e in epoch2]), data[[1, 2, 3, 4]])
    assert [e[1] for e in epoch2] == [0, 0]
    it.reset()
    epoch3 = [b.data[0].asnumpy() for b in it]
    np.testing.assert_array_equal(np.concatenate(epoch3), data[order1])


def test_csv_no_round_batch_no_label_int_dtype(tmp_path):
    data = np.arange(7 * 3).reshape(7, 3)
    dp = _write_csv(tmp_path / "d.csv", data)
    it = mio.CSVIter(data_csv=dp, data_shape=(3,), batch_size=3, round_batch=False,
                     dtype="int32")
    batches = list(it)
    assert [b.pad for b in batches] == [0, 0, 2]
    assert batches[0].data[0].dtype == np.int32
    np.testing.assert_array_equal(batches[0].data[0].asnumpy(), data[0:3])
    last = batches[2].data[0].asnumpy()
    np.testing.assert_array_equal(last[0], data[6])
    np.testing.assert_array_equal(last[1:], data[4:6])  # the places left keep old values
    np.testing.assert_array_equal(batches[1].label[0].asnumpy(), np.zeros(3))
    np.testing.assert_array_equal(batches[2].index[:1], [6])
    it.reset()
    assert len(list(it)) == 3


def test_csv_label_shape_and_errors(tmp_path):
    data = np.arange(8, dtype=np.float32).reshape(4, 2)
    dp = _write_csv(tmp_path / "d.csv", data)
    lp = _write_csv(tmp_path / "l.csv", data * 2)
    it = mio.CSVIter(data_csv=dp, data_shape=(2,), label_csv=lp, label_shape=(2,),
                     batch_size=4)
    b = next(it)
    assert it.provide_label == [("softmax_label", (4, 2))]
    np.testing.assert_array_equal(b.label[0].asnumpy(), data * 2)
    with pytest.raises(MXNetError, match="line 1 has 2 values, expected 3"):
        mio.CSVIter(data_csv=dp, data_shape=(3,), batch_size=1)
    with pytest.raises(MXNetError, match="data_csv='.*nope.csv'"):
        mio.CSVIter(data_csv=str(tmp_path / "nope.csv"), data_shape=(2,))
    short = _write_csv(tmp_path / "s.csv", np.ones((3, 1)))
    with pytest.raises(MXNetError, match="3 rows"):
        mio.CSVIter(data_csv=dp, data_shape=(2,), label_csv=short)
    with pytest.raises(MXNetError, match="batch_size=-1"):
        mio.CSVIter(data_csv=dp, data_shape=(2,), batch_size=-1)
    with pytest.raises(MXNetError, match="dtype='float16'"):
        mio.CSVIter(data_csv=dp, data_shape=(2,), dtype="float16")
    with pytest.raises(MXNetError, match=r"data_shape=\(\)"):
        mio.CSVIter(data_csv=dp, data_shape=())
    nan = tmp_path / "x.csv"
    nan.write_text("1,abc\n")
    with pytest.raises(MXNetError, match="not a number"):
        mio.CSVIter(data_csv=str(nan), data_shape=(2,))


# -- ResizeIter and PrefetchingIter ---------------------------------------------------------
def test_resizeiter_lengths():
    data = np.arange(10, dtype=np.float32)
    base = mio.NDArrayIter(data, batch_size=3, last_batch_handle="discard")  # 3 per epoch
    it = mio.ResizeIter(base, 7)
    assert it.provide_data == base.provide_data and it.batch_size == 3
    got = [b.data[0].asnumpy().tolist() for b in it]
    assert len(got) == 7
    assert got[3] == [0, 1, 2] and got[6] == [0, 1, 2]
    it.reset()
    assert len(list(it)) == 7
    short = mio.ResizeIter(mio.NDArrayIter(data, batch_size=3), 2, reset_internal=False)
    assert [b.data[0].asnumpy()[0] for b in short] == [0, 3]
    short.reset()
    assert [b.data[0].asnumpy()[0] for b in short] == [6, 9]
    with pytest.raises(ValueError, match="size=-1"):
        mio.ResizeIter(base, -1)


def _batches(it):
    return [(_np(b.data), _np(b.label), b.pad) for b in it]


def test_prefetchingiter_matches_wrapped():
    data = np.arange(22, dtype=np.float32).reshape(11, 2)
    label = np.arange(11, dtype=np.float32)
    ref = _batches(mio.NDArrayIter(data, label, batch_size=3))
    it = mio.PrefetchingIter(mio.NDArrayIter(data, label, batch_size=3))
    assert it.provide_data == [("data", (3, 2))] and it.batch_size == 3
    for epoch in range(3):
        got = _batches(it)
        assert len(got) == len(ref)
        for (gd, gl, gp), (rd, rl, rp) in zip(got, ref):
            np.testing.assert_array_equal(gd[0], rd[0])
            np.testing.assert_array_equal(gl[0], rl[0])
            assert gp == rp
        it.reset()
    # Reset in the middle of an epoch starts again from the beginning.
    next(it)
    it.reset()
    np.testing.assert_array_equal(next(it).data[0].asnumpy(), data[:3])
    it.close()
    with pytest.raises(MXNetError, match="closed"):
        it.next()


def test_prefetchingiter_two_iters_renamed():
    a = np.arange(8, dtype=np.float32)
    it = mio.PrefetchingIter([mio.NDArrayIter(a, a, batch_size=4),
                              mio.NDArrayIter(a * 2, a * 3, batch_size=4)],
                             rename_data=[{"data": "d1"}, {"data": "d2"}],
                             rename_label=[{"softmax_label": "l1"}, {"softmax_label": "l2"}])
    assert [d.name for d in it.provide_data] == ["d1", "d2"]
    assert [d.name for d in it.provide_label] == ["l1", "l2"]
    batches = list(it)
    assert len(batches) == 2
    b = batches[1]
    np.testing.assert_array_equal(b.data[1].asnumpy(), a[4:] * 2)
    np.testing.assert_array_equal(b.label[1].asnumpy(), a[4:] * 3)
    assert [d.name for d in b.provide_data] == ["d1", "d2"]
    uneven = mio.PrefetchingIter([mio.NDArrayIter(a, batch_size=4),
                                  mio.NDArrayIter(a[:4], batch_size=4)])
    next(uneven)
    with pytest.raises(MXNetError, match="different numbers"):
        next(uneven)
    uneven.close()


class _Failing(mio.DataIter):
    def __init__(self, fail_at):
        super().__init__(2)
        self.i = 0
        self.fail_at = fail_at
        self.provide_data = [mio.DataDesc("data", (2,))]
        self.provide_label = []

    def reset(self):
        self.i = 0

    def next(self):
        self.i += 1
        if self.i == self.fail_at:
            raise RuntimeError(f"broken batch {self.i}")
        if self.i > 4:
            raise StopIteration
        return mio.DataBatch([mx.nd.full((2,), self.i)], [], pad=0)


def test_prefetchingiter_propagates_errors():
    it = mio.PrefetchingIter(_Failing(fail_at=2))
    assert next(it).data[0].asnumpy()[0] == 1
    with pytest.raises(RuntimeError, match="broken batch 2"):
        next(it)
    # The iterator stays usable: the batches after the failing one follow.
    assert [b.data[0].asnumpy()[0] for b in it] == [3, 4]
    it.reset()
    assert next(it).data[0].asnumpy()[0] == 1
    it.close()


def test_prefetchingiter_threads_end_on_del():
    before = {t for t in threading.enumerate()}
    it = mio.PrefetchingIter(mio.NDArrayIter(np.zeros(4), batch_size=2))
    next(it)
    threads = [t for t in threading.enumerate() if t not in before]
    assert threads and all(t.name.startswith("PrefetchingIter") for t in threads)
    del it
    gc.collect()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive()
