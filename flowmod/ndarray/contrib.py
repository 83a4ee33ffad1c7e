"""mx.nd.contrib: the operators registered as ``_contrib_<name>`` (``mx.nd.contrib.<name>``), as in MXNet."""
import numpy as np

from ..base import MXNetError
from ..op_namespaces import fill
from .ndarray import NDArray
from .ops import OP_FUNCTIONS, invoke

fill(globals(), OP_FUNCTIONS, "contrib")

_BOOLEAN_MASK = OP_FUNCTIONS["_contrib_boolean_mask"]
# The operators whose NDArray function here is a Python front end over the native one.
WRAPPED = frozenset({"boolean_mask"})


def boolean_mask(data=None, index=None, axis=0, out=None, name=None, **kwargs):
    """boolean_mask(data=None, index=None, axis=_Null, out=None, name=None, **kwargs)

    The rows of ``data`` whose entry in the 1-d ``index`` is non-zero, in order::

        >>> mx.nd.contrib.boolean_mask(mx.nd.array([[1, 2], [3, 4], [5, 6]]), mx.nd.array([0, 1, 1]))
        [[3. 4.]
         [5. 6.]]

    The output's first dimension is the number of non-zero entries of ``index``, so this
    waits for ``index`` to be computed before it pushes the selection (as MXNet, whose
    boolean_mask runs only on NDArrays: in a Symbol graph its output's shape is unknown)."""
    for arg, value in (("data", data), ("index", index)):
        if not isinstance(value, NDArray):
            raise MXNetError(f"_contrib_boolean_mask: {arg}={value!r}: expected an NDArray")
    if kwargs:
        key = next(iter(kwargs))
        raise MXNetError(f"_contrib_boolean_mask: {key}={kwargs[key]!r}: expected an attribute of "
                         f"_contrib_boolean_mask: 'axis'")
    if index.ndim != 1:
        raise MXNetError(f"_contrib_boolean_mask: index=an array of shape {index.shape}: expected a "
                         f"1-d array")
    count = int(np.count_nonzero(index.asnumpy()))
    return invoke("_contrib_boolean_mask", [data, index], out=out, axis=axis, __num_selected__=count)


boolean_mask.__signature__ = _BOOLEAN_MASK.__signature__
globals()["__all__"] = sorted(set(globals()["__all__"]) | {"boolean_mask"})

from .contrib_functions import (adamw_update, isfinite, isinf, isnan, mp_adamw_update,  # noqa: E402
                                multi_adamw_update, multi_lamb_update, multi_mp_adamw_update,
                                multi_mp_lamb_update, rand_zipfian, uniform)
from . import contrib_functions as _functions  # noqa: E402

# The functions written in Python here, beside the registered operators.
PYTHON_FUNCTIONS = frozenset(_functions.__all__)
globals()["__all__"] = sorted(set(globals()["__all__"]) | PYTHON_FUNCTIONS)
