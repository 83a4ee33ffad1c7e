"""The training metric families, one set per Prometheus registry.

Labels are ``module`` (the name a :class:`~flowmod.telemetry.PrometheusReporter` was given)
and ``metric`` (an evaluation metric's name): both are chosen by the program, never derived
from data, so the number of series stays bounded.
"""
from __future__ import annotations

import bisect
import threading
import weakref

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.utils import floatToGoString

__all__ = ["TrainingMetrics", "BATCH_DURATION_BUCKETS"]

# 100 us to about 105 s in factors of two: a small MLP's batch to a large model's.
BATCH_DURATION_BUCKETS = tuple(1e-4 * 2 ** i for i in range(21)) + (float("inf"),)


class _Folding:
    """Registered ahead of the training families: every collection of the registry (a scrape,
    ``get_sample_value``) first has each reporter fold the batches finished since the last one
    into the families, so the reporters do no Prometheus work per batch."""

    def __init__(self):
        self.reporters: weakref.WeakSet = weakref.WeakSet()

    def describe(self):
        return []

    def collect(self):
        for reporter in list(self.reporters):
            reporter._fold()
        return []


class BatchDurations:
    """The ``flowmod_training_batch_duration_seconds`` histogram (label ``module``), fed a
    fold's worth of durations at a time: a bucket search each, where a prometheus_client
    ``Histogram.observe`` per batch would cost more than a small model's batch is worth."""

    NAME = "flowmod_training_batch_duration_seconds"
    DOC = ("Time from a batch's start (dispatch begun, previous batch finished) to the end of "
           "its update on the engine.")

    def __init__(self, buckets=BATCH_DURATION_BUCKETS):
        self._bounds = [float(b) for b in buckets if b != float("inf")]
        self._lock = threading.Lock()
        self._series: dict[str, list] = {}  # module -> [count per bucket (and +Inf), sum]

    def observe(self, module: str, durations) -> None:
        """observe(module, durations): adds each of ``durations`` (seconds)."""
        bounds = self._bounds
        with self._lock:
            series = self._series.get(module)
            if series is None:
                series = self._series[module] = [[0] * (len(bounds) + 1), 0.0]
            counts = series[0]
            for d in durations:
                counts[bisect.bisect_left(bounds, d)] += 1
                series[1] += d

    def describe(self):
        yield HistogramMetricFamily(self.NAME, self.DOC, labels=["module"])

    def collect(self):
        family = HistogramMetricFamily(self.NAME, self.DOC, labels=["module"])
        with self._lock:
            series = [(m, list(c), t) for m, (c, t) in self._series.items()]
        les = [floatToGoString(b) for b in self._bounds] + ["+Inf"]
        for module, counts, total in series:
            cumulative, buckets = 0, []
            for le, n in zip(les, counts):
                cumulative += n
                buckets.append((le, cumulative))
            family.add_metric([module], buckets, total)
        yield family


class TrainingMetrics:
    """TrainingMetrics(registry)

    The training families registered in ``registry``; ``flowmod.telemetry.enable`` makes
    one per registry and reporters share it:

    - ``flowmod_training_samples_total``, ``flowmod_training_batches_total``: counted when a
      batch's parameter update has finished on the engine;
    - ``flowmod_training_batch_duration_seconds``: from the moment a batch could start (its
      dispatch began and the previous batch had finished) to the end of its update;
    - ``flowmod_training_epoch``: the epoch of the latest batch (counted from 0);
    - ``flowmod_training_metric{metric}``, ``flowmod_evaluation_metric{metric}``: the latest
      training value (since the epoch began) and validation value of each metric.
    """

    def __init__(self, registry: CollectorRegistry):
        labels = ["module"]
        self.folding = _Folding()
        registry.register(self.folding)
        self.samples = Counter("flowmod_training_samples", "Training samples whose batch "
                               "update has finished.", labels, registry=registry)
        self.batches = Counter("flowmod_training_batches", "Training batches whose update "
                               "has finished.", labels, registry=registry)
        self.batch_duration = BatchDurations()
        registry.register(self.batch_duration)
        self.epoch = Gauge("flowmod_training_epoch", "The epoch of the latest training batch, "
                           "counted from 0.", labels, registry=registry)
        self.train_value = Gauge("flowmod_training_metric", "The latest value of a training "
                                 "metric over the current epoch.", ["module", "metric"],
                                 registry=registry)
        self.eval_value = Gauge("flowmod_evaluation_metric", "The latest value of a "
                                "validation metric.", ["module", "metric"], registry=registry)
