"""Key-value stores for parameter synchronization (``mx.kvstore``, ``mx.kv``): MXNet 1.9's
single-machine stores, the distributed ones (:mod:`flowmod.kvstore_dist`) and
:class:`KVStoreBase`, the interface other back ends register under.

A store holds one NDArray per key. ``push`` sums the values pushed for a key (the
gradients of several devices) and, when an optimizer is set, updates the stored weight
with that sum; without one, the sum replaces the stored value. ``pull`` copies the stored
value into the outputs. Every step is an NDArray operation pushed to the engine, so none of
these calls waits.
"""
from __future__ import annotations

import warnings

from . import optimizer as opt
from .base import MXNetError
from .fileio import write_atomic
from .ndarray import NDArray

__all__ = ["KVStoreBase", "KVStore", "create"]

# Store types that run in this process; MXNet 1.9 takes every name without "dist" (or
# "nccl", "horovod", "byteps") for such a store. "dist" names are the MPI stores; the others
# are refused unless a back end registers under that name.
_DISTRIBUTED = ("dist", "nccl", "horovod", "byteps")


class KVStoreBase:
    """The interface of a key-value store (MXNet 1.9's ``mx.kvstore.KVStoreBase``). A back end
    subclasses it, implements ``broadcast``, ``pushpull``, ``set_optimizer``, ``is_capable``,
    ``save_optimizer_states``, ``load_optimizer_states``, ``type``, ``rank`` and
    ``num_workers``, and registers with :meth:`register`; ``create(name)`` then makes one::

        @mx.kvstore.KVStoreBase.register
        class MyStore(mx.kvstore.KVStoreBase):
            ...
        kv = mx.kv.create('mystore')
    """

    OPTIMIZER = "optimizer"
    kv_registry: dict = {}

    def broadcast(self, key, value, out, priority=0):
        """Broadcasts rank 0's ``value`` for ``key`` into ``out`` on every worker."""
        raise MXNetError(f"{type(self).__name__}.broadcast: this store does not implement it")

    def pushpull(self, key, value, out=None, priority=0):
        """Sums ``value`` across devices and workers into ``out``."""
        raise MXNetError(f"{type(self).__name__}.pushpull: this store does not implement it")

    def set_optimizer(self, optimizer):
        raise MXNetError(f"{type(self).__name__}.set_optimizer: this store does not "
                         f"implement it")

    def is_capable(self, capability):
        raise MXNetError(f"{type(self).__name__}.is_capable: this store does not implement it")

    def save_optimizer_states(self, fname, dump_optimizer=False):
        raise MXNetError(f"{type(self).__name__}.save_optimizer_states: this store does not "
                         f"implement it")

    def load_optimizer_states(self, fname):
        raise MXNetError(f"{type(self).__name__}.load_optimizer_states: this store does not "
                         f"implement it")

    @staticmethod
    def register(klass):
        """Registers the store class ``klass`` under its lower-cased name, for
        :func:`create`; a later class of the same name replaces it, with a warning."""
        if not isinstance(klass, type):
            raise MXNetError(f"register: klass={klass!r}: expected a class")
        name = klass.__name__.lower()
        previous = KVStoreBase.kv_registry.get(name)
        if previous is not None:
            warnings.warn(f"New kvstore {klass.__module__}.{klass.__name__} is overriding "
                          f"existing kvstore {previous.__module__}.{previous.__name__}",
                          stacklevel=2)
        KVStoreBase.kv_registry[name] = klass
        return klass


def _key_list(key, value, func: str, arg: str):
    """[(key, [NDArray, ...]), ...] from a key or list of keys and their values."""
    if isinstance(key, (list, tuple)):
        if not isinstance(value, (list, tuple)) or len(value) != len(key):
            got = len(value) if isinstance(value, (list, tuple)) else type(value).__name__
            raise MXNetError(f"{func}: {len(key)} keys and {arg} {got}: expected a list of "
                             f"as many values as keys")
        pairs = []
        for k, v in zip(key, value):
            pairs.extend(_key_list(k, v, func, arg))
        return pairs
    if isinstance(key, bool) or not isinstance(key, (int, str)):
        raise MXNetError(f"{func}: key {key!r} is {type(key).__name__}, expected an int or str")
    if isinstance(value, NDArray):
        return [(key, [value])]
    if isinstance(value, (list, tuple)) and value:
        for i, v in enumerate(value):
            if not isinstance(v, NDArray):
                raise MXNetError(f"{func}: {arg} for key {key!r}, item {i}, is "
                                 f"{type(v).__name__}, expected an NDArray")
        return [(key, list(value))]
    raise MXNetError(f"{func}: {arg} for key {key!r} is {value!r}, expected an NDArray or a "
                     f"non-empty list of NDArrays")


def _group(pairs):
    """Merges the values of repeated keys, keeping the keys' first order."""
    grouped: dict = {}
    for k, vals in pairs:
        grouped.setdefault(k, []).extend(vals)
    return grouped


