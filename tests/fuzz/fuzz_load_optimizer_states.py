"""Fuzz target: ``Module.load_optimizer_states`` on an arbitrary states file. States that
load must work: an update with them runs to the end."""
import os
import tempfile

import _harness  # sets up the import path

with _harness.coverage():
    import flowmod as mx
from flowmod.base import MXNetError

DATA_SHAPE = (2, 4)
_DIRS: list = []


def module(optimizer: str = "sgd", **params) -> mx.mod.Module:
    """The module the seed states come from (and are loaded into), bound and initialized."""
    data = mx.sym.Variable("data")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, name="fc", num_hidden=3),
                               name="softmax")
    mod = mx.mod.Module(net)
    mod.bind([("data", DATA_SHAPE)], [("softmax_label", (DATA_SHAPE[0],))])
    mod.init_params(mx.init.Constant(0.5))
    mod.init_optimizer(optimizer=optimizer,
                       optimizer_params=params or {"learning_rate": 0.1, "momentum": 0.9})
    return mod


def step(mod: mx.mod.Module) -> None:
    batch = mx.io.DataBatch([mx.nd.ones(DATA_SHAPE)], [mx.nd.zeros((DATA_SHAPE[0],))])
    mod.forward_backward(batch)
    mod.update()
    for value in mod.get_params()[0].values():
        value.asnumpy()


_MODULES = {}
_PARAMS = {"sgd": {"learning_rate": 0.1, "momentum": 0.9}, "adam": {"learning_rate": 0.01}}


def one_input(data: bytes) -> None:
    # Adam keeps a pair of states per parameter, SGD with momentum one: states meant for
    # either go into both, each time into a fresh updater (a load may replace its
    # optimizer).
    if not _DIRS:
        _DIRS.append(tempfile.mkdtemp(prefix="flowmod-fuzz-"))
    fname = os.path.join(_DIRS[0], "m.states")
    with open(fname, "wb") as f:
        f.write(data)
    for name, params in _PARAMS.items():
        if name not in _MODULES:
            _MODULES[name] = module(name, **params)
        mod = _MODULES[name]
        mod._updater = mx.optimizer.get_updater(mx.optimizer.create(name, **params))
        try:
            mod.load_optimizer_states(fname)
        except MXNetError:
            continue
        step(mod)


if __name__ == "__main__":
    _harness.main(one_input)
