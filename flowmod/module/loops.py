"""The training and prediction loops of BaseModule, written once for plain code and for trio
and asyncio.

Each loop is a generator (a *core*) that does the module calls and, wherever it must wait,
yields a request instead of waiting: ``_Wait(future)`` for engine work it cannot run ahead
of, ``_Ready(future)`` for values that user code (a callback, the caller) is about to read,
``_Next(source)`` for the next batch, ``_Checkpoint()`` once a batch to let other tasks run,
``_Emit(value)`` to hand a result out (``iter_predict``). A core never asks who answers.

Two drivers answer the requests, one per mode: ``_drive_sync`` by blocking the calling thread
(``fit``, ``score``, ``predict``, ``iter_predict``), ``_drive_async`` by awaiting (``fit_async``,
...), so the event loop keeps running other tasks. A blocking driver lets user code wait for
itself where it reads a value, so it answers ``_Ready`` at once; an awaiting one awaits it, so
that no callback blocks the event loop. Neither touches an event loop the caller may be
running, so the blocking calls work inside a notebook's running loop too.

Pushing runs ahead of the engine by at most ``depth`` batches: before batch k is pushed, the
loop waits for batch k - depth's update. Every batch's calls (forward, backward, update,
metric) are made between two requests, so an interruption or cancellation, which the loop only
takes at a request, never leaves half an update: the batches pushed finish on the engine and
no new one is pushed.

``blocking_method`` and ``awaiting_method`` make BaseModule's public pairs (``fit`` and
``fit_async``, ...) from one signature, so that the two cannot drift apart.
"""
from __future__ import annotations

import functools
import inspect
import signal
import threading
import time
from collections import deque
from typing import Any, AsyncIterator, Callable, Generator

import numpy as np

from .. import metric as _metric
from .. import ndarray as nd
from ..base import MXNetError
from ..future import Future, when_ready
from ..io import DataBatch, DataIter
from ..io.io import batch_shapes
from ..io.prefetch import _END, BatchRecord, Prefetcher
from ..model import BatchEndParam
from ..ndarray import NDArray
from .fit_hooks import nested_telemetry, open_hooks
from .distributed import reduce_name_values

# How many batches pushing may run ahead of the engine (and the prefetcher reads ahead).
DEFAULT_DEPTH = 2


class _Wait:
    __slots__ = ("future",)

    def __init__(self, future: Future):
        self.future = future


class _Ready(_Wait):
    __slots__ = ()


class _Next:
    __slots__ = ("source",)

    def __init__(self, source):
        self.source = source


class _Checkpoint:
    __slots__ = ()


class _Emit:
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


_CHECKPOINT = _Checkpoint()


def _as_list(obj) -> list:
    return list(obj) if isinstance(obj, (list, tuple)) else [obj]


# ---- batch sources ---------------------------------------------------------------------------
class _AsyncSource:
    """An async iterator of batches, read in the loop's own task."""

    def __init__(self, ait: AsyncIterator):
        self._ait = ait

    def _next_or_end(self):
        raise MXNetError("train_data is an async iterator: use fit_async / score_async / "
                         "predict_async / iter_predict_async, or pass a DataIter")

    async def _anext_or_end(self):
        try:
            return await self._ait.__anext__()
        except StopAsyncIteration:
            return _END

    def close(self) -> None:
        pass


class _InlineSource:
    """A DataIter read in the loop's own thread (one whose ``_read_on_thread`` is False)."""

    def __init__(self, data, take):
        self._it = iter(data)
        self._take = take
        self._finished = False

    def _next_or_end(self):
        if self._finished:
            return _END
        try:
            return self._take(next(self._it))
        except StopIteration:
            self._finished = True
            return _END

    async def _anext_or_end(self):
        return self._next_or_end()

    def close(self) -> None:
        self._finished = True


def _is_async_iterable(data) -> bool:
    return hasattr(data, "__aiter__") and not isinstance(data, (DataIter, Prefetcher))


