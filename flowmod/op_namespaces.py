"""The operator namespaces MXNet derives from registered names: ``_contrib_X`` is
``mx.nd.contrib.X`` and ``mx.sym.contrib.X``, ``_linalg_X`` is ``mx.nd.linalg.X`` and
``mx.sym.linalg.X``. An operator registers its MXNet name once (in ``csrc/ops``); the namespace
modules are filled from the registry at import, so a new ``_contrib_`` operator appears in both
without a Python edit."""
from __future__ import annotations

from typing import Callable, Dict

PREFIXES = {"contrib": "_contrib_", "linalg": "_linalg_"}


def members(functions: Dict[str, Callable], namespace: str) -> Dict[str, Callable]:
    """The functions of ``namespace`` (``'contrib'``, ``'linalg'``) by their short names."""
    prefix = PREFIXES[namespace]
    return {name[len(prefix):]: fn for name, fn in functions.items() if name.startswith(prefix)}


def fill(module_globals: dict, functions: Dict[str, Callable], namespace: str) -> None:
    """Puts the members of ``namespace`` into a module's globals and its ``__all__``."""
    found = members(functions, namespace)
    module_globals.update(found)
    module_globals["__all__"] = sorted(found)


# The distributions MXNet registers a ``_random_<name>_like`` operator for.
LIKE_DISTRIBUTIONS = ("uniform", "normal", "exponential", "gamma", "poisson", "negative_binomial",
                      "generalized_negative_binomial")


def random_like_functions(functions: Dict[str, Callable]) -> Dict[str, Callable]:
    """``uniform_like``, ``normal_like``, ...: the ``_random_<name>_like`` operators under the
    names ``mx.nd.random`` and ``mx.sym.random`` give them."""
    def wrap(key: str) -> Callable:
        fn = functions[f"_random_{key}_like"]

        def like(*args, **kwargs):
            return fn(*args, **kwargs)

        like.__name__ = like.__qualname__ = f"{key}_like"
        like.__signature__ = fn.__signature__
        like.__doc__ = fn.__doc__
        return like

    return {f"{key}_like": wrap(key) for key in LIKE_DISTRIBUTIONS}
