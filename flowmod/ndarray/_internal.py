"""``mx.nd._internal``: the operators whose names start with an underscore, as MXNet
generates them there (``mx.nd._internal._plus_scalar``), and ``_square_sum``."""
from .ops import OP_FUNCTIONS
from .sparse_ops import square_sum

globals().update({k: v for k, v in OP_FUNCTIONS.items() if k.startswith("_")})
_square_sum = square_sum  # noqa: F811  (the storage-aware function, not the bare operator)
__all__ = sorted({"_square_sum"} | {k for k in OP_FUNCTIONS if k.startswith("_")})