def _open_source(data, depth: int, what: str):
    """The batch source of one pass over ``data`` (a DataIter, any iterable of batches, or an
    async iterable of batches): sync ones are read ahead in a worker thread, but for
    DataIters that say they gain nothing from one (``_read_on_thread``)."""
    if _is_async_iterable(data):
        return _AsyncSource(data.__aiter__())
    if isinstance(data, Prefetcher):
        return data
    if not hasattr(data, "__iter__"):
        raise MXNetError(f"{what}: the data is a {type(data).__name__}, expected a DataIter, "
                         f"an iterable or an async iterable of DataBatch")
    if isinstance(data, DataIter) and not data._read_on_thread:
        return _InlineSource(data, BatchRecord.of)
    return Prefetcher(data, depth, take=BatchRecord.of)


def _labels(batch):
    if isinstance(batch, list):
        return [b.label for b in batch], True
    return batch.label, False


def _update_future(mod, fut) -> Future:
    """An armed future of this batch's update (modules that return none: of its outputs)."""
    if isinstance(fut, Future):
        fut.done()  # arms it now: it waits for this batch's writes, not later ones
        return fut
    try:
        outputs = mod.get_outputs()
    except NotImplementedError:
        # A module that computes nothing on the engine (a BaseModule whose methods a script
        # replaced, as MXNet's tests do): nothing to wait for.
        outputs = []
    return when_ready(outputs or [])


def _metric_future(fut, eval_metric) -> Future:
    if isinstance(fut, Future):
        return fut
    return when_ready(eval_metric._arrays())


# ---- the cores -------------------------------------------------------------------------------
def _callbacks(callbacks, *args) -> None:
    for callback in _as_list(callbacks):
        callback(*args)


def score_core(self, eval_data, eval_metric, num_batch=None, batch_end_callback=None,
               score_end_callback=None, reset=True, epoch=0, sparse_row_id_fn=None,
               depth=DEFAULT_DEPTH, telemetry=None) -> Generator:
    """BaseModule.score's loop (see the module's doc for the protocol)."""
    self._check_ready("score")
    hooks = open_hooks(self, "score", telemetry, (batch_end_callback, score_end_callback))
    if reset and hasattr(eval_data, "reset"):
        eval_data.reset()
    if not isinstance(eval_metric, _metric.EvalMetric):
        eval_metric = _metric.create(eval_metric)
    eval_metric.reset()
    actual_num_batch = 0
    source = _open_source(eval_data, depth, "score")
    in_flight: deque = deque()
    try:
        nbatch = 0
        while num_batch is None or nbatch < num_batch:
            eval_batch = yield _Next(source)
            if eval_batch is _END:
                break
            if len(in_flight) >= depth:
                yield _Wait(in_flight.popleft())
            self.prepare(eval_batch, sparse_row_id_fn=sparse_row_id_fn)
            out = self.forward(eval_batch, is_train=False)
            labels, pre_sliced = _labels(eval_batch)
            mfut = self.update_metric(eval_metric, labels, pre_sliced=pre_sliced)
            in_flight.append(_update_future(self, out))
            if batch_end_callback is not None:
                yield _Ready(_metric_future(mfut, eval_metric))
                _callbacks(batch_end_callback, BatchEndParam(
                    epoch=epoch, nbatch=nbatch, eval_metric=eval_metric, locals=locals()))
            if hooks is not None:
                hooks.batch_end(BatchEndParam(epoch=epoch, nbatch=nbatch, eval_metric=None,
                                              locals=None))
            actual_num_batch += 1
            nbatch += 1
            yield _CHECKPOINT
    finally:
        source.close()
    yield _Ready(when_ready(eval_metric._arrays()))
    if score_end_callback:
        _callbacks(score_end_callback, BatchEndParam(
            epoch=epoch, nbatch=actual_num_batch, eval_metric=eval_metric, locals=locals()))
    if hooks is not None:
        hooks.eval_end(BatchEndParam(epoch=epoch, nbatch=actual_num_batch,
                                     eval_metric=eval_metric, locals=locals()))
    return eval_metric.get_name_value()


