"""Executors (``mxnet.executor.Executor``): a Symbol bound to arrays, planned once and run
with one native call per forward or backward pass.

The plan (``flowmod._native.GraphExecutor``) fixes the order of the nodes, places every
intermediate array and gradient buffer in storage reused between arrays whose lifetimes do not
overlap, and prepares each node's engine operation. ``forward`` and ``backward`` push those
operations and return at once; reading an output (``asnumpy``) waits for them.
"""
from __future__ import annotations

import numpy as np

from . import _native
from .base import MXNetError
from .context import Context, current_context
from .ndarray import NDArray
from .ndarray import array as _nd_array
from .ndarray import zeros as _nd_zeros
from .ndarray import sparse as _nd_sparse
from . import executor_storage as _storage

__all__ = ["Executor"]

_GRAD_REQS = ("write", "add", "null")


def _check_req(name, req):
    if req not in _GRAD_REQS:
        raise MXNetError(f"grad_req for {name}={req!r}: expected 'write', 'add' or 'null'")
    return req


def _resolve_grad_req(grad_req, arg_names):
    """{argument: req} from one req, a list in list_arguments order or a dict (missing
    names are 'null')."""
    if isinstance(grad_req, str):
        _check_req("every argument", grad_req)
        return {n: grad_req for n in arg_names}
    if isinstance(grad_req, (list, tuple)):
        if len(grad_req) != len(arg_names):
            raise MXNetError(f"grad_req: {len(grad_req)} values for {len(arg_names)} arguments "
                             f"({', '.join(arg_names)})")
        return {n: _check_req(n, r) for n, r in zip(arg_names, grad_req)}
    if isinstance(grad_req, dict):
        unknown = [k for k in grad_req if k not in arg_names]
        if unknown:
            raise MXNetError(f"grad_req: {unknown[0]!r} is not an argument of the symbol "
                             f"({', '.join(arg_names)})")
        return {n: _check_req(n, grad_req.get(n, "null")) for n in arg_names}
    raise MXNetError(f"grad_req={grad_req!r}: expected a string, a list or a dict")


def _arrays_by_name(what, values, names, required, ctx):
    """{name: NDArray} from a list in ``names`` order or a dict."""
    if values is None:
        values = {}
    if isinstance(values, (list, tuple)):
        if len(values) != len(names):
            raise MXNetError(f"bind: {what} has {len(values)} arrays, expected "
                             f"{len(names)} ({', '.join(names)})")
        values = dict(zip(names, values))
    elif not isinstance(values, dict):
        raise MXNetError(f"bind: {what}={values!r}: expected a list or a dict of NDArrays")
    out = {}
    for name in names:
        value = values.get(name)
        if value is None:
            if required:
                raise MXNetError(f"bind: {what}: key `{name}` is missing")
            continue
        if not isinstance(value, NDArray):
            raise MXNetError(f"bind: {what}[{name!r}] is a {type(value).__name__}, expected "
                             f"an NDArray")
        if value.context.device_typeid != ctx.device_typeid:
            raise MXNetError(f"bind: {what}[{name!r}] is on {value.context}, expected a "
                             f"device like {ctx}")
        out[name] = value
    return out


def _contexts(ctx, group2ctx):
    """(ctx, {group: Context}) checked: CPU contexts, as this build runs on."""
    if ctx is None:
        ctx = current_context()
    if not isinstance(ctx, Context):
        raise MXNetError(f"bind: ctx={ctx!r}: expected a Context such as mx.cpu()")
    if ctx.device_typeid != 1:
        raise MXNetError(f"bind: ctx={ctx}: this build of flowmod runs on CPU devices only")
    groups = {}
    for group, gctx in (group2ctx or {}).items():
        if not isinstance(gctx, Context) or gctx.device_typeid != 1:
            raise MXNetError(f"bind: group2ctx[{group!r}]={gctx!r}: expected a CPU Context")
        groups[group] = gctx
    return ctx, groups


def _home(node, ctx, group2ctx):
    """The context a node runs on (variables: where their arrays are allocated)."""
    return group2ctx.get(node.attrs.get("__ctx_group__"), ctx)


