"""Writes tests/data/symbol_zoo_refs.npz, which tests/test_symbol_zoo.py reads: for each network
of tests/symbol_zoo_cases.py, MXNet 1.9.1's eval-mode and training-mode outputs, the training-mode
gradient norms of every parameter, sampled elements of the data gradient and of a few parameter
gradients, and sampled auxiliary states after the training step. Run it twice:

    /path/to/mxnet-1.9.1/bin/python tests/mxnet_compat/record_symbol_zoo.py float32 [CASE ...]
    /path/to/mxnet-1.9.1/bin/python tests/mxnet_compat/record_symbol_zoo.py float64 [CASE ...]

float32 runs MXNet as installed (its oneDNN kernels); float64 runs its own CPU kernels where it has them (not LRN's)
(MXNET_MKLDNN_ENABLED=0, as oneDNN has no float64), which also give the float32 runs a reference
free of float32 rounding. Keys are "<case>/<dtype>/<value>".
"""
import os
import sys
import time

if __name__ == "__main__" and sys.argv[1:2] == ["float64"]:
    os.environ["MXNET_MKLDNN_ENABLED"] = "0"
    os.environ["MXNET_STORAGE_FALLBACK_LOG_VERBOSE"] = "0"

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TESTS)
import symbol_zoo_cases as zoo  # noqa: E402

OUT = os.path.join(TESTS, "data", "symbol_zoo_refs.npz")


def main(dtype, names):
    refs = dict(np.load(OUT)) if os.path.exists(OUT) else {}
    for name in names:
        t0 = time.time()
        prefix = "%s/%s/" % (name, dtype)
        for k in [k for k in refs if k.startswith(prefix)]:
            del refs[k]
        try:
            values, params = zoo.run_case(mx, name, np.dtype(dtype).type)
        except mx.base.MXNetError as e:
            # LRN (alexnet) has no float64 kernel in MXNet
            print("%-22s %-8s not run by MXNet: %s" % (name, dtype, str(e).strip().splitlines()[-1]))
            continue
        for k, v in values.items():
            refs[prefix + k] = v
        refs[name + "/params"] = np.array(params)
        print("%-22s %-8s %3d params %6.1fs" % (name, dtype, len(params), time.time() - t0), flush=True)
    np.savez_compressed(OUT, **refs)


if __name__ == "__main__":
    if sys.argv[1:2] not in (["float32"], ["float64"]):
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:] or list(zoo.CASES))
