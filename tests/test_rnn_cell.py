"""mx.rnn cells: unrolled graphs against numpy step functions, gradients against float64
finite differences, MXNet's parameter and node names, weight packing, and bad arguments."""
import os

import numpy as np
import pytest

import flowmod as mx
from flowmod.base import MXNetError

sym = mx.sym
BATCH, STEPS, FEATURES, HIDDEN = 3, 4, 5, 6


# ---- numpy references ------------------------------------------------------------------------
def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _rnn_step(p, prefix, x, states, act=np.tanh):
    h = act(x @ p[f"{prefix}i2h_weight"].T + p[f"{prefix}i2h_bias"]
            + states[0] @ p[f"{prefix}h2h_weight"].T + p[f"{prefix}h2h_bias"])
    return h, [h]


def _lstm_step(p, prefix, x, states):
    h, c = states
    gates = (x @ p[f"{prefix}i2h_weight"].T + p[f"{prefix}i2h_bias"]
             + h @ p[f"{prefix}h2h_weight"].T + p[f"{prefix}h2h_bias"])
    i, f, g, o = np.split(gates, 4, axis=1)
    c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    h = _sigmoid(o) * np.tanh(c)
    return h, [h, c]


def _gru_step(p, prefix, x, states):
    h = states[0]
    ir, iz, in_ = np.split(x @ p[f"{prefix}i2h_weight"].T + p[f"{prefix}i2h_bias"], 3, axis=1)
    hr, hz, hn = np.split(h @ p[f"{prefix}h2h_weight"].T + p[f"{prefix}h2h_bias"], 3, axis=1)
    r, z = _sigmoid(ir + hr), _sigmoid(iz + hz)
    n = np.tanh(in_ + r * hn)
    h = (1 - z) * n + z * h
    return h, [h]


def _numpy_unroll(step, p, prefix, xs, states):
    outs = []
    for x in xs:
        out, states = step(p, prefix, x, states)
        outs.append(out)
    return outs, states


# ---- helpers ---------------------------------------------------------------------------------
def _bind(net, shapes, rng, dtype=np.float32, is_train=False, values=None):
    """Binds ``net``, fills every argument with uniform values (or ``values``), runs forward;
    returns the executor, the values and the outputs."""
    args = net.list_arguments()
    ex = net.simple_bind(mx.cpu(), type_dict={n: dtype for n in args}, **shapes)
    values = dict(values or {})
    for name in args:
        if name not in values:
            values[name] = rng.uniform(-1, 1, ex.arg_dict[name].shape)
        ex.arg_dict[name][:] = values[name]
    outs = [o.asnumpy() for o in ex.forward(is_train=is_train)]
    return ex, values, outs


def _state_vars(cell):
    return cell.begin_state(func=sym.Variable)


def _state_shapes(cell, batch=BATCH):
    return {f"{cell._prefix}begin_state_{i}": (batch,) + tuple(info["shape"][1:])
            for i, info in enumerate(cell.state_info)}


def _check_cell_against_numpy(cell, step, prefix, layout="NTC"):
    rng = np.random.default_rng(0)
    data = sym.Variable("data")
    outputs, states = cell.unroll(STEPS, data, begin_state=_state_vars(cell), layout=layout,
                                  merge_outputs=True)
    net = sym.Group([outputs] + list(states))
    shape = (BATCH, STEPS, FEATURES) if layout == "NTC" else (STEPS, BATCH, FEATURES)
    _, v, outs = _bind(net, {"data": shape, **_state_shapes(cell)}, rng, dtype=np.float64)
    xs = [v["data"][:, t] if layout == "NTC" else v["data"][t] for t in range(STEPS)]
    begin = [v[f"{prefix}begin_state_{i}"] for i in range(len(cell.state_info))]
    ref_outs, ref_states = _numpy_unroll(step, v, prefix, xs, begin)
    axis = 1 if layout == "NTC" else 0
    np.testing.assert_allclose(outs[0], np.stack(ref_outs, axis=axis), rtol=1e-10, atol=1e-12)
    for got, want in zip(outs[1:], ref_states):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


# ---- each cell against its numpy step ----------------------------------------------------------
def test_rnn_cell_unroll_matches_numpy_tanh_steps():
    _check_cell_against_numpy(mx.rnn.RNNCell(HIDDEN, prefix="rnn_"), _rnn_step, "rnn_")


def test_rnn_cell_with_relu_activation_matches_numpy():
    relu = lambda x: np.maximum(x, 0)  # noqa: E731
    _check_cell_against_numpy(mx.rnn.RNNCell(HIDDEN, activation="relu", prefix="r_"),
                              lambda p, pre, x, s: _rnn_step(p, pre, x, s, relu), "r_")


