"""Recurrent cells (``mxnet.rnn``): a cell builds the symbol of one time step; ``unroll``
repeats it over a sequence with shared weights. Parameter and node names are MXNet's
(``lstm_i2h_weight``, ``lstm_t0_out``), so checkpoints of MXNet's cells load here.

``BaseRNNCell`` and ``RNNParams`` are the base of every cell, including the modifier cells
(``modifier_cells.py``) and the fused cell."""
from __future__ import annotations

import abc
import numbers

from .. import ndarray, symbol
from ..base import MXNetError
from ..initializer import LSTMBias
from ..symbol import Symbol

__all__ = ["RNNParams", "BaseRNNCell", "RNNCell", "LSTMCell", "GRUCell", "SequentialRNNCell",
           "DropoutCell", "BidirectionalCell"]


def _cells_state_info(cells) -> list:
    return sum([c.state_info for c in cells], [])


def _cells_begin_state(cells, **kwargs) -> list:
    return sum([c.begin_state(**kwargs) for c in cells], [])


def _cells_unpack_weights(cells, args: dict) -> dict:
    for cell in cells:
        args = cell.unpack_weights(args)
    return args


def _cells_pack_weights(cells, args: dict) -> dict:
    for cell in cells:
        args = cell.pack_weights(args)
    return args


def _check_length(length, owner: str) -> int:
    if not isinstance(length, numbers.Integral) or isinstance(length, bool) or length < 1:
        raise MXNetError(f"{owner}.unroll: length={length!r}: expected a positive integer")
    return int(length)


def _time_axis(layout, owner: str) -> int:
    if not isinstance(layout, str) or layout.count("T") != 1 or layout.count("N") != 1:
        raise MXNetError(f"{owner}.unroll: layout={layout!r}: expected a layout naming one time "
                         f"axis T and one batch axis N, such as 'NTC' or 'TNC'")
    return layout.find("T")


def _normalize_sequence(length, inputs, layout, merge, owner="BaseRNNCell"):
    """The sequence ``inputs`` (one Symbol with a time axis, or a list of per-step Symbols)
    as a list of ``length`` per-step symbols when ``merge`` is False, as one Symbol when it
    is True, and as given when it is None. Returns ``(inputs, time_axis)``."""
    if inputs is None:
        raise MXNetError(f"{owner}.unroll: inputs=None: expected a Symbol or a list of Symbols "
                         f"(unroll no longer creates input variables)")
    axis = _time_axis(layout, owner)
    if isinstance(inputs, Symbol):
        if merge is False:
            if len(inputs.list_outputs()) != 1:
                raise MXNetError(f"{owner}.unroll: inputs is a group of "
                                 f"{len(inputs.list_outputs())} outputs: expected one Symbol "
                                 f"(pass list(inputs) to give one symbol per step)")
            inputs = list(symbol.split(inputs, axis=axis, num_outputs=length, squeeze_axis=1))
    else:
        try:
            inputs = list(inputs)
        except TypeError:
            raise MXNetError(f"{owner}.unroll: inputs={inputs!r}: expected a Symbol or a list "
                             f"of Symbols") from None
        if any(not isinstance(s, Symbol) for s in inputs):
            raise MXNetError(f"{owner}.unroll: inputs: expected a list of Symbols, got "
                             f"{[type(s).__name__ for s in inputs]}")
        if length is not None and len(inputs) != length:
            raise MXNetError(f"{owner}.unroll: inputs has {len(inputs)} steps: expected "
                             f"length={length}")
        if merge is True:
            inputs = symbol.Concat(*[symbol.expand_dims(s, axis=axis) for s in inputs],
                                   dim=axis)
    return inputs, axis


class RNNParams:
    """RNNParams(prefix='')

    The variables of one or more cells, created on first use and shared afterwards: two cells
    given the same RNNParams use the same weights. Every name is prefixed with ``prefix``.
    """

    def __init__(self, prefix: str = ""):
        if not isinstance(prefix, str):
            raise TypeError(f"RNNParams: prefix={prefix!r}: expected a string")
        self._prefix = prefix
        self._params: dict[str, Symbol] = {}

    def get(self, name: str, **kwargs) -> Symbol:
        """get(name, **kwargs): the variable ``prefix + name``, created with
        ``mx.sym.Variable(prefix + name, **kwargs)`` if it does not exist yet."""
        name = self._prefix + name
        if name not in self._params:
            self._params[name] = symbol.Variable(name, **kwargs)
        return self._params[name]


