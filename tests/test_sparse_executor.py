"""Sparse storage in bound graphs: variables' storage types, inferred gradient storage types,
csr data and row_sparse weights through forward and backward, and the dense fallback of
operators without a sparse kernel. Values are checked against numpy and against the same
graph bound densely."""
from __future__ import annotations

import logging

import numpy as np
import pytest

import flowmod as mx
from flowmod.base import MXNetError

N, F, K = 6, 10, 3


def csr_batch(seed=0, density=0.3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, F)).astype(np.float32)
    x[rng.random((N, F)) > density] = 0
    x[:, 7] = 0  # a feature no sample has: its weight row gets no gradient
    return x


def test_variable_stores_its_storage_type_as_mxnet_does():
    assert mx.sym.Variable("x", stype="csr").attr("__storage_type__") == "2"
    assert mx.sym.var("w", stype="row_sparse").attr("__storage_type__") == "1"
    assert mx.sym.var("d", stype="default").attr("__storage_type__") == "0"
    with pytest.raises(MXNetError, match="stype='coo'"):
        mx.sym.Variable("x", stype="coo")


def test_simple_bind_allocates_by_storage_type_and_infers_gradient_storage():
    x = mx.sym.Variable("data", stype="csr")
    w = mx.sym.Variable("w")
    exe = mx.sym.dot(x, w).simple_bind(mx.cpu(), data=(N, F), w=(F, K))
    assert exe.arg_dict["data"].stype == "csr"
    assert exe.arg_dict["w"].stype == "default"
    # dot(csr, w): w's gradient is row_sparse (lhs.T x out_grad), as MXNet infers it.
    assert exe.grad_dict["w"].stype == "row_sparse"
    assert exe.grad_dict["data"].stype == "default"
    exe2 = mx.sym.dot(mx.sym.var("data"), w).simple_bind(
        mx.cpu(), stype_dict={"data": "csr", "w": "row_sparse"}, grad_req={"w": "write"},
        data=(N, F), w=(F, K))
    assert exe2.arg_dict["data"].stype == "csr" and exe2.arg_dict["w"].stype == "row_sparse"
    assert exe2.grad_dict["w"].stype == "row_sparse"
    with pytest.raises(MXNetError, match=r"stype_dict\['nope'\]"):
        mx.sym.dot(x, w).simple_bind(mx.cpu(), stype_dict={"nope": "csr"}, data=(N, F),
                                     w=(F, K))
    with pytest.raises(MXNetError, match=r"stype_dict\['w'\]='dense'"):
        mx.sym.dot(x, w).simple_bind(mx.cpu(), stype_dict={"w": "dense"}, data=(N, F),
                                     w=(F, K))


def test_dense_graph_keeps_dense_arrays():
    exe = mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=4).simple_bind(
        mx.cpu(), data=(2, 5))
    assert exe._sparse is None
    assert all(a.stype == "default" for a in exe.arg_arrays + exe.grad_arrays)


def _linear_regression(w_stype):
    x = mx.sym.Variable("data", stype="csr")
    w = mx.sym.Variable("w", shape=(F, 1), stype=w_stype)
    b = mx.sym.Variable("b", shape=(1,))
    out = mx.sym.broadcast_add(mx.sym.dot(x, w), b)
    return mx.sym.LinearRegressionOutput(out, mx.sym.var("label"))


@pytest.mark.parametrize("w_stype", ["row_sparse", "default"])
def test_csr_times_weight_forward_and_row_sparse_gradient(w_stype):
    xs = csr_batch()
    rng = np.random.default_rng(1)
    w = rng.standard_normal((F, 1)).astype(np.float32)
    label = rng.standard_normal((N, 1)).astype(np.float32)
    exe = _linear_regression(w_stype).simple_bind(mx.cpu(), data=(N, F), w=(F, 1), b=(1,),
                                                  label=(N, 1))
    exe.copy_params_from({"w": mx.nd.array(w), "b": mx.nd.array([0.5])})
    exe.forward(is_train=True, data=mx.nd.array(xs).tostype("csr"), label=mx.nd.array(label))
    pred = xs @ w + 0.5
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), pred, rtol=1e-5, atol=1e-6)
    exe.backward()
    gw = exe.grad_dict["w"]
    assert gw.stype == "row_sparse"
    np.testing.assert_allclose(gw.asnumpy(), xs.T @ (pred - label), rtol=1e-4, atol=1e-5)
    # The stored rows are the features the batch has.
    np.testing.assert_array_equal(gw.indices.asnumpy(), np.flatnonzero(np.abs(xs).sum(0)))
    np.testing.assert_allclose(exe.grad_dict["b"].asnumpy(), [(pred - label).sum()],
                               rtol=1e-4)


