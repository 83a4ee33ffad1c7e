"""The training and prediction loops of BaseModule, written once for plain code and for trio
and asyncio.

Each loop is a generator (a *core*) that does the module calls and, wherever it must wait,
yields a request instead of waiting: ``_Wait(future)`` for engine work, ``_Next(source)`` for
the next batch, ``_Checkpoint()`` once a batch to let other tasks run, ``_Emit(value)`` to hand
a result out (``iter_predict``). ``run_sync`` answers the requests by blocking the calling
thread (``fit``, ``score``, ``predict``); ``run_async`` by awaiting (``fit_async``, ...), so
the event loop keeps running other tasks. Neither touches an event loop the caller may be
running, so the blocking calls work inside a notebook's running loop too.

Pushing runs ahead of the engine by at most ``depth`` batches: before batch k is pushed, the
loop waits for batch k - depth's update. Every batch's calls (forward, backward, update,
metric) are made between two requests, so an interruption or cancellation, which the loop only
takes at a request, never leaves half an update: the batches pushed finish on the engine and
no new one is pushed.
"""
from __future__ import annotations

import signal
import threading
import time
from collections import deque
from typing import Any, AsyncIterator, Generator

import numpy as np

from .. import metric as _metric
from .. import ndarray as nd
from ..base import MXNetError
from ..future import Future, _metric_arrays, when_ready
from ..io import DataBatch, DataDesc, DataIter
from ..io.prefetch import _END, BatchRecord, Prefetcher
from ..model import BatchEndParam
from ..ndarray import NDArray

# How many batches pushing may run ahead of the engine (and the prefetcher reads ahead).
DEFAULT_DEPTH = 2


class _Wait:
    __slots__ = ("future",)

    def __init__(self, future: Future):
        self.future = future


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


def _is_async_iterable(data) -> bool:
    return hasattr(data, "__aiter__") and not isinstance(data, (DataIter, Prefetcher))


def _open_source(data, depth: int, what: str):
    """The batch source of one pass over ``data`` (a DataIter, any iterable of batches, or an
    async iterable of batches): sync ones are read ahead in a worker thread."""
    if _is_async_iterable(data):
        return _AsyncSource(data.__aiter__())
    if isinstance(data, Prefetcher):
        return data
    if not hasattr(data, "__iter__"):
        raise MXNetError(f"{what}: the data is a {type(data).__name__}, expected a DataIter, "
                         f"an iterable or an async iterable of DataBatch")
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


def _metric_future(mod, fut, eval_metric) -> Future:
    if isinstance(fut, Future):
        return fut
    return when_ready(_metric_arrays(eval_metric))


# ---- the cores -------------------------------------------------------------------------------
def score_core(self, eval_data, eval_metric, num_batch=None, batch_end_callback=None,
               score_end_callback=None, reset=True, epoch=0, sparse_row_id_fn=None,
               depth=DEFAULT_DEPTH, is_async=False) -> Generator:
    """BaseModule.score's loop (see the module's doc for the protocol)."""
    self._check_ready("score")
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
                if is_async:
                    yield _Wait(_metric_future(self, mfut, eval_metric))
                params = BatchEndParam(epoch=epoch, nbatch=nbatch, eval_metric=eval_metric,
                                       locals=locals())
                for callback in _as_list(batch_end_callback):
                    callback(params)
            actual_num_batch += 1
            nbatch += 1
            yield _CHECKPOINT
    finally:
        source.close()
    if is_async:
        yield _Wait(when_ready(_metric_arrays(eval_metric)))
    if score_end_callback:
        params = BatchEndParam(epoch=epoch, nbatch=actual_num_batch, eval_metric=eval_metric,
                               locals=locals())
        for callback in _as_list(score_end_callback):
            callback(params)
    return eval_metric.get_name_value()


def iter_predict_core(self, eval_data, num_batch=None, reset=True, sparse_row_id_fn=None,
                      depth=DEFAULT_DEPTH, copy=False, is_async=False) -> Generator:
    """BaseModule.iter_predict's loop: emits ``(outputs, nbatch, batch)``, the outputs
    computed (async) or pushed (sync), with the last batch's padding cut off."""
    self._check_ready("iter_predict")
    if reset and hasattr(eval_data, "reset"):
        eval_data.reset()
    source = _open_source(eval_data, depth, "iter_predict")
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
            if copy:
                # The outputs' storage is overwritten by the next batch.
                outputs = [out.copy() for out in outputs]
            if is_async:
                yield _Wait(when_ready(outputs))
            yield _Emit((outputs, nbatch, eval_batch))
            nbatch += 1
            yield _CHECKPOINT
    finally:
        source.close()


