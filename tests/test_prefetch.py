"""mx.io.prefetch: batches read ahead in a worker thread, bounded, errors and cleanup."""
import threading

import numpy as np
import pytest
import trio

import flowmod as mx
from flowmod.base import MXNetError

HANG = 30.0


class _Recorder:
    """An iterator of numbered batches that records when each read starts."""

    def __init__(self, n, fail_at=None):
        self.n, self.fail_at = n, fail_at
        self.k = 0
        self.events = []
        self.lock = threading.Lock()
        self.started = [threading.Event() for _ in range(n + 1)]

    def __iter__(self):
        return self

    def __next__(self):
        k = self.k
        with self.lock:
            self.events.append(("load", k))
        self.started[k].set()
        if k == self.fail_at:
            raise ValueError(f"cannot read batch {k}")
        if k >= self.n:
            raise StopIteration
        self.k += 1
        return k


def test_prefetch_gives_every_batch_in_order():
    it = mx.io.NDArrayIter(np.arange(20, dtype=np.float32).reshape(10, 2), batch_size=4)
    got = [b.data[0].asnumpy()[:, 0].tolist() for b in mx.io.prefetch(it)]
    assert got == [[0, 2, 4, 6], [8, 10, 12, 14], [16, 18, 0, 2]]


def test_next_batch_is_read_while_the_current_one_is_processed():
    src = _Recorder(4)
    order = []
    for k in mx.io.prefetch(src, depth=1):
        order.append(("compute start", k))
        # The read of batch k+1 must begin while batch k is still being processed.
        order.append(("next read started", src.started[k + 1].wait(HANG)))
    assert all(ok for what, ok in order if what == "next read started")


def test_reading_ahead_stops_at_depth_batches():
    src = _Recorder(10)
    pf = mx.io.prefetch(src, depth=2)
    assert next(pf) == 0
    # Taken: 0; buffered at most 2 (1, 2); the reader may be inside the read of 3.
    src.started[3].wait(HANG)
    with src.lock:
        loads = [k for _, k in src.events]
    assert max(loads) <= 3
    pf.close()
    assert [k for _, k in src.events] == loads[:len(src.events)]


def test_loader_error_is_raised_in_the_consuming_loop():
    src = _Recorder(5, fail_at=2)
    got = []
    with pytest.raises(ValueError, match="cannot read batch 2"):
        for k in mx.io.prefetch(src):
            got.append(k)
    assert got == [0, 1]


def test_close_stops_the_reader_thread():
    src = _Recorder(100)
    pf = mx.io.prefetch(src, depth=2)
    next(pf)
    pf.close()
    assert not pf._thread.is_alive()
    with pytest.raises(MXNetError, match="closed"):
        next(pf)


def test_async_for_under_trio_and_cancellation_cleans_up():
    src = _Recorder(100)
    pf = mx.io.prefetch(src, depth=2)
    got = []

    async def main():
        with trio.CancelScope() as scope, pf:
            async for k in pf:
                got.append(k)
                if k == 3:
                    scope.cancel()
                await trio.sleep(0)
    trio.run(main)
    assert got == [0, 1, 2, 3]
    assert not pf._thread.is_alive()


def test_depth_must_be_a_positive_integer():
    with pytest.raises(MXNetError, match="depth=0"):
        mx.io.prefetch([], depth=0)
    with pytest.raises(MXNetError, match="expected an iterable"):
        mx.io.prefetch(5)


def test_read_ahead_copies_reused_arrays_but_not_fresh_ones():
    """A batch record copies the arrays an iterator may overwrite in its next ``next()``,
    and takes NDArrayIter's, which are made for their batch alone, as they are."""
    from flowmod.io.prefetch import BatchRecord

    x = np.arange(24, dtype=np.float32).reshape(6, 4)
    it = mx.io.NDArrayIter(x, np.arange(6, dtype=np.float32), batch_size=3)
    batch = next(it)
    record = BatchRecord.of(batch)
    assert record.data[0] is batch.data[0] and record.label[0] is batch.label[0]

    reused = mx.io.DataBatch([mx.nd.array(x[:3])], [mx.nd.zeros((3,))])
    record = BatchRecord.of(reused)
    assert record.data[0] is not reused.data[0]
    reused.data[0][:] = -1  # the iterator's overwrite, after the record was taken
    np.testing.assert_array_equal(record.data[0].asnumpy(), x[:3])

    class Reusing(mx.io.NDArrayIter):
        def getdata(self):
            return super().getdata()
    batch = next(Reusing(x, batch_size=3))
    assert BatchRecord.of(batch).data[0] is not batch.data[0]
