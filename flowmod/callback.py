"""Callbacks for training (``mxnet.callback``).

Batch-end callbacks receive a :data:`~flowmod.model.BatchEndParam` (``epoch``, ``nbatch``,
``eval_metric``, ``locals``); epoch-end callbacks such as :func:`do_checkpoint` receive
``(epoch, symbol, arg_params, aux_params)``. Those that report a metric read its value with
``get_name_value()``, which waits for the metric's accumulators: they do so only every
``frequent`` / ``period`` batches.
"""
from __future__ import annotations

import logging
import math
import numbers
import time

from .model import BatchEndParam

# A named logger: records propagate to the handlers the application configures, and
# flowmod never installs one on the root logger (as logging.info would).
_log = logging.getLogger(__name__)

__all__ = ["BatchEndParam", "do_checkpoint", "log_train_metric", "Speedometer", "ProgressBar",
           "LogValidationMetricsCallback"]


def _positive_int(value, who: str, arg: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{who}: {arg}={value!r}: expected a positive integer")
    return int(value)


def do_checkpoint(prefix, period=1):
    """do_checkpoint(prefix, period=1)

    An epoch-end callback that saves a checkpoint (``flowmod.model.save_checkpoint``) after
    every ``period`` epochs: after epoch ``i`` (counted from 0) it writes
    ``prefix-symbol.json`` and ``prefix-%04d.params`` % (i + 1) when ``(i + 1) % period == 0``.
    """
    period = int(max(1, period))

    def _callback(iter_no, sym, arg, aux):
        if (iter_no + 1) % period == 0:
            from .model import save_checkpoint
            save_checkpoint(prefix, iter_no + 1, sym, arg, aux)
    return _callback


def log_train_metric(period, auto_reset=False):
    """log_train_metric(period, auto_reset=False)

    A batch-end callback that logs the training metric every ``period`` batches
    (``Iter[epoch] Batch[n] Train-name=value``), clearing its local accumulation afterwards
    when ``auto_reset``.
    """
    period = _positive_int(period, "log_train_metric", "period")

    def _callback(param):
        if param.nbatch % period == 0 and param.eval_metric is not None:
            name_value = param.eval_metric.get_name_value()
            for name, value in name_value:
                _log.info("Iter[%d] Batch[%d] Train-%s=%f", param.epoch, param.nbatch, name,
                          value)
            if auto_reset:
                param.eval_metric.reset_local()
    return _callback


class Speedometer:
    """Speedometer(batch_size, frequent=50, auto_reset=True)

    A batch-end callback logging the training speed and metric every ``frequent`` batches::

        Epoch[0] Batch [50-100]\tSpeed: 1234.56 samples/sec\taccuracy=0.912500

    With ``auto_reset`` the metric's local accumulation is cleared after each line, so each
    line reports the batches since the previous one; otherwise the line reports from the
    start of the epoch (``Batch [0-100]``). The first call of an epoch starts the clock.
    """

    def __init__(self, batch_size, frequent=50, auto_reset=True):
        self.batch_size = batch_size
        self.frequent = _positive_int(frequent, "Speedometer", "frequent")
        self.init = False
        self.tic = 0
        self.last_count = 0
        self.auto_reset = auto_reset

    def __call__(self, param):
        count = param.nbatch
        if self.last_count > count:
            self.init = False
        self.last_count = count

        if self.init:
            if count % self.frequent == 0:
                try:
                    speed = self.frequent * self.batch_size / (time.time() - self.tic)
                except ZeroDivisionError:
                    speed = float("inf")
                if param.eval_metric is not None:
                    name_value = param.eval_metric.get_name_value()
                    flat = [x for pair in name_value for x in pair]
                    if self.auto_reset:
                        param.eval_metric.reset_local()
                        msg = "Epoch[%d] Batch [%d-%d]\tSpeed: %.2f samples/sec"
                        msg += "\t%s=%f" * len(name_value)
                        _log.info(msg, param.epoch, count - self.frequent, count, speed,
                                  *flat)
                    else:
                        msg = "Epoch[%d] Batch [0-%d]\tSpeed: %.2f samples/sec"
                        msg += "\t%s=%f" * len(name_value)
                        _log.info(msg, param.epoch, count, speed, *flat)
                else:
                    _log.info("Iter[%d] Batch [%d]\tSpeed: %.2f samples/sec", param.epoch,
                              count, speed)
                self.tic = time.time()
        else:
            self.init = True
            self.tic = time.time()


class ProgressBar:
    """ProgressBar(total, length=80)

    A batch-end callback logging a text progress bar of ``length`` characters for an epoch
    of ``total`` batches: ``[=====-----] 50%``.
    """

    def __init__(self, total, length=80):
        self.bar_len = _positive_int(length, "ProgressBar", "length")
        self.total = _positive_int(total, "ProgressBar", "total")

    def __call__(self, param):
        count = param.nbatch
        filled_len = int(round(self.bar_len * count / float(self.total)))
        percents = math.ceil(100.0 * count / float(self.total))
        prog_bar = "=" * filled_len + "-" * (self.bar_len - filled_len)
        _log.info("[%s] %s%s\r", prog_bar, percents, "%")


class LogValidationMetricsCallback:
    """LogValidationMetricsCallback()

    A callback for the end of an evaluation that logs each validation metric
    (``Epoch[epoch] Validation-name=value``).
    """

    def __call__(self, param):
        if not param.eval_metric:
            return
        name_value = param.eval_metric.get_name_value()
        for name, value in name_value:
            _log.info("Epoch[%d] Validation-%s=%f", param.epoch, name, value)
