"""Symbolic graphs (``mxnet.symbol``): Variables, one function per registered operator,
graph queries, shape and type inference. MXNet 1.x's JSON format is in ``json_format``."""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from .. import _native
from ..attribute import AttrScope
from ..base import MXNetError
from ..name import NameManager
from .. import operator_methods
from . import compose
from ..ndarray.ops import _attr_string
from ..op_schema import schema as op_schema
from . import json_format
from .json_format import load, load_json

__all__ = ["Symbol", "Variable", "var", "Group", "load", "load_json", "maximum", "minimum",
           "power", "pow", "OP_FUNCTIONS"]

# Attributes MXNet stores as "__key__" whichever way they are spelled.
_HIDDEN_KEYS = ("ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage",
                "profiler_scope")
_DTYPE_FLAGS = {np.dtype(np.float32): 0, np.dtype(np.float64): 1, np.dtype(np.float16): 2,
                np.dtype(np.uint8): 3, np.dtype(np.int32): 4, np.dtype(np.int8): 5,
                np.dtype(np.int64): 6, np.dtype(np.bool_): 7}
_FLAG_TYPES = {flag: dt.type for dt, flag in _DTYPE_FLAGS.items()}
_STORAGE_TYPES = {"undefined": -1, "default": 0, "row_sparse": 1, "csr": 2}
# Initial values MXNet gives auxiliary-state variables on composition (BatchNorm's).
_AUX_INIT = {"moving_mean": '["zero", {}]', "moving_var": '["one", {}]'}


def _is_dunder(key: str) -> bool:
    return len(key) > 4 and key.startswith("__") and key.endswith("__")


def _stored_key(key: str) -> str:
    return f"__{key}__" if key in _HIDDEN_KEYS else key


class _Node:
    """A graph node: a variable (op None) or an operator applied to input entries
    (node, output index, version)."""

    __slots__ = ("op", "name", "attrs", "inputs", "version", "_info")

    def __init__(self, op, name, attrs=None, inputs=()):
        self.op = op
        self.name = name
        self.attrs = dict(attrs or {})
        self.inputs = list(inputs)
        # Variables: how many times an operator has mutated them (auxiliary states).
        self.version = 0
        self._info = None

    def params(self) -> dict:
        """The operator's own attributes: everything but "__key__" attributes."""
        return {k: v for k, v in self.attrs.items() if not _is_dunder(k)}

    @property
    def info(self) -> dict:
        if self._info is None:
            try:
                self._info = _native.op_info(self.op, self.params())
            except MXNetError as e:
                raise MXNetError(f"{self.name} ({self.op}): {e}") from None
        return self._info

    def num_outputs(self) -> int:
        return 1 if self.op is None else self.info["num_outputs"]

    def num_visible(self) -> int:
        return 1 if self.op is None else len(self.info["outputs"])

    def output_name(self, index: int) -> str:
        if self.op is None:
            return self.name
        return f"{self.name}_{self.info['outputs'][index]}"


def _topo(entries) -> list:
    """Nodes reachable from ``entries`` in depth-first post-order, inputs in order (the node
    order of MXNet's graphs and JSON files)."""
    order, seen = [], set()
    for head, _ in entries:
        if id(head) in seen:
            continue
        seen.add(id(head))
        stack = [(head, 0)]
        while stack:
            node, i = stack[-1]
            if i < len(node.inputs):
                stack[-1] = (node, i + 1)
                child = node.inputs[i][0]
                if id(child) not in seen:
                    seen.add(id(child))
                    stack.append((child, 0))
            else:
                stack.pop()
                order.append(node)
    return order


def _aux_ids(nodes) -> set:
    """Variables used as an auxiliary state by some operator."""
    aux = set()
    for node in nodes:
        if node.op is not None:
            n_args = len(node.info["arguments"])
            for src, _, _ in node.inputs[n_args:]:
                aux.add(id(src))
    return aux


