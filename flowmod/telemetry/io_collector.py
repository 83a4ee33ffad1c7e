"""The data iterators' counters (``flowmod.io.io_stats``) as Prometheus metrics, read at
scrape time."""
from __future__ import annotations

from typing import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from ..io import io_stats

__all__ = ["IOCollector"]

_CORRUPT = ("flowmod_io_corrupt_records", "Records a data iterator skipped because their "
            "image could not be decoded.")


class IOCollector(Collector):
    """IOCollector()

    A ``prometheus_client`` collector of the data iterators' counters (``enable``
    registers it):

    - ``flowmod_io_corrupt_records_total{iterator}``: records skipped as corrupt
      (``ImageRecordIter(raise_on_corrupt=False)``, the default), by iterator name.
    """

    def describe(self) -> list[Metric]:
        return [CounterMetricFamily(*_CORRUPT, labels=["iterator"])]

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(*_CORRUPT, labels=["iterator"])
        for name, count in sorted(io_stats.corrupt_records().items()):
            family.add_metric([name], count)
        yield family
