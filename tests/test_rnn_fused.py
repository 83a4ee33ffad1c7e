"""FusedRNNCell: the graph it builds, its parameter naming (unpack/pack), the FusedRNN
initializer, and agreement with its unfused stack of cells given the same weights."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod.base import MXNetError

rng = np.random.default_rng(3)


def bind(sym, shapes, values):
    ex = sym.simple_bind(mx.cpu(), grad_req="null", **shapes)
    for k, v in values.items():
        ex.arg_dict[k][:] = v
    ex.forward(is_train=False)
    return [o.asnumpy() for o in ex.outputs]


def fused_and_unfused_outputs(mode, num_layers, bidirectional, layout="NTC"):
    N, T, I, H = 3, 5, 4, 6
    cell = mx.rnn.FusedRNNCell(H, num_layers=num_layers, mode=mode, bidirectional=bidirectional,
                               prefix=f"{mode}_")
    data = mx.sym.Variable("data")
    out, _ = cell.unroll(T, data, layout=layout, merge_outputs=True)
    shape = (N, T, I) if layout == "NTC" else (T, N, I)
    arg_shapes, _, _ = out.infer_shape(data=shape)
    shapes = dict(zip(out.list_arguments(), arg_shapes))
    pname = f"{mode}_parameters"
    params = rng.uniform(-0.5, 0.5, shapes[pname]).astype(np.float32)
    x = rng.standard_normal(shape).astype(np.float32)
    fused = bind(out, {"data": shape}, {"data": x, pname: params})[0]

    stack = cell.unfuse()
    out2, _ = stack.unroll(T, mx.sym.Variable("data"), layout=layout, merge_outputs=True)
    unpacked = cell.unpack_weights({pname: mx.nd.array(params)})
    packed = stack.pack_weights(unpacked)
    values = {k: v.asnumpy() for k, v in packed.items()}
    values["data"] = x
    assert set(values) == set(out2.list_arguments())
    unfused = bind(out2, {"data": shape}, values)[0]
    return fused, unfused


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, False), (2, True)])
def test_fused_cell_matches_its_unfused_stack(mode, num_layers, bidirectional):
    fused, unfused = fused_and_unfused_outputs(mode, num_layers, bidirectional)
    np.testing.assert_allclose(fused, unfused, rtol=1e-4, atol=1e-5)


def test_tnc_layout_matches_unfused_stack():
    fused, unfused = fused_and_unfused_outputs("lstm", 2, False, layout="TNC")
    assert fused.shape == (5, 3, 6)
    np.testing.assert_allclose(fused, unfused, rtol=1e-4, atol=1e-5)


def test_unpack_weights_names_and_shapes_are_mxnets():
    cell = mx.rnn.FusedRNNCell(3, num_layers=2, mode="lstm", bidirectional=True)
    size = 2 * 12 * (5 + 3 + 2) + 2 * 12 * (6 + 3 + 2)
    args = cell.unpack_weights({"lstm_parameters": mx.nd.arange(size)})
    assert args["lstm_l0_i2h_i_weight"].shape == (3, 5)
    assert args["lstm_r1_i2h_o_weight"].shape == (3, 6)
    assert args["lstm_l1_h2h_f_weight"].shape == (3, 3)
    assert args["lstm_r1_h2h_c_bias"].shape == (3,)
    assert len(args) == 2 * 2 * 4 * 4
    # The first piece is the start of the vector; the last bias its end.
    np.testing.assert_array_equal(args["lstm_l0_i2h_i_weight"].asnumpy().ravel(), np.arange(15))
    np.testing.assert_array_equal(args["lstm_r1_h2h_o_bias"].asnumpy(), np.arange(size - 3, size))


def test_pack_weights_inverts_unpack_weights():
    cell = mx.rnn.FusedRNNCell(4, num_layers=2, mode="gru")
    size = 12 * (3 + 4 + 2) + 12 * (4 + 4 + 2)
    flat = rng.standard_normal(size).astype(np.float32)
    args = cell.pack_weights(cell.unpack_weights({"gru_parameters": mx.nd.array(flat), "other": 1}))
    assert set(args) == {"gru_parameters", "other"}
    np.testing.assert_array_equal(args["gru_parameters"].asnumpy(), flat)


def test_unpack_weights_rejects_a_vector_of_no_valid_size():
    cell = mx.rnn.FusedRNNCell(4, mode="lstm")
    with pytest.raises(MXNetError, match="parameter vector of 17"):
        cell.unpack_weights({"lstm_parameters": mx.nd.zeros((17,))})


def test_get_next_state_returns_final_states():
    cell = mx.rnn.FusedRNNCell(4, num_layers=2, mode="lstm", get_next_state=True)
    out, states = cell.unroll(3, mx.sym.Variable("data"), merge_outputs=True)
    assert len(states) == 2
    _, out_shapes, _ = mx.sym.Group([out] + states).infer_shape(data=(5, 3, 2))
    assert out_shapes == [(5, 3, 4), (2, 5, 4), (2, 5, 4)]
    assert cell.state_info[0] == {"shape": (2, 0, 4), "__layout__": "LNC"}


def test_unroll_without_merge_gives_one_symbol_per_step():
    cell = mx.rnn.FusedRNNCell(4, mode="gru")
    outs, states = cell.unroll(3, mx.sym.Variable("data"), merge_outputs=False)
    assert len(outs) == 3 and states == []
    _, shapes, _ = outs[1].infer_shape(data=(2, 3, 5))
    assert shapes == [(2, 4)]


def test_fused_cell_cannot_be_stepped():
    cell = mx.rnn.FusedRNNCell(4)
    with pytest.raises(MXNetError, match="unfuse"):
        cell(mx.sym.Variable("x"), cell.begin_state())


def test_bad_constructor_arguments_name_the_argument():
    with pytest.raises(MXNetError, match="mode"):
        mx.rnn.FusedRNNCell(4, mode="elman")
    with pytest.raises(MXNetError, match="num_layers"):
        mx.rnn.FusedRNNCell(4, num_layers=0)
    with pytest.raises(MXNetError, match="dropout"):
        mx.rnn.FusedRNNCell(4, dropout=1.5)


def test_unfuse_builds_mxnets_stack():
    cell = mx.rnn.FusedRNNCell(4, num_layers=2, mode="lstm", bidirectional=True, dropout=0.5)
    stack = cell.unfuse()
    kinds = [type(c).__name__ for c in stack._cells]
    assert kinds == ["BidirectionalCell", "DropoutCell", "BidirectionalCell"]
    names = set(stack.params._params)
    assert "lstm_l0_i2h_weight" in names and "lstm_r1_h2h_bias" in names


def test_fused_rnn_initializer_sets_forget_bias_and_initializes_weights():
    cell = mx.rnn.FusedRNNCell(3, mode="lstm", forget_bias=2.5)
    out, _ = cell.unroll(2, mx.sym.Variable("data"), merge_outputs=True)
    arg_shapes, _, _ = out.infer_shape(data=(1, 2, 4))
    shape = dict(zip(out.list_arguments(), arg_shapes))["lstm_parameters"]
    arr = mx.nd.zeros(shape)
    attrs = out.attr_dict()["lstm_parameters"]
    mx.init.Uniform(0.1)(mx.init.InitDesc("lstm_parameters", attrs=attrs), arr)
    args = cell.unpack_weights({"lstm_parameters": arr})
    # As in MXNet, both forget-gate biases (i2h and h2h) get forget_bias.
    np.testing.assert_array_equal(args["lstm_l0_i2h_f_bias"].asnumpy(), 2.5)
    np.testing.assert_array_equal(args["lstm_l0_h2h_f_bias"].asnumpy(), 2.5)
    np.testing.assert_array_equal(args["lstm_l0_i2h_i_bias"].asnumpy(), 0.0)
    w = args["lstm_l0_i2h_o_weight"].asnumpy()
    assert np.all(np.abs(w) <= 0.1) and np.any(w != 0)


def test_fused_cell_trains_in_a_module():
    # Gradients flow through the fused parameters: the loss of a small regression falls.
    cell = mx.rnn.FusedRNNCell(8, num_layers=1, mode="lstm")
    out, _ = cell.unroll(4, mx.sym.Variable("data"), layout="NTC", merge_outputs=True)
    pred = mx.sym.FullyConnected(mx.sym.Reshape(out, shape=(-1, 8)), num_hidden=1, name="fc")
    label = mx.sym.Reshape(mx.sym.Variable("label"), shape=(-1, 1))
    loss = mx.sym.LinearRegressionOutput(pred, label, name="lro")
    x = rng.standard_normal((16, 4, 3)).astype(np.float32)
    y = np.cumsum(x[:, :, 0], axis=1).astype(np.float32)
    it = mx.io.NDArrayIter(x, y, batch_size=8, label_name="label")
    mod = mx.mod.Module(loss, data_names=["data"], label_names=["label"])
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params(mx.init.Xavier())
    mod.init_optimizer(optimizer="adam", optimizer_params={"learning_rate": 0.05})

    def mse():
        it.reset()
        total = 0.0
        for batch in it:
            mod.forward(batch, is_train=False)
            pred = mod.get_outputs()[0].asnumpy().reshape(8, 4)
            total += float(((pred - batch.label[0].asnumpy()) ** 2).mean())
        return total

    before = mse()
    for _ in range(30):
        it.reset()
        for batch in it:
            mod.forward_backward(batch)
            mod.update()
    assert mse() < 0.5 * before
