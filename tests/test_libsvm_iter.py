"""mx.io.LibSVMIter (CSR batches from libsvm files) and NDArrayIter over CSR data."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as spsp

import flowmod as mx
from flowmod.base import MXNetError

LINES = ["1 0:1.5 3:2", "0 1:-1", "2", "1 0:4 2:0.5 4:1", "0 4:3"]
DENSE = np.zeros((5, 5), np.float32)
for r, line in enumerate(LINES):
    for tok in line.split()[1:]:
        j, v = tok.split(":")
        DENSE[r, int(j)] = float(v)
LABELS = np.float32([1, 0, 2, 1, 0])


@pytest.fixture()
def data_file(tmp_path):
    path = tmp_path / "data.libsvm"
    path.write_text("\n".join(LINES) + "\n")
    return str(path)


def batches(it):
    return [(b.data[0], b.label[0], b.pad) for b in it]


def test_batches_are_csr_rows_with_dense_labels(data_file):
    it = mx.io.LibSVMIter(data_libsvm=data_file, data_shape=(5,), batch_size=2)
    assert it.provide_data[0].shape == (2, 5) and it.provide_label[0].shape == (2,)
    got = batches(it)
    assert len(got) == 3
    for i, (data, label, pad) in enumerate(got[:2]):
        assert data.stype == "csr" and data.shape == (2, 5)
        np.testing.assert_array_equal(data.asnumpy(), DENSE[2 * i:2 * i + 2])
        np.testing.assert_array_equal(label.asnumpy(), LABELS[2 * i:2 * i + 2])
        assert pad == 0
    data, label, pad = got[2]
    # round_batch: the last batch is completed from the beginning
    np.testing.assert_array_equal(data.asnumpy(), DENSE[[4, 0]])
    np.testing.assert_array_equal(label.asnumpy(), LABELS[[4, 0]])
    assert pad == 1
    data.check_format()


def test_without_round_batch_the_missing_rows_are_empty(data_file):
    it = mx.io.LibSVMIter(data_libsvm=data_file, data_shape=(5,), batch_size=3,
                          round_batch=False)
    got = batches(it)
    data, label, pad = got[-1]
    assert pad == 1
    np.testing.assert_array_equal(data.asnumpy(), np.vstack([DENSE[3:], np.zeros((1, 5))]))
    it.reset()
    assert len(batches(it)) == 2


def test_label_libsvm_gives_csr_labels(tmp_path, data_file):
    label_path = tmp_path / "label.libsvm"
    label_path.write_text("\n".join(["0 0:1", "0 1:1", "0 2:1", "0 0:1 2:1", "0"]) + "\n")
    it = mx.io.LibSVMIter(data_libsvm=data_file, data_shape=(5,), label_libsvm=str(label_path),
                          label_shape=(3,), batch_size=5)
    (data, label, pad), = batches(it)
    assert label.stype == "csr" and label.shape == (5, 3)
    np.testing.assert_array_equal(label.asnumpy(), [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1],
                                                    [0, 0, 0]])


def test_parts_cover_every_line_once(data_file):
    rows = []
    for part in range(3):
        it = mx.io.LibSVMIter(data_libsvm=data_file, data_shape=(5,), batch_size=1,
                              num_parts=3, part_index=part)
        rows += [d.asnumpy()[0] for d, _, _ in batches(it)]
    np.testing.assert_array_equal(np.array(rows), DENSE)


def test_bad_files_and_arguments_raise(tmp_path, data_file):
    bad = tmp_path / "bad.libsvm"
    bad.write_text("1 3:1 2:1\n")
    with pytest.raises(MXNetError, match="increasing indices"):
        mx.io.LibSVMIter(data_libsvm=str(bad), data_shape=(5,))
    with pytest.raises(MXNetError, match="increasing indices in \\[0, 3\\)"):
        mx.io.LibSVMIter(data_libsvm=data_file, data_shape=(3,))
    with pytest.raises(MXNetError, match="part_index"):
        mx.io.LibSVMIter(data_libsvm=data_file, data_shape=(5,), num_parts=2, part_index=2)
    with pytest.raises(MXNetError, match="no such file"):
        mx.io.LibSVMIter(data_libsvm=str(tmp_path / "missing"), data_shape=(5,))


def test_ndarray_iter_over_csr_data():
    csr = mx.nd.array(DENSE).tostype("csr")
    it = mx.io.NDArrayIter(csr, LABELS, batch_size=2, last_batch_handle="discard")
    got = [(b.data[0], b.label[0]) for b in it]
    assert len(got) == 2
    for i, (data, label) in enumerate(got):
        assert data.stype == "csr"
        np.testing.assert_array_equal(data.asnumpy(), DENSE[2 * i:2 * i + 2])
        np.testing.assert_array_equal(label.asnumpy(), LABELS[2 * i:2 * i + 2])
    scipy_it = mx.io.NDArrayIter(spsp.csr_matrix(DENSE), LABELS, batch_size=5,
                                 last_batch_handle="discard", shuffle=True)
    (batch,) = list(scipy_it)
    order = np.argsort(batch.label[0].asnumpy(), kind="stable")
    assert sorted(map(tuple, batch.data[0].asnumpy())) == sorted(map(tuple, DENSE))
    assert order.size == 5


def test_ndarray_iter_over_csr_needs_discard():
    with pytest.raises(MXNetError, match="last_batch_handle='discard'"):
        mx.io.NDArrayIter(mx.nd.array(DENSE).tostype("csr"), LABELS, batch_size=2)