def _view(buffer: NDArray, shape, dtype) -> NDArray | None:
    """An array of ``shape`` over the first elements of ``buffer`` (same type), or None when
    it does not fit."""
    n = int(np.prod(shape, dtype=np.int64))
    if np.dtype(buffer.dtype) != np.dtype(dtype) or buffer.size < n:
        return None
    flat = buffer._h.reshape([buffer.size]).slice(0, n)
    return NDArray._wrap(flat.reshape(list(shape)), buffer._ctx)


def _fill_dims(shape: str) -> list:
    """The dimensions of a shape attribute ("(0, 200)") as strings."""
    return [d.strip() for d in shape.strip("()[] ").split(",") if d.strip()]


class Executor:
    """A bound symbol. Made by ``Symbol.bind`` and ``Symbol.simple_bind``."""

    def _fill_shapes(self, symbol, nodes) -> dict:
        """Shapes for the operators without inputs whose ``shape`` has a 0 (``mx.sym.zeros``
        of an RNN's begin state): the plan infers forward only, so their unknown dimensions
        come from inferring the whole graph over the bound arrays' shapes."""
        pending = [n for n in nodes if n.op is not None and not n.inputs
                   and "0" in _fill_dims(n.params().get("shape", ""))]
        if not pending:
            return {}
        seeds = {}
        for node in nodes:
            if node.op is None:
                value = self.arg_dict.get(node.name, self.aux_dict.get(node.name))
                seeds[id(node)] = tuple(value.shape)
        shapes, _ = symbol._run_inference(seeds, {}, nodes)
        resolved = {}
        for node in pending:
            shape = shapes[(id(node), 0)]
            if shape is not None and all(d >= 0 for d in shape):
                resolved[id(node)] = tuple(int(d) for d in shape)
        return resolved

    def __init__(self, symbol, ctx, args, grads, grad_req, aux, shared_exec=None,
                 group2ctx=None):
        self._symbol = symbol
        self._ctx = ctx
        self._group2ctx = dict(group2ctx or {})
        self._grad_req = dict(grad_req)
        self._arg_names = symbol.list_arguments()
        self._aux_names = symbol.list_auxiliary_states()
        self._output_names = symbol.list_outputs()
        self.arg_dict = {n: args[n] for n in self._arg_names}
        self.grad_dict = {n: grads[n] for n in self._arg_names
                          if n in grads and self._grad_req[n] != "null"}
        self.aux_dict = {n: aux[n] for n in self._aux_names}
        self._monitor = None
        self._monitor_all = False
        nodes = symbol._nodes()
        self._sparse = None
        plan = _storage.plan_for(symbol, nodes, {**self.arg_dict, **self.aux_dict},
                                 self.grad_dict, self._grad_req)
        if plan is not None:
            # Sparse arrays or gradients: the sparse nodes run around a native plan of the
            # dense remainder (executor_storage); a dense graph never takes this branch.
            self._sparse = _storage.SparseRunner(self, nodes, plan, shared_exec)
            inner = self._sparse.inner
            self._handle = inner._handle if inner is not None else None
            self.outputs = self._sparse.initial_outputs()
            return
        index = {id(n): i for i, n in enumerate(nodes)}
        fill_shapes = self._fill_shapes(symbol, nodes)
        specs, bindings = [], []
        for node in nodes:
            if node.op is None:
                specs.append(("", node.name, {}, [], -1))
                value = self.arg_dict.get(node.name, self.aux_dict.get(node.name))
                grad = self.grad_dict.get(node.name)
                req = self._grad_req.get(node.name, "null") if grad is not None else "null"
                bindings.append((value._h, None if grad is None else grad._h, req))
            else:
                home = _home(node, ctx, self._group2ctx)
                params = node.params()
                if id(node) in fill_shapes:
                    params["shape"] = str(fill_shapes[id(node)])
                specs.append((node.op, node.name, params,
                              [(index[id(src)], i) for src, i, _ in node.inputs],
                              home.device_id if home != ctx else -1))
                bindings.append((None, None, "null"))
        heads = [(index[id(n)], i) for n, i in symbol._outputs]
        shared = shared_exec._handle if shared_exec is not None else None
        self._handle = _native.GraphExecutor(specs, heads, bindings, *ctx.engine_device, shared)
        self.outputs = [NDArray._wrap(h, ctx) for h in self._handle.outputs]

    # ---- arrays ------------------------------------------------------------------------
    @property
    def arg_arrays(self) -> list:
        """The argument arrays, in list_arguments order."""
        return [self.arg_dict[n] for n in self._arg_names]

    @property
    def grad_arrays(self) -> list:
        """The gradient arrays, in list_arguments order (None where grad_req is 'null')."""
        return [self.grad_dict.get(n) for n in self._arg_names]

    @property
    def aux_arrays(self) -> list:
        """The auxiliary state arrays, in list_auxiliary_states order."""
        return [self.aux_dict[n] for n in self._aux_names]

    @property
    def output_dict(self) -> dict:
        """{output name: array}."""
        return dict(zip(self._output_names, self.outputs))

    @property
    def plan_stats(self) -> dict:
        """The memory plan: operator and backward node counts, placed entries, storage blocks,
        in-place outputs, blocks lent by a shared executor, planned and naive bytes (of the
        native plan: a graph's sparse nodes run outside it)."""
        if self._handle is None:
            return {k: 0 for k in ("op_nodes", "backward_nodes", "entries", "blocks",
                                   "inplace", "shared_blocks", "planned_bytes", "naive_bytes")}
        return dict(self._handle.stats)

    # ---- running -----------------------------------------------------------------------
    def forward(self, is_train: bool = False, **kwargs) -> list:
        """forward(is_train=False, **kwargs): copies the keyword arrays into the arguments of
        those names, then pushes the forward pass. Returns ``outputs``, which are ready to
        read once the pass has run (reading them waits)."""
        for name, value in kwargs.items():
            if name not in self.arg_dict:
                raise MXNetError(f"forward: {name}=...: expected the name of an argument "
                                 f"({', '.join(self._arg_names)})")
            dst = self.arg_dict[name]
            if isinstance(value, NDArray):
                if value.shape != dst.shape:
                    raise MXNetError(f"forward: {name} has shape {value.shape}, expected "
                                     f"{dst.shape} (reshape the executor for other shapes)")
                if value.stype != "default" or dst.stype != "default":
                    if value is not dst:
                        value.copyto(dst)
                elif value._h is not dst._h:
                    value._h.copy_to(dst._h)
            else:
                host = np.asarray(value)
                if host.shape != dst.shape:
                    raise MXNetError(f"forward: {name} has shape {host.shape}, expected "
                                     f"{dst.shape}")
                dst[:] = host
        if self._sparse is not None:
            self.outputs = self._sparse.forward(bool(is_train))
            return self.outputs
        copies = self._handle.forward(bool(is_train), self._monitor is not None,
                                      self._monitor_all)
        if self._monitor is not None:
            for name, handle in copies:
                self._monitor(name, NDArray._wrap(handle, self._ctx))
        return self.outputs

    def backward(self, out_grads=None, is_train: bool = True) -> None:
        """backward(out_grads=None, is_train=True): pushes the backward pass, adding to or
        overwriting each argument's gradient by its grad_req. ``out_grads`` holds the
        gradient of each output (an NDArray, or a list with one per output). As in MXNet, a
        loss head (SoftmaxOutput, make_loss, ...) needs none and ignores what it is given,
        every other output needs one (MXNetError "head_gradient is required" otherwise),
        and an executor bound with grad_req 'null' everywhere does nothing."""
        if self._sparse is not None:
            if not self.grad_dict:
                return
        elif not self._handle.has_backward:
            return
        if out_grads is None:
            grads = []
        else:
            if isinstance(out_grads, (NDArray, np.ndarray)):
                out_grads = [out_grads]
            if not isinstance(out_grads, (list, tuple)):
                raise MXNetError(f"backward: out_grads={out_grads!r}: expected an NDArray or a "
                                 f"list of NDArrays")
            if len(out_grads) != len(self.outputs):
                raise MXNetError(f"backward: {len(out_grads)} out_grads for "
                                 f"{len(self.outputs)} outputs")
            grads = []
            for i, g in enumerate(out_grads):
                if g is None:
                    grads.append(None)
                    continue
                if not isinstance(g, NDArray):
                    g = _nd_array(np.asarray(g), ctx=self._ctx, dtype=self.outputs[i].dtype)
                grads.append(g if self._sparse is not None else g._h)
        if self._sparse is not None:
            self._sparse.backward(grads if out_grads is not None else None)
            return
        copies = self._handle.backward(grads, bool(is_train), self._monitor is not None)
        for name, handle in copies:
            self._monitor(name, NDArray._wrap(handle, self._ctx))

    def set_monitor_callback(self, callback, monitor_all: bool = False) -> None:
        """Calls ``callback(name, array)`` after each forward with a copy of every operator's
        outputs (``<node>_<output>``), and with ``monitor_all`` its inputs too
        (``<node>_<input>``); after each backward, as MXNet's, with a copy of every backward
        node's outputs, the gradients of the node's inputs (``<node>_backward_output``, or
        ``<node>_backward_output<i>`` for a node of several inputs; zeros for an input whose
        gradient is not computed, where MXNet shows whatever its buffer holds). The copies
        are taken right after each operator runs, before its storage is reused.
        ``callback=None`` removes the monitor."""
        if callback is not None and not callable(callback):
            raise MXNetError(f"set_monitor_callback: callback={callback!r}: expected a callable")
        self._monitor = callback
        self._monitor_all = bool(monitor_all)
        if self._sparse is not None and self._sparse.inner is not None:
            self._sparse.inner.set_monitor_callback(callback, monitor_all)

    # ---- parameters and shapes ---------------------------------------------------------
    def copy_params_from(self, arg_params, aux_params=None, allow_extra_params=False) -> None:
        """Copies ``arg_params`` (and ``aux_params``) into the arrays of those names,
        converting the type. A name the executor does not have raises ValueError unless
        ``allow_extra_params``."""
        for what, params, table in (("arg_params", arg_params, self.arg_dict),
                                    ("aux_params", aux_params or {}, self.aux_dict)):
            for name, value in params.items():
                if name not in table:
                    if allow_extra_params:
                        continue
                    # ValueError, as MXNet raises here: scripts catch it.
                    raise ValueError(f"copy_params_from: {what}[{name!r}] is not in the "
                                     f"executor (pass allow_extra_params=True to skip it)")
                dst = table[name]
                if not isinstance(value, NDArray):
                    value = _nd_array(np.asarray(value), ctx=self._ctx, dtype=dst.dtype)
                if value.shape != dst.shape:
                    raise MXNetError(f"copy_params_from: {what}[{name!r}] has shape "
                                     f"{value.shape}, expected {dst.shape}")
                if dst.stype == "row_sparse":
                    dst._replace(_storage.full_row_sparse(value, dst.dtype))
                elif dst.stype != "default" or value.stype != "default":
                    value.copyto(dst)
                else:
                    value._h.copy_to(dst._h)

    def reshape(self, partial_shaping: bool = False, allow_up_sizing: bool = False,
                **kwargs) -> "Executor":
        """A new executor for new input shapes (``data=(64, 784)``), sharing this one's
        parameters and storage. Arrays whose shape does not change are shared; a smaller one
        is a view of this executor's; a larger one needs ``allow_up_sizing``. Arguments not
        named whose shape would change need ``partial_shaping``."""
        arg_shapes, _, aux_shapes = self._symbol.infer_shape(**kwargs)
        if arg_shapes is None:
            raise MXNetError(f"reshape: shapes {kwargs} do not determine every argument")
        args, grads, aux = {}, {}, {}
        for names, shapes, old, new, old_grads in (
                (self._arg_names, arg_shapes, self.arg_dict, args, self.grad_dict),
                (self._aux_names, aux_shapes, self.aux_dict, aux, None)):
            for name, shape in zip(names, shapes):
                shape = tuple(shape)
                arr = old[name]
                pairs = [(arr, new)]
                if old_grads is not None and name in old_grads:
                    pairs.append((old_grads[name], grads))
                for src, table in pairs:
                    if src.shape == shape:
                        table[name] = src
                        continue
                    if src.stype != "default":
                        table[name] = _nd_sparse.zeros(src.stype, shape, ctx=src.context,
                                                       dtype=src.dtype)
                        continue
                    if name not in kwargs and not partial_shaping:
                        changed = ", ".join(
                            f"{k} from {tuple(self.arg_dict[k].shape)} to {tuple(v)}"
                            for k, v in kwargs.items()
                            if k in self.arg_dict and tuple(self.arg_dict[k].shape) != tuple(v))
                        raise MXNetError(f"reshape: the shape of {name} would change from "
                                         f"{tuple(src.shape)} to {shape} (inputs changed: "
                                         f"{changed or 'none'}); name it or pass "
                                         f"partial_shaping=True")
                    view = _view(src, shape, src.dtype)
                    if view is None:
                        if not allow_up_sizing:
                            raise MXNetError(f"reshape: {name} would grow from {src.shape} to "
                                             f"{shape}; pass allow_up_sizing=True")
                        view = _nd_zeros(shape, ctx=self._ctx, dtype=src.dtype)
                    table[name] = view
        return Executor(self._symbol, self._ctx, args, grads, self._grad_req, aux,
                        shared_exec=self, group2ctx=self._group2ctx)

    def debug_str(self) -> str:
        """A summary of the plan: nodes, entries, storage blocks and bytes."""
        s = self.plan_stats
        lines = [f"Symbol outputs: {', '.join(self._output_names)}",
                 f"Operator nodes: {s['op_nodes']}, backward nodes: {s['backward_nodes']}",
                 f"Planned entries: {s['entries']} in {s['blocks']} storage blocks "
                 f"({s['inplace']} in place, {s['shared_blocks']} shared)",
                 f"Total {s['planned_bytes'] / 2**20:.3f} MB allocated "
                 f"(naive {s['naive_bytes'] / 2**20:.3f} MB)"]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Executor {', '.join(self._output_names)} on {self._ctx}>"