def test_lstm_cell_unroll_matches_numpy_steps():
    _check_cell_against_numpy(mx.rnn.LSTMCell(HIDDEN, prefix="lstm_"), _lstm_step, "lstm_")


def test_lstm_cell_unroll_in_tnc_layout_matches_numpy():
    _check_cell_against_numpy(mx.rnn.LSTMCell(HIDDEN, prefix="lstm_"), _lstm_step, "lstm_",
                              layout="TNC")


def test_gru_cell_unroll_matches_numpy_steps():
    _check_cell_against_numpy(mx.rnn.GRUCell(HIDDEN, prefix="gru_"), _gru_step, "gru_")


def test_unroll_of_a_list_of_steps_returns_a_list_unless_merged():
    cell = mx.rnn.RNNCell(HIDDEN, prefix="rnn_")
    xs = [sym.Variable(f"x{t}") for t in range(STEPS)]
    outputs, states = cell.unroll(STEPS, xs, begin_state=_state_vars(cell))
    assert isinstance(outputs, list) and len(outputs) == STEPS
    rng = np.random.default_rng(1)
    shapes = {f"x{t}": (BATCH, FEATURES) for t in range(STEPS)}
    _, v, outs = _bind(sym.Group(outputs), {**shapes, **_state_shapes(cell)}, rng,
                       dtype=np.float64)
    ref, _ = _numpy_unroll(_rnn_step, v, "rnn_", [v[f"x{t}"] for t in range(STEPS)],
                           [v["rnn_begin_state_0"]])
    for got, want in zip(outs, ref):
        np.testing.assert_allclose(got, want, rtol=1e-10)


def test_float32_lstm_matches_numpy_to_float32_precision():
    cell = mx.rnn.LSTMCell(HIDDEN, prefix="lstm_")
    outputs, _ = cell.unroll(STEPS, sym.Variable("data"), begin_state=_state_vars(cell),
                             merge_outputs=True)
    rng = np.random.default_rng(2)
    _, v, outs = _bind(outputs, {"data": (BATCH, STEPS, FEATURES), **_state_shapes(cell)}, rng)
    v = {k: np.asarray(a, dtype=np.float32).astype(np.float64) for k, a in v.items()}
    ref, _ = _numpy_unroll(_lstm_step, v, "lstm_", [v["data"][:, t] for t in range(STEPS)],
                           [v["lstm_begin_state_0"], v["lstm_begin_state_1"]])
    np.testing.assert_allclose(outs[0], np.stack(ref, axis=1), rtol=1e-5, atol=1e-6)


# ---- gradients ----------------------------------------------------------------------------------
def test_unrolled_lstm_gradients_match_float64_finite_differences():
    cell = mx.rnn.LSTMCell(3, prefix="lstm_")
    outputs, states = cell.unroll(3, sym.Variable("data"), begin_state=_state_vars(cell),
                                  merge_outputs=True)
    net = sym.Group([outputs, states[1]])
    rng = np.random.default_rng(3)
    shapes = {"data": (2, 3, 4), **_state_shapes(cell, batch=2)}
    args = net.list_arguments()
    ex = net.simple_bind(mx.cpu(), type_dict={n: np.float64 for n in args}, **shapes)
    for name in args:
        ex.arg_dict[name][:] = rng.uniform(-1, 1, ex.arg_dict[name].shape)
    heads = [rng.uniform(-1, 1, o.shape) for o in ex.forward(is_train=True)]
    ex.backward([mx.nd.array(h, dtype=np.float64) for h in heads])
    grads = {n: ex.grad_dict[n].asnumpy().copy() for n in args}

    def objective():
        return sum(float((o.asnumpy() * h).sum()) for o, h in zip(ex.forward(), heads))

    eps = 1e-6
    for name in args:
        arr = ex.arg_dict[name]
        base = arr.asnumpy().copy()
        numeric = np.zeros(base.size)
        for i in range(base.size):
            for sign in (1, -1):
                pert = base.reshape(-1).copy()
                pert[i] += sign * eps
                arr[:] = pert.reshape(base.shape)
                numeric[i] += sign * objective() / (2 * eps)
        arr[:] = base
        np.testing.assert_allclose(grads[name], numeric.reshape(base.shape), rtol=1e-5,
                                   atol=1e-8, err_msg=f"gradient of {name}")


