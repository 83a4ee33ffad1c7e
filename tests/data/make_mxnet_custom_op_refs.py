"""Writes mxnet_custom_op_refs.json, which tests/test_custom_op_examples.py reads: MXNet 1.9.1's
results for the runs of tests/custom_op_cases.py (custom_softmax.py's MLP trained with Module.fit
on one device and on two, and weighted_logistic_regression.py's outputs and gradients).

    /path/to/mxnet-1.9.1/bin/python tests/data/make_mxnet_custom_op_refs.py tests/data
"""
import json
import os
import sys

import mxnet as mx

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import custom_op_cases as cases  # noqa: E402


def main(out_dir):
    cases.register_example_ops(mx)
    refs = {"mxnet_version": mx.__version__,
            "softmax_mlp": cases.train_softmax_mlp(mx, mx.cpu()),
            "softmax_mlp_two_devices": cases.train_softmax_mlp(mx, [mx.cpu(0), mx.cpu(1)]),
            "weighted_logistic_regression": cases.weighted_logistic_regression(mx)}
    with open(os.path.join(out_dir, "mxnet_custom_op_refs.json"), "w") as f:
        json.dump(refs, f)
    print({k: (v["val_acc"], v["val_ce"]) for k, v in refs.items() if k.startswith("softmax")})


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