class KVStore(KVStoreBase):
    """A single-machine key-value store (``mx.kv.create('local')``)."""

    def __init__(self, name: str = "local"):
        self._type = name
        self._store: dict = {}
        self._key_type = None
        self._updater = None

    # -- properties ----------------------------------------------------------------------

    @property
    def type(self) -> str:
        """The store's type, the name given to :func:`create` (lower-cased)."""
        return self._type

    @property
    def rank(self) -> int:
        """This worker's rank: 0, the only worker."""
        return 0

    @property
    def num_workers(self) -> int:
        """The number of workers: 1."""
        return 1

    def _check_key_type(self, keys, func: str) -> None:
        for k in keys:
            kind = "str" if isinstance(k, str) else "int"
            if self._key_type is None:
                self._key_type = kind
            elif self._key_type != kind:
                raise MXNetError(f"{func}: key {k!r} is an {kind} key, but this store uses "
                                 f"{self._key_type} keys: mixed key types are not allowed")

    # -- data ----------------------------------------------------------------------------

    def init(self, key, value) -> None:
        """Initializes ``key`` (an int or str, or a list of them) with a copy of ``value``
        (an NDArray, or a list of them for a list of keys). Each key is initialized once."""
        pairs = _key_list(key, value, "init", "value")
        self._check_key_type([k for k, _ in pairs], "init")
        for k, vals in pairs:
            if k in self._store:
                raise MXNetError(f"init: duplicate init of key {k!r}")
            # A key given several values takes each in turn, as MXNet's store does: the
            # second is then a duplicate init.
            for v in vals:
                if k in self._store:
                    raise MXNetError(f"init: duplicate init of key {k!r}")
                self._store[k] = v.copy()

    def push(self, key, value, priority: int = 0) -> None:
        """Pushes ``value`` to ``key``: the values for one key (a list, as from several
        devices, or the key repeated in a list of keys) are summed; the sum updates the
        stored value through the optimizer if one is set, or replaces it. ``priority`` is
        accepted for compatibility; the engine orders the operations by their data."""
        pairs = _key_list(key, value, "push", "value")
        self._check_key_type([k for k, _ in pairs], "push")
        for k, vals in _group(pairs).items():
            shape = vals[0].shape
            for i, v in enumerate(vals[1:], 1):
                if v.shape != shape:
                    raise MXNetError(f"push: value {i} for key {k!r} has shape {v.shape}, "
                                     f"expected {shape} like value 0")
            stored = self._store.get(k)
            if stored is not None and stored.shape != shape:
                raise MXNetError(f"push: the value for key {k!r} has shape {shape}, the key "
                                 f"was initialized with shape {stored.shape}")
            # Values from several devices are summed on the stored value's device.
            home = stored.context if stored is not None else vals[0].context
            if len(vals) == 1 and vals[0].context == home:
                merged = vals[0]
            else:
                merged = vals[0].copyto(home)
                for v in vals[1:]:
                    merged += v.as_in_context(home)
            if self._updater is not None:
                if stored is None:
                    raise MXNetError(f"push: key {k!r} has not been inited")
                self._updater(k, merged, stored)
            elif stored is None:
                self._store[k] = merged.copy() if merged is vals[0] else merged
            else:
                merged.copyto(stored)

    def pull(self, key, out=None, priority: int = 0, ignore_sparse: bool = True) -> None:
        """Copies the value of ``key`` into ``out`` (an NDArray, or a list of them, which
        all receive it). ``priority`` is accepted for compatibility; a row_sparse value is
        copied whole (every row it stores) whatever ``ignore_sparse`` says, so devices
        holding a row_sparse parameter keep all its rows."""
        if out is None:
            raise MXNetError("pull: out is None, expected an NDArray or a list of NDArrays")
        pairs = _key_list(key, out, "pull", "out")
        self._check_key_type([k for k, _ in pairs], "pull")
        for k, outs in pairs:
            stored = self._store.get(k)
            if stored is None:
                raise MXNetError(f"pull: key {k!r} has not been inited")
            for o in outs:
                if o.shape != stored.shape:
                    raise MXNetError(f"pull: out for key {k!r} has shape {o.shape}, expected "
                                     f"{stored.shape}")
                stored.copyto(o)

    def broadcast(self, key, value, out, priority: int = 0) -> None:
        """``init(key, value)`` then ``pull(key, out)``."""
        self.init(key, value)
        self.pull(key, out=out, priority=priority)

    def pushpull(self, key, value, out=None, priority: int = 0) -> None:
        """``push(key, value)`` then ``pull(key, out)``; ``out`` defaults to ``value``."""
        self.push(key, value, priority)
        self.pull(key, value if out is None else out, priority)

    def row_sparse_pull(self, key, out=None, priority: int = 0, row_ids=None) -> None:
        """row_sparse_pull(key, out=None, priority=0, row_ids=None): copies the rows
        ``row_ids`` (an int64 NDArray; repeats allowed) of the row_sparse value of ``key``
        into ``out`` (a RowSparseNDArray, or a list of them with one NDArray of row ids each,
        or one for all), which then stores exactly those rows, sorted. ``priority`` is
        accepted for compatibility."""
        if out is None or row_ids is None:
            raise MXNetError("row_sparse_pull: out and row_ids are required (RowSparseNDArrays "
                             "and NDArrays of row ids)")
        pairs = _key_list(key, out, "row_sparse_pull", "out")
        self._check_key_type([k for k, _ in pairs], "row_sparse_pull")
        ids = _key_list(key, row_ids, "row_sparse_pull", "row_ids")
        for (k, outs), (_, rows) in zip(pairs, ids):
            stored = self._store.get(k)
            if stored is None:
                raise MXNetError(f"row_sparse_pull: key {k!r} has not been inited")
            if stored.stype != "row_sparse":
                raise MXNetError(f"row_sparse_pull: the value of key {k!r} is {stored.stype}, "
                                 f"expected row_sparse (use pull)")
            if len(rows) == 1:
                rows = rows * len(outs)
            if len(rows) != len(outs):
                raise MXNetError(f"row_sparse_pull: {len(outs)} outs and {len(rows)} row_ids "
                                 f"for key {k!r}: expected one row_ids or one per out")
            for o, r in zip(outs, rows):
                if o.stype != "row_sparse" or o.shape != stored.shape:
                    raise MXNetError(f"row_sparse_pull: out for key {k!r} is a {o.stype} array "
                                     f"of shape {o.shape}, expected row_sparse of shape "
                                     f"{stored.shape}")
                o._replace(stored.retain(r).copyto(o.context))

    # -- optimizer -----------------------------------------------------------------------

    def set_optimizer(self, optimizer) -> None:
        """Makes pushes update the stored values with ``optimizer`` (an Optimizer)."""
        if not isinstance(optimizer, opt.Optimizer):
            raise MXNetError(f"set_optimizer: optimizer is {type(optimizer).__name__}, "
                             f"expected an Optimizer")
        self._set_updater(opt.get_updater(optimizer))

    def _set_updater(self, updater) -> None:
        """Uses ``updater(key, merged_value, stored_value)`` on pushes."""
        if not callable(updater):
            raise MXNetError(f"_set_updater: {updater!r} is not callable")
        self._updater = updater

    def _barrier(self) -> None:
        """Waits for all workers; with one worker there is nothing to wait for."""

    def is_capable(self, capability: str) -> bool:
        """Whether the store supports ``capability`` (``KVStore.OPTIMIZER``)."""
        if capability.lower() == KVStore.OPTIMIZER:
            return True
        raise MXNetError(f"is_capable: unknown capability {capability!r}, expected "
                         f"{KVStore.OPTIMIZER!r}")

    OPTIMIZER = "optimizer"

    def save_optimizer_states(self, fname, dump_optimizer: bool = False) -> None:
        """Writes the optimizer states (and the optimizer, if ``dump_optimizer``) to
        ``fname``, atomically. Waits for the states' pending updates."""
        if self._updater is None or not hasattr(self._updater, "get_states"):
            raise MXNetError("save_optimizer_states: this store has no optimizer; call "
                             "set_optimizer first")
        states = self._updater.get_states(dump_optimizer)
        write_atomic(fname, lambda out: out.write(states))

    def load_optimizer_states(self, fname) -> None:
        """Reads optimizer states written by :meth:`save_optimizer_states`."""
        if self._updater is None or not hasattr(self._updater, "set_states"):
            raise MXNetError("load_optimizer_states: this store has no optimizer; call "
                             "set_optimizer first")
        with open(fname, "rb") as f:
            data = f.read()
        if hasattr(self._updater, "load_states"):
            self._updater.load_states(data, dict(self._store))
        else:
            self._updater.set_states(data)