def _predict_batches(self, eval_data, num_batch, reset, sparse_row_id_fn, depth, take,
                     what) -> Generator:
    """Runs forward on each batch of ``eval_data`` and hands ``take`` (a core of its own,
    delegated to) the outputs, with the last batch's padding cut off, the batch's number
    and the batch."""
    self._check_ready(what)
    if reset and hasattr(eval_data, "reset"):
        eval_data.reset()
    source = _open_source(eval_data, depth, what)
    try:
        nbatch = 0
        while num_batch is None or nbatch < num_batch:
            eval_batch = yield _Next(source)
            if eval_batch is _END:
                break
            self.prepare(eval_batch, sparse_row_id_fn=sparse_row_id_fn)
            self.forward(eval_batch, is_train=False)
            pad = eval_batch.pad or 0
            outputs = [out[0:out.shape[0] - pad] for out in self.get_outputs()]
            yield from take(outputs, nbatch, eval_batch)
            nbatch += 1
            yield _CHECKPOINT
    finally:
        source.close()


def _emit_when_ready(outputs, nbatch, batch) -> Generator:
    yield _Ready(when_ready(outputs))
    yield _Emit((outputs, nbatch, batch))


def iter_predict_core(self, eval_data, num_batch=None, reset=True, sparse_row_id_fn=None,
                      depth=DEFAULT_DEPTH) -> Generator:
    """BaseModule.iter_predict's loop: emits ``(outputs, nbatch, batch)``."""
    yield from _predict_batches(self, eval_data, num_batch, reset, sparse_row_id_fn, depth,
                                _emit_when_ready, "iter_predict")


def _merge_outputs(output_list, merge_batches, always_output_list) -> Generator:
    """predict's result from the batches' outputs."""
    if not output_list or not merge_batches:
        return output_list
    num_outputs = len(output_list[0])
    if any(len(out) != num_outputs for out in output_list):
        raise MXNetError("predict: batches gave different numbers of outputs; cannot "
                         "merge them (pass merge_batches=False)")
    merged = [nd.concat(*[out[i] for out in output_list], dim=0) for i in range(num_outputs)]
    yield _Ready(when_ready(merged))
    if num_outputs == 1 and not always_output_list:
        return merged[0]
    return merged


def predict_core(self, eval_data, num_batch=None, merge_batches=True, reset=True,
                 always_output_list=False, sparse_row_id_fn=None,
                 depth=DEFAULT_DEPTH) -> Generator:
    """BaseModule.predict's loop."""
    self._check_ready("predict")
    if isinstance(eval_data, (NDArray, np.ndarray)):
        if not isinstance(eval_data, NDArray):
            eval_data = nd.array(eval_data)
        self.forward(DataBatch([eval_data]))
        out = self.get_outputs()[0]
        yield _Ready(when_ready([out]))
        return out
    if not (isinstance(eval_data, DataIter) or _is_async_iterable(eval_data)
            or hasattr(eval_data, "__iter__")):
        raise MXNetError(f"predict: eval_data is a {type(eval_data).__name__}, expected a "
                         f"DataIter, an NDArray or a numpy array")
    output_list = []
    in_flight: deque = deque()

    def keep(outputs, nbatch, batch) -> Generator:
        # The outputs' storage is overwritten by the next batch.
        outputs = [out.copy() for out in outputs]
        output_list.append(outputs)
        in_flight.append(when_ready(outputs))
        if len(in_flight) > depth:
            yield _Wait(in_flight.popleft())

    yield from _predict_batches(self, eval_data, num_batch, reset, sparse_row_id_fn, depth,
                                keep, "iter_predict")
    if in_flight:
        yield _Ready(in_flight[-1])
    return (yield from _merge_outputs(output_list, merge_batches, always_output_list))


def _bind_for_training(self, source, train_data, begin_epoch, force_rebind,
                       monitor) -> Generator:
    """Binds the module to the training data's shapes: an async source's first batch's
    (returned, to be trained on), since an async source has no provide_data."""
    first = None
    if isinstance(source, _AsyncSource):
        first = yield _Next(source)
        if first is _END:
            raise MXNetError(f"fit: train_data gave no batch in epoch {begin_epoch}")
        data_shapes, label_shapes = batch_shapes(
            first, getattr(self, "data_names", None) or ["data"],
            getattr(self, "label_names", None) or ["softmax_label"])
    else:
        data_shapes, label_shapes = train_data.provide_data, train_data.provide_label
    self.bind(data_shapes=data_shapes, label_shapes=label_shapes, for_training=True,
              force_rebind=force_rebind)
    if monitor is not None:
        self.install_monitor(monitor)
    return first


