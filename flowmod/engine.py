"""The dependency engine, from Python.

Every piece of work flowmod does is an *operation* pushed to the engine with the vars it
reads and the vars it writes. The engine runs it as soon as its dependencies allow, on a
worker of its device's lane:

- a read runs after every earlier write of that var;
- a write runs after every earlier read and write of that var;
- reads of the same version run concurrently, and operations that share no var may run
  in any order, in parallel.

Most users never push by hand: NDArray operators, executors and Modules do. This module is
for extending flowmod (a Python step in a pipeline that must order with native work) and for
looking inside (``stats()``)::

    import flowmod as mx
    v = mx.engine.Var()
    out = []
    mx.engine.push(lambda: out.append(1), writes=[v])
    mx.engine.push(lambda: out.append(out[-1] + 1), reads=[v], writes=[v])
    mx.engine.wait(v)          # both ran, in push order
    assert out == [1, 2] and v.version == 2

The engine's kind is chosen by ``FLOWMOD_ENGINE_TYPE`` before the first use:
``ThreadedEngine`` (default) or ``NaiveEngine`` (every operation runs at push, on the caller:
for debugging). ``FLOWMOD_CPU_WORKER_NTHREADS`` sets the compute workers of each CPU device
(default: the number of cores) and ``FLOWMOD_CPU_COPY_NTHREADS`` its copy workers (default 1).

Blocking calls:

- every wait (``wait``, ``wait_all``, ``NDArray.asnumpy`` / ``wait_to_read``, ``nd.waitall``,
  ``Future.result``) releases the GIL and raises ``KeyboardInterrupt`` on Ctrl-C within a few
  tens of milliseconds, leaving the awaited work queued: a later wait still gets its result;
- a wait inside an operation (a pushed callable that calls ``asnumpy``) lends its worker's place
  on the lane to another thread while it waits, so it never runs the lane out of workers; a
  wait that could never end raises ``MXNetError`` naming the operation instead of hanging: for
  the operation's own output, for a var it reads that a later push writes, for a var written by
  operations queued behind it, and ``wait_all`` inside an operation or ``on_complete`` callback;
- ``push`` blocks (without the GIL, interruptibly) while the device has
  ``FLOWMOD_ENGINE_MAX_INFLIGHT`` operations in flight (default 4096; ``0`` for no bound), until
  a quarter of them have run, so that a loop pushing faster than the workers run keeps its
  memory flat and interpreter exit waits only for what is in flight. Pushes from inside an
  operation or a callback never block.
"""
from __future__ import annotations

import atexit
import dataclasses
import os
from typing import Callable, Iterable, Sequence

from . import _native
from .base import MXNetError
from .context import Context, current_context

__all__ = [
    "Var", "NativeOp", "push", "push_async", "push_native", "push_bulk", "wait", "wait_all",
    "on_complete", "engine_type", "num_workers", "stats", "EngineStats", "LaneStats",
    "OpLatency",
]

Var = _native.Var
Var.__doc__ = """Var()

A versioned handle the engine orders operations by. ``version`` counts the writes of it that
have finished. Dropping the last reference deletes it once the operations using it are done.
"""

NativeOp = _native.NativeOp
NativeOp.__doc__ = """A native operation that can be pushed from Python without taking the GIL
when it runs. The diagnostic ones measure and exercise the engine itself:

- ``NativeOp.noop()``: does nothing (the engine's own cost per operation);
- ``NativeOp.sleep(seconds)``: holds its worker for ``seconds``;
- ``NativeOp.fail(message)``: fails with ``message``.

Operators and executors hand out their own native operations.
"""

_LANES = {"compute": 0, "copy": 1, "python": 2}


def _device(ctx: Context | None) -> tuple[int, int]:
    if ctx is None:
        ctx = current_context()
    elif not isinstance(ctx, Context):
        raise MXNetError(f"ctx={ctx!r}: expected a flowmod Context such as mx.cpu(0)")
    dev_type, dev_id = ctx.engine_device
    if dev_type == 2:
        raise MXNetError(f"ctx={ctx}: this build of flowmod has no GPU support (num_gpus() == 0)")
    return dev_type, dev_id


def _lane(lane: str) -> int:
    try:
        return _LANES[lane]
    except (KeyError, TypeError):
        raise MXNetError(f"lane={lane!r}: expected 'compute', 'copy' or 'python'") from None


def _priority(priority: int) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int) or abs(priority) >= 2**31:
        raise MXNetError(f"priority={priority!r}: expected a 32-bit integer")
    return priority


