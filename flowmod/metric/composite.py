"""CompositeEvalMetric (``mxnet.metric.CompositeEvalMetric``): several metrics updated
together."""
from __future__ import annotations

from collections import OrderedDict

from ..base import numeric_types, string_types
from .base import EvalMetric, alias, create, register


@register
@alias("composite")
class CompositeEvalMetric(EvalMetric):
    """CompositeEvalMetric(metrics=None, name='composite', output_names=None,
    label_names=None)

    Several metrics updated together; ``get()`` gives the lists of their names and values.
    """

    def __init__(self, metrics=None, name="composite", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        if metrics is None:
            metrics = []
        self.metrics = [create(i) for i in metrics]

    def add(self, metric) -> None:
        """add(metric): adds a child metric (anything ``create`` accepts)."""
        self.metrics.append(create(metric))

    def get_metric(self, index):
        """get_metric(index): the child metric at ``index``."""
        try:
            return self.metrics[index]
        except IndexError:
            raise ValueError(f"Metric index {index} is out of range 0 and "
                             f"{len(self.metrics)}") from None

    def update_dict(self, labels, preds) -> None:
        if self.label_names is not None:
            labels = OrderedDict([i for i in labels.items() if i[0] in self.label_names])
        if self.output_names is not None:
            preds = OrderedDict([i for i in preds.items() if i[0] in self.output_names])
        for metric in self.metrics:
            metric.update_dict(labels, preds)

    def update(self, labels, preds) -> None:
        for metric in self.metrics:
            metric.update(labels, preds)

    def reset(self) -> None:
        try:
            for metric in self.metrics:
                metric.reset()
        except AttributeError:
            pass  # called by EvalMetric.__init__ before self.metrics exists

    def reset_local(self) -> None:
        try:
            for metric in self.metrics:
                metric.reset_local()
        except AttributeError:
            pass

    def _collect(self, getter):
        names, values = [], []
        for metric in self.metrics:
            name, value = getter(metric)
            if isinstance(name, string_types):
                name = [name]
            if isinstance(value, numeric_types):
                value = [value]
            names.extend(name)
            values.extend(value)
        return (names, values)

    def get(self):
        return self._collect(lambda m: m.get())

    def get_global(self):
        return self._collect(lambda m: m.get_global())

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"metrics": [i.get_config() for i in self.metrics]})
        return config
