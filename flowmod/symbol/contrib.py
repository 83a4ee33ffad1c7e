"""mx.sym.contrib: the operators registered as ``_contrib_<name>`` (``mx.sym.contrib.<name>``), as in MXNet."""
from ..op_namespaces import fill
from .symbol import OP_FUNCTIONS

fill(globals(), OP_FUNCTIONS, "contrib")
