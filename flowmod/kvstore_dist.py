"""Distributed key-value stores (``mx.kv.create('dist_sync')``, ``'dist_device_sync'``,
``'dist_async'``) over MPI: data-parallel training with one process per worker, started by
``python -m flowmod.launch -n N script.py`` (or ``mpirun``).

There is no server: every worker keeps a replica of every stored value and applies the same
updates to it.

- ``dist_sync`` / ``dist_device_sync``: ``init`` takes rank 0's value on every worker;
  ``push`` sums the values pushed for a key on this worker (its devices), then sums those
  sums across the workers (an allreduce), and applies the optimizer set with
  ``set_optimizer`` to the stored value with that sum (or, without one, stores the sum). Every
  worker applies the same update to the same values, so the replicas stay equal: training on
  ``n`` workers with batch ``b`` each is training on one with batch ``n * b``.
- ``dist_async``: see :class:`DistAsyncKVStore`.

Every step is an engine operation, so ``push`` and ``pull`` return at once: the allreduce of a
gradient starts as soon as backward has written it (keys pushed together in one call are
fused into buckets of up to ``FLOWMOD_DIST_BUCKET_BYTES``, default 1 MiB) and overlaps the rest
of backward. Failures of peers raise ``MXNetError`` naming their rank (see
:mod:`flowmod.collective`).
"""
from __future__ import annotations

import os
import threading

import numpy as np

from . import _native
from . import collective
from . import engine
from .base import MXNetError
from .kvstore import KVStore, _group, _key_list
from .ndarray import NDArray

__all__ = ["DistKVStore", "DistAsyncKVStore"]


def _bucket_bytes() -> int:
    raw = os.environ.get("FLOWMOD_DIST_BUCKET_BYTES", str(1 << 20))
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise MXNetError(f"FLOWMOD_DIST_BUCKET_BYTES={raw!r}: expected a number of bytes >= 0")
    return value


def host_view(arr: NDArray) -> np.ndarray:
    """A numpy view of ``arr``'s storage (only to be touched inside an operation that holds
    the array's var)."""
    return _native.ndarray_host_bytes(arr._h).view(arr.dtype).reshape(arr.shape)


