"""Storage types in a bound graph: which entries are csr or row_sparse, which gradients are
row_sparse, and how an executor runs a graph holding sparse arrays.

Storage inference walks the graph once, at bind, from the variables' storage types (the
bound arrays', ``stype_dict``, or the ``__storage_type__`` attribute of
``Variable(stype=...)``). A node whose operator has a sparse rule (``storage_rules``) for
its inputs' storage types is a *sparse node*: the executor runs it on the sparse arrays
before the native plan, and its backward after. The rest of the graph, the *dense
remainder*, is one native plan, as for a dense model: a sparse node's output it reads is one
of its inputs, and a sparse array read by an operator without a sparse rule is given to it as
a dense copy (MXNet's storage fallback, with its one-time warning). A graph with no sparse
array and no sparse gradient never gets here: it is planned and run as before.
"""
from __future__ import annotations

import numpy as np

from .base import MXNetError
from .ndarray import NDArray
from .ndarray import zeros as _dense_zeros
from .ndarray import sparse as _sparse
from .storage_rules import RULES, SPARSE, SPARSE_GRAD_OPS, accumulate, dense, square_sum_dot

__all__ = ["infer_storage", "StoragePlan", "SparseRunner", "STYPE_NAMES"]

STYPE_NAMES = {"-1": "default", "0": "default", "1": "row_sparse", "2": "csr"}
_VALID = ("default", "row_sparse", "csr")


def declared_stype(node) -> str:
    """A variable's storage type from ``Variable(stype=...)`` ('default' when none)."""
    return STYPE_NAMES.get(node.attrs.get("__storage_type__", "0"), "default")


def check_stype(what: str, name: str, stype) -> str:
    if stype not in _VALID:
        raise MXNetError(f"{what}[{name!r}]={stype!r}: expected 'default', 'row_sparse' or "
                         f"'csr'")
    return stype


def might_be_sparse(nodes, var_stypes: dict) -> bool:
    """Whether the graph holds a sparse variable or an operator with a sparse gradient (the
    one check a dense model pays, once, at bind)."""
    if any(s != "default" for s in var_stypes.values()):
        return True
    return any(n.op in SPARSE_GRAD_OPS for n in nodes)


class StoragePlan:
    """The storage types of a graph: ``entry[(node id, output)]``, ``grad[var name]`` (of the
    variables whose gradient is wanted), and ``sparse_nodes`` (ids, in graph order)."""

    def __init__(self, entry, grad, sparse_nodes):
        self.entry = entry
        self.grad = grad
        self.sparse_nodes = sparse_nodes


def _needs_grad(nodes, wants: dict) -> dict:
    """{(node id, output): whether its gradient is wanted by some variable below}."""
    needs = {}
    for node in nodes:
        if node.op is None:
            needs[(id(node), 0)] = bool(wants.get(node.name))
            continue
        flag = any(needs[(id(src), i)] for src, i, _ in node.inputs)
        for i in range(node.num_outputs()):
            needs[(id(node), i)] = flag
    return needs


def infer_storage(nodes, var_stypes: dict, wants: dict) -> StoragePlan:
    """Storage types of every entry and of each wanted variable gradient. ``var_stypes``:
    {variable name: stype}; ``wants``: {variable name: whether its gradient is wanted}."""
    needs = _needs_grad(nodes, wants)
    entry, sparse_nodes = {}, []
    grad_kinds: dict = {}
    for node in nodes:
        if node.op is None:
            entry[(id(node), 0)] = var_stypes.get(node.name, "default")
            continue
        stypes = [entry[(id(src), i)] for src, i, _ in node.inputs]
        rule = RULES.get(node.op)
        inferred = None
        if rule is not None and (any(s in SPARSE for s in stypes) or node.op in SPARSE_GRAD_OPS):
            inferred = rule[0](stypes, node.params(),
                               [needs[(id(src), i)] for src, i, _ in node.inputs])
        if inferred is None:
            for i in range(node.num_outputs()):
                entry[(id(node), i)] = "default"
            for src, _, _ in node.inputs:
                if src.op is None:
                    grad_kinds.setdefault(src.name, set()).add("default")
            continue
        out_stypes, in_grads = inferred
        sparse_nodes.append(id(node))
        for i, s in enumerate(out_stypes):
            entry[(id(node), i)] = s
        for (src, _, _), g in zip(node.inputs, in_grads):
            if src.op is None and g is not None:
                grad_kinds.setdefault(src.name, set()).add(g)
    grad = {}
    for name, want in wants.items():
        if want:
            kinds = grad_kinds.get(name, {"default"})
            grad[name] = "row_sparse" if kinds == {"row_sparse"} else "default"
    return StoragePlan(entry, grad, sparse_nodes)


