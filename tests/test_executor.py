"""Symbol.bind / simple_bind and the Executor: results against numpy, gradients of composite
graphs against float64 central finite differences, the memory plan, reshape and sharing."""
import json

import numpy as np
import pytest

import flowmod as mx
from flowmod.base import MXNetError

sym = mx.sym


# ---- helpers ---------------------------------------------------------------------------------
def _bind64(net, shapes, rng, grad_req="write", wrt=None):
    """A float64 executor with random arguments; returns it and the list of arguments whose
    gradient is checked."""
    args = net.list_arguments()
    ex = net.simple_bind(mx.cpu(), grad_req=grad_req,
                         type_dict={n: np.float64 for n in args}, **shapes)
    for name in args:
        ex.arg_dict[name][:] = rng.uniform(-1, 1, ex.arg_dict[name].shape)
    return ex, (wrt or args)


def _check_graph_gradient(net, shapes, seed=0, eps=1e-6, rtol=1e-5, atol=1e-7, wrt=None,
                          is_train=True):
    """Backward of sum_k <out_k, w_k> (random w_k) against central differences of the same
    scalar through forward."""
    rng = np.random.default_rng(seed)
    ex, wrt = _bind64(net, shapes, rng, wrt=wrt)
    outs = ex.forward(is_train=is_train)
    weights = [rng.uniform(-1, 1, o.shape) for o in outs]
    ex.backward([mx.nd.array(w, dtype=np.float64) for w in weights])
    grads = {n: ex.grad_dict[n].asnumpy().copy() for n in wrt}

    def objective():
        return sum(float((o.asnumpy() * w).sum())
                   for o, w in zip(ex.forward(is_train=is_train), weights))

    for name in wrt:
        arr = ex.arg_dict[name]
        base = arr.asnumpy().copy()
        numeric = np.zeros_like(base)
        flat = base.reshape(-1)
        for i in range(flat.size):
            for sign in (1, -1):
                pert = flat.copy()
                pert[i] += sign * eps
                arr[:] = pert.reshape(base.shape)
                numeric.reshape(-1)[i] += sign * objective() / (2 * eps)
        arr[:] = base
        np.testing.assert_allclose(grads[name], numeric, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of {name}")
    return ex


def _mlp(hidden=(6, 5), classes=3):
    x = sym.Variable("data")
    for i, h in enumerate(hidden):
        x = sym.FullyConnected(x, num_hidden=h, name=f"fc{i + 1}")
        x = sym.Activation(x, act_type="tanh" if i % 2 else "relu", name=f"act{i + 1}")
    return sym.FullyConnected(x, num_hidden=classes, name="out")


def _lenet(c1=2, c2=3, hidden=5, classes=3):
    data = sym.Variable("data")
    x = sym.Convolution(data, kernel=(3, 3), num_filter=c1, name="conv1")
    x = sym.Activation(x, act_type="tanh", name="tanh1")
    x = sym.Pooling(x, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool1")
    x = sym.Convolution(x, kernel=(2, 2), num_filter=c2, name="conv2")
    x = sym.Activation(x, act_type="tanh", name="tanh2")
    x = sym.Pooling(x, pool_type="avg", kernel=(2, 2), stride=(1, 1), name="pool2")
    x = sym.Flatten(x, name="flatten")
    x = sym.FullyConnected(x, num_hidden=hidden, name="fc1")
    x = sym.Activation(x, act_type="tanh", name="tanh3")
    return sym.FullyConnected(x, num_hidden=classes, name="fc2")


def _rnn(steps=3, hidden=4):
    """An unrolled Elman RNN: the same i2h and h2h weights at every step."""
    data = sym.Variable("data")  # (batch, steps, features)
    xs = sym.SliceChannel(data, num_outputs=steps, axis=1, squeeze_axis=True, name="split")
    i2h_w, i2h_b = sym.Variable("i2h_weight"), sym.Variable("i2h_bias")
    h2h_w, h2h_b = sym.Variable("h2h_weight"), sym.Variable("h2h_bias")
    h = sym.Variable("h0")
    outs = []
    for t in range(steps):
        i2h = sym.FullyConnected(xs[t], weight=i2h_w, bias=i2h_b, num_hidden=hidden,
                                 name=f"t{t}_i2h")
        h2h = sym.FullyConnected(h, weight=h2h_w, bias=h2h_b, num_hidden=hidden,
                                 name=f"t{t}_h2h")
        h = sym.Activation(i2h + h2h, act_type="tanh", name=f"t{t}_h")
        outs.append(h)
    return sym.Group([sym.Concat(*outs, dim=1, name="all_h"), h])


# ---- gradients of composite graphs -----------------------------------------------------------
def test_mlp_gradient_matches_finite_differences():
    _check_graph_gradient(_mlp(), {"data": (4, 7)})


def test_lenet_gradient_matches_finite_differences():
    _check_graph_gradient(_lenet(), {"data": (2, 1, 9, 9)}, rtol=1e-4, atol=1e-6)


def test_unrolled_rnn_with_shared_weights_gradient():
    ex = _check_graph_gradient(_rnn(), {"data": (2, 3, 5), "h0": (2, 4)})
    # Each shared weight gets one gradient, summed over the steps.
    assert set(ex.grad_dict) == {"data", "i2h_weight", "i2h_bias", "h2h_weight", "h2h_bias",
                                 "h0"}


def test_shared_inputs_and_several_heads_gradient():
    x = sym.Variable("x")
    w = sym.Variable("w")
    a = sym.FullyConnected(x, weight=w, no_bias=True, num_hidden=3, name="a")
    b = sym.FullyConnected(x, weight=w, no_bias=True, num_hidden=3, name="b")
    sq = x * x  # one node reading the same entry twice
    prod = sym.elemwise_mul(a, sym.tanh(b))
    net = sym.Group([prod, sq, a, sym.sum(sq * sym.sigmoid(x), axis=1)])
    _check_graph_gradient(net, {"x": (2, 3), "w": (3, 3)})


def test_softmax_output_gradient_is_cross_entropy_gradient():
    net = sym.SoftmaxOutput(_mlp(hidden=(5,)), name="softmax")
    rng = np.random.default_rng(3)
    ex = net.simple_bind(mx.cpu(), data=(4, 6), type_dict={"data": np.float64},
                         grad_req={n: "write" for n in net.list_arguments()
                                   if n != "softmax_label"})
    for n, arr in ex.arg_dict.items():
        arr[:] = rng.uniform(-1, 1, arr.shape)
    labels = np.array([0, 2, 1, 2])
    ex.arg_dict["softmax_label"][:] = labels
    ex.forward(is_train=True)
    ex.backward()
    assert "softmax_label" not in ex.grad_dict

    def cross_entropy():
        p = ex.forward(is_train=True)[0].asnumpy()
        return -np.log(p[np.arange(4), labels]).sum()

    w = ex.arg_dict["fc1_weight"]
    base = w.asnumpy().copy()
    numeric = np.zeros_like(base)
    for i in range(base.size):
        for sign in (1, -1):
            pert = base.copy().reshape(-1)
            pert[i] += sign * 1e-6
            w[:] = pert.reshape(base.shape)
            numeric.reshape(-1)[i] += sign * cross_entropy() / 2e-6
    w[:] = base
    np.testing.assert_allclose(ex.grad_dict["fc1_weight"].asnumpy(), numeric, rtol=1e-5,
                               atol=1e-8)


def test_loss_head_ignores_its_head_gradient_and_other_readers_of_its_output():
    # SoftmaxOutput's gradient is the cross-entropy gradient whatever reaches its output; the
    # executor gives it no head gradient, also when the output feeds another head (whose
    # gradient then writes the buffer first). With out_grad=True the head gradient is used.
    rng = np.random.default_rng(4)
    values = None

    def grads(net, out_grads=None):
        nonlocal values
        ex = net.simple_bind(mx.cpu(), data=(4, 6), type_dict={"data": np.float64},
                             grad_req={n: "write" for n in net.list_arguments() if n != "softmax_label"})
        if values is None:
            values = {n: rng.uniform(-1, 1, a.shape) for n, a in ex.arg_dict.items()}
            values["softmax_label"] = np.array([0, 2, 1, 2])
        for n, a in ex.arg_dict.items():
            a[:] = values[n]
        outs = ex.forward(is_train=True)
        ex.backward(None if out_grads is None else
                    [mx.nd.array(np.full(o.shape, g), dtype=np.float64) for o, g in zip(outs, out_grads)])
        return ex.grad_dict["fc1_weight"].asnumpy().copy()

    sm = sym.SoftmaxOutput(_mlp(hidden=(5,)), name="softmax")
    alone = grads(sm)
    np.testing.assert_array_equal(grads(sm, [3.0]), alone)
    np.testing.assert_array_equal(grads(sym.Group([sm, sym.tanh(sm) * 2.0]), [3.0, -1.5]), alone)
    scaled = sym.SoftmaxOutput(_mlp(hidden=(5,)), out_grad=True, name="softmax")
    np.testing.assert_allclose(grads(scaled, [3.0]), 3.0 * alone, rtol=1e-12)


def _random_graph(rng, n_vars=3, n_ops=12, shape=(2, 3)):
    """A random DAG of same-shape operators over n_vars variables, with 1-3 heads."""
    entries = [sym.Variable(f"v{i}") for i in range(n_vars)]
    unary = [lambda a: sym.tanh(a), lambda a: sym.sigmoid(a), lambda a: a * 0.5 + 1.0,
             lambda a: sym.Activation(a, act_type="softrelu")]
    binary = [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b,
              lambda a, b: sym.broadcast_mul(a, sym.tanh(b))]
    for _ in range(n_ops):
        if rng.random() < 0.5:
            entries.append(unary[rng.integers(len(unary))](entries[rng.integers(len(entries))]))
        else:
            a, b = rng.integers(len(entries), size=2)
            entries.append(binary[rng.integers(len(binary))](entries[a], entries[b]))
    heads = sorted(set(int(i) for i in rng.integers(n_vars, len(entries), size=3)))
    net = sym.Group([entries[i] for i in heads])
    return net, {name: shape for name in net.list_arguments()}


@pytest.mark.parametrize("seed", range(8))
def test_random_graphs_match_op_by_op_execution_and_finite_differences(seed):
    rng = np.random.default_rng(seed)
    net, shapes = _random_graph(rng)
    ex = _check_graph_gradient(net, shapes, seed=seed)
    # The same graph evaluated node by node through mx.nd, in order.
    values = {}
    for node in net._nodes():
        if node.op is None:
            values[(id(node), 0)] = ex.arg_dict[node.name]
            continue
        ins = [values[(id(s), i)] for s, i, _ in node.inputs]
        outs = mx.nd.invoke(node.op, ins, **node.params())
        outs = outs if isinstance(outs, list) else [outs]
        for i, o in enumerate(outs):
            values[(id(node), i)] = o
    ex.forward()
    for (node, i), out in zip(net._outputs, ex.outputs):
        np.testing.assert_allclose(out.asnumpy(), values[(id(node), i)].asnumpy(), rtol=1e-12)


# ---- forward against numpy, grad_req, aux states -------------------------------------------
def test_mlp_forward_matches_numpy_and_grad_req_add_accumulates():
    net = _mlp(hidden=(8,), classes=4)
    ex = net.simple_bind(mx.cpu(), data=(5, 6), grad_req="add")
    rng = np.random.default_rng(1)
    vals = {n: rng.standard_normal(a.shape).astype(np.float32) for n, a in ex.arg_dict.items()}
    for n, v in vals.items():
        ex.arg_dict[n][:] = v
    out = ex.forward()[0].asnumpy()
    h = np.maximum(vals["data"] @ vals["fc1_weight"].T + vals["fc1_bias"], 0)
    np.testing.assert_allclose(out, h @ vals["out_weight"].T + vals["out_bias"], rtol=1e-5,
                               atol=1e-5)
    head = mx.nd.ones((5, 4))
    ex.forward(is_train=True)
    ex.backward(head)
    once = ex.grad_dict["fc1_weight"].asnumpy().copy()
    ex.backward(head)
    np.testing.assert_allclose(ex.grad_dict["fc1_weight"].asnumpy(), 2 * once, rtol=1e-6)
    np.testing.assert_allclose(ex.grad_dict["out_bias"].asnumpy(), [10.0] * 4)


def test_grad_req_null_leaves_arrays_alone_and_write_overwrites():
    net = _mlp(hidden=(4,), classes=2)
    grads = {n: mx.nd.full(s, 7.0) for n, s in
             zip(net.list_arguments(), net.infer_shape(data=(3, 5))[0])}
    args = {n: mx.nd.ones(g.shape) for n, g in grads.items()}
    ex = net.bind(mx.cpu(), args, args_grad=grads,
                  grad_req={"fc1_weight": "write", "out_bias": "write"})
    ex.forward(is_train=True)
    ex.backward(mx.nd.ones((3, 2)))
    np.testing.assert_allclose(grads["out_bias"].asnumpy(), [3.0, 3.0])
    np.testing.assert_allclose(grads["fc1_bias"].asnumpy(), 7.0)  # null: untouched
    np.testing.assert_allclose(grads["data"].asnumpy(), 7.0)
    assert ex.grad_arrays[0] is None and ex.grad_dict.keys() == {"fc1_weight", "out_bias"}


def test_batchnorm_aux_states_update_in_training_forward():
    data = sym.Variable("data")
    net = sym.BatchNorm(data, momentum=0.5, fix_gamma=False, name="bn")
    assert net.list_auxiliary_states() == ["bn_moving_mean", "bn_moving_var"]
    ex = net.simple_bind(mx.cpu(), data=(8, 3))
    x = np.random.default_rng(2).standard_normal((8, 3)).astype(np.float32)
    ex.arg_dict["bn_gamma"][:] = 1
    ex.aux_dict["bn_moving_var"][:] = 1
    out = ex.forward(is_train=True, data=x)[0].asnumpy()
    np.testing.assert_allclose(out, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3), rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(ex.aux_dict["bn_moving_mean"].asnumpy(), 0.5 * x.mean(0),
                               rtol=1e-5, atol=1e-6)
    # Inference uses the moving statistics.
    mean, var = ex.aux_dict["bn_moving_mean"].asnumpy(), ex.aux_dict["bn_moving_var"].asnumpy()
    out = ex.forward(is_train=False, data=x)[0].asnumpy()
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-4)


def test_dropout_in_graph_is_identity_at_inference_and_masks_in_training():
    net = sym.Dropout(sym.Variable("data"), p=0.5)
    ex = net.simple_bind(mx.cpu(), data=(100, 10))
    x = np.ones((100, 10), np.float32)
    np.testing.assert_array_equal(ex.forward(data=x)[0].asnumpy(), x)
    out = ex.forward(is_train=True, data=x)[0].asnumpy()
    assert set(np.unique(out)) <= {0.0, 2.0} and 0.3 < (out == 0).mean() < 0.7
    ex.backward(mx.nd.ones((100, 10)))
    np.testing.assert_array_equal(ex.grad_dict["data"].asnumpy(), out)


def test_optimizer_update_after_backward_orders_against_next_forward():
    """Three SGD steps pushed with no host wait between them equal numpy's."""
    net = sym.LinearRegressionOutput(sym.FullyConnected(sym.Variable("data"), num_hidden=1,
                                                        name="fc"), name="lro")
    ex = net.simple_bind(mx.cpu(), data=(6, 3), grad_req={"fc_weight": "write",
                                                          "fc_bias": "write"})
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 3)).astype(np.float32)
    y = rng.standard_normal(6).astype(np.float32)  # a (N,) label for (N, 1) outputs
    w = rng.standard_normal((1, 3)).astype(np.float32)
    ex.arg_dict["data"][:] = x
    ex.arg_dict["lro_label"][:] = y
    ex.arg_dict["fc_weight"][:] = w
    b = np.zeros(1, np.float32)
    for _ in range(3):
        ex.forward(is_train=True)
        ex.backward()
        for name in ("fc_weight", "fc_bias"):
            mx.nd.sgd_update(ex.arg_dict[name], ex.grad_dict[name], lr=0.1,
                             out=ex.arg_dict[name])
        g = (x @ w.T + b) - y[:, None]
        w, b = w - 0.1 * g.T @ x, b - 0.1 * g.sum(0)
    np.testing.assert_allclose(ex.arg_dict["fc_weight"].asnumpy(), w, rtol=1e-5)
    np.testing.assert_allclose(ex.arg_dict["fc_bias"].asnumpy(), b, rtol=1e-5, atol=1e-6)


