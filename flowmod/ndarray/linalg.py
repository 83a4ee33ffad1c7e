"""mx.nd.linalg: the operators registered as ``_linalg_<name>`` (``mx.nd.linalg.<name>``), as in MXNet."""
from ..op_namespaces import fill
from .ops import OP_FUNCTIONS

fill(globals(), OP_FUNCTIONS, "linalg")