# ---- MXNet's names ------------------------------------------------------------------------------
def test_lstm_parameter_and_output_names_match_mxnet():
    cell = mx.rnn.LSTMCell(HIDDEN, prefix="lstm_")
    outputs, states = cell.unroll(2, sym.Variable("data"), begin_state=_state_vars(cell))
    net = sym.Group(outputs + states)
    assert net.list_arguments() == [
        "data", "lstm_i2h_weight", "lstm_i2h_bias", "lstm_begin_state_0", "lstm_h2h_weight",
        "lstm_h2h_bias", "lstm_begin_state_1"]
    assert net.list_outputs() == ["lstm_t0_out_output", "lstm_t1_out_output",
                                  "lstm_t1_out_output", "lstm_t1_state_output"]
    internals = net.get_internals().list_outputs()
    for name in ("lstm_t0_i2h_output", "lstm_t0_h2h_output", "lstm_t0_slice_output0",
                 "lstm_t0_i_output", "lstm_t0_f_output", "lstm_t0_c_output",
                 "lstm_t0_o_output", "lstm_t0_state_output", "lstm_t1_i2h_output"):
        assert name in internals


def test_gru_node_names_keep_mxnets_double_underscore():
    cell = mx.rnn.GRUCell(HIDDEN, prefix="gru_")
    outputs, _ = cell.unroll(1, sym.Variable("data"), begin_state=_state_vars(cell))
    internals = outputs[0].get_internals().list_outputs()
    for name in ("gru_t0__i2h_output", "gru_t0__h2h_output", "gru_t0__i2h_slice_output0",
                 "gru_t0__r_act_output", "gru_t0__z_act_output", "gru_t0__h_act_output"):
        assert name in internals
    assert outputs[0].list_outputs() == ["gru_t0_out_output"]
    assert sorted(cell.params._params) == ["gru_h2h_bias", "gru_h2h_weight", "gru_i2h_bias",
                                           "gru_i2h_weight"]


def test_rnn_cell_output_is_named_out():
    cell = mx.rnn.RNNCell(HIDDEN, prefix="rnn_")
    outputs, _ = cell.unroll(2, sym.Variable("data"), begin_state=_state_vars(cell))
    assert [o.list_outputs()[0] for o in outputs] == ["rnn_t0_out_output", "rnn_t1_out_output"]


def test_begin_state_variables_carry_mxnets_names_and_layout():
    cell = mx.rnn.LSTMCell(HIDDEN, prefix="enc_")
    states = cell.begin_state(func=sym.Variable)
    assert [s.name for s in states] == ["enc_begin_state_0", "enc_begin_state_1"]
    assert states[0].attr("__layout__") == "NC"
    assert cell.state_info == [{"shape": (0, HIDDEN), "__layout__": "NC"}] * 2
    assert cell.state_shape == [(0, HIDDEN), (0, HIDDEN)]


def test_lstm_i2h_bias_initializer_sets_the_forget_gate_bias():
    cell = mx.rnn.LSTMCell(2, prefix="lstm_", forget_bias=2.5)
    var = cell.params.get("i2h_bias")
    arr = mx.nd.zeros((8,))
    init = mx.init.Uniform()
    init(mx.init.InitDesc("lstm_i2h_bias", attrs={"__init__": var.attr("__init__")}), arr)
    np.testing.assert_array_equal(arr.asnumpy(), [0, 0, 2.5, 2.5, 0, 0, 0, 0])


def test_shared_params_give_two_cells_the_same_weights():
    params = mx.rnn.RNNParams("shared_")
    a = mx.rnn.RNNCell(HIDDEN, prefix="a_", params=params)
    b = mx.rnn.RNNCell(HIDDEN, prefix="b_", params=params)
    x, h = sym.Variable("x"), sym.Variable("h")
    out_a, _ = a(x, [h])
    out_b, _ = b(out_a, [h])
    assert out_b.list_arguments() == ["x", "shared_i2h_weight", "shared_i2h_bias", "h",
                                      "shared_h2h_weight", "shared_h2h_bias"]
    assert out_b.list_outputs() == ["b_t0_out_output"]


def test_reset_restarts_step_names():
    cell = mx.rnn.RNNCell(HIDDEN, prefix="rnn_")
    cell(sym.Variable("x"), [sym.Variable("h")])
    cell.reset()
    out, _ = cell(sym.Variable("x"), [sym.Variable("h")])
    assert out.list_outputs() == ["rnn_t0_out_output"]


