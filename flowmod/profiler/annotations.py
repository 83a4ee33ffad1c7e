"""MXNet's profiling annotations: Domain, Task, Frame, Event, Counter, Marker, and scope.

Each records on the calling thread's track of the trace's host process while the profiler
runs (unpaused), and not otherwise; tasks, frames and events also count in the aggregate
table, under their domain's name ("Event" for an Event).
"""
from __future__ import annotations

import contextlib
import threading

from ..base import MXNetError
from .session import SESSION, now_ns, record_span, scoped as _scoped, scopes as _scopes


def _recording() -> bool:
    return SESSION.running and not SESSION.paused


def _check_name(what: str, name) -> str:
    if not isinstance(name, str) or not name:
        raise MXNetError(f"profiler.{what}: name={name!r}: expected a non-empty string")
    return name


class Domain:
    """Domain(name)

    A category of profiling objects (tasks, frames, counters, markers), shown as the events'
    category in the trace and as a section of the aggregate table."""

    def __init__(self, name):
        self.name = _check_name("Domain", name)

    def __str__(self):
        return self.name

    def new_task(self, name):
        """new_task(name) -> Task in this domain."""
        return Task(self, name)

    def new_frame(self, name):
        """new_frame(name) -> Frame in this domain."""
        return Frame(self, name)

    def new_counter(self, name, value=None):
        """new_counter(name, value=None) -> Counter in this domain."""
        return Counter(self, name, value)

    def new_marker(self, name):
        """new_marker(name) -> Marker in this domain."""
        return Marker(self, name)


def _check_domain(what: str, domain) -> Domain:
    if not isinstance(domain, Domain):
        raise MXNetError(f"profiler.{what}: domain={domain!r}: expected a profiler.Domain")
    return domain


class _Duration:
    """A span measured between start() and stop() on one thread."""

    _category = "Event"

    def __init__(self, name):
        self.name = _check_name(type(self).__name__, name)
        self._start = None

    def start(self):
        """Starts timing (a second start restarts it)."""
        self._start = now_ns()

    def stop(self):
        """Stops timing and records the span, if the profiler runs."""
        if self._start is None:
            raise MXNetError(f"profiler.{type(self).__name__} {self.name!r}: stop() without "
                             f"start()")
        start, self._start = self._start, None
        if _recording():
            record_span(_scoped(self.name), self._category, start, now_ns(),
                        stat_category=self._category)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def __str__(self):
        return self.name


class Task(_Duration):
    """Task(domain, name)

    A logical unit of work on one thread; its passes accumulate into one line of the
    aggregate table. ``start()``/``stop()``, or use it as a context manager."""

    def __init__(self, domain, name):
        super().__init__(name)
        self.domain = _check_domain("Task", domain)
        self._category = domain.name


class Frame(_Duration):
    """Frame(domain, name)

    A period between two points (a training iteration, a video frame), each pass its own
    span. ``start()``/``stop()``, or use it as a context manager."""

    def __init__(self, domain, name):
        super().__init__(name)
        self.domain = _check_domain("Frame", domain)
        self._category = domain.name


class Event(_Duration):
    """Event(name)

    A span of any code, not tied to a domain. ``start()``/``stop()``, or use it as a
    context manager."""


class Counter:
    """Counter(domain, name, value=None)

    A value tracked over time: a counter track in the trace, one sample per change."""

    def __init__(self, domain, name, value=None):
        self.domain = _check_domain("Counter", domain)
        self.name = _check_name("Counter", name)
        self._value = 0
        self._lock = threading.Lock()
        if value is not None:
            self.set_value(value)

    def _sample(self, value: int) -> None:
        if _recording():
            SESSION.add_event({"name": self.name, "cat": self.domain.name, "ph": "C",
                               "ts": now_ns(), "tid": threading.get_ident(),
                               "args": {self.name: value}})

    def _checked(self, value, what: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise MXNetError(f"profiler.Counter {self.name!r}: {what}={value!r}: expected an "
                             f"integer")
        return value

    def set_value(self, value):
        """Sets the counter to ``value``."""
        value = self._checked(value, "value")
        with self._lock:
            self._value = value
        self._sample(value)

    def increment(self, delta=1):
        """Adds ``delta``."""
        delta = self._checked(delta, "delta")
        with self._lock:
            self._value += delta
            value = self._value
        self._sample(value)

    def decrement(self, delta=1):
        """Subtracts ``delta``."""
        self.increment(-self._checked(delta, "delta"))

    def __iadd__(self, delta):
        self.increment(delta)
        return self

    def __isub__(self, delta):
        self.decrement(delta)
        return self

    def __str__(self):
        return self.name


_MARKER_SCOPES = {"global": "g", "process": "p", "thread": "t", "task": "t", "marker": "t"}


class Marker:
    """Marker(domain, name)

    An instant in time: ``mark(scope='process')`` draws a line across the process's tracks
    ('global': all processes; 'thread', 'task', 'marker': the calling thread's track)."""

    def __init__(self, domain, name):
        self.domain = _check_domain("Marker", domain)
        self.name = _check_name("Marker", name)

    def mark(self, scope="process"):
        """mark(scope='process'): records the instant."""
        s = _MARKER_SCOPES.get(scope)
        if s is None:
            raise MXNetError(f"profiler.Marker.mark: scope={scope!r}: expected one of "
                             f"{', '.join(_MARKER_SCOPES)}")
        if _recording():
            SESSION.add_event({"name": _scoped(self.name), "cat": self.domain.name, "ph": "i",
                               "s": s, "ts": now_ns(), "tid": threading.get_ident()})


@contextlib.contextmanager
def scope(name="<unk>:", append_mode=False):
    """scope(name='<unk>:', append_mode=False)

    Names what the calling thread records inside it: its annotations and its API-call spans
    are prefixed with ``name`` (appended to the enclosing scope's with ``append_mode``), and
    the scope itself is a span on the thread's track::

        with mx.profiler.scope("eval:"):
            mod.score(val_iter, "acc")
    """
    name = _check_name("scope", name)
    outer = getattr(_scopes, "prefix", "")
    _scopes.prefix = outer + name if append_mode else name
    start = now_ns()
    try:
        yield
    finally:
        _scopes.prefix = outer
        if _recording():
            record_span(name.rstrip(":") or name, "scope", start, now_ns())