class BaseRNNCell(abc.ABC):
    """BaseRNNCell(prefix='', params=None)

    The base of recurrent cells. A subclass defines ``state_info`` (the shape and layout of
    each state, 0 for the batch size) and ``__call__(inputs, states) -> (output, states)``
    building one step; ``unroll`` then builds a whole sequence. ``prefix`` starts the names
    of the cell's nodes and (when ``params`` is None) of its weights; ``params``, an
    RNNParams, shares weights with other cells.

    Example::

        cell = mx.rnn.LSTMCell(num_hidden=100, prefix='lstm_')
        outputs, states = cell.unroll(35, inputs=embedded, merge_outputs=True)
    """

    def __init__(self, prefix: str = "", params: RNNParams | None = None):
        if not isinstance(prefix, str):
            raise TypeError(f"{type(self).__name__}: prefix={prefix!r}: expected a string")
        if params is None:
            params = RNNParams(prefix)
            self._own_params = True
        elif not isinstance(params, RNNParams):
            raise TypeError(f"{type(self).__name__}: params={params!r}: expected an RNNParams "
                            f"or None")
        else:
            self._own_params = False
        self._prefix = prefix
        self._params = params
        self._modified = False
        self.reset()

    def reset(self) -> None:
        """Restarts the step and begin-state counters (``t0`` again), for another graph."""
        self._init_counter = -1
        self._counter = -1
        for cell in getattr(self, "_cells", ()):
            cell.reset()

    @abc.abstractmethod
    def __call__(self, inputs: Symbol, states: list) -> tuple:
        """One time step: ``inputs`` (batch, features) and the states from the previous step
        (or ``begin_state()``) give ``(output, next_states)``."""

    @property
    def params(self) -> RNNParams:
        """The RNNParams holding this cell's weights (after reading it, the cell no longer
        counts as owning them: a container given it cannot take them over)."""
        self._own_params = False
        return self._params

    @property
    @abc.abstractmethod
    def state_info(self) -> list:
        """One dict per state: ``{'shape': (0, num_hidden), '__layout__': 'NC'}``."""

    @property
    def state_shape(self) -> list:
        """The shape of each state (0 for the batch size)."""
        return [info["shape"] for info in self.state_info]

    @property
    def _gate_names(self):
        return ()

    def _check_unmodified(self) -> None:
        if self._modified:
            raise MXNetError(f"{type(self).__name__} {self._prefix!r} is wrapped by a modifier "
                             f"cell (DropoutCell, ZoneoutCell, ResidualCell): call the modifier "
                             f"cell instead")

    def begin_state(self, func=symbol.zeros, **kwargs) -> list:
        """begin_state(func=mx.sym.zeros, **kwargs): the states of the first step, one
        ``func(name='<prefix>begin_state_<i>', shape=..., __layout__=..., **kwargs)`` each.
        ``func=mx.sym.Variable`` makes them inputs to feed."""
        self._check_unmodified()
        if not callable(func):
            raise TypeError(f"{type(self).__name__}.begin_state: func={func!r}: expected a "
                            f"callable such as mx.sym.zeros or mx.sym.Variable")
        states = []
        for info in self.state_info:
            self._init_counter += 1
            if info is not None:
                kwargs.update(info)
            states.append(func(name=f"{self._prefix}begin_state_{self._init_counter}",
                               **kwargs))
        return states

    def _fused_param(self, args: dict, name: str):
        if name not in args:
            raise KeyError(f"{type(self).__name__}: no parameter {name!r} in args (has "
                           f"{', '.join(sorted(args)) or 'nothing'})")
        return args.pop(name)

    def unpack_weights(self, args: dict) -> dict:
        """unpack_weights(args): a copy of ``args`` (name -> NDArray) with this cell's fused
        ``i2h``/``h2h`` weights and biases split into one per gate
        (``lstm_i2h_weight`` -> ``lstm_i2h_i_weight``, ``_f_``, ``_c_``, ``_o_``)."""
        args = dict(args)
        if not self._gate_names:
            return args
        h = self._num_hidden
        for group in ("i2h", "h2h"):
            weight = self._fused_param(args, f"{self._prefix}{group}_weight")
            bias = self._fused_param(args, f"{self._prefix}{group}_bias")
            for j, gate in enumerate(self._gate_names):
                args[f"{self._prefix}{group}{gate}_weight"] = weight[j * h:(j + 1) * h].copy()
                args[f"{self._prefix}{group}{gate}_bias"] = bias[j * h:(j + 1) * h].copy()
        return args

    def pack_weights(self, args: dict) -> dict:
        """pack_weights(args): the reverse of ``unpack_weights``: per-gate weights and biases
        concatenated into this cell's ``i2h``/``h2h`` parameters."""
        args = dict(args)
        if not self._gate_names:
            return args
        for group in ("i2h", "h2h"):
            weights = [self._fused_param(args, f"{self._prefix}{group}{gate}_weight")
                       for gate in self._gate_names]
            biases = [self._fused_param(args, f"{self._prefix}{group}{gate}_bias")
                      for gate in self._gate_names]
            args[f"{self._prefix}{group}_weight"] = ndarray.concat(*weights, dim=0)
            args[f"{self._prefix}{group}_bias"] = ndarray.concat(*biases, dim=0)
        return args

    def unroll(self, length: int, inputs, begin_state: list | None = None,
               layout: str = "NTC", merge_outputs: bool | None = None) -> tuple:
        """unroll(length, inputs, begin_state=None, layout='NTC', merge_outputs=None)

        The cell over ``length`` steps. ``inputs`` is one Symbol of shape (batch, length, ...)
        for layout 'NTC' or (length, batch, ...) for 'TNC', or a list of ``length`` symbols
        of shape (batch, ...). ``begin_state`` defaults to ``begin_state()``. Returns
        ``(outputs, states)``: outputs as one Symbol in ``layout`` when ``merge_outputs`` is
        True, else as a list of per-step symbols; states as ``begin_state`` is structured.
        """
        self.reset()
        owner = type(self).__name__
        length = _check_length(length, owner)
        inputs, _ = _normalize_sequence(length, inputs, layout, False, owner)
        if begin_state is None:
            begin_state = self.begin_state()
        states = begin_state
        outputs = []
        for i in range(length):
            output, states = self(inputs[i], states)
            outputs.append(output)
        outputs, _ = _normalize_sequence(length, outputs, layout, merge_outputs, owner)
        return outputs, states

    def _get_activation(self, inputs, activation, **kwargs):
        if isinstance(activation, str):
            return symbol.Activation(inputs, act_type=activation, **kwargs)
        return activation(inputs, **kwargs)


