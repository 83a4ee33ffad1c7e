"""MXNet 1.9.1's recorded outputs and gradients of the deformable and position-sensitive
operators (tests/data/make_mxnet_deform_refs.py recorded them), and how to replay a case."""
from __future__ import annotations

import json
import os

import numpy as np

from flowmod import _native, nd
from op_check import _attrs, info

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
REFS = np.load(os.path.join(DATA, "mxnet_deform_refs.npz"))
META = json.loads(str(REFS["meta"]))


def cases(*prefixes: str) -> list:
    """The recorded case names starting with one of ``prefixes``."""
    return sorted(c for c in META if c.startswith(prefixes))


def check_case(case: str) -> None:
    """Forward in training mode and, for the cases MXNet differentiated, backward with the
    recorded head gradient, against MXNet's float32 results."""
    m = META[case]
    inputs = [nd.array(REFS[f"{case}/in{i}"], dtype="float32") for i in range(m["inputs"])]
    meta = info(m["op"], **m["attrs"])
    n_visible = len(meta["outputs"])
    outs = _native.invoke(m["op"], [a._h for a in inputs], _attrs(m["attrs"]), [], True, True)
    assert n_visible == m["outputs"]
    for i in range(n_visible):
        np.testing.assert_allclose(nd.NDArray._wrap(outs[i], None).asnumpy(), REFS[f"{case}/out{i}"],
                                   rtol=1e-4, atol=1e-5, err_msg=f"{case}: output {i}")
    if not m["wrt"]:
        return
    head = nd.array(REFS[f"{case}/head"], dtype="float32")
    n_args = len(meta["arguments"])
    grads = [nd.zeros(a.shape) for a in inputs[:n_args]]
    reqs = ["write" if i in m["wrt"] else "null" for i in range(n_args)]
    _native.invoke_backward(m["op"], _attrs(m["attrs"]), [head._h], [a._h for a in inputs], outs,
                            [g._h for g in grads], reqs, True)
    for i in m["wrt"]:
        np.testing.assert_allclose(grads[i].asnumpy(), REFS[f"{case}/grad{i}"], rtol=1e-3, atol=1e-4,
                                   err_msg=f"{case}: gradient of input {i}")
