"""Fuzz target: ``Module.load`` on a checkpoint's files. An input is the four files of a
checkpoint set, each as a little-endian uint32 length and that many bytes: the symbol JSON,
the params, the optimizer states and the manifest (a file of length 0xFFFFFFFF is absent).
A checkpoint that loads is bound (when its network is the seed corpus's) and its optimizer
states are loaded and used for an update."""
import os
import struct
import tempfile

import _harness  # sets up the import path

with _harness.coverage():
    import flowmod as mx
from flowmod.base import MXNetError

ABSENT = 0xFFFFFFFF
FILES = ("-symbol.json", "-0003.params", "-0003.states", "-0003.manifest")
DATA_SHAPE = (2, 4)
_DIRS: list = []


def prefix() -> str:
    """Where the inputs' files are written: a directory made on first use."""
    if not _DIRS:
        _DIRS.append(tempfile.mkdtemp(prefix="flowmod-fuzz-"))
    return os.path.join(_DIRS[0], "ckpt")


def network() -> mx.sym.Symbol:
    """The network of the seed checkpoints."""
    data = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(data, name="fc", num_hidden=3)
    return mx.sym.SoftmaxOutput(fc, name="softmax")


_SEED_JSON = network().tojson()


def pack(files) -> bytes:
    """One input from the four files' contents (None for an absent file)."""
    out = b""
    for content in files:
        if content is None:
            out += struct.pack("<I", ABSENT)
        else:
            out += struct.pack("<I", len(content)) + content
    return out


def _unpack(data: bytes):
    files, at = [], 0
    for _ in FILES:
        if at + 4 > len(data):
            files.append(None)
            continue
        (size,) = struct.unpack_from("<I", data, at)
        at += 4
        if size == ABSENT:
            files.append(None)
            continue
        files.append(data[at:at + size])
        at += size
    return files


def one_input(data: bytes) -> None:
    for suffix, content in zip(FILES, _unpack(data)):
        path = prefix() + suffix
        if content is None:
            if os.path.exists(path):
                os.unlink(path)
        else:
            with open(path, "wb") as f:
                f.write(content)
    try:
        mod = mx.mod.Module.load(prefix(), 3, load_optimizer_states=True)
    except MXNetError:
        return
    except ValueError as e:
        # MXNet's Module refuses, with this ValueError, a network that lacks the inputs
        # named by data_names / label_names: not a loader's failure.
        if str(e).startswith("You created Module with Module("):
            return
        raise
    if mod.symbol.tojson() != _SEED_JSON:
        return
    try:
        mod.bind([("data", DATA_SHAPE)], [("softmax_label", (DATA_SHAPE[0],))])
        mod.init_optimizer(optimizer="sgd",
                           optimizer_params={"learning_rate": 0.1, "momentum": 0.9})
    except MXNetError:
        return
    batch = mx.io.DataBatch([mx.nd.ones(DATA_SHAPE)], [mx.nd.zeros((DATA_SHAPE[0],))])
    mod.forward_backward(batch)
    mod.update()
    for value in mod.get_params()[0].values():
        value.asnumpy()


if __name__ == "__main__":
    _harness.main(one_input)
