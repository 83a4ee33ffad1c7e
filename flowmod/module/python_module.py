"""PythonModule and PythonLossModule (``mxnet.module.PythonModule``,
``mxnet.module.PythonLossModule``): modules whose computation is written in Python, such as a
loss whose gradient is a Python function, to chain after Modules in a SequentialModule."""
from __future__ import annotations

import logging

import numpy as np

from .. import ndarray as nd
from ..base import MXNetError
from ..future import Future, when_ready
from ..initializer import Uniform
from ..io import DataDesc
from .base_module import BaseModule, _KeptNames

__all__ = ["PythonModule", "PythonLossModule"]


def _done() -> Future:
    """A resolved Future: what a call that pushes no work returns."""
    fut = Future()
    fut.set_result(None)
    return fut


def _descs(shapes, names, what, owner):
    """DataDescs for ``shapes`` (DataDescs or (name, shape) pairs), whose names must be
    ``names`` in order."""
    out = []
    for x in shapes:
        if isinstance(x, DataDesc):
            out.append(x)
        elif isinstance(x, (list, tuple)) and len(x) == 2 and isinstance(x[0], str):
            out.append(DataDesc(x[0], tuple(x[1])))
        else:
            raise MXNetError(f"{owner}.bind: {what}: {x!r}: expected a DataDesc or a "
                             f"(name, shape) pair")
    got = [d.name for d in out]
    if got != list(names):
        raise MXNetError(f"{owner}.bind: {what} name {got}, expected {list(names)} (the "
                         f"module's {what.split('_')[0]}_names; in a SequentialModule, add it "
                         f"with auto_wiring=True to rename the previous outputs)")
    return out


class PythonModule(_KeptNames, BaseModule):
    """A base for modules computed in Python: it has no parameters, so ``init_params``,
    ``init_optimizer`` and ``update`` do nothing but mark the module ready, and
    ``update_metric`` evaluates the outputs against the labels. A subclass defines
    ``_compute_output_shapes``, ``forward``, ``backward``, ``get_outputs`` and
    ``get_input_grads``.

    Parameters
    ----------
    data_names : list of str
        The data the module takes.
    label_names : list of str or None
        The labels it takes (None if it needs none).
    output_names : list of str
        The names of its outputs.
    """

    def __init__(self, data_names, label_names, output_names, logger=logging):
        super().__init__(logger=logger)
        self._data_names = list(data_names)
        self._label_names = list(label_names) if label_names is not None else None
        self._output_names = list(output_names)
        self._data_shapes = None
        self._label_shapes = None
        self._output_shapes = None

    # ---- names and shapes ----------------------------------------------------------------
    @property
    def data_shapes(self):
        """DataDescs of the bound data inputs."""
        return self._data_shapes

    @property
    def label_shapes(self):
        """DataDescs of the bound labels (None when bound without labels)."""
        return self._label_shapes

    @property
    def output_shapes(self):
        """(name, shape) of each output, from ``_compute_output_shapes``."""
        return self._output_shapes

    # ---- parameters and optimizer: none ----------------------------------------------------
    def get_params(self):
        """``({}, {})``: a PythonModule has no parameters (a subclass with some overrides
        this)."""
        return ({}, {})

    def init_params(self, initializer=Uniform(0.01), arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False) -> None:
        """Marks the parameters initialized: there are none to initialize."""
        if not self.binded:
            raise MXNetError(f"{type(self).__name__}.init_params: call bind first")
        self.params_initialized = True

    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False) -> None:
        """Marks the optimizer initialized: there are no parameters to update."""
        self.optimizer_initialized = True

    def update(self) -> Future:
        """Does nothing: there are no parameters to update (returns a resolved Future)."""
        return _done()

    def update_metric(self, eval_metric, labels, pre_sliced=False) -> None:
        """Updates ``eval_metric`` with ``labels`` and the outputs of the last forward; a
        module bound without labels (one that computes no loss) ignores the call."""
        if self._label_shapes is None:
            return
        eval_metric.update(labels, self.get_outputs())

    def install_monitor(self, mon) -> None:
        """Does nothing: a PythonModule has no executors for a monitor to watch."""

    # ---- binding -------------------------------------------------------------------------
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write") -> None:
        """Records the input shapes and computes the output shapes."""
        if self.binded and not force_rebind:
            self.logger.warning("Already bound, ignoring bind()")
            return
        if grad_req != "write":
            raise MXNetError(f"{type(self).__name__}.bind: grad_req={grad_req!r}: a "
                             f"PythonModule writes its gradients ('write')")
        if not for_training and inputs_need_grad:
            raise MXNetError("bind: inputs_need_grad=True needs for_training=True")
        owner = type(self).__name__
        data_shapes = _descs(data_shapes, self._data_names, "data_shapes", owner)
        if label_shapes is not None:
            if self._label_names is None:
                raise MXNetError(f"{owner}.bind: label_shapes={label_shapes!r} given to a "
                                 f"module created with label_names=None")
            label_shapes = _descs(label_shapes, self._label_names, "label_shapes", owner)
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self._data_shapes = data_shapes
        self._label_shapes = label_shapes
        self._output_shapes = self._compute_output_shapes()
        self.binded = True

    def _compute_output_shapes(self):
        """[(name, shape)] of the outputs, from ``self._data_shapes`` and
        ``self._label_shapes``. Every subclass defines it."""
        raise MXNetError(f"{type(self).__name__} must define _compute_output_shapes() (the "
                         f"[(name, shape)] of its outputs) to be bound")


