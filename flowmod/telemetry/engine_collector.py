"""The engine's counters as Prometheus metrics, read at scrape time.

The engine counts every operation on its hot path in per-thread blocks (``engine/stats.h``);
this collector turns one ``flowmod.engine.stats()`` snapshot into metric families when
Prometheus scrapes, so an operation costs no Python work at all.
"""
from __future__ import annotations

import re
from typing import Iterator

from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                    HistogramMetricFamily, InfoMetricFamily, Metric)
from prometheus_client.registry import Collector

from .. import _native, engine
from ..base import MXNetError
from ..context import Context

__all__ = ["EngineCollector"]

_DEVICE = re.compile(r"(cpu|gpu)\((\d+)\)")

# (metric name, LaneStats field, help) of the per-lane counters.
_LANE_COUNTERS = (
    ("flowmod_engine_ops_pushed", "pushed", "Operations pushed to the engine."),
    ("flowmod_engine_ops_completed", "completed", "Operations that finished without error."),
    ("flowmod_engine_ops_failed", "failed",
     "Operations that raised or reported a failure."),
    ("flowmod_engine_ops_skipped", "skipped",
     "Operations not run because a var they read had failed."),
)


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


class EngineCollector(Collector):
    """EngineCollector()

    A ``prometheus_client`` collector of the engine's counters and of host storage. Register
    it once per registry (``flowmod.telemetry.enable`` does)::

        from prometheus_client import CollectorRegistry, generate_latest
        registry = CollectorRegistry()
        registry.register(EngineCollector())
        print(generate_latest(registry).decode())

    Families (labels ``device`` such as ``cpu(0)`` and ``lane``, ``compute``, ``copy`` or ``python``):

    - ``flowmod_engine_ops_{pushed,completed,failed,skipped}_total``: counters;
    - ``flowmod_engine_queue_depth{state}``: operations waiting for their dependencies
      (``state="waiting"``) or queued for a worker (``state="ready"``);
    - ``flowmod_engine_ops_running``: operations on a worker now;
    - ``flowmod_engine_workers``: the lane's worker threads;
    - ``flowmod_engine_op_duration_seconds{op}``: a histogram per operator name (the engine
      bounds the number of names, so the label set stays bounded);
    - ``flowmod_engine_info{engine_type}``;
    - ``flowmod_storage_in_use_bytes``, ``flowmod_storage_pooled_bytes`` (``device="cpu"``:
      every CPU device allocates from one host pool).
    """

    def describe(self) -> list[Metric]:
        # Names without values: registering the collector takes no snapshot.
        families: list[Metric] = [
            CounterMetricFamily(name, help_text, labels=["device", "lane"])
            for name, _, help_text in _LANE_COUNTERS]
        families += [
            GaugeMetricFamily("flowmod_engine_queue_depth", "", labels=["device", "lane", "state"]),
            GaugeMetricFamily("flowmod_engine_ops_running", "", labels=["device", "lane"]),
            GaugeMetricFamily("flowmod_engine_workers", "", labels=["device", "lane"]),
            HistogramMetricFamily("flowmod_engine_op_duration_seconds", "", labels=["op"]),
            InfoMetricFamily("flowmod_engine", "", labels=["engine_type"]),
            GaugeMetricFamily("flowmod_storage_in_use_bytes", "", labels=["device"]),
            GaugeMetricFamily("flowmod_storage_pooled_bytes", "", labels=["device"]),
        ]
        return families

    def collect(self) -> Iterator[Metric]:
        snap = engine.stats()
        info = InfoMetricFamily("flowmod_engine", "The dependency engine's kind.")
        info.add_metric([], {"engine_type": snap.engine_type})
        yield info

        for name, field, help_text in _LANE_COUNTERS:
            family = CounterMetricFamily(name, help_text, labels=["device", "lane"])
            for lane in snap.lanes:
                family.add_metric([lane.device, lane.lane], getattr(lane, field))
            yield family

        depth = GaugeMetricFamily(
            "flowmod_engine_queue_depth",
            "Operations pushed and not yet running: waiting for their dependencies, or ready "
            "and queued for a worker.", labels=["device", "lane", "state"])
        running = GaugeMetricFamily("flowmod_engine_ops_running",
                                    "Operations running on a worker now.",
                                    labels=["device", "lane"])
        workers = GaugeMetricFamily("flowmod_engine_workers", "Worker threads of the lane.",
                                    labels=["device", "lane"])
        for lane in snap.lanes:
            depth.add_metric([lane.device, lane.lane, "waiting"], lane.waiting)
            depth.add_metric([lane.device, lane.lane, "ready"], lane.ready)
            running.add_metric([lane.device, lane.lane], lane.running)
            count = _workers(lane.device, lane.lane)
            if count is not None:
                workers.add_metric([lane.device, lane.lane], count)
        yield depth
        yield running
        yield workers

        latency = HistogramMetricFamily(
            "flowmod_engine_op_duration_seconds",
            "How long operations ran on a worker, by operator name.", labels=["op"])
        for op in snap.op_latency:
            cumulative, buckets = 0, []
            for bound, n in zip(op.bucket_bounds, op.bucket_counts):
                cumulative += n
                buckets.append((_le(bound), cumulative))
            latency.add_metric([op.name], buckets, op.sum_seconds)
        yield latency

        in_use, pooled = _native.storage_bytes()
        used = GaugeMetricFamily("flowmod_storage_in_use_bytes",
                                 "Bytes of array storage held by live arrays.",
                                 labels=["device"])
        used.add_metric(["cpu"], in_use)
        yield used
        kept = GaugeMetricFamily("flowmod_storage_pooled_bytes",
                                 "Bytes of freed array storage kept for reuse.",
                                 labels=["device"])
        kept.add_metric(["cpu"], pooled)
        yield kept


def _workers(device: str, lane: str) -> int | None:
    match = _DEVICE.fullmatch(device)
    if match is None:
        return None
    try:
        return engine.num_workers(Context(match.group(1), int(match.group(2))), lane)
    except MXNetError:  # a device this build cannot run (a gpu lane): no gauge for it
        return None
