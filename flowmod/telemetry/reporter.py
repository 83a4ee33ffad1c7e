"""A Module callback that reports training progress to Prometheus.

Module calls are asynchronous: when ``fit`` calls a batch-end callback, the batch has been
pushed to the engine, not computed. So the reporter times batches by their completion: it
keeps the future of the batch's update (which ``fit`` keeps in its loop), which notes when
it resolved. Called without that future, it pushes one tiny operation that reads one
element of every parameter (so it runs after the batch's update of each of them) and keeps
the future of its output. Finished batches are folded into
the Prometheus families when the registry is collected (a scrape), so no thread waits and
nothing is done per batch beyond noting it. The training thread never waits for a
batch; it reads metric values (which waits for the engine) only where ``fit`` has already
waited, at the end of an epoch and of an evaluation, and otherwise at most once every
``metric_interval`` seconds.
"""
from __future__ import annotations

import numbers
import os
import threading
import time
from collections import deque

from .. import _native
from ..base import MXNetError
from ..future import _DONE, Future, _resolved, when_ready
from ..ndarray import NDArray
from .exposition import enable

__all__ = ["PrometheusReporter"]


class _Process:
    """Counts the forks this process descends from: a reporter's batches belong to the
    process that noted them (a forked child's engine never finishes its parent's work)."""
    generation = 0


