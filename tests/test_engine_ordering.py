"""Ordering rules of flowmod.engine.push.

Claims that an operation was held back are checked twice: at push time through the
``waiting`` gauge (an operation whose dependencies are unmet is counted there, whatever the
timing), and afterwards on an event log written inside the operations. Claims that two
operations ran together are proved by a rendezvous that only completes if both are running
at once; its timeout turns a failure into a failed test rather than a hang. No assertion
depends on elapsed time.
"""
from __future__ import annotations

import itertools
import json
import threading

import pytest

import flowmod as mx
from conftest import HANG_GUARD, bounded

E = mx.engine


class Log:
    """An append-only event log with a global order."""

    def __init__(self):
        self._lock = threading.Lock()
        self.events: list[str] = []

    def __call__(self, event: str) -> None:
        with self._lock:
            self.events.append(event)

    def index(self, event: str) -> int:
        return self.events.index(event)


def waiting(ctx, lane="compute") -> int:
    return E.stats().lane(ctx, lane).waiting


def wait_for(event: threading.Event, what: str) -> None:
    assert event.wait(HANG_GUARD), f"{what} never happened"


def gated(log: Log, name: str, gate: threading.Event, started: threading.Event | None = None):
    """An operation that logs its start, holds its worker until ``gate`` opens, logs its end."""

    def op():
        log(f"{name}:start")
        if started is not None:
            started.set()
        if not gate.wait(HANG_GUARD):
            raise TimeoutError(f"{name}: gate never opened")
        log(f"{name}:end")

    return op


# --- read-after-write, write-after-read, write-after-write -----------------------------------


def test_read_waits_for_earlier_write():
    ctx = mx.cpu(2)
    v = E.Var()
    value = {"v": 0}
    log, gate, started = Log(), threading.Event(), threading.Event()
    seen = []

    def write():
        gated(log, "w", gate, started)()
        value["v"] = 42

    E.push(write, writes=[v], ctx=ctx)
    wait_for(started, "the write starting")
    try:
        E.push(lambda: (log("r:start"), seen.append(value["v"])), reads=[v], ctx=ctx)
        assert waiting(ctx) == 1
    finally:
        gate.set()
    bounded(E.wait_all)
    assert seen == [42]
    assert log.index("w:end") < log.index("r:start")


def test_write_waits_for_earlier_reads():
    ctx = mx.cpu(2)
    v = E.Var()
    value = {"v": 1}
    log, gate = Log(), threading.Event()
    started = [threading.Event(), threading.Event()]
    seen = []

    def read(i):
        def op():
            gated(log, f"r{i}", gate, started[i])()
            seen.append(value["v"])
        return op

    E.push(read(0), reads=[v], ctx=ctx)
    E.push(read(1), reads=[v], ctx=ctx)
    for ev in started:
        wait_for(ev, "both reads starting")
    try:
        E.push(lambda: (log("w:start"), value.update(v=2)), writes=[v], ctx=ctx)
        assert waiting(ctx) == 1
    finally:
        gate.set()
    bounded(E.wait, v)
    assert value["v"] == 2
    assert seen == [1, 1]
    assert log.index("r0:end") < log.index("w:start")
    assert log.index("r1:end") < log.index("w:start")


def test_write_waits_for_earlier_write():
    ctx = mx.cpu(2)
    v = E.Var()
    history = []
    log, gate, started = Log(), threading.Event(), threading.Event()

    def first():
        gated(log, "w1", gate, started)()
        history.append(1)

    E.push(first, writes=[v], ctx=ctx)
    wait_for(started, "the first write starting")
    try:
        E.push(lambda: (log("w2:start"), history.append(2)), writes=[v], ctx=ctx)
        assert waiting(ctx) == 1
    finally:
        gate.set()
    bounded(E.wait, v)
    assert history == [1, 2]
    assert log.index("w1:end") < log.index("w2:start")
    assert v.version == 2