def _train_epoch(self, source, next_data_batch, epoch, eval_metric, depth, monitor,
                 batch_end_callback, sparse_row_id_fn, hooks=None) -> Generator:
    """One epoch of fit's batches (the first one given, or read); returns the epoch's
    training metric values. Callbacks see this frame's locals, as MXNet's fit's:
    ``self``, ``data_batch``, ``upd`` (the batch's update future), ``end_of_batch``."""
    if next_data_batch is None:
        next_data_batch = yield _Next(source)
    if next_data_batch is _END:
        raise MXNetError(f"fit: train_data gave no batch in epoch {epoch}")
    in_flight: deque = deque()
    nbatch = 0
    end_of_batch = False
    eval_name_vals = []
    while not end_of_batch:
        data_batch = next_data_batch
        if len(in_flight) >= depth:
            yield _Wait(in_flight.popleft())
        if monitor is not None:
            monitor.tic()
        # One batch's calls, with no request between them: see the module's doc.
        self.forward_backward(data_batch)
        upd = self.update()
        labels, pre_sliced = _labels(data_batch)
        mfut = self.update_metric(eval_metric, labels, pre_sliced=pre_sliced)
        in_flight.append(_update_future(self, upd))
        # The next batch was read while this one was pushed; take it.
        next_data_batch = yield _Next(source)
        if next_data_batch is _END:
            end_of_batch = True
        else:
            self.prepare(next_data_batch, sparse_row_id_fn=sparse_row_id_fn)
        if monitor is not None:
            monitor.toc_print()
        if end_of_batch or batch_end_callback is not None:
            yield _Ready(_metric_future(mfut, eval_metric))
        if end_of_batch:
            eval_name_vals = eval_metric.get_global_name_value()
        if batch_end_callback is not None:
            _callbacks(batch_end_callback, BatchEndParam(
                epoch=epoch, nbatch=nbatch, eval_metric=eval_metric, locals=locals()))
        if hooks is not None:
            hooks.batch_end(BatchEndParam(epoch=epoch, nbatch=nbatch, eval_metric=eval_metric,
                                          locals=locals()))
        nbatch += 1
        yield _CHECKPOINT
    return eval_name_vals


def _end_epoch(self, epoch, tic, eval_name_vals, epoch_end_callback, hooks=None) -> Generator:
    eval_name_vals = reduce_name_values(self, eval_name_vals)
    for name, val in eval_name_vals:
        self.logger.info("Epoch[%d] Train-%s=%f", epoch, name, val)
    self.logger.info("Epoch[%d] Time cost=%.3f", epoch, time.time() - tic)
    # Parameters as of the end of this epoch, for the callbacks.
    arg_params, aux_params = self.get_params()
    self.set_params(arg_params, aux_params)
    # A module may hold no parameters (get_params gives None, as MXNet's tests mock it).
    yield _Ready(when_ready([*(arg_params or {}).values(), *(aux_params or {}).values()]))
    if epoch_end_callback is not None:
        _callbacks(epoch_end_callback, epoch, self.symbol, arg_params, aux_params)
    if hooks is not None:
        hooks.epoch_end(epoch, self.symbol, arg_params, aux_params)


