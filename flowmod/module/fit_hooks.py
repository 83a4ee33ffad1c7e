"""What ``fit`` and ``score`` call at their callback points besides the caller's callbacks:
the reporter of the telemetry that follows them (``flowmod.telemetry.following``) and the
profiler's batch spans. Neither makes the loop wait for anything."""
from __future__ import annotations

from ..profiler.session import SESSION, batch_span, now_ns
from ..telemetry import following


class Hooks:
    """The hooks of one fit or score call (``kind``)."""

    def __init__(self, kind: str, reporter):
        self.kind = kind
        self.reporter = reporter
        self._last = now_ns()

    def batch_end(self, param) -> None:
        """After a batch is pushed (and the caller's batch-end callbacks ran)."""
        if self.reporter is not None and self.kind == "fit":
            self.reporter.batch_end_callback(param)
        if SESSION.api:
            end = now_ns()
            batch_span(self.kind, param.nbatch, self._last, end, param.epoch)
            self._last = end

    def epoch_end(self, epoch, symbol, arg_params, aux_params) -> None:
        if self.reporter is not None:
            self.reporter.epoch_end_callback(epoch, symbol, arg_params, aux_params)
        self._last = now_ns()

    def eval_end(self, param) -> None:
        if self.reporter is not None:
            self.reporter.eval_end_callback(param)
        self._last = now_ns()


def open_hooks(module, kind: str, telemetry, callbacks) -> Hooks | None:
    """The hooks of a `kind` call ('fit' or 'score') of `module`, or None when there is
    nothing to call. Raises MXNetError for a bad `telemetry`, before anything is pushed."""
    reporter = following.reporter_for(module, telemetry, callbacks, kind)
    if reporter is None and not SESSION.api:
        return None
    return Hooks(kind, reporter)


def nested_telemetry(hooks: Hooks | None):
    """What fit hands the score of its evaluation: its own reporter, or nothing."""
    return False if hooks is None or hooks.reporter is None else hooks.reporter