def _check_num_hidden(num_hidden, owner: str) -> int:
    if not isinstance(num_hidden, numbers.Integral) or isinstance(num_hidden, bool) \
            or num_hidden < 1:
        raise MXNetError(f"{owner}: num_hidden={num_hidden!r}: expected a positive integer")
    return int(num_hidden)


def _hidden_state(num_hidden: int) -> dict:
    """The state_info entry of a (batch, num_hidden) state."""
    return {"shape": (0, num_hidden), "__layout__": "NC"}


def _dense_gate_params(cell: BaseRNNCell) -> None:
    """A plain or GRU cell's i2h and h2h weights and biases, as its params name them."""
    cell._iW = cell.params.get("i2h_weight")
    cell._iB = cell.params.get("i2h_bias")
    cell._hW = cell.params.get("h2h_weight")
    cell._hB = cell.params.get("h2h_bias")


class RNNCell(BaseRNNCell):
    """RNNCell(num_hidden, activation='tanh', prefix='rnn_', params=None)

    The simple recurrent cell: ``h' = activation(W_i x + b_i + W_h h + b_h)``, with
    ``activation`` an Activation act_type ('tanh', 'relu', ...) or a function of a symbol.
    """

    def __init__(self, num_hidden: int, activation="tanh", prefix: str = "rnn_",
                 params: RNNParams | None = None):
        super().__init__(prefix=prefix, params=params)
        self._num_hidden = _check_num_hidden(num_hidden, "RNNCell")
        if not (isinstance(activation, str) or callable(activation)):
            raise TypeError(f"RNNCell: activation={activation!r}: expected an act_type string "
                            f"or a function of a Symbol")
        self._activation = activation
        _dense_gate_params(self)

    @property
    def state_info(self) -> list:
        return [_hidden_state(self._num_hidden)]

    @property
    def _gate_names(self):
        return ("",)

    def __call__(self, inputs, states):
        self._counter += 1
        name = f"{self._prefix}t{self._counter}_"
        i2h = symbol.FullyConnected(data=inputs, weight=self._iW, bias=self._iB,
                                    num_hidden=self._num_hidden, name=f"{name}i2h")
        h2h = symbol.FullyConnected(data=states[0], weight=self._hW, bias=self._hB,
                                    num_hidden=self._num_hidden, name=f"{name}h2h")
        output = self._get_activation(i2h + h2h, self._activation, name=f"{name}out")
        return output, [output]