class Symbol:
    """A symbolic graph with one or more outputs (``mxnet.symbol.Symbol``)."""

    __slots__ = ("_outputs", "__weakref__")

    def __init__(self, outputs):
        self._outputs = list(outputs)  # [(node, output index)]

    # ---- structure ---------------------------------------------------------------------
    @property
    def name(self):
        """The node's name; None for a group of several outputs."""
        if len(self._outputs) != 1:
            return None
        return self._outputs[0][0].name

    def _nodes(self) -> list:
        return _topo(self._outputs)

    def list_arguments(self) -> list:
        """Names of the variables that are arguments (not auxiliary states), in graph order."""
        nodes = self._nodes()
        aux = _aux_ids(nodes)
        return [n.name for n in nodes if n.op is None and id(n) not in aux]

    def list_auxiliary_states(self) -> list:
        """Names of the variables operators update as auxiliary states (BatchNorm's
        moving_mean and moving_var), in graph order."""
        nodes = self._nodes()
        aux = _aux_ids(nodes)
        return [n.name for n in nodes if n.op is None and id(n) in aux]

    def list_inputs(self) -> list:
        """Names of every variable, arguments and auxiliary states, in graph order."""
        return [n.name for n in self._nodes() if n.op is None]

    def list_outputs(self) -> list:
        """Names of the outputs: ``<node>_<output>`` (``fc1_output``), or a variable's name."""
        return [node.output_name(i) for node, i in self._outputs]

    def get_internals(self) -> "Symbol":
        """A group of every node's visible outputs, in graph order."""
        return Symbol([(n, i) for n in self._nodes() for i in range(n.num_visible())])

    def get_children(self):
        """A group of the inputs of this symbol's node; None for a variable."""
        node = self._outputs[0][0]
        if node.op is None:
            return None
        return Symbol([(src, i) for src, i, _ in node.inputs])

    def __len__(self) -> int:
        return len(self._outputs)

    def __iter__(self):
        return (Symbol([entry]) for entry in self._outputs)

    def __getitem__(self, index):
        if isinstance(index, str):
            found = [i for i, n in enumerate(self.list_outputs()) if n == index]
            if not found:
                raise ValueError(f"Cannot find output that matches name {index!r}")
            if len(found) > 1:
                raise ValueError(f"There are multiple outputs with name {index!r}")
            index = found[0]
        if isinstance(index, slice):
            return Symbol(self._outputs[index])
        if not isinstance(index, numbers.Integral):
            raise TypeError(f"Symbol index {index!r}: expected an int, a slice or an output name")
        if not -len(self._outputs) <= index < len(self._outputs):
            raise IndexError(f"Symbol index {index} out of range for {len(self._outputs)} outputs")
        return Symbol([self._outputs[index]])

    def __repr__(self) -> str:
        name = self.name
        if name is None:
            return f"<Symbol group [{', '.join(s.name for s in self)}]>"
        return f"<Symbol {name}>"

    def __copy__(self) -> "Symbol":
        return self.__deepcopy__(None)

    def __deepcopy__(self, memo) -> "Symbol":
        mapping = {}
        for node in self._nodes():
            copy = _Node(node.op, node.name, node.attrs,
                         [(mapping[id(s)], i, v) for s, i, v in node.inputs])
            copy.version = node.version
            mapping[id(node)] = copy
        return Symbol([(mapping[id(n)], i) for n, i in self._outputs])

    # ---- composition and evaluation ----------------------------------------------------
    def __call__(self, *args, **kwargs) -> "Symbol":
        """__call__(*args, name=None, **kwargs): a copy with the Variables named by the
        keywords replaced by the symbols given (``net(data=other)``), as MXNet composes;
        ``name`` renames the head node."""
        return compose.compose(self, args, kwargs)

    def eval(self, ctx=None, **kwargs) -> list:
        """eval(ctx=None, **kwargs): the outputs (a list of NDArrays) of the symbol bound on
        ``ctx`` to the arrays given by argument name."""
        return compose.evaluate(self, ctx, kwargs)

    def debug_str(self) -> str:
        """The graph as MXNet's text dump: outputs, variables, and each operator with its
        inputs and attributes."""
        return compose.debug_str(self)

    def __getstate__(self):
        return {"handle": self.tojson()}

    def __setstate__(self, state):
        self._outputs = load_json(state["handle"])._outputs

    # ---- attributes --------------------------------------------------------------------
    def _single_node(self, what: str) -> _Node:
        if len(self._outputs) != 1:
            raise MXNetError(f"{what}: the symbol is a group of {len(self._outputs)} outputs, "
                             f"expected a single node")
        return self._outputs[0][0]

    def attr(self, key: str):
        """The attribute ``key`` of this symbol's node (``lr_mult`` finds ``__lr_mult__``);
        None when it is not set."""
        attrs = self._single_node("attr").attrs
        if key in attrs:
            return attrs[key]
        return attrs.get(_stored_key(key))

    def list_attr(self) -> dict:
        """The attributes of this symbol's node."""
        return dict(self._single_node("list_attr").attrs)

    def attr_dict(self) -> dict:
        """{node name: {attribute: value}} for every node with attributes."""
        return {n.name: dict(n.attrs) for n in self._nodes() if n.attrs}

    def _set_attr(self, **kwargs):
        """Sets attributes (strings) on this symbol's node."""
        node = self._single_node("_set_attr")
        for key, value in kwargs.items():
            if not isinstance(value, str):
                raise ValueError(f"_set_attr: {key}={value!r}: attribute values must be strings")
            node.attrs[_stored_key(key)] = value
        node._info = None

    # ---- arithmetic --------------------------------------------------------------------
    def _binary(self, other, op, hint, scalar_op, scalar_hint):
        if isinstance(other, Symbol):
            return _create(op, (self, other), {}, None, None, hint)
        if isinstance(other, numbers.Number):
            return _create(scalar_op, (self,), {"scalar": float(other)}, None, None, scalar_hint)
        return NotImplemented

    def _rscalar(self, other, scalar_op, scalar_hint):
        if isinstance(other, numbers.Number):
            return _create(scalar_op, (self,), {"scalar": float(other)}, None, None, scalar_hint)
        return NotImplemented

    def __add__(self, other):
        return self._binary(other, "elemwise_add", "_plus", "_plus_scalar", "_plusscalar")

    def __radd__(self, other):
        return self._rscalar(other, "_plus_scalar", "_plusscalar")

    def __sub__(self, other):
        return self._binary(other, "elemwise_sub", "_minus", "_minus_scalar", "_minusscalar")

    def __rsub__(self, other):
        return self._rscalar(other, "_rminus_scalar", "_rminusscalar")

    def __mul__(self, other):
        return self._binary(other, "elemwise_mul", "_mul", "_mul_scalar", "_mulscalar")

    def __rmul__(self, other):
        return self._rscalar(other, "_mul_scalar", "_mulscalar")

    def __truediv__(self, other):
        return self._binary(other, "elemwise_div", "_div", "_div_scalar", "_divscalar")

    def __rtruediv__(self, other):
        return self._rscalar(other, "_rdiv_scalar", "_rdivscalar")

    def __pow__(self, other):
        return self._binary(other, "_power", "_power", "_power_scalar", "_powerscalar")

    def __rpow__(self, other):
        return self._rscalar(other, "_rpower_scalar", "_rpowerscalar")

    def __neg__(self):
        return self.__mul__(-1.0)

    def __eq__(self, other):
        return self._binary(other, "_equal", "_equal", "_equal_scalar", "_equal_scalar")

    def __ne__(self, other):
        return self._binary(other, "_not_equal", "_not_equal", "_not_equal_scalar",
                            "_not_equal_scalar")

    def __gt__(self, other):
        return self._binary(other, "_greater", "_greater", "_greater_scalar", "_greater_scalar")

    def __ge__(self, other):
        return self._binary(other, "_greater_equal", "_greater_equal", "_greater_equal_scalar",
                            "_greater_equal_scalar")

    def __lt__(self, other):
        return self._binary(other, "_lesser", "_lesser", "_lesser_scalar", "_lesser_scalar")

    def __le__(self, other):
        return self._binary(other, "_lesser_equal", "_lesser_equal", "_lesser_equal_scalar",
                            "_lesser_equal_scalar")

    # __eq__ builds a symbol, so identity is what hashes (as in MXNet).
    def __hash__(self):
        return id(self) // 16

    def __bool__(self):
        raise MXNetError("bool(Symbol): a Symbol has no truth value until it is bound and run; "
                         "compare symbols with `is`")

    # ---- inference ---------------------------------------------------------------------
    def _seed(self, nodes, args, kwargs, convert, what):
        """{variable node id: value} from positional values (in list_arguments order) and
        named ones (any input)."""
        aux = _aux_ids(nodes)
        arg_nodes = [n for n in nodes if n.op is None and id(n) not in aux]
        by_name = {n.name: n for n in nodes if n.op is None}
        if args and kwargs:
            raise MXNetError(f"{what}: give the inputs either positionally or by name, not both")
        if len(args) > len(arg_nodes):
            raise MXNetError(f"{what}: {len(args)} positional values for {len(arg_nodes)} "
                             f"arguments ({', '.join(n.name for n in arg_nodes)})")
        seeds = {}
        for node, value in zip(arg_nodes, args):
            if value is not None:
                seeds[id(node)] = convert(node.name, value)
        for key, value in kwargs.items():
            if key not in by_name:
                raise MXNetError(f"{what}: {key}={value!r}: expected the name of an input "
                                 f"({', '.join(by_name)})")
            if value is not None:
                seeds[id(by_name[key])] = convert(key, value)
        return seeds

    def _run_inference(self, shape_seeds, type_seeds, nodes):
        """Iterates the operators' inference to a fixed point. Returns {(node id, output):
        shape} and {(node id, output): type flag}; unknown shapes None, dims -1, types -1."""
        shapes, types = {}, {}
        for node in nodes:
            if node.op is None:
                shapes[(id(node), 0)] = shape_seeds.get(id(node))
                types[(id(node), 0)] = type_seeds.get(id(node), -1)
            else:
                for i in range(node.num_outputs()):
                    shapes[(id(node), i)] = None
                    types[(id(node), i)] = -1
        op_nodes = [n for n in nodes if n.op is not None]
        for _ in range(len(op_nodes) + 1):
            changed = False
            for node in op_nodes:
                keys = [(id(src), i) for src, i, _ in node.inputs]
                out_keys = [(id(node), i) for i in range(node.num_outputs())]
                in_s = [shapes[k] for k in keys]
                in_t = [types[k] for k in keys]
                try:
                    new_in_s, new_out_s, new_in_t, new_out_t = _native.infer(
                        node.op, node.params(), in_s, in_t, [shapes[k] for k in out_keys],
                        [types[k] for k in out_keys])
                except MXNetError as e:
                    raise MXNetError(f"{node.name} ({node.op}): {e}") from None
                for k, new_s, new_t, name in zip(keys + out_keys, new_in_s + new_out_s,
                                                 new_in_t + new_out_t, self._slot_names(node)):
                    merged = _merge_shape(shapes[k], new_s, node, name)
                    if merged != shapes[k]:
                        shapes[k] = merged
                        changed = True
                    if new_t != -1 and new_t != types[k]:
                        if types[k] != -1:
                            raise MXNetError(
                                f"{node.name} ({node.op}): {name}: type "
                                f"{np.dtype(_FLAG_TYPES[types[k]]).name} conflicts with "
                                f"{np.dtype(_FLAG_TYPES[new_t]).name}")
                        types[k] = new_t
                        changed = True
            if not changed:
                break
        return shapes, types

    @staticmethod
    def _slot_names(node):
        info = node.info
        outs = list(info["outputs"])
        outs += [f"hidden output {i}" for i in range(len(outs), info["num_outputs"])]
        return list(info["arguments"]) + list(info["aux"]) + outs

    def _infer(self, args, kwargs, shapes_wanted: bool, what: str):
        nodes = self._nodes()
        aux = _aux_ids(nodes)
        if shapes_wanted:
            seeds = self._seed(nodes, args, kwargs, _user_shape, what)
            for node in nodes:
                if node.op is None and id(node) not in seeds and "__shape__" in node.attrs:
                    seeds[id(node)] = _parse_shape(node.attrs["__shape__"], node.name)
            shapes, types = self._run_inference(seeds, {}, nodes)
            table = shapes
        else:
            seeds = self._seed(nodes, args, kwargs, _user_type, what)
            for node in nodes:
                if node.op is None and id(node) not in seeds and "__dtype__" in node.attrs:
                    seeds[id(node)] = int(node.attrs["__dtype__"])
            shapes, types = self._run_inference({}, seeds, nodes)
            table = types
        arg_v = [table[(id(n), 0)] for n in nodes if n.op is None and id(n) not in aux]
        aux_v = [table[(id(n), 0)] for n in nodes if n.op is None and id(n) in aux]
        out_v = [table[(id(n), i)] for n, i in self._outputs]
        visible = [(id(n), i) for n in nodes for i in range(n.num_visible())]
        return arg_v, out_v, aux_v, visible, table

    def infer_shape(self, *args, **kwargs):
        """infer_shape(*args, **kwargs) -> (arg_shapes, out_shapes, aux_shapes): shapes of
        the arguments (positionally, in list_arguments order) or of any input by name; None
        leaves one unknown, and 0 in a shape is an unknown dimension. Returns (None, None,
        None) when some shape cannot be decided."""
        arg_v, out_v, aux_v, visible, table = self._infer(args, kwargs, True, "infer_shape")
        if any(table[k] is None or -1 in table[k] for k in visible):
            unknown = [f"{n}: {_shape_str(tuple(0 if d < 0 else d for d in s)) if s else '()'}"
                       for n, s in zip(self.list_arguments(), arg_v) if s is None or -1 in s]
            warnings.warn("Cannot decide shape for the following arguments (0s in shape means "
                          "unknown dimensions). Consider providing them as input:\n\t"
                          + "\n\t".join(unknown[:10] + (["..."] if len(unknown) > 10 else [])),
                          stacklevel=2)
            return None, None, None
        return arg_v, out_v, aux_v

    def infer_shape_partial(self, *args, **kwargs):
        """infer_shape_partial(*args, **kwargs): as infer_shape, but returns what is known:
        an unknown shape is ``()`` and an unknown dimension 0."""
        arg_v, out_v, aux_v, _, _ = self._infer(args, kwargs, True, "infer_shape_partial")
        out = lambda vs: [() if s is None else tuple(0 if d < 0 else d for d in s) for s in vs]
        return out(arg_v), out(out_v), out(aux_v)

    def infer_type(self, *args, **kwargs):
        """infer_type(*args, **kwargs) -> (arg_types, out_types, aux_types) as numpy types,
        from the types of arguments given positionally or of inputs by name; (None, None,
        None) when some type cannot be decided."""
        arg_v, out_v, aux_v, visible, table = self._infer(args, kwargs, False, "infer_type")
        if any(table[k] == -1 for k in visible):
            return None, None, None
        conv = lambda vs: [_FLAG_TYPES[t] for t in vs]
        return conv(arg_v), conv(out_v), conv(aux_v)

    def infer_type_partial(self, *args, **kwargs):
        """infer_type_partial(*args, **kwargs): as infer_type, with None for unknown types."""
        arg_v, out_v, aux_v, _, _ = self._infer(args, kwargs, False, "infer_type_partial")
        conv = lambda vs: [None if t == -1 else _FLAG_TYPES[t] for t in vs]
        return conv(arg_v), conv(out_v), conv(aux_v)

    # ---- binding -----------------------------------------------------------------------
    def bind(self, ctx, args, args_grad=None, grad_req="write", aux_states=None,
             group2ctx=None, shared_exec=None):
        """bind(ctx, args, args_grad=None, grad_req='write', aux_states=None, group2ctx=None,
        shared_exec=None) -> Executor over the given arrays: ``args`` (and ``args_grad``,
        ``aux_states``) as lists in list_arguments order or dicts by name; ``grad_req``
        'write', 'add' or 'null', per argument as a list or dict. ``shared_exec`` lends its
        storage to the new executor's plan."""
        from ..executor import bind
        return bind(self, ctx, args, args_grad, grad_req, aux_states, group2ctx, shared_exec)

    def simple_bind(self, ctx, grad_req="write", type_dict=None, stype_dict=None,
                    group2ctx=None, shared_arg_names=None, shared_exec=None,
                    shared_buffer=None, **kwargs):
        """simple_bind(ctx, grad_req='write', type_dict=None, ..., **shapes) -> Executor with
        every array allocated (zeros) from the shapes of the inputs given by name."""
        from ..executor import simple_bind
        return simple_bind(self, ctx, grad_req, type_dict, stype_dict, group2ctx,
                           shared_arg_names, shared_exec, shared_buffer, **kwargs)

    # ---- serialization (flowmod.symbol.json_format) ------------------------------------
    def tojson(self) -> str:
        """The graph in MXNet 1.x's JSON format."""
        return json_format.to_json(self)

    def save(self, fname: str):
        """Writes tojson() to ``fname`` (replacing it only once the new file is complete)."""
        json_format.save(self, fname)


