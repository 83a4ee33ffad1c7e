"""mx.sym.linalg: the operators registered as ``_linalg_<name>`` (``mx.sym.linalg.<name>``), as in MXNet."""
from ..op_namespaces import fill
from .symbol import OP_FUNCTIONS

fill(globals(), OP_FUNCTIONS, "linalg")