# ---- the memory plan ---------------------------------------------------------------------------
def test_memory_plan_uses_fewer_buffers_than_nodes():
    for name, net, shapes in (("mlp", _mlp(hidden=(64, 32, 16)), {"data": (32, 20)}),
                              ("lenet", _lenet(8, 16, 32, 10), {"data": (16, 1, 28, 28)})):
        infer = net.simple_bind(mx.cpu(), grad_req="null", **shapes).plan_stats
        train = net.simple_bind(mx.cpu(), **shapes).plan_stats
        print(f"\n{name} inference: {infer['op_nodes']} nodes, {infer['entries']} entries in "
              f"{infer['blocks']} blocks ({infer['inplace']} in place), "
              f"{infer['planned_bytes']} bytes vs {infer['naive_bytes']} naive")
        print(f"{name} training: {train['op_nodes']} + {train['backward_nodes']} nodes, "
              f"{train['entries']} entries in {train['blocks']} blocks, "
              f"{train['planned_bytes']} bytes vs {train['naive_bytes']} naive")
        assert infer["blocks"] < infer["op_nodes"]
        assert infer["inplace"] > 0
        assert train["blocks"] < train["op_nodes"] + train["backward_nodes"]
        assert train["planned_bytes"] < train["naive_bytes"]


def test_backward_of_unused_branch_is_pruned():
    x = sym.Variable("x")
    used = sym.FullyConnected(x, num_hidden=2, name="used")
    unused = sym.FullyConnected(sym.Variable("y"), num_hidden=2, name="unused")
    net = sym.Group([used, sym.tanh(unused)])
    ex = net.simple_bind(mx.cpu(), x=(3, 4), y=(3, 4),
                         grad_req={n: "write" for n in ("x", "used_weight", "used_bias")})
    stats = ex.plan_stats
    assert stats["op_nodes"] == 3 and stats["backward_nodes"] == 1
    ex.forward(is_train=True)
    ex.backward([mx.nd.ones((3, 2)), mx.nd.ones((3, 2))])
    np.testing.assert_allclose(ex.grad_dict["used_bias"].asnumpy(), [3.0, 3.0])


