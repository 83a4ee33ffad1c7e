"""The NDArray and Symbol methods that apply one operator to the object (``x.sum(1)`` is
``nd.sum(x, 1)``), from one table, each with MXNet 1.9's method signature: most take the
operator's remaining arguments as they are (``(self, *args, **kwargs)``); expand_dims,
flatten and squeeze have MXNet's explicit signatures, whose ``inplace=True`` on an NDArray
gives a reshaped view instead of a copy."""
from __future__ import annotations

# Methods whose signature is (self, *args, **kwargs), by operator (the method's name unless
# given). A method is attached only where its operator is registered.
_FORWARDING = [
    "abs", "argmax", "argmin", "broadcast_like", "ceil", "clip", "cos", "diag", "exp", "expm1",
    "flip", "floor", "log",
    "log1p", "log_softmax", "max", "mean", "min", "nanprod", "nansum", "norm", "one_hot",
    "ones_like", "pick", "prod", "reciprocal", "relu", "repeat", "round", "rsqrt", "sigmoid",
    "sign", "sin", "slice", "slice_axis", "softmax", "softmin", "split", "sqrt", "square", "sum",
    "take", "tanh", "tile", "topk", "transpose", "zeros_like",
    # MXNet's, once their operators are registered:
    "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctanh", "argmax_channel", "argsort",
    "broadcast_axes", "cbrt", "cosh", "degrees", "depth_to_space", "fix", "log10", "log2", "pad",
    "radians", "rcbrt", "reshape_like", "rint", "shape_array", "sinh", "size_array", "slice_like",
    "sort", "space_to_depth", "swapaxes", "tan", "trunc",
]
# Symbol only: NDArray defines these itself (astype with copy=, reshape with MXNet's shapes).
_SYMBOL_FORWARDING = {"astype": "cast", "reshape": "reshape"}


def _forwarding(op_fn, noun: str):
    def method(self, *args, **kwargs):
        return op_fn(self, *args, **kwargs)
    method.__name__ = op_fn.__name__
    method.__doc__ = (f"Calls ``{op_fn.__name__}`` with this {noun} as its first input; the other "
                      f"arguments as for the function:\n\n{op_fn.__doc__ or ''}")
    return method


def _inplace_view(self, shape):
    return self.reshape(shape)


def _expand_dims(fn, is_array: bool):
    if is_array:
        def expand_dims(self, axis, inplace=False):
            """expand_dims(axis, inplace=False): the array with a new axis of length 1 at
            ``axis``; with inplace=True a view sharing this array's storage."""
            if not inplace:
                return fn(self, axis=axis)
            shape = list(self.shape)
            shape.insert(axis if axis >= 0 else len(shape) + 1 + axis, 1)
            return _inplace_view(self, tuple(shape))
    else:
        def expand_dims(self, axis, inplace=False, **kwargs):
            """expand_dims(axis, inplace=False, **kwargs): a symbol with a new axis of length 1
            at ``axis`` (inplace is accepted as MXNet's is and has no effect)."""
            return fn(self, axis=axis, **kwargs)
    return expand_dims


def _flatten(fn, is_array: bool):
    if is_array:
        def flatten(self, inplace=False):
            """flatten(inplace=False): the array as 2-D, its first axis kept and the others
            merged; with inplace=True a view sharing this array's storage."""
            if not inplace:
                return fn(self)
            return _inplace_view(self, (self.shape[0], -1) if self.ndim else (1, 1))
    else:
        def flatten(self, inplace=False, **kwargs):
            """flatten(inplace=False, **kwargs): the symbol as 2-D, its first axis kept and the
            others merged (inplace is accepted as MXNet's is and has no effect)."""
            return fn(self, **kwargs)
    return flatten


def _squeeze(fn, is_array: bool):
    if is_array:
        def squeeze(self, axis=None, inplace=False):
            """squeeze(axis=None, inplace=False): the array without its axes of length 1 (those
            in ``axis`` only, when given); with inplace=True a view sharing its storage."""
            if not inplace:
                return fn(self, axis=axis)
            if axis is None:
                drop = {i for i, d in enumerate(self.shape) if d == 1}
            else:
                axes = (axis,) if isinstance(axis, int) else tuple(axis)
                drop = {a % self.ndim for a in axes}
            return _inplace_view(self, tuple(d for i, d in enumerate(self.shape) if i not in drop))
    else:
        def squeeze(self, axis=None, inplace=False, **kwargs):
            """squeeze(axis=None, inplace=False, **kwargs): the symbol without its axes of
            length 1 (inplace is accepted as MXNet's is and has no effect)."""
            return fn(self, axis=axis, **kwargs)
    return squeeze


def _broadcast_to(fn, is_array: bool):
    if not is_array:
        def broadcast_to(self, *args, **kwargs):
            """broadcast_to(shape): the symbol broadcast to ``shape``."""
            return fn(self, *args, **kwargs)
        return broadcast_to

    def broadcast_to(self, shape):
        """broadcast_to(shape): a new array of ``shape``, this one repeated along its axes of
        length 1; a shape with more axes first puts axes of length 1 in front, as MXNet's
        method does. ValueError where the shapes cannot be broadcast."""
        shape = tuple(shape)
        cur = tuple(self.shape)
        padded = (1,) * (len(shape) - len(cur)) + cur
        if len(shape) < len(cur) or any(c != s and c != 1 for c, s in zip(padded, shape)):
            raise ValueError(f"operands could not be broadcast together with remapped shapes "
                             f"[original->remapped]: {cur} and requested shape {shape}")
        return fn(self.reshape(padded) if padded != cur else self, shape=shape)
    return broadcast_to


_EXPLICIT = {"expand_dims": _expand_dims, "flatten": _flatten, "squeeze": _squeeze,
             "broadcast_to": _broadcast_to}


def attach(cls, functions: dict, is_array: bool) -> None:
    """Gives ``cls`` (NDArray or Symbol) the operator methods whose operators are among
    ``functions`` (operator name -> generated function)."""
    noun = "array" if is_array else "symbol"
    table = {name: name for name in _FORWARDING}
    if not is_array:
        table.update(_SYMBOL_FORWARDING)
    for method, op in table.items():
        if op in functions:
            setattr(cls, method, _forwarding(functions[op], noun))
    for method, make in _EXPLICIT.items():
        if method in functions:
            setattr(cls, method, make(functions[method], is_array))