# ---- MXNet 1.9.1's checkpoint (tests/data/make_mxnet_rnn_checkpoint.py wrote it) -------------
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def _mxnet_stack_net():
    # A fresh name manager, as in the script that made the checkpoint: automatic names
    # (split0, concat0) count from zero.
    with mx.name.NameManager():
        stack = mx.rnn.SequentialRNNCell()
        stack.add(mx.rnn.LSTMCell(4, prefix="lstm_"))
        stack.add(mx.rnn.GRUCell(3, prefix="gru_"))
        outputs, states = stack.unroll(3, sym.Variable("data"),
                                       begin_state=stack.begin_state(func=sym.Variable),
                                       merge_outputs=True)
        return sym.Group([outputs] + states)


def _run_with(net, arrays):
    shapes = {k: v.shape for k, v in arrays.items() if k in net.list_arguments()}
    ex = net.simple_bind(mx.cpu(), grad_req="null", **shapes)
    for name in net.list_arguments():
        ex.arg_dict[name][:] = arrays[name]
    return [o.asnumpy() for o in ex.forward()]


def test_cells_build_the_graph_of_an_mxnet_checkpoint_and_reproduce_its_outputs():
    loaded, arg_params, aux_params = mx.model.load_checkpoint(
        os.path.join(DATA, "mxnet_lstm_gru"), 0)
    record = mx.nd.load(os.path.join(DATA, "mxnet_lstm_gru_io.nd"))
    net = _mxnet_stack_net()
    assert net.list_arguments() == loaded.list_arguments()
    assert net.list_outputs() == loaded.list_outputs()
    assert sorted(arg_params) == sorted(n for n in net.list_arguments()
                                        if "begin_state" not in n and n != "data")
    assert aux_params == {}
    arrays = {**arg_params, **{k: v for k, v in record.items() if not k.startswith("output")}}
    for i, got in enumerate(_run_with(net, arrays)):
        np.testing.assert_allclose(got, record[f"output{i}"].asnumpy(), rtol=1e-5, atol=1e-6)


def test_an_mxnet_checkpoint_of_cells_runs_as_saved():
    loaded, arg_params, _ = mx.model.load_checkpoint(os.path.join(DATA, "mxnet_lstm_gru"), 0)
    record = mx.nd.load(os.path.join(DATA, "mxnet_lstm_gru_io.nd"))
    assert loaded.get_internals().list_outputs() == \
        _mxnet_stack_net().get_internals().list_outputs()
    arrays = {**arg_params, **{k: v for k, v in record.items() if not k.startswith("output")}}
    for i, got in enumerate(_run_with(loaded, arrays)):
        np.testing.assert_allclose(got, record[f"output{i}"].asnumpy(), rtol=1e-5, atol=1e-6)


# ---- weight packing ---------------------------------------------------------------------------
def test_lstm_unpack_splits_gates_and_pack_restores_them():
    cell = mx.rnn.LSTMCell(2, prefix="lstm_")
    rng = np.random.default_rng(4)
    fused = {"lstm_i2h_weight": rng.standard_normal((8, 3)), "lstm_i2h_bias": np.arange(8.0),
             "lstm_h2h_weight": rng.standard_normal((8, 2)), "lstm_h2h_bias": -np.arange(8.0),
             "other": np.ones(1)}
    args = {k: mx.nd.array(v) for k, v in fused.items()}
    unpacked = cell.unpack_weights(args)
    assert sorted(unpacked) == sorted(
        ["other"] + [f"lstm_{g}{gate}_{kind}" for g in ("i2h", "h2h")
                     for gate in ("_i", "_f", "_c", "_o") for kind in ("weight", "bias")])
    np.testing.assert_array_equal(unpacked["lstm_i2h_f_bias"].asnumpy(), [2, 3])
    np.testing.assert_allclose(unpacked["lstm_h2h_o_weight"].asnumpy(),
                               fused["lstm_h2h_weight"][6:8], rtol=1e-6)
    packed = cell.pack_weights(unpacked)
    assert sorted(packed) == sorted(fused)
    for name, value in fused.items():
        np.testing.assert_allclose(packed[name].asnumpy(), value, rtol=1e-6)
    assert "lstm_i2h_weight" in args  # the argument is left as it was


def test_unpacked_weights_are_copies():
    cell = mx.rnn.GRUCell(2, prefix="gru_")
    args = {n: mx.nd.ones(s) for n, s in [("gru_i2h_weight", (6, 3)), ("gru_i2h_bias", (6,)),
                                         ("gru_h2h_weight", (6, 2)), ("gru_h2h_bias", (6,))]}
    unpacked = cell.unpack_weights(args)
    unpacked["gru_i2h_r_bias"][:] = 5
    np.testing.assert_array_equal(args["gru_i2h_bias"].asnumpy(), np.ones(6))


