"""Records MXNet 1.9.1's loss curves for the sparse examples (examples/sparse/) into
tests/data/mxnet_sparse_example_curves.json: each example trained by MXNet on the same
synthetic data from the same initial parameters.

    /work/main/.peers/mxnet/bin/python tests/data/make_mxnet_sparse_example_curves.py
"""
import json
import os
import sys
import tempfile

import mxnet as mx

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "sparse"))

import factorization_machine  # noqa: E402
import linear_classification  # noqa: E402
import matrix_factorization  # noqa: E402
import sparse_example_cases  # noqa: E402
import wide_deep  # noqa: E402


def main():
    curves = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, run in sparse_example_cases.CASES.items():
            curves[name] = run(mx, tmp)
            print(name, curves[name][:3], "...", curves[name][-1])
    curves["mxnet_version"] = mx.__version__
    with open(os.path.join(HERE, "mxnet_sparse_example_curves.json"), "w") as f:
        json.dump(curves, f, indent=1)


if __name__ == "__main__":
    main()
