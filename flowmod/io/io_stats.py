"""Process-wide counts of what the data iterators met, read by ``flowmod.telemetry``.

Counting is a dict update under a lock, with no Prometheus import: telemetry turns the
counts into metric families only when a registry is collected
(``flowmod.telemetry.IOCollector``). Labels are the ``iterator`` names the programs give
(ImageRecordIter: its ``telemetry_name``, by default the .rec file's name), so the number of
series stays bounded.
"""
from __future__ import annotations

import threading
from collections import Counter

__all__ = ["count_corrupt", "corrupt_records"]

_lock = threading.Lock()
_corrupt: Counter = Counter()


def count_corrupt(iterator: str, n: int = 1) -> None:
    """Adds ``n`` records skipped as corrupt by the iterator named ``iterator``."""
    with _lock:
        _corrupt[iterator] += n


def corrupt_records() -> dict[str, int]:
    """Iterator name -> records skipped as corrupt since the process started."""
    with _lock:
        return dict(_corrupt)