def test_sequential_and_bidirectional_pack_every_child():
    stack = mx.rnn.SequentialRNNCell()
    stack.add(mx.rnn.RNNCell(2, prefix="l0_"))
    stack.add(mx.rnn.LSTMCell(2, prefix="l1_"))
    args = {n: mx.nd.ones(s) for n, s in [
        ("l0_i2h_weight", (2, 3)), ("l0_i2h_bias", (2,)), ("l0_h2h_weight", (2, 2)),
        ("l0_h2h_bias", (2,)), ("l1_i2h_weight", (8, 2)), ("l1_i2h_bias", (8,)),
        ("l1_h2h_weight", (8, 2)), ("l1_h2h_bias", (8,))]}
    unpacked = stack.unpack_weights(args)
    assert "l1_i2h_c_weight" in unpacked and "l0_i2h_weight" in unpacked
    assert sorted(stack.pack_weights(unpacked)) == sorted(args)


def test_unpack_without_the_fused_weight_names_it():
    cell = mx.rnn.LSTMCell(2, prefix="lstm_")
    with pytest.raises(KeyError, match="lstm_i2h_weight"):
        cell.unpack_weights({})


# ---- containers and modifiers ----------------------------------------------------------------
def test_sequential_cell_feeds_each_layer_into_the_next():
    stack = mx.rnn.SequentialRNNCell()
    stack.add(mx.rnn.LSTMCell(HIDDEN, prefix="l0_"))
    stack.add(mx.rnn.GRUCell(4, prefix="l1_"))
    assert stack.state_shape == [(0, HIDDEN), (0, HIDDEN), (0, 4)]
    begin = stack.begin_state(func=sym.Variable)
    assert [s.name for s in begin] == ["l0_begin_state_0", "l0_begin_state_1",
                                       "l1_begin_state_0"]
    outputs, states = stack.unroll(STEPS, sym.Variable("data"), begin_state=begin,
                                   merge_outputs=True)
    assert len(states) == 3
    rng = np.random.default_rng(5)
    shapes = {"data": (BATCH, STEPS, FEATURES), "l0_begin_state_0": (BATCH, HIDDEN),
              "l0_begin_state_1": (BATCH, HIDDEN), "l1_begin_state_0": (BATCH, 4)}
    _, v, outs = _bind(sym.Group([outputs] + states), shapes, rng, dtype=np.float64)
    h0, s0 = _numpy_unroll(_lstm_step, v, "l0_", [v["data"][:, t] for t in range(STEPS)],
                           [v["l0_begin_state_0"], v["l0_begin_state_1"]])
    h1, s1 = _numpy_unroll(_gru_step, v, "l1_", h0, [v["l1_begin_state_0"]])
    np.testing.assert_allclose(outs[0], np.stack(h1, axis=1), rtol=1e-10)
    for got, want in zip(outs[1:], s0 + s1):
        np.testing.assert_allclose(got, want, rtol=1e-10)


def test_sequential_cell_steps_like_its_unroll():
    stack = mx.rnn.SequentialRNNCell()
    stack.add(mx.rnn.RNNCell(HIDDEN, prefix="l0_"))
    stack.add(mx.rnn.RNNCell(HIDDEN, prefix="l1_"))
    out, states = stack(sym.Variable("x"), stack.begin_state(func=sym.Variable))
    rng = np.random.default_rng(6)
    shapes = {"x": (BATCH, FEATURES), "l0_begin_state_0": (BATCH, HIDDEN),
              "l1_begin_state_0": (BATCH, HIDDEN)}
    _, v, outs = _bind(sym.Group([out] + states), shapes, rng, dtype=np.float64)
    h0, _ = _rnn_step(v, "l0_", v["x"], [v["l0_begin_state_0"]])
    h1, _ = _rnn_step(v, "l1_", h0, [v["l1_begin_state_0"]])
    np.testing.assert_allclose(outs[0], h1, rtol=1e-10)
    np.testing.assert_allclose(outs[1], h0, rtol=1e-10)


