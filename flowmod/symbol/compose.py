"""Composing symbols (``net(data=other)``: a copy of ``net`` whose Variable ``data`` is
replaced by ``other``), evaluating one, and MXNet's text dump of a graph (``debug_str``)."""
from __future__ import annotations

from ..base import MXNetError


def compose(symbol, args: tuple, kwargs: dict):
    """symbol(*args, name=None, **kwargs): a copy of ``symbol`` in which each Variable named
    by a keyword is replaced by the symbol given for it; ``name`` renames the (first) head
    node. As in MXNet 1.9, composition goes by keyword: every operator symbol is composed
    with its inputs when it is created, so positional values are refused."""
    from .symbol import Symbol  # noqa: PLC0415  (symbol.py imports this module)

    name = kwargs.pop("name", None)
    if args:
        raise MXNetError("compose: general composition only supports keyword arguments "
                         f"(got {len(args)} positional): name the Variables to replace, "
                         f"among {', '.join(symbol.list_inputs())}")
    for key, value in kwargs.items():
        if not isinstance(value, Symbol):
            raise TypeError(f"compose: {key}={value!r}: expected a Symbol")
        if len(value._outputs) != 1:
            raise MXNetError(f"compose: {key} is a group of {len(value._outputs)} outputs, "
                             f"expected a single output")
    copy = symbol.__copy__()
    variables = {n.name: n for n in copy._nodes() if n.op is None}
    for key in kwargs:
        if key not in variables:
            raise MXNetError(f"compose: keyword argument {key!r} is not a Variable of the "
                             f"symbol; candidates: {', '.join(variables)}")
    replaced = {id(variables[k]): v._outputs[0] for k, v in kwargs.items()}
    if replaced:
        for node in copy._nodes():
            if node.op is None:
                continue
            entries = []
            for src, index, version in node.inputs:
                if id(src) in replaced:
                    src, index = replaced[id(src)]
                    version = src.version if src.op is None else 0
                entries.append((src, index, version))
            node.inputs = entries
    if name is not None:
        head = copy._outputs[0][0]
        if head.op is not None:
            head.name = name
    return copy


def evaluate(symbol, ctx, kwargs: dict) -> list:
    """symbol.eval(ctx=None, **kwargs): binds the symbol to the arrays given by argument name
    on ``ctx`` (the current context by default), runs forward and returns its outputs."""
    from ..context import current_context  # noqa: PLC0415

    executor = symbol.bind(ctx if ctx is not None else current_context(), kwargs)
    return executor.forward()


def debug_str(symbol) -> str:
    """MXNet's dump of a graph: its outputs, then each node in graph order (variables by
    name, operators with their inputs and attributes)."""
    lines = ["Symbol Outputs:"]
    for i, (node, index) in enumerate(symbol._outputs):
        lines.append(f"\toutput[{i}]={node.name}({index})")
    for node in symbol._nodes():
        if node.op is None:
            lines.append(f"Variable:{node.name}")
            continue
        lines += ["-" * 20, f"Op:{node.op}, Name={node.name}", "Inputs:"]
        for i, (src, index, version) in enumerate(node.inputs):
            suffix = f" version={version}" if src.op is None else ""
            lines.append(f"\targ[{i}]={src.name}({index}){suffix}")
        if node.attrs:
            lines.append("Attrs:")
            lines += [f"\t{k}={v}" for k, v in sorted(node.attrs.items())]
    return "\n".join(lines) + "\n"
