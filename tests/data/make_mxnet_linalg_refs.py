"""Writes mxnet_linalg_refs.npz, which tests/test_ops_linalg.py reads: for each case, the input,
the head gradients, and MXNet 1.9.1's float64 outputs and input gradient (autograd) for the linalg
operators whose results numpy does not define the same way (the LQ factors' signs, the
eigenvectors' signs, the packing order of triangles) and a few others.

    /path/to/mxnet-1.9.1/bin/python tests/data/make_mxnet_linalg_refs.py tests/data
"""
import json
import os
import sys

import mxnet as mx
import numpy as np

rng = np.random.RandomState(7)


def u(*shape):
    return rng.uniform(-1.0, 1.0, shape)


def sym(*shape):
    a = u(*shape)
    return a + np.swapaxes(a, -1, -2)


def spd(*shape):
    a = u(*shape)
    return a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])


# name -> (operator, input, attributes)
CASES = {
    "gelqf": ("gelqf", u(2, 3, 5), {}),
    "syevd": ("syevd", sym(2, 4, 4), {}),
    "potrf_upper": ("potrf", spd(2, 3, 3), {"lower": False}),
    "potri_upper": ("potri", np.triu(u(2, 3, 3)) + 3 * np.eye(3), {"lower": False}),
    "extracttrian": ("extracttrian", u(2, 4, 4), {}),
    "extracttrian_upper": ("extracttrian", u(2, 4, 4), {"lower": False}),
    "extracttrian_above": ("extracttrian", u(2, 4, 4), {"offset": 1}),
    "extracttrian_below": ("extracttrian", u(2, 4, 4), {"offset": -2}),
    "maketrian": ("maketrian", u(2, 6), {}),
    "maketrian_upper": ("maketrian", u(2, 6), {"lower": False}),
    "maketrian_above": ("maketrian", u(2, 3), {"offset": 2}),
    "maketrian_below": ("maketrian", u(2, 6), {"offset": -1}),
    "extractdiag_above": ("extractdiag", u(2, 4, 4), {"offset": 1}),
    "makediag_below": ("makediag", u(2, 3), {"offset": -2}),
    "slogdet": ("slogdet", u(3, 4, 4), {}),
    "det": ("det", u(3, 3, 3), {}),
}


def run(op, x, attrs):
    a = mx.nd.array(x, dtype="float64")
    a.attach_grad()
    with mx.autograd.record():
        out = getattr(mx.nd.linalg, op)(a, **attrs)
    outs = out if isinstance(out, (list, tuple)) else [out]
    heads = [rng.standard_normal(o.shape) for o in outs]
    mx.autograd.backward(outs, [mx.nd.array(h, dtype="float64") for h in heads])
    return heads, [o.asnumpy() for o in outs], a.grad.asnumpy()


def main(out_dir):
    record, meta = {}, {}
    for name, (op, x, attrs) in CASES.items():
        heads, outs, grad = run(op, x, attrs)
        record[f"{name}/in"] = x
        for i, (h, o) in enumerate(zip(heads, outs)):
            record[f"{name}/head{i}"] = h
            record[f"{name}/out{i}"] = o
        record[f"{name}/grad"] = grad
        meta[name] = {"op": op, "attrs": attrs, "outputs": len(outs)}
    record["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(os.path.join(out_dir, "mxnet_linalg_refs.npz"), **record)


if __name__ == "__main__":
    main(sys.argv[1])