def create(name: str = "local") -> KVStoreBase:
    """Creates a store. A name registered with :meth:`KVStoreBase.register` gives that
    class's store. ``'local'``, ``'device'``, ``'local_update_cpu'``,
    ``'local_allreduce_cpu'`` and ``'local_allreduce_device'`` (any case) give a store in
    this process, which on CPU behaves the same for all of them. ``'dist_sync'``,
    ``'dist_device_sync'`` and ``'dist_async'`` give the distributed stores of
    :mod:`flowmod.kvstore_dist` (MPI, through the ``dist`` extra); ``nccl``, ``horovod`` and
    ``byteps`` are not available."""
    if not isinstance(name, str):
        raise TypeError(f"create: name={name!r}: name must be a string")
    tname = name.lower()
    if tname in KVStoreBase.kv_registry:
        return KVStoreBase.kv_registry[tname]()
    if "dist" in tname:
        from . import kvstore_dist
        if "async" in tname:
            return kvstore_dist.DistAsyncKVStore(tname)
        return kvstore_dist.DistKVStore(tname)
    if any(d in tname for d in _DISTRIBUTED):
        raise MXNetError(f"create: name={name!r}: {tname.split('_')[0]} key-value stores are "
                         f"not available in flowmod; use 'local', 'device' or 'dist_sync'")
    return KVStore(tname)
