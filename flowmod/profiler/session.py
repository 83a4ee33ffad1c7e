"""The profiler's state: its configuration, whether it runs, and what it has recorded.

The engine records operations in per-thread buffers (``_native.profiler_collect`` takes them);
Python-side events (API calls, annotations, counters) are appended here, on the thread that
makes them, to a list (an append holds the GIL: no lock); they are folded into the aggregate
statistics when those are read, not as they are made.
"""
from __future__ import annotations

import functools
import threading
import time
from typing import Callable

from .. import _native
from ..base import MXNetError

# set_config's keys and the types of their values (MXNet 1.9's names).
CONFIG_KEYS = {
    "filename": str,
    "profile_all": bool,
    "profile_symbolic": bool,
    "profile_imperative": bool,
    "profile_memory": bool,
    "profile_api": bool,
    "continuous_dump": bool,
    "dump_period": (int, float),
    "aggregate_stats": bool,
    "profile_process": str,
}
DEFAULT_CONFIG = {
    "filename": "profile.json",
    "profile_all": False,
    "profile_symbolic": True,
    "profile_imperative": True,
    "profile_memory": False,
    "profile_api": False,
    "continuous_dump": False,
    "dump_period": 1.0,
    "aggregate_stats": False,
    "profile_process": "worker",
}


def now_ns() -> int:
    """The engine's clock (steady_clock: CLOCK_MONOTONIC, as time.monotonic_ns on Linux)."""
    return time.monotonic_ns()


class Session:
    """What the profiler holds between set_state('run') and dump()."""

    def __init__(self):
        self.config = dict(DEFAULT_CONFIG)
        self.lock = threading.Lock()
        self.running = False   # set_state('run') and not stopped since
        self.paused = False
        self.api = False       # Python API calls are recorded now (running, unpaused, asked)
        self.origin_ns: int | None = None  # the trace's time zero: the first run
        self.engine_threads: list = []     # what _native.profiler_collect gave, in order
        self.names: dict = {}              # engine name id -> (label, kind, detail)
        self.slots: dict = {}              # engine slot -> (device type, index, lane)
        self.events: list = []             # Python-side trace events (dicts, ns times)
        self.aggregate: dict = {}          # category -> name -> [count, total, min, max]
        self._folded = 0                   # events already counted in the aggregate
        self._dumper: threading.Thread | None = None

    # ---- configuration -------------------------------------------------------------------
    def set_config(self, kwargs: dict) -> None:
        if self.running:
            raise MXNetError("profiler.set_config: the profiler is running; call "
                             "set_state('stop') first")
        updates = {key: _checked(key, value) for key, value in kwargs.items()}
        self.config.update(updates)

    def wants(self, what: str) -> bool:
        """Whether `what` ('symbolic', 'imperative', 'memory', 'api') is profiled."""
        return self.config["profile_all"] or self.config[f"profile_{what}"]

    # ---- state ---------------------------------------------------------------------------
    def run(self) -> None:
        if self.running:
            return
        if self.origin_ns is None:
            self.origin_ns = now_ns()
        self.running = True
        self.paused = False
        self._apply()
        if self.config["continuous_dump"]:
            self._start_dumper()

    def stop(self) -> None:
        if not self.running:
            return
        self.running = False
        self._apply()
        self.collect()

    def pause(self, paused: bool) -> None:
        self.paused = paused
        self._apply()

    def _apply(self) -> None:
        on = self.running and not self.paused
        self.api = on and self.wants("api")
        if on and (self.wants("symbolic") or self.wants("imperative")):
            _native.profiler_start()
        else:
            _native.profiler_stop()

    # ---- records -------------------------------------------------------------------------
    def collect(self) -> None:
        """Takes what the engine has recorded into this session."""
        threads, names, slots = _native.profiler_collect()
        with self.lock:
            self.names.update(names)
            self.slots.update(slots)
            if threads:
                self.engine_threads.extend(threads)
                if self.config["aggregate_stats"]:
                    self._aggregate_engine(threads, names)

    def _aggregate_engine(self, threads, names) -> None:
        table = self.aggregate.setdefault("operator", {})
        for _, ops in threads:
            for name, _slot, start, end, _failed, _async, _deps in ops:
                label, kind, _ = self.names.get(name, names.get(name, ("", "unnamed", "")))
                add_stat(table, label or kind, (end - start) / 1e3)

    def add_event(self, event: dict) -> None:
        """Appends a Python-side trace event (times in ns). An "X" event whose "_stat" names
        a category counts in that category of the aggregate table; a "C" event whose
        "_stat" names one counts its "_value" there (bytes)."""
        self.events.append(event)

    def fold_events(self) -> None:
        """Counts the events made since the last call in the aggregate statistics."""
        with self.lock:
            events, start = self.events, self._folded
            self._folded = len(events)
            if not self.config["aggregate_stats"]:
                return
            for e in events[start:self._folded]:
                category = e.get("_stat")
                if category is None:
                    continue
                value = e["dur"] / 1e3 if e["ph"] == "X" else float(e["_value"])
                add_stat(self.aggregate.setdefault(category, {}), e.get("_stat_name", e["name"]),
                         value)

    def reset_aggregate(self) -> None:
        with self.lock:
            self.aggregate.clear()
            self._folded = len(self.events)

    def clear(self) -> None:
        self.fold_events()
        with self.lock:
            self.engine_threads = []
            self.events = []
            self._folded = 0
            self.origin_ns = now_ns() if self.running else None

    # ---- continuous dumps ----------------------------------------------------------------
    def _start_dumper(self) -> None:
        if self._dumper is not None and self._dumper.is_alive():
            return
        from .trace import write_trace

        def loop():
            while self.running:
                time.sleep(self.config["dump_period"])
                if self.running:
                    self.collect()
                    write_trace(self, self.config["filename"])
        self._dumper = threading.Thread(target=loop, name="flowmod-profiler-dump", daemon=True)
        self._dumper.start()


