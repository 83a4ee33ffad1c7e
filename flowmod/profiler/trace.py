"""The Chrome trace event JSON of a profiling session (chrome://tracing, Perfetto).

Tracks: process 0 is the host ("python": API calls, annotations, one track per Python
thread); every device is a process of its own ("cpu(0)") with one track per lane and engine
worker thread ("compute lane, worker 3"). Each operation is a complete ("X") event named as
its operator node (``fc1_forward``), or as its operator for imperative calls
(``sgd_mom_update``), with args: the operator, the node's shapes, and the vars it read and
wrote as ``"var12@3"`` (version 3 of var 12: a read names the version it read, a write the
version it made). Flow events ("s" to "f") go from each write to every operation that waited
on it: a read of the version it made, and the next write of that var. An operation that
finished through its completion callback (an operator written in Python) is an async
("b"/"e") event on its lane's "asynchronous" track, since it may overlap its worker's next
operations. Storage samples are counter ("C") events.
"""
from __future__ import annotations

import json
import os

from ..fileio import write_atomic

HOST_PID = 0
_LANES = ("compute", "copy", "python")


def _us(ns: int, origin: int) -> float:
    return (ns - origin) / 1e3


class _Tracks:
    """Numbers the processes (devices) and threads (lane and worker) of the trace."""

    def __init__(self):
        self.pids: dict = {}   # (device type, index) -> pid
        self.tids: dict = {}   # (pid, tid) -> name
        self.sort: dict = {}   # (pid, tid) -> sort index

    def device(self, device) -> int:
        pid = self.pids.get(device)
        if pid is None:
            pid = self.pids[device] = len(self.pids) + 1
        return pid

    def lane(self, slot_info, thread: int, asynchronous: bool = False) -> tuple[int, int]:
        dev_type, dev_index, lane = slot_info
        pid = self.device((dev_type, dev_index))
        lane_index = _LANES.index(lane) if lane in _LANES else len(_LANES)
        if asynchronous:
            tid = 1_000_000 + lane_index
            name = f"{lane} lane, asynchronous"
        else:
            tid = thread * 8 + lane_index
            name = f"{lane} lane, worker {thread}"
        self.tids[(pid, tid)] = name
        self.sort[(pid, tid)] = lane_index * 1_000_000 + (tid if not asynchronous else 999_999)
        return pid, tid

    def metadata(self, host_threads: dict) -> list:
        events = [{"name": "process_name", "ph": "M", "pid": HOST_PID, "tid": 0,
                   "args": {"name": "python"}},
                  {"name": "process_sort_index", "ph": "M", "pid": HOST_PID, "tid": 0,
                   "args": {"sort_index": 0}}]
        for (dev_type, dev_index), pid in self.pids.items():
            events.append({"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
                           "args": {"name": f"{dev_type}({dev_index})"}})
            events.append({"name": "process_sort_index", "ph": "M", "pid": pid, "tid": 0,
                           "args": {"sort_index": pid}})
        for (pid, tid), name in self.tids.items():
            events.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                           "args": {"name": name}})
            events.append({"name": "thread_sort_index", "ph": "M", "pid": pid, "tid": tid,
                           "args": {"sort_index": self.sort[(pid, tid)]}})
        for tid, name in host_threads.items():
            events.append({"name": "thread_name", "ph": "M", "pid": HOST_PID, "tid": tid,
                           "args": {"name": name}})
        return events


def _engine_events(session, tracks: _Tracks, origin: int, operations: list) -> list:
    """The operations' events; fills `operations` with (event, deps) for the flows."""
    symbolic, imperative = session.wants("symbolic"), session.wants("imperative")
    events = []
    flow_id = 0
    for thread, ops in session.engine_threads:
        for name, slot, start, end, failed, asynchronous, deps in ops:
            label, kind, detail = session.names.get(name, ("", "unnamed", ""))
            # A node's step (labelled) is symbolic; everything else was called imperatively.
            if not (symbolic if label else imperative):
                continue
            slot_info = session.slots.get(slot, ("cpu", 0, "compute"))
            pid, tid = tracks.lane(slot_info, thread, asynchronous)
            args = {"operator": kind,
                    "reads": [f"var{v}@{ver}" for v, ver, w in deps if not w],
                    "writes": [f"var{v}@{ver + 1}" for v, ver, w in deps if w]}
            if detail:
                args["shapes"] = detail
            if failed:
                args["failed"] = True
            # An operation already running when the profiler started shows from then on.
            start = max(start, origin)
            ts, dur = _us(start, origin), max(end - start, 0) / 1e3
            common = {"name": label or kind, "cat": "operator", "pid": pid, "tid": tid}
            if asynchronous:
                flow_id += 1
                event = dict(common, ph="b", ts=ts, id=f"0x{flow_id:x}", args=args)
                events.append(event)
                events.append(dict(common, ph="e", ts=ts + dur, id=f"0x{flow_id:x}"))
            else:
                event = dict(common, ph="X", ts=ts, dur=dur, args=args)
                events.append(event)
            operations.append((event, dur, deps))
    return events


def _flow_events(operations: list) -> list:
    """Flows from each write to the operations that waited on it."""
    made = {}  # (var, version) -> (event, dur) of the write that made it
    for event, dur, deps in operations:
        for var, version, write in deps:
            if write:
                made[(var, version + 1)] = (event, dur)
    flows = []
    for event, _dur, deps in operations:
        for var, version, _write in deps:
            # A read waited for the write of the version it read; a write for the write of
            # the version it replaced.
            source = made.get((var, version))
            if source is None:
                continue
            src, src_dur = source
            fid = len(flows) // 2 + 1
            name = f"var{var}@{version}"
            flows.append({"name": name, "cat": "dependency", "ph": "s", "id": fid,
                          "pid": src["pid"], "tid": src["tid"],
                          "ts": src["ts"] + max(src_dur - 1e-3, 0.0)})
            flows.append({"name": name, "cat": "dependency", "ph": "f", "bp": "e", "id": fid,
                          "pid": event["pid"], "tid": event["tid"], "ts": event["ts"]})
    return flows


def _host_events(session, tracks: _Tracks, origin: int, host_threads: dict) -> list:
    import threading
    names = {t.ident: ("main thread" if t is threading.main_thread() else t.name)
             for t in threading.enumerate()}
    events = []
    for e in session.events:
        out = {k: v for k, v in e.items() if not k.startswith("_")}
        out["ts"] = _us(e["ts"], origin)
        if "dur" in e:
            out["dur"] = e["dur"] / 1e3
        device = out.pop("device", None)
        if device is not None:  # a counter of a device's storage
            out["pid"] = tracks.device(device)
            out["tid"] = 0
        else:
            out["pid"] = HOST_PID
            host_threads.setdefault(out["tid"], names.get(out["tid"], f"thread {out['tid']}"))
        events.append(out)
    return events


def build_trace(session) -> dict:
    """The session's trace, as the dict that json.dump writes."""
    with session.lock:
        origin = session.origin_ns or 0
        tracks = _Tracks()
        operations: list = []
        host_threads: dict = {}
        events = _engine_events(session, tracks, origin, operations)
        events += _flow_events(operations)
        events += _host_events(session, tracks, origin, host_threads)
    events = tracks.metadata(host_threads) + sorted(events, key=lambda e: e["ts"])
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"producer": "flowmod.profiler", "pid": os.getpid()}}


def write_trace(session, filename: str) -> None:
    trace = build_trace(session)
    write_atomic(filename, lambda f: json.dump(trace, f, separators=(",", ":")), binary=False)
