"""Operators on NDArrays: one function per registered native operator (``mx.nd.broadcast_add``,
``mx.nd._plus_scalar``, ...), MXNet's array-or-scalar helpers (``mx.nd.add``, ...) and
NDArray's arithmetic and comparison operators, which dispatch to them as MXNet 1.x does."""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from .. import _native
from ..base import MXNetError
from .. import operator_methods
from ..op_schema import schema as op_schema
from .ndarray import NDArray, array

__all__ = ["invoke", "add", "subtract", "multiply", "divide", "power", "maximum", "minimum",
           "modulo", "equal", "not_equal", "greater", "greater_equal", "lesser", "lesser_equal",
           "logical_and", "logical_or", "logical_xor", "split_v2",
           "histogram"]


def _attr_string(value) -> str:
    # MXNet passes every attribute as a string, formatted as Python prints it.
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_attr_string(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return str(value)


# Prepared operators by (name, attributes): attributes are parsed once per distinct call.
# Bounded, since attribute values (scalars) vary without limit in some programs.
_PREPARED: dict = {}
_PREPARED_MAX = 4096


def _prepared(op_name: str, attrs: dict):
    key = (op_name, *attrs.items()) if attrs else op_name
    try:
        return _PREPARED[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable attribute value, such as a list
        return _native.prepare(op_name, {k: _attr_string(v) for k, v in attrs.items()})
    prepared = _native.prepare(op_name, {k: _attr_string(v) for k, v in attrs.items()})
    if len(_PREPARED) >= _PREPARED_MAX:
        _PREPARED.clear()
    _PREPARED[key] = prepared
    return prepared


# Set by flowmod.ndarray.sparse_ops: runs an operator some of whose arrays are sparse (their
# components have handles; the arrays themselves have none, so the dense path below fails
# over to it at no cost to dense calls).
SPARSE_DISPATCH = None


def _sparse_call(op_name, inputs, out, attrs):
    _prepared(op_name, attrs)  # attributes are checked first, as for dense calls
    return SPARSE_DISPATCH(op_name, inputs, out, attrs)


def _sparse_involved(inputs, out) -> bool:
    from .sparse_ops import has_sparse
    return SPARSE_DISPATCH is not None and has_sparse(inputs, out)


def _dense_list(out) -> bool:
    """Whether ``out`` is a list (or tuple) of dense NDArrays: the multi-weight updates'."""
    if type(out) is not list and type(out) is not tuple:
        return False
    for o in out:
        if type(o) is not NDArray:
            return False
    return True


def invoke(op_name: str, inputs, out=None, is_train: bool = False, **attrs):
    """invoke(op_name, inputs, out=None, is_train=False, **attrs): runs the registered
    operator ``op_name`` on the NDArrays ``inputs`` (arguments, then auxiliary states); returns
    its output (a list if it has several visible outputs). With ``out``, writes there and
    returns it. ``is_train`` selects training behaviour (Dropout, BatchNorm)."""
    try:
        handles = [x._h for x in inputs]
    except AttributeError:
        if _sparse_involved(inputs, None):
            return _sparse_call(op_name, inputs, out, attrs)
        bad = next(i for i, x in enumerate(inputs) if not isinstance(x, NDArray))
        raise MXNetError(f"{op_name}: input {bad} is {inputs[bad]!r}, expected an NDArray") from None
    if out is not None and type(out) is not NDArray and not _dense_list(out) \
            and _sparse_involved((), out):
        return _sparse_call(op_name, inputs, out, attrs)
    return _push(op_name, _prepared(op_name, attrs), handles, inputs, out, is_train)


def _push(op_name, prepared, handles, inputs, out, is_train=False):
    if out is None:
        result = prepared.push(None, is_train, *handles)
        if result is None:  # an operator without outputs (reset_arrays): MXNet returns []
            return []
        ctx = inputs[0]._ctx if inputs else None
        if isinstance(result, list):
            return [NDArray._wrap(h, ctx) for h in result]
        return NDArray._wrap(result, ctx)
    if isinstance(out, NDArray):
        prepared.push(out._h, is_train, *handles)
        return out
    outs = list(out)
    for o in outs:
        if not isinstance(o, NDArray):
            raise MXNetError(f"{op_name}: out={o!r}, expected an NDArray")
    prepared.push([o._h for o in outs], is_train, *handles)
    return out


_EXPECTED = "an NDArray"


def _checked_inputs(spec, inputs):
    """The inputs of a call whose positional values are not all NDArrays: None (an input not
    given, as MXNet's generated functions allow) is left out; anything else is an error."""
    kept = []
    for i, x in enumerate(inputs):
        if x is None:
            continue
        if not isinstance(x, NDArray):
            raise spec.bad_input(i, x, _EXPECTED)
        kept.append(x)
    return kept


def _named_inputs(spec, op_name, inputs, named, attrs):
    """Inputs given by name (nd.FullyConnected(data=x, weight=w, num_hidden=10)), merged with
    those given by position, in the order the operator takes them for these attributes."""
    by_name = {}
    for i, x in enumerate(inputs):
        if x is not None:
            by_name[spec.inputs[i]] = x
    for k, v in named.items():
        if k in by_name:
            raise TypeError(f"{op_name}() got multiple values for argument '{k}'")
        by_name[k] = v
    info = _native.op_info(op_name, {k: _attr_string(v) for k, v in attrs.items()})
    order = list(info["arguments"]) + list(info["aux"])
    unknown = [k for k in by_name if k not in order]
    if unknown:
        raise MXNetError(f"{op_name}: {unknown[0]}=<NDArray>: expected an input named one "
                         f"of {', '.join(order)}")
    missing = [k for k in order if k not in by_name]
    if missing:
        raise MXNetError(f"{op_name}: input {missing[0]!r} is missing")
    return [by_name[k] for k in order]


def _make_function(op_name: str):
    spec = op_schema(op_name)
    num_args_key = spec.num_args_key
    n_in = spec.n_inputs

    def fn(*args, out=None, name=None, **kwargs):
        if spec.variadic:
            if num_args_key and num_args_key not in kwargs:
                kwargs[num_args_key] = len(args)
            inputs = args
        elif len(args) > n_in:
            inputs, kwargs = spec.split_positional(args, kwargs, "see help(mx.nd." + op_name + ")")
        else:
            inputs = args
        positional = inputs
        named = None
        for v in kwargs.values():
            if isinstance(v, NDArray):
                named = {k: v for k, v in kwargs.items() if isinstance(v, NDArray)}
                # None is passed on as MXNet passes it ("None"): the operator's own default.
                kwargs = {k: v for k, v in kwargs.items() if k not in named}
                break
        try:
            handles = [x._h for x in inputs]
        except AttributeError:
            inputs = _checked_inputs(spec, inputs)
            if named is None and _sparse_involved(inputs, None):
                return _sparse_call(op_name, inputs, out, kwargs)
            handles = [x._h for x in inputs] if named is None else None
        if named is not None:
            if spec.variadic:
                raise MXNetError(f"{op_name}: {next(iter(named))}=<NDArray>: the inputs of "
                                 f"{op_name} go by position")
            inputs = _named_inputs(spec, op_name, positional, named, kwargs)
            if _sparse_involved(inputs, None):
                return _sparse_call(op_name, inputs, out, kwargs)
            handles = [x._h for x in inputs]
        if out is not None and type(out) is not NDArray and _sparse_involved((), out):
            return _sparse_call(op_name, inputs, out, kwargs)
        return _push(op_name, _prepared(op_name, kwargs), handles, inputs, out)

    fn.__name__ = op_name
    fn.__qualname__ = op_name
    fn.__signature__ = spec.signature("nd")
    fn.__doc__ = spec.docstring("nd")
    return fn


# One function per registered operator, as MXNet generates them into mx.nd.
OP_FUNCTIONS = {name: _make_function(name) for name in _native.list_ops()}


def _ufunc(lhs, rhs, array_op, scalar_op, rscalar_op=None, python_op=None):
    """MXNet 1.x's dispatch for an operator between arrays and numbers."""
    if type(lhs) is NDArray and type(rhs) is NDArray:
        # The common case first: isinstance against the numbers ABCs is slow.
        return invoke(array_op, (lhs, rhs))
    if isinstance(lhs, numbers.Number) and isinstance(rhs, numbers.Number):
        return python_op(lhs, rhs)
    if isinstance(rhs, numbers.Number):
        return invoke(scalar_op, [lhs], scalar=float(rhs))
    if isinstance(lhs, numbers.Number):
        return invoke(rscalar_op or scalar_op, [rhs], scalar=float(lhs))
    if isinstance(lhs, NDArray) and isinstance(rhs, NDArray):
        return invoke(array_op, [lhs, rhs])
    raise MXNetError(f"{array_op}: operands {type(lhs).__name__} and {type(rhs).__name__}: "
                     f"expected NDArrays or numbers")


def add(lhs, rhs):
    """add(lhs, rhs): ``lhs + rhs`` with broadcasting; either may be a number."""
    return _ufunc(lhs, rhs, "broadcast_add", "_plus_scalar", None, lambda a, b: a + b)


def subtract(lhs, rhs):
    """subtract(lhs, rhs): ``lhs - rhs`` with broadcasting; either may be a number."""
    return _ufunc(lhs, rhs, "broadcast_sub", "_minus_scalar", "_rminus_scalar",
                  lambda a, b: a - b)


def multiply(lhs, rhs):
    """multiply(lhs, rhs): ``lhs * rhs`` with broadcasting; either may be a number."""
    return _ufunc(lhs, rhs, "broadcast_mul", "_mul_scalar", None, lambda a, b: a * b)


def divide(lhs, rhs):
    """divide(lhs, rhs): ``lhs / rhs`` with broadcasting; either may be a number."""
    return _ufunc(lhs, rhs, "broadcast_div", "_div_scalar", "_rdiv_scalar", lambda a, b: a / b)


def power(base, exp):
    """power(base, exp): ``base ** exp`` with broadcasting; either may be a number."""
    return _ufunc(base, exp, "broadcast_power", "_power_scalar", "_rpower_scalar",
                  lambda a, b: a ** b)


def maximum(lhs, rhs):
    """maximum(lhs, rhs): the larger of each pair, with broadcasting."""
    return _ufunc(lhs, rhs, "broadcast_maximum", "_maximum_scalar", None, max)


def minimum(lhs, rhs):
    """minimum(lhs, rhs): the smaller of each pair, with broadcasting."""
    return _ufunc(lhs, rhs, "broadcast_minimum", "_minimum_scalar", None, min)


def modulo(lhs, rhs):
    """modulo(lhs, rhs): ``lhs % rhs`` with broadcasting (the sign of rhs, as Python's; 0 where
    rhs is 0); either may be a number."""
    return _ufunc(lhs, rhs, "broadcast_mod", "_mod_scalar", "_rmod_scalar", lambda a, b: a % b)


def _logical(array_op, scalar_op, python_op, word):
    def logical(lhs, rhs):
        return _ufunc(lhs, rhs, array_op, scalar_op, scalar_op,
                      lambda a, b: 1 if python_op(bool(a), bool(b)) else 0)
    logical.__doc__ = (f"1 where ``lhs {word} rhs`` holds of the elements taken as truth values, "
                       f"else 0 (in the operands' type), broadcasting; either may be a number.")
    return logical


logical_and = _logical("broadcast_logical_and", "_logical_and_scalar", lambda a, b: a and b, "and")
logical_or = _logical("broadcast_logical_or", "_logical_or_scalar", lambda a, b: a or b, "or")
logical_xor = _logical("broadcast_logical_xor", "_logical_xor_scalar", lambda a, b: a != b, "xor")
for _fn, _name in [(logical_and, "logical_and"), (logical_or, "logical_or"),
                   (logical_xor, "logical_xor")]:
    _fn.__name__ = _fn.__qualname__ = _name


def split_v2(ary, indices_or_sections, axis=0, squeeze_axis=False):
    """split_v2(ary, indices_or_sections, axis=0, squeeze_axis=False): ``ary`` split along
    ``axis``: into ``indices_or_sections`` equal pieces when it is an integer (ValueError when
    the axis does not divide), or at the positions of a tuple (``(2, 3)`` gives ary[:2],
    ary[2:3], ary[3:]); a list of NDArrays, as numpy.split."""
    axis_size = ary.shape[axis]
    if isinstance(indices_or_sections, int):
        if indices_or_sections <= 0 or axis_size % indices_or_sections:
            raise ValueError("array split does not result in an equal division")
        size = axis_size // indices_or_sections
        indices = [i * size for i in range(indices_or_sections)]
    elif isinstance(indices_or_sections, tuple):
        indices = [0] + list(indices_or_sections)
    else:
        raise ValueError("indices_or_sections must either int or tuple of ints")
    out = invoke("_split_v2", [ary], indices=tuple(indices), axis=axis, squeeze_axis=squeeze_axis)
    return out if isinstance(out, list) else [out]


def histogram(a, bins=10, range=None):  # noqa: A002  (MXNet's name)
    """histogram(a, bins=10, range=None): (counts, bin edges) of the elements of ``a``, as
    numpy.histogram: ``bins`` equal bins over ``range``, or between the edges of the NDArray
    ``bins``. Without a range the bins span the data, computed by numpy (as MXNet does, with
    a warning)."""
    if isinstance(bins, NDArray):
        return tuple(invoke("_histogram", [a, bins]))
    if isinstance(bins, numbers.Integral) and not isinstance(bins, bool):
        if range is None:
            warnings.warn("range is not specified, using numpy's result to ensure consistency "
                          "with numpy")
            counts, edges = np.histogram(a.asnumpy(), bins=int(bins))
            return array(counts), array(edges)
        return tuple(invoke("_histogram", [a], bin_cnt=int(bins), range=tuple(range)))
    raise ValueError("bins argument should be either an integer or an NDArray")


def _comparison(array_op, scalar_op, mirrored_op, python_op):
    def compare(lhs, rhs):
        # number OP array is array MIRRORED number.
        return _ufunc(lhs, rhs, array_op, scalar_op, mirrored_op, python_op)
    return compare


equal = _comparison("broadcast_equal", "_equal_scalar", "_equal_scalar",
                    lambda a, b: a == b)
not_equal = _comparison("broadcast_not_equal", "_not_equal_scalar", "_not_equal_scalar",
                        lambda a, b: a != b)
greater = _comparison("broadcast_greater", "_greater_scalar", "_lesser_scalar",
                      lambda a, b: a > b)
greater_equal = _comparison("broadcast_greater_equal", "_greater_equal_scalar",
                            "_lesser_equal_scalar", lambda a, b: a >= b)
lesser = _comparison("broadcast_lesser", "_lesser_scalar", "_greater_scalar",
                     lambda a, b: a < b)
lesser_equal = _comparison("broadcast_lesser_equal", "_lesser_equal_scalar",
                           "_greater_equal_scalar", lambda a, b: a <= b)
for _fn, _doc in [(equal, "=="), (not_equal, "!="), (greater, ">"), (greater_equal, ">="),
                  (lesser, "<"), (lesser_equal, "<=")]:
    _fn.__doc__ = f"1 where ``lhs {_doc} rhs``, else 0 (in the operands' type), broadcasting."


def _inplace(array_op, scalar_op):
    # The per-operation path of training loops (a += b): one prepared native call, made on
    # first use (preparing starts the engine, which importing flowmod must not do).
    prepared = None

    def apply(self, other):
        nonlocal prepared
        if type(other) is NDArray:
            if prepared is None:
                prepared = _prepared(array_op, {})
            prepared.push(self._h, False, self._h, other._h)
            return self
        if isinstance(other, numbers.Number):
            return invoke(scalar_op, [self], out=self, scalar=float(other))
        if isinstance(other, NDArray):
            return invoke(array_op, [self, other], out=self)
        return NotImplemented
    return apply


def _reflected(fn):
    return lambda self, other: fn(other, self)


# NDArray's operators, defined here where the operators they use are.
NDArray.__add__ = add
NDArray.__radd__ = add
NDArray.__sub__ = subtract
NDArray.__rsub__ = _reflected(subtract)
NDArray.__mul__ = multiply
NDArray.__rmul__ = multiply
NDArray.__truediv__ = divide
NDArray.__rtruediv__ = _reflected(divide)
NDArray.__pow__ = power
NDArray.__rpow__ = _reflected(power)
NDArray.__mod__ = modulo
NDArray.__rmod__ = _reflected(modulo)
NDArray.__imod__ = _inplace("broadcast_mod", "_mod_scalar")
NDArray.__neg__ = lambda self: invoke("_mul_scalar", [self], scalar=-1.0)
NDArray.__iadd__ = _inplace("broadcast_add", "_plus_scalar")
NDArray.__isub__ = _inplace("broadcast_sub", "_minus_scalar")
NDArray.__imul__ = _inplace("broadcast_mul", "_mul_scalar")
NDArray.__itruediv__ = _inplace("broadcast_div", "_div_scalar")
NDArray.__eq__ = equal
NDArray.__ne__ = not_equal
NDArray.__gt__ = greater
NDArray.__ge__ = greater_equal
NDArray.__lt__ = lesser
NDArray.__le__ = lesser_equal
# __eq__ returns an array, so identity is what hashes (as in MXNet).
NDArray.__hash__ = lambda self: id(self) // 16


def _bool(self) -> bool:
    if self.size == 0:
        return False
    if self.size == 1:
        return bool(self.asscalar())
    raise ValueError("The truth value of an NDArray with more than one element is ambiguous.")


NDArray.__bool__ = _bool


NDArray.split_v2 = lambda self, *args, **kwargs: split_v2(self, *args, **kwargs)
NDArray.split_v2.__doc__ = "Calls ``split_v2`` with this array first:\n\n" + split_v2.__doc__

# NDArray methods that call an operator on the array, as MXNet 1.x defines them
# (x.sum(1) is nd.sum(x, 1)).
operator_methods.attach(NDArray, OP_FUNCTIONS, is_array=True)


def _transposed(self):
    """The array with its axes reversed; the array itself when it has fewer than 2 axes."""
    return self if self.ndim < 2 else invoke("transpose", [self])


NDArray.T = property(_transposed)
