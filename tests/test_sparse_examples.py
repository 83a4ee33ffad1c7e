"""The sparse examples (examples/sparse/) train as MXNet 1.9.1 does: the loss of every batch
matches MXNet's, recorded on the same synthetic data from the same initial parameters
(tests/data/make_mxnet_sparse_example_curves.py)."""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

import flowmod as mx

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples", "sparse"))

import sparse_example_cases  # noqa: E402

with open(os.path.join(HERE, "data", "mxnet_sparse_example_curves.json")) as f:
    MXNET = json.load(f)


@pytest.mark.parametrize("name", sorted(sparse_example_cases.CASES))
def test_loss_curve_matches_mxnet(name, tmp_path):
    losses = sparse_example_cases.CASES[name](mx, str(tmp_path))
    expected = MXNET[name]
    assert len(losses) == len(expected)
    np.testing.assert_allclose(losses, expected, rtol=2e-4, atol=1e-5)
    assert np.mean(losses[-5:]) < np.mean(losses[:5])  # it learns
