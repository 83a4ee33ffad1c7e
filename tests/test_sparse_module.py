"""Modules with csr data and row_sparse parameters: initialization, lazy updates of the rows a
batch uses, the store's row_sparse_pull and prepare(sparse_row_id_fn), parameters read back,
saved and loaded. The reference is the same model with dense storage, trained with plain SGD
(where the lazy update equals the dense one)."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod.base import MXNetError

SAMPLES, F, K, BATCH = 32, 20, 3, 8


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((SAMPLES, F)).astype(np.float32)
    x[rng.random((SAMPLES, F)) > 0.2] = 0
    x[:, 5] = 0
    y = rng.standard_normal((SAMPLES, 1)).astype(np.float32)
    return x, y


def fm(stype):
    x = mx.sym.Variable("data", stype="csr" if stype else "default")
    v = mx.sym.Variable("v", shape=(F, K), stype=stype or "default",
                        init=mx.init.Normal(0.1))
    w = mx.sym.Variable("w", shape=(F, 1), stype=stype or "default",
                        init=mx.init.Uniform(0.1))
    b = mx.sym.Variable("b", shape=(1,), init=mx.init.Zero())
    linear = mx.sym.broadcast_add(mx.sym.dot(x, w), b)
    v_s = mx.sym._internal._square_sum(data=v, axis=1, keepdims=True)
    bd = mx.sym.dot(mx.sym.square(data=x), v_s)
    w2 = 0.5 * mx.sym.square(data=mx.sym.dot(x, v))
    out = mx.sym.elemwise_add(mx.sym.sum(mx.sym.Concat(linear, w2, dim=1), axis=1,
                                         keepdims=True), 0.5 * mx.sym.negative(bd))
    return mx.sym.LinearRegressionOutput(out, mx.sym.var("label"))


def params(seed=1):
    rng = np.random.default_rng(seed)
    return {"v": rng.standard_normal((F, K)).astype(np.float32) * 0.1,
            "w": rng.standard_normal((F, 1)).astype(np.float32) * 0.1,
            "b": np.zeros((1,), np.float32)}


def train(stype, epochs=2, contexts=None, kvstore="local", optimizer="sgd",
          optimizer_params=None, row_id_fn=None):
    x, y = data()
    xs = mx.nd.array(x).tostype("csr") if stype else mx.nd.array(x)
    it = mx.io.NDArrayIter(xs, {"label": mx.nd.array(y)}, batch_size=BATCH,
                           last_batch_handle="discard")
    mod = mx.mod.Module(fm(stype), data_names=["data"], label_names=["label"],
                        context=contexts or mx.cpu())
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params(arg_params={k: mx.nd.array(v) for k, v in params().items()})
    mod.init_optimizer(kvstore=kvstore, optimizer=optimizer,
                       optimizer_params=optimizer_params or {"learning_rate": 0.1})
    losses = []
    for _ in range(epochs):
        it.reset()
        for batch in it:
            mod.prepare(batch, sparse_row_id_fn=row_id_fn)
            mod.forward(batch, is_train=True)
            pred = mod.get_outputs()[0].asnumpy()
            losses.append(float(np.mean((pred - batch.label[0].asnumpy()) ** 2)))
            mod.backward()
            mod.update()
    return mod, losses


def test_row_sparse_parameters_train_as_the_dense_model():
    sparse, sparse_losses = train("row_sparse")
    dense, dense_losses = train(None)
    np.testing.assert_allclose(sparse_losses, dense_losses, rtol=1e-4)
    args, _ = sparse.get_params()
    dense_args, _ = dense.get_params()
    assert args["v"].stype == "row_sparse" and args["w"].stype == "row_sparse"
    for name in ("v", "w", "b"):
        np.testing.assert_allclose(args[name].asnumpy(), dense_args[name].asnumpy(),
                                   rtol=1e-4, atol=1e-6)
    # Row 5 is in no sample: the lazy updates never touched it.
    np.testing.assert_array_equal(args["v"].asnumpy()[5], params()["v"][5])


def test_lazy_momentum_leaves_unused_rows_alone():
    mod, _ = train("row_sparse", epochs=1, optimizer_params={"learning_rate": 0.1,
                                                              "momentum": 0.9, "wd": 0.01})
    args, _ = mod.get_params()
    np.testing.assert_array_equal(args["w"].asnumpy()[5], params()["w"][5])
    assert not np.allclose(args["w"].asnumpy()[0], params()["w"][0])


def test_init_params_gives_row_sparse_initialized_parameters():
    mod = mx.mod.Module(fm("row_sparse"), data_names=["data"], label_names=["label"])
    mod.bind([("data", (BATCH, F))], [("label", (BATCH, 1))])
    mod.init_params(mx.init.Uniform(0.1))
    v = mod._arg_params["v"]
    assert v.stype == "row_sparse"
    assert np.abs(v.asnumpy()).sum() > 0
    np.testing.assert_array_equal(mod._exec_group.execs[0].arg_dict["v"].asnumpy(),
                                  v.asnumpy())


def test_save_checkpoint_and_load_keep_row_sparse_parameters(tmp_path):
    mod, _ = train("row_sparse", epochs=1)
    prefix = str(tmp_path / "fm")
    mod.save_checkpoint(prefix, 1)
    loaded = mx.mod.Module.load(prefix, 1, data_names=["data"], label_names=["label"])
    loaded.bind([("data", (BATCH, F))], [("label", (BATCH, 1))])
    args, _ = mod.get_params()
    got, _ = loaded.get_params()
    assert got["v"].stype == "row_sparse"
    for name in ("v", "w", "b"):
        np.testing.assert_allclose(got[name].asnumpy(), args[name].asnumpy())
    other = mx.mod.Module(fm("row_sparse"), data_names=["data"], label_names=["label"])
    other.bind([("data", (BATCH, F))], [("label", (BATCH, 1))])
    other.set_params(args, {})
    np.testing.assert_allclose(other._exec_group.execs[0].arg_dict["v"].asnumpy(),
                               args["v"].asnumpy())


def test_two_devices_with_the_store_match_one_device():
    one, one_losses = train("row_sparse")
    two, two_losses = train("row_sparse", contexts=[mx.cpu(0), mx.cpu(1)], kvstore="device")
    np.testing.assert_allclose(two_losses, one_losses, rtol=1e-4)
    np.testing.assert_allclose(two.get_params()[0]["v"].asnumpy(),
                               one.get_params()[0]["v"].asnumpy(), rtol=1e-4, atol=1e-6)


def _row_ids(batch):
    cols = np.unique(batch.data[0].indices.asnumpy())
    rows = mx.nd.array(cols, dtype=np.int64)
    return {"v": rows, "w": rows}


def test_prepare_pulls_the_rows_of_the_batch():
    one, one_losses = train("row_sparse")
    two, two_losses = train("row_sparse", contexts=[mx.cpu(0), mx.cpu(1)], kvstore="device",
                            row_id_fn=_row_ids)
    np.testing.assert_allclose(two_losses, one_losses, rtol=1e-4)
    np.testing.assert_allclose(two.get_params()[0]["v"].asnumpy(),
                               one.get_params()[0]["v"].asnumpy(), rtol=1e-4, atol=1e-6)


def test_prepare_refuses_rows_of_an_unknown_parameter():
    mod, _ = train("row_sparse", epochs=1, contexts=[mx.cpu(0), mx.cpu(1)], kvstore="device")
    batch = mx.io.DataBatch([mx.nd.zeros((BATCH, F)).tostype("csr")], [mx.nd.zeros((BATCH, 1))])
    with pytest.raises(MXNetError, match="'nope'"):
        mod.prepare(batch, sparse_row_id_fn=lambda b: {"nope": mx.nd.array([0])})


def test_kvstore_row_sparse_pull_gives_the_rows_asked_for():
    kv = mx.kv.create("local")
    w = np.arange(12, dtype=np.float32).reshape(6, 2)
    kv.init("w", mx.nd.array(w).tostype("row_sparse"))
    out = mx.nd.sparse.zeros("row_sparse", (6, 2))
    kv.row_sparse_pull("w", out=out, row_ids=mx.nd.array([4, 1, 4], dtype=np.int64))
    np.testing.assert_array_equal(out.indices.asnumpy(), [1, 4])
    expected = np.zeros_like(w)
    expected[[1, 4]] = w[[1, 4]]
    np.testing.assert_array_equal(out.asnumpy(), expected)
    outs = [mx.nd.sparse.zeros("row_sparse", (6, 2)) for _ in range(2)]
    kv.row_sparse_pull("w", out=outs, row_ids=[mx.nd.array([0], dtype=np.int64),
                                               mx.nd.array([5], dtype=np.int64)])
    np.testing.assert_array_equal(outs[0].indices.asnumpy(), [0])
    np.testing.assert_array_equal(outs[1].asnumpy()[5], w[5])
    with pytest.raises(MXNetError, match="row_ids are required"):
        kv.row_sparse_pull("w", out=out)
    kv.init("d", mx.nd.ones((6, 2)))
    with pytest.raises(MXNetError, match="expected row_sparse"):
        kv.row_sparse_pull("d", out=out, row_ids=mx.nd.array([0], dtype=np.int64))
