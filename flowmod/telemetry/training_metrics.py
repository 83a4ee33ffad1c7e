"""The training metric families, one set per Prometheus registry.

Labels are ``module`` (the name a :class:`~flowmod.telemetry.PrometheusReporter` was given)
and ``metric`` (an evaluation metric's name): both are chosen by the program, never derived
from data, so the number of series stays bounded.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["TrainingMetrics", "BATCH_DURATION_BUCKETS"]

# 100 us to about 105 s in factors of two: a small MLP's batch to a large model's.
BATCH_DURATION_BUCKETS = tuple(1e-4 * 2 ** i for i in range(21)) + (float("inf"),)


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
        self.samples = Counter("flowmod_training_samples", "Training samples whose batch "
                               "update has finished.", labels, registry=registry)
        self.batches = Counter("flowmod_training_batches", "Training batches whose update "
                               "has finished.", labels, registry=registry)
        self.batch_duration = Histogram(
            "flowmod_training_batch_duration_seconds",
            "Time from a batch's start (dispatch begun, previous batch finished) to the end "
            "of its update on the engine.", labels, buckets=BATCH_DURATION_BUCKETS,
            registry=registry)
        self.epoch = Gauge("flowmod_training_epoch", "The epoch of the latest training batch, "
                           "counted from 0.", labels, registry=registry)
        self.train_value = Gauge("flowmod_training_metric", "The latest value of a training "
                                 "metric over the current epoch.", ["module", "metric"],
                                 registry=registry)
        self.eval_value = Gauge("flowmod_evaluation_metric", "The latest value of a "
                                "validation metric.", ["module", "metric"], registry=registry)