# ---- reshape, sharing, monitor, params ---------------------------------------------------------
def test_reshape_shares_parameters_and_memory():
    net = sym.SoftmaxOutput(_mlp(hidden=(16,), classes=4), name="softmax")
    ex = net.simple_bind(mx.cpu(), data=(32, 10))
    for n, arr in ex.arg_dict.items():
        if n.endswith("weight"):
            arr[:] = np.random.default_rng(0).uniform(-0.5, 0.5, arr.shape)
    small = ex.reshape(data=(8, 10), softmax_label=(8,))
    assert small.arg_dict["fc1_weight"] is ex.arg_dict["fc1_weight"]
    assert small.grad_dict["fc1_weight"] is ex.grad_dict["fc1_weight"]
    assert small.arg_dict["data"]._h.shares_storage_with(ex.arg_dict["data"]._h)
    assert small.plan_stats["shared_blocks"] > 0
    x = np.random.default_rng(1).standard_normal((8, 10)).astype(np.float32)
    ex.arg_dict["data"][:] = 0
    ex.arg_dict["data"][:8] = x
    full = ex.forward()[0].asnumpy()[:8]
    np.testing.assert_allclose(small.forward(data=x)[0].asnumpy(), full, rtol=1e-6)
    with pytest.raises(MXNetError, match="allow_up_sizing"):
        ex.reshape(data=(64, 10), softmax_label=(64,))
    with pytest.raises(MXNetError, match="softmax_label.*partial_shaping"):
        ex.reshape(data=(8, 10))
    big = ex.reshape(allow_up_sizing=True, data=(64, 10), softmax_label=(64,))
    assert big.outputs[0].shape == (64, 4)