# ---- binding -------------------------------------------------------------------------------
def bind(symbol, ctx, args, args_grad=None, grad_req="write", aux_states=None,
         group2ctx=None, shared_exec=None) -> Executor:
    """Symbol.bind: an executor over the given arrays."""
    ctx, group2ctx = _contexts(ctx, group2ctx)
    arg_names = symbol.list_arguments()
    aux_names = symbol.list_auxiliary_states()
    args = _arrays_by_name("args", args, arg_names, True, ctx)
    grads = _arrays_by_name("args_grad", args_grad, arg_names, False, ctx)
    reqs = _resolve_grad_req(grad_req, arg_names)
    if args_grad is None:
        reqs = {n: "null" for n in arg_names}
    for name in arg_names:
        if reqs[name] != "null" and name not in grads:
            reqs[name] = "null"
    aux = _arrays_by_name("aux_states", aux_states, aux_names, True, ctx)
    return Executor(symbol, ctx, args, grads, reqs, aux, shared_exec, group2ctx)


def simple_bind(symbol, ctx, grad_req="write", type_dict=None, stype_dict=None, group2ctx=None,
                shared_arg_names=None, shared_exec=None, shared_buffer=None,
                **kwargs) -> Executor:
    """Symbol.simple_bind: infers every shape and type from the given input shapes and
    allocates the arrays (zeros), sharing parameters named in ``shared_arg_names`` with
    ``shared_exec`` and other inputs with ``shared_buffer``. A variable in a ``ctx_group``
    named in ``group2ctx`` is allocated on that context. Inputs take the storage type of
    ``stype_dict`` or of ``Variable(stype=...)`` ('csr', 'row_sparse' or 'default'); each
    gradient the one the graph's storage inference gives (row_sparse for the weight of
    ``dot(csr, w)`` or of ``Embedding(sparse_grad=True)``)."""
    ctx, group2ctx = _contexts(ctx, group2ctx)
    homes = {n.name: _home(n, ctx, group2ctx) for n in symbol._nodes() if n.op is None}
    arg_names = symbol.list_arguments()
    aux_names = symbol.list_auxiliary_states()
    stypes = _input_stypes(symbol, stype_dict, arg_names + aux_names)
    arg_shapes, _, aux_shapes = symbol.infer_shape_partial(**kwargs)
    unknown = [f"{n}: {s}" for n, s in zip(arg_names + aux_names, arg_shapes + aux_shapes)
               if not s or 0 in s]
    if unknown:
        raise MXNetError("simple_bind: cannot infer the shapes of " + ", ".join(unknown) +
                         " from " + (", ".join(f"{k}={v}" for k, v in kwargs.items())
                                     or "no input shapes") + "; give them as keyword arguments")
    types = {}
    for name, value in (type_dict or {}).items():
        if name not in arg_names + aux_names:
            raise MXNetError(f"simple_bind: type_dict[{name!r}]: expected the name of an input")
        types[name] = value
    # Types flow from the given ones; an input still unknown defaults to float32, one at a
    # time in graph order, so that float32 reaches only what nothing else decides.
    while True:
        arg_types, _, aux_types = symbol.infer_type_partial(**types)
        unknown = [n for n, t in zip(arg_names + aux_names, arg_types + aux_types) if t is None]
        if not unknown:
            break
        types[unknown[0]] = np.float32
    reqs = _resolve_grad_req(grad_req, arg_names)
    grad_stypes = _grad_stypes(symbol, stypes, reqs)
    shared_names = set(shared_arg_names or ())
    if shared_buffer is not None and not isinstance(shared_buffer, dict):
        raise MXNetError(f"simple_bind: shared_buffer={shared_buffer!r}: expected a dict")
    args, grads, aux = {}, {}, {}
    for name, shape, dtype in zip(arg_names, arg_shapes, arg_types):
        shape = tuple(shape)
        if shared_exec is not None and name in shared_names and name in shared_exec.arg_dict:
            arr = shared_exec.arg_dict[name]
            if arr.shape != shape or np.dtype(arr.dtype) != np.dtype(dtype):
                raise MXNetError(f"simple_bind: shared argument {name} has shape {arr.shape} "
                                 f"and type {np.dtype(arr.dtype).name} in shared_exec, expected "
                                 f"{shape} and {np.dtype(dtype).name}")
            args[name] = arr
            if reqs[name] != "null":
                shared_grad = shared_exec.grad_dict.get(name)
                if shared_grad is None or shared_grad.stype != grad_stypes[name]:
                    shared_grad = _grad_zeros(grad_stypes[name], shape, homes[name], dtype)
                grads[name] = shared_grad
            continue
        if shared_buffer is not None and name not in shared_names:
            view = None
            if name in shared_buffer and stypes[name] == "default" \
                    and shared_buffer[name].stype == "default":
                view = _view(shared_buffer[name], shape, dtype)
            if view is None:
                view = _zeros(stypes[name], shape, homes[name], dtype)
                shared_buffer[name] = view
            args[name] = view
        else:
            args[name] = _zeros(stypes[name], shape, homes[name], dtype)
        if reqs[name] != "null":
            grads[name] = _grad_zeros(grad_stypes[name], shape, homes[name], dtype)
    for name, shape, dtype in zip(aux_names, aux_shapes, aux_types):
        shape = tuple(shape)
        if shared_exec is not None and name in shared_exec.aux_dict \
                and shared_exec.aux_dict[name].shape == shape:
            aux[name] = shared_exec.aux_dict[name]
        else:
            aux[name] = _zeros(stypes[name], shape, homes[name], dtype)
    return Executor(symbol, ctx, args, grads, reqs, aux, shared_exec, group2ctx)


