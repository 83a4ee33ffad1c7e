"""MXNet 1.x's symbol JSON format: ``Symbol.tojson``/``save`` write it, ``load_json``/``load``
read it (also 0.x files, whose nodes have "param"/"attr" fields).

A document is an object::

    {"nodes": [{"op": "null" | operator, "name": str, "attrs": {str: str},
                "inputs": [[node id, output index, version], ...]}, ...],
     "arg_nodes": [...], "node_row_ptr": [...],        # written, not needed to read
     "heads": [[node id, output index, version], ...],
     "attrs": {"mxnet_version": ["int", 10901]}}

Nodes come in topological order: an input refers to an earlier node. The reader checks
everything it uses, so a malformed document raises MXNetError naming the node or head and
what is wrong, before any Symbol exists.
"""
from __future__ import annotations

import json

from ..base import MXNetError
from ..fileio import write_atomic

__all__ = ["to_json", "save", "load_json", "load"]

_MXNET_VERSION = 10901


def _json_object(d: dict, depth: int) -> str:
    # MXNet's writer puts an object with one entry on one line, larger ones one per line.
    items = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in sorted(d.items())]
    if len(items) == 1:
        return "{" + items[0] + "}"
    pad = "  " * (depth + 1)
    return "{\n" + ", \n".join(pad + it for it in items) + "\n" + "  " * depth + "}"


def to_json(symbol) -> str:
    """``symbol`` in MXNet 1.x's JSON format, laid out as MXNet 1.9 writes it."""
    nodes = symbol._nodes()
    index = {id(n): i for i, n in enumerate(nodes)}
    q = json.dumps
    node_texts = []
    row_ptr = [0]
    for node in nodes:
        fields = [f'"op": {q(node.op or "null")}', f'"name": {q(node.name)}']
        if node.attrs:
            fields.append('"attrs": ' + _json_object(node.attrs, 3))
        entries = ", ".join(f"[{index[id(s)]}, {i}, {v}]" for s, i, v in node.inputs)
        fields.append(f'"inputs": [{entries}]')
        node_texts.append("    {\n" + ", \n".join("      " + f for f in fields) + "\n    }")
        row_ptr.append(row_ptr[-1] + node.num_outputs())
    arg_nodes = [i for i, n in enumerate(nodes) if n.op is None]
    heads = ", ".join(f"[{index[id(n)]}, {i}, 0]" for n, i in symbol._outputs)
    return ("{\n  \"nodes\": [\n" + ", \n".join(node_texts) + "\n  ], \n"
            f"  \"arg_nodes\": [{', '.join(map(str, arg_nodes))}], \n"
            f"  \"node_row_ptr\": [{', '.join(map(str, row_ptr))}], \n"
            f"  \"heads\": [{heads}], \n"
            f"  \"attrs\": {{\"mxnet_version\": [\"int\", {_MXNET_VERSION}]}}\n}}")


def save(symbol, fname) -> None:
    """Writes ``to_json(symbol)`` to ``fname``, replacing it only once the new file is
    complete."""
    write_atomic(fname, lambda out: out.write(to_json(symbol)), binary=False)


# -- reading ------------------------------------------------------------------------------

