"""BucketingModule (``mxnet.module.BucketingModule``): one model over inputs of several
shapes, such as sequences unrolled to different lengths.

Each bucket key names a symbol (from ``sym_gen``) bound as its own Module the first time a
batch of that key arrives. Every bucket's executors take the parameter and gradient arrays
of the default bucket's executors, so there is one set of weights, and borrow its storage
blocks for their intermediate arrays, so a bucket no larger than the default one allocates
little of its own. Buckets run one at a time; the engine's vars order the shared storage
between them.
"""
from __future__ import annotations

import logging
import numbers

import numpy as np

from .. import context as ctx
from .. import params_format
from .. import ndarray as nd
from .. import symbol as sym
from ..base import MXNetError
from ..initializer import Uniform
from ..io.io import batch_shapes
from ..model import load_params, write_checkpoint
from ..name import NameManager
from .base_module import BaseModule, _check_input_names
from .module import Module

# A named logger: records propagate to the handlers the application configures, and
# flowmod never installs one on the root logger (as logging.info would).
_log = logging.getLogger(__name__)

__all__ = ["BucketingModule"]


class BucketingModule(BaseModule):
    """A module that picks its symbol by each batch's ``bucket_key``.

    Parameters
    ----------
    sym_gen : callable
        ``sym_gen(bucket_key) -> (symbol, data_names, label_names)``. The symbols of all keys
        must have the same parameters (names and shapes).
    default_bucket_key : hashable
        The key bound by ``bind``; its executors own the parameters and the storage every
        other bucket shares, so it should be the largest bucket.
    logger, context, work_load_list, fixed_param_names, state_names, group2ctxs,
    compression_params
        As for Module; every bucket's Module gets them.

    Example
    -------
    >>> def sym_gen(seq_len):
    ...     data = mx.sym.Variable('data')
    ...     ...
    ...     return net, ('data',), ('softmax_label',)
    >>> mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=max_len)
    >>> mod.fit(bucket_iter, num_epoch=10)
    """

    def __init__(self, sym_gen, default_bucket_key=None, logger=logging, context=ctx.cpu(),
                 work_load_list=None, fixed_param_names=None, state_names=None,
                 group2ctxs=None, compression_params=None):
        super().__init__(logger=logger)
        if default_bucket_key is None:
            raise MXNetError("BucketingModule: default_bucket_key is None; expected the key "
                             "of the default (largest) bucket")
        if not callable(sym_gen):
            raise MXNetError(f"BucketingModule: sym_gen={sym_gen!r}: expected a callable "
                             f"bucket_key -> (symbol, data_names, label_names)")
        self._default_bucket_key = default_bucket_key
        self._sym_gen = sym_gen
        symbol, data_names, label_names = self._call_sym_gen(default_bucket_key)
        state_names = list(state_names) if state_names is not None else []
        fixed_param_names = list(fixed_param_names) if fixed_param_names is not None else []
        _check_input_names(symbol, data_names, "data", True)
        _check_input_names(symbol, label_names, "label", False)
        _check_input_names(symbol, state_names, "state", True)
        _check_input_names(symbol, fixed_param_names, "fixed_param", True)
        self._compression_params = compression_params
        self._fixed_param_names = fixed_param_names
        self._state_names = state_names
        self._context = context
        self._work_load_list = work_load_list
        self._group2ctxs = group2ctxs
        self._buckets: dict = {}
        self._curr_module = None
        self._curr_bucket_key = None
        self._params_dirty = False
        self._monitor = None
        self._grad_req = None

    def _reset_bind(self) -> None:
        self.binded = False
        self._buckets = {}
        self._curr_module = None
        self._curr_bucket_key = None

    def _call_sym_gen(self, bucket_key):
        """sym_gen's (symbol, data_names, label_names) for ``bucket_key``, checked; automatic
        names restart for each call so every bucket names its nodes alike."""
        try:
            with NameManager():
                result = self._sym_gen(bucket_key)
        except MXNetError:
            raise
        except Exception as err:
            raise MXNetError(f"BucketingModule: sym_gen({bucket_key!r}) raised "
                             f"{type(err).__name__}: {err}") from err
        if not isinstance(result, (tuple, list)) or len(result) != 3 or \
                not isinstance(result[0], sym.Symbol):
            raise MXNetError(f"BucketingModule: sym_gen({bucket_key!r}) returned {result!r}; "
                             f"expected (symbol, data_names, label_names) for that bucket key")
        symbol, data_names, label_names = result
        data_names = list(data_names) if data_names is not None else []
        label_names = list(label_names) if label_names is not None else []
        return symbol, data_names, label_names

    def _new_module(self, symbol, data_names, label_names) -> Module:
        return Module(symbol, data_names, label_names, logger=self.logger,
                      context=self._context, work_load_list=self._work_load_list,
                      fixed_param_names=self._fixed_param_names, state_names=self._state_names,
                      group2ctxs=self._group2ctxs, compression_params=self._compression_params)

    # ---- names and shapes ----------------------------------------------------------------
    @property
    def default_bucket_key(self):
        """The key of the bucket that owns the parameters."""
        return self._default_bucket_key

    @property
    def data_names(self):
        """The data inputs of the current bucket (the default one before bind)."""
        if self.binded:
            return self._curr_module.data_names
        return self._call_sym_gen(self._default_bucket_key)[1]

    @property
    def output_names(self):
        """The outputs of the current bucket (the default one before bind)."""
        if self.binded:
            return self._curr_module.output_names
        return self._call_sym_gen(self._default_bucket_key)[0].list_outputs()

    @property
    def data_shapes(self):
        """The current bucket's data shapes."""
        self._check_bound("data_shapes")
        return self._curr_module.data_shapes

    @property
    def label_shapes(self):
        """The current bucket's label shapes."""
        self._check_bound("label_shapes")
        return self._curr_module.label_shapes

    @property
    def output_shapes(self):
        """The current bucket's output shapes."""
        self._check_bound("output_shapes")
        return self._curr_module.output_shapes

    @property
    def symbol(self):
        """The symbol of the current bucket."""
        self._check_bound("symbol")
        return self._curr_module.symbol

    # ---- parameters ----------------------------------------------------------------------
    def get_params(self):
        """(arg_params, aux_params), shared by every bucket."""
        self._check_ready("get_params")
        # An update through any bucket changed the shared arrays: the current module's copies
        # are stale whenever this module's are.
        self._curr_module._params_dirty = self._params_dirty or self._curr_module._params_dirty
        params = self._curr_module.get_params()
        self._params_dirty = False
        return params

    def _assign_params(self, arg_params, aux_params, force_init, allow_extra) -> None:
        # Through the current bucket: every bucket shares its arrays.
        self._check_bound("set_params")
        self._curr_module.set_params(arg_params, aux_params, allow_missing=True,
                                     force_init=force_init, allow_extra=allow_extra)

    def init_params(self, initializer=Uniform(0.01), arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False) -> None:
        """Initializes the shared parameters through the current bucket."""
        if self.params_initialized and not force_init:
            return
        self._check_bound("init_params")
        self._curr_module.init_params(initializer=initializer, arg_params=arg_params,
                                      aux_params=aux_params, allow_missing=allow_missing,
                                      force_init=force_init, allow_extra=allow_extra)
        self._params_dirty = False
        self.params_initialized = True

    def get_states(self, merge_multi_context=True):
        """The current bucket's state inputs."""
        self._check_ready("get_states")
        return self._curr_module.get_states(merge_multi_context=merge_multi_context)

    def set_states(self, states=None, value=None) -> None:
        """Sets the current bucket's state inputs (``states`` or one ``value``)."""
        self._check_ready("set_states")
        self._curr_module.set_states(states, value)

    # ---- binding -------------------------------------------------------------------------
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write") -> None:
        """Binds the default bucket for ``data_shapes``/``label_shapes`` (its shapes); other
        buckets are bound when a batch of their key arrives (``switch_bucket``)."""
        saved = None
        if self.params_initialized and self.binded:
            saved = self.get_params()
        if force_rebind and self.binded:
            self._reset_bind()
        if self.binded:
            self.logger.warning("Already bound, ignoring bind()")
            return
        if shared_module is not None:
            raise MXNetError("bind: shared_module is not supported for BucketingModule (its "
                             "buckets already share the default bucket's parameters)")
        if not for_training and inputs_need_grad:
            raise MXNetError("bind: inputs_need_grad=True needs for_training=True")
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self._grad_req = grad_req
        if self._default_bucket_key in self._buckets:
            # Made by load(): holds the checkpoint's parameters until bound.
            module = self._buckets[self._default_bucket_key]
        else:
            module = self._new_module(*self._call_sym_gen(self._default_bucket_key))
        module.bind(data_shapes, label_shapes, for_training, inputs_need_grad,
                    force_rebind=False, shared_module=None, grad_req=grad_req)
        self._curr_module = module
        self._curr_bucket_key = self._default_bucket_key
        self._buckets[self._default_bucket_key] = module
        self.binded = True
        if saved is not None:
            self.set_params(*saved)

    def switch_bucket(self, bucket_key, data_shapes, label_shapes=None) -> None:
        """Makes ``bucket_key`` the current bucket, binding it for ``data_shapes`` and
        ``label_shapes`` (typically a batch's ``provide_data``/``provide_label``) the first
        time, with the default bucket's parameters and storage."""
        self._check_bound("switch_bucket")
        module = self._buckets.get(bucket_key)
        if module is None:
            module = self._new_module(*self._call_sym_gen(bucket_key))
        if not module.binded:
            if data_shapes is None:
                raise MXNetError(f"switch_bucket: bucket {bucket_key!r} is not bound yet; "
                                 f"give its data_shapes")
            default = self._buckets[self._default_bucket_key]
            if module._param_names != default._param_names:
                # The shared optimizer keys its states by a parameter's position.
                raise MXNetError(f"switch_bucket: bucket {bucket_key!r} has the parameters "
                                 f"{module._param_names}, the default bucket "
                                 f"{self._default_bucket_key!r} has {default._param_names}; "
                                 f"every bucket's symbol needs the same parameters in the "
                                 f"same order")
            module.bind(data_shapes, label_shapes, self._curr_module.for_training,
                        self._curr_module.inputs_need_grad, force_rebind=False,
                        shared_module=default, grad_req=self._grad_req)
            if self._monitor is not None:
                module.install_monitor(self._monitor)
            self._buckets[bucket_key] = module
        self._curr_module = module
        self._curr_bucket_key = bucket_key

    def _switch_for_batch(self, data_batch) -> None:
        """Switches to the batch's bucket (the default one for a batch without a key)."""
        key = getattr(data_batch, "bucket_key", None)
        if key is None:
            key = self._default_bucket_key
        data_shapes = getattr(data_batch, "provide_data", None)
        label_shapes = getattr(data_batch, "provide_label", None)
        if key not in self._buckets or not self._buckets[key].binded:
            if key in self._buckets:
                data_names = self._buckets[key].data_names
                label_names = self._buckets[key].label_names
            else:
                _, data_names, label_names = self._call_sym_gen(key)
            data_shapes, label_shapes = batch_shapes(data_batch, data_names, label_names)
            if not label_names:
                # A bucket without labels (the first stage of a SequentialModule, say)
                # binds none, whatever the batch carries.
                label_shapes = None
        self.switch_bucket(key, data_shapes, label_shapes or None)

    # ---- optimizer -----------------------------------------------------------------------
    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False) -> None:
        """Creates the optimizer on the current bucket; every other bucket uses it."""
        self._check_ready("init_optimizer")
        if self.optimizer_initialized and not force_init:
            self.logger.warning("optimizer already initialized, ignoring.")
            return
        self._curr_module.init_optimizer(kvstore, optimizer, optimizer_params,
                                         force_init=force_init)
        for module in self._buckets.values():
            if module is not self._curr_module and module.binded:
                module.borrow_optimizer(self._curr_module)
        self.optimizer_initialized = True

    # ---- computation ---------------------------------------------------------------------
    def prepare(self, data_batch, sparse_row_id_fn=None) -> None:
        """Binds the batch's bucket ahead of its forward (the current bucket is kept)."""
        self._check_ready("prepare")
        original = self._curr_bucket_key
        self._switch_for_batch(data_batch)
        self._curr_module.prepare(data_batch, sparse_row_id_fn=sparse_row_id_fn)
        self.switch_bucket(original, None, None)

    def forward(self, data_batch, is_train=None):
        """Switches to the batch's bucket and pushes its forward pass; returns what the
        bucket's Module.forward returns."""
        self._check_ready("forward")
        self._switch_for_batch(data_batch)
        return self._curr_module.forward(data_batch, is_train=is_train)

    def backward(self, out_grads=None):
        """Pushes the current bucket's backward pass; returns what its Module.backward
        returns."""
        self._check_ready("backward")
        return self._curr_module.backward(out_grads=out_grads)

    def update(self):
        """Pushes the optimizer's update of the shared parameters; returns what the current
        bucket's Module.update returns."""
        self._check_ready("update")
        if not self.optimizer_initialized:
            raise MXNetError("update: call init_optimizer first")
        self._params_dirty = True
        return self._curr_module.update()

    def get_outputs(self, merge_multi_context=True):
        """The current bucket's outputs of the last forward."""
        self._check_ready("get_outputs")
        return self._curr_module.get_outputs(merge_multi_context=merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        """The current bucket's input gradients (bind with ``inputs_need_grad=True``)."""
        self._check_ready("get_input_grads")
        if not self.inputs_need_grad:
            raise MXNetError("get_input_grads: bind with inputs_need_grad=True first")
        return self._curr_module.get_input_grads(merge_multi_context=merge_multi_context)

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        """Pushes ``eval_metric``'s update with the current bucket's outputs; returns what
        its Module.update_metric returns."""
        self._check_ready("update_metric")
        return self._curr_module.update_metric(eval_metric, labels, pre_sliced)

    def install_monitor(self, mon) -> None:
        """Installs ``mon`` on every bucket, including those bound later."""
        self._check_bound("install_monitor")
        self._monitor = mon
        for module in self._buckets.values():
            if module.binded:
                module.install_monitor(mon)

    # ---- checkpoints ---------------------------------------------------------------------
    def save_checkpoint(self, prefix, epoch, remove_amp_cast=False) -> None:
        """Writes ``prefix-%04d.params`` (the shared parameters), ``prefix-KEY-symbol.json``
        for every bucket and ``prefix.buckets`` (the keys, as MXNet writes them: one int32
        array), as one set (see :mod:`flowmod.checkpoint`). Bucket keys must be integers."""
        if not self._buckets:
            raise MXNetError("save_checkpoint: the BucketingModule has no bucket (call bind "
                             "first)")
        keys = list(self._buckets)
        bad = [k for k in keys if isinstance(k, bool) or not isinstance(k, numbers.Integral)]
        if bad:
            raise MXNetError(f"save_checkpoint: bucket keys {bad!r} are not integers; the "
                             f".buckets file holds integer keys")
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral):
            raise MXNetError(f"save_checkpoint: epoch={epoch!r}: expected an integer")
        arg_params, aux_params = self.get_params()
        save_dict = {f"arg:{k}": v for k, v in arg_params.items()}
        save_dict.update({f"aux:{k}": v for k, v in aux_params.items()})
        # The bucket keys last among the shared files: every key they list has its symbol.
        shared = [(f"{prefix}-{key}-symbol.json", module.symbol.tojson())
                  for key, module in self._buckets.items()]
        shared.append((f"{prefix}.buckets",
                       params_format.dumps([np.array(keys, dtype=np.int32)])))
        write_checkpoint(prefix, epoch, save_dict, shared=tuple(shared))
        _log.info('Saved checkpoint of %d buckets to "%s-%04d.params"', len(keys), prefix,
                  epoch)

    @staticmethod
    def load(prefix, epoch, sym_gen=None, default_bucket_key=None,
             **kwargs) -> "BucketingModule":
        """A BucketingModule from ``save_checkpoint``'s files: the buckets' symbols are read
        from ``prefix-KEY-symbol.json`` (their input names from ``sym_gen``), the
        parameters from ``prefix-%04d.params``; they are set at bind. ``kwargs`` go to the
        constructor."""
        if sym_gen is None:
            raise MXNetError("BucketingModule.load: sym_gen is required")
        if default_bucket_key is None:
            raise MXNetError("BucketingModule.load: default_bucket_key is required")
        stored = nd.load(f"{prefix}.buckets")
        if not isinstance(stored, list) or len(stored) != 1:
            raise MXNetError(f"BucketingModule.load: {prefix}.buckets holds {stored!r}, "
                             f"expected one array of bucket keys")
        keys = [int(k) for k in stored[0].asnumpy().astype(np.int32).reshape(-1)]
        mod = BucketingModule(sym_gen, default_bucket_key, **kwargs)
        if default_bucket_key not in keys:
            raise MXNetError(f"BucketingModule.load: default_bucket_key={default_bucket_key!r} "
                             f"is not among the saved buckets {keys}")
        for key in keys:
            _, data_names, label_names = mod._call_sym_gen(key)
            symbol = sym.load(f"{prefix}-{key}-symbol.json")
            mod._buckets[key] = mod._new_module(symbol, data_names, label_names)
        arg_params, aux_params = load_params(prefix, epoch)
        default = mod._buckets[default_bucket_key]
        default._arg_params = arg_params
        default._aux_params = aux_params
        default.params_initialized = True
        mod._curr_module = default
        mod._curr_bucket_key = default_bucket_key
        mod.params_initialized = True
        return mod

    @staticmethod
    def load_dict(sym_dict=None, sym_gen=None, default_bucket_key=None, arg_params=None,
                  aux_params=None, **kwargs) -> "BucketingModule":
        """load_dict(sym_dict=None, sym_gen=None, default_bucket_key=None, arg_params=None,
        aux_params=None, **kwargs)

        A BucketingModule from a dict of bucket key to symbol and the parameters the buckets
        share: each symbol becomes a bucket, with the data and label names ``sym_gen`` gives
        for its key, and the parameters are set at bind. ``kwargs`` go to the constructor
        (logger, context, work_load_list, fixed_param_names, state_names, group2ctxs,
        compression_params)."""
        for arg, value in (("sym_dict", sym_dict), ("sym_gen", sym_gen),
                           ("default_bucket_key", default_bucket_key),
                           ("arg_params", arg_params), ("aux_params", aux_params)):
            if value is None:
                raise MXNetError(f"BucketingModule.load_dict: {arg} is required")
        if not isinstance(sym_dict, dict) or not all(isinstance(s, sym.Symbol)
                                                     for s in sym_dict.values()):
            raise MXNetError(f"BucketingModule.load_dict: sym_dict={sym_dict!r}: expected a "
                             f"dict of bucket key to Symbol")
        if default_bucket_key not in sym_dict:
            raise MXNetError(f"BucketingModule.load_dict: default_bucket_key="
                             f"{default_bucket_key!r} is not among sym_dict's keys "
                             f"{list(sym_dict)}")
        mod = BucketingModule(sym_gen, default_bucket_key, **kwargs)
        for key, symbol in sym_dict.items():
            _, data_names, label_names = mod._call_sym_gen(key)
            mod._buckets[key] = mod._new_module(symbol, data_names, label_names)
        default = mod._buckets[default_bucket_key]
        default._arg_params = dict(arg_params)
        default._aux_params = dict(aux_params)
        default.params_initialized = True
        mod._curr_module = default
        mod._curr_bucket_key = default_bucket_key
        mod.params_initialized = True
        return mod

    def __repr__(self) -> str:
        state = f"bound, bucket {self._curr_bucket_key!r}" if self.binded else "not bound"
        return f"<BucketingModule {len(self._buckets)} buckets, {state}>"
