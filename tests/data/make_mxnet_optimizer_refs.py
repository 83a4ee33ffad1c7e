"""Writes mxnet_optimizer_refs.npz, which tests/test_optimizer_mxnet_refs.py reads: for each
case, MXNet 1.9.1's weights after a few updates of three parameters (fc_weight, fc_bias,
bn_gamma) by one optimizer, through an Updater called with all three at once as MXNet's
Module calls it (so SGD, LAMB and LARS take their multi-weight paths), from the initial
weights and gradients stored beside them.

    /path/to/mxnet-1.9.1/bin/python tests/data/make_mxnet_optimizer_refs.py tests/data
"""
import json
import os
import sys

import mxnet as mx
import numpy as np

rng = np.random.RandomState(7)
NAMES = ["fc_weight", "fc_bias", "bn_gamma"]
SHAPES = [(4, 3), (3,), (5,)]
STEPS = 4
COMMON = {"wd": 0.01, "rescale_grad": 0.5, "clip_gradient": 0.8}

# case -> (optimizer, its arguments, weight type); float16 cases use multi_precision
CASES = {
    "sgd": ("sgd", {"learning_rate": 0.1}, "float32"),
    "sgd_mom": ("sgd", {"learning_rate": 0.1, "momentum": 0.9}, "float32"),
    "sgd_mp16": ("sgd", {"learning_rate": 0.1, "multi_precision": True}, "float16"),
    "sgd_mom_mp16": ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "multi_precision": True}, "float16"),
    "signum": ("signum", {"learning_rate": 0.01, "momentum": 0.9, "wd_lh": 0.01}, "float32"),
    "signsgd": ("signum", {"learning_rate": 0.01, "momentum": 0.0}, "float32"),
    "ftrl": ("ftrl", {"learning_rate": 0.1, "lamda1": 0.01, "beta": 1.0}, "float32"),
    "ftml": ("ftml", {"learning_rate": 0.01, "beta1": 0.6}, "float32"),
    "lamb": ("lamb", {"learning_rate": 0.01}, "float32"),
    "lamb_bounds": ("lamb", {"learning_rate": 0.01, "lower_bound": 0.5, "upper_bound": 2.0,
                             "bias_correction": False}, "float32"),
    "lamb_mp16": ("lamb", {"learning_rate": 0.01, "multi_precision": True}, "float16"),
    "lars": ("lars", {"learning_rate": 0.1, "momentum": 0.9, "eta": 0.01}, "float32"),
    "lars_plain": ("lars", {"learning_rate": 0.1, "eta": 0.01, "eps": 1e-6}, "float32"),
    # MXNet's DCASGD tests its momentum array for truth, which fails for arrays of several
    # elements: it runs without momentum only.
    "dcasgd": ("dcasgd", {"learning_rate": 0.1, "lamda": 0.04}, "float32"),
}


def main(out_dir):
    init = [rng.uniform(-1, 1, s) for s in SHAPES]
    grads = [[rng.uniform(-2, 2, s) for s in SHAPES] for _ in range(STEPS)]
    arrays = {f"init_{i}": w for i, w in enumerate(init)}
    arrays.update({f"grad_{t}_{i}": g for t, step in enumerate(grads) for i, g in enumerate(step)})
    for case, (name, kwargs, dtype) in CASES.items():
        opt = mx.optimizer.create(name, param_idx2name=dict(enumerate(NAMES)), **COMMON, **kwargs)
        updater = mx.optimizer.get_updater(opt)
        weights = [mx.nd.array(w, dtype=dtype) for w in init]
        for step in grads:
            updater(list(range(len(NAMES))), [mx.nd.array(g, dtype=dtype) for g in step], weights)
        for i, w in enumerate(weights):
            arrays[f"{case}_{i}"] = w.asnumpy()
    arrays["cases"] = np.array(json.dumps({c: [n, k, d] for c, (n, k, d) in CASES.items()}))
    arrays["common"] = np.array(json.dumps(COMMON))
    np.savez(os.path.join(out_dir, "mxnet_optimizer_refs.npz"), **arrays)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