class LSTMCell(BaseRNNCell):
    """LSTMCell(num_hidden, prefix='lstm_', params=None, forget_bias=1.0)

    Long short-term memory. The fused weights hold the gates in the order input, forget,
    cell, output; states are ``[h, c]``. ``forget_bias`` initializes the forget gate's part of
    ``i2h_bias`` (through mx.init.LSTMBias), as Jozefowicz et al. 2015 recommend.
    """

    def __init__(self, num_hidden: int, prefix: str = "lstm_", params: RNNParams | None = None,
                 forget_bias: float = 1.0):
        super().__init__(prefix=prefix, params=params)
        self._num_hidden = _check_num_hidden(num_hidden, "LSTMCell")
        if not isinstance(forget_bias, numbers.Real) or isinstance(forget_bias, bool):
            raise MXNetError(f"LSTMCell: forget_bias={forget_bias!r}: expected a number")
        self._iW = self.params.get("i2h_weight")
        self._hW = self.params.get("h2h_weight")
        self._iB = self.params.get("i2h_bias", init=LSTMBias(forget_bias=forget_bias))
        self._hB = self.params.get("h2h_bias")

    @property
    def state_info(self) -> list:
        return [_hidden_state(self._num_hidden), _hidden_state(self._num_hidden)]

    @property
    def _gate_names(self):
        return ("_i", "_f", "_c", "_o")

    def __call__(self, inputs, states):
        self._counter += 1
        name = f"{self._prefix}t{self._counter}_"
        i2h = symbol.FullyConnected(data=inputs, weight=self._iW, bias=self._iB,
                                    num_hidden=self._num_hidden * 4, name=f"{name}i2h")
        h2h = symbol.FullyConnected(data=states[0], weight=self._hW, bias=self._hB,
                                    num_hidden=self._num_hidden * 4, name=f"{name}h2h")
        gates = symbol.SliceChannel(i2h + h2h, num_outputs=4, name=f"{name}slice")
        in_gate = symbol.Activation(gates[0], act_type="sigmoid", name=f"{name}i")
        forget_gate = symbol.Activation(gates[1], act_type="sigmoid", name=f"{name}f")
        in_transform = symbol.Activation(gates[2], act_type="tanh", name=f"{name}c")
        out_gate = symbol.Activation(gates[3], act_type="sigmoid", name=f"{name}o")
        next_c = symbol._plus(forget_gate * states[1], in_gate * in_transform,
                              name=f"{name}state")
        next_h = symbol._mul(out_gate, symbol.Activation(next_c, act_type="tanh"),
                             name=f"{name}out")
        return next_h, [next_h, next_c]


class GRUCell(BaseRNNCell):
    """GRUCell(num_hidden, prefix='gru_', params=None)

    Gated recurrent unit in cuDNN's form: the reset gate scales the recurrent part after its
    matrix product, ``h~ = tanh(W_i x + b_i + r * (W_h h + b_h))``, ``h' = (1 - z) h~ + z h``.
    Fused weights hold the gates in the order reset, update, candidate.
    """

    def __init__(self, num_hidden: int, prefix: str = "gru_", params: RNNParams | None = None):
        super().__init__(prefix=prefix, params=params)
        self._num_hidden = _check_num_hidden(num_hidden, "GRUCell")
        _dense_gate_params(self)

    @property
    def state_info(self) -> list:
        return [_hidden_state(self._num_hidden)]

    @property
    def _gate_names(self):
        return ("_r", "_z", "_o")

    def __call__(self, inputs, states):
        self._counter += 1
        # MXNet's node names have a doubled underscore here (gru_t0__i2h); kept for its graphs.
        name = f"{self._prefix}t{self._counter}_"
        prev_h = states[0]
        i2h = symbol.FullyConnected(data=inputs, weight=self._iW, bias=self._iB,
                                    num_hidden=self._num_hidden * 3, name=f"{name}_i2h")
        h2h = symbol.FullyConnected(data=prev_h, weight=self._hW, bias=self._hB,
                                    num_hidden=self._num_hidden * 3, name=f"{name}_h2h")
        i2h_r, i2h_z, i2h = symbol.SliceChannel(i2h, num_outputs=3, name=f"{name}_i2h_slice")
        h2h_r, h2h_z, h2h = symbol.SliceChannel(h2h, num_outputs=3, name=f"{name}_h2h_slice")
        reset_gate = symbol.Activation(i2h_r + h2h_r, act_type="sigmoid", name=f"{name}_r_act")
        update_gate = symbol.Activation(i2h_z + h2h_z, act_type="sigmoid", name=f"{name}_z_act")
        next_h_tmp = symbol.Activation(i2h + reset_gate * h2h, act_type="tanh",
                                       name=f"{name}_h_act")
        next_h = symbol._plus((1.0 - update_gate) * next_h_tmp, update_gate * prev_h,
                              name=f"{name}out")
        return next_h, [next_h]