def plan_for(symbol, nodes, arrays: dict, grads: dict, reqs: dict):
    """The StoragePlan of a bound graph, or None when it holds nothing sparse."""
    var_stypes = {n.name: arrays[n.name].stype for n in nodes if n.op is None}
    if not might_be_sparse(nodes, var_stypes) and \
            not any(g.stype != "default" for g in grads.values()):
        return None
    wants = {n: (reqs.get(n, "null") != "null" and n in grads) for n in var_stypes}
    plan = infer_storage(nodes, var_stypes, wants)
    if not plan.sparse_nodes and all(s == "default" for s in var_stypes.values()) and \
            all(g.stype == "default" for g in grads.values()):
        return None
    return plan


def full_row_sparse(value, dtype=None, copy=True) -> "_sparse.RowSparseNDArray":
    """``value`` (any storage) as a row_sparse array storing every row: how the executors
    hold row_sparse parameters, so that the lazy updates write their rows in place. With
    ``copy=False`` the values are not copied (a fresh dense ``value`` becomes the data)."""
    values = dense(value)
    if copy:
        values = values.copy()
    if dtype is not None and np.dtype(values.dtype) != np.dtype(dtype):
        values = values.astype(dtype)
    host = np.arange(value.shape[0], dtype=np.int64)
    rows = _sparse._index_array(host, value.context)
    return _sparse.RowSparseNDArray._make(value.shape, values, [rows], value.context, host)


def write_grad(target: NDArray, total, req: str) -> None:
    """Writes (req 'write') or adds (req 'add') the gradient ``total`` (None: zero) into
    ``target``, keeping ``target``'s storage type."""
    if target.stype == "row_sparse":
        if total is None:
            if req == "write":
                target._replace(_sparse.zeros("row_sparse", target.shape, ctx=target.context,
                                              dtype=target.dtype))
            return
        if total.stype != "row_sparse":
            total = dense(total).tostype("row_sparse")
        if req == "add":
            total = accumulate([target, total])
        elif total is target:
            return
        target._replace(total.astype(target.dtype, copy=False))
        return
    if total is None:
        if req == "write":
            target[:] = 0
        return
    if req == "add":
        target += dense(total)
    else:
        dense(total).copyto(target)


def _truth(attrs, key) -> bool:
    return str(attrs.get(key, False)) in ("1", "true", "True")


def _unique_name(base: str, taken: set) -> str:
    name = base
    while name in taken:
        name += "_sparse"
    taken.add(name)
    return name


