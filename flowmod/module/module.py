"""Module (``mxnet.module.Module``): a Symbol bound to one or more contexts, with its
parameters, optimizer and checkpoints."""
from __future__ import annotations

import logging
import numbers
import warnings

import numpy as np

from .. import checkpoint
from .. import context as ctx
from .. import ndarray as nd
from .. import optimizer as opt
from ..base import MXNetError
from ..fileio import write_atomic
from ..future import Future, _lazy
from ..initializer import InitDesc, Uniform
from ..io.io import batch_shapes
from ..kvstore import KVStoreBase
from ..kvstore import create as create_kvstore
from ..model import load_checkpoint, write_checkpoint
from ..profiler.session import api as _api
from . import distributed
from .base_module import BaseModule, _check_input_names, _KeptNames, _parse_data_desc
from .executor_group import DataParallelExecutorGroup

# A named logger: records propagate to the handlers the application configures, and
# flowmod never installs one on the root logger (as logging.info would).
_log = logging.getLogger(__name__)

__all__ = ["Module"]

# Parameters larger than this many elements are updated on the devices, not in a local store.
_BIG_PARAM = 16 * 1024 * 1024


def _create_kvstore(kvstore, num_device, arg_params):
    """(store or None, update_on_kvstore) as MXNet decides them: one device needs no store."""
    update_on_kvstore = True
    if kvstore is None:
        kv = None
    elif isinstance(kvstore, KVStoreBase):
        kv = kvstore
    elif isinstance(kvstore, str):
        if num_device == 1 and "dist" not in kvstore:
            kv = None
        else:
            kv = create_kvstore(kvstore)
            if kvstore == "local" and arg_params and \
                    max(int(np.prod(p.shape)) for p in arg_params.values()) > _BIG_PARAM:
                update_on_kvstore = False
    else:
        raise TypeError(f"kvstore={kvstore!r}: expected None, a KVStore or a store type string")
    if kv is None:
        update_on_kvstore = False
    return kv, update_on_kvstore