def test_simple_bind_shares_params_with_shared_exec():
    net = _mlp(hidden=(8,), classes=3)
    base = net.simple_bind(mx.cpu(), data=(16, 5))
    params = [n for n in net.list_arguments() if n != "data"]
    other = net.simple_bind(mx.cpu(), data=(4, 5), shared_arg_names=params, shared_exec=base)
    for n in params:
        assert other.arg_dict[n] is base.arg_dict[n]
    base.arg_dict["out_bias"][:] = 3.0
    np.testing.assert_allclose(other.forward(data=np.zeros((4, 5)))[0].asnumpy(), 3.0)
    # The smaller executor's intermediate arrays live in the larger one's storage.
    # Only its output (4 x 3 float32) has storage of its own.
    assert other.plan_stats["shared_blocks"] > 0 and other.plan_stats["planned_bytes"] == 48


def test_monitor_sees_every_intermediate_output():
    net = _mlp(hidden=(4,), classes=2)
    ex = net.simple_bind(mx.cpu(), data=(3, 5), grad_req="null")
    rng = np.random.default_rng(5)
    vals = {n: rng.standard_normal(a.shape).astype(np.float32) for n, a in ex.arg_dict.items()}
    ex.copy_params_from(vals)
    seen = {}
    ex.set_monitor_callback(lambda name, arr: seen.__setitem__(name, arr.asnumpy()))
    ex.forward()
    assert list(seen) == ["fc1_output", "act1_output", "out_output"]
    fc1 = vals["data"] @ vals["fc1_weight"].T + vals["fc1_bias"]
    np.testing.assert_allclose(seen["fc1_output"], fc1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(seen["act1_output"], np.maximum(fc1, 0), rtol=1e-5, atol=1e-6)
    seen.clear()
    ex.set_monitor_callback(lambda name, arr: seen.__setitem__(name, arr), monitor_all=True)
    ex.forward()
    assert "fc1_weight" in seen and "out_data" in seen
    ex.set_monitor_callback(None)
    seen.clear()
    ex.forward()
    assert not seen


def test_copy_params_from_and_dicts():
    net = _mlp(hidden=(4,), classes=2)
    ex = net.simple_bind(mx.cpu(), data=(3, 5))
    assert list(ex.arg_dict) == net.list_arguments()
    assert list(ex.output_dict) == ["out_output"]
    ex.copy_params_from({"fc1_bias": mx.nd.ones((4,))})
    np.testing.assert_allclose(ex.arg_dict["fc1_bias"].asnumpy(), 1.0)
    with pytest.raises(ValueError, match="nope"):  # MXNet's type for an extra parameter
        ex.copy_params_from({"nope": mx.nd.ones((1,))})
    ex.copy_params_from({"nope": mx.nd.ones((1,))}, allow_extra_params=True)
    with pytest.raises(MXNetError, match=r"fc1_bias.*\(5,\).*\(4,\)"):
        ex.copy_params_from({"fc1_bias": mx.nd.ones((5,))})


# ---- errors ------------------------------------------------------------------------------------
def test_bind_errors_name_the_argument():
    net = _mlp(hidden=(4,), classes=2)
    shapes = dict(zip(net.list_arguments(), net.infer_shape(data=(3, 5))[0]))
    args = {n: mx.nd.zeros(s) for n, s in shapes.items()}
    with pytest.raises(MXNetError, match="fc1_bias.*missing"):
        net.bind(mx.cpu(), {k: v for k, v in args.items() if k != "fc1_bias"})
    with pytest.raises(MXNetError, match="grad_req.*'sometimes'"):
        net.bind(mx.cpu(), args, args_grad=args, grad_req="sometimes")
    bad = dict(args, fc1_weight=mx.nd.zeros((4, 6)))
    with pytest.raises(MXNetError, match="fc1.*FullyConnected.*weight"):
        net.bind(mx.cpu(), bad)
    with pytest.raises(MXNetError, match="cannot infer the shapes of data"):
        net.simple_bind(mx.cpu())
    ex = net.bind(mx.cpu(), args)
    with pytest.raises(MXNetError, match=r"data has shape \(2, 5\), expected \(3, 5\)"):
        ex.forward(data=np.zeros((2, 5)))
    with pytest.raises(MXNetError, match="nope"):
        ex.forward(nope=np.zeros((2, 5)))
    ex = net.simple_bind(mx.cpu(), data=(3, 5))
    ex.forward(is_train=True)
    with pytest.raises(MXNetError, match=r"out_grads\[0\] has shape \(3, 3\)"):
        ex.backward(mx.nd.ones((3, 3)))


def test_operator_error_reaches_the_reader_and_executor_keeps_working():
    net = sym.take(sym.Variable("a"), sym.Variable("i"), mode="raise", name="lookup") * 2.0
    ex = net.simple_bind(mx.cpu(), a=(4, 2), i=(3,), grad_req="null")
    ex.arg_dict["a"][:] = np.arange(8).reshape(4, 2)
    ex.forward(i=np.array([0, 9, 1]))
    with pytest.raises(MXNetError, match="take.*index 9"):
        ex.outputs[0].asnumpy()
    ex.forward(i=np.array([3, 0, 1]))
    np.testing.assert_allclose(ex.outputs[0].asnumpy(), 2 * np.array([[6, 7], [0, 1], [2, 3]]))


# ---- JSON fixtures in MXNet 1.x's format ----------------------------------------------------
_MLP_JSON_1X = {
    "nodes": [
        {"op": "null", "name": "data", "inputs": []},
        {"op": "null", "name": "fc1_weight", "inputs": []},
        {"op": "null", "name": "fc1_bias", "inputs": []},
        {"op": "FullyConnected", "name": "fc1", "attrs": {"num_hidden": "16"},
         "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]},
        {"op": "Activation", "name": "relu1", "attrs": {"act_type": "relu"},
         "inputs": [[3, 0, 0]]},
        {"op": "null", "name": "fc2_weight", "inputs": []},
        {"op": "null", "name": "fc2_bias", "inputs": []},
        {"op": "FullyConnected", "name": "fc2", "attrs": {"num_hidden": "4"},
         "inputs": [[4, 0, 0], [5, 0, 0], [6, 0, 0]]},
        {"op": "null", "name": "softmax_label", "inputs": []},
        {"op": "SoftmaxOutput", "name": "softmax", "inputs": [[7, 0, 0], [8, 0, 0]]},
    ],
    "arg_nodes": [0, 1, 2, 5, 6, 8],
    "node_row_ptr": list(range(11)),
    "heads": [[9, 0, 0]],
    "attrs": {"mxnet_version": ["int", 10901]},
}


def _old_format(doc):
    """The same graph as MXNet 0.x wrote it: "param" instead of "attrs", two-element inputs,
    no version."""
    old = json.loads(json.dumps(doc))
    for node in old["nodes"]:
        if "attrs" in node:
            node["param"] = node.pop("attrs")
        node["inputs"] = [e[:2] for e in node["inputs"]]
    del old["attrs"]
    return old


@pytest.mark.parametrize("doc", [_MLP_JSON_1X, _old_format(_MLP_JSON_1X)],
                         ids=["1.x", "0.x-param"])
def test_mxnet_json_fixture_binds_and_runs(doc):
    net = sym.load_json(json.dumps(doc))
    assert net.list_arguments() == ["data", "fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias",
                                    "softmax_label"]
    ex = net.simple_bind(mx.cpu(), data=(5, 8), grad_req="null")
    assert ex.arg_dict["fc1_weight"].shape == (16, 8)
    assert ex.outputs[0].shape == (5, 4)
    rng = np.random.default_rng(6)
    vals = {n: rng.standard_normal(a.shape).astype(np.float32) for n, a in ex.arg_dict.items()
            if n != "softmax_label"}
    ex.copy_params_from(vals)
    p = ex.forward()[0].asnumpy()
    h = np.maximum(vals["data"] @ vals["fc1_weight"].T + vals["fc1_bias"], 0)
    logits = h @ vals["fc2_weight"].T + vals["fc2_bias"]
    e = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(p, e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)
    # Round trip through this library's JSON keeps the executor's behaviour.
    again = sym.load_json(net.tojson()).simple_bind(mx.cpu(), data=(5, 8), grad_req="null")
    again.copy_params_from(vals)
    np.testing.assert_allclose(again.forward()[0].asnumpy(), p, rtol=1e-6)
