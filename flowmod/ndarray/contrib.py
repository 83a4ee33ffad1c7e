"""mx.nd.contrib: the operators registered as ``_contrib_<name>`` (``mx.nd.contrib.<name>``), as in MXNet."""
from ..op_namespaces import fill
from .ops import OP_FUNCTIONS

fill(globals(), OP_FUNCTIONS, "contrib")