@pytest.mark.parametrize("merge", [True, False])
def test_bidirectional_output_is_forward_concat_reversed_backward(merge):
    bi = mx.rnn.BidirectionalCell(mx.rnn.LSTMCell(HIDDEN, prefix="l_"),
                                  mx.rnn.GRUCell(4, prefix="r_"), output_prefix="bi_")
    begin = bi.begin_state(func=sym.Variable)
    outputs, states = bi.unroll(STEPS, sym.Variable("data"), begin_state=begin,
                                merge_outputs=merge)
    if merge:
        assert outputs.list_outputs() == ["bi_out_output"]
    else:
        assert [o.list_outputs()[0] for o in outputs] == [f"bi_t{t}_output"
                                                          for t in range(STEPS)]
    assert len(states) == 2 and len(states[0]) == 2 and len(states[1]) == 1
    net = sym.Group(([outputs] if merge else outputs) + states[0] + states[1])
    shapes = {"data": (BATCH, STEPS, FEATURES), "l_begin_state_0": (BATCH, HIDDEN),
              "l_begin_state_1": (BATCH, HIDDEN), "r_begin_state_0": (BATCH, 4)}
    _, v, outs = _bind(net, shapes, np.random.default_rng(7), dtype=np.float64)
    xs = [v["data"][:, t] for t in range(STEPS)]
    fwd, fwd_states = _numpy_unroll(_lstm_step, v, "l_", xs,
                                    [v["l_begin_state_0"], v["l_begin_state_1"]])
    bwd, bwd_states = _numpy_unroll(_gru_step, v, "r_", xs[::-1], [v["r_begin_state_0"]])
    want = [np.concatenate([f, b], axis=1) for f, b in zip(fwd, bwd[::-1])]
    got = outs[0] if merge else np.stack(outs[:STEPS], axis=1)
    np.testing.assert_allclose(got, np.stack(want, axis=1), rtol=1e-10)
    for g, w in zip(outs[1 if merge else STEPS:], fwd_states + bwd_states):
        np.testing.assert_allclose(g, w, rtol=1e-10)


def test_dropout_cell_is_identity_in_inference_and_scales_kept_values_in_training():
    cell = mx.rnn.DropoutCell(0.5)
    out, states = cell.unroll(STEPS, sym.Variable("data"), merge_outputs=True)
    assert states == []
    x = np.random.default_rng(8).uniform(1, 2, (BATCH, STEPS, FEATURES))
    _, _, outs = _bind(out, {"data": x.shape}, None, dtype=np.float64, values={"data": x})
    np.testing.assert_array_equal(outs[0], x)
    ex, _, outs = _bind(out, {"data": x.shape}, None, dtype=np.float64, values={"data": x},
                        is_train=True)
    kept = outs[0] != 0
    np.testing.assert_allclose(outs[0][kept], 2 * x[kept])
    assert 0 < kept.sum() < x.size


def test_dropout_cell_in_a_stack_drops_between_layers():
    stack = mx.rnn.SequentialRNNCell()
    stack.add(mx.rnn.RNNCell(HIDDEN, prefix="l0_"))
    stack.add(mx.rnn.DropoutCell(0.3, prefix="drop_"))
    stack.add(mx.rnn.RNNCell(HIDDEN, prefix="l1_"))
    assert len(stack.state_info) == 2
    outputs, _ = stack.unroll(STEPS, sym.Variable("data"),
                              begin_state=stack.begin_state(func=sym.Variable))
    ops = {n["op"] for n in __import__("json").loads(outputs[-1].tojson())["nodes"]}
    assert "Dropout" in ops


def test_residual_cell_adds_the_input_to_each_output():
    cell = mx.rnn.ResidualCell(mx.rnn.RNNCell(FEATURES, prefix="rnn_"))
    for merge in (True, False):
        outputs, _ = cell.unroll(STEPS, sym.Variable("data"),
                                 begin_state=cell.begin_state(func=sym.Variable),
                                 merge_outputs=merge)
        net = outputs if merge else sym.Group(outputs)
        shapes = {"data": (BATCH, STEPS, FEATURES), "rnn_begin_state_0": (BATCH, FEATURES)}
        _, v, outs = _bind(net, shapes, np.random.default_rng(9), dtype=np.float64)
        xs = [v["data"][:, t] for t in range(STEPS)]
        ref, _ = _numpy_unroll(_rnn_step, v, "rnn_", xs, [v["rnn_begin_state_0"]])
        want = np.stack([r + x for r, x in zip(ref, xs)], axis=1)
        got = outs[0] if merge else np.stack(outs, axis=1)
        np.testing.assert_allclose(got, want, rtol=1e-10)
    assert outputs[0].list_outputs() == ["rnn_t0_out_plus_residual_output"]


def test_residual_cell_steps_add_the_input():
    cell = mx.rnn.ResidualCell(mx.rnn.RNNCell(FEATURES, prefix="rnn_"))
    out, _ = cell(sym.Variable("x"), [sym.Variable("h")])
    _, v, outs = _bind(out, {"x": (BATCH, FEATURES), "h": (BATCH, FEATURES)},
                       np.random.default_rng(10), dtype=np.float64)
    ref, _ = _rnn_step(v, "rnn_", v["x"], [v["h"]])
    np.testing.assert_allclose(outs[0], ref + v["x"], rtol=1e-10)