def test_read_pushed_after_a_write_does_not_join_earlier_reads():
    ctx = mx.cpu(2)
    v = E.Var()
    log, gate, started = Log(), threading.Event(), threading.Event()
    E.push(gated(log, "r1", gate, started), reads=[v], ctx=ctx)
    wait_for(started, "the first read starting")
    try:
        E.push(lambda: log("w"), writes=[v], ctx=ctx)
        E.push(lambda: log("r2"), reads=[v], ctx=ctx)
        assert waiting(ctx) == 2
    finally:
        gate.set()
    bounded(E.wait_all)
    assert log.events == ["r1:start", "r1:end", "w", "r2"]


def test_reads_of_the_same_version_run_concurrently():
    v = E.Var()
    value = {"v": 0}
    both = threading.Barrier(2, timeout=HANG_GUARD)
    outs = [E.Var(), E.Var()]
    seen = []

    E.push(lambda: value.update(v=7), writes=[v])

    def read():
        both.wait()  # completes only while the other read is running too
        seen.append(value["v"])

    for out in outs:
        E.push(read, reads=[v], writes=[out])
    for out in outs:
        bounded(E.wait, out)  # a broken rendezvous fails the op, and the wait raises
    assert seen == [7, 7]


def test_operations_sharing_no_var_run_concurrently():
    both = threading.Barrier(2, timeout=HANG_GUARD)
    outs = [E.Var(), E.Var()]
    for out in outs:
        E.push(both.wait, writes=[out])
    for out in outs:
        bounded(E.wait, out)
    assert [out.version for out in outs] == [1, 1]


# --- a var in both lists, duplicates ---------------------------------------------------------


def test_var_in_reads_and_writes_is_a_write():
    ctx = mx.cpu(2)
    v = E.Var()
    value = {"v": 10}
    log, gate, started = Log(), threading.Event(), threading.Event()
    seen = []

    def update():
        log("rw:start")
        value["v"] += 1

    E.push(gated(log, "r1", gate, started), reads=[v], ctx=ctx)
    wait_for(started, "the read starting")
    try:
        E.push(update, reads=[v], writes=[v], ctx=ctx)
        # As a write it waits for the running read; as a read it would have joined it.
        assert waiting(ctx) == 1
        E.push(lambda: seen.append(value["v"]), reads=[v], ctx=ctx)
        assert waiting(ctx) == 2
    finally:
        gate.set()
    bounded(E.wait_all)
    assert log.index("r1:end") < log.index("rw:start")
    assert seen == [11]
    assert v.version == 1


def test_var_in_writes_then_reads_is_a_write():
    v = E.Var()
    E.push(lambda: None, reads=[], writes=[v, v])
    E.push(lambda: None, writes=[v], reads=[v])
    bounded(E.wait, v)
    assert v.version == 2


def test_duplicate_vars_count_once():
    a, b = E.Var(), E.Var()
    runs = []
    E.push(lambda: runs.append("w"), reads=[a, a, a], writes=[b, b])
    E.push(lambda: runs.append("rw"), reads=[a, b, a, b], writes=[b, a, b, a])
    bounded(E.wait_all)
    assert runs == ["w", "rw"]
    assert (a.version, b.version) == (1, 2)


def test_duplicate_reads_do_not_deadlock_a_later_write():
    v = E.Var()
    out = []
    E.push(lambda: out.append("r"), reads=[v, v, v, v, v, v])  # more than fit inline
    E.push(lambda: out.append("w"), writes=[v])
    bounded(E.wait, v)
    assert out == ["r", "w"]


def test_many_vars_in_one_operation_are_all_ordered():
    vs = [E.Var() for _ in range(20)]
    out = []
    E.push(lambda: out.append("first"), writes=vs)
    E.push(lambda: out.append("second"), reads=vs[::3], writes=vs[1::3])
    E.push(lambda: out.append("third"), reads=[vs[-1]])
    bounded(E.wait_all)
    assert out == ["first", "second", "third"]
    assert [v.version for v in vs] == [2 if i % 3 == 1 else 1 for i in range(20)]


def test_reads_and_writes_accept_a_single_var_and_none():
    v = E.Var()
    E.push(lambda: None, reads=None, writes=v)
    E.push(lambda: None, reads=v, writes=None)
    bounded(E.wait, v)
    assert v.version == 1


# --- versions --------------------------------------------------------------------------------


def test_new_var_has_version_zero():
    assert E.Var().version == 0