class SparseRunner:
    """Runs the sparse nodes of a bound graph around the native plan of its dense remainder
    (``inner``, an Executor, or None when the whole graph is sparse nodes)."""

    def __init__(self, executor, nodes, plan: StoragePlan, shared_exec):
        from .executor import Executor
        from .symbol.symbol import Symbol, _Node
        self._exe = executor
        self._plan = plan
        sparse_ids = set(plan.sparse_nodes)
        self._front = [n for n in nodes if id(n) in sparse_ids]
        wants = {n: g is not None for n, g in executor.grad_dict.items()}
        self._needs = _needs_grad(nodes, wants)
        self._warn_fallbacks(nodes, sparse_ids)
        self._by_rows = self._square_sums_by_rows(executor._symbol, nodes, sparse_ids)
        arrays = {**executor.arg_dict, **executor.aux_dict}
        shapes, types = self._entry_shapes(executor._symbol, nodes, arrays)
        taken = {n.name for n in nodes}
        var_nodes, boundary, new_nodes = {}, {}, {}
        self._boundary = []     # (entry key, value array, gradient array or None)
        self._shadows = []      # (variable name, dense copy of the sparse array)
        self._plan_grads = {}   # variable name: the dense gradient the plan writes
        inner_args, inner_grads, inner_reqs = {}, {}, {}
        front_vars = {id(src) for n in self._front for src, _, _ in n.inputs if src.op is None}

        def mapped(src, i, version):
            key = (id(src), i)
            if id(src) in sparse_ids:
                if key not in boundary:
                    var = _Node(None, _unique_name(src.output_name(i), taken))
                    boundary[key] = var
                    value = _dense_zeros(shapes[key], executor._ctx, dtype=types[key])
                    grad = None
                    if self._needs[key]:
                        grad = _dense_zeros(shapes[key], executor._ctx, dtype=types[key])
                        inner_grads[var.name] = grad
                        inner_reqs[var.name] = "write"
                    inner_args[var.name] = value
                    self._boundary.append((key, value, grad))
                return (boundary[key], 0, 0)
            if src.op is not None:
                return (new_nodes[id(src)], i, version)
            if id(src) not in var_nodes:
                var_nodes[id(src)] = self._dense_variable(src, arrays, front_vars, inner_args,
                                                          inner_grads, inner_reqs)
            return (var_nodes[id(src)], 0, version)

        for node in nodes:
            if node.op is None or id(node) in sparse_ids:
                continue
            copy = _Node(node.op, node.name, node.attrs, [mapped(*e) for e in node.inputs])
            copy._info = node._info
            new_nodes[id(node)] = copy
        heads, self._out_map = [], []
        for node, i in executor._symbol._outputs:
            if node.op is not None and id(node) not in sparse_ids:
                self._out_map.append(("plan", len(heads)))
                heads.append((new_nodes[id(node)], i))
            else:
                self._out_map.append(("front", (id(node), i)))
        self.inner = None
        if heads:
            reduced = Symbol(heads)
            aux_names = set(reduced.list_auxiliary_states())
            aux = {n: a for n, a in inner_args.items() if n in aux_names}
            args = {n: a for n, a in inner_args.items() if n not in aux_names}
            for name in reduced.list_arguments():
                inner_reqs.setdefault(name, "null")
            self.inner = Executor(reduced, executor._ctx, args, inner_grads, inner_reqs, aux,
                                  shared_exec, executor._group2ctx)
        self._values = {}
        self._placeholders = {ref: _dense_zeros(shapes[ref], executor._ctx, dtype=types[ref])
                              for kind, ref in self._out_map if kind == "front"}

    def initial_outputs(self) -> list:
        """The outputs before the first forward (zeros where a sparse node gives one)."""
        return [self.inner.outputs[ref] if kind == "plan" else self._placeholders[ref]
                for kind, ref in self._out_map]

    # ---- building ----------------------------------------------------------------------
    @staticmethod
    def _entry_shapes(symbol, nodes, arrays):
        from .symbol.symbol import _DTYPE_FLAGS, _FLAG_TYPES
        shape_seeds, type_seeds = {}, {}
        for node in nodes:
            if node.op is None:
                shape_seeds[id(node)] = tuple(arrays[node.name].shape)
                type_seeds[id(node)] = _DTYPE_FLAGS[np.dtype(arrays[node.name].dtype)]
        shapes, flags = symbol._run_inference(shape_seeds, type_seeds, nodes)
        types = {k: _FLAG_TYPES.get(f, np.float32) for k, f in flags.items()}
        return shapes, types

    def _dense_variable(self, src, arrays, front_vars, inner_args, inner_grads, inner_reqs):
        """The dense remainder's copy of variable ``src``: the bound array itself when
        dense, else a dense copy refreshed before each forward; its gradient the bound one
        when the plan alone computes it, else a buffer the runner adds in."""
        exe = self._exe
        var = type(src)(None, src.name, {k: v for k, v in src.attrs.items()
                                         if k != "__storage_type__"})
        var.version = src.version
        value = arrays[src.name]
        if value.stype != "default":
            shadow = _dense_zeros(value.shape, value.context, dtype=value.dtype)
            self._shadows.append((src.name, shadow))
            value = shadow
        inner_args[src.name] = value
        grad = exe.grad_dict.get(src.name)
        if grad is not None:
            if grad.stype == "default" and id(src) not in front_vars:
                inner_grads[src.name] = grad
                inner_reqs[src.name] = exe._grad_req[src.name]
            else:
                buffer = _dense_zeros(grad.shape, grad.context, dtype=grad.dtype)
                inner_grads[src.name] = buffer
                inner_reqs[src.name] = "write"
                self._plan_grads[src.name] = buffer
        return var

    def _square_sums_by_rows(self, symbol, nodes, sparse_ids) -> set:
        """The ids of the ``_square_sum`` nodes (of a row_sparse weight over axis 1) read only
        as the rhs of ``dot(csr, .)`` with no gradient wanted for the csr lhs, as a
        factorization machine reads them: each such product computes the sums of just the
        rows its lhs has columns for (``square_sum_dot``), never all of the weight's."""
        readers = {}
        for node in nodes:
            for pos, (src, i, _) in enumerate(node.inputs):
                readers.setdefault((id(src), i), []).append((node, pos))
        outputs = {(id(n), i) for n, i in symbol._outputs}
        entry = self._plan.entry
        chosen = set()
        for node in self._front:
            key = (id(node), 0)
            if node.op != "_square_sum" or key in outputs or not readers.get(key):
                continue
            if all(id(r) in sparse_ids and r.op == "dot" and pos == 1
                   and entry[(id(r.inputs[0][0]), r.inputs[0][1])] == "csr"
                   and not self._needs[(id(r.inputs[0][0]), r.inputs[0][1])]
                   and not _truth(r.params(), "transpose_a")
                   and not _truth(r.params(), "transpose_b")
                   for r, pos in readers[key]):
                chosen.add(id(node))
        return chosen

    def _warn_fallbacks(self, nodes, sparse_ids) -> None:
        entry = self._plan.entry
        from .ndarray.sparse_ops import warn_fallback
        for node in nodes:
            if node.op is None or id(node) in sparse_ids:
                continue
            stypes = [entry[(id(src), i)] for src, i, _ in node.inputs]
            if any(s in SPARSE for s in stypes):
                warn_fallback(node.op, stypes, "default", node.params())

    # ---- running -----------------------------------------------------------------------
    def forward(self, is_train: bool) -> list:
        exe = self._exe
        for name, shadow in self._shadows:
            dense(exe.arg_dict.get(name, exe.aux_dict.get(name))).copyto(shadow)
        values = {}
        for node in self._front:
            if id(node) in self._by_rows:
                values[(id(node), 0)] = None  # each product reading it computes its rows
                continue
            inputs = [self._front_input(src, i, values) for src, i, _ in node.inputs]
            rhs = node.inputs[1][0] if node.op == "dot" else None
            if rhs is not None and id(rhs) in self._by_rows:
                weight = self._front_input(*rhs.inputs[0][:2], values)
                outs = [square_sum_dot(inputs[0], weight)]
            else:
                outs = RULES[node.op][1](inputs, node.params())
            for i, out in enumerate(outs):
                values[(id(node), i)] = out
        for key, arr, _ in self._boundary:
            dense(values[key]).copyto(arr)
        self._values = values
        if self.inner is not None:
            self.inner.forward(is_train=is_train)
        return [self.inner.outputs[ref] if kind == "plan" else values[ref]
                for kind, ref in self._out_map]

    def _front_input(self, src, i, values):
        # A sparse node may read a dense node computed from variables (the index columns
        # MXNet's wide_deep slices and splits out of one dense input): it runs here too,
        # imperatively, since the plan runs only after the front.
        key = (id(src), i)
        if key not in values:
            exe = self._exe
            if src.op is None:
                values[key] = exe.arg_dict.get(src.name, exe.aux_dict.get(src.name))
            else:
                from .ndarray.ops import invoke
                args = [self._front_input(s, j, values) for s, j, _ in src.inputs]
                outs = invoke(src.op, args, **src.params())
                outs = outs if isinstance(outs, list) else [outs]
                for j, out in enumerate(outs):
                    values[(id(src), j)] = out
        return values[key]

    def has_backward(self) -> bool:
        return bool(self._exe.grad_dict)

    def backward(self, out_grads) -> None:
        exe = self._exe
        plan_grads = []
        grads = {}
        for (kind, ref), g in zip(self._out_map, out_grads or [None] * len(self._out_map)):
            if kind == "plan":
                plan_grads.append(g)
            elif g is not None:
                grads.setdefault(ref, []).append(g)
        if self.inner is not None:
            self.inner.backward(None if out_grads is None else plan_grads)
        for key, _, grad in self._boundary:
            if grad is not None:
                grads.setdefault(key, []).append(grad)
        values = self._values
        for node in reversed(self._front):
            needs = [self._needs[(id(src), i)] for src, i, _ in node.inputs]
            if not any(needs):
                continue
            out_g = [accumulate(grads.get((id(node), i), []))
                     for i in range(node.num_outputs())]
            if all(g is None for g in out_g):
                continue
            inputs = [values[(id(src), i)] for src, i, _ in node.inputs]
            outputs = [values[(id(node), i)] for i in range(node.num_outputs())]
            in_g = RULES[node.op][2](inputs, outputs, out_g, node.params(), needs)
            for (src, i, _), g in zip(node.inputs, in_g):
                if g is not None:
                    grads.setdefault((id(src), i), []).append(g)
        self._write_variable_grads(grads)

    def _write_variable_grads(self, grads) -> None:
        exe = self._exe
        ids = {n.name: id(n) for n in self._front_vars()}
        for name, target in exe.grad_dict.items():
            in_plan = name in self._plan_grads
            if name not in ids and not in_plan:
                continue  # the plan wrote it
            parts = list(grads.get((ids.get(name), 0), [])) if name in ids else []
            if in_plan:
                parts.append(self._plan_grads[name])
            write_grad(target, accumulate(parts), exe._grad_req[name])

    def _front_vars(self):
        seen = {}
        for node in self._front:
            for src, _, _ in node.inputs:
                if src.op is None:
                    seen[id(src)] = src
        return list(seen.values())