class _TwoBit:
    """MXNet's 2-bit gradient compression with error feedback: each value sent is
    ``+threshold``, ``-threshold`` or 0, and what was left out is kept (per key) and added to
    the next gradient of that key."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.residual: dict = {}

    def apply(self, key, grad: np.ndarray) -> None:
        res = self.residual.get(key)
        if res is None:
            res = self.residual[key] = np.zeros_like(grad)
        res += grad
        t = np.asarray(self.threshold, dtype=grad.dtype)
        q = np.where(res >= t, t, np.where(res <= -t, -t, np.zeros((), grad.dtype)))
        res -= q
        grad[...] = q


def _parse_compression(params) -> _TwoBit | None:
    if not isinstance(params, dict):
        raise MXNetError(f"set_gradient_compression: compression_params={params!r}: expected a "
                         f"dict such as {{'type': '2bit', 'threshold': 0.5}}")
    kind = params.get("type")
    if kind == "none":
        return None
    if kind != "2bit":
        raise MXNetError(f"set_gradient_compression: type={kind!r}: expected '2bit' or 'none'")
    unknown = set(params) - {"type", "threshold"}
    if unknown:
        raise MXNetError(f"set_gradient_compression: unknown parameters {sorted(unknown)}: "
                         f"expected 'type' and 'threshold'")
    threshold = params.get("threshold", 0.5)
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        threshold = -1.0
    if not threshold > 0:
        raise MXNetError(f"set_gradient_compression: threshold={params.get('threshold')!r}: "
                         f"expected a number > 0")
    return _TwoBit(threshold)


class DistKVStore(KVStore):
    """A synchronous distributed store (``dist_sync``, ``dist_device_sync``): see the module's
    documentation."""

    def __init__(self, name: str = "dist_sync"):
        super().__init__(name)
        self._world = collective.world()
        collective.install_excepthook(self._world)
        self._merged: dict = {}
        self._compression: _TwoBit | None = None
        self._bucket_cap = _bucket_bytes()

    is_distributed = True

    @property
    def rank(self) -> int:
        """This worker's rank, 0 to ``num_workers - 1``."""
        return self._world.rank

    @property
    def num_workers(self) -> int:
        """The number of workers in the job."""
        return self._world.size

    # -- the engine operations -------------------------------------------------------------
    def _push_collective(self, name: str, reads, writes, run) -> None:
        """Pushes an engine operation (copy lane) that reads ``reads`` and writes ``writes``
        (NDArrays) and runs ``run(world)`` on the communication thread, in program order."""
        w = self._world
        ready = threading.Event()
        slot: list = []

        def finish(error):
            # The operation has started (ready was set): its completion callback is in slot.
            slot[0](error)

        def start(done):
            slot.append(done)
            ready.set()
        w.submit(name, run, finish, ready)
        engine.push_async(start, reads=[a.handle for a in reads], writes=[a.handle for a in writes],
                          ctx=writes[0].context, lane="copy", name=name)

    def _allreduce(self, items) -> None:
        """Sums ``[(key, src, dst), ...]`` across the workers into the dsts, one operation
        for the whole bucket."""
        compression = self._compression
        keys = [k for k, _, _ in items]
        name = f"allreduce({keys[0]!r}{', ...' if len(keys) > 1 else ''})"

        def run(w):
            views = [(k, host_view(s), host_view(d)) for k, s, d in items]
            if len(views) == 1:
                k, s, d = views[0]
                if s is not d:
                    np.copyto(d, s)
                if compression is not None:
                    compression.apply(k, d)
                w.allreduce_inplace(d.reshape(-1), name)
                return
            flat = np.empty(sum(s.size for _, s, _ in views), dtype=views[0][1].dtype)
            at = 0
            for k, s, _ in views:
                part = flat[at:at + s.size].reshape(s.shape)
                np.copyto(part, s)
                if compression is not None:
                    compression.apply(k, part)
                at += s.size
            w.allreduce_inplace(flat, name)
            at = 0
            for _, _, d in views:
                np.copyto(d, flat[at:at + d.size].reshape(d.shape))
                at += d.size
        srcs = [s for _, s, _ in items]
        dsts = [d for _, _, d in items]
        self._push_collective(name, srcs, dsts, run)

    def _broadcast_stored(self, key) -> None:
        stored = self._store[key]

        def run(w):
            w.bcast_inplace(host_view(stored).reshape(-1), f"init({key!r})")
        self._push_collective(f"init({key!r})", [], [stored], run)

    def _buckets(self, triples):
        """Consecutive triples grouped into buckets of one dtype and up to the cap bytes; an
        array of the cap or more goes alone."""
        bucket, size = [], 0
        for t in triples:
            dtype = np.dtype(t[1].dtype)
            nbytes = t[1].size * dtype.itemsize
            if bucket and (size + nbytes > self._bucket_cap
                           or dtype != np.dtype(bucket[0][1].dtype)):
                yield bucket
                bucket, size = [], 0
            bucket.append(t)
            size += nbytes
        if bucket:
            yield bucket

    # -- data ------------------------------------------------------------------------------
    def init(self, key, value) -> None:
        """Initializes ``key`` with rank 0's ``value`` on every worker (each worker must
        init the same keys in the same order)."""
        pairs = _key_list(key, value, "init", "value")
        fresh = [k for k, _ in pairs if k not in self._store]
        super().init(key, value)
        for k in fresh:
            self._broadcast_stored(k)

    def broadcast(self, key, value, out, priority: int = 0) -> None:
        """``init(key, value)`` (rank 0's value) then ``pull(key, out)``."""
        self.init(key, value)
        self.pull(key, out=out, priority=priority)

    def _local_sum(self, k, vals) -> tuple[NDArray, NDArray]:
        """(src, dst): what this worker contributes for ``k`` and where the global sum goes."""
        shape = vals[0].shape
        for i, v in enumerate(vals[1:], 1):
            if v.shape != shape:
                raise MXNetError(f"push: value {i} for key {k!r} has shape {v.shape}, "
                                 f"expected {shape} like value 0")
        stored = self._store.get(k)
        if stored is None:
            raise MXNetError(f"push: key {k!r} has not been inited: a distributed store "
                             f"needs init (on every worker) before push")
        if stored.shape != shape:
            raise MXNetError(f"push: the value for key {k!r} has shape {shape}, the key was "
                             f"initialized with shape {stored.shape}")
        home = stored.context
        if len(vals) == 1 and vals[0].context == home:
            dst = self._merged.get(k)
            if dst is None or dst.dtype != vals[0].dtype:
                dst = self._merged[k] = vals[0].copy()
            return vals[0], dst
        merged = vals[0].copyto(home)
        for v in vals[1:]:
            merged += v.as_in_context(home)
        return merged, merged

    def push(self, key, value, priority: int = 0) -> None:
        """Pushes ``value`` to ``key`` (or lists of them): sums it over this worker's values
        and across the workers, then updates the stored value (see the module's doc). Keys
        pushed in one call are fused into buckets, in the order given."""
        pairs = _key_list(key, value, "push", "value")
        self._check_key_type([k for k, _ in pairs], "push")
        triples = [(k, *self._local_sum(k, vals)) for k, vals in _group(pairs).items()]
        for bucket in self._buckets(triples):
            self._allreduce(bucket)
        for k, _, dst in triples:
            if self._updater is not None:
                self._updater(k, dst, self._store[k])
            else:
                dst.copyto(self._store[k])

    # -- synchronization and options ---------------------------------------------------------
    def barrier(self) -> None:
        """Waits until every worker has reached its barrier (after their earlier
        collectives)."""
        self._world.call("barrier", lambda w: w.barrier())

    _barrier = barrier

    def set_gradient_compression(self, compression_params) -> None:
        """``{'type': '2bit', 'threshold': t}``: each worker sends, per value, ``+t``, ``-t`` or
        0 and keeps the remainder for the key's next push (MXNet's 2-bit compression with
        error feedback); ``{'type': 'none'}`` turns it off. Set it before the first push."""
        self._compression = _parse_compression(compression_params)


