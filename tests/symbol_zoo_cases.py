"""The networks of MXNet's image-classification symbol zoo (tests/data/symbol_zoo/, copied from
apache/mxnet 1.9.1 example/image-classification/symbols/), each with a small input, and the
seeded parameters, inputs and labels both MXNet (tests/mxnet_compat/record_symbol_zoo.py) and
flowmod (tests/test_symbol_zoo.py) run them on.

`run_case(mx, name)` works with either package: it builds the symbol from the zoo file with `mx`
standing in for `mxnet`, binds it, runs an eval-mode forward, then a training-mode forward and a
backward from SoftmaxOutput's fixed labels, and returns the values compared.
"""
import importlib.util
import json
import os
import sys

import numpy as np

ZOO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "symbol_zoo")
BATCH = 2
NUM_CLASSES = 10

# name -> (zoo file, get_symbol keyword arguments, data shape without the batch axis)
CASES = {
    "mlp": ("mlp", {}, (1, 28, 28)),
    "lenet": ("lenet", {}, (1, 28, 28)),
    "alexnet": ("alexnet", {}, (3, 67, 67)),
    "vgg11": ("vgg", {"num_layers": 11}, (3, 32, 32)),
    "vgg11_bn": ("vgg", {"num_layers": 11, "batch_norm": True}, (3, 32, 32)),
    "resnet20_cifar": ("resnet", {"num_layers": 20, "image_shape": "3,28,28"}, (3, 28, 28)),
    "resnet18": ("resnet", {"num_layers": 18, "image_shape": "3,64,64"}, (3, 64, 64)),
    "resnet50": ("resnet", {"num_layers": 50, "image_shape": "3,64,64"}, (3, 64, 64)),
    "resnet_v1_50": ("resnet-v1", {"num_layers": 50, "image_shape": "3,64,64"}, (3, 64, 64)),
    "resnext50": ("resnext", {"num_layers": 50, "image_shape": "3,64,64"}, (3, 64, 64)),
    "inception_bn_28": ("inception-bn", {"image_shape": "3,28,28"}, (3, 28, 28)),
    "inception_v3": ("inception-v3", {}, (3, 299, 299)),
    "inception_v4": ("inception-v4", {}, (3, 299, 299)),
    "inception_resnet_v2": ("inception-resnet-v2", {}, (3, 107, 107)),
    "googlenet": ("googlenet", {}, (3, 64, 64)),
    "mobilenet": ("mobilenet", {"alpha": 0.5, "resolution": 64}, (3, 64, 64)),
    "mobilenetv2": ("mobilenetv2", {"multiplier": 1.0}, (3, 64, 64)),
}

# parameters whose gradients are stored element by element (besides the data gradient): the
# first and the last of the network's arguments and SAMPLE_PARAMS in between
SAMPLE_PARAMS = 4
SAMPLE_ELEMENTS = 256


def load_zoo_module(mx, stem):
    """Imports tests/data/symbol_zoo/<stem>.py with `mx` as its `mxnet`."""
    path = os.path.join(ZOO_DIR, stem + ".py")
    spec = importlib.util.spec_from_file_location("symbol_zoo_" + stem.replace("-", "_"), path)
    module = importlib.util.module_from_spec(spec)
    saved = sys.modules.get("mxnet")
    sys.modules["mxnet"] = mx
    try:
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules["mxnet"]
        else:
            sys.modules["mxnet"] = saved
    return module


def build_symbol(mx, name):
    """The case's symbol, with Dropout replaced by identity so training mode is deterministic."""
    stem, kwargs, _ = CASES[name]
    # automatic names (convolution0, ...) count from zero for each network
    with mx.name.NameManager():
        sym = load_zoo_module(mx, stem).get_symbol(num_classes=NUM_CLASSES, **kwargs)
    graph = json.loads(sym.tojson())
    for node in graph["nodes"]:
        if node["op"] == "Dropout":
            node["op"] = "_copy"
            node.pop("attrs", None)
            node.pop("attr", None)
            node.pop("param", None)
            node["inputs"] = node["inputs"][:1]
    return mx.sym.load_json(json.dumps(graph))