def _check_cell(cell, owner: str, arg: str) -> None:
    if not isinstance(cell, BaseRNNCell):
        raise TypeError(f"{owner}: {arg}={cell!r}: expected an RNN cell (a BaseRNNCell)")


class SequentialRNNCell(BaseRNNCell):
    """SequentialRNNCell(params=None)

    Cells stacked with ``add``: each step's output of one cell is the next cell's input;
    the states are the cells' states in order. ``params``, when given, is shared by every
    added cell (which must not have been given their own).
    """

    def __init__(self, params: RNNParams | None = None):
        super().__init__(prefix="", params=params)
        self._override_cell_params = params is not None
        self._cells: list[BaseRNNCell] = []

    def add(self, cell: BaseRNNCell) -> None:
        """Appends ``cell`` to the stack."""
        _check_cell(cell, "SequentialRNNCell.add", "cell")
        if self._override_cell_params:
            if not cell._own_params:
                raise MXNetError("SequentialRNNCell.add: the cell has its own params and so "
                                 "does the SequentialRNNCell: give params to one of them")
            cell.params._params.update(self.params._params)
        self._cells.append(cell)
        self.params._params.update(cell.params._params)

    @property
    def state_info(self) -> list:
        return _cells_state_info(self._cells)

    def begin_state(self, **kwargs) -> list:
        """begin_state(func=mx.sym.zeros, **kwargs): every cell's begin states, in order."""
        self._check_unmodified()
        return _cells_begin_state(self._cells, **kwargs)

    def unpack_weights(self, args: dict) -> dict:
        return _cells_unpack_weights(self._cells, args)

    def pack_weights(self, args: dict) -> dict:
        return _cells_pack_weights(self._cells, args)

    def __call__(self, inputs, states):
        self._counter += 1
        next_states = []
        p = 0
        for cell in self._cells:
            if isinstance(cell, BidirectionalCell):
                raise MXNetError("SequentialRNNCell: a stack holding a BidirectionalCell "
                                 "cannot be stepped: use unroll")
            n = len(cell.state_info)
            inputs, state = cell(inputs, states[p:p + n])
            p += n
            next_states.extend(state)
        return inputs, next_states

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        self.reset()
        if begin_state is None:
            begin_state = self.begin_state()
        p = 0
        next_states = []
        last = len(self._cells) - 1
        for i, cell in enumerate(self._cells):
            n = len(cell.state_info)
            inputs, states = cell.unroll(length, inputs=inputs, begin_state=begin_state[p:p + n],
                                         layout=layout,
                                         merge_outputs=None if i < last else merge_outputs)
            p += n
            next_states.extend(states)
        return inputs, next_states


class DropoutCell(BaseRNNCell):
    """DropoutCell(dropout, prefix='dropout_', params=None)

    Dropout with probability ``dropout`` on each step's input; no state. Stacked between
    cells of a SequentialRNNCell it drops out between layers.
    """

    def __init__(self, dropout: float, prefix: str = "dropout_", params: RNNParams | None = None):
        super().__init__(prefix, params)
        if not isinstance(dropout, numbers.Real) or isinstance(dropout, bool) \
                or not 0 <= dropout < 1:
            raise MXNetError(f"DropoutCell: dropout={dropout!r}: expected a probability in "
                             f"[0, 1)")
        self.dropout = dropout

    @property
    def state_info(self) -> list:
        return []

    def __call__(self, inputs, states):
        if self.dropout > 0:
            inputs = symbol.Dropout(data=inputs, p=self.dropout)
        return inputs, states

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        self.reset()
        length = _check_length(length, "DropoutCell")
        inputs, _ = _normalize_sequence(length, inputs, layout, merge_outputs, "DropoutCell")
        if isinstance(inputs, Symbol):
            # One Dropout over the whole sequence draws the same distribution as one a step.
            return self(inputs, [])
        return super().unroll(length, inputs, begin_state=begin_state, layout=layout,
                              merge_outputs=merge_outputs)