def fit_core(self, train_data, eval_data=None, eval_metric="acc", epoch_end_callback=None,
             batch_end_callback=None, kvstore="local", optimizer="sgd",
             optimizer_params=(("learning_rate", 0.01),), eval_end_callback=None,
             eval_batch_end_callback=None, initializer=None, arg_params=None,
             aux_params=None, allow_missing=False, force_rebind=False, force_init=False,
             begin_epoch=0, num_epoch=None, validation_metric=None, monitor=None,
             sparse_row_id_fn=None, prefetch_depth=DEFAULT_DEPTH, telemetry=None) -> Generator:
    """BaseModule.fit's loop."""
    depth = prefetch_depth
    if num_epoch is None:
        raise MXNetError("fit: please specify number of epochs (num_epoch)")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise MXNetError(f"fit: prefetch_depth={depth!r}: expected an integer >= 1")
    hooks = open_hooks(self, "fit", telemetry,
                       (batch_end_callback, epoch_end_callback, eval_end_callback))
    source = _open_source(train_data, depth, "fit")
    try:
        first = yield from _bind_for_training(self, source, train_data, begin_epoch,
                                              force_rebind, monitor)
        self.init_params(initializer=initializer, arg_params=arg_params,
                         aux_params=aux_params, allow_missing=allow_missing,
                         force_init=force_init)
        self.init_optimizer(kvstore=kvstore, optimizer=optimizer,
                            optimizer_params=optimizer_params)
    except BaseException:
        source.close()
        raise
    if validation_metric is None:
        validation_metric = eval_metric
    if not isinstance(eval_metric, _metric.EvalMetric):
        eval_metric = _metric.create(eval_metric)

    for epoch in range(begin_epoch, num_epoch):
        tic = time.time()
        eval_metric.reset()
        if source is None:
            source = _open_source(train_data, depth, "fit")
        try:
            eval_name_vals = yield from _train_epoch(
                self, source, first, epoch, eval_metric, depth, monitor, batch_end_callback,
                sparse_row_id_fn, hooks)
        finally:
            first = None
            source.close()
            source = None
        yield from _end_epoch(self, epoch, tic, eval_name_vals, epoch_end_callback, hooks)
        if eval_data:
            res = yield from score_core(self, eval_data, validation_metric,
                                        score_end_callback=eval_end_callback,
                                        batch_end_callback=eval_batch_end_callback,
                                        epoch=epoch, depth=depth,
                                        telemetry=nested_telemetry(hooks))
            for name, val in res:
                self.logger.info("Epoch[%d] Validation-%s=%f", epoch, name, val)
        if hasattr(train_data, "reset"):
            train_data.reset()


# ---- the drivers -----------------------------------------------------------------------------
class _InterruptGuard:
    """Holds Ctrl-C back while a blocking loop pushes a batch: delivered at once while the
    loop waits (or user code it emits to runs), else at its next request. Only the main
    thread receives signals, and only a default handler is replaced (so a program's own
    handler keeps working). A loop run from inside another (``score`` in a callback of
    ``fit``) shares the outer loop's guard."""

    _active: "_InterruptGuard | None" = None

    def __init__(self):
        self.waiting = False
        self.pending = False
        self._previous = None
        self._outer = None

    def __enter__(self) -> "_InterruptGuard":
        if threading.current_thread() is not threading.main_thread():
            return self
        if _InterruptGuard._active is not None:
            self._outer = _InterruptGuard._active
            return self._outer
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handle)
            _InterruptGuard._active = self
        return self

    def _handle(self, signum, frame) -> None:
        if self.waiting:
            raise KeyboardInterrupt
        self.pending = True

    def __exit__(self, *exc) -> None:
        if self._previous is None:
            return
        signal.signal(signal.SIGINT, self._previous)
        _InterruptGuard._active = None
        if self.pending and exc[0] is None:
            raise KeyboardInterrupt

    def call_waiting(self, fn: Callable, *args):
        """``fn(*args)``, with Ctrl-C delivered at once while it runs."""
        was_waiting, self.waiting = self.waiting, True
        try:
            return fn(*args)
        finally:
            self.waiting = was_waiting


def _answer_sync(request, guard: _InterruptGuard):
    kind = type(request)
    if kind is _Ready:
        # Whoever reads the values waits for them; not a point to take Ctrl-C at.
        return None
    if guard.pending:
        guard.pending = False
        raise KeyboardInterrupt
    if kind is _Checkpoint:
        return None
    if kind is _Wait:
        return guard.call_waiting(request.future.result)
    if kind is _Next:
        return guard.call_waiting(request.source._next_or_end)
    raise MXNetError(f"loop: unexpected request {request!r}")