def _fm(x_stype, w_stype):
    x = mx.sym.Variable("data", stype=x_stype)
    v = mx.sym.Variable("v", stype=w_stype)
    w1 = mx.sym.Variable("w1", stype=w_stype)
    linear = mx.sym.dot(x, w1)
    v_s = mx.sym._internal._square_sum(data=v, axis=1, keepdims=True)
    bd_sum = mx.sym.dot(mx.sym.square(data=x), v_s)
    w2 = 0.5 * mx.sym.square(data=mx.sym.dot(x, v))
    total = mx.sym.elemwise_add(mx.sym.sum(mx.sym.Concat(linear, w2, dim=1), axis=1,
                                           keepdims=True), 0.5 * mx.sym.negative(bd_sum))
    return mx.sym.LinearRegressionOutput(total, mx.sym.var("label"))


def _bind_fm(x_stype, w_stype, params, xs, label):
    exe = _fm(x_stype, w_stype).simple_bind(mx.cpu(), grad_req={"v": "write", "w1": "write"},
                                            data=(N, F), v=(F, K), w1=(F, 1), label=(N, 1))
    exe.copy_params_from({k: mx.nd.array(v) for k, v in params.items()})
    data = mx.nd.array(xs)
    exe.forward(is_train=True, data=data.tostype(x_stype) if x_stype != "default" else data,
                label=mx.nd.array(label))
    exe.backward()
    return exe


