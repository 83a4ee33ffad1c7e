"""``mx.sym._internal``: the operators whose names start with an underscore, as MXNet
generates them there (``mx.sym._internal._square_sum``, ``mx.sym._internal._plus_scalar``)."""
from .symbol import OP_FUNCTIONS

globals().update({k: v for k, v in OP_FUNCTIONS.items() if k.startswith("_")})
__all__ = sorted(k for k in OP_FUNCTIONS if k.startswith("_"))
