"""Modifier cells (``mxnet.rnn``): a cell wrapping another to change what its steps compute
(zoneout on its outputs and states, a residual connection). The wrapped cell is then used
only through its modifier."""
from __future__ import annotations

import numbers

from .. import symbol
from ..base import MXNetError
from ..symbol import Symbol
from .rnn_cell import (BaseRNNCell, BidirectionalCell, SequentialRNNCell, _check_cell,
                       _normalize_sequence)

__all__ = ["ModifierCell", "ZoneoutCell", "ResidualCell"]


class ModifierCell(BaseRNNCell):
    """ModifierCell(base_cell)

    The base of modifier cells: it shares ``base_cell``'s parameters and states and marks
    ``base_cell`` as modified, after which ``base_cell`` must be called through the modifier.
    A subclass defines ``__call__``.
    """

    def __init__(self, base_cell: BaseRNNCell):
        _check_cell(base_cell, type(self).__name__, "base_cell")
        super().__init__()
        base_cell._modified = True
        self.base_cell = base_cell

    def reset(self) -> None:
        super().reset()
        # The wrapped cell's step counter names its nodes: restart it with the modifier's.
        if hasattr(self, "base_cell"):
            self.base_cell.reset()

    @property
    def params(self):
        self._own_params = False
        return self.base_cell.params

    @property
    def state_info(self) -> list:
        return self.base_cell.state_info

    def begin_state(self, init_sym=symbol.zeros, **kwargs) -> list:
        """begin_state(init_sym=mx.sym.zeros, **kwargs): the wrapped cell's begin states.
        ``func=`` is accepted for ``init_sym``, as the other cells name it (a stack passes
        its ``func`` on to every cell)."""
        self._check_unmodified()
        if "func" in kwargs:
            init_sym = kwargs.pop("func")
        self.base_cell._modified = False
        try:
            return self.base_cell.begin_state(init_sym, **kwargs)
        finally:
            self.base_cell._modified = True

    def unpack_weights(self, args: dict) -> dict:
        return self.base_cell.unpack_weights(args)

    def pack_weights(self, args: dict) -> dict:
        return self.base_cell.pack_weights(args)


def _is_fused(cell) -> bool:
    try:
        from .fused_rnn_cell import FusedRNNCell
    except ImportError:
        return False
    return isinstance(cell, FusedRNNCell)


def _check_probability(value, owner: str, arg: str) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0 <= value < 1:
        raise MXNetError(f"{owner}: {arg}={value!r}: expected a probability in [0, 1)")
    return float(value)


class ZoneoutCell(ModifierCell):
    """ZoneoutCell(base_cell, zoneout_outputs=0., zoneout_states=0.)

    Zoneout (Krueger et al. 2016): in training, each element of the output (of the states)
    keeps its previous step's value with probability ``zoneout_outputs``
    (``zoneout_states``) instead of taking the new one. In inference the base cell's values
    pass unchanged. The previous output of the first step is zero.
    """

    def __init__(self, base_cell: BaseRNNCell, zoneout_outputs: float = 0.0,
                 zoneout_states: float = 0.0):
        if _is_fused(base_cell):
            raise MXNetError("ZoneoutCell: base_cell is a FusedRNNCell, which cannot be "
                             "stepped: unfuse() it first")
        if isinstance(base_cell, BidirectionalCell) or (
                isinstance(base_cell, SequentialRNNCell)
                and any(isinstance(c, BidirectionalCell) for c in base_cell._cells)):
            raise MXNetError("ZoneoutCell: base_cell is (or holds) a BidirectionalCell, which "
                             "cannot be stepped: wrap the cells underneath instead")
        self.zoneout_outputs = _check_probability(zoneout_outputs, "ZoneoutCell",
                                                  "zoneout_outputs")
        self.zoneout_states = _check_probability(zoneout_states, "ZoneoutCell",
                                                 "zoneout_states")
        super().__init__(base_cell)
        self.prev_output = None

    def reset(self) -> None:
        super().reset()
        self.prev_output = None

    def __call__(self, inputs, states):
        next_output, next_states = self.base_cell(inputs, states)

        def keep_new(p, like):
            # Dropout of ones is 0 where the previous value is kept, nonzero where the new
            # one is taken; outside training it is all ones.
            return symbol.Dropout(symbol.ones_like(like), p=p)

        prev_output = self.prev_output
        if prev_output is None:
            prev_output = symbol.zeros_like(next_output)
        output = next_output
        if self.zoneout_outputs != 0.0:
            output = symbol.where(keep_new(self.zoneout_outputs, next_output), next_output,
                                  prev_output)
        new_states = next_states
        if self.zoneout_states != 0.0:
            new_states = [symbol.where(keep_new(self.zoneout_states, new), new, old)
                          for new, old in zip(next_states, states)]
        self.prev_output = output
        return output, new_states


class ResidualCell(ModifierCell):
    """ResidualCell(base_cell)

    A residual connection (Wu et al. 2016): each step's output is the base cell's output
    plus the step's input (``<output name>_plus_residual``); they must have the same shape.
    """

    def __call__(self, inputs, states):
        output, states = self.base_cell(inputs, states)
        output = symbol.elemwise_add(output, inputs, name=f"{output.name}_plus_residual")
        return output, states

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        self.reset()
        self.base_cell._modified = False
        try:
            outputs, states = self.base_cell.unroll(length, inputs=inputs,
                                                    begin_state=begin_state, layout=layout,
                                                    merge_outputs=merge_outputs)
        finally:
            self.base_cell._modified = True
        if merge_outputs is None:
            merge_outputs = isinstance(outputs, Symbol)
        inputs, _ = _normalize_sequence(length, inputs, layout, merge_outputs, "ResidualCell")
        if merge_outputs:
            return symbol.elemwise_add(outputs, inputs,
                                       name=f"{outputs.name}_plus_residual"), states
        return [symbol.elemwise_add(o, i, name=f"{o.name}_plus_residual")
                for o, i in zip(outputs, inputs)], states
