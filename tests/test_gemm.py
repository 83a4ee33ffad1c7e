"""Matrix products as the operators run them: float32 products go through oneDNN where the
build has it (small ones and other types through OpenBLAS), split across the cores when
large. Every layout, size class and accumulation is checked against numpy in float64, and
the oneDNN and OpenBLAS paths against each other."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd

rng = np.random.default_rng(5)

# (m, n, k): below oneDNN's size, oneDNN on one part, and split across the cores (>= 2^21
# multiply-adds), with widths that are not multiples of a vector.
SHAPES = [(3, 5, 7), (33, 47, 29), (64, 300, 250), (257, 129, 130), (31, 801, 203)]


@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
def test_dot_matches_numpy_in_every_layout(m, n, k, transpose_a, transpose_b):
    a = rng.standard_normal((k, m) if transpose_a else (m, k))
    b = rng.standard_normal((n, k) if transpose_b else (k, n))
    got = nd.dot(nd.array(a, dtype=np.float32), nd.array(b, dtype=np.float32),
                 transpose_a=transpose_a, transpose_b=transpose_b).asnumpy()
    want = (a.T if transpose_a else a) @ (b.T if transpose_b else b)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.sqrt(k))


@pytest.mark.parametrize("m,n,k", SHAPES[1:])
def test_batch_dot_matches_numpy(m, n, k):
    a = rng.standard_normal((3, m, k))
    b = rng.standard_normal((3, n, k))
    got = nd.batch_dot(nd.array(a, dtype=np.float32), nd.array(b, dtype=np.float32), transpose_b=True).asnumpy()
    np.testing.assert_allclose(got, a @ b.transpose(0, 2, 1), rtol=1e-4, atol=1e-4 * np.sqrt(k))


def test_accumulated_gradients_add_to_what_is_there():
    # grad_req="add" makes the weight gradient product accumulate into its output (beta = 1).
    x = rng.standard_normal((96, 300))
    w = rng.standard_normal((200, 300)) * 0.1
    head = rng.standard_normal((96, 200))
    data, weight = mx.sym.Variable("data"), mx.sym.Variable("weight")
    fc = mx.sym.FullyConnected(data, weight, no_bias=True, num_hidden=200)
    ex = fc.bind(mx.cpu(), {"data": nd.array(x, dtype=np.float32), "weight": nd.array(w, dtype=np.float32)},
                 args_grad={"data": nd.zeros(x.shape), "weight": nd.full(w.shape, 2.0)},
                 grad_req={"data": "write", "weight": "add"})
    ex.forward(is_train=True)
    ex.backward(nd.array(head, dtype=np.float32))
    np.testing.assert_allclose(ex.grad_dict["weight"].asnumpy(), 2.0 + head.T @ x, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(ex.grad_dict["data"].asnumpy(), head @ w, rtol=1e-4, atol=1e-3)


def test_float64_products_are_exact_to_double_precision():
    a = rng.standard_normal((70, 90))
    b = rng.standard_normal((90, 110))
    np.testing.assert_allclose(nd.dot(nd.array(a, dtype=np.float64), nd.array(b, dtype=np.float64)).asnumpy(),
                               a @ b, rtol=1e-12, atol=1e-12)


_RUN = textwrap.dedent("""
    import json, sys
    import numpy as np
    import flowmod as mx
    from flowmod import _native
    rng = np.random.default_rng(1)
    out = {"backend": _native.gemm_backend(), "results": []}
    for m, n, k in [(64, 300, 250), (31, 801, 203)]:
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((n, k)).astype(np.float32)
        out["results"].append(mx.nd.dot(mx.nd.array(a), mx.nd.array(b), transpose_b=True).asnumpy().tolist())
    print(json.dumps(out))
""")


def _run(gemm):
    env = {k: v for k, v in os.environ.items() if k != "FLOWMOD_GEMM"}
    if gemm:
        env["FLOWMOD_GEMM"] = gemm
    res = subprocess.run([sys.executable, "-c", _RUN], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_openblas_can_be_chosen_and_agrees_with_the_default():
    default, openblas = _run(None), _run("openblas")
    assert openblas["backend"] == "openblas"
    assert default["backend"] in ("onednn", "openblas")
    for x, y in zip(default["results"], openblas["results"]):
        np.testing.assert_allclose(np.array(x), np.array(y), rtol=1e-4, atol=1e-3)


@pytest.mark.skipif(_native.gemm_backend() != "onednn", reason="this build runs float32 products on OpenBLAS")
def test_onednn_runs_float32_products_by_default():
    assert _run(None)["backend"] == "onednn"
