"""The fused RNN operator: forward against a numpy implementation of MXNet's formulas and
parameter layout, gradients of every argument against float64 finite differences, dropout
between layers, and argument errors."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd
from flowmod.base import MXNetError
from op_check import _attrs, check_gradient, forward, info

rng = np.random.default_rng(11)

GATES = {"rnn_relu": 1, "rnn_tanh": 1, "lstm": 4, "gru": 3}


def param_size(mode, num_layers, bidirectional, input_size, hidden):
    dirs = 2 if bidirectional else 1
    g = GATES[mode] * hidden
    size = 0
    for layer in range(num_layers):
        width = input_size if layer == 0 else dirs * hidden
        size += dirs * (g * width + g * hidden + 2 * g)
    return size


def unpack(params, mode, num_layers, bidirectional, input_size, hidden):
    """Per (layer, direction): (Wi, Wh, bi, bh), read in MXNet's order: all weights, then
    all biases."""
    dirs = 2 if bidirectional else 1
    g = GATES[mode] * hidden
    p = 0
    weights = []
    for layer in range(num_layers):
        width = input_size if layer == 0 else dirs * hidden
        for _ in range(dirs):
            wi = params[p:p + g * width].reshape(g, width)
            p += g * width
            wh = params[p:p + g * hidden].reshape(g, hidden)
            p += g * hidden
            weights.append([wi, wh])
    for cell in weights:
        cell.append(params[p:p + g])
        p += g
        cell.append(params[p:p + g])
        p += g
    assert p == params.size
    return weights


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def step(mode, x, h, c, wi, wh, bi, bh):
    H = h.shape[1]
    if mode == "lstm":
        a = x @ wi.T + bi + h @ wh.T + bh
        i, f, g, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
        c = f * c + i * g
        return o * np.tanh(c), c
    if mode == "gru":
        ax = x @ wi.T + bi
        ah = h @ wh.T + bh
        r = sigmoid(ax[:, :H] + ah[:, :H])
        z = sigmoid(ax[:, H:2 * H] + ah[:, H:2 * H])
        n = np.tanh(ax[:, 2 * H:] + r * ah[:, 2 * H:])
        return (1 - z) * n + z * h, c
    a = x @ wi.T + bi + h @ wh.T + bh
    return (np.maximum(a, 0) if mode == "rnn_relu" else np.tanh(a)), c


def rnn_ref(data, params, h0, c0, mode, num_layers, bidirectional, hidden):
    """MXNet's RNN in numpy: returns (out, hy, cy)."""
    T = data.shape[0]
    dirs = 2 if bidirectional else 1
    cells = unpack(params, mode, num_layers, bidirectional, data.shape[2], hidden)
    x = data
    hy, cy = [], []
    for layer in range(num_layers):
        outs = []
        for d in range(dirs):
            k = layer * dirs + d
            h, c = h0[k], (c0[k] if c0 is not None else None)
            ys = [None] * T
            for t in (range(T) if d == 0 else reversed(range(T))):
                h, c = step(mode, x[t], h, c, *cells[k])
                ys[t] = h
            outs.append(np.stack(ys))
            hy.append(h)
            cy.append(c)
        x = np.concatenate(outs, axis=2)
    return x, np.stack(hy), (np.stack(cy) if mode == "lstm" else None)


def make_inputs(mode, num_layers, bidirectional, T=4, N=3, I=5, H=4, scale=0.5):
    dirs = 2 if bidirectional else 1
    data = rng.standard_normal((T, N, I))
    params = rng.standard_normal(param_size(mode, num_layers, bidirectional, I, H)) * scale
    h0 = rng.standard_normal((num_layers * dirs, N, H)) * scale
    inputs = [data, params, h0]
    if mode == "lstm":
        inputs.append(rng.standard_normal((num_layers * dirs, N, H)) * scale)
    return inputs


CONFIGS = [(mode, layers, bi) for mode in GATES for layers in (1, 2) for bi in (False, True)]


@pytest.mark.parametrize("mode,num_layers,bidirectional", CONFIGS)
@pytest.mark.parametrize("state_outputs", [False, True])
def test_forward_matches_numpy_reference(mode, num_layers, bidirectional, state_outputs):
    H = 4
    inputs = make_inputs(mode, num_layers, bidirectional, H=H)
    outs = forward("RNN", [x.astype(np.float32) for x in inputs], state_size=H, num_layers=num_layers,
                   bidirectional=bidirectional, mode=mode, state_outputs=state_outputs)
    ref_out, ref_hy, ref_cy = rnn_ref(inputs[0], inputs[1], inputs[2], inputs[3] if mode == "lstm" else None,
                                      mode, num_layers, bidirectional, H)
    expected = [ref_out] + ([ref_hy] + ([ref_cy] if mode == "lstm" else []) if state_outputs else [])
    assert len(outs) == len(expected)
    for got, want in zip(outs, expected):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_forward_in_float64_is_exact_to_double_precision():
    inputs = make_inputs("lstm", 2, True)
    out, = forward("RNN", inputs, state_size=4, num_layers=2, bidirectional=True, mode="lstm")
    ref, _, _ = rnn_ref(inputs[0], inputs[1], inputs[2], inputs[3], "lstm", 2, True, 4)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode,num_layers,bidirectional", CONFIGS)
