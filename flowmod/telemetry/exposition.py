"""Turning telemetry on for a registry, and serving it over HTTP, WSGI or ASGI."""
from __future__ import annotations

import threading
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry

from . import following
from .engine_collector import EngineCollector
from .io_collector import IOCollector
from .training_metrics import TrainingMetrics

__all__ = ["enable", "start_http_server", "make_wsgi_app", "make_asgi_app"]

_lock = threading.Lock()
# id(registry) -> (registry, its TrainingMetrics). Registries live as long as the process
# in practice (the default one always does), so they are held strongly.
_enabled: dict[int, tuple[CollectorRegistry, TrainingMetrics]] = {}


def _registry(registry: CollectorRegistry | None) -> CollectorRegistry:
    if registry is None:
        return prometheus_client.REGISTRY
    if not isinstance(registry, CollectorRegistry):
        raise TypeError(f"registry={registry!r}: expected a prometheus_client.CollectorRegistry "
                        f"or None for the default registry")
    return registry


def enable(registry: CollectorRegistry | None = None) -> TrainingMetrics:
    """enable(registry=None) -> TrainingMetrics

    Registers the engine and data iterator collectors and the training families in
    ``registry`` (default: ``prometheus_client.REGISTRY``), once: later calls return the
    same families.
    ``start_http_server``, the app factories and ``PrometheusReporter`` call it.
    """
    registry = _registry(registry)
    with _lock:
        entry = _enabled.get(id(registry))
        if entry is None:
            registry.register(EngineCollector())
            registry.register(IOCollector())
            entry = (registry, TrainingMetrics(registry))
            _enabled[id(registry)] = entry
        return entry[1]


def start_http_server(port: int, addr: str = "127.0.0.1",
                      registry: CollectorRegistry | None = None) -> tuple[Any, threading.Thread]:
    """start_http_server(port, addr='127.0.0.1', registry=None) -> (server, thread)

    Serves ``registry``'s metrics (flowmod's included: see ``enable``) at
    ``http://addr:port/metrics`` from a daemon thread. The default address accepts
    connections from this machine only; pass ``addr="0.0.0.0"`` to let a Prometheus on
    another host scrape it. ``port=0`` picks a free port (``server.server_port``). Stop it
    with ``server.shutdown(); server.server_close()``.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"start_http_server: port={port!r}: expected an integer in [0, 65535]")
    if not isinstance(addr, str) or not addr:
        raise ValueError(f"start_http_server: addr={addr!r}: expected a host address such as "
                         f"'127.0.0.1'")
    registry = _registry(registry)
    enable(registry)
    server, thread = prometheus_client.start_http_server(port, addr=addr, registry=registry)
    following.served(registry, thread.is_alive)
    return server, thread


def make_wsgi_app(registry: CollectorRegistry | None = None):
    """make_wsgi_app(registry=None) -> WSGI application serving the metrics text, for
    mounting in an existing WSGI server (flowmod's metrics are enabled in ``registry``)."""
    registry = _registry(registry)
    enable(registry)
    app = prometheus_client.make_wsgi_app(registry)
    following.served(registry, following.while_alive(app))
    return app


def make_asgi_app(registry: CollectorRegistry | None = None):
    """make_asgi_app(registry=None) -> ASGI application serving the metrics text, for
    mounting in an asyncio web framework (flowmod's metrics are enabled in ``registry``)."""
    registry = _registry(registry)
    enable(registry)
    app = prometheus_client.make_asgi_app(registry)
    following.served(registry, following.while_alive(app))
    return app