def push(fn: Callable[[], object], reads: Iterable[Var] = (), writes: Iterable[Var] = (),
         ctx: Context | None = None, lane: str = "compute", priority: int = 0,
         name: str | None = None) -> None:
    """push(fn, reads=(), writes=(), ctx=None, lane='compute', priority=0, name=None)

    Schedules the Python callable ``fn()`` after the operations it depends on and returns at
    once (unless the device has ``FLOWMOD_ENGINE_MAX_INFLIGHT`` operations in flight: see the
    module's doc). ``fn`` runs on a worker of ``ctx``'s ``lane`` (it takes the GIL while it runs).
    If it raises, every var in ``writes`` is marked failed: operations reading them are
    skipped, and ``wait`` on them raises ``MXNetError`` naming the operation (``name``, or
    ``fn``'s qualified name) and carrying the exception's message.

    Parameters
    ----------
    fn : callable taking no argument
    reads, writes : sequences of Var. A var in both is written; duplicates are harmless.
    ctx : Context, default ``current_context()``
    lane : 'compute', 'copy' or 'python' (the lane of operators written in Python)
    priority : int; higher runs first among the ready operations of one lane
    name : str, for errors and the per-operation latency histogram
    """
    if not callable(fn):
        raise MXNetError(f"fn={fn!r}: expected a callable taking no argument")
    dev_type, dev_id = _device(ctx)
    if name is None:
        name = getattr(fn, "__qualname__", None) or type(fn).__name__
    _native.push_python(fn, reads, writes, dev_type, dev_id, _lane(lane), _priority(priority),
                        str(name))


def push_async(fn: Callable[[Callable], object], reads: Iterable = (), writes: Iterable = (),
               ctx: Context | None = None, lane: str = "copy", priority: int = 0,
               name: str | None = None) -> None:
    """push_async(fn, reads=(), writes=(), ctx=None, lane='copy', priority=0, name=None)

    Schedules an *asynchronous* operation: once its dependencies allow, ``fn(done)`` runs on
    a worker of ``lane`` (with the GIL) and should only start the work, handing it to another
    thread (a communication thread, say), and return. The operation is finished when
    ``done()`` is called, from any thread, or failed with ``done("message")``; only the first
    call counts. Meanwhile the operation holds no worker, and what it writes stays unwritable
    (and what it reads unwritten) for everyone else. If ``fn`` raises before calling ``done``,
    the operation fails with the exception. ``reads`` and ``writes`` take Vars and NDArray
    handles (``arr.handle``); the caller keeps the arrays alive until ``done`` is called.
    """
    if not callable(fn):
        raise MXNetError(f"fn={fn!r}: expected a callable taking the completion callback")
    dev_type, dev_id = _device(ctx)
    if name is None:
        name = getattr(fn, "__qualname__", None) or type(fn).__name__
    _native.push_python_async(fn, list(reads), list(writes), dev_type, dev_id, _lane(lane),
                              _priority(priority), str(name))


def push_native(op: NativeOp, reads: Sequence[Var] = (), writes: Sequence[Var] = (),
                ctx: Context | None = None, lane: str = "compute", priority: int = 0) -> None:
    """push_native(op, reads=(), writes=(), ctx=None, lane='compute', priority=0)

    Schedules the native operation ``op`` like ``push`` does a Python callable; it runs
    without the GIL.
    """
    if ctx is None:
        ctx = current_context()
    if lane == "compute" and priority == 0 and type(ctx) is Context and ctx.device_typeid == 1:
        # The common case, checked with the least work: this call is made once per operation.
        _native.push_native(op, reads, writes, 1, ctx.device_id)
        return
    dev_type, dev_id = _device(ctx)
    _native.push_native(op, reads, writes, dev_type, dev_id, _lane(lane), _priority(priority))


def push_bulk(ops: Sequence[tuple[NativeOp, Sequence[Var], Sequence[Var]]],
              ctx: Context | None = None, lane: str = "compute", priority: int = 0) -> None:
    """push_bulk(ops, ctx=None, lane='compute', priority=0)

    Pushes every ``(op, reads, writes)`` of ``ops`` in order, with one call into the engine.
    Every entry is checked first: a malformed one raises and nothing is pushed.
    """
    dev_type, dev_id = _device(ctx)
    _native.push_bulk(ops, dev_type, dev_id, _lane(lane), _priority(priority))


