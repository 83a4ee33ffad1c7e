"""BaseModule (``mxnet.module.BaseModule``): the interface every module provides, and the
training and prediction loops written once on top of it (``fit``, ``score``, ``predict``,
``iter_predict``).

The loops themselves live in ``loops.py``, written once and driven either by blocking the
calling thread (``fit``, ``score``, ``predict``, ``iter_predict``) or by awaiting in a trio
or asyncio task (``fit_async``, ``score_async``, ``predict_async``, ``iter_predict_async``).
Batch k+1 is read in a worker thread while batch k computes.
"""
from __future__ import annotations

import logging
import warnings

from .. import ndarray as nd
from ..base import MXNetError
from ..context import cpu
from ..initializer import Uniform
from ..io import DataDesc
from . import loops

__all__ = ["BaseModule"]


def _as_list(obj) -> list:
    return list(obj) if isinstance(obj, (list, tuple)) else [obj]


def _check_input_names(symbol, names, typename, throw):
    """Checks that ``names`` are arguments of ``symbol`` (MXNet's message and suggestions)."""
    args = symbol.list_arguments()
    for name in names:
        if name in args:
            continue
        candidates = [arg for arg in args if not arg.endswith(("_weight", "_bias", "_gamma",
                                                               "_beta"))]
        msg = (f"You created Module with Module(..., {typename}_names={list(names)}) but input "
               f"with name '{name}' is not found in symbol.list_arguments(). Did you mean one "
               f"of:\n\t" + "\n\t".join(candidates))
        if throw:
            raise ValueError(msg)
        warnings.warn(msg)


def _check_names_match(data_names, data_shapes, name, throw):
    actual = [x[0] for x in data_shapes]
    if sorted(data_names) != sorted(actual):
        msg = (f"Data provided by {name}_shapes don't match names specified by {name}_names "
               f"({data_shapes} vs. {list(data_names)})")
        if throw:
            raise ValueError(msg)
        warnings.warn(msg)


def _parse_data_desc(data_names, label_names, data_shapes, label_shapes):
    """DataDescs for ``data_shapes`` and ``label_shapes`` (given as DataDescs or
    (name, shape) pairs), checked against the module's names."""
    def descs(shapes, what):
        out = []
        for x in shapes:
            if isinstance(x, DataDesc):
                out.append(x)
            elif isinstance(x, (list, tuple)) and len(x) == 2 and isinstance(x[0], str):
                out.append(DataDesc(x[0], tuple(x[1])))
            else:
                raise MXNetError(f"{what}: {x!r}: expected a DataDesc or a (name, shape) pair")
        return out
    data_shapes = descs(data_shapes, "data_shapes")
    _check_names_match(data_names, data_shapes, "data", True)
    if label_shapes is not None:
        label_shapes = descs(label_shapes, "label_shapes")
        _check_names_match(label_names, label_shapes, "label", False)
    else:
        _check_names_match(label_names, [], "label", False)
    return data_shapes, label_shapes


class _KeptNames:
    """The names of a module that keeps its inputs' and outputs' names as it was given
    them, in ``_data_names``, ``_label_names`` and ``_output_names`` (Module,
    PythonModule)."""

    @property
    def data_names(self):
        """The data inputs of the module."""
        return self._data_names

    @property
    def label_names(self):
        """The label inputs of the module."""
        return self._label_names

    @property
    def output_names(self):
        """The outputs of the module."""
        return self._output_names