class Module(_KeptNames, BaseModule):
    """A module over one Symbol.

    Parameters
    ----------
    symbol : Symbol
    data_names, label_names : list of str
        The inputs fed from batches' data and labels.
    context : Context or list of Context
        One executor per context; a batch is split across them by ``work_load_list``.
    fixed_param_names : list of str
        Parameters that are not updated.
    state_names : list of str
        Inputs that are states (set with ``set_states``), not parameters.
    """

    def __init__(self, symbol, data_names=("data",), label_names=("softmax_label",),
                 logger=logging, context=ctx.cpu(), work_load_list=None,
                 fixed_param_names=None, state_names=None, group2ctxs=None,
                 compression_params=None):
        super().__init__(logger=logger)
        if isinstance(context, ctx.Context):
            context = [context]
        self._context = list(context)
        if not self._context or not all(isinstance(c, ctx.Context) for c in self._context):
            raise MXNetError(f"Module: context={context!r}: expected a Context or a list of them")
        if work_load_list is None:
            work_load_list = [1] * len(self._context)
        if len(work_load_list) != len(self._context):
            raise MXNetError(f"Module: work_load_list has {len(work_load_list)} entries for "
                             f"{len(self._context)} contexts")
        self._work_load_list = list(work_load_list)
        self._group2ctxs = group2ctxs
        self._symbol = symbol
        data_names = list(data_names) if data_names is not None else []
        label_names = list(label_names) if label_names is not None else []
        state_names = list(state_names) if state_names is not None else []
        fixed_param_names = list(fixed_param_names) if fixed_param_names is not None else []
        _check_input_names(symbol, data_names, "data", True)
        _check_input_names(symbol, label_names, "label", False)
        _check_input_names(symbol, state_names, "state", True)
        _check_input_names(symbol, fixed_param_names, "fixed_param", True)
        arg_names = symbol.list_arguments()
        input_names = data_names + label_names + state_names
        self._param_names = [x for x in arg_names if x not in input_names]
        self._fixed_param_names = fixed_param_names
        self._aux_names = symbol.list_auxiliary_states()
        self._data_names = data_names
        self._label_names = label_names
        self._state_names = state_names
        self._output_names = symbol.list_outputs()
        self._compression_params = compression_params
        self._arg_params = None
        self._aux_params = None
        self._params_dirty = False
        self._optimizer = None
        self._kvstore = None
        self._update_on_kvstore = None
        self._updater = None
        self._preload_opt_states = None
        self._grad_req = None
        self._exec_group = None
        self._data_shapes = None
        self._label_shapes = None

    # ---- checkpoints ---------------------------------------------------------------------
    @staticmethod
    def load(prefix, epoch, load_optimizer_states=False, **kwargs) -> "Module":
        """A Module from the checkpoint ``prefix-symbol.json`` and ``prefix-%04d.params``
        (written by save_checkpoint here or by MXNet); its parameters are set at bind, and
        with ``load_optimizer_states`` the states of ``prefix-%04d.states`` at
        init_optimizer. ``kwargs`` go to the constructor. A checkpoint missing a file (its
        save interrupted, or saved without states) raises MXNetError here, naming it."""
        sym, args, auxs = load_checkpoint(prefix, epoch)
        states = checkpoint.check_states(prefix, epoch) if load_optimizer_states else None
        mod = Module(symbol=sym, **kwargs)
        # bind would leave such a parameter unset and get_params fail on it later.
        for kind, names, table in (("arg", mod._param_names, args),
                                   ("aux", mod._aux_names, auxs)):
            missing = [n for n in names if n not in table]
            if missing:
                raise MXNetError(f"load: {checkpoint.params_name(prefix, epoch)!r} has no "
                                 f"'{kind}:{missing[0]}' for the network's "
                                 f"{'parameter' if kind == 'arg' else 'auxiliary state'} "
                                 f"{missing[0]!r} ({len(missing)} missing)")
        mod._arg_params = args
        mod._aux_params = auxs
        mod.params_initialized = True
        mod._preload_opt_states = states
        return mod

    def save_checkpoint(self, prefix, epoch, save_optimizer_states=False,
                        remove_amp_cast=True) -> None:
        """Writes ``prefix-symbol.json``, ``prefix-%04d.params`` and, with
        ``save_optimizer_states``, ``prefix-%04d.states`` as one set: a save interrupted at
        any moment leaves the earlier epochs loadable and this epoch either complete or
        refused at load (see :mod:`flowmod.checkpoint`)."""
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral):
            raise MXNetError(f"save_checkpoint: epoch={epoch!r}: expected an integer")
        arg_params, aux_params = self.get_params()
        save_dict = {f"arg:{k}": v for k, v in arg_params.items()}
        save_dict.update({f"aux:{k}": v for k, v in aux_params.items()})
        states = (self._optimizer_state_bytes("save_checkpoint") if save_optimizer_states
                  else None)
        write_checkpoint(prefix, epoch, save_dict, states,
                         shared=((f"{prefix}-symbol.json", self._symbol.tojson()),))
        _log.info('Saved checkpoint to "%s"', checkpoint.params_name(prefix, epoch))
        if save_optimizer_states:
            _log.info('Saved optimizer state to "%s"', checkpoint.states_name(prefix, epoch))

    # ---- names and shapes ----------------------------------------------------------------
    @property
    def state_names(self):
        return self._state_names

    @property
    def fixed_param_names(self):
        return self._fixed_param_names

    @property
    def data_shapes(self):
        self._check_bound("data_shapes")
        return self._data_shapes

    @property
    def label_shapes(self):
        self._check_bound("label_shapes")
        return self._label_shapes

    @property
    def output_shapes(self):
        self._check_bound("output_shapes")
        return self._exec_group.get_output_shapes()

    # ---- parameters ----------------------------------------------------------------------
    def get_params(self):
        """(arg_params, aux_params): the module's copies of the parameters, refreshed from
        the devices (copies pushed to the engine: they hold the values as of now)."""
        self._check_ready("get_params")
        if self._params_dirty:
            self._sync_params_from_devices()
        return self._arg_params, self._aux_params

    def init_params(self, initializer=Uniform(0.01), arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False) -> None:
        """Initializes the parameters: values from ``arg_params``/``aux_params`` where given,
        else ``initializer`` (by name: biases 0, gammas 1, ...). A missing value with
        ``initializer=None`` raises unless ``allow_missing``."""
        if self.params_initialized and not force_init:
            warnings.warn("Parameters already initialized and force_init=False. "
                          "init_params call ignored.", stacklevel=2)
            return
        self._check_bound("init_params")

        def _impl(desc, arr, cache):
            if cache is not None:
                if desc in cache:
                    cache_arr = cache[desc]
                    if cache_arr is not arr:
                        if tuple(cache_arr.shape) != arr.shape:
                            raise MXNetError(f"init_params: {desc} has shape "
                                             f"{tuple(cache_arr.shape)} in the given "
                                             f"parameters, expected {arr.shape}")
                        if isinstance(cache_arr, nd.NDArray):
                            cache_arr.copyto(arr)
                        else:
                            arr[:] = np.asarray(cache_arr)
                    return
                if not allow_missing:
                    raise RuntimeError(f"{desc} is not presented")
                if initializer is not None:
                    initializer(desc, arr)
            else:
                if initializer is None:
                    raise RuntimeError(f"{desc} is not presented and there is no initializer")
                initializer(desc, arr)

        attrs = self._symbol.attr_dict()
        for name, arr in sorted(self._arg_params.items()):
            _impl(InitDesc(name, attrs.get(name, None)), arr, arg_params)
        for name, arr in sorted(self._aux_params.items()):
            _impl(InitDesc(name, attrs.get(name, None)), arr, aux_params)
        if not allow_extra:
            for what, given, own in (("arg_params", arg_params, self._arg_params),
                                     ("aux_params", aux_params, self._aux_params)):
                extra = sorted(set(given or {}) - set(own))
                if extra:
                    # MXNet's types, which scripts catch: RuntimeError for a missing
                    # parameter (above), ValueError for an extra one.
                    raise ValueError(f"init_params: {what} has {extra}, which the module does "
                                     f"not have (pass allow_extra=True to ignore them)")
        self.params_initialized = True
        self._params_dirty = False
        self._exec_group.set_params(self._arg_params, self._aux_params, allow_extra=allow_extra)

    def _assign_params(self, arg_params, aux_params, force_init, allow_extra) -> None:
        # The devices' arrays take the values given; the module's copies are refreshed
        # from them when next read.
        self._exec_group.set_params(arg_params, aux_params, allow_extra=allow_extra)

    def _sync_params_from_devices(self) -> None:
        self._exec_group.get_params(self._arg_params, self._aux_params)
        if self._kvstore and self._update_on_kvstore:
            # Devices may hold only the rows prepare() pulled: the store has them all.
            for name, value in sorted(self._arg_params.items()):
                if value.stype == "row_sparse":
                    rows = nd.arange(0, value.shape[0], dtype="int64")
                    self._kvstore.row_sparse_pull(name, value, row_ids=rows)
        self._params_dirty = False

    # ---- binding -------------------------------------------------------------------------
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write") -> None:
        """Allocates the executors for batches of ``data_shapes`` (and ``label_shapes``):
        DataDescs or (name, shape) pairs. ``shared_module`` shares its parameters and
        storage (another bucket of one model)."""
        if force_rebind:
            self._reset_bind()
        if self.binded:
            self.logger.warning("Already bound, ignoring bind()")
            return
        if not for_training and inputs_need_grad:
            raise MXNetError("bind: inputs_need_grad=True needs for_training=True")
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self._grad_req = grad_req
        self._data_shapes, self._label_shapes = _parse_data_desc(
            self._data_names, self._label_names, data_shapes, label_shapes)
        shared_group = None
        if shared_module is not None:
            if not isinstance(shared_module, Module) or not shared_module.binded or \
                    not shared_module.params_initialized:
                raise MXNetError("bind: shared_module must be a Module that is bound and has "
                                 "initialized parameters")
            shared_group = shared_module._exec_group
            if len(shared_group.execs) != len(self._context):
                raise MXNetError("bind: shared_module runs on a different number of contexts")
        self._exec_group = DataParallelExecutorGroup(
            self._symbol, self._context, self._work_load_list, self._data_shapes,
            self._label_shapes, self._param_names, for_training, inputs_need_grad,
            shared_group, logger=self.logger, fixed_param_names=self._fixed_param_names,
            grad_req=grad_req, state_names=self._state_names, group2ctxs=self._group2ctxs)
        self._total_exec_bytes = sum(e.plan_stats["planned_bytes"]
                                     for e in self._exec_group.execs)
        self.binded = True
        if shared_module is not None:
            self.params_initialized = True
            self._arg_params = shared_module._arg_params
            self._aux_params = shared_module._aux_params
        elif self.params_initialized:
            # Rebinding (or a loaded checkpoint): the parameters already have values.
            self._exec_group.set_params(self._arg_params, self._aux_params)
        else:
            # Of the executors' storage types: a row_sparse parameter stays row_sparse.
            self._arg_params = {name: nd.zeros(block[0].shape, dtype=block[0].dtype,
                                               stype=block[0].stype)
                                for name, block in zip(self._param_names,
                                                       self._exec_group.param_arrays)}
            self._aux_params = {name: nd.zeros(block[0].shape, dtype=block[0].dtype,
                                               stype=block[0].stype)
                                for name, block in zip(self._aux_names,
                                                       self._exec_group.aux_arrays)}
        if shared_module is not None and shared_module.optimizer_initialized:
            self.borrow_optimizer(shared_module)

    def _reset_bind(self) -> None:
        self.binded = False
        self._exec_group = None
        self._data_shapes = None
        self._label_shapes = None

    def reshape(self, data_shapes, label_shapes=None) -> None:
        """Rebinds for new input shapes, keeping parameters (and sharing storage)."""
        self._check_bound("reshape")
        data_shapes, label_shapes = _parse_data_desc(
            self._data_names, self._label_names, data_shapes, label_shapes)
        # The shapes are kept only once the devices took them, so a refused reshape leaves
        # the module bound as it was.
        self._exec_group.reshape(data_shapes, label_shapes)
        self._data_shapes, self._label_shapes = data_shapes, label_shapes

    # ---- optimizer -----------------------------------------------------------------------
    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False) -> None:
        """Creates the optimizer (a name with ``optimizer_params``, or an Optimizer) and,
        with several devices, the store that sums their gradients. ``rescale_grad``
        defaults to 1 / batch size."""
        self._check_ready("init_optimizer")
        if self.optimizer_initialized and not force_init:
            self.logger.warning("optimizer already initialized, ignoring...")
            return
        if self._params_dirty:
            self._sync_params_from_devices()
        kvstore, update_on_kvstore = _create_kvstore(kvstore, len(self._context),
                                                     self._arg_params)
        batch_size = distributed.batch_size_for_rescale(kvstore, self._exec_group.batch_size)
        rescale_grad = 1.0 / batch_size
        num_ctx = len(self._context)
        if update_on_kvstore:
            idx2name = dict(enumerate(self._exec_group.param_names))
        else:
            idx2name = {}
            for k in range(num_ctx):
                idx2name.update({i * num_ctx + k: n
                                 for i, n in enumerate(self._exec_group.param_names)})
        if isinstance(optimizer, str):
            params = dict(optimizer_params)
            params.setdefault("rescale_grad", rescale_grad)
            optimizer = opt.create(optimizer, sym=self.symbol, param_idx2name=idx2name, **params)
        elif isinstance(optimizer, opt.Optimizer):
            if optimizer.rescale_grad != rescale_grad:
                warnings.warn(f"Optimizer created manually outside Module but rescale_grad is "
                              f"not normalized to 1.0/batch_size/num_workers "
                              f"({optimizer.rescale_grad} vs. {rescale_grad}). Is this "
                              f"intended?", stacklevel=2)
            if not optimizer.idx2name:
                optimizer.idx2name = idx2name.copy()
        else:
            raise MXNetError(f"init_optimizer: optimizer={optimizer!r}: expected a name or an "
                             f"Optimizer")
        self._optimizer = optimizer
        self._kvstore = kvstore
        self._update_on_kvstore = update_on_kvstore
        self._updater = None
        if kvstore is not None:
            if update_on_kvstore:
                kvstore.set_optimizer(optimizer)
            for idx, (name, block) in enumerate(zip(self._exec_group.param_names,
                                                    self._exec_group.param_arrays)):
                kvstore.init(name, self._arg_params[name])
                if update_on_kvstore or distributed.is_distributed(kvstore):
                    kvstore.pull(name, block, priority=-idx)
        if not update_on_kvstore:
            self._updater = opt.get_updater(optimizer)
        self.optimizer_initialized = True
        if self._preload_opt_states is not None:
            self.load_optimizer_states(self._preload_opt_states)
            self._preload_opt_states = None

    def borrow_optimizer(self, shared_module) -> None:
        """Uses ``shared_module``'s optimizer, store and updater (another bucket of one
        model)."""
        if not shared_module.optimizer_initialized:
            raise MXNetError("borrow_optimizer: the shared module has no optimizer yet")
        self._optimizer = shared_module._optimizer
        self._kvstore = shared_module._kvstore
        self._update_on_kvstore = shared_module._update_on_kvstore
        self._updater = shared_module._updater
        self.optimizer_initialized = True

    def _optimizer_state_bytes(self, func: str) -> bytes:
        if not self.optimizer_initialized:
            raise MXNetError(f"{func}: call init_optimizer first")
        updater = self._kvstore._updater if self._update_on_kvstore else self._updater
        if not hasattr(updater, "get_states"):
            raise MXNetError(f"{func}: the store's updater {updater!r} cannot save states")
        return updater.get_states()

    def save_optimizer_states(self, fname) -> None:
        """Writes the optimizer states (flowmod's pickle-free format), atomically."""
        states = self._optimizer_state_bytes("save_optimizer_states")
        write_atomic(fname, lambda out: out.write(states))

    def load_optimizer_states(self, fname) -> None:
        """Reads optimizer states written by save_optimizer_states."""
        if not self.optimizer_initialized:
            raise MXNetError("load_optimizer_states: call init_optimizer first")
        if self._update_on_kvstore:
            self._kvstore.load_optimizer_states(fname)
        else:
            with open(fname, "rb") as f:
                data = f.read()
            # The updater's index of a parameter's copy on device k, as update() passes it.
            num_ctx = len(self._context)
            weights = {index * num_ctx + k: w
                       for index, block in enumerate(self._exec_group.param_arrays)
                       for k, w in enumerate(block)}
            # States saved by a module that updated on the store are keyed by parameter name
            # (MXNet's test_save_load loads those into a module updating locally).
            weights.update((name, block[0]) for name, block in
                           zip(self._exec_group.param_names, self._exec_group.param_arrays))
            self._updater.load_states(data, weights)

    # ---- computation ---------------------------------------------------------------------
    def prepare(self, data_batch, sparse_row_id_fn=None) -> None:
        """prepare(data_batch, sparse_row_id_fn=None): with parameters updated on the
        store, pulls the rows of the row_sparse parameters that ``data_batch`` uses:
        ``sparse_row_id_fn(data_batch)`` gives {parameter name: row ids (NDArray)}. (The
        devices' row_sparse parameters otherwise hold every row, pulled after each update,
        so forward needs no prepare.)"""
        self._check_bound("prepare")
        if sparse_row_id_fn is None:
            return
        if not self._kvstore or not self._update_on_kvstore:
            warnings.warn(UserWarning("Parameters are not updated in the KVStore. No need to "
                                      "call sparse_row_id_fn."), stacklevel=2)
            return
        row_ids = sparse_row_id_fn(data_batch)
        if not isinstance(row_ids, dict):
            raise MXNetError(f"prepare: sparse_row_id_fn returned {type(row_ids).__name__}, "
                             f"expected a dict of parameter name to row ids")
        group = self._exec_group
        for name, rows in row_ids.items():
            if name not in group.param_names:
                raise MXNetError(f"prepare: sparse_row_id_fn gave rows for {name!r}, which is "
                                 f"not a parameter ({', '.join(group.param_names)})")
            index = group.param_names.index(name)
            arrays = group.param_arrays[index]
            if arrays[0].stype != "row_sparse":
                warnings.warn(UserWarning(f"{name}.stype is not 'row_sparse'. No need to "
                                          f"perform row_sparse_pull."), stacklevel=2)
                continue
            self._kvstore.row_sparse_pull(name, arrays, priority=-index, row_ids=rows)

    @_api("forward")
    def forward(self, data_batch, is_train=None) -> Future:
        """Pushes the forward pass on ``data_batch`` (training mode by default when bound for
        training). A batch of other shapes rebinds (sharing memory) first. Returns a Future
        of ``get_outputs()`` once computed (valid until the next forward)."""
        self._check_ready("forward")
        curr = tuple(d.shape for d in self._data_shapes)
        new = tuple(tuple(a.shape) for a in data_batch.data)
        if curr != new:
            try:
                self.reshape(*batch_shapes(data_batch, self._data_shapes, self._label_shapes))
            except MXNetError as e:
                raise MXNetError(f"forward: {e}") from None
        self._exec_group.forward(data_batch, is_train)
        group = self._exec_group

        def outputs():
            outs = group.get_outputs()
            return outs, outs
        return _lazy(outputs)

    @_api("backward")
    def backward(self, out_grads=None) -> Future:
        """Pushes the backward pass (``out_grads`` for outputs that are not losses). Returns
        a Future resolving to None once the gradients are written."""
        self._check_ready("backward")
        group = self._exec_group
        group.backward(out_grads=out_grads)

        def grads():
            arrays = [g for block in group.grad_arrays for g in block]
            if self.inputs_need_grad:
                arrays += [g for block in group.input_grad_arrays for g in block]
            return arrays, None
        return _lazy(grads)

    @_api("update")
    def update(self) -> Future:
        """Pushes the optimizer's update of every parameter from its gradient (summed
        over the devices through the store when there are several). Returns a Future
        resolving to None once the parameters (and optimizer states) are written."""
        self._check_ready("update")
        if not self.optimizer_initialized:
            raise MXNetError("update: call init_optimizer first")
        self._params_dirty = True
        group = self._exec_group
        num_ctx = len(self._context)
        # One updater call per device with all its parameters, as MXNet's _update_params
        # makes it: optimizers that aggregate update them in groups, one push per group.
        per_device = [[] for _ in range(num_ctx)]
        if distributed.is_distributed(self._kvstore):
            self._update_distributed(group)
            return _lazy(lambda: ([w for block in group.param_arrays for w in block], None))
        for index, (name, weights, grads) in enumerate(zip(group.param_names,
                                                           group.param_arrays,
                                                           group.grad_arrays)):
            if grads[0] is None:
                continue
            if self._update_on_kvstore:
                self._kvstore.push(name, grads, priority=-index)
                self._kvstore.pull(name, out=weights, priority=-index)
                continue
            if self._kvstore is not None:
                self._kvstore.push(name, grads, priority=-index)
                self._kvstore.pull(name, out=grads, priority=-index)
            for k, (w, g) in enumerate(zip(weights, grads)):
                per_device[k].append((index * num_ctx + k, g, w))
        for updates in per_device:
            if updates:
                idx_list, grad_list, weight_list = (list(x) for x in zip(*updates))
                self._updater(idx_list, grad_list, weight_list)
        return _lazy(lambda: ([w for block in group.param_arrays for w in block], None))

    def _update_distributed(self, group) -> None:
        live = [i for i, g in enumerate(group.grad_arrays) if g[0] is not None]
        names = [group.param_names[i] for i in live]
        grads = [group.grad_arrays[i] for i in live]
        weights = [group.param_arrays[i] for i in live]
        distributed.push_pull(self._kvstore, names, grads, weights, self._update_on_kvstore)
        if self._update_on_kvstore:
            return
        num_ctx = len(self._context)
        for k in range(num_ctx):
            idx = [i * num_ctx + k for i in live]
            self._updater(idx, [g[k] for g in grads], [w[k] for w in weights])

    def get_outputs(self, merge_multi_context=True):
        """The outputs of the last forward (one array per output; per device without
        ``merge_multi_context``)."""
        self._check_ready("get_outputs")
        return self._exec_group.get_outputs(merge_multi_context=merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        """The gradients of the data inputs (bind with ``inputs_need_grad=True``)."""
        self._check_ready("get_input_grads")
        if not self.inputs_need_grad:
            raise MXNetError("get_input_grads: bind with inputs_need_grad=True first")
        return self._exec_group.get_input_grads(merge_multi_context=merge_multi_context)

    def get_states(self, merge_multi_context=True):
        self._check_ready("get_states")
        return self._exec_group.get_states(merge_multi_context=merge_multi_context)

    def set_states(self, states=None, value=None) -> None:
        self._check_ready("set_states")
        self._exec_group.set_states(states, value)

    @_api("update_metric")
    def update_metric(self, eval_metric, labels, pre_sliced=False) -> Future:
        """Pushes ``eval_metric``'s update with the last outputs and ``labels``. Returns a
        Future resolving to None once its accumulators are written."""
        self._exec_group.update_metric(eval_metric, labels, pre_sliced)
        return _lazy(lambda: (eval_metric._arrays(), None))

    def install_monitor(self, mon) -> None:
        """Installs ``mon`` (a flowmod.monitor.Monitor) on every executor."""
        self._check_bound("install_monitor")
        self._exec_group.install_monitor(mon)
