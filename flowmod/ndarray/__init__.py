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

__all__ = ["NDArray", "arange", "array", "empty", "full", "infer_reshape", "ones",
           "waitall", "zeros", "invoke", "add", "subtract",
           "multiply", "divide", "power", "maximum", "minimum", "equal", "not_equal",
           "greater", "greater_equal", "lesser", "lesser_equal", "save", "load",
           "load_frombuffer", "modulo", "logical_and", "logical_or", "logical_xor", "eye",
           "linspace", "split_v2", "histogram"] + sorted(OP_FUNCTIONS)
