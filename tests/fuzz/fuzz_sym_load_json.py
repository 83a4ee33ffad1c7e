"""Fuzz target: ``mx.sym.load_json`` on arbitrary text. A document that loads must also
answer the graph queries, write itself back (``tojson``) to a document that loads to the
same JSON, and run shape inference to a result or an MXNetError."""
import _harness  # sets up the import path

with _harness.coverage():
    import flowmod as mx
from flowmod.base import MXNetError


def one_input(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    try:
        symbol = mx.sym.load_json(text)
    except MXNetError:
        return
    symbol.list_arguments()
    symbol.list_outputs()
    symbol.list_auxiliary_states()
    text = symbol.tojson()
    assert mx.sym.load_json(text).tojson() == text
    try:
        symbol.infer_shape_partial()
        symbol.infer_type()
    except MXNetError:
        pass


if __name__ == "__main__":
    _harness.main(one_input)
