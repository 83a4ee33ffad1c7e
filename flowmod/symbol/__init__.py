"""flowmod.symbol: symbolic graphs (``mxnet.symbol``). Every registered operator is a
function here (``FullyConnected(data=x, num_hidden=10, name='fc1')``)."""
from ..attribute import AttrScope
from ..name import NameManager, Prefix
from .symbol import (OP_FUNCTIONS, Group, Symbol, Variable, histogram, hypot, load, load_json,
                     maximum, minimum, pow, power, split_v2, var)

# mx.sym.<operator> for every registered native operator, as MXNet generates them.
globals().update(OP_FUNCTIONS)
from .custom import Custom  # noqa: E402  (inputs named by the Python operator, not a schema)
OP_FUNCTIONS["Custom"] = Custom
from . import contrib, linalg  # noqa: E402  (mx.sym.contrib.X for _contrib_X, ...)
from . import random  # noqa: E402  (mx.sym.random.uniform, ...)
from . import _internal  # noqa: E402  (mx.sym._internal._square_sum, ...)
from . import sparse  # noqa: E402  (mx.sym.sparse.dot, ...)
# After the operators: mx.sym.zeros is this function even if an operator shares its name.
from .fill import arange, eye, full, linspace, ones, zeros  # noqa: E402

__all__ = ["Symbol", "Variable", "var", "Group", "load", "load_json", "AttrScope",
           "NameManager", "Prefix", "maximum", "minimum", "power", "pow", "zeros",
           "ones", "full", "arange", "linspace", "eye", "hypot", "split_v2", "histogram"] + sorted(OP_FUNCTIONS)
