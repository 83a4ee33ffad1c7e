"""Operators' calling conventions, read once from the native registry's schemas: which
positions are inputs and which attributes, the Python signature ``inspect.signature`` shows
and the docstring ``help()`` shows, for the functions ``mx.nd`` and ``mx.sym`` generate.

MXNet 1.9's convention: inputs by position (or name), then the attributes by position in the
documented order, then keywords. Operators taking any number of inputs (Concat, stack) take
them all by position and their attributes by keyword only."""
from __future__ import annotations

import ast
import inspect
from functools import lru_cache

from . import _native
from .base import MXNetError

__all__ = ["OpSchema", "schema", "Null"]


class _NullType:
    """The default of an attribute that was not given (MXNet's ``_Null``): the operator's own
    default applies, or a required attribute is reported missing."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "_Null"

    def __bool__(self) -> bool:
        return False


Null = _NullType()


def _python_default(text):
    """An attribute's default as MXNet prints it ("0", "'1'", "[]", "'None'") as the Python
    value a caller would pass."""
    if text is None or text == "":  # required, or no default documented (smooth_l1's scalar)
        return Null
    value = text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text
    if value in ("None", ""):
        return None if value == "None" else ""
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value
    if isinstance(parsed, list):
        return tuple(parsed)
    return parsed


class OpSchema:
    """One operator's calling convention: ``inputs`` (names, in calling order), ``params``
    (attribute names, in MXNet's order) and the tables the generated functions index."""

    __slots__ = ("name", "description", "inputs", "input_docs", "params", "param_docs",
                 "num_args_key", "variadic", "n_inputs", "input_index", "param_set")

    def __init__(self, raw: dict):
        self.name = raw["name"]
        self.description = raw["description"]
        self.num_args_key = raw["key_var_num_args"]
        self.variadic = bool(raw.get("variadic", self.num_args_key))
        self.input_docs = tuple(raw["inputs"])
        self.inputs = tuple(name for name, _ in self.input_docs)
        self.param_docs = tuple(raw["params"])
        # The count of a variadic operator's inputs is filled in from the call, never given.
        self.params = tuple(p["name"] for p in self.param_docs)
        self.n_inputs = len(self.inputs)
        self.input_index = {name: i for i, name in enumerate(self.inputs)}
        self.param_set = frozenset(self.params)

    def split_positional(self, args: tuple, kwargs: dict, expected: str) -> tuple:
        """(inputs, kwargs) from a call's positional values: the first n_inputs are inputs,
        the rest attributes in schema order, merged into a copy of ``kwargs``. Raises
        TypeError for more values than the signature has, or one given twice; MXNetError
        for an array or symbol where an attribute is expected."""
        n = self.n_inputs
        extra = args[n:]
        if len(extra) > len(self.params):
            pos = n + len(self.params)
            raise TypeError(f"{self.name}: positional argument {pos} is {args[pos]!r}: expected at "
                            f"most {pos} positional arguments ({', '.join(self.signature_names())})")
        kwargs = dict(kwargs)
        for i, value in enumerate(extra):
            key = self.params[i]
            if key in kwargs:
                raise TypeError(f"{self.name}() got multiple values for argument '{key}'")
            # MXNet lists the arrays of a few operators among the attributes (all_finite's
            # data, PSROIPooling's data and rois, typed Symbol): an array is taken there, and
            # passed on as the input of that name.
            if (hasattr(value, "_h") or hasattr(value, "_outputs")) \
                    and self.param_docs[i]["type"] not in ("NDArray", "Symbol"):
                raise MXNetError(f"{self.name}: positional argument {n + i} ({key}) is "
                                 f"{type(value).__name__} {value!r}: expected "
                                 f"{self.param_docs[i]['type']} (the inputs come first: "
                                 f"{', '.join(self.inputs) or 'none'}; {expected})")
            if value is not Null:
                kwargs[key] = value
        return args[:n], kwargs

    def signature_names(self) -> list:
        return list(self.inputs) + list(self.params)

    def bad_input(self, position: int, value, expected: str) -> MXNetError:
        """The error for a value that cannot be the input at ``position``."""
        where = (f"{position} ({self.inputs[position]})" if not self.variadic
                 and position < self.n_inputs else str(position))
        return MXNetError(f"{self.name}: positional argument {where} is {value!r}: expected "
                          f"{expected}")

    def signature(self, front: str) -> inspect.Signature:
        """MXNet's signature: inputs (default None), attributes (their defaults; _Null when
        required), then out/name (nd) or name/attr/out (sym)."""
        P = inspect.Parameter
        params = []
        if self.variadic:
            params.append(P("data", P.VAR_POSITIONAL))
            kind = P.KEYWORD_ONLY
        else:
            params += [P(name, P.POSITIONAL_OR_KEYWORD, default=None) for name in self.inputs]
            kind = P.POSITIONAL_OR_KEYWORD
        for p in self.param_docs:
            # Crop's schema lists its inputs as an attribute "data": they are *data here.
            if p["name"] == self.num_args_key or (self.variadic and p["name"] == "data"):
                continue
            default = _python_default(p["default"])
            if p["type"].startswith("boolean") and default in (0, 1):
                default = bool(default)
            params.append(P(p["name"], kind, default=default))
        tail = ("out", "name") if front == "nd" else ("name", "attr", "out")
        params += [P(name, P.KEYWORD_ONLY if self.variadic else kind, default=None) for name in tail]
        params.append(P("kwargs", P.VAR_KEYWORD))
        return inspect.Signature(params)

    def docstring(self, front: str) -> str:
        """A numpydoc docstring from the schema's descriptions."""
        array = "NDArray" if front == "nd" else "Symbol"
        lines = [self.description, "", "Parameters", "----------"]
        for name, text in self.input_docs:
            kind = f"{array}[]" if self.variadic else array
            lines += [f"{name} : {kind}", f"    {text}"]
        for p in self.param_docs:
            if p["name"] == self.num_args_key:
                continue
            lines += [f"{p['name']} : {p['type_string']}", f"    {p['description']}"]
        if front == "nd":
            lines += ["out : NDArray, optional", "    The output NDArray to hold the result.", "",
                      "Returns", "-------", "out : NDArray or list of NDArrays",
                      "    The output of this function."]
        else:
            lines += ["name : string, optional.", "    Name of the resulting symbol.", "",
                      "Returns", "-------", "Symbol", "    The result symbol."]
        return "\n".join(lines) + "\n"


@lru_cache(maxsize=None)
def schema(op_name: str) -> OpSchema:
    """The calling convention of the registered operator ``op_name``."""
    return OpSchema(_native.op_schema(op_name))
