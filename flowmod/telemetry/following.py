"""Telemetry that follows ``fit``, ``fit_async`` and ``score`` by itself.

While a metrics endpoint is served (``start_http_server``, ``make_wsgi_app``,
``make_asgi_app``), each of those calls reports to a ``PrometheusReporter`` of its own,
labelled with the module's name (its symbol's name, or the ``telemetry="name"`` given), kept
on the module so that successive calls add to the same series. ``telemetry=False`` opts a
call out; ``telemetry=reporter`` reports to that reporter instead, as does a reporter passed
among the call's callbacks (``**reporter.callbacks()``), which is then left to do it alone.

Nothing here imports ``prometheus_client``: with no endpoint served, deciding costs a list
check per call.
"""
from __future__ import annotations

import sys
import threading
import weakref

from ..base import MXNetError

# (registry, is_serving) of each endpoint started, newest last; exposition appends to it.
_endpoints: list = []
_lock = threading.Lock()


def served(registry, is_serving=lambda: True) -> None:
    """Notes that `registry` is being served (while ``is_serving()``)."""
    with _lock:
        _endpoints.append((registry, is_serving))


def while_alive(app):
    """A serving test for an application object: served while something holds it."""
    ref = weakref.ref(app)
    return lambda: ref() is not None


def _serving_registry():
    with _lock:
        _endpoints[:] = [(r, alive) for r, alive in _endpoints if alive()]
        return _endpoints[-1][0] if _endpoints else None


def _is_reporter(obj, reporter_type) -> bool:
    return isinstance(obj, reporter_type) or isinstance(getattr(obj, "__self__", None),
                                                        reporter_type)


def _module_name(module) -> str:
    symbol = getattr(module, "symbol", None)
    name = getattr(symbol, "name", None)
    return name if isinstance(name, str) and name else type(module).__name__


def check(telemetry, what: str) -> None:
    """Raises MXNetError unless `telemetry` is None, a bool, a name or a reporter."""
    if telemetry is None or isinstance(telemetry, bool):
        return
    if isinstance(telemetry, str):
        if not telemetry:
            raise MXNetError(f"{what}: telemetry='': expected a non-empty module name")
        return
    # A reporter exists only once its module is loaded: nothing to import to recognise one.
    reporter = sys.modules.get(f"{__package__}.reporter")
    if reporter is not None and isinstance(telemetry, reporter.PrometheusReporter):
        return
    raise MXNetError(f"{what}: telemetry={telemetry!r}: expected None (report while a metrics "
                     f"endpoint is served), False, a module name or a PrometheusReporter")


def reporter_for(module, telemetry, callbacks, what: str):
    """The reporter a call of `module` should report to, or None."""
    check(telemetry, what)
    if telemetry is False:
        return None
    if not isinstance(telemetry, (str, bool, type(None))):
        return telemetry
    if not _endpoints:
        return None
    registry = _serving_registry()
    if registry is None:
        return None
    from .reporter import PrometheusReporter
    for cb in callbacks:
        for one in cb if isinstance(cb, (list, tuple)) else [cb]:
            if _is_reporter(one, PrometheusReporter):
                return None
    name = telemetry if isinstance(telemetry, str) else _module_name(module)
    kept = module.__dict__.setdefault("_telemetry_reporters", {})
    key = (name, id(registry))
    reporter = kept.get(key)
    if reporter is None:
        reporter = kept[key] = PrometheusReporter(name, registry=registry, module=module)
    return reporter