def _fan_in(shape):
    return int(np.prod(shape[1:])) if len(shape) > 1 else int(shape[0])


def make_values(name, arg_names, arg_shapes, aux_names, aux_shapes):
    """Seeded arguments (data, label, parameters) and auxiliary states, float32."""
    rng = np.random.RandomState(sum(map(ord, name)))
    args, aux = {}, {}
    for n, s in zip(arg_names, arg_shapes):
        if n == "data":
            v = rng.uniform(-1, 1, s)
        elif n.endswith("label"):
            v = np.arange(s[0]) * 3 % NUM_CLASSES
        elif n.endswith("gamma"):
            v = rng.uniform(0.5, 1.5, s)
        elif n.endswith("beta") or n.endswith("bias"):
            v = rng.uniform(-0.1, 0.1, s)
        else:
            v = rng.normal(0, np.sqrt(2.0 / _fan_in(s)), s)
        args[n] = v.astype(np.float32)
    for n, s in zip(aux_names, aux_shapes):
        v = rng.uniform(-0.1, 0.1, s) if n.endswith("mean") else rng.uniform(0.5, 1.5, s)
        aux[n] = v.astype(np.float32)
    return args, aux


def sampled_params(param_names):
    """The parameters whose gradients are stored element by element."""
    if len(param_names) <= SAMPLE_PARAMS + 2:
        return list(param_names)
    inner = np.linspace(1, len(param_names) - 2, SAMPLE_PARAMS).round().astype(int)
    return [param_names[0]] + [param_names[i] for i in inner] + [param_names[-1]]


def sample_index(size, salt):
    """Fixed flat indices (at most SAMPLE_ELEMENTS) into an array of `size` elements."""
    if size <= SAMPLE_ELEMENTS:
        return np.arange(size)
    return np.sort(np.random.RandomState(salt).choice(size, SAMPLE_ELEMENTS, replace=False))


def run_case(mx, name, dtype=np.float32):
    """Binds the case under `mx` with arrays of `dtype` and returns {key: array of dtype} of
    what is compared."""
    _, _, shape = CASES[name]
    sym = build_symbol(mx, name)
    data_shape = (BATCH,) + tuple(shape)
    arg_shapes, _, aux_shapes = sym.infer_shape(data=data_shape, softmax_label=(BATCH,))
    arg_names, aux_names = sym.list_arguments(), sym.list_auxiliary_states()
    args, aux = make_values(name, arg_names, arg_shapes, aux_names, aux_shapes)
    cpu = mx.cpu()
    arg_nd = {n: mx.nd.array(v, ctx=cpu, dtype=dtype) for n, v in args.items()}
    aux_nd = {n: mx.nd.array(v, ctx=cpu, dtype=dtype) for n, v in aux.items()}
    grad_nd = {n: mx.nd.zeros(v.shape, ctx=cpu, dtype=dtype) for n, v in args.items() if not n.endswith("label")}
    reqs = {n: ("write" if n in grad_nd else "null") for n in arg_names}
    exe = sym.bind(cpu, args=arg_nd, args_grad=grad_nd, grad_req=reqs, aux_states=aux_nd)
    out = {"eval_output": exe.forward(is_train=False)[0].asnumpy()}
    out["train_output"] = exe.forward(is_train=True)[0].asnumpy()
    exe.backward()
    params = [n for n in arg_names if n in grad_nd and n != "data"]
    out["grad_norms"] = np.array([np.linalg.norm(grad_nd[n].asnumpy().astype(np.float64))
                                  for n in params])
    data_grad = grad_nd["data"].asnumpy().ravel()
    out["grad:data"] = data_grad[sample_index(data_grad.size, 1)]
    out["grad_norm:data"] = np.array([np.linalg.norm(data_grad.astype(np.float64))])
    for i, n in enumerate(sampled_params(params)):
        g = grad_nd[n].asnumpy().ravel()
        out["grad:" + n] = g[sample_index(g.size, i + 2)]
    for n in aux_names[:2] + aux_names[-2:]:
        out["aux:" + n] = exe.aux_dict[n].asnumpy().ravel()[:SAMPLE_ELEMENTS]
    return {k: np.asarray(v, dtype=dtype) for k, v in out.items()}, params
