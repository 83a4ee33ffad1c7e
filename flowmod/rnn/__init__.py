"""flowmod.rnn: recurrent cells and bucketed sentence data (``mxnet.rnn``)."""
from . import io
from .fused_rnn_cell import FusedRNN, FusedRNNCell
from .io import BucketSentenceIter, encode_sentences
from .modifier_cells import ModifierCell, ResidualCell, ZoneoutCell
from .rnn_cell import (BaseRNNCell, BidirectionalCell, DropoutCell, GRUCell, LSTMCell,
                       RNNCell, RNNParams, SequentialRNNCell)

__all__ = ["RNNParams", "BaseRNNCell", "RNNCell", "LSTMCell", "GRUCell", "SequentialRNNCell",
           "DropoutCell", "BidirectionalCell", "ModifierCell", "ZoneoutCell", "ResidualCell",
           "BucketSentenceIter", "encode_sentences", "FusedRNNCell", "FusedRNN"]
