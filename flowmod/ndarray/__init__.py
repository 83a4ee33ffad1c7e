"""flowmod.nd: arrays on the engine and the operators on them (``mxnet.ndarray``)."""
from .ndarray import NDArray, arange, array, empty, full, infer_reshape, ones, waitall, zeros
from .utils import load, load_frombuffer, save
from .ops import (OP_FUNCTIONS, add, divide, equal, greater, greater_equal, histogram, invoke,
                  lesser, lesser_equal, logical_and, logical_or, logical_xor, maximum, minimum,
                  modulo, multiply, not_equal, power, split_v2, subtract)

# mx.nd.<operator> for every registered native operator, as MXNet generates them.
globals().update(OP_FUNCTIONS)
from .custom import Custom  # noqa: E402  (inputs named by the Python operator, not a schema)
OP_FUNCTIONS["Custom"] = Custom
from . import contrib, linalg  # noqa: E402  (mx.nd.contrib.X for _contrib_X, ...)
from . import random  # noqa: E402  (mx.nd.random.uniform, ...)
from .creation import eye, linspace  # noqa: E402
from . import sparse_ops as _sparse_ops  # noqa: E402
from . import ops as _ops  # noqa: E402
from .sparse import BaseSparseNDArray, CSRNDArray, RowSparseNDArray  # noqa: E402
from . import sparse  # noqa: E402  (mx.nd.sparse)

_ops.SPARSE_DISPATCH = _sparse_ops.dispatch
cast_storage = _sparse_ops.cast_storage
from . import _internal  # noqa: E402  (mx.nd._internal._square_sum, ...)
OP_FUNCTIONS["cast_storage"] = cast_storage
# mx.nd.sparse.<op>: every operator (each dispatches on storage types), MXNet's _sparse_X as
# X, and the functions with sparse semantics of their own.
sparse.__dict__.update({k: v for k, v in OP_FUNCTIONS.items()
                        if not k.startswith("_") and k not in sparse.__dict__})
sparse.__dict__.update(dot=_sparse_ops.dot, retain=_sparse_ops.retain,
                       cast_storage=cast_storage, square_sum=_sparse_ops.square_sum,
                       adagrad_update=OP_FUNCTIONS["_sparse_adagrad_update"],
                       add=add, subtract=subtract, multiply=multiply, divide=divide)

__all__ = ["NDArray", "arange", "array", "empty", "full", "infer_reshape", "ones",
           "waitall", "zeros", "invoke", "add", "subtract",
           "multiply", "divide", "power", "maximum", "minimum", "equal", "not_equal",
           "greater", "greater_equal", "lesser", "lesser_equal", "save", "load",
           "load_frombuffer", "modulo", "logical_and", "logical_or", "logical_xor", "eye",
           "linspace", "split_v2", "histogram", "sparse", "cast_storage", "CSRNDArray",
           "RowSparseNDArray", "BaseSparseNDArray"] + sorted(OP_FUNCTIONS)