class BaseModule:
    """The base of every module: a computation over a Symbol that can be bound to shapes,
    given parameters and an optimizer, and run forward and backward on batches."""

    def __init__(self, logger=logging):
        self.logger = logger
        self.binded = False
        self.for_training = False
        self.inputs_need_grad = False
        self.params_initialized = False
        self.optimizer_initialized = False
        self._symbol = None
        self._total_exec_bytes = 0

    # ---- high level: forward and backward together, score, predict -----------------------
    def forward_backward(self, data_batch):
        """A forward pass in training mode, then backward; returns what ``backward`` returns
        (a Future of the gradients, for Module)."""
        self.forward(data_batch, is_train=True)
        return self.backward()

    @loops.blocking_method(loops.score_core)
    def score(self, eval_data, eval_metric, num_batch=None, batch_end_callback=None,
              score_end_callback=None, reset=True, epoch=0, sparse_row_id_fn=None, *,
              telemetry=None):
        """Runs prediction on ``eval_data`` and evaluates ``eval_metric``; returns its
        ``get_name_value()``. While a metrics endpoint is served the evaluation's metric is
        reported to it (``telemetry``, a flowmod addition: see ``fit``)."""

    score_async = loops.awaiting_method(score, """``score`` for a trio or asyncio task: the
        same loop, awaiting the engine instead of blocking the thread. ``eval_data`` may
        also be an async iterable of DataBatch.""")

    @loops.blocking_method(loops.iter_predict_core, emits=True)
    def iter_predict(self, eval_data, num_batch=None, reset=True, sparse_row_id_fn=None):
        """Yields ``(outputs, nbatch, batch)`` for each batch of ``eval_data``; padding at the
        end of the last batch is cut off the outputs."""

    iter_predict_async = loops.awaiting_method(iter_predict, """``async for outputs, nbatch,
        batch in mod.iter_predict_async(eval_data)``: like ``iter_predict``, each batch's
        outputs computed when it is handed out.""")

    @loops.blocking_method(loops.predict_core)
    def predict(self, eval_data, num_batch=None, merge_batches=True, reset=True,
                always_output_list=False, sparse_row_id_fn=None):
        """The outputs for every batch of ``eval_data`` (a DataIter, or one NDArray or numpy
        array run as a single batch), concatenated over the batches with ``merge_batches``.
        One output comes back as an NDArray unless ``always_output_list``."""

    predict_async = loops.awaiting_method(predict, """``predict`` for a trio or asyncio
        task; the outputs are computed when it returns.""")

    @loops.blocking_method(loops.fit_core)
    def fit(self, train_data, eval_data=None, eval_metric="acc", epoch_end_callback=None,
            batch_end_callback=None, kvstore="local", optimizer="sgd",
            optimizer_params=(("learning_rate", 0.01),), eval_end_callback=None,
            eval_batch_end_callback=None, initializer=Uniform(0.01), arg_params=None,
            aux_params=None, allow_missing=False, force_rebind=False, force_init=False,
            begin_epoch=0, num_epoch=None, validation_metric=None, monitor=None,
            sparse_row_id_fn=None, *, prefetch_depth=loops.DEFAULT_DEPTH, telemetry=None):
        """Trains the module on ``train_data`` for epochs ``begin_epoch`` to ``num_epoch - 1``:
        binds, initializes parameters and the optimizer, then per batch runs forward,
        backward and update and updates ``eval_metric``; after each epoch calls
        ``epoch_end_callback(epoch, symbol, arg_params, aux_params)`` and scores
        ``eval_data`` with ``validation_metric``.

        Batches are read ahead in a worker thread while earlier ones compute (an
        NDArrayIter's in the calling thread, as the engine computes meanwhile), and pushing
        runs at most ``prefetch_depth`` batches ahead of the engine (a flowmod addition).
        Ctrl-C stops it between batches: the parameters are those after the last update.

        ``telemetry`` (a flowmod addition): while a metrics endpoint is served
        (``flowmod.telemetry.start_http_server``, ``make_wsgi_app``, ``make_asgi_app``), the
        run reports samples, batch times, the epoch and the metrics to it, labelled with the
        module's name (its symbol's name), without waiting for anything. A string labels it
        with that name instead, a ``PrometheusReporter`` reports to that reporter, and
        False turns it off; a reporter among the callbacks reports alone."""

    fit_async = loops.awaiting_method(fit, """``fit`` for a trio or asyncio task: the same
        loop, awaiting the engine and the data instead of blocking, so the other tasks of the
        event loop keep running. ``train_data`` may also be an async iterable of DataBatch
        (each ``__aiter__()`` is one epoch). Cancelling the task stops it between batches: no
        new batch is pushed, those pushed finish, and the parameters are those after the last
        update.""")

    def _check_bound(self, what):
        if not self.binded:
            raise MXNetError(f"{what}: call bind first")

    def _check_ready(self, what):
        if not (self.binded and self.params_initialized):
            raise MXNetError(f"{what}: call bind and init_params first")

    # ---- the interface each module implements ---------------------------------------------
    # As in MXNet, each raises NotImplementedError here: a subclass that forgets one gets
    # MXNet's error.
    @property
    def symbol(self):
        """The symbol this module computes."""
        return self._symbol

    @property
    def data_names(self):
        """The names of the data inputs."""
        raise NotImplementedError()

    @property
    def output_names(self):
        """The names of the outputs."""
        raise NotImplementedError()

    @property
    def data_shapes(self):
        """The DataDescs of the data inputs."""
        raise NotImplementedError()

    @property
    def label_shapes(self):
        """The DataDescs of the label inputs (None without labels)."""
        raise NotImplementedError()

    @property
    def output_shapes(self):
        """(name, shape) of each output."""
        raise NotImplementedError()

    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        """Allocates the module's computation for batches of ``data_shapes``."""
        raise NotImplementedError()

    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        """Sets up the optimizer for ``update``."""
        raise NotImplementedError()

    def forward(self, data_batch, is_train=None):
        """Runs the forward pass on ``data_batch``."""
        raise NotImplementedError()

    def backward(self, out_grads=None):
        """Runs the backward pass (``out_grads`` for outputs that are not loss heads)."""
        raise NotImplementedError()

    def get_outputs(self, merge_multi_context=True):
        """The outputs of the last forward pass."""
        raise NotImplementedError()

    def get_input_grads(self, merge_multi_context=True):
        """The gradients of the inputs of the last backward pass (``inputs_need_grad``)."""
        raise NotImplementedError()

    def update(self):
        """Updates the parameters with the gradients of the last backward pass."""
        raise NotImplementedError()

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        """Accumulates ``eval_metric`` over the outputs of the last forward pass."""
        raise NotImplementedError()

    def prepare(self, data_batch, sparse_row_id_fn=None) -> None:
        """prepare(data_batch, sparse_row_id_fn=None): prepares the module for
        ``data_batch``; a module without row_sparse parameters needs nothing."""

    def get_params(self):
        """(arg_params, aux_params): the parameters' values."""
        raise NotImplementedError()

    def init_params(self, initializer=Uniform(0.01), arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        """Initializes the parameters from ``arg_params``/``aux_params`` or
        ``initializer``."""
        raise NotImplementedError()

    # A module that can assign some of its parameters' values, leaving the others as they
    # are, defines _assign_params(arg_params, aux_params, force_init, allow_extra).
    _assign_params = None

    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True,
                   allow_extra=False):
        """Assigns parameter and auxiliary state values: ``init_params`` without an
        initializer. With ``allow_missing``, a module that can (Module, BucketingModule)
        assigns only the values given."""
        if not allow_missing or self._assign_params is None:
            self.init_params(initializer=None, arg_params=arg_params, aux_params=aux_params,
                             allow_missing=allow_missing, force_init=force_init,
                             allow_extra=allow_extra)
            return
        if self.params_initialized and not force_init:
            warnings.warn("Parameters already initialized and force_init=False. "
                          "set_params call ignored.", stacklevel=2)
            return
        self._assign_params(arg_params, aux_params, force_init, allow_extra)
        self._params_dirty = True
        self.params_initialized = True

    def save_params(self, fname) -> None:
        """Saves the parameters to ``fname`` in MXNet's .params format (``arg:``/``aux:``
        keys), atomically."""
        arg_params, aux_params = self.get_params()
        save_dict = {f"arg:{k}": v.as_in_context(cpu()) for k, v in arg_params.items()}
        save_dict.update({f"aux:{k}": v.as_in_context(cpu()) for k, v in aux_params.items()})
        nd.save(fname, save_dict)

    def load_params(self, fname) -> None:
        """Loads parameters saved by ``save_params`` (or MXNet's ``.params`` files)."""
        save_dict = nd.load(fname)
        arg_params, aux_params = {}, {}
        for k, value in save_dict.items():
            arg_type, _, name = k.partition(":")
            if arg_type == "arg":
                arg_params[name] = value
            elif arg_type == "aux":
                aux_params[name] = value
            else:
                raise ValueError(f"Invalid param file {fname}: key {k!r} is not arg:<name> or "
                                 f"aux:<name>")
        self.set_params(arg_params, aux_params)

    def get_states(self, merge_multi_context=True):
        """The values of the state inputs (none in a module without state_names)."""
        if not (self.binded and self.params_initialized):
            raise MXNetError("get_states: call bind and init_params first")
        return []

    def set_states(self, states=None, value=None):
        """Sets the state inputs (none in a module without state_names)."""
        if not (self.binded and self.params_initialized):
            raise MXNetError("set_states: call bind and init_params first")
        if states or value is not None:
            raise MXNetError(f"{type(self).__name__} has no state inputs to set")

    def install_monitor(self, mon) -> None:
        """Installs ``mon`` (a Monitor) on the module's executors."""
        raise NotImplementedError()

    def _reset_bind(self) -> None:
        self.binded = False

    def __repr__(self) -> str:
        state = "bound" if self.binded else "not bound"
        return f"<{type(self).__name__} {state}>"