def test_factorization_machine_matches_the_dense_graph():
    xs = csr_batch(2)
    rng = np.random.default_rng(3)
    params = {"v": rng.standard_normal((F, K)).astype(np.float32) * 0.1,
              "w1": rng.standard_normal((F, 1)).astype(np.float32) * 0.1}
    label = rng.standard_normal((N, 1)).astype(np.float32)
    sparse = _bind_fm("csr", "row_sparse", params, xs, label)
    dense = _bind_fm("default", "default", params, xs, label)
    assert sparse._sparse is not None and dense._sparse is None
    np.testing.assert_allclose(sparse.outputs[0].asnumpy(), dense.outputs[0].asnumpy(),
                               rtol=1e-5, atol=1e-6)
    for name in ("v", "w1"):
        g = sparse.grad_dict[name]
        assert g.stype == "row_sparse"
        np.testing.assert_allclose(g.asnumpy(), dense.grad_dict[name].asnumpy(), rtol=1e-4,
                                   atol=1e-6)
        assert 7 not in g.indices.asnumpy()
    # numpy: y = x.w1 + 0.5 * sum((x v)^2 - (x^2)(v^2), 1)
    v, w1 = params["v"], params["w1"]
    y = xs @ w1 + 0.5 * (((xs @ v) ** 2).sum(1, keepdims=True)
                         - (xs ** 2) @ (v ** 2).sum(1, keepdims=True))
    np.testing.assert_allclose(sparse.outputs[0].asnumpy(), y, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("also_output", [False, True])
def test_square_sum_read_by_csr_products_matches_numpy(also_output):
    # _square_sum(v) read by two products with different csr lhs: each computes the sums of
    # only the rows its lhs has columns for; read as an output too, it computes them all.
    x = mx.sym.Variable("data", stype="csr")
    x2 = mx.sym.Variable("data2", stype="csr")
    v = mx.sym.Variable("v", stype="row_sparse")
    v_s = mx.sym._internal._square_sum(data=v, axis=1, keepdims=True)
    out = mx.sym.dot(x, v_s) + 2 * mx.sym.dot(mx.sym.square(x2), v_s)
    heads = [mx.sym.MakeLoss(mx.sym.sum(out * out))]
    if also_output:
        heads.append(mx.sym.BlockGrad(v_s))
    exe = mx.sym.Group(heads).simple_bind(mx.cpu(), grad_req={"v": "write"}, data=(N, F),
                                          data2=(N, F), v=(F, K))
    assert bool(exe._sparse._by_rows) != also_output
    rng = np.random.default_rng(4)
    vv = rng.standard_normal((F, K)).astype(np.float32)
    exe.copy_params_from({"v": mx.nd.array(vv)})
    a, b = csr_batch(5), csr_batch(6, density=0.2)
    for xa, xb in ((a, b), (np.zeros_like(a), b)):  # a batch with no stored element too
        exe.forward(is_train=True, data=mx.nd.array(xa).tostype("csr"),
                    data2=mx.nd.array(xb).tostype("csr"))
        exe.backward()
        s = (vv.astype(np.float64) ** 2).sum(1, keepdims=True)
        o = xa @ s + 2 * (xb ** 2) @ s
        np.testing.assert_allclose(exe.outputs[0].asnumpy(), [(o * o).sum()], rtol=1e-5)
        if also_output:
            np.testing.assert_allclose(exe.outputs[1].asnumpy(), s, rtol=1e-5)
        # d/dv: 2 o . (xa + 2 xb^2) per row, times 2 v
        g = (2 * o).T @ (xa + 2 * xb ** 2)
        np.testing.assert_allclose(exe.grad_dict["v"].asnumpy(), 2 * vv * g.T, rtol=1e-4,
                                   atol=1e-5)


@pytest.mark.parametrize("op", ["Embedding", "SparseEmbedding"])
def test_embedding_row_sparse_weight_gradient(op):
    tokens = np.array([[1, 3, 3], [0, 3, 8]], dtype=np.float32)
    data = mx.sym.var("data")
    if op == "Embedding":
        embed = mx.sym.Embedding(data, input_dim=10, output_dim=4, sparse_grad=True, name="e")
    else:
        weight = mx.sym.var("e_weight", stype="row_sparse")
        embed = mx.sym.contrib.SparseEmbedding(data, weight=weight, input_dim=10, output_dim=4,
                                               name="e")
    out = mx.sym.MakeLoss(mx.sym.sum(embed * mx.sym.var("scale")))
    exe = out.simple_bind(mx.cpu(), data=(2, 3), scale=(2, 3, 4),
                          grad_req={"e_weight": "write"})
    rng = np.random.default_rng(0)
    w = rng.standard_normal((10, 4)).astype(np.float32)
    scale = rng.standard_normal((2, 3, 4)).astype(np.float32)
    exe.copy_params_from({"e_weight": mx.nd.array(w)})
    exe.forward(is_train=True, data=mx.nd.array(tokens), scale=mx.nd.array(scale))
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), [(w[tokens.astype(int)] * scale).sum()],
                               rtol=1e-5)
    exe.backward()
    g = exe.grad_dict["e_weight"]
    assert g.stype == "row_sparse"
    expected = np.zeros_like(w)
    np.add.at(expected, tokens.astype(int).reshape(-1), scale.reshape(-1, 4))
    np.testing.assert_allclose(g.asnumpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(g.indices.asnumpy(), [0, 1, 3, 8])


def test_operator_without_sparse_kernel_falls_back_to_dense(caplog):
    xs = csr_batch(4)
    fc = mx.sym.FullyConnected(mx.sym.Variable("data", stype="csr"), num_hidden=2,
                               no_bias=True, name="fc")
    with caplog.at_level(logging.WARNING, logger="flowmod.ndarray.sparse"):
        exe = fc.simple_bind(mx.cpu(), data=(N, F))
    w = np.random.default_rng(5).standard_normal((2, F)).astype(np.float32)
    exe.copy_params_from({"fc_weight": mx.nd.array(w)})
    exe.forward(is_train=True, data=mx.nd.array(xs).tostype("csr"))
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), xs @ w.T, rtol=1e-5, atol=1e-6)
    exe.backward(mx.nd.ones((N, 2)))
    np.testing.assert_allclose(exe.grad_dict["fc_weight"].asnumpy(),
                               np.ones((2, N)) @ xs, rtol=1e-5, atol=1e-6)