def _checked(key: str, value):
    """set_config's `value` for `key`, as the type it takes; MXNetError if it is not one."""
    kind = CONFIG_KEYS.get(key)
    if kind is None:
        raise MXNetError(f"profiler.set_config: unknown key {key!r}: expected one of "
                         f"{', '.join(sorted(CONFIG_KEYS))}")
    if kind is bool:
        if value in ("True", "False", "1", "0"):  # MXNet passes every value as a string
            value = value in ("True", "1")
        if not isinstance(value, bool):
            raise MXNetError(f"profiler.set_config: {key}={value!r}: expected True or False")
        return value
    if isinstance(value, bool) or not isinstance(value, kind):
        raise MXNetError(f"profiler.set_config: {key}={value!r}: expected "
                         f"{'a string' if kind is str else 'a number'}")
    if key == "dump_period" and not value > 0:
        raise MXNetError(f"profiler.set_config: dump_period={value!r}: expected a positive "
                         f"number of seconds")
    if key == "profile_process" and value not in ("worker", "server"):
        raise MXNetError(f"profiler.set_config: profile_process={value!r}: expected 'worker' "
                         f"or 'server'")
    if key == "filename" and not value:
        raise MXNetError("profiler.set_config: filename='': expected a file name")
    return value


def add_stat(table: dict, name: str, value_us: float) -> None:
    stat = table.get(name)
    if stat is None:
        table[name] = [1, value_us, value_us, value_us]
    else:
        stat[0] += 1
        stat[1] += value_us
        if value_us < stat[2]:
            stat[2] = value_us
        if value_us > stat[3]:
            stat[3] = value_us


SESSION = Session()


# The calling thread's profiler.scope prefix.
scopes = threading.local()


def scoped(name: str) -> str:
    """`name` as the calling thread's current profiler.scope names it."""
    return getattr(scopes, "prefix", "") + name


def record_span(name: str, category: str, start_ns: int, end_ns: int, args=None,
                stat_category: str | None = None) -> None:
    """Records a complete event on the calling thread's track (named when the trace is
    built)."""
    event = {"name": name, "cat": category, "ph": "X", "ts": start_ns,
             "dur": end_ns - start_ns, "tid": threading.get_ident()}
    if args:
        event["args"] = args
    if stat_category is not None:
        event["_stat"] = stat_category
    SESSION.events.append(event)


def api(name: str) -> Callable:
    """Decorates a Module method so that, while the profiler records API calls, each call is a
    span named `name` on the calling thread's track (category ``flowmod_api``). Stopped, a
    call costs one attribute read more."""
    def decorate(func):
        @functools.wraps(func)
        def method(*args, **kwargs):
            if not SESSION.api:
                return func(*args, **kwargs)
            start = now_ns()
            try:
                return func(*args, **kwargs)
            finally:
                record_span(scoped(name), "flowmod_api", start, now_ns(),
                            stat_category="flowmod_api")
                if SESSION.wants("memory"):
                    record_storage()
        return method
    return decorate


def record_storage() -> None:
    """A sample of host storage for the counter track (bytes in use and pooled)."""
    in_use, pooled = _native.storage_bytes()
    SESSION.events.append({"name": "host storage", "cat": "memory", "ph": "C", "ts": now_ns(),
                           "device": ("cpu", 0), "args": {"in_use_bytes": in_use,
                                                          "pooled_bytes": pooled},
                           "_stat": "Device Storage", "_stat_name": "cpu/0",
                           "_value": in_use})


def batch_span(kind: str, nbatch: int, start_ns: int, end_ns: int, epoch: int) -> None:
    """A fit or score batch, as the loop pushed it, on the calling thread's track."""
    record_span(f"{kind} batch", "flowmod_api", start_ns, end_ns,
                {"epoch": epoch, "nbatch": nbatch}, stat_category="flowmod_api")

