"""SequentialModule (``mxnet.module.SequentialModule``): modules chained one after another,
the outputs of each the data of the next, and in backward the input gradients of each the
output gradients of the one before."""
from __future__ import annotations

import copy
import logging
import threading

from ..base import MXNetError
from ..future import Future
from ..initializer import Uniform
from ..io import DataDesc
from .base_module import BaseModule

__all__ = ["SequentialModule"]


def _gather(results, value=None):
    """One Future over the members' results of one call, resolving
    to ``value()`` once they all have, or with the first error. None when a member returned
    no Future: its work cannot be waited for here, so the caller waits on the arrays.

    Like the members' futures it is armed when first looked at, and arming it arms them, so
    a script that ignores it costs nothing."""
    parts = list(results)
    if not parts or not all(isinstance(r, Future) for r in parts):
        return None
    out = Future()

    def arm():
        lock = threading.Lock()
        state = {"pending": len(parts), "error": None}

        def part_done(fut):
            with lock:
                if fut.exception() is not None and state["error"] is None:
                    state["error"] = fut.exception()
                state["pending"] -= 1
                last = state["pending"] == 0
            if not last:
                return
            if state["error"] is not None:
                out.set_exception(state["error"])
            else:
                out.set_result(value() if value is not None else None)

        for part in parts:
            part.add_done_callback(part_done)

    out._arm_fn = arm
    return out