def test_version_counts_finished_writes_not_reads():
    v = E.Var()
    for _ in range(5):
        E.push(lambda: None, writes=[v])
        E.push(lambda: None, reads=[v])
    bounded(E.wait_all)
    assert v.version == 5


def test_operation_sees_the_version_of_the_writes_before_it():
    v = E.Var()
    seen = []
    for _ in range(4):
        E.push(lambda: seen.append(("read", v.version)), reads=[v])
        E.push(lambda: seen.append(("write", v.version)), writes=[v])
    bounded(E.wait_all)
    assert seen == [("read", 0), ("write", 0), ("read", 1), ("write", 1),
                    ("read", 2), ("write", 2), ("read", 3), ("write", 3)]


def test_docstring_example():
    v = E.Var()
    out = []
    E.push(lambda: out.append(1), writes=[v])
    E.push(lambda: out.append(out[-1] + 1), reads=[v], writes=[v])
    bounded(E.wait, v)
    assert out == [1, 2] and v.version == 2


def test_chain_of_read_modify_writes_matches_sequential_result():
    v = E.Var()
    acc = {"x": 1}

    def step(i):
        def op():
            acc["x"] = (acc["x"] * 31 + i) % 1_000_003
        return op

    for i in range(300):
        E.push(step(i), reads=[v], writes=[v])
    bounded(E.wait, v)
    expected = 1
    for i in range(300):
        expected = (expected * 31 + i) % 1_000_003
    assert acc["x"] == expected
    assert v.version == 300


# --- priorities, lanes and devices -----------------------------------------------------------


PRIORITY_SCRIPT = """
import json, threading
import flowmod as mx
E = mx.engine
assert E.num_workers(mx.cpu(0)) == 1, E.num_workers(mx.cpu(0))
order, gate, started = [], threading.Event(), threading.Event()

def blocker():
    started.set()
    assert gate.wait(30)

E.push(blocker)
assert started.wait(30)
# The only worker is busy: everything below is queued, and runs in priority order.
for name, priority in {plan}:
    E.push(lambda name=name: order.append(name), priority=priority, name=name)
gate.set()
E.wait_all()
print(json.dumps(order))
"""


