"""Prometheus metrics of the engine and of training (an addition to MXNet's API).

Nothing here runs until it is asked for: importing flowmod imports neither
``prometheus_client`` nor registers a metric, and no thread or server starts. Turning it on
takes one line::

    import flowmod as mx
    from flowmod import telemetry

    telemetry.start_http_server(8000)            # http://127.0.0.1:8000/metrics
    mod.fit(train_iter, eval_data=val_iter, num_epoch=10)

While an endpoint is served, every ``fit``, ``fit_async`` and ``score`` reports to it by
itself, labelled with the module's name (see :mod:`flowmod.telemetry.following`;
``fit(..., telemetry=False)`` opts out). A reporter of one's own replaces that default::

    reporter = telemetry.PrometheusReporter("mnist")
    mod.fit(train_iter, eval_data=val_iter, num_epoch=10, **reporter.callbacks())

What is exported:

- the engine (:class:`EngineCollector`, read from ``flowmod.engine.stats()`` at scrape time,
  so operations cost nothing extra): operations pushed, completed, failed and skipped per
  device and lane; queue depth (``state="waiting"`` for dependencies, ``state="ready"`` for
  a worker); running operations; workers; the duration histogram of each operator;
  host storage in use and pooled;
- the data iterators (:class:`IOCollector`): records skipped as corrupt,
  ``flowmod_io_corrupt_records_total{iterator}``;
- training (:class:`PrometheusReporter`, a Module callback): samples and batches whose
  update has finished, the batch duration histogram measured at completion on the engine
  (not at dispatch), the current epoch, and the latest training and evaluation metric values.

:func:`make_wsgi_app` and :func:`make_asgi_app` serve the same text from an existing web
application. ``dashboards/`` in the source tree holds a Grafana dashboard and a Prometheus
scrape configuration for these metrics.
"""
from __future__ import annotations

import importlib

__all__ = ["EngineCollector", "IOCollector", "PrometheusReporter", "TrainingMetrics",
           "enable", "start_http_server", "make_wsgi_app", "make_asgi_app"]

# Public name -> the submodule defining it. Submodules import prometheus_client, which is
# loaded (and registers its own process collectors) only once one of these is used.
_HOME = {
    "EngineCollector": "engine_collector",
    "IOCollector": "io_collector",
    "TrainingMetrics": "training_metrics",
    "PrometheusReporter": "reporter",
    "enable": "exposition",
    "start_http_server": "exposition",
    "make_wsgi_app": "exposition",
    "make_asgi_app": "exposition",
}


def __getattr__(name: str):
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'flowmod.telemetry' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
