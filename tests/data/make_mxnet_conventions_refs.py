"""Records what MXNet 1.9.1 returns for the calling conventions, module semantics and
``test_utils`` helpers that ``test_mxnet_conventions.py``, ``test_mxnet_semantics.py`` and
``test_test_utils.py`` compare flowmod with. Run once under MXNet's venv:

    /path/to/mxnet-venv/bin/python tests/data/make_mxnet_conventions_refs.py

It writes ``tests/data/mxnet_conventions_refs.json`` beside itself.
"""
from __future__ import annotations

import inspect
import json
import logging
import os
import warnings
from functools import reduce

import mxnet as mx
import numpy as np
from mxnet import nd, sym
from mxnet import test_utils as tu

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mxnet_conventions_refs.json")

# Operators whose generated signatures are compared, in mx.nd and mx.sym.
SIGNATURE_OPS = ["clip", "sum", "transpose", "one_hot", "Activation", "Dropout",
                 "FullyConnected", "Convolution", "Pooling", "BatchNorm", "softmax", "relu",
                 "Concat", "broadcast_add", "reshape", "slice_axis", "SoftmaxOutput", "mean",
                 "topk", "tile", "flip", "swapaxes", "Embedding", "LeakyReLU", "where"]

# NDArray methods that forward to one operator, with the arguments they are called with.
METHOD_CASES = {
    "broadcast_to": [[2, 3, 4]], "broadcast_like": "ONES_234", "swapaxes": [0, 2],
    "tile": [[1, 2, 1]], "flip": [1], "transpose": [[2, 0, 1]], "sum": [1], "clip": [3, 9],
    "max": [2], "mean": [0], "topk": [], "repeat": [2], "slice_axis": [1, 0, 2],
    "abs": [], "sqrt": [], "square": [], "softmax": [], "log_softmax": [], "relu": [],
    "sigmoid": [], "exp": [], "argmax": [1], "argmin": [2], "norm": [], "prod": [0],
    "split": [2, 2], "take": "INDICES", "pick": "PICK_INDEX", "expand_dims": [1],
    "flatten": [], "squeeze": [], "zeros_like": [], "ones_like": [], "round": [],
    "floor": [], "ceil": [], "sign": [], "reciprocal": [], "rsqrt": [], "tanh": [],
}


def arange_234():
    return nd.array(np.arange(1, 25, dtype=np.float32).reshape(2, 3, 4) / 4)


