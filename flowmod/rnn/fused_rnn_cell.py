"""The fused recurrent cell (``mxnet.rnn.FusedRNNCell``): every layer and direction of an
RNN, LSTM or GRU over the whole sequence as one ``RNN`` operator with one flat parameter
vector, and the ``FusedRNN`` initializer that fills that vector gate by gate.

The parameter vector has MXNet's layout, so its per-gate names (``lstm_l0_i2h_i_weight``,
…, from ``unpack_weights``) and ``unfuse()``'s stack of cells (``lstm_l0_``, ``lstm_r0_``)
match MXNet's checkpoints."""
from __future__ import annotations

import numbers

import numpy as np

from .. import initializer, ndarray, symbol
from ..base import MXNetError
from ..initializer import InitDesc, Initializer
from .rnn_cell import (BaseRNNCell, BidirectionalCell, DropoutCell, GRUCell, LSTMCell, RNNCell,
                       RNNParams, SequentialRNNCell, _check_length, _check_num_hidden,
                       _normalize_sequence)

__all__ = ["FusedRNNCell", "FusedRNN"]

_GATES = {"rnn_relu": ("",), "rnn_tanh": ("",), "lstm": ("_i", "_f", "_c", "_o"),
          "gru": ("_r", "_z", "_o")}


def _check_mode(mode, owner: str) -> str:
    if mode not in _GATES:
        raise MXNetError(f"{owner}: mode={mode!r}: expected one of 'rnn_relu', 'rnn_tanh', "
                         f"'lstm', 'gru'")
    return mode


def _check_layers(num_layers, owner: str) -> int:
    if not isinstance(num_layers, numbers.Integral) or isinstance(num_layers, bool) \
            or num_layers < 1:
        raise MXNetError(f"{owner}: num_layers={num_layers!r}: expected a positive integer")
    return int(num_layers)


def _slices(prefix: str, mode: str, num_layers: int, directions, num_input: int, h: int):
    """(name, shape) of every piece of the flat parameter vector, in its order: each layer's
    and direction's per-gate i2h then h2h weights, then the biases in the same order."""
    gates = _GATES[mode]
    b = len(directions)
    pieces = []
    for layer in range(num_layers):
        width = num_input if layer == 0 else b * h
        for d in directions:
            pieces += [(f"{prefix}{d}{layer}_i2h{g}_weight", (h, width)) for g in gates]
            pieces += [(f"{prefix}{d}{layer}_h2h{g}_weight", (h, h)) for g in gates]
    for layer in range(num_layers):
        for d in directions:
            pieces += [(f"{prefix}{d}{layer}_i2h{g}_bias", (h,)) for g in gates]
            pieces += [(f"{prefix}{d}{layer}_h2h{g}_bias", (h,)) for g in gates]
    return pieces


def _param_size(mode: str, num_layers: int, b: int, num_input: int, h: int) -> int:
    g = len(_GATES[mode]) * h
    return b * g * (num_input + h + 2) + (num_layers - 1) * b * g * (b * h + h + 2)