def _drive_sync(core: Generator):
    """Runs a core in the calling thread, blocking it where the core waits; a generator of
    the values the core emits, returning what the core returns."""
    with _InterruptGuard() as guard:
        reply, error = None, None
        while True:
            try:
                request = core.throw(error) if error is not None else core.send(reply)
            except StopIteration as stop:
                return stop.value
            reply, error = None, None
            try:
                if type(request) is _Emit:
                    # The caller's own code runs while this is suspended: Ctrl-C reaches it.
                    was_waiting, guard.waiting = guard.waiting, True
                    try:
                        yield request.value
                    finally:
                        guard.waiting = was_waiting
                else:
                    reply = _answer_sync(request, guard)
            except BaseException as e:
                error = e


async def _checkpoint() -> None:
    import sniffio
    if sniffio.current_async_library() == "trio":
        import trio
        await trio.lowlevel.checkpoint()
    else:
        import asyncio
        await asyncio.sleep(0)


async def _answer_async(request):
    kind = type(request)
    if kind is _Wait or kind is _Ready:
        return await request.future
    if kind is _Next:
        return await request.source._anext_or_end()
    if kind is _Checkpoint:
        await _checkpoint()
        return None
    raise MXNetError(f"loop: unexpected request {request!r}")


def _step(core: Generator, reply, error):
    return core.throw(error) if error is not None else core.send(reply)


_trio_protected_step = None


def _stepper():
    """How to advance a core in this event loop. Under trio, with KeyboardInterrupt held back
    while the core runs: trio then delivers it at the next checkpoint, an await of the driver,
    so Ctrl-C never lands between two pushes of a batch (asyncio turns Ctrl-C into the main
    task's cancellation, which lands at an await already)."""
    global _trio_protected_step
    import sniffio
    if sniffio.current_async_library() != "trio":
        return _step
    if _trio_protected_step is None:
        import trio
        _trio_protected_step = trio.lowlevel.enable_ki_protection(_step)
    return _trio_protected_step


async def _drive_async(core: Generator):
    """Runs a core in the current trio or asyncio task, awaiting where the core waits; an
    async generator of the values the core emits."""
    step = _stepper()
    reply, error = None, None
    try:
        while True:
            try:
                request = step(core, reply, error)
            except StopIteration:
                return
            reply, error = None, None
            try:
                if type(request) is _Emit:
                    yield request.value
                else:
                    reply = await _answer_async(request)
            except BaseException as e:
                error = e
    finally:
        core.close()


def _keeping_result(core: Generator, result: list) -> Generator:
    result.append((yield from core))


def run_sync(core: Generator) -> Any:
    """Runs a core that returns a value (and emits none) in the calling thread."""
    result: list = []
    for _ in _drive_sync(_keeping_result(core, result)):
        pass
    return result[0]


async def run_async(core: Generator) -> Any:
    """Runs a core that returns a value (and emits none) in the current task."""
    result: list = []
    async for _ in _drive_async(_keeping_result(core, result)):
        pass
    return result[0]


# ---- the public methods ------------------------------------------------------------------
def _arguments(signature: inspect.Signature, args, kwargs) -> dict:
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    return bound.arguments


def blocking_method(core: Callable[..., Generator], emits: bool = False):
    """Decorates a method's signature and docstring (its body is left unused) into the
    blocking method that runs ``core`` with its arguments (by name): returning the core's
    value, or, with ``emits``, a generator of the values the core emits."""
    def decorate(func):
        signature = inspect.signature(func)
        drive = _drive_sync if emits else run_sync

        @functools.wraps(func)
        def method(*args, **kwargs):
            return drive(core(**_arguments(signature, args, kwargs)))
        method._loop = (core, emits, signature)
        return method
    return decorate


def awaiting_method(blocking: Callable, doc: str):
    """The trio/asyncio twin of a ``blocking_method``, with its signature: a coroutine
    function, or, for a core that emits, a function returning an async iterator."""
    core, emits, signature = blocking._loop
    if emits:
        def method(*args, **kwargs):
            return _drive_async(core(**_arguments(signature, args, kwargs)))
    else:
        async def method(*args, **kwargs):
            return await run_async(core(**_arguments(signature, args, kwargs)))
    method.__name__ = f"{blocking.__name__}_async"
    method.__qualname__ = f"{blocking.__qualname__}_async"
    method.__module__ = blocking.__module__
    method.__doc__ = doc
    method.__signature__ = signature
    return method