def test_zoneout_passes_the_base_cell_through_in_inference():
    cell = mx.rnn.ZoneoutCell(mx.rnn.LSTMCell(HIDDEN, prefix="lstm_"), zoneout_outputs=0.5,
                              zoneout_states=0.5)
    outputs, _ = cell.unroll(STEPS, sym.Variable("data"),
                             begin_state=cell.begin_state(func=sym.Variable),
                             merge_outputs=True)
    _, v, outs = _bind(outputs, {"data": (BATCH, STEPS, FEATURES),
                                 **_state_shapes(cell.base_cell)},
                       np.random.default_rng(11), dtype=np.float64)
    ref, _ = _numpy_unroll(_lstm_step, v, "lstm_", [v["data"][:, t] for t in range(STEPS)],
                           [v["lstm_begin_state_0"], v["lstm_begin_state_1"]])
    np.testing.assert_allclose(outs[0], np.stack(ref, axis=1), rtol=1e-10)


def test_zoneout_outputs_keep_the_previous_output_or_take_the_new_one_in_training():
    cell = mx.rnn.ZoneoutCell(mx.rnn.RNNCell(HIDDEN, prefix="rnn_"), zoneout_outputs=0.5)
    outputs, _ = cell.unroll(STEPS, sym.Variable("data"),
                             begin_state=cell.begin_state(func=sym.Variable),
                             merge_outputs=True)
    _, v, outs = _bind(outputs, {"data": (BATCH, STEPS, FEATURES),
                                 "rnn_begin_state_0": (BATCH, HIDDEN)},
                       np.random.default_rng(12), dtype=np.float64, is_train=True)
    # Output zoneout leaves the states alone, so the base cell's outputs are deterministic.
    new, _ = _numpy_unroll(_rnn_step, v, "rnn_", [v["data"][:, t] for t in range(STEPS)],
                           [v["rnn_begin_state_0"]])
    prev = np.zeros((BATCH, HIDDEN))
    kept_previous = 0
    for t in range(STEPS):
        got = outs[0][:, t]
        is_new = np.isclose(got, new[t], rtol=1e-10)
        is_prev = np.isclose(got, prev, rtol=1e-10)
        assert np.all(is_new | is_prev)
        kept_previous += int((is_prev & ~is_new).sum())
        prev = got
    assert 0 < kept_previous < STEPS * BATCH * HIDDEN


def test_modified_base_cell_refuses_direct_use():
    base = mx.rnn.LSTMCell(HIDDEN, prefix="lstm_")
    cell = mx.rnn.ZoneoutCell(base, zoneout_states=0.1)
    with pytest.raises(MXNetError, match="modifier cell"):
        base.begin_state(func=sym.Variable)
    assert [s.name for s in cell.begin_state(func=sym.Variable)] == ["lstm_begin_state_0",
                                                                    "lstm_begin_state_1"]
    assert cell.params is base.params
    assert cell.state_info == base.state_info


# ---- default begin states (mx.sym.zeros) -------------------------------------------------------
def test_default_begin_state_is_zeros_with_the_batch_size_inferred():
    cell = mx.rnn.LSTMCell(HIDDEN, prefix="lstm_")
    outputs, _ = cell.unroll(STEPS, sym.Variable("data"), merge_outputs=True)
    assert outputs.list_arguments() == ["data", "lstm_i2h_weight", "lstm_i2h_bias",
                                        "lstm_h2h_weight", "lstm_h2h_bias"]
    _, v, outs = _bind(outputs, {"data": (BATCH, STEPS, FEATURES)}, np.random.default_rng(13))
    v = {k: np.asarray(a, dtype=np.float32).astype(np.float64) for k, a in v.items()}
    zeros = np.zeros((BATCH, HIDDEN))
    ref, _ = _numpy_unroll(_lstm_step, v, "lstm_", [v["data"][:, t] for t in range(STEPS)],
                           [zeros, zeros])
    np.testing.assert_allclose(outs[0], np.stack(ref, axis=1), rtol=1e-5, atol=1e-6)


