"""The vision layers and normalization variants against MXNet 1.9.1 itself: outputs and input
gradients that MXNet computed in float32 on the same inputs and head gradient
(tests/data/make_mxnet_vision_refs.py recorded them)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from flowmod import _native, nd
from op_check import _attrs, info

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
REFS = np.load(os.path.join(DATA, "mxnet_vision_refs.npz"))
META = json.loads(str(REFS["meta"]))


def run(case):
    m = META[case]
    attrs = {k: tuple(v) if isinstance(v, list) else v for k, v in m["attrs"].items()}
    inputs = [nd.array(REFS[f"{case}/in{i}"], dtype="float32") for i in range(m["inputs"])]
    n_visible = len(info(m["op"], **attrs)["outputs"])
    outs = _native.invoke(m["op"], [a._h for a in inputs], _attrs(attrs), [], True, True)
    heads = [nd.array(REFS[f"{case}/head"], dtype="float32")]
    for h in outs[1:n_visible]:
        heads.append(nd.zeros(nd.NDArray._wrap(h, None).shape))
    n_args = len(info(m["op"], **attrs)["arguments"])
    grads = [nd.zeros(a.shape) for a in inputs[:n_args]]
    reqs = ["write" if i in m["wrt"] else "null" for i in range(n_args)]
    _native.invoke_backward(m["op"], _attrs(attrs), [h._h for h in heads], [a._h for a in inputs],
                            outs, [g._h for g in grads], reqs, True)
    return nd.NDArray._wrap(outs[0], None).asnumpy(), [grads[i].asnumpy() for i in m["wrt"]]


@pytest.mark.parametrize("case", sorted(META))
def test_forward_and_gradient_match_mxnet(case):
    out, grads = run(case)
    np.testing.assert_allclose(out, REFS[f"{case}/out"], rtol=2e-5, atol=2e-6, err_msg=f"{case}: output")
    for i, g in zip(META[case]["wrt"], grads):
        np.testing.assert_allclose(g, REFS[f"{case}/grad{i}"], rtol=2e-4, atol=2e-5,
                                   err_msg=f"{case}: gradient of input {i}")