def _bad(message: str) -> MXNetError:
    return MXNetError(f"load_json: {message}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _entry(value, where: str) -> tuple:
    """(node id, output index, version) of an input or head entry."""
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise _bad(f"{where} is {_short(value)}, expected [node id, output index] or "
                   f"[node id, output index, version]")
    if not all(_is_int(v) for v in value):
        raise _bad(f"{where} is {_short(value)}, expected integers")
    return value[0], value[1], value[2] if len(value) == 3 else 0


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _node_attrs(spec: dict, where: str) -> dict:
    from .symbol import _stored_key

    attrs = {}
    for field in ("param", "attrs", "attr"):
        fields = spec.get(field)
        if fields is None:
            continue
        if not isinstance(fields, dict):
            raise _bad(f"{where}: {field!r} is {_short(fields)}, expected an object of "
                       f"strings")
        for key, value in fields.items():
            if isinstance(value, (dict, list)):
                raise _bad(f"{where}: attribute {key!r} is {_short(value)}, expected a "
                           f"string")
            attrs[_stored_key(key)] = str(value)
    return attrs


def _read_node(nid: int, spec, nodes: list, registered):
    from .symbol import _Node

    if not isinstance(spec, dict):
        raise _bad(f"node {nid} is {_short(spec)}, expected an object")
    op, name = spec.get("op", "null"), spec.get("name", "")
    if not isinstance(op, str) or not isinstance(name, str):
        raise _bad(f"node {nid}: op {_short(op)} and name {_short(name)} must be strings")
    where = f"node {nid} ({name})"
    if op != "null" and op not in registered:
        raise _bad(f"{where}: operator {op!r} is not registered")
    node = _Node(None if op == "null" else op, name, _node_attrs(spec, where))
    inputs = spec.get("inputs", [])
    if not isinstance(inputs, list):
        raise _bad(f"{where}: 'inputs' is {_short(inputs)}, expected a list")
    if node.op is None and inputs:
        raise _bad(f"{where}: a variable has no inputs, the document lists {len(inputs)}")
    for i, value in enumerate(inputs):
        src_id, index, version = _entry(value, f"{where}: input {i}")
        if not 0 <= src_id < nid:
            raise _bad(f"{where}: input {i} {value} does not refer to an earlier node")
        src = nodes[src_id]
        if not 0 <= index < src.num_outputs():
            raise _bad(f"{where}: input {i} {value} asks for output {index} of node "
                       f"{src_id} ({src.name}), which has {src.num_outputs()}")
        if version < 0:
            raise _bad(f"{where}: input {i} {value} has a negative version")
        node.inputs.append((src, index, version))
        if src.op is None:
            src.version = max(src.version, version)
    if node.op is not None:
        _check_arity(node, where)
    return node


def _check_arity(node, where: str) -> None:
    from .symbol import _Node

    info = node.info   # MXNetError naming the node for attributes the operator refuses
    n_args = len(info["arguments"])
    expected = n_args + len(info["aux"])
    # Files from before auxiliary states were graph inputs list the arguments only.
    if len(node.inputs) == n_args and info["aux"]:
        for aux in info["aux"]:
            v = _Node(None, f"{node.name}_{aux}")
            v.version = 1
            node.inputs.append((v, 0, 1))
    if len(node.inputs) != expected:
        raise _bad(f"{where}, {node.op}: {len(node.inputs)} inputs, expected {expected}")


def load_json(json_str):
    """load_json(json_str) -> Symbol

    The symbol described by a JSON string in MXNet's format (1.x, and 0.x files with
    "param"/"attr" node fields). A malformed document raises MXNetError saying what is
    wrong where."""
    from .symbol import OP_FUNCTIONS, Symbol

    if isinstance(json_str, (bytes, bytearray)):
        try:
            json_str = bytes(json_str).decode("utf-8")
        except UnicodeDecodeError as e:
            raise _bad(f"the document is not UTF-8 ({e})") from None
    if not isinstance(json_str, str):
        raise TypeError(f"load_json: json_str is {type(json_str).__name__}, expected a str")
    try:
        data = json.loads(json_str)
    except ValueError as e:
        raise _bad(f"not a symbol JSON document ({e})") from None
    except RecursionError:
        raise _bad("not a symbol JSON document (nested too deeply)") from None
    if not isinstance(data, dict) or "nodes" not in data or "heads" not in data:
        raise _bad("not a symbol JSON document (expected an object with 'nodes' and "
                   "'heads')")
    node_specs, head_specs = data["nodes"], data["heads"]
    if not isinstance(node_specs, list) or not isinstance(head_specs, list):
        raise _bad(f"'nodes' and 'heads' must be lists, got {type(node_specs).__name__} and "
                   f"{type(head_specs).__name__}")
    nodes: list = []
    for nid, spec in enumerate(node_specs):
        nodes.append(_read_node(nid, spec, nodes, OP_FUNCTIONS))
    outputs = []
    for i, value in enumerate(head_specs):
        nid, index, _ = _entry(value, f"head {i}")
        if not 0 <= nid < len(nodes) or not 0 <= index < nodes[nid].num_visible():
            raise _bad(f"head {value} does not refer to a node output")
        outputs.append((nodes[nid], index))
    if not outputs:
        raise _bad("the document has no heads")
    return Symbol(outputs)


def load(fname):
    """load(fname) -> Symbol

    The symbol saved in the file ``fname`` (Symbol.save, or MXNet's ``-symbol.json``)."""
    try:
        with open(fname, "rb") as f:
            text = f.read()
    except OSError as e:
        raise MXNetError(f"load: cannot read the symbol file {fname!r}: {e}") from e
    return load_json(text)
