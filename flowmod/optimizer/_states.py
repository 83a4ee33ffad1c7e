"""The byte format of ``Updater.get_states`` / ``Updater.set_states`` (and so of
``KVStore.save_optimizer_states``). No pickle: loading such bytes creates only NDArrays, plain
values and instances of registered optimizer and learning rate scheduler classes.

Layout (integers little-endian)::

    16 bytes  b"FLOWMOD-OPTSTATE"
    uint32    format version, 1
    uint64    H, the length of the header
    H bytes   the header: UTF-8 JSON, described below
    rest      the state arrays, a list in ``mx.nd.save``'s format (flowmod.params_format)

The header is an object::

    {"states": [[key, state], ...],   # one entry per parameter index (int or str)
     "optimizer": null | {"name": registry name, "class": class name,
                          "attrs": {attribute: value, ...}}}

A ``state`` is ``null``, ``{"array": i}`` (the i-th array of the list), or
``{"tuple": [state, ...]}`` / ``{"list": [state, ...]}``; every array is used exactly once.
Optimizer attribute values are JSON numbers, strings, booleans and null, or tagged
containers: ``{"tuple": [...]}``, ``{"list": [...]}``, ``{"dict": [[key, value], ...]}``
(keys keep their type), and ``{"lr_scheduler": "module.Class", "attrs": {...}}`` for a
learning rate scheduler.
"""
from __future__ import annotations

import inspect
import json
import numbers
import struct
import warnings

import numpy as np

from ..base import MXNetError
from ..ndarray import NDArray, load_frombuffer
from .. import params_format

__all__ = ["dumps", "loads", "check_states", "MAGIC", "VERSION"]

MAGIC = b"FLOWMOD-OPTSTATE"
VERSION = 1
_PREFIX = struct.Struct("<IQ")


# -- plain values (optimizer attributes) --------------------------------------------------

def _scheduler_classes() -> dict:
    from ..lr_scheduler import LRScheduler
    found, todo = {}, [LRScheduler]
    while todo:
        cls = todo.pop()
        found[f"{cls.__module__}.{cls.__qualname__}"] = cls
        todo.extend(cls.__subclasses__())
    return found


