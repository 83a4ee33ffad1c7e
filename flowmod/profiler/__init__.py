"""MXNet 1.9's profiler (``mx.profiler``): a timeline of every lane, and aggregate statistics.

::

    mx.profiler.set_config(profile_all=True, aggregate_stats=True, filename="profile.json")
    mx.profiler.set_state("run")
    mod.fit(train_iter, num_epoch=1)
    mx.profiler.set_state("stop")
    mx.profiler.dump()             # profile.json: open in chrome://tracing or ui.perfetto.dev
    print(mx.profiler.dumps())     # MXNet's table: count, total, min, max, avg per operator

The engine records each operation it runs (start, end, lane, the vars it read and wrote) in
buffers of the worker thread that ran it, without a lock; stopped, recording costs one
relaxed load per operation. ``profile_symbolic`` covers the operator nodes of bound
executors (named as the node: ``fc1_forward``, ``fc1_backward``), ``profile_imperative``
every other operation (``sgd_mom_update``, NDArray calls), ``profile_api`` the Module calls
(``forward``, ``backward``, ``update``, ``update_metric``, ``fit batch``) on the calling
thread's track, ``profile_memory`` host storage samples (a counter track) taken at each of
those calls, and ``profile_all`` all four. The trace's layout is described in
``flowmod/profiler/trace.py``.
"""
from __future__ import annotations

import warnings

from ..base import MXNetError
from . import aggregate as _aggregate
from .annotations import Counter, Domain, Event, Frame, Marker, Task, scope
from .session import SESSION as _SESSION
from .trace import build_trace as _build_trace
from .trace import write_trace as _write_trace

__all__ = ["set_config", "set_state", "pause", "resume", "dump", "dumps", "dump_profile",
           "profiler_set_config", "profiler_set_state", "Domain", "Task", "Frame", "Event",
           "Counter", "Marker", "scope"]


def _check_process(what: str, profile_process) -> None:
    if profile_process != "worker":
        raise MXNetError(f"profiler.{what}: profile_process={profile_process!r}: only "
                         f"'worker' can be profiled (flowmod has no kvstore server process)")


def set_config(**kwargs) -> None:
    """set_config(profile_all=False, profile_symbolic=True, profile_imperative=True,
    profile_memory=False, profile_api=False, filename='profile.json', continuous_dump=False,
    dump_period=1.0, aggregate_stats=False, profile_process='worker')

    Configures the profiler (keyword arguments only; while it is stopped). ``filename`` is
    where ``dump`` writes the trace; ``aggregate_stats`` keeps the statistics ``dumps``
    prints; ``continuous_dump`` rewrites the file every ``dump_period`` seconds while it
    runs."""
    if "profile_process" in kwargs:
        _check_process("set_config", kwargs["profile_process"])
    _SESSION.set_config(kwargs)


def set_state(state="stop", profile_process="worker") -> None:
    """set_state(state='stop', profile_process='worker')

    'run' starts recording, 'stop' stops it (what was recorded is kept for ``dump`` and
    ``dumps``)."""
    _check_process("set_state", profile_process)
    if state == "run":
        _SESSION.run()
    elif state == "stop":
        _SESSION.stop()
    else:
        raise MXNetError(f"profiler.set_state: state={state!r}: expected 'run' or 'stop'")


def pause(profile_process="worker") -> None:
    """pause(profile_process='worker'): stops recording until ``resume`` (the profiler stays
    in the 'run' state)."""
    _check_process("pause", profile_process)
    _SESSION.pause(True)


def resume(profile_process="worker") -> None:
    """resume(profile_process='worker'): records again after ``pause``."""
    _check_process("resume", profile_process)
    _SESSION.pause(False)


def dump(finished=True, profile_process="worker") -> None:
    """dump(finished=True, profile_process='worker')

    Writes the trace of everything recorded so far to the configured ``filename``. With
    ``finished`` (the default) the profiler also stops and forgets what it recorded, so a
    later run starts a new trace; without, it keeps recording and a later dump rewrites the
    file with more."""
    _check_process("dump", profile_process)
    if not isinstance(finished, bool):
        raise MXNetError(f"profiler.dump: finished={finished!r}: expected True or False")
    _SESSION.collect()
    _write_trace(_SESSION, _SESSION.config["filename"])
    if finished:
        _SESSION.stop()
        _SESSION.clear()


def dump_profile() -> None:
    """dump_profile(): ``dump(True)`` (deprecated name)."""
    warnings.warn("profiler.dump_profile() is deprecated. Please use profiler.dump() instead",
                  DeprecationWarning, stacklevel=2)
    dump(True)


def dumps(reset=False, format="table", sort_by="total", ascending=False) -> str:
    """dumps(reset=False, format='table', sort_by='total', ascending=False) -> str

    MXNet's aggregate statistics (kept while ``aggregate_stats`` is set): per category
    (``operator``, ``flowmod_api``, each annotation domain, ``Device Storage``) and name, the
    count and the total, min, max and average time in ms, sorted by ``sort_by`` ('total',
    'avg', 'min', 'max' or 'count'); ``format='json'`` gives the same as JSON. ``reset``
    clears the statistics after reading them."""
    if format not in ("table", "json"):
        raise MXNetError(f"profiler.dumps: format={format!r}: expected 'table' or 'json'")
    if sort_by not in _aggregate.SORT_KEYS:
        raise MXNetError(f"profiler.dumps: sort_by={sort_by!r}: expected one of "
                         f"{', '.join(_aggregate.SORT_KEYS)}")
    for name, value in (("reset", reset), ("ascending", ascending)):
        if not isinstance(value, bool):
            raise MXNetError(f"profiler.dumps: {name}={value!r}: expected True or False")
    _SESSION.collect()
    _SESSION.fold_events()
    with _SESSION.lock:
        stats = {k: {n: list(v) for n, v in t.items()} for k, t in _SESSION.aggregate.items()}
    if reset:
        _SESSION.reset_aggregate()
    render = _aggregate.table if format == "table" else _aggregate.as_json
    return render(stats, sort_by, ascending)


def profiler_set_config(mode="symbolic", filename="profile.json") -> None:
    """profiler_set_config(mode='symbolic', filename='profile.json') (deprecated):
    ``set_config(profile_<mode>=True, filename=filename)``."""
    warnings.warn("profiler.profiler_set_config() is deprecated. Please use "
                  "profiler.set_config() instead", DeprecationWarning, stacklevel=2)
    if mode not in ("symbolic", "all"):
        raise MXNetError(f"profiler.profiler_set_config: mode={mode!r}: expected 'symbolic' "
                         f"or 'all'")
    set_config(**{f"profile_{mode}": True, "filename": filename})


def profiler_set_state(state="stop") -> None:
    """profiler_set_state(state='stop') (deprecated): ``set_state(state)``."""
    warnings.warn("profiler.profiler_set_state() is deprecated. Please use "
                  "profiler.set_state() instead", DeprecationWarning, stacklevel=2)
    set_state(state)


def trace() -> dict:
    """trace() -> dict: the trace ``dump`` would write, as a dict (a flowmod addition, for
    tools that read it in-process)."""
    _SESSION.collect()
    return _build_trace(_SESSION)