def test_begin_state_keyword_arguments_reach_the_fill():
    # Zeros are float32 unless asked otherwise, as in MXNet: a float64 graph asks.
    cell = mx.rnn.GRUCell(HIDDEN, prefix="gru_")
    begin = cell.begin_state(dtype="float64")
    assert begin[0].attr("__layout__") == "NC"
    outputs, _ = cell.unroll(STEPS, sym.Variable("data"), begin_state=begin,
                             merge_outputs=True)
    _, v, outs = _bind(outputs, {"data": (BATCH, STEPS, FEATURES)}, np.random.default_rng(14),
                       dtype=np.float64)
    ref, _ = _numpy_unroll(_gru_step, v, "gru_", [v["data"][:, t] for t in range(STEPS)],
                           [np.zeros((BATCH, HIDDEN))])
    np.testing.assert_allclose(outs[0], np.stack(ref, axis=1), rtol=1e-10)


def test_sym_zeros_rejects_a_negative_shape():
    with pytest.raises(MXNetError, match=r"shape=\(-1, 3\)"):
        sym.zeros((-1, 3))


# ---- bad arguments -----------------------------------------------------------------------------
def test_unroll_rejects_a_list_of_the_wrong_length():
    cell = mx.rnn.RNNCell(HIDDEN)
    with pytest.raises(MXNetError, match="2 steps: expected length=3"):
        cell.unroll(3, [sym.Variable("a"), sym.Variable("b")])


def test_unroll_rejects_missing_inputs():
    with pytest.raises(MXNetError, match="inputs=None"):
        mx.rnn.RNNCell(HIDDEN).unroll(3, None)


def test_unroll_rejects_a_layout_without_a_time_axis():
    with pytest.raises(MXNetError, match="layout='NC'"):
        mx.rnn.RNNCell(HIDDEN).unroll(3, sym.Variable("data"), layout="NC")


@pytest.mark.parametrize("length", [-1, 0, 2.0])
def test_unroll_rejects_a_length_that_is_not_a_positive_integer(length):
    with pytest.raises(MXNetError, match=f"length={length!r}: expected a positive integer"):
        mx.rnn.RNNCell(HIDDEN).unroll(length, sym.Variable("data"))


def test_unroll_rejects_a_grouped_symbol():
    with pytest.raises(MXNetError, match="group of 2 outputs"):
        mx.rnn.RNNCell(HIDDEN).unroll(2, sym.Group([sym.Variable("a"), sym.Variable("b")]))


@pytest.mark.parametrize("num_hidden", [0, -3, 2.5, "8"])
def test_cells_reject_a_bad_num_hidden(num_hidden):
    for cls in (mx.rnn.RNNCell, mx.rnn.LSTMCell, mx.rnn.GRUCell):
        with pytest.raises(MXNetError, match=f"num_hidden={num_hidden!r}"):
            cls(num_hidden)


def test_dropout_cell_rejects_a_probability_outside_0_1():
    with pytest.raises(MXNetError, match="dropout=1.5"):
        mx.rnn.DropoutCell(1.5)


def test_zoneout_rejects_a_bidirectional_base():
    bi = mx.rnn.BidirectionalCell(mx.rnn.RNNCell(2, prefix="l_"), mx.rnn.RNNCell(2, prefix="r_"))
    with pytest.raises(MXNetError, match="BidirectionalCell"):
        mx.rnn.ZoneoutCell(bi, zoneout_outputs=0.1)


def test_bidirectional_cell_cannot_be_stepped():
    bi = mx.rnn.BidirectionalCell(mx.rnn.RNNCell(2, prefix="l_"), mx.rnn.RNNCell(2, prefix="r_"))
    with pytest.raises(MXNetError, match="use unroll"):
        bi(sym.Variable("x"), bi.begin_state(func=sym.Variable))


def test_sequential_cell_refuses_params_given_twice():
    stack = mx.rnn.SequentialRNNCell(params=mx.rnn.RNNParams("s_"))
    with pytest.raises(MXNetError, match="give params to one of them"):
        stack.add(mx.rnn.RNNCell(2, params=mx.rnn.RNNParams("c_")))


def test_containers_reject_what_is_not_a_cell():
    with pytest.raises(TypeError, match="expected an RNN cell"):
        mx.rnn.SequentialRNNCell().add("lstm")
    with pytest.raises(TypeError, match="l_cell"):
        mx.rnn.BidirectionalCell(None, mx.rnn.RNNCell(2))


def test_base_cell_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        mx.rnn.BaseRNNCell()
    with pytest.raises(TypeError, match="abstract"):
        mx.rnn.ModifierCell(mx.rnn.RNNCell(2))


def test_begin_state_rejects_a_non_callable_func():
    with pytest.raises(TypeError, match="func=3"):
        mx.rnn.RNNCell(2).begin_state(func=3)