def _encode_value(value, where: str):
    from ..lr_scheduler import LRScheduler
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, tuple):
        return {"tuple": [_encode_value(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return {"list": [_encode_value(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, dict):
        return {"dict": [[_encode_value(k, f"{where} key"), _encode_value(v, f"{where}[{k!r}]")]
                         for k, v in value.items()]}
    if isinstance(value, LRScheduler):
        cls = type(value)
        return {"lr_scheduler": f"{cls.__module__}.{cls.__qualname__}",
                "attrs": {k: _encode_value(v, f"{where}.{k}") for k, v in vars(value).items()}}
    raise TypeError(f"get_states(dump_optimizer=True): the optimizer's {where} is "
                    f"{type(value).__name__}, which the optimizer state format cannot store "
                    f"(expected numbers, strings, None, tuples, lists, dicts or an "
                    f"LRScheduler)")


def _bad(message: str) -> MXNetError:
    return MXNetError(f"set_states: malformed optimizer states: {message}")


def _decode_value(value, where: str):
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, list):
        raise _bad(f"{where} is a bare JSON list, expected a tagged container")
    if not isinstance(value, dict):
        raise _bad(f"{where} is {type(value).__name__}")
    if set(value) == {"tuple"} or set(value) == {"list"}:
        kind = next(iter(value))
        items = value[kind]
        if not isinstance(items, list):
            raise _bad(f"{where}: {kind} items are {type(items).__name__}, expected a list")
        out = [_decode_value(v, f"{where}[{i}]") for i, v in enumerate(items)]
        return tuple(out) if kind == "tuple" else out
    if set(value) == {"dict"}:
        items = value["dict"]
        if not isinstance(items, list):
            raise _bad(f"{where}: dict items are {type(items).__name__}, expected a list")
        out = {}
        for i, pair in enumerate(items):
            if not isinstance(pair, list) or len(pair) != 2:
                raise _bad(f"{where}: dict item {i} is {pair!r}, expected [key, value]")
            key = _decode_value(pair[0], f"{where} key {i}")
            try:
                hash(key)
            except TypeError:
                raise _bad(f"{where}: dict key {i} is {type(key).__name__}, which cannot be "
                           f"a key") from None
            out[key] = _decode_value(pair[1], f"{where}[{key!r}]")
        return out
    if set(value) == {"lr_scheduler", "attrs"}:
        name, attrs = value["lr_scheduler"], value["attrs"]
        classes = _scheduler_classes()
        if not isinstance(name, str) or name not in classes:
            raise _bad(f"{where}: unknown learning rate scheduler class {name!r} (known: "
                       f"{', '.join(sorted(classes))})")
        if not isinstance(attrs, dict):
            raise _bad(f"{where}: scheduler attributes are {type(attrs).__name__}, expected "
                       f"an object")
        cls = classes[name]
        decoded = {k: _decode_value(v, f"{where}.{k}") for k, v in attrs.items()}
        return _restore(cls, decoded, _reference_scheduler(cls, decoded, where), where)
    raise _bad(f"{where} is an object with keys {sorted(value)}, expected one of "
               f"tuple, list, dict or lr_scheduler+attrs")


# -- restoring objects --------------------------------------------------------------------

def _reference_scheduler(cls, attrs: dict, where: str):
    """An instance of the scheduler class ``cls`` built from the saved attributes named
    like its required arguments: the attributes a real instance has."""
    try:
        params = inspect.signature(cls.__init__).parameters.values()
    except (TypeError, ValueError):
        params = ()
    required = {}
    for p in params:
        if p.name == "self" or p.default is not inspect.Parameter.empty:
            continue
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name not in attrs:
            raise _bad(f"{where}: the {cls.__name__} attribute {p.name!r} is missing")
        required[p.name] = attrs[p.name]
    try:
        return cls(**required)
    except Exception as e:   # the class's own check of the values: any exception type
        raise _bad(f"{where}: {cls.__name__}({', '.join(map(str, required))}) refuses the "
                   f"saved values ({type(e).__name__}: {e})") from None


def _same_kind(value, reference) -> bool:
    if reference is None or value is None:
        return True
    if isinstance(reference, bool) or isinstance(value, bool):
        return isinstance(reference, bool) == isinstance(value, bool)
    if isinstance(reference, numbers.Real):
        return isinstance(value, numbers.Real)
    if isinstance(reference, (tuple, list)):
        return isinstance(value, (tuple, list))
    return isinstance(value, type(reference)) or isinstance(reference, type(value))


def _restore(cls, attrs: dict, reference, where: str):
    """An instance of ``cls`` with the saved ``attrs``, which must be exactly the data
    attributes ``reference`` (an instance built normally) has, each of the same kind."""
    expected = set(vars(reference)) - {"param_dict"}
    missing = sorted(expected - set(attrs))
    if missing:
        raise _bad(f"{where}: the {cls.__name__} attribute {missing[0]!r} is missing")
    for key, value in attrs.items():
        if key not in expected:
            raise _bad(f"{where}: {key!r} is not a data attribute of {cls.__name__} "
                       f"(expected {', '.join(sorted(expected))})")
        if not _same_kind(value, getattr(reference, key)):
            raise _bad(f"{where}: {cls.__name__} attribute {key!r} is {_short(value)}, "
                       f"expected a value like {_short(getattr(reference, key))}")
    obj = cls.__new__(cls)
    obj.__dict__.update(attrs)
    return obj


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- states -------------------------------------------------------------------------------

def _encode_state(state, arrays: list, where: str):
    if state is None:
        return None
    if isinstance(state, NDArray):
        arrays.append(state.asnumpy())
        return {"array": len(arrays) - 1}
    if isinstance(state, (tuple, list)):
        kind = "tuple" if isinstance(state, tuple) else "list"
        return {kind: [_encode_state(s, arrays, f"{where}[{i}]") for i, s in enumerate(state)]}
    raise TypeError(f"get_states: the state {where} is {type(state).__name__}, expected None, "
                    f"an NDArray or a tuple or list of them")


def _decode_state(value, arrays: list, used: list, where: str):
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) != 1:
        raise _bad(f"state {where} is {value!r}, expected null, {{\"array\": i}}, "
                   f"{{\"tuple\": [...]}} or {{\"list\": [...]}}")
    kind, item = next(iter(value.items()))
    if kind == "array":
        if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item < len(arrays):
            raise _bad(f"state {where} refers to array {item!r}; the data holds "
                       f"{len(arrays)} arrays")
        if used[item]:
            raise _bad(f"state {where} refers to array {item}, which another state uses")
        used[item] = True
        return arrays[item]
    if kind in ("tuple", "list"):
        if not isinstance(item, list):
            raise _bad(f"state {where}: {kind} items are {type(item).__name__}, expected a "
                       f"list")
        out = [_decode_state(v, arrays, used, f"{where}[{i}]") for i, v in enumerate(item)]
        return tuple(out) if kind == "tuple" else out
    raise _bad(f"state {where} has the tag {kind!r}, expected array, tuple or list")


def _check_key(key, where: str):
    if isinstance(key, bool) or not isinstance(key, (int, str)):
        raise TypeError(f"get_states: {where} {key!r} is {type(key).__name__}, expected an int "
                        f"or str parameter index")


def dumps(states: dict, optimizer=None) -> bytes:
    """Serializes ``states`` (index -> state) and, if given, ``optimizer``."""
    if not isinstance(states, dict):
        raise TypeError(f"get_states: states is {type(states).__name__}, expected a dict")
    arrays: list = []
    entries = []
    for key, state in states.items():
        _check_key(key, "state key")
        entries.append([key, _encode_state(state, arrays, repr(key))])
    header = {"states": entries, "optimizer": None}
    if optimizer is not None:
        attrs = dict(vars(optimizer))
        param_dict = attrs.pop("param_dict", None)
        if param_dict:
            raise TypeError("get_states(dump_optimizer=True): the optimizer has a param_dict, "
                            "whose parameters the optimizer state format cannot store")
        header["optimizer"] = {
            "name": type(optimizer).__name__.lower(),
            "class": type(optimizer).__name__,
            "attrs": {k: _encode_value(v, f"attribute {k!r}") for k, v in attrs.items()},
        }
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return (MAGIC + _PREFIX.pack(VERSION, len(text)) + text
            + params_format.dumps(arrays))


def loads(buf, registry: dict, current=None):
    """(states, optimizer or None) from bytes written by :func:`dumps`. ``registry`` maps
    optimizer names to classes; a saved optimizer is checked against its class (``current``,
    the optimizer in use, if of that class, else one built with no arguments): exactly
    its data attributes, each of the right kind and within its range."""
    if not isinstance(buf, (bytes, bytearray, memoryview)):
        raise TypeError(f"set_states: states is {type(buf).__name__}, expected bytes")
    buf = bytes(buf)
    fixed = len(MAGIC) + _PREFIX.size
    if len(buf) < fixed or not buf.startswith(MAGIC):
        raise _bad(f"the data does not start with {MAGIC!r} (got {buf[:len(MAGIC)]!r}); "
                   f"it was not written by get_states or save_optimizer_states")
    version, size = _PREFIX.unpack_from(buf, len(MAGIC))
    if version != VERSION:
        raise _bad(f"format version {version}, expected {VERSION}")
    if size > len(buf) - fixed:
        raise _bad(f"the header claims {size} bytes, only {len(buf) - fixed} follow")
    try:
        header = json.loads(buf[fixed:fixed + size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise _bad(f"the header is not valid UTF-8 JSON ({e})") from None
    if not isinstance(header, dict) or set(header) != {"states", "optimizer"}:
        raise _bad("the header must be an object with exactly the keys 'states' and "
                   "'optimizer'")
    try:
        arrays = load_frombuffer(buf[fixed + size:])
    except MXNetError as e:
        raise _bad(f"the array data is corrupted ({e})") from None
    if not isinstance(arrays, list):
        raise _bad("the array data holds named arrays, expected a list")
    used = [False] * len(arrays)
    entries = header["states"]
    if not isinstance(entries, list):
        raise _bad(f"'states' is {type(entries).__name__}, expected a list")
    states = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, list) or len(entry) != 2:
            raise _bad(f"states entry {i} is {entry!r}, expected [key, state]")
        key = entry[0]
        if isinstance(key, bool) or not isinstance(key, (int, str)):
            raise _bad(f"states entry {i} has the key {key!r}, expected an int or str")
        if key in states:
            raise _bad(f"the key {key!r} appears twice")
        states[key] = _decode_state(entry[1], arrays, used, repr(key))
    if not all(used):
        raise _bad(f"{used.count(False)} of the {len(arrays)} arrays belong to no state")
    optimizer = None
    spec = header["optimizer"]
    if spec is not None:
        if not isinstance(spec, dict) or set(spec) != {"name", "class", "attrs"}:
            raise _bad("'optimizer' must be null or an object with the keys name, class and "
                       "attrs")
        name, cls_name, attrs = spec["name"], spec["class"], spec["attrs"]
        if not isinstance(name, str) or name not in registry:
            raise _bad(f"unknown optimizer {name!r} (registered: {', '.join(sorted(registry))})")
        cls = registry[name]
        if cls.__name__ != cls_name:
            raise _bad(f"the optimizer {name!r} is the class {cls.__name__} here, the data "
                       f"names {cls_name!r}")
        if not isinstance(attrs, dict):
            raise _bad(f"optimizer attributes are {type(attrs).__name__}, expected an object")
        optimizer = _restore_optimizer(cls, attrs, current)
    return states, optimizer


def _restore_optimizer(cls, attrs: dict, current):
    from ._hyperparameters import check_hyperparameters

    decoded = {k: _decode_value(v, f"optimizer attribute {k!r}") for k, v in attrs.items()}
    if type(current) is cls:
        reference = current
    else:
        try:
            reference = cls()
        except Exception as e:   # a user's class: whatever its constructor raises
            raise _bad(f"the optimizer class {cls.__name__} cannot be built without "
                       f"arguments ({type(e).__name__}: {e}), so its saved attributes "
                       f"cannot be checked; create it and load states saved without "
                       f"the optimizer") from None
    from ..lr_scheduler import LRScheduler

    sched = decoded.get("lr_scheduler")
    if sched is not None and not isinstance(sched, LRScheduler):
        raise _bad(f"optimizer attribute 'lr_scheduler' is {_short(sched)}, expected null or "
                   f"a learning rate scheduler")
    optimizer = _restore(cls, decoded, reference, "optimizer")
    optimizer.param_dict = {}
    try:
        check_hyperparameters(optimizer)
    except ValueError as e:
        raise _bad(f"optimizer attribute: {e}") from None
    return optimizer


def _check_state(state, expected, where: str) -> None:
    if expected is None:
        if state is not None:
            raise _bad(f"state {where} holds {_describe_state(state)}, where the optimizer "
                       f"keeps no state")
        return
    if isinstance(expected, NDArray):
        if not isinstance(state, NDArray):
            raise _bad(f"state {where} is {_describe_state(state)}, expected an array of "
                       f"shape {expected.shape} and dtype {np.dtype(expected.dtype).name}")
        if state.shape != expected.shape or np.dtype(state.dtype) != np.dtype(expected.dtype):
            raise _bad(f"state {where} has shape {state.shape} and dtype "
                       f"{np.dtype(state.dtype).name}, expected shape {expected.shape} and "
                       f"dtype {np.dtype(expected.dtype).name}")
        return
    if not isinstance(state, (tuple, list)) or len(state) != len(expected):
        raise _bad(f"state {where} is {_describe_state(state)}, expected "
                   f"{_describe_state(expected)}")
    for i, (s, e) in enumerate(zip(state, expected)):
        _check_state(s, e, f"{where}[{i}]")


def _describe_state(state) -> str:
    if state is None:
        return "none"
    if isinstance(state, NDArray):
        return f"an array of shape {state.shape}"
    return f"a {type(state).__name__} of {len(state)}"


def check_states(states: dict, optimizer, weights: dict | None, current: dict) -> None:
    """Raises MXNetError naming the key of the first state in ``states`` that does not fit:
    whose parameter (``weights``: index -> weight NDArray) is unknown, or whose structure,
    shapes or dtypes differ from those ``optimizer`` creates for that weight (or, with no
    weights, from the ``current`` state of that index)."""
    for key, state in states.items():
        if weights is not None:
            if key not in weights:
                raise _bad(f"the state {key!r} belongs to no parameter (parameter indices: "
                           f"{_short(sorted(weights, key=str))})")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = optimizer.create_state_multi_precision(key, weights[key])
        elif key in current:
            expected = current[key]
        else:
            continue
        _check_state(state, expected, f"{key!r} ({type(optimizer).__name__})")