class FusedRNNCell(BaseRNNCell):
    """FusedRNNCell(num_hidden, num_layers=1, mode='lstm', bidirectional=False, dropout=0.,
    get_next_state=False, forget_bias=1.0, prefix=None, params=None)

    ``num_layers`` layers of ``mode`` ('rnn_relu', 'rnn_tanh', 'lstm', 'gru') with
    ``num_hidden`` units, run by one ``RNN`` operator over the whole sequence; with
    ``bidirectional`` each layer also runs backward in time and the outputs (2 * num_hidden
    wide) concatenate both directions. ``dropout`` drops out between layers in training.
    ``get_next_state`` makes ``unroll`` return the final states. The weights are one variable
    ``<prefix>parameters`` (initialized by ``mx.init.FusedRNN``, with ``forget_bias`` on the
    LSTM forget gates); ``prefix`` defaults to ``'<mode>_'``.

    It cannot be stepped; ``unfuse()`` gives the equivalent stack of steppable cells.
    """

    def __init__(self, num_hidden: int, num_layers: int = 1, mode: str = "lstm",
                 bidirectional: bool = False, dropout: float = 0.0, get_next_state: bool = False,
                 forget_bias: float = 1.0, prefix: str | None = None,
                 params: RNNParams | None = None):
        mode = _check_mode(mode, "FusedRNNCell")
        if prefix is None:
            prefix = f"{mode}_"
        super().__init__(prefix=prefix, params=params)
        self._num_hidden = _check_num_hidden(num_hidden, "FusedRNNCell")
        self._num_layers = _check_layers(num_layers, "FusedRNNCell")
        self._mode = mode
        self._bidirectional = bool(bidirectional)
        if not isinstance(dropout, numbers.Real) or isinstance(dropout, bool) \
                or not 0 <= dropout < 1:
            raise MXNetError(f"FusedRNNCell: dropout={dropout!r}: expected a probability in "
                             f"[0, 1)")
        self._dropout = float(dropout)
        self._get_next_state = bool(get_next_state)
        self._directions = ["l", "r"] if self._bidirectional else ["l"]
        self._forget_bias = forget_bias
        init = FusedRNN(None, self._num_hidden, self._num_layers, mode, self._bidirectional,
                        forget_bias)
        self._parameter = self.params.get("parameters", init=init)

    @property
    def state_info(self) -> list:
        b = len(self._directions)
        n = 2 if self._mode == "lstm" else 1
        return [{"shape": (b * self._num_layers, 0, self._num_hidden), "__layout__": "LNC"}
                for _ in range(n)]

    @property
    def _gate_names(self):
        return _GATES[self._mode]

    def _pieces(self, num_input: int, prefix: str | None = None):
        return _slices(self._prefix if prefix is None else prefix, self._mode, self._num_layers,
                       self._directions, num_input, self._num_hidden)

    def _num_input(self, size: int) -> int:
        """The input width that a parameter vector of ``size`` elements implies."""
        b, h, g = len(self._directions), self._num_hidden, len(self._gate_names)
        rest = (self._num_layers - 1) * b * g * h * (b * h + h + 2)
        num_input, extra = divmod(size - rest, b * g * h)
        num_input -= h + 2
        if extra or num_input < 1:
            raise MXNetError(f"FusedRNNCell {self._prefix!r}: a parameter vector of {size} "
                             f"elements fits no input width for {self._num_layers} layer(s) of "
                             f"{self._mode} with {h} hidden units")
        return num_input

    def unpack_weights(self, args: dict) -> dict:
        """unpack_weights(args): a copy of ``args`` with ``<prefix>parameters`` split into one
        array per layer, direction, gate and kind (``lstm_l0_i2h_i_weight`` (H, input),
        ``lstm_l0_h2h_i_weight`` (H, H), ``lstm_l0_i2h_i_bias`` (H,), …, ``lstm_r0_…`` for
        the backward direction)."""
        args = dict(args)
        arr = self._fused_param(args, self._parameter.name)
        flat = arr.asnumpy().reshape(-1)
        p = 0
        for name, shape in self._pieces(self._num_input(flat.size)):
            n = int(np.prod(shape))
            args[name] = ndarray.array(flat[p:p + n].reshape(shape), ctx=arr.context,
                                       dtype=arr.dtype)
            p += n
        return args

    def pack_weights(self, args: dict) -> dict:
        """pack_weights(args): the reverse of ``unpack_weights``: the per-gate arrays
        concatenated into ``<prefix>parameters``."""
        args = dict(args)
        first = f"{self._prefix}l0_i2h{self._gate_names[0]}_weight"
        if first not in args:
            raise KeyError(f"FusedRNNCell: no parameter {first!r} in args (has "
                           f"{', '.join(sorted(args)) or 'nothing'})")
        w0 = args[first]
        parts = []
        for name, shape in self._pieces(w0.shape[1]):
            value = self._fused_param(args, name)
            if tuple(value.shape) != shape:
                raise MXNetError(f"FusedRNNCell.pack_weights: {name} has shape "
                                 f"{tuple(value.shape)}: expected {shape}")
            parts.append(value.asnumpy().reshape(-1))
        args[self._parameter.name] = ndarray.array(np.concatenate(parts), ctx=w0.context,
                                                   dtype=w0.dtype)
        return args

    def __call__(self, inputs, states):
        raise MXNetError("FusedRNNCell cannot be stepped: use unroll, or unfuse() it into a "
                         "stack of cells that can")

    def unroll(self, length: int, inputs, begin_state: list | None = None,
               layout: str = "NTC", merge_outputs: bool | None = None) -> tuple:
        """unroll(length, inputs, begin_state=None, layout='NTC', merge_outputs=None)

        The fused layers over ``length`` steps: ``inputs`` is one Symbol ((batch, length, C)
        for 'NTC', (length, batch, C) for 'TNC', the operator's own layout and so the faster)
        or a list of per-step symbols. Returns ``(outputs, states)``: outputs merged or per
        step as ``merge_outputs`` says (None: one Symbol), states the final ``[h]`` / ``[h, c]``
        of shape (layers * directions, batch, num_hidden) with ``get_next_state``, else ``[]``.
        """
        self.reset()
        owner = "FusedRNNCell"
        length = _check_length(length, owner)
        inputs, axis = _normalize_sequence(length, inputs, layout, True, owner)
        if axis not in (0, 1) or len(layout) != 3:
            raise MXNetError(f"FusedRNNCell.unroll: layout={layout!r}: expected 'NTC' or 'TNC'")
        if axis == 1:
            inputs = symbol.transpose(inputs, axes=(1, 0, 2))
        if begin_state is None:
            begin_state = self.begin_state()
        n_states = len(self.state_info)
        if len(begin_state) != n_states:
            raise MXNetError(f"FusedRNNCell.unroll: begin_state has {len(begin_state)} states: "
                             f"expected {n_states} for mode {self._mode!r}")
        states = {"state": begin_state[0]}
        if self._mode == "lstm":
            states["state_cell"] = begin_state[1]
        rnn = symbol.RNN(data=inputs, parameters=self._parameter, state_size=self._num_hidden,
                         num_layers=self._num_layers, bidirectional=self._bidirectional,
                         p=self._dropout, state_outputs=self._get_next_state, mode=self._mode,
                         name=f"{self._prefix}rnn", **states)
        if self._get_next_state:
            outputs = rnn[0]
            next_states = [rnn[i] for i in range(1, n_states + 1)]
            for s in next_states:
                s._set_attr(__layout__="LNC")
        else:
            outputs, next_states = rnn, []
        if axis == 1:
            outputs = symbol.transpose(outputs, axes=(1, 0, 2))
        outputs, _ = _normalize_sequence(length, outputs, layout, merge_outputs, owner)
        return outputs, next_states

    def unfuse(self) -> SequentialRNNCell:
        """unfuse() -> SequentialRNNCell: the same network as a stack of RNNCell / LSTMCell /
        GRUCell (``<prefix>l<i>_``; in BidirectionalCells with ``<prefix>r<i>_`` when
        bidirectional), with DropoutCells between layers; ``pack_weights`` of this cell after
        ``unpack_weights`` of the stack (and the reverse) moves weights between the two."""
        h = self._num_hidden

        def make(cell_prefix):
            if self._mode == "rnn_relu":
                return RNNCell(h, activation="relu", prefix=cell_prefix)
            if self._mode == "rnn_tanh":
                return RNNCell(h, activation="tanh", prefix=cell_prefix)
            if self._mode == "lstm":
                return LSTMCell(h, prefix=cell_prefix, forget_bias=self._forget_bias)
            return GRUCell(h, prefix=cell_prefix)

        stack = SequentialRNNCell()
        for i in range(self._num_layers):
            if self._bidirectional:
                stack.add(BidirectionalCell(make(f"{self._prefix}l{i}_"),
                                            make(f"{self._prefix}r{i}_"),
                                            output_prefix=f"{self._prefix}bi_l{i}_"))
            else:
                stack.add(make(f"{self._prefix}l{i}_"))
            if self._dropout > 0 and i != self._num_layers - 1:
                stack.add(DropoutCell(self._dropout, prefix=f"{self._prefix}_dropout{i}_"))
        return stack


