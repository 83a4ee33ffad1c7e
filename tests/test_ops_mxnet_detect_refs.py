"""The detection helpers, CTCLoss, the interleaved attention products, div_sqrt_dim and
IdentityAttachKLSparseReg against MXNet 1.9.1 itself: visible outputs and input gradients that
MXNet computed in float32 on the same inputs and head gradient
(tests/data/make_mxnet_detect_refs.py recorded them)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from flowmod import _native, nd
from op_check import _attrs, info

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
REFS = np.load(os.path.join(DATA, "mxnet_detect_refs.npz"))
META = json.loads(str(REFS["meta"]))
# The recorded case names start with their family.
FAMILIES = ("prior", "iou", "nms", "encode", "decode", "matching", "target", "detection", "ctc", "selfatt", "encdec",
            "div_sqrt_dim", "kl_sparse_reg")
CASES = sorted(c for c in META if c.startswith(FAMILIES))


def run(case):
    """Forward in training mode and, for the cases MXNet differentiated, backward with the
    recorded head gradient; returns the visible outputs, the gradients and the inputs after
    the call (auxiliary states may have been updated)."""
    m = META[case]
    inputs = [nd.array(REFS[f"{case}/in{i}"], dtype="float32") for i in range(m["inputs"])]
    n_visible = len(info(m["op"], **m["attrs"])["outputs"])
    outs = _native.invoke(m["op"], [a._h for a in inputs], _attrs(m["attrs"]), [], True, True)
    visible = [nd.NDArray._wrap(h, None) for h in outs[:n_visible]]
    grads = []
    if m["wrt"]:
        heads = [nd.array(REFS[f"{case}/head"], dtype="float32")] + [nd.zeros(v.shape) for v in visible[1:]]
        n_args = len(info(m["op"], **m["attrs"])["arguments"])
        grads = [nd.zeros(a.shape) for a in inputs[:n_args]]
        reqs = ["write" if i in m["wrt"] else "null" for i in range(n_args)]
        _native.invoke_backward(m["op"], _attrs(m["attrs"]), [h._h for h in heads], [a._h for a in inputs],
                                outs, [g._h for g in grads], reqs, True)
    return [v.asnumpy() for v in visible], [grads[i].asnumpy() for i in m["wrt"]], [a.asnumpy() for a in inputs]


def test_every_recorded_case_is_checked_and_every_family_recorded():
    assert set(CASES) == set(META)
    for family in FAMILIES:
        assert any(c.startswith(family) for c in META), family


@pytest.mark.parametrize("case", CASES)
def test_forward_and_gradient_match_mxnet(case):
    m = META[case]
    outs, grads, after = run(case)
    assert len(outs) == m["outputs"]
    for i, o in enumerate(outs):
        np.testing.assert_allclose(o, REFS[f"{case}/out{i}"], rtol=2e-5, atol=2e-6, err_msg=f"{case}: output {i}")
    for i, g in zip(m["wrt"], grads):
        ref = REFS[f"{case}/grad{i}"]
        if case == "ctc_impossible":
            # MXNet leaves the gradient of a sample with no alignment unwritten; it is zero here.
            np.testing.assert_array_equal(g[:, 0], 0)
            g, ref = g[:, 1:], ref[:, 1:]
        np.testing.assert_allclose(g, ref, rtol=2e-4, atol=2e-5, err_msg=f"{case}: gradient of input {i}")
    for i in range(m["aux"]):
        np.testing.assert_allclose(after[m["inputs"] - m["aux"] + i], REFS[f"{case}/aux{i}"], rtol=1e-5,
                                   err_msg=f"{case}: auxiliary state {i}")
