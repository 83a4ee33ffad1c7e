"""MXNet's image-classification symbol zoo (tests/data/symbol_zoo/, apache/mxnet 1.9.1's
example/image-classification/symbols/) built with `import flowmod as mxnet`, bound, and run on
MXNet's seeded parameters: eval-mode outputs, training-mode outputs, the gradient of the data and
of every parameter, and the moving statistics, against MXNet 1.9.1's recorded values
(tests/mxnet_compat/record_symbol_zoo.py wrote tests/data/symbol_zoo_refs.npz).
"""
import os

import numpy as np
import pytest

import flowmod as mx
import symbol_zoo_cases as zoo

REFS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "symbol_zoo_refs.npz")
# float64 runs against MXNet's own float64 kernels: the same arithmetic up to summation order,
# errors relative to the largest reference magnitude of the array compared.
RTOL64 = 1e-8
# float32 runs against the float64 reference too: flowmod's float32 has to be as close to it as
# MXNet's float32 (oneDNN) is, within a factor of 2, and within RTOL32 in any case. Training-mode
# BatchNorm over batch 2 makes deep networks sensitive to rounding: MXNet's own float32 gradients
# of resnet-50 or inception-v4 are several percent away from its float64 ones, flowmod's closer.
RTOL32 = 5e-4
# A gradient that is zero in exact arithmetic (the bias of a convolution a training-mode
# BatchNorm follows) is rounding noise in both: it is judged against the network's scale.
ZERO_FLOOR = 1e-4
# Each float64 case and these float32 ones run by default (about 30 s in all); the three
# 299 x 299 / 107 x 107 inception networks take two minutes more and run with
# FLOWMOD_TEST_ZOO_FULL=1, as does every network in float32.
FLOAT32_DEFAULT = {"mlp", "lenet", "alexnet", "resnet20_cifar", "inception_bn_28", "googlenet", "mobilenet",
                   "mobilenetv2"}
HEAVY = {"inception_v3", "inception_v4", "inception_resnet_v2"}
FULL = os.environ.get("FLOWMOD_TEST_ZOO_FULL") == "1"


def _recorded():
    with np.load(REFS) as f:
        keys = set(f.files)
    return [(name, dtype) for name in zoo.CASES for dtype in ("float64", "float32")
            if "%s/%s/eval_output" % (name, dtype) in keys]


def _param(name, dtype):
    default = name not in HEAVY and (dtype == "float64" or name in FLOAT32_DEFAULT)
    marks = [] if default else [pytest.mark.skipif(not FULL, reason="about a minute; FLOWMOD_TEST_ZOO_FULL=1 runs it")]
    return pytest.param(name, dtype, marks=marks, id="%s-%s" % (name, dtype))


@pytest.fixture(scope="module")
def refs():
    with np.load(REFS) as f:
        return {k: f[k] for k in f.files}


def relative_error(got, want, floor):
    """max |got - want| over max(max |want|, floor)."""
    if want.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(want))), floor, 1e-300)
    return float(np.max(np.abs(got.astype(np.float64) - want))) / scale


def errors_against(values, refs, prefix, params):
    """{value: relative error} of `values` against the recorded ones under `prefix`."""
    want_norms = refs[prefix + "grad_norms"].astype(np.float64)
    floor = ZERO_FLOOR * max(want_norms.max(), float(refs[prefix + "grad_norm:data"][0]))
    errors = {k: relative_error(values[k], refs[prefix + k], floor if k.startswith("grad") else 0.0)
              for k in values if k != "grad_norms"}
    per_param = np.abs(values["grad_norms"].astype(np.float64) - want_norms) / np.maximum(want_norms, floor)
    errors["grad_norms"] = float(per_param.max())
    errors["worst grad_norm"] = params[int(np.argmax(per_param))]
    return errors


def test_every_network_of_the_zoo_is_recorded():
    assert {name for name, _ in _recorded()} == set(zoo.CASES)


@pytest.mark.parametrize("name,dtype", [_param(n, d) for n, d in _recorded()])
def test_zoo_network_matches_mxnet(refs, name, dtype):
    values, params = zoo.run_case(mx, name, np.dtype(dtype).type)
    assert params == [str(p) for p in refs[name + "/params"]]
    prefix = "%s/%s/" % (name, dtype)
    assert sorted(values) == sorted(k[len(prefix):] for k in refs if k.startswith(prefix))
    truth = "%s/float64/" % name
    if dtype == "float64":
        tolerance = {k: RTOL64 for k in values}
    elif truth + "eval_output" in refs:
        mxnet32 = {k: refs[prefix + k] for k in values}
        tolerance = {k: max(RTOL32, 2 * e) for k, e in errors_against(mxnet32, refs, truth, params).items()
                     if k != "worst grad_norm"}
        prefix = truth
    else:  # alexnet: MXNet has no float64 LRN
        tolerance = {k: RTOL32 for k in values}
    errors = errors_against(values, refs, prefix, params)
    bad = {k: (e, tolerance[k]) for k, e in errors.items() if k in tolerance and not e <= tolerance[k]}
    assert not bad, "%s %s: (relative error, tolerance) %s; worst grad_norm %s" % (
        name, dtype, bad, errors["worst grad_norm"])
