"""Reading batches ahead: ``prefetch(data_iter, depth=2)``.

A worker thread pulls batches from a Python iterator (``next()`` runs there, with the GIL only
while Python runs: numpy decoding, file reads and flowmod's copies release it), keeping up to
``depth`` of them ready while the training loop computes. The loop takes them from a plain
``for`` loop or, without blocking the event loop, with ``async for`` under trio or asyncio.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Iterable

from ..base import MXNetError
from ..future import Future
from ..ndarray import NDArray
from .io import DataBatch

__all__ = ["prefetch", "Prefetcher", "BatchRecord"]

_END = object()


class _Buffer:
    """What the reader and the consumer share: read batches, and who waits for what."""

    def __init__(self, depth: int):
        self.depth = depth
        self.items: deque = deque()
        self.lock = threading.Lock()
        self.space = threading.Condition(self.lock)
        self.waiter: Future | None = None
        self.closed = False


# What the Module loops need from a batch, read into a BatchRecord when the batch is read.
_BATCH_FIELDS = ("data", "label", "pad", "index", "bucket_key", "provide_data", "provide_label")


def _own(value):
    if isinstance(value, NDArray):
        return value.copy()
    if isinstance(value, (list, tuple)):
        return [_own(v) for v in value]
    return value


class BatchRecord(DataBatch):
    """A batch as it was when it was read: its ``data``, ``label``, ``pad``, ``index``,
    ``bucket_key``, ``provide_data`` and ``provide_label``, taken from the iterator's batch
    object at once, with the NDArrays of ``data`` and ``label`` copied. Any other attribute
    is looked up on that object.

    ``fit``, ``score``, ``predict`` and ``iter_predict`` read batches ahead in a worker
    thread, and MXNet's contract for iterators is that only the batch just returned is
    valid: its C++ iterators reuse the batch object and overwrite its arrays in the next
    ``next()``. Reading the record before that call keeps the contract with read-ahead on.
    The arrays are copied because the engine does not make a reused NDArray safe here: an
    iterator's overwrite (``arr[:] = ...``) in the next ``next()`` is ordered after the reads
    pushed before it, but with read-ahead it can come before the training loop has pushed
    the previous batch's forward. The copy is pushed right after ``next()`` returns, so it
    reads that batch's values; it is one engine copy per array, on the copy lane. Batches
    whose iterator made their arrays for them alone (``_fresh_arrays`` true on the batch or
    its class, as NDArrayIter's and ImageRecordIter's) are kept as they are: nothing writes
    those arrays again.
    """

    def __init__(self, batch):
        fresh = getattr(batch, "_fresh_arrays", False) is True
        for name in _BATCH_FIELDS:
            value = getattr(batch, name, None)
            if name in ("data", "label"):
                value = list(value) if fresh and isinstance(value, (list, tuple)) else \
                    _own(value)
            elif isinstance(value, (list, tuple)):
                value = list(value)
            setattr(self, name, value)
        self._batch = batch

    def __getattr__(self, name):
        # Only reached for attributes the record does not hold (a subclass's own fields).
        if name == "_batch":
            raise AttributeError(name)
        return getattr(self._batch, name)

    @classmethod
    def of(cls, batch):
        """The record of ``batch`` (a list of records for a list of per-device batches)."""
        if isinstance(batch, list):
            return [cls.of(b) for b in batch]
        return batch if batch is None or isinstance(batch, cls) else cls(batch)


def _read(it, b: _Buffer, take) -> None:
    while True:
        try:
            item = (take(next(it)), None)
        except StopIteration:
            item = (_END, None)
        except BaseException as e:  # handed to the training loop, which raises it
            item = (None, e)
        with b.lock:
            while len(b.items) >= b.depth and not b.closed:
                b.space.wait()
            if b.closed:
                return
            b.items.append(item)
            waiter, b.waiter = b.waiter, None
        if waiter is not None:
            waiter.set_result(None)
        if item[0] is _END or item[1] is not None:
            return


class Prefetcher:
    """Prefetcher(source, depth=2)

    Reads ``source`` (an iterable of batches, such as a DataIter) ahead in a worker thread,
    holding at most ``depth`` batches that are read and not yet taken: the reader waits when
    the buffer is full (backpressure), so memory stays bounded. An exception the reader
    raises is raised where the batch it was reading would have been taken, and ends the
    iteration. ``close()`` (also on leaving a ``with`` block, and when an ``async for`` or
    ``for`` over it is abandoned by an exception) stops the reader after the batch it is
    reading and joins it, so ``source`` can be reset or reused afterwards.

    ``take``, if given, is applied to each batch in the reader, right after it is read
    (the Module loops pass ``BatchRecord.of``).

    One pass over ``source``: iterate a new Prefetcher for the next epoch. Use
    ``prefetch(data_iter, depth)`` to make one.
    """

    def __init__(self, source: Iterable, depth: int = 2, take=None):
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise MXNetError(f"prefetch: depth={depth!r}: expected an integer >= 1")
        try:
            self._it = iter(source)
        except TypeError:
            raise MXNetError(f"prefetch: data_iter is a {type(source).__name__}, expected an "
                             f"iterable of batches such as a DataIter") from None
        self.depth = depth
        self._b = _Buffer(depth)
        self._finished = False  # the end or an error was taken: nothing more will come
        # The reader holds the buffer and the iterator, not self: an abandoned Prefetcher is
        # collected, and its __del__ stops the reader.
        take = take if take is not None else (lambda batch: batch)
        self._thread = threading.Thread(target=_read, args=(self._it, self._b, take),
                                        daemon=True, name="flowmod-prefetch")
        self._thread.start()

    # ---- taking batches ----------------------------------------------------------------------
    def _take(self) -> tuple[Any, Future | None]:
        with self._b.lock:
            if self._b.closed:
                raise MXNetError("Prefetcher: closed; make a new one with prefetch(...)")
            if self._finished:
                return (_END, None), None
            if self._b.items:
                item = self._b.items.popleft()
                self._b.space.notify()
                if item[0] is _END or item[1] is not None:
                    self._finished = True
                return item, None
            self._b.waiter = Future()
            return None, self._b.waiter

    @staticmethod
    def _unpack(item):
        batch, error = item
        if error is not None:
            raise error
        return batch

    def _next_or_end(self):
        """The next batch, or the end marker; blocks this thread only."""
        while True:
            item, waiter = self._take()
            if waiter is None:
                return self._unpack(item)
            waiter.result()

    async def _anext_or_end(self):
        """The next batch, or the end marker; suspends only the awaiting task."""
        while True:
            item, waiter = self._take()
            if waiter is None:
                return self._unpack(item)
            await waiter

    def __iter__(self) -> "Prefetcher":
        return self

    def __next__(self):
        try:
            batch = self._next_or_end()
        except BaseException:
            self.close()
            raise
        if batch is _END:
            raise StopIteration
        return batch

    next = __next__

    def __aiter__(self) -> "Prefetcher":
        return self

    async def __anext__(self):
        try:
            batch = await self._anext_or_end()
        except BaseException:
            self.close()
            raise
        if batch is _END:
            raise StopAsyncIteration
        return batch

    # ---- closing -----------------------------------------------------------------------------
    def close(self) -> None:
        """close(): stops the reader once the batch it is reading (if any) is read, drops the
        batches not taken, and waits for the reader to stop. Idempotent."""
        with self._b.lock:
            self._b.closed = True
            self._b.items.clear()
            self._b.space.notify_all()
            waiter, self._b.waiter = self._b.waiter, None
        if waiter is not None:
            waiter.set_exception(MXNetError("Prefetcher: closed while a batch was awaited"))
        if self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> "Prefetcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_b", None) is not None and not self._b.closed:
            with self._b.lock:
                self._b.closed = True
                self._b.space.notify_all()


def prefetch(data_iter: Iterable, depth: int = 2) -> Prefetcher:
    """prefetch(data_iter, depth=2) -> Prefetcher

    Reads ``data_iter`` ahead in a worker thread, ``depth`` batches at most, so that batch
    k+1 is read while batch k computes::

        for batch in mx.io.prefetch(train_iter):            # or: async for
            mod.forward_backward(batch); mod.update()

    ``Module.fit`` and ``fit_async`` do this themselves (``prefetch_depth``).
    """
    return Prefetcher(data_iter, depth)
