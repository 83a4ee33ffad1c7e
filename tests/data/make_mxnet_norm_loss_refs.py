"""Writes mxnet_norm_loss_refs.npz, which tests/test_ops_mxnet_refs.py reads: for each case,
the inputs, the head gradient, and MXNet 1.9.1's float32 outputs and input gradients (autograd) for
LRN, InstanceNorm, L2Normalization, LayerNorm, GroupNorm, SVMOutput, softmax_cross_entropy,
smooth_l1 and a few elementwise functions.

    /path/to/mxnet-1.9.1/bin/python tests/data/make_mxnet_norm_loss_refs.py tests/data
"""
import json
import os
import sys

import mxnet as mx
import numpy as np

rng = np.random.RandomState(3)


def u(*shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, shape)


def labels(n, k):
    return rng.randint(0, k, n).astype(np.float64)


# name -> (operator, input arrays, attributes, indices of the inputs that get gradients)
CASES = {
    "lrn": ("LRN", [u(2, 5, 3, 3, lo=-2, hi=2)], {"nsize": 3, "alpha": 0.3, "beta": 0.75, "knorm": 1.5}, [0]),
    "lrn_n5": ("LRN", [u(1, 7, 2, 2, lo=-2, hi=2)], {"nsize": 5}, [0]),
    "instance_norm": ("InstanceNorm", [u(2, 3, 4, 5), u(3), u(3)], {"eps": 1e-3}, [0, 1, 2]),
    "l2_instance": ("L2Normalization", [u(2, 3, 4)], {"mode": "instance"}, [0]),
    "l2_channel": ("L2Normalization", [u(2, 3, 4)], {"mode": "channel"}, [0]),
    "l2_spatial": ("L2Normalization", [u(2, 3, 2, 2)], {"mode": "spatial", "eps": 1e-3}, [0]),
    "layer_norm_last": ("LayerNorm", [u(3, 4, 5), u(5), u(5)], {}, [0, 1, 2]),
    "layer_norm_axis1": ("LayerNorm", [u(3, 4, 5), u(4), u(4)], {"axis": 1, "eps": 1e-3}, [0, 1, 2]),
    "group_norm": ("GroupNorm", [u(2, 4, 3, 3), u(2), u(2)], {"num_groups": 2}, [0, 1, 2]),
    "svm_l2": ("SVMOutput", [u(4, 5, lo=-2, hi=2), labels(4, 5)], {"margin": 0.8, "regularization_coefficient": 0.7}, [0]),
    "svm_l1": ("SVMOutput", [u(4, 5, lo=-2, hi=2), labels(4, 5)], {"use_linear": True}, [0]),
    "softmax_ce": ("softmax_cross_entropy", [u(4, 5, lo=-3, hi=3), labels(4, 5)], {}, [0]),
    "smooth_l1": ("smooth_l1", [u(3, 4, lo=-1, hi=1)], {"scalar": 2.0}, [0]),
    "hard_sigmoid": ("hard_sigmoid", [u(3, 4, lo=-4, hi=4)], {"alpha": 0.3, "beta": 0.4}, [0]),
    "rint": ("rint", [np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -1.2, 1.7])], {}, [0]),
    "fix": ("fix", [np.array([-2.5, -1.9, -0.5, 0.5, 1.9, 2.5])], {}, [0]),
    "erfinv": ("erfinv", [u(3, 4, lo=-0.95, hi=0.95)], {}, [0]),
    "gammaln": ("gammaln", [u(3, 4, lo=0.3, hi=4)], {}, [0]),
    "gamma": ("gamma", [u(3, 4, lo=0.3, hi=4)], {}, [0]),
    "rcbrt": ("rcbrt", [u(3, 4, lo=0.3, hi=4)], {}, [0]),
}


def run(op, inputs, attrs, wrt):
    arrays = [mx.nd.array(x, dtype="float32") for x in inputs]
    for i in wrt:
        arrays[i].attach_grad()
    with mx.autograd.record():
        out = getattr(mx.nd, op)(*arrays, **attrs)
    outs = out if isinstance(out, list) else [out]
    head = rng.standard_normal(outs[0].shape)
    outs[0].backward(mx.nd.array(head, dtype="float32"))
    return head, [o.asnumpy() for o in outs], [arrays[i].grad.asnumpy() for i in wrt]


def main(out_dir):
    record, meta = {}, {}
    for name, (op, inputs, attrs, wrt) in CASES.items():
        head, outs, grads = run(op, inputs, attrs, wrt)
        for i, x in enumerate(inputs):
            record[f"{name}/in{i}"] = x.astype(np.float32)
        record[f"{name}/head"] = head.astype(np.float32)
        record[f"{name}/out"] = outs[0]
        for i, g in zip(wrt, grads):
            record[f"{name}/grad{i}"] = g
        meta[name] = {"op": op, "attrs": attrs, "inputs": len(inputs), "wrt": wrt}
    record["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(os.path.join(out_dir, "mxnet_norm_loss_refs.npz"), **record)


if __name__ == "__main__":
    main(sys.argv[1])
