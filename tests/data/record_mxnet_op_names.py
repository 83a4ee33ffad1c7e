"""Records MXNet 1.9.1's public operator names into mxnet_op_names.json, which
tests/test_op_coverage.py compares flowmod's namespaces with. Run once with MXNet's venv:

    /work/main/.peers/mxnet/bin/python tests/data/record_mxnet_op_names.py

- nd, sym: the functions MXNet generates from its operator registry into mx.nd and mx.sym
  (those whose __module__ is 'ndarray' or 'symbol'; helpers written in Python, such as
  mx.nd.zeros, are left out);
- contrib, linalg: the public functions of mx.nd.contrib and mx.nd.linalg;
- random: mx.nd.random.__all__."""
import inspect
import json
import os

import mxnet as mx


def generated(module, origin):
    return sorted(n for n in dir(module) if not n.startswith("_")
                  and getattr(getattr(module, n), "__module__", None) == origin)


def functions(module):
    return sorted(n for n in dir(module) if not n.startswith("_") and n != "current_context"
                  and inspect.isfunction(getattr(module, n)))


def main():
    names = {"mxnet_version": mx.__version__,
             "nd": generated(mx.nd, "ndarray"),
             "sym": generated(mx.sym, "symbol"),
             "contrib": functions(mx.nd.contrib),
             "linalg": functions(mx.nd.linalg),
             "random": sorted(mx.nd.random.__all__)}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mxnet_op_names.json")
    with open(path, "w") as f:
        json.dump(names, f, indent=1, sort_keys=True)
        f.write("\n")
    print(path, {k: len(v) for k, v in names.items() if k != "mxnet_version"})


if __name__ == "__main__":
    main()
