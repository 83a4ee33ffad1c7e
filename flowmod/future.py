"""Futures: the value of work pushed to the engine, awaited from trio or asyncio, or waited for
from plain code.

Every Module call pushes its work and returns at once with a ``Future``. A classic script
ignores it; an async program awaits only what it needs::

    outputs = await mod.forward(batch, is_train=False)   # a list of NDArrays, computed
    await mod.update()                                   # the parameters are written
    values = await outputs[0].asnumpy_async()

``await`` suspends only the awaiting task: the engine wakes it through the event loop's
thread-safe entry (``call_soon_threadsafe`` for asyncio, a trio token's ``run_sync_soon``
for trio), so the loop keeps running other tasks. ``result()`` blocks only its caller.

A future over arrays resolves once every write to them pushed before it was *armed* has
finished: right away for ``when_ready``; at the first ``done``, ``result``, ``exception``,
``add_done_callback`` or ``await`` for the futures Modules return, so that a script that never
looks at them costs nothing.
"""
from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Generator

from . import engine as _engine
from .base import MXNetError

__all__ = ["Future", "when_ready"]

_log = logging.getLogger(__name__)

# A future's life: pending until resolved, then exactly one of a value or an error.
_PENDING, _DONE = 0, 1


class Future:
    """Future()

    The result of work pushed to the engine. ``done()`` tells whether it is resolved;
    ``result(timeout=None)`` blocks the calling thread until it is and returns the value (or
    raises the error, an ``MXNetError`` naming the operator that failed); ``await future``
    does the same from a trio or asyncio task without blocking the event loop.

    Futures come from Module calls, ``NDArray`` (which is awaitable itself) and
    ``when_ready``; ``set_result`` / ``set_exception`` resolve one made by hand.
    """

    __slots__ = ("_state", "_value", "_error", "_callbacks", "_lock", "_event", "_arm_fn",
                 "_resolved_at", "__weakref__")

    def __init__(self) -> None:
        self._state = _PENDING
        self._value = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[["Future"], object]] = []
        self._lock = threading.Lock()
        self._event: threading.Event | None = None
        self._arm_fn: Callable[[], None] | None = None
        # time.perf_counter() when resolved (telemetry times batches by it).
        self._resolved_at: float | None = None

    # ---- resolving -------------------------------------------------------------------------
    def set_result(self, value: Any) -> None:
        """set_result(value): resolves the future with ``value``."""
        self._resolve(value, None)

    def set_exception(self, error: BaseException) -> None:
        """set_exception(error): resolves the future with ``error``, raised where it is
        waited for."""
        if not isinstance(error, BaseException):
            raise TypeError(f"set_exception(error={error!r}): expected an exception instance")
        self._resolve(None, error)

    def _resolve(self, value: Any, error: BaseException | None) -> None:
        with self._lock:
            if self._state is _DONE:
                raise MXNetError("Future: already resolved; a future is resolved once")
            self._value, self._error = value, error
            self._resolved_at = time.perf_counter()
            self._state = _DONE
            callbacks, self._callbacks = self._callbacks, []
            event = self._event
        if event is not None:
            event.set()
        for fn in callbacks:
            _run_callback(fn, self)

    def _arm(self) -> None:
        with self._lock:
            fn, self._arm_fn = self._arm_fn, None
        if fn is not None:
            fn()

    # ---- reading ---------------------------------------------------------------------------
    def done(self) -> bool:
        """done() -> bool: whether the future is resolved (never blocks)."""
        if self._arm_fn is not None:
            self._arm()
        return self._state is _DONE

    def result(self, timeout: float | None = None) -> Any:
        """result(timeout=None): the value, once resolved; blocks the calling thread only
        (at most ``timeout`` seconds, then raises TimeoutError). Raises the future's error
        if it has one."""
        if self._state is not _DONE:
            self._wait(timeout)
        if self._error is not None:
            raise self._error
        return self._value

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """exception(timeout=None): the error the future resolved with, or None; waits like
        ``result``."""
        if self._state is not _DONE:
            self._wait(timeout)
        return self._error

    def _wait(self, timeout: float | None) -> None:
        if timeout is not None and not (isinstance(timeout, (int, float)) and timeout >= 0):
            raise MXNetError(f"result(timeout={timeout!r}): expected None or a number of "
                             f"seconds >= 0")
        if self._arm_fn is not None:
            self._arm()
        with self._lock:
            if self._state is _DONE:
                return
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        # Event.wait is interrupted by signals, so Ctrl-C reaches a script waiting here.
        if not event.wait(timeout):
            raise TimeoutError(f"Future.result: not resolved after {timeout} s")

    def add_done_callback(self, fn: Callable[["Future"], object]) -> None:
        """add_done_callback(fn): calls ``fn(future)`` once it is resolved: at once (in this
        thread) if it already is, else on the thread that resolves it (the engine's callback
        thread for engine work). Keep ``fn`` short. An exception it raises is logged."""
        if not callable(fn):
            raise MXNetError(f"add_done_callback(fn={fn!r}): expected a callable")
        with self._lock:
            if self._state is not _DONE:
                self._callbacks.append(fn)
                fn = None
        if fn is not None:
            _run_callback(fn, self)
        elif self._arm_fn is not None:
            self._arm()

    def __await__(self) -> Generator[Any, None, Any]:
        if self._state is not _DONE:
            yield from _wait_in_event_loop(self).__await__()
        if self._error is not None:
            raise self._error
        return self._value

    def __repr__(self) -> str:
        if self._state is not _DONE:
            return "<Future pending>"
        if self._error is not None:
            return f"<Future error={self._error!r}>"
        return f"<Future done value={type(self._value).__name__}>"