class PythonLossModule(PythonModule):
    """A loss computed in Python: its output is its input (the scores), and its backward
    gives the scores the gradient ``grad_func(scores, labels)`` returns. Chained after a
    Module in a SequentialModule (``add(loss, take_labels=True, auto_wiring=True)``), that
    gradient flows back through the Module's outputs.

    Parameters
    ----------
    name : str
        The output is named ``name + '_output'``.
    data_names : one name
        The scores' input.
    label_names : one name
        The labels' input.
    grad_func : callable
        ``grad_func(scores, labels)`` (NDArrays) returns the gradient of the loss with
        respect to the scores: an NDArray or a numpy array of the scores' shape.

    Example
    -------
    >>> def hinge_grad(scores, labels):
    ...     ...  # numpy in, numpy out
    >>> seq = mx.mod.SequentialModule()
    >>> seq.add(mx.mod.Module(net, label_names=None))
    >>> seq.add(mx.mod.PythonLossModule(grad_func=hinge_grad), take_labels=True,
    ...         auto_wiring=True)
    """

    def __init__(self, name="pyloss", data_names=("data",), label_names=("softmax_label",),
                 logger=logging, grad_func=None):
        if len(data_names) != 1:
            raise MXNetError(f"PythonLossModule: data_names={data_names!r}: expected one name")
        if label_names is None or len(label_names) != 1:
            raise MXNetError(f"PythonLossModule: label_names={label_names!r}: expected one "
                             f"name")
        if grad_func is not None and not callable(grad_func):
            raise MXNetError(f"PythonLossModule: grad_func={grad_func!r}: expected a callable "
                             f"(scores, labels) -> gradient")
        super().__init__(data_names, label_names, [name + "_output"], logger=logger)
        self._name = name
        self._scores = None
        self._labels = None
        self._scores_grad = None
        self._grad_func = grad_func

    def _compute_output_shapes(self):
        return [(self._name + "_output", tuple(self._data_shapes[0].shape))]

    def forward(self, data_batch, is_train=None) -> Future:
        """Keeps the scores (``data_batch.data[0]``) and, when given, the labels for
        backward and ``update_metric``; pushes nothing (returns a resolved Future)."""
        if not self.binded:
            raise MXNetError("PythonLossModule.forward: call bind first")
        if is_train is None:
            is_train = self.for_training
        self._scores = data_batch.data[0]
        if data_batch.label:
            self._labels = data_batch.label[0]
        elif is_train:
            raise MXNetError("PythonLossModule.forward: a training batch needs labels "
                             "(data_batch.label is empty)")
        self._scores_grad = None
        return _done()

    def get_outputs(self, merge_multi_context=True):
        """``[scores]``: the loss module passes its input through."""
        if self._scores is None:
            raise MXNetError("PythonLossModule.get_outputs: call forward first")
        return [self._scores]

    def backward(self, out_grads=None) -> Future:
        """Computes the scores' gradient with ``grad_func`` (a loss takes no out_grads).
        Returns a Future resolving to None once the gradient is written."""
        if out_grads is not None:
            raise MXNetError("PythonLossModule.backward: out_grads must be None for a loss "
                             "module")
        if not self.for_training:
            raise MXNetError("PythonLossModule.backward: the module was bound with "
                             "for_training=False")
        if self._scores is None or self._labels is None:
            raise MXNetError("PythonLossModule.backward: call forward with a training batch "
                             "first")
        self._backward_impl()
        return when_ready([self._scores_grad])

    def _backward_impl(self) -> None:
        """Sets ``self._scores_grad`` from ``self._scores`` and ``self._labels``; a subclass
        may override this instead of passing ``grad_func``."""
        if self._grad_func is None:
            raise MXNetError(f"PythonLossModule {self._name!r} has no grad_func: pass "
                             f"grad_func=(scores, labels) -> gradient, or override "
                             f"_backward_impl in a subclass")
        grad = self._grad_func(self._scores, self._labels)
        if not isinstance(grad, nd.NDArray):
            grad = nd.array(np.asarray(grad), ctx=self._scores.context,
                            dtype=self._scores.dtype)
        if tuple(grad.shape) != tuple(self._scores.shape):
            raise MXNetError(f"PythonLossModule {self._name!r}: grad_func returned shape "
                             f"{tuple(grad.shape)}, expected the scores' shape "
                             f"{tuple(self._scores.shape)}")
        self._scores_grad = grad

    def get_input_grads(self, merge_multi_context=True):
        """``[gradient of the scores]`` from the last backward."""
        if self._scores_grad is None:
            raise MXNetError("PythonLossModule.get_input_grads: call backward first")
        return [self._scores_grad]
