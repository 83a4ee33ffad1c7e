"""Evaluation metrics (``mxnet.metric``).

A metric accumulates over ``update(labels, preds)`` calls (lists of arrays, one per output)
and reports with ``get()``. It keeps two accumulations: the *local* one, which
``reset_local()`` clears (as ``Speedometer`` does every few batches), and the *global* one,
cleared only by ``reset()``::

    acc = mx.metric.create('acc')
    acc.update([label], [pred])
    name, value = acc.get()

The built-in metrics accumulate on the engine: ``update`` pushes array operations that add
into one-element NDArray accumulators (``sum_metric``) and counts instances in Python from
the arrays' shapes (``num_inst``), so it returns at once and never waits for the network's
outputs. ``get()`` waits for the accumulators and turns them into Python floats. Labels and
predictions may be NDArrays or numpy arrays (numpy arrays are copied to the engine).

:class:`CustomMetric` and :func:`np` call a Python function on numpy arrays, so their
``update`` waits for each batch's arrays.

A metric written as a subclass of :class:`EvalMetric` may keep Python numbers in
``sum_metric`` and ``num_inst`` as in MXNet; ``get()`` accepts either.

The package: ``base.py`` (EvalMetric, the registry behind ``create``, the helpers metrics
share), ``classification.py``, ``regression.py``, ``composite.py`` and ``custom.py``; a new
metric goes into the file of its kind and is registered with ``@register``.
"""
from .base import EvalMetric, alias, check_label_shapes, create, register
from .classification import (F1, MCC, Accuracy, CrossEntropy, NegativeLogLikelihood,
                             Perplexity, TopKAccuracy)
from .composite import CompositeEvalMetric
from .custom import CustomMetric, np
from .regression import MAE, MSE, RMSE, Loss, PearsonCorrelation

__all__ = ["EvalMetric", "register", "alias", "create", "check_label_shapes",
           "CompositeEvalMetric", "Accuracy", "TopKAccuracy", "F1", "MCC", "Perplexity", "MAE",
           "MSE", "RMSE", "CrossEntropy", "NegativeLogLikelihood", "PearsonCorrelation", "Loss",
           "CustomMetric", "np"]