def test_gradients_match_finite_differences(mode, num_layers, bidirectional):
    inputs = make_inputs(mode, num_layers, bidirectional, T=3, N=2, I=3, H=2)
    check_gradient("RNN", inputs, state_size=2, num_layers=num_layers, bidirectional=bidirectional,
                   mode=mode, state_outputs=True, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_gradients_without_state_outputs_match_finite_differences(mode):
    inputs = make_inputs(mode, 2, False, T=3, N=2, I=3, H=2)
    check_gradient("RNN", inputs, state_size=2, num_layers=2, mode=mode, rtol=1e-5, atol=1e-7)


def lstm_gradients(inputs, dtype, hidden, head_grads):
    """The LSTM's outputs and the gradients of its arguments, computed in `dtype`."""
    arrays = [nd.array(x, dtype=dtype) for x in inputs]
    attrs = _attrs(dict(state_size=hidden, num_layers=2, bidirectional=True, mode="lstm", state_outputs=True))
    outs = [nd.NDArray._wrap(h, None) for h in _native.invoke("RNN", [a._h for a in arrays], attrs, [], True, True)]
    heads = [nd.array(g, dtype=dtype) for g in head_grads]
    grads = [nd.zeros(x.shape, dtype=dtype) for x in inputs]
    _native.invoke_backward("RNN", attrs, [h._h for h in heads], [a._h for a in arrays], [o._h for o in outs],
                            [g._h for g in grads], ["write"] * 4, True)
    return [o.asnumpy() for o in outs[:3]], [g.asnumpy() for g in grads]


def test_float32_lstm_wider_than_a_vector_matches_float64():
    # The float cells run in vector clones: a width of 37 covers full vectors of every width
    # and a remainder; the float64 kernel is the reference for outputs and gradients alike.
    H = 37
    inputs = make_inputs("lstm", 2, True, T=5, N=3, I=7, H=H, scale=0.3)
    heads = [rng.standard_normal(s) for s in [(5, 3, 2 * H), (4, 3, H), (4, 3, H)]]
    outs32, grads32 = lstm_gradients(inputs, np.float32, H, heads)
    outs64, grads64 = lstm_gradients(inputs, np.float64, H, heads)
    ref_out, ref_hy, ref_cy = rnn_ref(*inputs, "lstm", 2, True, H)
    for got, want in zip(outs64, [ref_out, ref_hy, ref_cy]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for got, want in zip(outs32, outs64):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    for got, want in zip(grads32, grads64):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def rnn_gradients(inputs, dtype, mode, hidden, head_grads):
    """The outputs of a 2-layer bidirectional RNN and the gradients of its arguments, in `dtype`."""
    arrays = [nd.array(x, dtype=dtype) for x in inputs]
    attrs = _attrs(dict(state_size=hidden, num_layers=2, bidirectional=True, mode=mode, state_outputs=True))
    outs = [nd.NDArray._wrap(h, None) for h in _native.invoke("RNN", [a._h for a in arrays], attrs, [], True, True)]
    heads = [nd.array(g, dtype=dtype) for g in head_grads]
    grads = [nd.zeros(x.shape, dtype=dtype) for x in inputs]
    _native.invoke_backward("RNN", attrs, [h._h for h in heads], [a._h for a in arrays], [o._h for o in outs],
                            [g._h for g in grads], ["write"] * len(inputs), True)
    return [o.asnumpy() for o in outs[:len(head_grads)]], [g.asnumpy() for g in grads]


@pytest.mark.parametrize("mode", list(GATES))
def test_float32_rnn_with_packed_recurrent_products_matches_float64(mode):
    # A batch of 32 and 256 units: each step's recurrent product is large enough to run with
    # its weights packed once and split across the cores (in a build with oneDNN); float64
    # runs every product through OpenBLAS and is the reference.
    T, N, I, H = 4, 32, 16, 256
    inputs = make_inputs(mode, 2, True, T=T, N=N, I=I, H=H, scale=0.06)
    states = 2 if mode == "lstm" else 1
    heads = [rng.standard_normal((T, N, 2 * H))] + [rng.standard_normal((4, N, H)) for _ in range(states)]
    outs32, grads32 = rnn_gradients(inputs, np.float32, mode, H, heads)
    outs64, grads64 = rnn_gradients(inputs, np.float64, mode, H, heads)
    ref = rnn_ref(inputs[0], inputs[1], inputs[2], inputs[3] if mode == "lstm" else None, mode, 2, True, H)
    for got, want in zip(outs64, ref):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    for got, want in zip(outs32, outs64):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
    for got, want in zip(grads32, grads64):
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3 * np.abs(want).max())


def test_rnn_relu_gradient_away_from_the_kink():
    inputs = make_inputs("rnn_relu", 1, False, T=3, N=2, I=3, H=2, scale=0.3)
    check_gradient("RNN", inputs, state_size=2, num_layers=1, mode="rnn_relu", state_outputs=True,
                   eps=1e-7, rtol=1e-4, atol=1e-6)


def test_dropout_between_layers_follows_the_recorded_mask():
    # With p > 0 in training, the second layer reads the first layer's output times a mask of
    # 0 and 1/(1-p); the result is reproducible under one seed and differs from inference.
    inputs = [x.astype(np.float32) for x in make_inputs("lstm", 2, False, T=6, N=4, I=5, H=8)]
    attrs = dict(state_size=8, num_layers=2, mode="lstm", p=0.5)
    assert info("RNN", **attrs)["needs_rng"]
    train1 = forward("RNN", inputs, is_train=True, **attrs)[0]
    train2 = forward("RNN", inputs, is_train=True, **attrs)[0]
    infer = forward("RNN", inputs, is_train=False, **attrs)[0]
    np.testing.assert_array_equal(train1, train2)
    assert not np.allclose(train1, infer)
    ref, _, _ = rnn_ref(*[x.astype(np.float64) for x in inputs], "lstm", 2, False, 8)
    np.testing.assert_allclose(infer, ref, rtol=1e-4, atol=1e-5)


def test_dropout_gradient_matches_finite_differences_under_a_fixed_seed():
    inputs = make_inputs("gru", 2, True, T=3, N=2, I=3, H=2)
    check_gradient("RNN", inputs, state_size=2, num_layers=2, bidirectional=True, mode="gru", p=0.4,
                   state_outputs=True, rtol=1e-5, atol=1e-7)


def test_grad_req_null_leaves_arrays_untouched():
    inputs = [x.astype(np.float32) for x in make_inputs("lstm", 1, False)]
    arrays = [nd.array(x) for x in inputs]
    attrs = _attrs(dict(state_size=4, num_layers=1, mode="lstm", state_outputs=True))
    outs = [nd.NDArray._wrap(h, None) for h in _native.invoke("RNN", [a._h for a in arrays], attrs, [], True, True)]
    heads = [nd.ones(o.shape, dtype=o.dtype) for o in outs[:3]]
    grads = [nd.full(x.shape, 7.0, dtype=x.dtype) for x in inputs]
    _native.invoke_backward("RNN", attrs, [h._h for h in heads], [a._h for a in arrays], [o._h for o in outs],
                            [g._h for g in grads], ["null", "write", "null", "write"], True)
    assert np.all(grads[0].asnumpy() == 7.0)
    assert np.all(grads[2].asnumpy() == 7.0)
    assert not np.all(grads[1].asnumpy() == 7.0)


def test_shape_inference_gives_parameter_size_and_states():
    data = mx.sym.Variable("data")
    sym = mx.sym.RNN(data, state_size=6, num_layers=2, bidirectional=True, mode="gru", state_outputs=True,
                     name="rnn")
    assert sym.list_arguments() == ["data", "rnn_parameters", "rnn_state"]
    assert sym.list_outputs() == ["rnn_output", "rnn_state"]
    arg_shapes, out_shapes, _ = sym.infer_shape(data=(7, 3, 5))
    assert arg_shapes == [(7, 3, 5), (param_size("gru", 2, True, 5, 6),), (4, 3, 6)]
    assert out_shapes == [(7, 3, 12), (4, 3, 6)]


def test_lstm_outputs_are_named_like_mxnet():
    sym = mx.sym.RNN(mx.sym.Variable("data"), state_size=2, num_layers=1, mode="lstm", state_outputs=True,
                     name="lstm")
    assert sym.list_arguments() == ["data", "lstm_parameters", "lstm_state", "lstm_state_cell"]
    assert sym.list_outputs() == ["lstm_output", "lstm_state", "lstm_state_cell"]


def test_ndarray_call_returns_states_with_state_outputs():
    inputs = [nd.array(x.astype(np.float32)) for x in make_inputs("lstm", 1, False)]
    res = mx.nd.RNN(*inputs, state_size=4, num_layers=1, mode="lstm", state_outputs=True)
    assert [r.shape for r in res] == [(4, 3, 4), (1, 3, 4), (1, 3, 4)]


@pytest.mark.parametrize("attrs,arg", [
    (dict(state_size=0, num_layers=1, mode="lstm"), "state_size"),
    (dict(state_size=4, num_layers=0, mode="lstm"), "num_layers"),
    (dict(state_size=4, num_layers=1, mode="elman"), "mode"),
    (dict(state_size=4, num_layers=1, mode="lstm", p=1.0), "p"),
    (dict(state_size=4, num_layers=1, mode="lstm", projection_size=2), "projection_size"),
    (dict(state_size=4, num_layers=1, mode="lstm", lstm_state_clip_min=-1.0), "lstm_state_clip_min"),
    (dict(state_size=4, num_layers=1, mode="lstm", use_sequence_length=True), "use_sequence_length"),
])
def test_bad_attributes_raise_naming_the_attribute(attrs, arg):
    inputs = [nd.array(x.astype(np.float32)) for x in make_inputs("lstm", 1, False)]
    with pytest.raises(MXNetError, match=arg):
        mx.nd.RNN(*inputs, **attrs)


def test_wrong_parameter_size_is_rejected():
    data, params, h0, c0 = [nd.array(x.astype(np.float32)) for x in make_inputs("lstm", 1, False)]
    short = nd.zeros((params.shape[0] - 1,))
    with pytest.raises(MXNetError, match="parameters"):
        mx.nd.RNN(data, short, h0, c0, state_size=4, num_layers=1, mode="lstm")


def test_wrong_state_shape_is_rejected():
    data, params, h0, c0 = [nd.array(x.astype(np.float32)) for x in make_inputs("lstm", 1, False)]
    with pytest.raises(MXNetError, match="state"):
        mx.nd.RNN(data, params, nd.zeros((2, 3, 4)), c0, state_size=4, num_layers=1, mode="lstm")


def test_two_dimensional_data_is_rejected():
    data, params, h0, c0 = [nd.array(x.astype(np.float32)) for x in make_inputs("lstm", 1, False)]
    with pytest.raises(MXNetError, match="data"):
        mx.nd.RNN(data.reshape((12, 5)), params, h0, c0, state_size=4, num_layers=1, mode="lstm")


def test_integer_data_is_rejected():
    data, params, h0, c0 = make_inputs("lstm", 1, False)
    with pytest.raises(MXNetError, match="data"):
        mx.nd.RNN(nd.array(data, dtype=np.int32), nd.array(params, dtype=np.int32), nd.array(h0, dtype=np.int32),
                  nd.array(c0, dtype=np.int32), state_size=4, num_layers=1, mode="lstm")


def test_gradient_through_a_bound_graph_matches_finite_differences_of_the_loss():
    # Through the executor, with the unused hy/cy gradients zero-filled by the plan.
    T, N, I, H = 3, 2, 3, 3
    data = mx.sym.Variable("data")
    sym = mx.sym.RNN(data, state_size=H, num_layers=1, mode="lstm", state_outputs=True, name="rnn")
    out = mx.sym.sum(sym[0])
    ex = out.simple_bind(mx.cpu(), data=(T, N, I))
    values = {k: rng.standard_normal(v.shape) * 0.5 for k, v in ex.arg_dict.items()}
    for k, v in values.items():
        ex.arg_dict[k][:] = v
    ex.forward(is_train=True)
    ex.backward(mx.nd.ones(ex.outputs[0].shape))  # d(loss)/d(sum) = 1: sum is not a loss head
    ref = rnn_ref(values["data"], values["rnn_parameters"], values["rnn_state"], values["rnn_state_cell"],
                  "lstm", 1, False, H)[0]
    np.testing.assert_allclose(ex.outputs[0].asnumpy(), ref.sum(), rtol=1e-4)
    grad = ex.grad_dict["data"].asnumpy()
    eps = 1e-3
    x = values["data"].astype(np.float64)
    for idx in [(0, 0, 0), (1, 1, 2), (2, 0, 1)]:
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        args = (values["rnn_parameters"], values["rnn_state"], values["rnn_state_cell"], "lstm", 1, False, H)
        num = (rnn_ref(xp, *args)[0].sum() - rnn_ref(xm, *args)[0].sum()) / (2 * eps)
        np.testing.assert_allclose(grad[idx], num, rtol=1e-3, atol=1e-4)