def predict_core(self, eval_data, num_batch=None, merge_batches=True, reset=True,
                 always_output_list=False, sparse_row_id_fn=None, depth=DEFAULT_DEPTH,
                 is_async=False) -> Generator:
    """BaseModule.predict's loop."""
    self._check_ready("predict")
    if isinstance(eval_data, (NDArray, np.ndarray)):
        if not isinstance(eval_data, NDArray):
            eval_data = nd.array(eval_data)
        self.forward(DataBatch([eval_data]))
        out = self.get_outputs()[0]
        if is_async:
            yield _Wait(when_ready([out]))
        return out
    if not (isinstance(eval_data, DataIter) or _is_async_iterable(eval_data)
            or hasattr(eval_data, "__iter__")):
        raise MXNetError(f"predict: eval_data is a {type(eval_data).__name__}, expected a "
                         f"DataIter, an NDArray or a numpy array")
    output_list = []
    core = iter_predict_core(self, eval_data, num_batch=num_batch, reset=reset,
                             sparse_row_id_fn=sparse_row_id_fn, depth=depth, copy=True,
                             is_async=False)
    in_flight: deque = deque()
    reply = None
    while True:
        try:
            request = core.send(reply)
        except StopIteration:
            break
        reply = None
        if type(request) is _Emit:
            outputs = request.value[0]
            output_list.append(outputs)
            in_flight.append(when_ready(outputs))
            if len(in_flight) > depth:
                yield _Wait(in_flight.popleft())
        else:
            try:
                reply = yield request
            except BaseException as e:
                core.throw(e)
                raise
    if is_async and in_flight:
        yield _Wait(in_flight[-1])
    if not output_list:
        return output_list
    if merge_batches:
        num_outputs = len(output_list[0])
        if any(len(out) != num_outputs for out in output_list):
            raise MXNetError("predict: batches gave different numbers of outputs; cannot "
                             "merge them (pass merge_batches=False)")
        merged = [nd.concat(*[out[i] for out in output_list], dim=0)
                  for i in range(num_outputs)]
        if is_async:
            yield _Wait(when_ready(merged))
        if num_outputs == 1 and not always_output_list:
            return merged[0]
        return merged
    return output_list


def _first_shapes(self, batch) -> tuple[list, list | None]:
    """provide_data / provide_label for binding from a batch (an async source has none)."""
    data = getattr(batch, "provide_data", None)
    label = getattr(batch, "provide_label", None)
    if not data:
        names = getattr(self, "data_names", None) or ["data"]
        data = [DataDesc(n, tuple(a.shape)) for n, a in zip(names, batch.data)]
    if not label and batch.label:
        names = getattr(self, "label_names", None) or ["softmax_label"]
        label = [DataDesc(n, tuple(a.shape)) for n, a in zip(names, batch.label)]
    return data, label or None


