"""NDArrayIter's ``layout``: the batch axis is where ``'N'`` is. Expected batches are MXNet
1.9.1's (``tests/data/mxnet_conventions_refs.json``), for data whose first two axes have
the same length, where MXNet (which counts samples along axis 0) and flowmod (which counts
them along the batch axis) agree; other shapes are checked against numpy."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import flowmod as mx

with open(os.path.join(os.path.dirname(__file__), "data", "mxnet_conventions_refs.json")) as f:
    LAYOUT = json.load(f)["ndarrayiter_layout"]

DATA = np.arange(4 * 4 * 3, dtype=np.float32).reshape(4, 4, 3)


def _iter(layout):
    label = np.arange(4, dtype=np.float32) if layout == "NTC" else None
    return mx.io.NDArrayIter(DATA, label, batch_size=3, layout=layout, last_batch_handle="pad")


@pytest.mark.parametrize("layout", ["NTC", "TNC"])
def test_provide_data_puts_the_batch_size_on_the_layouts_axis_as_mxnet(layout):
    got = [[d.name, list(d.shape), d.layout] for d in _iter(layout).provide_data]
    assert got == LAYOUT[layout]["provide_data"]


@pytest.mark.parametrize("layout", ["NTC", "TNC"])
def test_batches_are_cut_along_the_layouts_batch_axis_as_mxnet(layout):
    got = [[b.data[0].asnumpy().tolist(), b.pad] for b in _iter(layout)]
    assert got == LAYOUT[layout]["batches"]


def test_time_major_batches_of_other_lengths_match_numpy():
    data = np.random.default_rng(0).standard_normal((5, 7, 2)).astype(np.float32)  # T, N, C
    label = np.arange(7, dtype=np.float32)[None, :].repeat(5, 0)  # (T, N)
    it = mx.io.NDArrayIter(data, label, batch_size=3, layout="TNC", last_batch_handle="discard")
    batches = list(it)
    assert len(batches) == 2
    for i, b in enumerate(batches):
        np.testing.assert_array_equal(b.data[0].asnumpy(), data[:, 3 * i:3 * i + 3])
        np.testing.assert_array_equal(b.label[0].asnumpy(), label[:, 3 * i:3 * i + 3])
    assert it.provide_label[0].shape == (5, 3)


def test_time_major_shuffle_permutes_samples_not_steps():
    data = np.arange(3 * 6, dtype=np.float32).reshape(3, 6)[:, :, None]  # T=3, N=6, C=1
    it = mx.io.NDArrayIter(data, batch_size=6, shuffle=True, layout="TNC")
    (batch,) = list(it)
    got = batch.data[0].asnumpy()[:, :, 0]
    # Each column is one whole sample (its three steps, in order).
    assert sorted(got[0].tolist()) == list(range(6))
    np.testing.assert_array_equal(got[1:], got[:1] + np.array([[6], [12]]))


def test_layout_without_a_batch_axis_is_refused():
    with pytest.raises(ValueError, match=r"layout='TC': expected a string naming the batch "
                                         r"axis with 'N'"):
        mx.io.NDArrayIter(DATA, layout="TC")


def test_array_without_the_layouts_batch_axis_is_refused():
    with pytest.raises(ValueError, match=r"label\['softmax_label'\] has shape \(4,\), with no "
                                         r"axis 1 for the batch axis 'N' of layout='TNC'"):
        mx.io.NDArrayIter(DATA, np.zeros(4), layout="TNC")