def error_of(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the type is what is recorded
        return {"type": type(e).__name__,
                "mro": [c.__name__ for c in type(e).__mro__],
                "message": str(e).splitlines()[-1] if str(e) else "", "full": str(e)[:1500]}
    return None


def conventions():
    x = arange_234()
    data, w, b = sym.Variable("data"), sym.Variable("w"), sym.Variable("b")
    ref = {
        "nd.clip(x, 0, 2)": nd.clip(x, 0, 2).asnumpy().tolist(),
        "nd.sum(x, 1)": nd.sum(x, 1).asnumpy().tolist(),
        "x.sum(1)": x.sum(1).asnumpy().tolist(),
        "x.clip(0, 2)": x.clip(0, 2).asnumpy().tolist(),
        "nd.transpose(x, (2, 0, 1))": nd.transpose(x, (2, 0, 1)).asnumpy().tolist(),
        "nd.one_hot(i, 3)": nd.one_hot(nd.array([0, 2, 1]), 3).asnumpy().tolist(),
        "nd.Activation(x, 'tanh')": nd.Activation(x, "tanh").asnumpy().tolist(),
        "nd.FullyConnected(x2, w, b, 4)": nd.FullyConnected(
            x.reshape((2, 12)), nd.ones((4, 12)) / 10, nd.arange(4), 4).asnumpy().tolist(),
        "sym.clip(data, 0, 6)": sym.clip(data, 0, 6).list_attr(),
        "sym.Dropout(data, 0.5)": sym.Dropout(data, 0.5).list_attr(),
        "sym.Activation(data, 'tanh')": sym.Activation(data, "tanh").list_attr(),
        "sym.FullyConnected(data, w, b, 10)": {
            "attr": sym.FullyConnected(data, w, b, 10).list_attr(),
            "arguments": sym.FullyConnected(data, w, b, 10).list_arguments()},
    }
    signatures = {}
    for op in SIGNATURE_OPS:
        for ns, mod in (("nd", nd), ("sym", sym)):
            params = inspect.signature(getattr(mod, op)).parameters.values()
            signatures[f"{ns}.{op}"] = [[p.name, str(p.kind), repr(p.default)] for p in params]
    bad = {
        "nd.clip('a', 0, 1)": error_of(lambda: nd.clip("a", 0, 1)),
        "nd.clip(x, 0, 1, 7)": error_of(lambda: nd.clip(x, 0, 1, 7)),
        "sym.clip('a', 0, 1)": error_of(lambda: sym.clip("a", 0, 1)),
        "nd.sum(x, 1, axis=0)": error_of(lambda: nd.sum(x, 1, axis=0)),
    }
    return ref, signatures, bad


def symbols():
    net = sym.FullyConnected(sym.Variable("data"), num_hidden=2, name="fc1")
    other = sym.relu(sym.Variable("inp"), name="r")
    composed = net(data=other)
    a, b = sym.Variable("a"), sym.Variable("b")
    fc = sym.FullyConnected(sym.Variable("x"), num_hidden=2, name="fc")
    arange = sym.arange(0, 5, 2)
    cast = sym.Variable("x").astype("float16")
    return {
        "compose_arguments": composed.list_arguments(),
        "compose_outputs": composed.list_outputs(),
        "compose_positional": error_of(lambda: net(other)),
        "compose_unknown_keyword": error_of(lambda: net(nope=other)),
        "compose_value": composed.eval(
            ctx=mx.cpu(), inp=nd.array([[-1.0, 2.0, 3.0]]), fc1_weight=nd.ones((2, 3)),
            fc1_bias=nd.array([0.5, -0.5]))[0].asnumpy().tolist(),
        "eval": (a + 2 * b).eval(ctx=mx.cpu(), a=nd.array([1, 2]),
                                 b=nd.array([3, 4]))[0].asnumpy().tolist(),
        "debug_str": fc.debug_str(),
        "arange_value": arange.eval()[0].asnumpy().tolist(),
        "arange_attr": arange.list_attr(),
        "astype_attr": cast.list_attr(),
        "astype_type": [np.dtype(t).name for t in cast.infer_type(x="float32")[1]],
    }


def methods():
    x = arange_234()
    special = {"ONES_234": [nd.ones((2, 3, 4))], "INDICES": [nd.array([1, 0])],
               "PICK_INDEX": [nd.array([[0, 1, 2], [3, 2, 1]]), 2]}
    out = {}
    for name, args in METHOD_CASES.items():
        src = nd.array([[[1.0], [2.0], [3.0]]]) if name == "broadcast_to" else x
        args = special.get(args, args) if isinstance(args, str) else \
            [tuple(a) if isinstance(a, list) else a for a in args]
        res = getattr(src, name)(*args)
        res = res if isinstance(res, list) else [res]
        out[name] = [r.asnumpy().tolist() for r in res]
    return out


def monitor_entries():
    # MXNet 1.9.1's test_monitor net and values.
    data = nd.array([[0.05, .10]])
    label = nd.array([[.01, 0.99]])
    it = mx.io.NDArrayIter(data, label, batch_size=1)
    x = sym.Variable("data")
    x = sym.FullyConnected(name="fc_0", data=x, num_hidden=2)
    x = sym.Activation(name="act_0", data=x, act_type="sigmoid")
    x = sym.FullyConnected(name="fc_1", data=x, num_hidden=2)
    x = sym.Activation(name="act_1", data=x, act_type="sigmoid")
    x = sym.LinearRegressionOutput(data=x, name="softmax", grad_scale=2)

    def mean_abs(a):
        return nd.divide(nd.sum(nd.abs(a)), reduce(lambda p, q: p * q, a.shape))
    mon = mx.mon.Monitor(1, stat_func=mean_abs, pattern=".*", sort=True)
    mod = mx.mod.Module(x, context=[mx.cpu()])
    mod.bind(it.provide_data, label_shapes=it.provide_label, for_training=True)
    mod.install_monitor(mon)
    mod.init_params(arg_params={"fc_0_weight": nd.array([[.15, .20], [.25, .30]]),
                                "fc_0_bias": nd.array([.35, .35]),
                                "fc_1_weight": nd.array([[.40, .45], [.50, .55]]),
                                "fc_1_bias": nd.array([.60, .60])})
    mon.tic()
    mod.forward_backward(next(iter(it)))
    return [[k, float(v.split()[0].strip("[]"))] for _, k, v in mon.toc()]


def module_semantics():
    base = mx.mod.BaseModule()
    abstract = []
    for name in ["bind", "forward", "backward", "update", "update_metric", "init_optimizer",
                 "get_outputs", "get_input_grads", "get_params", "init_params", "set_params",
                 "save_params", "install_monitor", "forward_backward"]:
        fn = getattr(base, name)
        required = [p for p in inspect.signature(fn).parameters.values()
                    if p.default is p.empty and p.kind == p.POSITIONAL_OR_KEYWORD]
        try:
            fn(*[None] * len(required))
        except NotImplementedError:
            abstract.append(name)
    properties = []
    for name in ["data_names", "output_names", "data_shapes", "label_shapes", "output_shapes"]:
        try:
            getattr(base, name)
        except NotImplementedError:
            properties.append(name)

    net = sym.SoftmaxOutput(sym.FullyConnected(sym.Variable("data"), num_hidden=3, name="fc"),
                            name="softmax")
    mod = mx.mod.Module(net)
    mod.bind(data_shapes=[("data", (8, 40))], label_shapes=[("softmax_label", (8,))])
    mod.init_params()
    arg, aux = mod.get_params()
    missing = dict(arg)
    missing.pop("fc_bias")
    extra = dict(arg, unknown=nd.ones((1,)))
    fits = mod.forward
    wrong = error_of(lambda: fits(mx.io.DataBatch([nd.ones((8, 41))], [nd.zeros((8,))]),
                                  is_train=False))
    mod.forward(mx.io.DataBatch([nd.ones((4, 40))], [nd.zeros((4,))]), is_train=False)
    free = mx.mod.Module(sym.relu(sym.Variable("data")), label_names=None)
    free.bind(data_shapes=[("data", (8, 40))], for_training=False)
    free.init_params()
    free.forward(mx.io.DataBatch([nd.ones((8, 41))]), is_train=False)
    fc = sym.FullyConnected(sym.Variable("x"), num_hidden=2, name="fc")
    ex = fc.simple_bind(mx.cpu(), x=(2, 3))
    ex.forward(is_train=True)
    return {
        "abstract_methods": abstract, "abstract_properties": properties,
        "set_params_missing": error_of(lambda: mod.set_params(missing, aux)),
        "set_params_extra": error_of(lambda: mod.set_params(extra, aux, allow_missing=True,
                                                            allow_extra=False)),
        "set_params_extra_not_missing": error_of(lambda: mod.set_params(extra, aux,
                                                                        allow_extra=False)),
        "set_params_extra_allowed": error_of(lambda: mod.set_params(extra, aux, allow_missing=True,
                                                                    allow_extra=True)),
        "forward_41_features": wrong,
        "forward_batch_4_output_shape": list(mod.get_outputs()[0].shape),
        "forward_41_features_without_parameters": list(free.get_outputs()[0].shape),
        "backward_without_head_gradient": error_of(ex.backward),
        "load_dict_signature": str(inspect.signature(mx.mod.BucketingModule.load_dict)),
    }


def iterators_and_creation():
    data = np.arange(4 * 4 * 3, dtype=np.float32).reshape(4, 4, 3)  # T == N: MXNet counts axis 0
    layouts = {}
    for layout in ("NTC", "TNC"):
        it = mx.io.NDArrayIter(data, np.arange(4, dtype=np.float32) if layout == "NTC" else None,
                               batch_size=3, layout=layout, last_batch_handle="pad")
        layouts[layout] = {
            "provide_data": [[d.name, list(d.shape), d.layout] for d in it.provide_data],
            "batches": [[b.data[0].asnumpy().tolist(), b.pad] for b in it]}
    creation = {
        "full_dtype": np.dtype(nd.full((2,), 3).dtype).name,
        "full_signature": str(inspect.signature(nd.full)),
        "arange_signature": str(inspect.signature(nd.arange)),
        "arange": {str(ir): nd.arange(1, 6, 2, infer_range=ir).asnumpy().tolist()
                   for ir in (None, False, True)},
        "zeros_bogus": error_of(lambda: nd.zeros((2,), bogus=1)),
        "ones_bogus": error_of(lambda: nd.ones((2,), bogus=1)),
        "empty_bogus": error_of(lambda: nd.empty((2,), bogus=1)),
        "full_bogus": error_of(lambda: nd.full((2,), 1, bogus=1)),
        "array_stype": error_of(lambda: nd.array([1, 2], stype="csr")),
        "zeros_row_sparse_stype": nd.zeros((2, 2), stype="row_sparse").stype,
        "empty_csr_stype": nd.empty((2, 2), stype="csr").stype,
        "zeros_default_stype": nd.zeros((2, 2), stype="default").stype,
    }
    return layouts, creation


def _host(value):
    return np.asarray(value.asnumpy() if hasattr(value, "asnumpy") else value).tolist()


def test_utils_refs():
    a = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    b = np.array([1.0, 2.5, 3.0], dtype=np.float32)
    d = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x = nd.ones((2, 2))
    return {
        "assert_almost_equal_mismatch": error_of(
            lambda: tu.assert_almost_equal(a, b, names=("x", "y"))),
        "almost_equal": [tu.almost_equal(a, b), tu.almost_equal(a, b, rtol=0.3),
                         tu.almost_equal(np.array([np.nan]), np.array([np.nan])),
                         tu.almost_equal(np.array([np.nan]), np.array([np.nan]),
                                         equal_nan=True)],
        "same_array": [tu.same_array(x, x), tu.same_array(x, x.copy()),
                       tu.same_array(x, x.reshape((4,)))],
        "assert_exception_no_raise": error_of(lambda: tu.assert_exception(lambda: 1,
                                                                          ValueError)),
        "np_reduce": [[str(ax), kd, tu.np_reduce(d, ax, kd, np.sum).tolist()]
                      for ax, kd in ((1, True), ((0, 2), False), (None, False), (None, True),
                                     (-1, False))],
        "default_rtols": {np.dtype(k).name: v for k, v in tu.default_rtols().items()},
        "default_atols": {np.dtype(k).name: v for k, v in tu.default_atols().items()},
        "signatures": {n: str(inspect.signature(getattr(tu, n))) for n in (
            "assert_almost_equal", "almost_equal", "check_numeric_gradient",
            "check_symbolic_forward", "check_symbolic_backward", "check_consistency",
            "simple_forward", "rand_ndarray", "rand_shape_2d", "rand_shape_3d", "rand_shape_nd",
            "np_reduce", "same_array", "assert_exception", "get_mnist_iterator",
            "random_arrays", "default_context", "set_default_context", "list_gpus")},
        "simple_forward": tu.simple_forward(sym.relu(sym.Variable("v")),
                                            v=np.array([-1.0, 2.0])).tolist(),
        "check_symbolic_backward_grads": {k: _host(v) for k, v in tu.check_symbolic_backward(
            sym.square(sym.Variable("v")), {"v": np.array([1.0, -2.0])},
            [np.array([1.0, 1.0])], {"v": np.array([2.0, -4.0])}).items()},
    }


def main():
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    mx.random.seed(0)
    positional, signatures, bad = conventions()
    layouts, creation = iterators_and_creation()
    refs = {"mxnet_version": mx.__version__, "positional": positional,
            "signatures": signatures, "bad_positional": bad, "symbols": symbols(),
            "methods": methods(), "monitor": monitor_entries(),
            "module": module_semantics(), "ndarrayiter_layout": layouts,
            "creation": creation, "test_utils": test_utils_refs()}
    with open(OUT, "w") as f:
        json.dump(refs, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
