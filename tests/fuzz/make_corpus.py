"""Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/) with flowmod
itself: small valid inputs of each format, from which the fuzzer's mutations start.

    python tests/fuzz/make_corpus.py
"""
import json
import os
import shutil

import numpy as np

import _harness
import flowmod as mx
from flowmod import params_format

import fuzz_load_optimizer_states
import fuzz_module_load


def _write(target: str, seeds: dict) -> None:
    directory = os.path.join(_harness.CORPUS, target)
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    for name, data in seeds.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)


def nd_seeds() -> dict:
    rng = np.random.default_rng(0)
    return {
        "list_float32": params_format.dumps([rng.random((2, 3), dtype=np.float32),
                                             np.arange(4, dtype=np.float32)]),
        "dict_dtypes": params_format.dumps({
            "arg:w": rng.random((3,)).astype(np.float16), "aux:m": np.arange(3, dtype=np.int8),
            "i64": np.array([[1, -2]], dtype=np.int64), "b": np.array([True, False]),
            "u8": np.array([255], dtype=np.uint8), "f64": np.array([np.pi])}),
        "scalar_and_empty": params_format.dumps([np.float32(3.0), np.zeros((0, 2), np.float32)]),
        "empty_list": params_format.dumps([]),
        "sparse_csr_rsp": params_format.dumps({
            "csr": params_format.SparseArray("csr", (3, 4), np.float32([1, 2, 3]),
                                             [np.int64([0, 2, 2, 3]), np.int64([0, 3, 1])]),
            "rsp": params_format.SparseArray("row_sparse", (5, 2),
                                             np.float64([[1, 2], [3, 4]]), [np.int64([1, 4])]),
            "dense": np.arange(3, dtype=np.float32)}),
        "sparse_empty": params_format.dumps([
            params_format.SparseArray("csr", (2, 2), np.zeros(0, np.float32),
                                      [np.zeros(3, np.int64), np.zeros(0, np.int64)]),
            params_format.SparseArray("row_sparse", (3,), np.zeros(0, np.float16),
                                      [np.zeros(0, np.int64)])]),
    }


def json_seeds() -> dict:
    data = mx.sym.Variable("data")
    mlp = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(
        mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=4, name="fc1"),
                          act_type="relu"), num_hidden=2, name="fc2"), name="softmax")
    conv = mx.sym.Convolution(data, kernel=(3, 3), num_filter=2, pad=(1, 1), name="conv")
    bn = mx.sym.BatchNorm(conv, name="bn")
    pool = mx.sym.Pooling(bn, kernel=(2, 2), stride=(2, 2), pool_type="max", name="pool")
    cnn = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Flatten(pool), num_hidden=3),
                               name="out")
    cell = mx.rnn.LSTMCell(num_hidden=3, prefix="lstm_")
    outputs, _ = cell.unroll(2, inputs=data, merge_outputs=True)
    parts = mx.sym.SliceChannel(data, num_outputs=2, axis=1, name="split")
    group = mx.sym.Group([parts[0] + parts[1], mx.sym.sum(data, axis=1), parts[1]])
    old = {"nodes": [{"op": "null", "param": {}, "name": "x", "inputs": [],
                      "backward_source_id": -1},
                     {"op": "FullyConnected", "param": {"num_hidden": "2"}, "name": "fc",
                      "inputs": [[0, 0], [2, 0], [3, 0]], "backward_source_id": -1,
                      "attr": {"ctx_group": "dev1"}}],
           "arg_nodes": [0], "heads": [[1, 0]]}
    old["nodes"][1:1] = [{"op": "null", "param": {}, "name": n, "inputs": []}
                         for n in ("fc_weight", "fc_bias")]
    return {"mlp.json": mlp.tojson().encode(), "cnn.json": cnn.tojson().encode(),
            "lstm.json": outputs.tojson().encode(), "group.json": group.tojson().encode(),
            "mxnet0x.json": json.dumps(old).encode()}


def _checkpoint_files(with_states: bool, with_manifest: bool) -> list:
    prefix = fuzz_module_load.prefix() + "-seed"
    mod = mx.mod.Module(fuzz_module_load.network())
    shape = fuzz_module_load.DATA_SHAPE
    mod.bind([("data", shape)], [("softmax_label", (shape[0],))])
    mod.init_params(mx.init.Xavier())
    mod.init_optimizer(optimizer="sgd",
                       optimizer_params={"learning_rate": 0.1, "momentum": 0.9})
    mod.forward_backward(mx.io.DataBatch([mx.nd.ones(shape)], [mx.nd.zeros((shape[0],))]))
    mod.update()
    mod.save_checkpoint(prefix, 3, save_optimizer_states=with_states)
    files = []
    for suffix in fuzz_module_load.FILES:
        path = prefix + suffix
        present = os.path.exists(path) and (with_manifest or not suffix.endswith("manifest"))
        files.append(open(path, "rb").read() if present else None)
        if os.path.exists(path):
            os.unlink(path)
    return files


def checkpoint_seeds() -> dict:
    return {f"{'states' if s else 'nostates'}_{'manifest' if m else 'mxnet'}":
            fuzz_module_load.pack(_checkpoint_files(s, m))
            for s in (True, False) for m in (True, False)}


def states_seeds() -> dict:
    seeds = {}
    for name, params in fuzz_load_optimizer_states._PARAMS.items():
        mod = fuzz_load_optimizer_states.module(name, **params)
        fuzz_load_optimizer_states.step(mod)
        seeds[f"{name}.states"] = mod._updater.get_states()
        seeds[f"{name}_with_optimizer.states"] = mod._updater.get_states(dump_optimizer=True)
    opt = mx.optimizer.SGD(momentum=0.9, lr_scheduler=mx.lr_scheduler.MultiFactorScheduler(
        step=[2, 5], factor=0.5))
    updater = mx.optimizer.get_updater(opt)
    seeds["scheduler.states"] = updater.get_states(dump_optimizer=True)
    return seeds


if __name__ == "__main__":
    _write("nd_load_frombuffer", nd_seeds())
    _write("sym_load_json", json_seeds())
    _write("module_load", checkpoint_seeds())
    _write("load_optimizer_states", states_seeds())
    for target in sorted(os.listdir(_harness.CORPUS)):
        print(target, len(os.listdir(os.path.join(_harness.CORPUS, target))), "seeds")