class BidirectionalCell(BaseRNNCell):
    """BidirectionalCell(l_cell, r_cell, params=None, output_prefix='bi_')

    ``l_cell`` runs forward over the sequence and ``r_cell`` backward; each step's output is
    the two concatenated on the feature axis (``bi_t<i>``, or ``bi_out`` merged). States are
    ``[l_cell's states, r_cell's states]``. It cannot be stepped, only unrolled.
    """

    def __init__(self, l_cell: BaseRNNCell, r_cell: BaseRNNCell,
                 params: RNNParams | None = None, output_prefix: str = "bi_"):
        super().__init__("", params=params)
        _check_cell(l_cell, "BidirectionalCell", "l_cell")
        _check_cell(r_cell, "BidirectionalCell", "r_cell")
        self._output_prefix = output_prefix
        self._override_cell_params = params is not None
        if self._override_cell_params:
            if not (l_cell._own_params and r_cell._own_params):
                raise MXNetError("BidirectionalCell: a child cell has its own params and so "
                                 "does the BidirectionalCell: give params to one of them")
            l_cell.params._params.update(self.params._params)
            r_cell.params._params.update(self.params._params)
        self.params._params.update(l_cell.params._params)
        self.params._params.update(r_cell.params._params)
        self._cells = [l_cell, r_cell]

    def unpack_weights(self, args: dict) -> dict:
        return _cells_unpack_weights(self._cells, args)

    def pack_weights(self, args: dict) -> dict:
        return _cells_pack_weights(self._cells, args)

    def __call__(self, inputs, states):
        raise MXNetError("BidirectionalCell cannot be stepped (its backward half needs the "
                         "whole sequence): use unroll")

    @property
    def state_info(self) -> list:
        return _cells_state_info(self._cells)

    def begin_state(self, **kwargs) -> list:
        """begin_state(func=mx.sym.zeros, **kwargs): l_cell's begin states, then r_cell's."""
        self._check_unmodified()
        return _cells_begin_state(self._cells, **kwargs)

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        self.reset()
        length = _check_length(length, "BidirectionalCell")
        inputs, axis = _normalize_sequence(length, inputs, layout, False, "BidirectionalCell")
        if begin_state is None:
            begin_state = self.begin_state()
        l_cell, r_cell = self._cells
        n_left = len(l_cell.state_info)
        l_outputs, l_states = l_cell.unroll(length, inputs=inputs,
                                            begin_state=begin_state[:n_left],
                                            layout=layout, merge_outputs=merge_outputs)
        r_outputs, r_states = r_cell.unroll(length, inputs=list(reversed(inputs)),
                                            begin_state=begin_state[n_left:],
                                            layout=layout, merge_outputs=merge_outputs)
        if merge_outputs is None:
            merge_outputs = isinstance(l_outputs, Symbol) and isinstance(r_outputs, Symbol)
            if not merge_outputs:
                if isinstance(l_outputs, Symbol):
                    l_outputs = list(symbol.SliceChannel(l_outputs, axis=axis,
                                                         num_outputs=length, squeeze_axis=1))
                if isinstance(r_outputs, Symbol):
                    r_outputs = list(symbol.SliceChannel(r_outputs, axis=axis,
                                                         num_outputs=length, squeeze_axis=1))
        if merge_outputs:
            outputs = symbol.Concat(l_outputs, symbol.reverse(r_outputs, axis=axis), dim=2,
                                    name=f"{self._output_prefix}out")
        else:
            outputs = [symbol.Concat(l_o, r_o, dim=1, name=f"{self._output_prefix}t{i}")
                       for i, (l_o, r_o) in enumerate(zip(l_outputs, reversed(r_outputs)))]
        return outputs, [l_states, r_states]