def test_higher_priority_runs_first_on_a_single_worker_lane(run_python):
    plan = [("low-a", -5), ("mid-a", 0), ("high-a", 7), ("low-b", -5), ("top", 2**31 - 1),
            ("high-b", 7), ("mid-b", 0), ("bottom", -(2**31) + 1)]
    proc = run_python(PRIORITY_SCRIPT.format(plan=plan),
                      env={"FLOWMOD_CPU_WORKER_NTHREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    # Highest priority first; equal priorities in push order.
    expected = [name for name, _ in sorted(plan, key=lambda p: -p[1])]
    assert json.loads(proc.stdout) == expected


def test_priority_orders_queued_operations_per_lane(run_python):
    # Priorities of the compute lane do not reorder the copy lane's queue, and vice versa.
    code = """
    import json, threading
    import flowmod as mx
    E = mx.engine
    order = {"compute": [], "copy": []}
    gate = threading.Event()
    started = {"compute": threading.Event(), "copy": threading.Event()}
    for lane in ("compute", "copy"):
        E.push(lambda lane=lane: (started[lane].set(), gate.wait(30)), lane=lane)
        assert started[lane].wait(30)
    for i, p in enumerate([1, 3, 2]):
        for lane in ("compute", "copy"):
            E.push(lambda lane=lane, i=i: order[lane].append(i), lane=lane,
                   priority=p if lane == "compute" else -p)
    gate.set()
    E.wait_all()
    print(json.dumps(order))
    """
    proc = run_python(code, env={"FLOWMOD_CPU_WORKER_NTHREADS": "1",
                                 "FLOWMOD_CPU_COPY_NTHREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"compute": [1, 2, 0], "copy": [0, 2, 1]}


def test_priority_does_not_override_dependencies():
    v = E.Var()
    out = []
    E.push(lambda: out.append("low write"), writes=[v], priority=-100)
    E.push(lambda: out.append("high read"), reads=[v], priority=100)
    bounded(E.wait_all)
    assert out == ["low write", "high read"]


def _block_all_compute_workers(ctx, gate: threading.Event) -> set[int]:
    """Occupies every compute worker of ``ctx`` until ``gate`` opens; returns their thread
    idents."""
    n = E.num_workers(ctx)
    assert n >= 1
    arrived = threading.Barrier(n + 1, timeout=HANG_GUARD)
    idents: set[int] = set()

    def hold():
        idents.add(threading.get_ident())
        arrived.wait()
        gate.wait(HANG_GUARD)

    for _ in range(n):
        E.push(hold, ctx=ctx)
    arrived.wait()  # every worker holds one: the lane is saturated
    return idents


def test_copy_lane_runs_while_compute_lane_is_busy():
    ctx = mx.cpu(4)
    gate, copied = threading.Event(), threading.Event()
    try:
        _block_all_compute_workers(ctx, gate)
        E.push(copied.set, ctx=ctx, lane="copy")
        assert copied.wait(HANG_GUARD), "the copy waited for the busy compute lane"
        assert E.stats().lane(ctx, "compute").running == E.num_workers(ctx)
    finally:
        gate.set()
    bounded(E.wait_all)
    assert E.stats().lane(ctx, "copy").completed >= 1


def test_copy_lane_has_its_own_workers():
    assert E.num_workers(mx.cpu(0), "copy") == 1  # FLOWMOD_CPU_COPY_NTHREADS default
    ident = {}
    gate = threading.Event()
    ctx = mx.cpu(4)
    try:
        compute_idents = _block_all_compute_workers(ctx, gate)
        done = threading.Event()
        E.push(lambda: (ident.setdefault("copy", threading.get_ident()), done.set()),
               ctx=ctx, lane="copy")
        assert done.wait(HANG_GUARD)
    finally:
        gate.set()
    assert ident["copy"] not in compute_idents


def test_devices_have_separate_workers():
    gate, ran = threading.Event(), threading.Event()
    where = {}
    try:
        cpu0_idents = _block_all_compute_workers(mx.cpu(0), gate)
        E.push(lambda: (where.setdefault("cpu1", threading.get_ident()), ran.set()),
               ctx=mx.cpu(1))
        assert ran.wait(HANG_GUARD), "cpu(1) waited for cpu(0)'s busy workers"
    finally:
        gate.set()
    assert where["cpu1"] not in cpu0_idents
    assert E.num_workers(mx.cpu(1)) == E.num_workers(mx.cpu(0))


def test_dependencies_hold_across_devices_and_lanes():
    v = E.Var()
    out = []
    places = [(mx.cpu(0), "compute"), (mx.cpu(1), "copy"), (mx.cpu(1), "compute"),
              (mx.cpu(0), "copy")]
    for i, (ctx, lane) in enumerate(itertools.islice(itertools.cycle(places), 40)):
        E.push(lambda i=i: out.append(i), reads=[v], writes=[v], ctx=ctx, lane=lane)
    bounded(E.wait, v)
    assert out == list(range(40))


def test_default_context_is_the_current_context():
    before = E.stats().lane(mx.cpu(3)).pushed
    with mx.cpu(3):
        E.push(lambda: None)
    bounded(E.wait_all)
    assert E.stats().lane(mx.cpu(3)).pushed == before + 1


def test_push_native_default_context_is_the_current_context():
    before = E.stats().lane(mx.cpu(3)).pushed
    with mx.cpu(3):
        E.push_native(E.NativeOp.noop())
    bounded(E.wait_all)
    assert E.stats().lane(mx.cpu(3)).pushed == before + 1


def test_pinned_context_runs_on_its_cpu_device():
    before = E.stats().lane(mx.cpu(3)).pushed
    E.push(lambda: None, ctx=mx.cpu_pinned(3))
    bounded(E.wait_all)
    assert E.stats().lane(mx.cpu(3)).pushed == before + 1


@pytest.mark.parametrize("lane", ["compute", "copy"])
def test_native_ops_order_with_python_ops(lane):
    v = E.Var()
    seen = []
    for _ in range(3):
        E.push_native(E.NativeOp.sleep(0.001), writes=[v], ctx=mx.cpu(0), lane=lane)
        E.push(lambda: seen.append(v.version), reads=[v], lane=lane)
    bounded(E.wait_all)
    assert seen == [1, 2, 3]