def _run_callback(fn: Callable[[Future], object], fut: Future) -> None:
    try:
        fn(fut)
    except Exception:  # a callback's failure must not stop the others or the engine's thread
        _log.exception("flowmod.Future: done callback %r raised", fn)


async def _wait_in_event_loop(fut: Future) -> None:
    """Suspends the current task until ``fut`` is resolved, under whichever async library
    runs it."""
    import sniffio
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        raise MXNetError("await Future: no trio or asyncio event loop is running in this "
                         "thread; use future.result() from plain code") from None
    if library == "trio":
        await _wait_trio(fut)
    elif library == "asyncio":
        await _wait_asyncio(fut)
    else:
        raise MXNetError(f"await Future: async library {library!r} is not supported; "
                         f"expected trio or asyncio")


async def _wait_trio(fut: Future) -> None:
    import trio
    token = trio.lowlevel.current_trio_token()
    event = trio.Event()

    def wake(_fut: Future) -> None:
        try:
            token.run_sync_soon(event.set)
        except trio.RunFinishedError:  # the run ended while the work was in flight
            pass

    fut.add_done_callback(wake)
    await event.wait()


async def _wait_asyncio(fut: Future) -> None:
    import asyncio
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()

    def settle() -> None:
        if not waiter.done():  # the awaiting task may have been cancelled meanwhile
            waiter.set_result(None)

    def wake(_fut: Future) -> None:
        try:
            loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the loop was closed while the work was in flight
            pass

    fut.add_done_callback(wake)
    await waiter


# ---- futures over engine work ------------------------------------------------------------
def _split(items: Iterable) -> tuple[list, list]:
    from .ndarray import NDArray
    arrays, variables = [], []
    for item in items:
        if isinstance(item, NDArray):
            arrays.append(item)
        elif isinstance(item, _engine.Var):
            variables.append(item)
        else:
            raise MXNetError(f"when_ready: {item!r} is a {type(item).__name__}, expected an "
                             f"NDArray or an engine Var")
    return arrays, variables


def _arm_over(fut: Future, arrays: list, variables: list, value: Any) -> None:
    """Resolves ``fut`` to ``value`` once the engine has completed the writes of every array
    and var pushed so far (or with the first error), from completion callbacks: no thread
    waits and nothing polls."""
    targets = {id(a._h): a._h.on_complete for a in arrays}   # a view twice is waited once
    targets.update((id(v), functools.partial(_engine.on_complete, v)) for v in variables)
    if not targets:
        fut._resolve(value, None)
        return
    pending = [len(targets)]
    errors: list = []
    lock = threading.Lock()

    def part_done(error) -> None:
        with lock:
            if error is not None:
                errors.append(error)
            pending[0] -= 1
            last = pending[0] == 0
        if last:
            try:
                fut._resolve(value if not errors else None, errors[0] if errors else None)
            except MXNetError:  # resolved by hand meanwhile: that value stands
                pass

    for register in targets.values():
        register(part_done)


def when_ready(items: Iterable, value: Any = None) -> Future:
    """when_ready(items, value=None) -> Future

    A future that resolves to ``value`` once every write of ``items`` (NDArrays and engine
    Vars) pushed before this call has finished, or with the ``MXNetError`` of a failed one.
    Later writes are not waited for."""
    arrays, variables = _split(items)
    fut = Future()
    _arm_over(fut, arrays, variables, value)
    return fut


def _lazy(contents: Callable[[], tuple[list, Any]]) -> Future:
    """A future armed when first looked at (see the module's doc): ``contents()`` then gives
    the arrays to wait for and the value to resolve to."""
    fut = Future()

    def arm() -> None:
        arrays, value = contents()
        _arm_over(fut, [a for a in arrays if a is not None], [], value)

    fut._arm_fn = arm
    return fut


def _resolved(value: Any = None) -> Future:
    fut = Future()
    fut._value = value
    fut._resolved_at = time.perf_counter()
    fut._state = _DONE
    return fut