def _zeros(stype, shape, ctx, dtype):
    if stype == "default":
        return _nd_zeros(shape, ctx, dtype=dtype)
    if stype == "row_sparse":
        # Every row stored, so that updates and products use the values in place.
        return _storage.full_row_sparse(_nd_zeros(shape, ctx, dtype=dtype), copy=False)
    return _nd_sparse.zeros(stype, shape, ctx=ctx, dtype=dtype)


def _grad_zeros(stype, shape, ctx, dtype):
    # A sparse gradient starts with no rows stored, as MXNet binds it: backward gives it the
    # rows of each batch.
    if stype == "default":
        return _nd_zeros(shape, ctx, dtype=dtype)
    return _nd_sparse.zeros(stype, shape, ctx=ctx, dtype=dtype)


def _input_stypes(symbol, stype_dict, names) -> dict:
    """{input: storage type}: ``stype_dict``'s, else the variable's ``stype``."""
    stypes = {n.name: _storage.declared_stype(n) for n in symbol._nodes() if n.op is None}
    for name, stype in (stype_dict or {}).items():
        if name not in names:
            raise MXNetError(f"simple_bind: stype_dict[{name!r}]: expected the name of an "
                             f"input ({', '.join(names)})")
        stypes[name] = _storage.check_stype("simple_bind: stype_dict", name, stype)
    return stypes


def _grad_stypes(symbol, stypes, reqs) -> dict:
    """{argument: its gradient's storage type}, as the graph's storage inference gives it."""
    nodes = symbol._nodes()
    if not _storage.might_be_sparse(nodes, stypes):
        return {n: "default" for n in reqs}
    wants = {n: r != "null" for n, r in reqs.items()}
    plan = _storage.infer_storage(nodes, stypes, wants)
    return {n: plan.grad.get(n, "default") for n in reqs}