def fit_core(self, train_data, eval_data=None, eval_metric="acc", epoch_end_callback=None,
             batch_end_callback=None, kvstore="local", optimizer="sgd",
             optimizer_params=(("learning_rate", 0.01),), eval_end_callback=None,
             eval_batch_end_callback=None, initializer=None, arg_params=None,
             aux_params=None, allow_missing=False, force_rebind=False, force_init=False,
             begin_epoch=0, num_epoch=None, validation_metric=None, monitor=None,
             sparse_row_id_fn=None, depth=DEFAULT_DEPTH, is_async=False) -> Generator:
    """BaseModule.fit's loop."""
    if num_epoch is None:
        raise MXNetError("fit: please specify number of epochs (num_epoch)")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise MXNetError(f"fit: prefetch_depth={depth!r}: expected an integer >= 1")
    source = _open_source(train_data, depth, "fit")
    first = None
    try:
        if isinstance(source, _AsyncSource):
            first = yield _Next(source)
            if first is _END:
                raise MXNetError(f"fit: train_data gave no batch in epoch {begin_epoch}")
            data_shapes, label_shapes = _first_shapes(self, first)
        else:
            data_shapes, label_shapes = train_data.provide_data, train_data.provide_label
        self.bind(data_shapes=data_shapes, label_shapes=label_shapes, for_training=True,
                  force_rebind=force_rebind)
        if monitor is not None:
            self.install_monitor(monitor)
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
        in_flight: deque = deque()
        try:
            next_data_batch = first if first is not None else (yield _Next(source))
            first = None
            if next_data_batch is _END:
                raise MXNetError(f"fit: train_data gave no batch in epoch {epoch}")
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
                if is_async and (end_of_batch or batch_end_callback is not None):
                    yield _Wait(_metric_future(self, mfut, eval_metric))
                if end_of_batch:
                    eval_name_vals = eval_metric.get_global_name_value()
                if batch_end_callback is not None:
                    params = BatchEndParam(epoch=epoch, nbatch=nbatch, eval_metric=eval_metric,
                                           locals=locals())
                    for callback in _as_list(batch_end_callback):
                        callback(params)
                nbatch += 1
                yield _CHECKPOINT
        finally:
            source.close()
            source = None
        for name, val in eval_name_vals:
            self.logger.info("Epoch[%d] Train-%s=%f", epoch, name, val)
        self.logger.info("Epoch[%d] Time cost=%.3f", epoch, time.time() - tic)
        # Parameters as of the end of this epoch, for the callbacks.
        arg_params_now, aux_params_now = self.get_params()
        self.set_params(arg_params_now, aux_params_now)
        if is_async:
            yield _Wait(when_ready(list(arg_params_now.values())
                                   + list(aux_params_now.values())))
        if epoch_end_callback is not None:
            for callback in _as_list(epoch_end_callback):
                callback(epoch, self.symbol, arg_params_now, aux_params_now)
        if eval_data:
            res = yield from score_core(self, eval_data, validation_metric,
                                        score_end_callback=eval_end_callback,
                                        batch_end_callback=eval_batch_end_callback,
                                        epoch=epoch, depth=depth, is_async=is_async)
            for name, val in res:
                self.logger.info("Epoch[%d] Validation-%s=%f", epoch, name, val)
        if hasattr(train_data, "reset"):
            train_data.reset()


# ---- the drivers -----------------------------------------------------------------------------
class _InterruptGuard:
    """Holds Ctrl-C back while a blocking loop pushes a batch: delivered at once while the
    loop waits, else at its next request. Only the main thread receives signals, and only a
    default handler is replaced (so a program's own handler keeps working). A loop run from
    inside another (``score`` in a callback of ``fit``) shares the outer loop's guard."""

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


def _answer_sync(request, guard: _InterruptGuard):
    if guard.pending:
        guard.pending = False
        raise KeyboardInterrupt
    kind = type(request)
    if kind is _Checkpoint:
        return None
    was_waiting, guard.waiting = guard.waiting, True
    try:
        if kind is _Wait:
            return request.future.result()
        if kind is _Next:
            return request.source._next_or_end()
    finally:
        guard.waiting = was_waiting
    raise MXNetError(f"loop: unexpected request {request!r}")


def run_sync(core: Generator) -> Any:
    """Runs a core in the calling thread, blocking it where the core waits."""
    with _InterruptGuard() as guard:
        reply, error = None, None
        while True:
            try:
                request = core.throw(error) if error is not None else core.send(reply)
            except StopIteration as stop:
                return stop.value
            reply, error = None, None
            try:
                reply = _answer_sync(request, guard)
            except BaseException as e:
                error = e


def iter_sync(core: Generator):
    """Runs a core that emits values, as a generator of them."""
    with _InterruptGuard() as guard:
        reply, error = None, None
        while True:
            try:
                request = core.throw(error) if error is not None else core.send(reply)
            except StopIteration:
                return
            reply, error = None, None
            if type(request) is _Emit:
                # The caller's own code runs here: Ctrl-C reaches it at once.
                was_waiting, guard.waiting = guard.waiting, True
                try:
                    yield request.value
                except BaseException as e:
                    error = e
                finally:
                    guard.waiting = was_waiting
                continue
            try:
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
    if kind is _Wait:
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


async def run_async(core: Generator) -> Any:
    """Runs a core in the current trio or asyncio task, awaiting where the core waits."""
    step = _stepper()
    reply, error = None, None
    while True:
        try:
            request = step(core, reply, error)
        except StopIteration as stop:
            return stop.value
        reply, error = None, None
        try:
            reply = await _answer_async(request)
        except BaseException as e:
            error = e


async def iter_async(core: Generator):
    """Runs a core that emits values, as an async generator of them."""
    step = _stepper()
    reply, error = None, None
    try:
        while True:
            try:
                request = step(core, reply, error)
            except StopIteration:
                return
            reply, error = None, None
            if type(request) is _Emit:
                try:
                    yield request.value
                except BaseException as e:
                    error = e
                continue
            try:
                reply = await _answer_async(request)
            except BaseException as e:
                error = e
    finally:
        core.close()