@initializer.register
class FusedRNN(Initializer):
    """FusedRNN(init, num_hidden, num_layers, mode, bidirectional=False, forget_bias=1.0)

    Initializes a FusedRNNCell's flat parameter vector piece by piece: every weight matrix
    with ``init`` (an Initializer, its JSON, or None for the initializer the module was given),
    the biases with 0, except the LSTM forget gates' biases (i2h and h2h, as MXNet does), set
    to ``forget_bias``.
    """

    def __init__(self, init, num_hidden: int, num_layers: int, mode: str,
                 bidirectional: bool = False, forget_bias: float = 1.0):
        if isinstance(init, str):
            init = initializer.create(init)
        if init is not None and not isinstance(init, Initializer):
            raise TypeError(f"FusedRNN: init={init!r}: expected an Initializer, its JSON, "
                            f"or None")
        super().__init__(init=init.dumps() if init is not None else None, num_hidden=num_hidden,
                         num_layers=num_layers, mode=mode, bidirectional=bidirectional,
                         forget_bias=forget_bias)
        self._init = init
        self._num_hidden = _check_num_hidden(num_hidden, "FusedRNN")
        self._num_layers = _check_layers(num_layers, "FusedRNN")
        self._mode = _check_mode(mode, "FusedRNN")
        self._bidirectional = bool(bidirectional)
        self._forget_bias = forget_bias

    def _init_weight(self, desc, arr):
        cell = FusedRNNCell(self._num_hidden, self._num_layers, self._mode, self._bidirectional,
                            forget_bias=self._forget_bias, prefix="")
        args = cell.unpack_weights({"parameters": arr})
        global_init = getattr(desc, "global_init", None)
        for name in list(args):
            piece = args[name]
            if self._mode == "lstm" and name.endswith("_f_bias"):
                piece[:] = self._forget_bias
            elif self._init is not None:
                self._init(InitDesc(name, global_init=global_init), piece)
            elif global_init is not None and global_init is not self:
                global_init(InitDesc(name, global_init=global_init), piece)
            elif name.endswith("bias"):
                piece[:] = 0.0
            else:
                raise MXNetError(f"FusedRNN({desc!r}): init=None and no other initializer to "
                                 f"fill {name!r}: pass init= or initialize through a "
                                 f"module's initializer")
        arr[:] = cell.pack_weights(args)["parameters"]
