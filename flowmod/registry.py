"""Registries of classes by name (``mxnet.registry``): what lets ``mx.init.create('xavier')``,
``mx.metric.create('acc')`` and their JSON forms find a class.

Each registry belongs to a base class and has a nickname ('initializer', 'metric'), used
in messages and as the key naming the class in a configuration dict::

    register = get_register_func(EvalMetric, 'metric')
    alias = get_alias_func(EvalMetric, 'metric')
    create = get_create_func(EvalMetric, 'metric')

    create('acc')                             # Accuracy()
    create('["xavier", {"magnitude": 2}]')    # a JSON [name, kwargs] pair
    create({'metric': 'mae', 'name': 'err'})  # a dict holding the name under the nickname
"""
from __future__ import annotations

import json
import warnings

from .base import string_types

__all__ = ["get_registry", "get_register_func", "get_alias_func", "get_create_func"]

_REGISTRY: dict = {}


def get_registry(base_class) -> dict:
    """get_registry(base_class): a copy of {name: class} registered for ``base_class``."""
    return dict(_REGISTRY.get(base_class, {}))


def _check_class(klass, base_class, nickname: str) -> None:
    if not (isinstance(klass, type) and issubclass(klass, base_class)):
        raise TypeError(f"register: {klass!r} is not a subclass of {base_class.__name__}; only "
                        f"{nickname} classes can be registered as a {nickname}")


def get_register_func(base_class, nickname: str):
    """get_register_func(base_class, nickname): a decorator registering a subclass of
    ``base_class`` under its lower-cased class name. Registering another class under a name
    in use replaces it, with a warning."""
    registry = _REGISTRY.setdefault(base_class, {})

    def register(klass, name=None):
        _check_class(klass, base_class, nickname)
        key = (klass.__name__ if name is None else name).lower()
        if key in registry and registry[key] is not klass:
            warnings.warn(f"New {nickname} {klass.__module__}.{klass.__name__} registered with "
                          f"name {key} is overriding existing {nickname} "
                          f"{registry[key].__module__}.{registry[key].__name__}",
                          UserWarning, stacklevel=2)
        registry[key] = klass
        return klass

    register.__doc__ = f"Registers a {nickname} class under its lower-cased name."
    return register


def get_alias_func(base_class, nickname: str):
    """get_alias_func(base_class, nickname): ``alias(*names)``, a decorator registering a
    class under further names."""
    register = get_register_func(base_class, nickname)

    def alias(*aliases):
        def decorate(klass):
            for name in aliases:
                register(klass, name)
            return klass
        return decorate

    alias.__doc__ = f"Registers a {nickname} class under other names."
    return alias


def get_create_func(base_class, nickname: str):
    """get_create_func(base_class, nickname): ``create(name, *args, **kwargs)``, making an
    instance of the class registered as ``name`` (case-insensitive). ``name`` may also be an
    instance (returned as is, without further arguments), a JSON ``[name, kwargs]`` list or
    ``{nickname: name, ...}`` object, or such a dict."""
    registry = _REGISTRY.setdefault(base_class, {})

    def create(*args, **kwargs):
        if args:
            name, args = args[0], args[1:]
        elif nickname in kwargs:
            name = kwargs.pop(nickname)
        else:
            raise TypeError(f"create: expected the {nickname} as first argument or as "
                            f"{nickname}=...")
        if isinstance(name, base_class):
            if args or kwargs:
                raise ValueError(f"create: {nickname} {name!r} is already an instance; further "
                                 f"arguments ({args!r}, {kwargs!r}) are invalid")
            return name
        if isinstance(name, dict):
            return create(**name)
        if not isinstance(name, string_types):
            raise TypeError(f"create: {nickname}={name!r}: expected a name (str), a "
                            f"{base_class.__name__} or a dict")
        stripped = name.strip()
        if stripped.startswith("[") or stripped.startswith("{"):
            if args or kwargs:
                raise ValueError(f"create: {nickname}={name!r} is a JSON description; further "
                                 f"arguments are invalid")
            try:
                spec = json.loads(stripped)
            except ValueError as err:
                raise ValueError(f"create: {nickname}={name!r} is not valid JSON: {err}") from None
            if isinstance(spec, list):
                if len(spec) != 2 or not isinstance(spec[0], str) or not isinstance(spec[1], dict):
                    raise ValueError(f"create: {nickname}={name!r}: expected a JSON "
                                     f"[name, {{arguments}}] pair")
                return create(spec[0], **spec[1])
            return create(**spec)
        key = name.lower()
        if key not in registry:
            raise ValueError(f"create: {nickname} {name!r} is not registered; registered names "
                             f"are {', '.join(sorted(registry))}. Register with "
                             f"{nickname}.register first")
        return registry[key](*args, **kwargs)

    create.__doc__ = (f"create({nickname}, *args, **kwargs): an instance of the {nickname} "
                      f"registered under that name.")
    return create