def test_grad_req_add_accumulates_row_sparse_gradients():
    xs1, xs2 = csr_batch(6), csr_batch(7)
    exe = _linear_regression("row_sparse").simple_bind(
        mx.cpu(), grad_req={"w": "add", "b": "null"}, data=(N, F), w=(F, 1), b=(1,),
        label=(N, 1))
    label = np.zeros((N, 1), np.float32)
    for xs in (xs1, xs2):
        exe.forward(is_train=True, data=mx.nd.array(xs).tostype("csr"),
                    label=mx.nd.array(label))
        exe.backward()
    # Zero weights and bias: the residual is 0 and the gradient too; with weights of one:
    w = np.ones((F, 1), np.float32)
    exe.copy_params_from({"w": mx.nd.array(w)})
    exe.grad_dict["w"][:] = 0
    for xs in (xs1, xs2):
        exe.forward(is_train=True, data=mx.nd.array(xs).tostype("csr"),
                    label=mx.nd.array(label))
        exe.backward()
    expected = xs1.T @ (xs1 @ w) + xs2.T @ (xs2 @ w)
    g = exe.grad_dict["w"]
    assert g.stype == "row_sparse"
    np.testing.assert_allclose(g.asnumpy(), expected, rtol=1e-4, atol=1e-5)


def test_reshape_gives_csr_inputs_of_the_new_shape():
    exe = _linear_regression("row_sparse").simple_bind(mx.cpu(), data=(N, F), w=(F, 1),
                                                       b=(1,), label=(N, 1))
    small = exe.reshape(data=(2, F), label=(2, 1))
    assert small.arg_dict["data"].stype == "csr" and small.arg_dict["data"].shape == (2, F)
    assert small.arg_dict["w"] is exe.arg_dict["w"]
    xs = csr_batch(8)[:2]
    small.forward(is_train=False, data=mx.nd.array(xs).tostype("csr"),
                  label=mx.nd.zeros((2, 1)))
    w = exe.arg_dict["w"].asnumpy()
    np.testing.assert_allclose(small.outputs[0].asnumpy(), xs @ w, atol=1e-6)


def test_sparse_embedding_reads_index_columns_split_from_a_dense_input():
    # MXNet's wide_deep slices and splits its category ids out of one dense input before
    # the SparseEmbeddings; the embeddings and their row_sparse gradients are numpy's.
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 6, (4, 2)).astype(np.float32)
    cont = rng.standard_normal((4, 1)).astype(np.float32)
    weights = [rng.standard_normal((6, 3)).astype(np.float32) for _ in range(2)]
    data = mx.sym.Variable("data")
    cols = mx.sym.split(mx.sym.slice(data, begin=(0, 0), end=(None, 2)), num_outputs=2,
                        squeeze_axis=1)
    feats = [mx.sym.slice(data, begin=(0, 2), end=(None, 3))]
    for i, col in enumerate(cols):
        feats.append(mx.sym.contrib.SparseEmbedding(
            data=col, weight=mx.sym.Variable("w%d" % i, stype="row_sparse"),
            input_dim=6, output_dim=3))
    out = mx.sym.MakeLoss(mx.sym.sum(mx.sym.concat(*feats, dim=1) ** 2))
    exe = out.simple_bind(mx.cpu(), data=(4, 3), w0=(6, 3), w1=(6, 3),
                          grad_req={"data": "null", "w0": "write", "w1": "write"})
    exe.arg_dict["data"][:] = np.concatenate([ids, cont], axis=1)
    for i, w in enumerate(weights):
        exe.arg_dict["w%d" % i][:] = mx.nd.array(w).tostype("row_sparse")
    exe.forward(is_train=True)
    expected = (cont ** 2).sum() + sum((w[ids[:, i].astype(int)] ** 2).sum()
                                       for i, w in enumerate(weights))
    np.testing.assert_allclose(exe.outputs[0].asnumpy().reshape(()), expected, rtol=1e-5)
    exe.backward()
    for i, w in enumerate(weights):
        grad = exe.grad_dict["w%d" % i]
        assert grad.stype == "row_sparse"
        want = np.zeros_like(w)
        np.add.at(want, ids[:, i].astype(int), 2 * w[ids[:, i].astype(int)])
        np.testing.assert_allclose(grad.asnumpy(), want, rtol=1e-5)
        np.testing.assert_array_equal(np.sort(grad.indices.asnumpy()),
                                      np.unique(ids[:, i]).astype(np.int64))
