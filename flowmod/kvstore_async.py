"""The exchange behind ``dist_async`` (:class:`flowmod.kvstore_dist.DistAsyncKVStore`):
gradients sent point to point to every other worker, applied by the receiver's communication
thread as they arrive, and the barrier that waits until all sent gradients were applied."""
from __future__ import annotations

import threading
import time

import numpy as np

from . import engine
from .base import MXNetError
from .ndarray import array as nd_array

_state_lock = threading.Lock()


class _Exchange:
    """Per-store counters: gradients sent to and received from each peer."""

    def __init__(self, store):
        w = store._world
        self.store = store
        self.sent = np.zeros(w.size, dtype=np.int64)
        self.received = np.zeros(w.size, dtype=np.int64)
        self.pushed = 0
        self.finished = 0
        self.cond = threading.Condition()
        w.pollers.append(self.poll)

    def poll(self, w) -> None:
        """Receives and applies every gradient that has arrived (communication thread)."""
        MPI = w.MPI
        status = MPI.Status()
        while w.p2p.Iprobe(source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG, status=status):
            source, tag = status.Get_source(), status.Get_tag()
            index, dtype_num = divmod(tag, 64)
            key = self.store._keys[index]
            stored = self.store._store[key]
            buf = np.empty(stored.shape, dtype=stored.dtype)
            if buf.dtype.num != dtype_num:
                raise MXNetError(f"dist_async: a gradient for key {key!r} from rank {source} "
                                 f"has dtype number {dtype_num}, expected {buf.dtype}")
            w.p2p.Recv(buf, source=source, tag=tag)
            self.received[source] += 1
            self.store._apply(key, nd_array(buf, ctx=stored.context, dtype=stored.dtype))


def _exchange(store) -> _Exchange:
    with _state_lock:
        ex = getattr(store, "_exchange", None)
        if ex is None:
            ex = store._exchange = _Exchange(store)
        return ex


def send_gradient(store, index: int, key, grad) -> None:
    """Sends ``grad`` (an NDArray no one else writes) to every other worker once it is
    computed, without waiting for them."""
    from .kvstore_dist import host_view
    ex = _exchange(store)
    w = store._world
    tag = index * 64 + np.dtype(grad.dtype).num
    with ex.cond:
        ex.pushed += 1

    def finish(error):
        with ex.cond:
            ex.finished += 1
            ex.cond.notify_all()

    def run(w_):
        view = host_view(grad).reshape(-1)
        requests = [w_.p2p.Isend(view, dest=r, tag=tag) for r in range(w_.size) if r != w_.rank]
        for r in range(w_.size):
            if r != w_.rank:
                ex.sent[r] += 1
        for q in requests:
            w_.wait_request(q, f"dist_async send of key {key!r}")

    def start(done):
        # Handed over at once: order does not matter for point-to-point messages.
        w.submit(f"send({key!r})", run, lambda error: (finish(error), done(error)))
    engine.push_async(start, reads=[grad.handle], ctx=grad.context, lane="copy",
                      name=f"dist_async send({key!r})")


def async_barrier(store) -> None:
    """Returns once every gradient any worker pushed before its barrier has been applied on
    every worker (and the updates are pushed to the engine)."""
    ex = _exchange(store)
    with ex.cond:
        while ex.finished < ex.pushed:
            ex.cond.wait(0.05)
            if store._world._error is not None:
                raise store._world._error

    def run(w):
        expected = np.zeros(w.size, dtype=np.int64)
        w.wait_request(w.comm.Ialltoall(ex.sent.copy(), expected), "dist_async barrier")
        deadline = time.monotonic() + w.timeout
        while np.any(ex.received < expected):
            ex.poll(w)
            w._poll_notices()
            if w._error is not None:
                raise w._error
            if time.monotonic() > deadline:
                missing = [r for r in range(w.size) if ex.received[r] < expected[r]]
                raise MXNetError(f"rank {w.rank}: dist_async barrier: gradients from ranks "
                                 f"{missing} did not arrive within {w.timeout:g} s "
                                 f"(FLOWMOD_DIST_TIMEOUT)")
            time.sleep(0.0005)
        w.barrier("dist_async barrier")
    store._world.call("dist_async barrier", run)
