"""flowmod.nd: arrays on the engine (``mxnet.ndarray``)."""
from .ndarray import (NDArray, arange, array, empty, full, infer_reshape, ones, ones_like,
                      waitall, zeros, zeros_like)

__all__ = ["NDArray", "arange", "array", "empty", "full", "infer_reshape", "ones",
           "ones_like", "waitall", "zeros", "zeros_like"]