class DistAsyncKVStore(DistKVStore):
    """``dist_async``: every worker applies each gradient as soon as it has it, without
    waiting for the others.

    A push applies this worker's gradient to its replica at once (through the optimizer, or
    by assignment without one) and sends it to every other worker; the communication thread
    applies the gradients it receives from the others to this replica as they arrive. What
    is guaranteed: every gradient pushed by any worker is applied exactly once to every
    worker's replica, no two updates of one key run at the same time, and ``barrier()``
    returns once every gradient pushed before every worker's barrier has been applied
    everywhere. The order of updates differs between workers, so replicas are equal after a
    barrier only when updates commute (SGD without momentum or weight decay, or assignment);
    with other optimizers they agree to the order's effect. ``push`` never waits for another
    worker.
    """

    def __init__(self, name: str = "dist_async"):
        super().__init__(name)
        self._keys: list = []
        self._update_lock = threading.Lock()
        self._sent = 0

    def init(self, key, value) -> None:
        pairs = _key_list(key, value, "init", "value")
        for k, _ in pairs:
            if k not in self._store and k not in self._keys:
                self._keys.append(k)
        super().init(key, value)

    def _apply(self, k, grad: NDArray) -> None:
        with self._update_lock:
            if self._updater is not None:
                self._updater(k, grad, self._store[k])
            else:
                grad.copyto(self._store[k])

    def push(self, key, value, priority: int = 0) -> None:
        """Applies ``value`` (summed over this worker's values) to this replica at once and
        sends it to the other workers, who apply it when it arrives."""
        pairs = _key_list(key, value, "push", "value")
        self._check_key_type([k for k, _ in pairs], "push")
        from .kvstore_async import send_gradient
        for k, vals in _group(pairs).items():
            src, _ = self._local_sum(k, vals)
            grad = src.copy()
            send_gradient(self, self._keys.index(k), k, grad)
            self._apply(k, grad)

    def barrier(self) -> None:
        from .kvstore_async import async_barrier
        async_barrier(self)

    _barrier = barrier
