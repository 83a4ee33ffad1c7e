"""Writes the MXNet 1.9.1 checkpoint that tests/test_rnn_cell.py loads: a SequentialRNNCell
of LSTMCell(4, 'lstm_') and GRUCell(3, 'gru_') unrolled over 3 steps with begin states as
inputs, random weights, and (in mxnet_lstm_gru_io.nd) its inputs and MXNet's outputs.

    /path/to/mxnet-1.9.1/bin/python tests/data/make_mxnet_rnn_checkpoint.py tests/data
"""
import sys

import mxnet as mx
import numpy as np

SHAPES = {"data": (2, 3, 5), "lstm_begin_state_0": (2, 4), "lstm_begin_state_1": (2, 4),
          "gru_begin_state_0": (2, 3)}


def main(out_dir):
    stack = mx.rnn.SequentialRNNCell()
    stack.add(mx.rnn.LSTMCell(4, prefix="lstm_"))
    stack.add(mx.rnn.GRUCell(3, prefix="gru_"))
    begin = stack.begin_state(func=mx.sym.Variable)
    outputs, states = stack.unroll(3, mx.sym.Variable("data"), begin_state=begin,
                                   merge_outputs=True)
    net = mx.sym.Group([outputs] + states)
    rng = np.random.RandomState(0)
    ex = net.simple_bind(mx.cpu(), grad_req="null", **SHAPES)
    inputs, args = {}, {}
    for name, arr in ex.arg_dict.items():
        arr[:] = rng.uniform(-1, 1, arr.shape)
        (inputs if name in SHAPES else args)[name] = arr.copy()
    outs = ex.forward()
    mx.model.save_checkpoint(out_dir + "/mxnet_lstm_gru", 0, net, args, {})
    record = dict(inputs)
    record.update({"output%d" % i: o for i, o in enumerate(outs)})
    mx.nd.save(out_dir + "/mxnet_lstm_gru_io.nd", record)


if __name__ == "__main__":
    main(sys.argv[1])