def wait(var: Var) -> None:
    """wait(var)

    Blocks the calling thread (not others: the GIL is released) until every write of ``var``
    pushed before this call has finished. Raises ``MXNetError`` if the last one failed or was
    skipped because an input had failed, or if called inside an operation that those writes
    wait for; ``KeyboardInterrupt`` on Ctrl-C (the writes stay queued).
    """
    _native.wait(var)


def wait_all() -> None:
    """wait_all()

    Blocks until every operation pushed before this call has finished (or failed), and every
    ``on_complete`` callback registered before it has run. Failures are not raised here:
    they are raised where the failed vars are waited for. Raises ``MXNetError`` inside an
    operation or callback (it would wait for itself), ``KeyboardInterrupt`` on Ctrl-C.
    """
    _native.wait_all()


def on_complete(var: Var, callback: Callable[[MXNetError | None], object]) -> None:
    """on_complete(var, callback)

    Calls ``callback(error)`` once every write of ``var`` pushed before this call has
    finished: ``error`` is None, or the ``MXNetError`` that left ``var`` failed. Callbacks run
    one at a time on the engine's callback thread (never on a compute worker); keep them
    short, for example handing the result to an event loop with ``call_soon_threadsafe``.
    An exception a callback raises goes to ``sys.unraisablehook``.
    """
    _native.on_complete(var, callback)


def engine_type() -> str:
    """engine_type() -> 'ThreadedEngine' or 'NaiveEngine'"""
    return _native.engine_type()


def num_workers(ctx: Context | None = None, lane: str = "compute") -> int:
    """num_workers(ctx=None, lane='compute') -> int: the worker threads of that lane (0 in
    the naive engine)."""
    dev_type, dev_id = _device(ctx)
    return _native.num_workers(dev_type, dev_id, _lane(lane))


@dataclasses.dataclass(frozen=True)
class LaneStats:
    """Counters of one lane of one device. ``waiting``: pushed, dependencies not met;
    ``ready``: queued for a worker; ``running``: on a worker now."""
    device: str
    lane: str
    pushed: int
    completed: int
    failed: int
    skipped: int
    waiting: int
    ready: int
    running: int


@dataclasses.dataclass(frozen=True)
class OpLatency:
    """How long the operations of one name ran. ``bucket_counts[i]`` counts durations in
    ``(bucket_bounds[i-1], bucket_bounds[i]]`` seconds; the last bound is infinity."""
    name: str
    bucket_bounds: tuple[float, ...]
    bucket_counts: tuple[int, ...]
    count: int
    sum_seconds: float


@dataclasses.dataclass(frozen=True)
class EngineStats:
    """A snapshot of the engine's counters, from ``stats()``."""
    engine_type: str
    lanes: tuple[LaneStats, ...]
    op_latency: tuple[OpLatency, ...]

    def lane(self, ctx: Context | None = None, lane: str = "compute") -> LaneStats:
        """The counters of one lane of the device that runs ``ctx``'s work (zeros if it has
        run nothing yet); pinned and shared CPU contexts run on their CPU device."""
        dev_type, dev_id = (ctx if ctx is not None else current_context()).engine_device
        device = f"{'gpu' if dev_type == 2 else 'cpu'}({dev_id})"
        for entry in self.lanes:
            if entry.device == device and entry.lane == lane:
                return entry
        return LaneStats(device, lane, 0, 0, 0, 0, 0, 0, 0)


def stats() -> EngineStats:
    """stats() -> EngineStats

    One snapshot of the engine's counters per device and lane, and of the latency histogram
    of each named operation. Reading it costs nothing on the engine's hot path::

        s = mx.engine.stats()
        print(s.lane(mx.cpu(0)).completed)
    """
    lanes, latency, bounds = _native.stats()
    bounds = tuple(bounds)
    return EngineStats(
        engine_type=_native.engine_type(),
        lanes=tuple(LaneStats(f"{t}({i})", lane, *rest) for t, i, lane, *rest in lanes),
        op_latency=tuple(OpLatency(name, bounds, tuple(buckets), count, total)
                         for name, buckets, count, total in latency),
    )


def _shutdown() -> None:
    # Runs before the interpreter finalizes: pending operations that need the GIL can still
    # take it, and no worker is left to touch Python afterwards.
    _native.shutdown()


atexit.register(_shutdown)
def _drain_before_fork() -> None:
    try:
        _native.wait_all()
    except MXNetError:
        pass  # a fork from inside an operation cannot drain; its child refuses work


if hasattr(os, "register_at_fork"):
    # Drain before fork with the GIL released, so Python operations can finish; the native
    # fork handler then parks the workers, and both processes restart them on demand.
    os.register_at_fork(before=_drain_before_fork)