def _merge_shape(old, new, node, name):
    if new is None:
        return old
    new = tuple(new)
    if old is None:
        return new
    if len(old) != len(new) or any(a >= 0 and b >= 0 and a != b for a, b in zip(old, new)):
        raise MXNetError(f"{node.name} ({node.op}): {name}: shape {_shape_str(old)} conflicts "
                         f"with inferred shape {_shape_str(new)}")
    return tuple(a if a >= 0 else b for a, b in zip(old, new))


def _shape_str(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _user_shape(name, value):
    if isinstance(value, numbers.Integral):
        value = (value,)
    try:
        dims = tuple(int(d) for d in value)
    except (TypeError, ValueError):
        raise MXNetError(f"infer_shape: {name}={value!r}: expected a tuple of ints") from None
    if any(d < 0 for d in dims):
        raise MXNetError(f"infer_shape: {name}={value!r}: expected dimensions >= 0 "
                         f"(0 for unknown)")
    # MXNet 1.x's convention: 0 is an unknown dimension.
    return tuple(-1 if d == 0 else d for d in dims)


def _parse_shape(text: str, name: str):
    body = text.strip().strip("()[]")
    try:
        dims = tuple(int(p) for p in body.split(",") if p.strip())
    except ValueError:
        raise MXNetError(f"{name}: __shape__={text!r}: expected a shape such as (2, 3)") from None
    return tuple(-1 if d <= 0 else d for d in dims)


def _user_type(name, value):
    try:
        dt = np.dtype(value)
    except TypeError:
        dt = None
    if dt not in _DTYPE_FLAGS:
        raise MXNetError(f"infer_type: {name}={value!r}: expected one of "
                         f"{', '.join(sorted(d.name for d in _DTYPE_FLAGS))}")
    return _DTYPE_FLAGS[dt]


# ---- construction ----------------------------------------------------------------------
def Variable(name, attr=None, shape=None, lr_mult=None, wd_mult=None, dtype=None, init=None,
             stype=None, **kwargs) -> Symbol:
    """A variable (an input of the graph) named ``name``. ``shape``, ``dtype``, ``lr_mult``,
    ``wd_mult``, ``init`` and ``stype`` are stored as the attributes ``__shape__``,
    ``__dtype__`` (MXNet's type number), ``__lr_mult__``, ``__wd_mult__``, ``__init__`` and
    ``__storage_type__``; other keyword attributes must be spelled ``__name__``."""
    if not isinstance(name, str):
        raise TypeError(f"Variable: name={name!r}: expected a string")
    attrs = {}
    for key, value in AttrScope.current.get(attr).items():
        attrs[_stored_key(key)] = str(value)
    if shape is not None:
        attrs["__shape__"] = str(shape)
    if lr_mult is not None:
        attrs["__lr_mult__"] = str(lr_mult)
    if wd_mult is not None:
        attrs["__wd_mult__"] = str(wd_mult)
    if dtype is not None:
        attrs["__dtype__"] = str(_user_type(name, dtype))
    if init is not None:
        attrs["__init__"] = init if isinstance(init, str) else init.dumps()
    if stype is not None:
        if stype not in _STORAGE_TYPES:
            raise MXNetError(f"Variable: stype={stype!r}: expected one of "
                             f"{', '.join(_STORAGE_TYPES)}")
        attrs["__storage_type__"] = str(_STORAGE_TYPES[stype])
    for key, value in kwargs.items():
        if not _is_dunder(key):
            raise ValueError(f"Attribute name={key} is not supported. Additional attributes "
                             f"must start and end with double underscores, e.g, __yourattr__")
        attrs[key] = str(value)
    return Symbol([(_Node(None, name, attrs), 0)])


var = Variable


def Group(symbols) -> Symbol:
    """One symbol whose outputs are the outputs of ``symbols``, in order."""
    symbols = list(symbols)
    if not symbols or any(not isinstance(s, Symbol) for s in symbols):
        raise TypeError("Group: expected a non-empty list of Symbols")
    return Symbol([entry for s in symbols for entry in s._outputs])


def _create(op_name, args, kwargs, name, attr, hint) -> Symbol:
    """Applies the operator ``op_name`` to symbols given by position (``args``) or by
    name (``kwargs``); other keyword arguments are its attributes."""
    sym_kwargs = {k: v for k, v in kwargs.items() if isinstance(v, Symbol)}
    params = {k: v for k, v in kwargs.items() if k not in sym_kwargs}
    for i, a in enumerate(args):
        if not isinstance(a, Symbol):
            raise TypeError(f"{op_name}: positional argument {i} is {a!r}, expected a Symbol "
                            f"(attributes go by keyword)")
    extra, inherited = {}, {}
    for key, value in AttrScope.current.get(attr).items():
        if key in _HIDDEN_KEYS:
            extra[f"__{key}__"] = str(value)
        elif _is_dunder(key):
            extra[key] = inherited[key] = str(value)
        else:
            params[key] = value
    for key in [k for k in params if k in _HIDDEN_KEYS or _is_dunder(k)]:
        extra[_stored_key(key)] = str(params.pop(key))
    num_args_key = _native.op_key_var_num_args(op_name)
    if num_args_key and num_args_key not in params:
        params[num_args_key] = len(args) + len(sym_kwargs)
    node_name = NameManager.current.get(name, hint)
    strings = {k: _attr_string(v) for k, v in params.items() if v is not None}
    try:
        info = _native.op_info(op_name, strings)
    except MXNetError as e:
        raise MXNetError(f"{node_name} ({op_name}): {e}") from None
    arg_names, aux_names = list(info["arguments"]), list(info["aux"])
    names = arg_names + aux_names
    # None given for an input leaves it to be created; for an attribute it means "None".
    for k, v in params.items():
        if v is None and k not in names:
            strings[k] = "None"
    node = _Node(op_name, node_name, {**strings, **extra})
    slots = [None] * len(names)
    if len(args) > len(names):
        raise MXNetError(f"{node_name} ({op_name}): {len(args)} inputs given, expected at most "
                         f"{len(names)} ({', '.join(names)})")
    slots[:len(args)] = args
    for key, value in sym_kwargs.items():
        if key not in names:
            raise MXNetError(f"{node_name} ({op_name}): {key}=<Symbol>: expected an input named "
                             f"one of {', '.join(names)}")
        if slots[names.index(key)] is not None:
            raise TypeError(f"{op_name}() got multiple values for argument '{key}'")
        slots[names.index(key)] = value
    for i, (slot, arg) in enumerate(zip(slots, names)):
        if slot is None:
            src = _Node(None, f"{node_name}_{arg}", inherited)
            index = 0
        else:
            if len(slot._outputs) != 1:
                raise MXNetError(f"{node_name} ({op_name}): input {arg} is a group of "
                                 f"{len(slot._outputs)} outputs, expected a single output")
            src, index = slot._outputs[0]
        version = 0
        if src.op is None:
            if i >= len(arg_names):
                src.version += 1
                if arg in _AUX_INIT and "__init__" not in src.attrs:
                    src.attrs["__init__"] = _AUX_INIT[arg]
            version = src.version
        node.inputs.append((src, index, version))
    node._info = info
    return Symbol([(node, i) for i in range(len(info["outputs"]))])


def _make_function(op_name: str):
    hint = op_name.lower()
    spec = op_schema(op_name)
    n_in = spec.n_inputs

    def fn(*args, name=None, attr=None, out=None, **kwargs):
        if out is not None:
            # MXNet's signature has out= and ignores it; a symbol writes into no array.
            raise MXNetError(f"{op_name}: out={type(out).__name__}: a Symbol function has no "
                             f"output array to write into (out= is for mx.nd.{op_name})")
        if spec.variadic:
            return _create(op_name, args, kwargs, name, attr, hint)
        if len(args) > n_in:
            args, kwargs = spec.split_positional(args, kwargs, "see help(mx.sym." + op_name + ")")
        if args:
            # Inputs by position are inputs by their names in the calling convention, so
            # that one left as None (FullyConnected's bias with no_bias) keeps the others' places.
            kwargs = dict(kwargs)
            for i, a in enumerate(args):
                if a is None:
                    continue
                if not isinstance(a, Symbol):
                    raise spec.bad_input(i, a, "a Symbol")
                key = spec.inputs[i]
                if key in kwargs:
                    raise TypeError(f"{op_name}() got multiple values for argument '{key}'")
                kwargs[key] = a
        return _create(op_name, (), kwargs, name, attr, hint)

    fn.__name__ = op_name
    fn.__qualname__ = op_name
    fn.__signature__ = spec.signature("sym")
    fn.__doc__ = spec.docstring("sym")
    return fn


# One function per registered operator, as MXNet generates them into mx.sym.
OP_FUNCTIONS = {op: _make_function(op) for op in _native.list_ops()}


def _array_or_scalar(lhs, rhs, op, hint, scalar_op, scalar_hint, rscalar_op, rscalar_hint,
                     python_op):
    """MXNet's dispatch of mx.sym.maximum and the like between symbols and numbers."""
    if isinstance(lhs, Symbol) and isinstance(rhs, Symbol):
        return _create(op, (lhs, rhs), {}, None, None, hint)
    if isinstance(lhs, Symbol) and isinstance(rhs, numbers.Number):
        return _create(scalar_op, (lhs,), {"scalar": float(rhs)}, None, None, scalar_hint)
    if isinstance(lhs, numbers.Number) and isinstance(rhs, Symbol):
        return _create(rscalar_op, (rhs,), {"scalar": float(lhs)}, None, None, rscalar_hint)
    if isinstance(lhs, numbers.Number) and isinstance(rhs, numbers.Number):
        return python_op(lhs, rhs)
    raise TypeError(f"{op}: operands {type(lhs).__name__} and {type(rhs).__name__}: expected "
                    f"Symbols or numbers")


def maximum(left, right):
    """The larger of each pair of elements; either operand may be a number."""
    return _array_or_scalar(left, right, "_maximum", "_maximum", "_maximum_scalar",
                            "_maximumscalar", "_maximum_scalar", "_maximumscalar", max)


def minimum(left, right):
    """The smaller of each pair of elements; either operand may be a number."""
    return _array_or_scalar(left, right, "_minimum", "_minimum", "_minimum_scalar",
                            "_minimumscalar", "_minimum_scalar", "_minimumscalar", min)


def power(base, exp):
    """``base ** exp`` elementwise; either operand may be a number."""
    return _array_or_scalar(base, exp, "_power", "_power", "_power_scalar",
                            "_powerscalar", "_rpower_scalar", "_rpowerscalar",
                            lambda a, b: a ** b)


pow = power  # noqa: A001  (MXNet's name)


# Symbol methods that apply an operator to the symbol (s.reshape(shape=...)), as in MXNet.
operator_methods.attach(Symbol, OP_FUNCTIONS, is_array=False)