def _after_fork_in_child() -> None:
    _Process.generation += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _Tally:
    """The batches a reporter has noted and not yet folded into its families, in order.

    A future resolves on the engine's callback thread once that holds the GIL, which a busy
    training thread may delay by up to the interpreter's switch interval; batches resolved
    within ``BURST`` seconds of each other, each queued behind the one before, were released
    together, and share the time since the first of them could start equally. Short
    batches are thus reported as the average of those delivered together, not as a few long
    ones and many instantaneous ones.
    """

    BURST = 1e-3
    # A backlog this long is folded as the next batch is noted: the batches (and the futures
    # they hold) then never pile up between scrapes, where thousands of live objects would
    # grow the heap enough to set off full garbage collections in the training thread.
    MAX_BACKLOG = 64

    def __init__(self, metrics, module_name: str):
        self._samples = metrics.samples.labels(module=module_name)
        self._batches = metrics.batches.labels(module=module_name)
        self._durations = metrics.batch_duration
        self._module = module_name
        self._pending: deque[tuple[Future, float | None, int]] = deque()  # (future, start, samples)
        self._fold_lock = threading.Lock()
        self._previous_end: float | None = None

    def note(self, future: Future, start: float | None, samples: int) -> None:
        """Notes a batch: when it could start (None: not timed), its sample count and the
        (armed) future it finishes with. Nothing runs when that resolves: fold() reads it."""
        pending = self._pending
        if len(pending) >= self.MAX_BACKLOG:
            self.fold()
        pending.append((future, start, samples))

    def fold(self) -> None:
        """Records the leading run of finished batches in the families."""
        with self._fold_lock:
            pending = self._pending
            burst = self.BURST
            samples = batches = 0
            durations: list[float] = []
            previous = self._previous_end
            began, group = 0.0, 0  # the burst being gathered: when it began, its batches
            while pending:
                future, start, n = pending[0]
                if future._state is not _DONE:  # (armed when noted)
                    break
                pending.popleft()
                end = future._resolved_at
                if future._error is None:
                    samples += n
                    batches += 1
                    if start is not None:
                        if group and start <= previous and end - previous < burst:
                            group += 1
                        else:
                            if group:
                                durations.extend([max(0.0, previous - began) / group] * group)
                            began = start if previous is None or start > previous else previous
                            group = 1
                        previous = end
                        continue
                # Failed or untimed: it ends the burst; the next batch starts after it.
                if group:
                    durations.extend([max(0.0, previous - began) / group] * group)
                    group = 0
                previous = end
            if group:
                durations.extend([max(0.0, previous - began) / group] * group)
            self._previous_end = previous
            if batches:
                self._samples.inc(samples)
                self._batches.inc(batches)
            if durations:
                self._durations.observe(self._module, durations)

    def flush(self, timeout: float | None) -> bool:
        """Waits until every batch noted so far has finished, then folds them."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for future, _, _ in list(self._pending):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                future.exception(left)
            except TimeoutError:
                return False
        self.fold()
        return True


class PrometheusReporter:
    """PrometheusReporter(name='module', batch_size=None, metric_interval=10.0, registry=None,
    module=None)

    Reports a Module's training to Prometheus, as a callback of ``fit``::

        reporter = flowmod.telemetry.PrometheusReporter("mnist")
        flowmod.telemetry.start_http_server(8000)
        mod.fit(train_iter, eval_data=val_iter, num_epoch=10, **reporter.callbacks())

    ``reporter.callbacks()`` gives ``batch_end_callback``, ``epoch_end_callback`` and
    ``eval_end_callback``; the reporter itself is a batch-end callback, so it can also be
    put in a list with others (``batch_end_callback=[speedometer, reporter]``). Families
    (``flowmod.telemetry.TrainingMetrics``) are labelled ``module=name``.

    Parameters
    ----------
    name : str
        The ``module`` label. Use one name per model, never a per-run value.
    batch_size : int, optional
        Samples per batch, used only when the batch-end parameter does not carry the batch
        (``param.locals['data_batch']``, as ``fit`` passes it); padding is not counted.
    metric_interval : float or None
        Seconds between readings of the training metric within an epoch (each reading
        waits for the engine to catch up); None reads it only at the end of each epoch.
    registry : prometheus_client.CollectorRegistry, optional
        Where the families live (default: the default registry), along with the engine's.
    module : BaseModule, optional
        The module trained; by default the one calling the callback
        (``param.locals['self']``).
    """

    def __init__(self, name: str = "module", batch_size: int | None = None,
                 metric_interval: float | None = 10.0, registry=None, module=None):
        if not isinstance(name, str) or not name:
            raise ValueError(f"PrometheusReporter: name={name!r}: expected a non-empty string")
        if batch_size is not None and (isinstance(batch_size, bool) or
                                       not isinstance(batch_size, numbers.Integral) or
                                       batch_size < 1):
            raise ValueError(f"PrometheusReporter: batch_size={batch_size!r}: expected a "
                             f"positive integer or None")
        if metric_interval is not None and (isinstance(metric_interval, bool) or
                                            not isinstance(metric_interval, numbers.Real) or
                                            not metric_interval > 0):
            raise ValueError(f"PrometheusReporter: metric_interval={metric_interval!r}: "
                             f"expected a positive number of seconds or None")
        self.name = name
        self.batch_size = None if batch_size is None else int(batch_size)
        self.metric_interval = None if metric_interval is None else float(metric_interval)
        self.module = module
        self._metrics = enable(registry)
        self._epoch_gauge = self._metrics.epoch.labels(module=name)
        self._tally: _Tally | None = None
        self._generation = -1  # the process generation _tally belongs to
        self._last_epoch = None
        self._last_end: float | None = None
        self._next_metric_read: float | None = None
        self._train_metric = None
        # The parameter arrays the markers were made for, and the markers' inputs.
        self._marked = None
        self._views: list = []
        self._handles: list = []
        self._mixed_dtypes = False
        self._concat = None

    # ---- callbacks ---------------------------------------------------------------------
    def __call__(self, param) -> None:
        """The batch-end callback (``BatchEndParam``)."""
        self.batch_end_callback(param)

    def batch_end_callback(self, param) -> None:
        """batch_end_callback(param): records the batch once its update has finished."""
        # This runs once per batch, so it does as little as it can: a small model's batch
        # takes a few hundred microseconds.
        local = param.locals
        if type(local) is not dict:
            local = {}
        samples = self._batch_samples(local.get("data_batch"))
        if param.epoch != self._last_epoch:
            self._last_epoch = param.epoch
            self._epoch_gauge.set(param.epoch)
        # The first batch of an epoch follows the epoch's evaluation and reset: it has no
        # start time to measure from, so it is counted but not timed.
        start = None if param.nbatch == 0 else self._last_end
        update = local.get("upd")
        if isinstance(update, Future):
            # fit's future of this batch's update. Looking at it arms it (fit already has):
            # it then covers this batch's writes, not later ones.
            update.done()
        else:
            update = self._marker(self.module if self.module is not None
                                  else local.get("self"))
        if self._generation != _Process.generation:
            # First use, or in a forked child, whose engine never finishes the parent's work.
            self._tally = _Tally(self._metrics, self.name)
            self._generation = _Process.generation
            self._metrics.folding.reporters.add(self)
        self._tally.note(update, start, samples)

        now = time.perf_counter()
        metric = param.eval_metric
        if metric is not None:
            self._train_metric = metric
            if local.get("end_of_batch") is True:
                # fit has just waited for the epoch's value: reading it costs nothing.
                self._report(self._metrics.train_value, metric)
                now = time.perf_counter()
            elif self.metric_interval is not None:
                if self._next_metric_read is None:
                    self._next_metric_read = now + self.metric_interval
                elif now >= self._next_metric_read:
                    self._report(self._metrics.train_value, metric)
                    now = time.perf_counter()
                    self._next_metric_read = now + self.metric_interval
        self._last_end = now

    def epoch_end_callback(self, epoch, symbol=None, arg_params=None, aux_params=None) -> None:
        """epoch_end_callback(epoch, symbol, arg_params, aux_params): reports the epoch's
        training metric (``fit`` has already waited for it)."""
        self._epoch_gauge.set(epoch)
        if self._train_metric is not None:
            self._report(self._metrics.train_value, self._train_metric)

    def eval_end_callback(self, param) -> None:
        """eval_end_callback(param): reports the validation metric of ``score``."""
        if param.eval_metric is not None:
            self._report(self._metrics.eval_value, param.eval_metric)

    def callbacks(self) -> dict:
        """callbacks() -> dict of ``fit``'s ``batch_end_callback``, ``epoch_end_callback``
        and ``eval_end_callback`` set to this reporter's."""
        return {"batch_end_callback": self.batch_end_callback,
                "epoch_end_callback": self.epoch_end_callback,
                "eval_end_callback": self.eval_end_callback}

    # ---- control -----------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        """flush(timeout=None) -> bool: waits until every batch reported so far has been
        recorded (its update finished, or failed); False if ``timeout`` seconds passed
        first. A scrape records the batches finished before it without this; it is needed
        only to read final values right after training."""
        if self._generation != _Process.generation:
            return True
        return self._tally.flush(timeout)

    def _fold(self) -> None:
        """Called when the registry is collected: records the batches finished so far."""
        if self._generation == _Process.generation:
            self._tally.fold()

    # ---- helpers -----------------------------------------------------------------------
    def _batch_samples(self, batch) -> int:
        data = getattr(batch, "data", None)
        if type(data) is list and data:  # one DataBatch, the usual case
            pad = getattr(batch, "pad", 0)
            return int(data[0].shape[0]) - (int(pad) if pad else 0)
        batches = batch if isinstance(batch, (list, tuple)) else [batch]
        total = 0
        for b in batches:
            data = getattr(b, "data", None)
            if not data:
                if self.batch_size is None:
                    raise MXNetError(
                        "PrometheusReporter: the batch-end parameter carries no data batch "
                        "(param.locals['data_batch']): pass batch_size=")
                return self.batch_size
            total += int(data[0].shape[0]) - int(getattr(b, "pad", 0) or 0)
        return total

    def _marker(self, module):
        """Pushes an operation that reads every parameter of ``module`` (so it finishes
        after this batch's updates) and returns the future of its output (one already
        resolved for a module without arrays)."""
        if module is None:
            raise MXNetError("PrometheusReporter: the batch-end parameter carries no module "
                             "(param.locals['self']): pass module=")
        group = getattr(module, "_exec_group", None)
        arrays = getattr(group, "param_arrays", None)
        if arrays is None:
            # A module without parameter arrays of its own: its outputs finish with the batch
            # (its forward and backward), which is what can be observed of it.
            arrays = module.get_outputs(merge_multi_context=False)
        if arrays is not self._marked:
            flat = [a for per_device in arrays
                    for a in (per_device if isinstance(per_device, (list, tuple))
                              else [per_device])]
            self._views = [a.reshape((-1,))[0:1] for a in flat if a.size > 0]
            self._handles = [v.handle for v in self._views]
            self._mixed_dtypes = len({v.dtype for v in self._views}) > 1
            self._concat = (_native.prepare("Concat", {"dim": "0",
                                                       "num_args": str(len(self._views))})
                            if len(self._views) > 1 else _native.prepare("_copy", {}))
            self._marked = arrays
        if not self._views:
            return _resolved()
        if self._mixed_dtypes:
            # One element of each, cast now (after this batch's updates were pushed).
            handle = self._concat.push(None, False,
                                       *[v.astype("float64").handle for v in self._views])
        else:
            # The operator pushed directly: this runs once per batch.
            handle = self._concat.push(None, False, *self._handles)
        return when_ready([NDArray._wrap(handle)])

    def _report(self, family, metric) -> None:
        for metric_name, value in metric.get_global_name_value():
            family.labels(module=self.name, metric=str(metric_name)).set(float(value))
