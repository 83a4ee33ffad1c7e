"""``mx.sym.sparse``: the operators as MXNet's sparse namespace gives them
(``mx.sym.sparse.dot``, ``mx.sym.sparse.elemwise_add``, ...). A symbol carries no storage:
the executor decides each node's storage types at bind (``flowmod.executor_storage``), so
these are the same functions as ``mx.sym``'s."""
from .symbol import OP_FUNCTIONS

globals().update(OP_FUNCTIONS)
__all__ = sorted(OP_FUNCTIONS)
