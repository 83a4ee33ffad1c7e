"""Monitor (``mxnet.monitor.Monitor``): statistics of every operator's outputs (and of the
arguments) every ``interval`` batches, for debugging training."""
from __future__ import annotations

import logging
import math
import re

from .ndarray import NDArray

# A named logger: records propagate to the handlers the application configures, and
# flowmod never installs one on the root logger (as logging.info would).
_log = logging.getLogger(__name__)

__all__ = ["Monitor"]


def _asum_stat(x: NDArray) -> NDArray:
    """The default statistic: norm(x) / sqrt(x.size)."""
    return x.norm() / math.sqrt(max(x.size, 1))


class Monitor:
    """Collects ``stat_func(array)`` for the outputs (with ``monitor_all``, also the inputs)
    of every operator whose name matches ``pattern``, on batches where ``tic`` activates it
    (every ``interval``-th), and for the executor's arguments at ``toc``.

    Parameters
    ----------
    interval : int
    stat_func : callable(NDArray) -> NDArray, optional
    pattern : str
        A regular expression matched against names such as ``fc1_output``.
    sort : bool
        Sort the results by name.
    monitor_all : bool
        Also report operators' inputs.
    """

    def __init__(self, interval, stat_func=None, pattern=".*", sort=False, monitor_all=False):
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f"Monitor: interval={interval!r}: expected an int >= 1")
        self.interval = interval
        self.stat_func = stat_func or _asum_stat
        self.activated = False
        self.queue = []
        self.step = 0
        self.exes = []
        self.re_prog = re.compile(pattern)
        self.sort = sort
        self.monitor_all = monitor_all

    def stat_helper(self, name, array) -> None:
        """The executor's monitor callback."""
        if not self.activated or not self.re_prog.match(name):
            return
        self.queue.append((self.step, name, self.stat_func(array)))

    def install(self, exe) -> None:
        """Attaches to an executor."""
        exe.set_monitor_callback(self.stat_helper, self.monitor_all)
        self.exes.append(exe)

    def tic(self) -> None:
        """Starts collecting for this batch if it is an ``interval``-th one."""
        if self.step % self.interval == 0:
            self.activated = True
            self.queue = []
        self.step += 1

    def toc(self) -> list:
        """Ends collecting; returns ``(step, name, text)`` for every statistic (this waits
        for them)."""
        if not self.activated:
            return []
        for exe in self.exes:
            for name, array in zip(exe._symbol.list_arguments(), exe.arg_arrays):
                if self.re_prog.match(name):
                    self.queue.append((self.step, name, self.stat_func(array)))
        self.activated = False
        res = []
        if self.sort:
            self.queue.sort(key=lambda x: x[1])
        for n, k, v_list in self.queue:
            if isinstance(v_list, NDArray):
                v_list = [v_list]
            s = ""
            for v in v_list:
                s += (str(v.asscalar()) if v.shape == (1,) else str(v.asnumpy())) + "\t"
            res.append((n, k, s))
        self.queue = []
        return res

    def toc_print(self) -> None:
        """Ends collecting and logs the statistics."""
        for n, k, v in self.toc():
            _log.info("Batch: %7d %30s %s", n, k, v)