class SequentialModule(BaseModule):
    """A chain of modules run in order.

    Building one symbol for the whole network is more flexible and faster; a chain is handy
    for mixing Modules with modules written in Python (a PythonLossModule as the last
    stage). Every module of the chain gets the labels of the batch if it was added with
    ``take_labels=True``; every module after the first is bound with
    ``inputs_need_grad=True`` so gradients pass back through the chain.

    Example
    -------
    >>> seq = mx.mod.SequentialModule()
    >>> seq.add(mx.mod.Module(features, label_names=None))
    >>> seq.add(mx.mod.Module(classifier), take_labels=True, auto_wiring=True)
    >>> seq.fit(train_iter, num_epoch=10)
    """

    META_TAKE_LABELS = "take_labels"
    META_AUTO_WIRING = "auto_wiring"

    def __init__(self, logger=logging):
        super().__init__(logger=logger)
        self._modules: list = []
        self._metas: list = []
        self._label_shapes = None
        self._data_shapes = None
        self._meta_keys = {getattr(SequentialModule, x) for x in dir(SequentialModule)
                           if x.startswith("META_")}

    def add(self, module, **kwargs) -> "SequentialModule":
        """Appends ``module`` to the chain and returns self, so calls chain.

        Keyword arguments are the module's meta information: ``take_labels=True`` gives it
        the batch's labels (any module of the chain may take them, all get the same);
        ``auto_wiring=True`` renames the previous module's outputs to this module's
        data_names when binding. Modules are added before ``bind``.
        """
        if not isinstance(module, BaseModule):
            raise MXNetError(f"SequentialModule.add: module={module!r}: expected a module "
                             f"(a BaseModule such as Module or PythonLossModule)")
        unknown = sorted(set(kwargs) - self._meta_keys)
        if unknown:
            raise MXNetError(f"SequentialModule.add: unknown meta {unknown}; expected "
                             f"{sorted(self._meta_keys)}")
        if self.binded:
            raise MXNetError("SequentialModule.add: the chain is already bound; add every "
                             "module before bind (build a new SequentialModule to extend a "
                             "bound chain)")
        self._modules.append(module)
        self._metas.append(dict(kwargs))
        self.params_initialized = False
        self.optimizer_initialized = False
        return self

    def _takes_labels(self, i) -> bool:
        return bool(self._metas[i].get(SequentialModule.META_TAKE_LABELS, False))

    def _auto_wired(self, i) -> bool:
        return bool(self._metas[i].get(SequentialModule.META_AUTO_WIRING, False))

    # ---- names and shapes ----------------------------------------------------------------
    @property
    def data_names(self):
        """The first module's data names."""
        return self._modules[0].data_names if self._modules else []

    @property
    def output_names(self):
        """The last module's output names."""
        return self._modules[-1].output_names if self._modules else []

    @property
    def data_shapes(self):
        """The first module's data shapes."""
        self._check_bound("data_shapes")
        return self._modules[0].data_shapes

    @property
    def label_shapes(self):
        """The label shapes given to bind (None if no module takes labels)."""
        self._check_bound("label_shapes")
        return self._label_shapes

    @property
    def output_shapes(self):
        """The last module's output shapes."""
        self._check_bound("output_shapes")
        return self._modules[-1].output_shapes

    # ---- parameters ----------------------------------------------------------------------
    def get_params(self):
        """(arg_params, aux_params): every module's parameters in one pair of dicts."""
        self._check_ready("get_params")
        arg_params, aux_params = {}, {}
        for module in self._modules:
            arg, aux = module.get_params()
            arg_params.update(arg)
            aux_params.update(aux)
        return arg_params, aux_params

    def init_params(self, initializer=Uniform(0.01), arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False) -> None:
        """Initializes every module's parameters; ``arg_params``/``aux_params`` hold values
        for any module of the chain. Two modules with a parameter of the same name raise."""
        if self.params_initialized and not force_init:
            return
        self._check_bound("init_params")
        for module in self._modules:
            if module.params_initialized and not force_init:
                continue  # a member loaded from its checkpoint keeps its values
            # Each module takes its own names from the merged dicts.
            module.init_params(initializer=initializer, arg_params=arg_params,
                               aux_params=aux_params, allow_missing=allow_missing,
                               force_init=force_init, allow_extra=True)
        known = ({}, {})
        for i, module in enumerate(self._modules):
            for table, names in zip(known, module.get_params()):
                for name in names:
                    if name in table:
                        j = table[name]
                        raise MXNetError(f"SequentialModule: duplicated parameter name "
                                         f"{name!r}: in layer {i} "
                                         f"({type(module).__name__}) and layer {j} "
                                         f"({type(self._modules[j]).__name__})")
                    table[name] = i
        if not allow_extra:
            for what, given, table in (("arg_params", arg_params, known[0]),
                                       ("aux_params", aux_params, known[1])):
                extra = sorted(set(given or {}) - set(table))
                if extra:
                    raise MXNetError(f"init_params: {what} has {extra}, which no module of "
                                     f"the chain has (pass allow_extra=True to ignore them)")
        self.params_initialized = True

    # ---- binding -------------------------------------------------------------------------
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write") -> None:
        """Binds the modules in order: each to the previous one's output shapes (renamed to
        its data_names with ``auto_wiring``), those that take labels to ``label_shapes``."""
        if self.binded and not force_rebind:
            self.logger.warning("Already bound, ignoring bind()")
            return
        if not for_training and inputs_need_grad:
            raise MXNetError("bind: inputs_need_grad=True needs for_training=True")
        if shared_module is not None:
            raise MXNetError("bind: shared_module is not supported for SequentialModule")
        if not self._modules:
            raise MXNetError("bind: the SequentialModule is empty; add modules first")
        self.binded = False
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        my_data_shapes = list(data_shapes)
        anybody_needs_label = False
        for i, module in enumerate(self._modules):
            if self._takes_labels(i):
                my_label_shapes = label_shapes
                anybody_needs_label = True
            else:
                my_label_shapes = None
            # Every module after the first passes gradients back to the one before it.
            my_inputs_need_grad = bool(inputs_need_grad or (for_training and i > 0))
            if self._auto_wired(i):
                names = list(module.data_names)
                if len(names) != len(my_data_shapes):
                    raise MXNetError(
                        f"SequentialModule.bind: layer {i} ({type(module).__name__}) takes "
                        f"{len(names)} data inputs {names}, but layer {i - 1} gives "
                        f"{len(my_data_shapes)} outputs {[d[0] for d in my_data_shapes]}"
                        if i > 0 else
                        f"SequentialModule.bind: layer 0 ({type(module).__name__}) takes "
                        f"{len(names)} data inputs {names}, but data_shapes has "
                        f"{len(my_data_shapes)}")
                my_data_shapes = [DataDesc(name, tuple(d[1])) for name, d in
                                  zip(names, my_data_shapes)]
            try:
                module.bind(data_shapes=my_data_shapes, label_shapes=my_label_shapes,
                            for_training=for_training, inputs_need_grad=my_inputs_need_grad,
                            force_rebind=force_rebind, shared_module=None, grad_req=grad_req)
            except (MXNetError, ValueError) as err:
                given = [(d[0], tuple(d[1])) for d in my_data_shapes]
                source = f"layer {i - 1}'s outputs" if i > 0 else "data_shapes"
                raise MXNetError(f"SequentialModule.bind: layer {i} "
                                 f"({type(module).__name__}) cannot be bound to {source} "
                                 f"{given}: {err}") from err
            my_data_shapes = list(module.output_shapes)
        self._label_shapes = label_shapes if anybody_needs_label else None
        self.binded = True

    # ---- optimizer -----------------------------------------------------------------------
    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False) -> None:
        """Creates every module's optimizer with the same settings."""
        self._check_ready("init_optimizer")
        if self.optimizer_initialized and not force_init:
            self.logger.warning("optimizer already initialized, ignoring.")
            return
        for module in self._modules:
            module.init_optimizer(kvstore=kvstore, optimizer=optimizer,
                                  optimizer_params=optimizer_params, force_init=force_init)
        self.optimizer_initialized = True

    # ---- computation ---------------------------------------------------------------------
    def forward(self, data_batch, is_train=None):
        """Runs each module's forward on the previous module's outputs. Returns a Future of
        the last module's outputs once every module's forward has run (None when no module
        returns futures)."""
        self._check_ready("forward")
        # A shallow copy keeps bucket_key, pad and the labels while data changes per layer.
        data_batch = copy.copy(data_batch)
        results = []
        for i, module in enumerate(self._modules):
            results.append(module.forward(data_batch, is_train=is_train))
            if i + 1 == len(self._modules):
                break
            data_batch.data = module.get_outputs()
            if getattr(data_batch, "provide_data", None) is not None:
                if self._auto_wired(i + 1):
                    names = list(self._modules[i + 1].data_names)
                else:
                    names = [x[0] for x in module.output_shapes]
                data_batch.provide_data = [DataDesc(name, tuple(x.shape))
                                           for name, x in zip(names, data_batch.data)]
        last = self._modules[-1]
        return _gather(results, last.get_outputs)

    def backward(self, out_grads=None):
        """Runs the backward passes from the last module to the first, each module's input
        gradients the output gradients of the one before. Returns a Future resolving to None
        once every module's gradients are written."""
        self._check_ready("backward")
        results = []
        for i in range(len(self._modules) - 1, -1, -1):
            module = self._modules[i]
            results.append(module.backward(out_grads=out_grads))
            if i == 0:
                break
            out_grads = module.get_input_grads()
        return _gather(results)

    def update(self):
        """Updates every module's parameters. Returns a Future resolving to None once they
        are all written."""
        self._check_ready("update")
        if not self.optimizer_initialized:
            raise MXNetError("update: call init_optimizer first")
        return _gather([module.update() for module in self._modules])

    def get_outputs(self, merge_multi_context=True):
        """The last module's outputs."""
        self._check_ready("get_outputs")
        return self._modules[-1].get_outputs(merge_multi_context=merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        """The first module's input gradients (bind with ``inputs_need_grad=True``)."""
        self._check_ready("get_input_grads")
        if not self.inputs_need_grad:
            raise MXNetError("get_input_grads: bind with inputs_need_grad=True first")
        return self._modules[0].get_input_grads(merge_multi_context=merge_multi_context)

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        """Updates ``eval_metric`` with the outputs of every module that takes labels.
        Returns a Future resolving to None once its accumulators are written."""
        self._check_ready("update_metric")
        return _gather([module.update_metric(eval_metric, labels, pre_sliced)
                        for i, module in enumerate(self._modules) if self._takes_labels(i)])

    def install_monitor(self, mon) -> None:
        """Installs ``mon`` on every module's executors."""
        self._check_bound("install_monitor")
        for module in self._modules:
            module.install_monitor(mon)

    def __repr__(self) -> str:
        state = "bound" if self.binded else "not bound"
        return (f"<SequentialModule of {len(self._modules)} modules "
                f"({', '.join(type(m).__name__ for m in self._modules)}), {state}>")
