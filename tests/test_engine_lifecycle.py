"""Lifetimes: of vars, of pending work, of the engine across fork and interpreter exit; and
what the counters say once the engine is idle."""
from __future__ import annotations

import gc
import json
import math
import os
import threading
import time

import pytest

import flowmod as mx
from conftest import HANG_GUARD, bounded

E = mx.engine


# --- vars ------------------------------------------------------------------------------------


def test_dropped_var_still_runs_its_pending_operations():
    gate, started = threading.Event(), threading.Event()
    out = []
    v = E.Var()
    E.push(lambda: (started.set(), gate.wait(HANG_GUARD), out.append("held")), writes=[v])
    E.push(lambda: out.append("read"), reads=[v])
    E.push(lambda: out.append("write"), writes=[v])
    assert started.wait(HANG_GUARD)
    del v
    gc.collect()
    gate.set()
    bounded(E.wait_all)
    assert out == ["held", "read", "write"]


def test_dropped_var_in_a_cycle_is_collected_after_its_operations():
    out = []

    class Holder:
        pass

    h = Holder()
    h.self, h.var = h, E.Var()
    for i in range(5):
        E.push_native(E.NativeOp.sleep(0.0005), writes=[h.var])
        E.push(lambda i=i: out.append(i), reads=[h.var])
    del h
    gc.collect()
    bounded(E.wait_all)
    assert out == list(range(5))


def test_var_dropped_inside_an_operation():
    out = []

    def op():
        local = E.Var()
        E.push(lambda: out.append("inner"), writes=[local])
        # `local` is dropped here, on a worker, with its write pending.

    E.push(op)
    bounded(E.wait_all)
    assert out == ["inner"]


def test_wait_on_a_var_never_written_returns():
    v = E.Var()
    bounded(E.wait, v)
    assert v.version == 0


def test_wait_on_a_var_only_read_returns():
    v = E.Var()
    gate = threading.Event()
    E.push(lambda: gate.wait(HANG_GUARD), reads=[v])
    try:
        bounded(E.wait, v)  # waits for writes only
    finally:
        gate.set()


def test_thousands_of_vars_each_with_operations():
    n = 5000
    vs = [E.Var() for _ in range(n)]
    values = [0] * n
    sums = [0] * n

    def write(i):
        def op():
            values[i] = i * 7
        return op

    def read(i):
        def op():
            sums[i] = values[i] + 1
        return op

    for i, v in enumerate(vs):
        E.push(write(i), writes=[v])
        E.push(read(i), reads=[v])
    E.push_bulk([(E.NativeOp.noop(), [], [v]) for v in vs])
    bounded(E.wait_all)
    assert sums == [i * 7 + 1 for i in range(n)]
    assert {v.version for v in vs} == {2}
    del vs
    gc.collect()
    bounded(E.wait_all)


def test_var_with_many_pending_operations():
    v = E.Var()
    out = []
    E.push_bulk([(E.NativeOp.noop(), [v], [])] * 2000 + [(E.NativeOp.noop(), [], [v])])
    E.push(lambda: out.append(v.version), reads=[v])
    bounded(E.wait_all)
    assert out == [1]


# --- wait_all and callbacks ------------------------------------------------------------------


def test_wait_all_waits_for_pushed_operations():
    out = []
    for i in range(200):
        E.push(lambda i=i: out.append(i), writes=[E.Var()])
    bounded(E.wait_all)
    assert sorted(out) == list(range(200))


def test_wait_all_waits_for_operations_pushed_by_operations_it_waits_for():
    v, w = E.Var(), E.Var()
    log = []

    def parent():
        # Pushed while wait_all is already waiting: still part of the work it waits for.
        E.push(lambda: (time.sleep(0.01), log.append("child")), writes=[w])
        log.append("parent")

    E.push(lambda: time.sleep(0.01), writes=[v])
    E.push(parent, reads=[v])
    bounded(E.wait_all)
    assert log == ["parent", "child"]


def test_wait_all_waits_for_callbacks():
    v = E.Var()
    gate, called = threading.Event(), []
    E.push(lambda: gate.wait(HANG_GUARD), writes=[v])

    def callback(err):
        time.sleep(0.02)  # a slow callback: wait_all must still not return before it ends
        called.append(err)

    E.on_complete(v, callback)
    E.on_complete(E.Var(), callback)  # a var with no pending write calls back at once
    gate.set()
    bounded(E.wait_all)
    assert called == [None, None]


def test_callbacks_run_on_one_thread_that_is_not_a_compute_worker():
    # With every compute worker of cpu(0) held, a callback can only run if it has its own
    # thread.
    n = E.num_workers(mx.cpu(0))
    arrived = threading.Barrier(n + 1, timeout=HANG_GUARD)
    gate = threading.Event()
    worker_idents, callback_idents = set(), []
    done = threading.Event()

    def hold():
        worker_idents.add(threading.get_ident())
        arrived.wait()
        gate.wait(HANG_GUARD)

    try:
        for _ in range(n):
            E.push(hold)
        arrived.wait()
        for i in range(3):
            E.on_complete(E.Var(), lambda err, i=i: (
                callback_idents.append(threading.get_ident()), i == 2 and done.set()))
        assert done.wait(HANG_GUARD), "callbacks waited for a compute worker"
    finally:
        gate.set()
    assert len(set(callback_idents)) == 1
    assert callback_idents[0] not in worker_idents
    assert callback_idents[0] != threading.get_ident()


def test_wait_all_returns_while_another_thread_keeps_the_engine_busy():
    # The other thread always has one operation in flight, pushing the next before it lets
    # the previous one finish: the engine is never idle, but each operation pushed before
    # wait_all is called finishes soon after.
    stop, running = threading.Event(), threading.Event()

    def keep_busy():
        previous = threading.Event()
        E.push(lambda ev=previous: ev.wait(HANG_GUARD))
        running.set()
        while not stop.is_set():
            current = threading.Event()
            E.push(lambda ev=current: ev.wait(HANG_GUARD))
            previous.set()
            previous = current
            time.sleep(0.001)
        previous.set()

    busy = threading.Thread(target=keep_busy)
    busy.start()
    try:
        assert running.wait(HANG_GUARD)
        bounded(E.wait_all, timeout=10)
    finally:
        stop.set()
        busy.join(HANG_GUARD)


def test_on_complete_runs_after_the_writes_pushed_before_it():
    v = E.Var()
    log = []
    for i in range(3):
        E.push(lambda i=i: log.append(f"w{i}"), writes=[v])
    E.on_complete(v, lambda err: log.append("callback"))
    bounded(E.wait_all)
    assert log == ["w0", "w1", "w2", "callback"]


def test_callbacks_run_in_registration_order_for_one_var():
    v = E.Var()
    log = []
    for i in range(10):
        E.push(lambda: None, writes=[v])
        E.on_complete(v, lambda err, i=i: log.append(i))
    bounded(E.wait_all)
    assert log == list(range(10))


# --- counters --------------------------------------------------------------------------------


def test_stats_gauges_are_zero_and_totals_balance_after_wait_all():
    for i in range(50):
        v = E.Var()
        E.push(lambda: None, writes=[v], ctx=mx.cpu(i % 2), lane=("compute", "copy")[i % 3 % 2])
        E.push_native(E.NativeOp.fail("x"), writes=[v])
        E.push_native(E.NativeOp.noop(), reads=[v], ctx=mx.cpu(1), lane="copy")
    bounded(E.wait_all)
    s = E.stats()
    assert s.engine_type == "ThreadedEngine"
    for lane in s.lanes:
        assert (lane.waiting, lane.ready, lane.running) == (0, 0, 0), lane
        assert lane.pushed == lane.completed + lane.failed + lane.skipped, lane


def test_stats_lists_every_used_device_lane():
    E.push(lambda: None, ctx=mx.cpu(6), lane="copy")
    bounded(E.wait_all)
    names = {(lane.device, lane.lane) for lane in E.stats().lanes}
    assert {("cpu(6)", "compute"), ("cpu(6)", "copy")} <= names


def test_stats_lane_of_an_unused_device_is_zero():
    assert E.stats().lane(mx.cpu(63), "copy") == E.LaneStats("cpu(63)", "copy", 0, 0, 0, 0, 0,
                                                             0, 0)


def test_stats_lane_of_a_pinned_context_is_its_cpu_lane():
    E.push(lambda: None, ctx=mx.cpu_pinned(6))
    bounded(E.wait_all)
    s = E.stats()
    pinned, cpu = s.lane(mx.cpu_pinned(6)), s.lane(mx.cpu(6))
    assert (pinned.pushed, pinned.completed) == (cpu.pushed, cpu.completed)


def test_stats_count_pushes_per_lane():
    ctx = mx.cpu(7)
    before = {lane: E.stats().lane(ctx, lane) for lane in ("compute", "copy")}
    for _ in range(4):
        E.push(lambda: None, ctx=ctx)
    for _ in range(3):
        E.push_native(E.NativeOp.noop(), ctx=ctx, lane="copy")
    bounded(E.wait_all)
    after = {lane: E.stats().lane(ctx, lane) for lane in ("compute", "copy")}
    assert {lane: (after[lane].pushed - before[lane].pushed,
                   after[lane].completed - before[lane].completed)
            for lane in after} == {"compute": (4, 4), "copy": (3, 3)}


def test_op_latency_histogram_per_operation_name():
    def counts():
        return {h.name: h for h in E.stats().op_latency}

    before = counts().get("latency_probe")
    for _ in range(7):
        E.push(lambda: None, name="latency_probe")
    bounded(E.wait_all)
    h = counts()["latency_probe"]
    assert h.count - (before.count if before else 0) == 7
    assert sum(h.bucket_counts) == h.count
    assert len(h.bucket_bounds) == len(h.bucket_counts)
    assert list(h.bucket_bounds) == sorted(h.bucket_bounds)
    assert math.isinf(h.bucket_bounds[-1])
    assert h.sum_seconds >= 0


def test_native_ops_are_in_the_latency_histogram_under_their_names():
    def count(name):
        return {h.name: h.count for h in E.stats().op_latency}.get(name, 0)

    before = count("sleep")
    E.push_bulk([(E.NativeOp.sleep(0), [], [])] * 5)
    bounded(E.wait_all)
    assert count("sleep") - before == 5


# --- push_bulk and threads -------------------------------------------------------------------


def test_push_bulk_matches_sequential_pushes():
    def script(vs):
        a, b, c = vs
        noop, fail = E.NativeOp.noop(), E.NativeOp.fail
        return [(noop, [], [a]), (fail("one"), [a], [b]), (noop, [b], [c]), (noop, [], [a, a]),
                (fail("two"), [], [c]), (noop, [a], [b]), (noop, [b, c], [])]

    def outcome(vs):
        result = []
        for v in vs:
            try:
                E.wait(v)
                result.append((v.version, None))
            except mx.MXNetError as e:
                result.append((v.version, e.op_message))
        return result

    ctx_bulk, ctx_seq = mx.cpu(2), mx.cpu(3)
    before = {c: E.stats().lane(c) for c in (ctx_bulk, ctx_seq)}
    bulk_vars, seq_vars = [E.Var() for _ in range(3)], [E.Var() for _ in range(3)]
    E.push_bulk(script(bulk_vars), ctx=ctx_bulk)
    for op, reads, writes in script(seq_vars):
        E.push_native(op, reads, writes, ctx=ctx_seq)
    bounded(E.wait_all)
    assert outcome(bulk_vars) == outcome(seq_vars) == [(2, None), (2, None), (2, "two")]
    delta = {c: tuple(getattr(E.stats().lane(c), f) - getattr(before[c], f)
                      for f in ("pushed", "completed", "failed", "skipped"))
             for c in (ctx_bulk, ctx_seq)}
    assert delta[ctx_bulk] == delta[ctx_seq] == (7, 3, 2, 2)


def test_push_bulk_orders_with_python_pushes_around_it():
    v = E.Var()
    seen = []
    E.push(lambda: seen.append(v.version), writes=[v])
    E.push_bulk([(E.NativeOp.sleep(0.0002), [v], [v])] * 10)
    E.push(lambda: seen.append(v.version), reads=[v])
    bounded(E.wait_all)
    assert seen == [0, 11]


def test_push_bulk_of_nothing_is_a_no_op():
    E.push_bulk([])
    bounded(E.wait_all)


def test_python_pushes_from_several_threads():
    n_threads, n_ops = 6, 150
    shared = E.Var()
    own = [E.Var() for _ in range(n_threads)]
    counter = {"shared": 0}
    per_thread = [[] for _ in range(n_threads)]
    start = threading.Barrier(n_threads, timeout=HANG_GUARD)

    def bump():
        x = counter["shared"]
        os.sched_yield()  # invites a concurrent writer to interleave, were one running
        counter["shared"] = x + 1

    def pusher(t):
        start.wait()
        for i in range(n_ops):
            E.push(bump, writes=[shared])
            E.push(lambda i=i: per_thread[t].append(i), reads=[own[t]], writes=[own[t]])

    threads = [threading.Thread(target=pusher, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG_GUARD)
    bounded(E.wait_all)
    assert counter["shared"] == n_threads * n_ops
    assert shared.version == n_threads * n_ops
    assert per_thread == [list(range(n_ops))] * n_threads


def test_wait_from_several_threads():
    v = E.Var()
    gate = threading.Event()
    E.push(lambda: gate.wait(HANG_GUARD), writes=[v])
    results = []

    def waiter():
        E.wait(v)
        results.append(v.version)

    threads = [threading.Thread(target=waiter) for _ in range(4)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(HANG_GUARD)
    assert results == [1, 1, 1, 1]


# --- interpreter exit and fork ---------------------------------------------------------------


EXIT_SCRIPT = """
import atexit, sys
ran, called = [], []
# Registered before flowmod's own exit handler, so it runs after it (atexit is LIFO).
atexit.register(lambda: print(json.dumps([len(ran), sorted(ran) == list(range(len(ran))),
                                          len(called)]), flush=True))
import json
import flowmod as mx
E = mx.engine
vs = [E.Var() for _ in range(8)]
for i in range(400):
    v, nxt = vs[i % 8], vs[(i + 1) % 8]
    E.push_native(E.NativeOp.sleep(0.001), writes=[v])
    E.push(lambda i=i: ran.append(i), reads=[v], writes=[nxt], ctx=mx.cpu(i % 3))
    if i % 50 == 0:
        E.on_complete(nxt, called.append)
for i in range(200):
    E.push_native(E.NativeOp.sleep(0.001), writes=[E.Var()], lane="copy")
{ending}
"""


@pytest.mark.parametrize("ending", ["pass", "sys.exit(0)", "del vs"])
def test_interpreter_exit_with_pending_work_runs_it_and_exits(run_python, ending):
    proc = run_python(EXIT_SCRIPT.format(ending=ending))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [400, True, 8]


def test_interpreter_exit_with_pending_failures_exits_cleanly(run_python):
    code = """
    import flowmod as mx
    E = mx.engine
    v = E.Var()
    def boom():
        raise ValueError("never waited for")
    for _ in range(100):
        E.push_native(E.NativeOp.sleep(0.001), writes=[v])
        E.push(boom, reads=[v], writes=[v])
    """
    proc = run_python(code)
    assert (proc.returncode, proc.stderr) == (0, "")


def test_interpreter_exit_from_an_exception_with_pending_work(run_python):
    code = """
    import flowmod as mx
    E = mx.engine
    v = E.Var()
    for _ in range(100):
        E.push(lambda: None, writes=[v])
        E.push_native(E.NativeOp.sleep(0.001), writes=[v])
    raise SystemExit(3)
    """
    proc = run_python(code)
    assert proc.returncode == 3, proc.stderr


def test_push_after_shutdown_raises(run_python):
    code = """
    import flowmod as mx
    from flowmod import _native
    E = mx.engine
    _native.shutdown()
    try:
        E.push(lambda: None)
    except mx.MXNetError as e:
        print("refused:", e)
    """
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("refused: the engine has shut down")


FORK_SCRIPT = """
import json, os, signal, sys, time
import flowmod as mx
E = mx.engine
v = E.Var()
seen = []
for _ in range(50):
    E.push_native(E.NativeOp.sleep(0.0005), writes=[v])
E.push(lambda: seen.append(v.version), reads=[v])  # pending when fork() is called

pid = os.fork()
if pid == 0:
    report = {"seen": list(seen), "inherited_version": v.version}
    try:
        w, out = E.Var(), []
        E.push(lambda: out.append(1), writes=[w])
        E.push(lambda: out.append(out[-1] + 1), reads=[w], writes=[w], ctx=mx.cpu(1))
        E.wait(w)
        E.push_native(E.NativeOp.noop(), writes=[v])
        E.wait(v)
        bad = E.Var()
        E.push_native(E.NativeOp.fail("in child"), writes=[bad])
        try:
            E.wait(bad)
        except mx.MXNetError as e:
            report["child_error"] = e.op_message
        report.update(out=out, w_version=w.version, v_version=v.version)
    except BaseException as e:
        report["exception"] = repr(e)
    sys.stdout.write("child " + json.dumps(report) + "\\n")
    sys.stdout.flush()
    os._exit(0)

deadline = time.monotonic() + 30
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    if time.monotonic() > deadline:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        print("parent child-hung")
        sys.exit(1)
    time.sleep(0.01)
out = []
E.push(lambda: out.append(v.version), reads=[v])
E.wait_all()
print("parent " + json.dumps({"status": status, "seen": seen, "after": out}))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_gets_a_working_engine(run_python):
    proc = run_python(FORK_SCRIPT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert json.loads(lines["child"]) == {
        "seen": [50], "inherited_version": 50, "out": [1, 2], "w_version": 2,
        "v_version": 51, "child_error": "in child"}
    assert json.loads(lines["parent"]) == {"status": 0, "seen": [50], "after": [50]}


# --- the naive engine ------------------------------------------------------------------------


NAIVE_SCRIPT = """
import json, threading
import flowmod as mx
E = mx.engine
checks = {}
checks["type"] = (E.engine_type(), E.stats().engine_type)
checks["workers"] = E.num_workers()

v, out = E.Var(), []
E.push(lambda: out.append(threading.get_ident()), writes=[v])
checks["ran_at_push_on_caller"] = out == [threading.get_ident()]
checks["version"] = v.version

a, b, c = E.Var(), E.Var(), E.Var()
ran = []
def boom():
    raise ValueError("naive boom")
E.push(boom, writes=[a], name="A")
E.push(lambda: ran.append("B"), reads=[a], writes=[b])
E.push(lambda: ran.append("C"), reads=[b], writes=[c])
errors = []
for var in (a, b, c):
    try:
        E.wait(var)
    except mx.MXNetError as e:
        errors.append([e.op_name, e.op_message])
checks["chain"] = [errors, ran]

E.push_native(E.NativeOp.fail("native"), writes=[a])
try:
    E.wait(a)
except mx.MXNetError as e:
    checks["native_fail"] = str(e)
E.push(lambda: None, writes=[a])
E.wait(a)
checks["cleared"] = True

got = []
E.push(boom, writes=[b], name="for_callback")
E.on_complete(b, lambda err: got.append(err.op_name))
E.on_complete(v, lambda err: got.append(err))
checks["callbacks"] = got

d = E.Var()
E.push_bulk([(E.NativeOp.noop(), [], [d])] * 3)
checks["bulk_version"] = d.version
E.wait_all()
lane = E.stats().lane()
checks["stats"] = [lane.pushed, lane.completed, lane.failed, lane.skipped, lane.waiting,
                   lane.ready, lane.running]
try:
    E.push(lambda: None, ctx=mx.gpu(0))
except mx.MXNetError as e:
    checks["gpu"] = "gpu" in str(e)
print(json.dumps(checks))
"""


def test_naive_engine_runs_at_push_and_propagates_errors(run_python):
    proc = run_python(NAIVE_SCRIPT, env={"FLOWMOD_ENGINE_TYPE": "NaiveEngine"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "type": ["NaiveEngine", "NaiveEngine"],
        "workers": 0,
        "ran_at_push_on_caller": True,
        "version": 1,
        "chain": [[["A", "ValueError: naive boom"]] * 3, []],
        "native_fail": "operator 'fail' failed: native",
        "cleared": True,
        "callbacks": ["for_callback", None],
        "bulk_version": 3,
        "stats": [10, 5, 3, 2, 0, 0, 0],
        "gpu": True,
    }


def test_naive_engine_pushes_from_several_threads(run_python):
    code = """
    import threading
    import flowmod as mx
    E = mx.engine
    shared, total = E.Var(), {"n": 0}
    def bump():
        total["n"] += 1
    def pusher():
        for _ in range(200):
            E.push(bump, reads=[shared], writes=[shared])
    threads = [threading.Thread(target=pusher) for _ in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
    E.wait(shared)
    print(total["n"], shared.version)
    """
    proc = run_python(code, env={"FLOWMOD_ENGINE_TYPE": "NaiveEngine"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["800", "800"]


def test_naive_engine_drops_vars_while_another_thread_pushes(run_python):
    # A var may be dropped (by the collector, say) on any thread while another thread's push
    # is running a Python operation.
    code = """
    import threading, time
    import flowmod as mx
    E = mx.engine
    done = threading.Event()
    def pusher():
        v = E.Var()
        for _ in range(200):
            E.push(lambda: time.sleep(0.0005), writes=[v])
        done.set()
    def dropper():
        while not done.is_set():
            E.Var()
    threads = [threading.Thread(target=pusher), threading.Thread(target=dropper)]
    for t in threads: t.start()
    for t in threads: t.join()
    print("ok")
    """
    proc = run_python(code, env={"FLOWMOD_ENGINE_TYPE": "NaiveEngine"}, timeout=20)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["ok"]


def test_unknown_engine_type_is_refused(run_python):
    code = """
    import flowmod as mx
    try:
        mx.engine.engine_type()
    except mx.MXNetError as e:
        print(e)
    """
    proc = run_python(code, env={"FLOWMOD_ENGINE_TYPE": "TurboEngine"})
    assert proc.returncode == 0, proc.stderr
    assert "FLOWMOD_ENGINE_TYPE='TurboEngine'" in proc.stdout


def test_worker_count_comes_from_the_environment(run_python):
    code = """
    import flowmod as mx
    print(mx.engine.num_workers(mx.cpu(0)), mx.engine.num_workers(mx.cpu(2), "copy"))
    """
    proc = run_python(code, env={"FLOWMOD_CPU_WORKER_NTHREADS": "3",
                                 "FLOWMOD_CPU_COPY_NTHREADS": "2"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["3", "2"]


@pytest.mark.parametrize("value", ["0", "many", "2000"])
def test_bad_worker_count_is_refused_naming_the_variable(run_python, value):
    code = """
    import flowmod as mx
    try:
        mx.engine.push(lambda: None)
    except mx.MXNetError as e:
        print(e)
    print(sum(lane.pushed for lane in mx.engine.stats().lanes))
    """
    proc = run_python(code, env={"FLOWMOD_CPU_WORKER_NTHREADS": value})
    assert proc.returncode == 0, proc.stderr
    message, pushed = proc.stdout.splitlines()
    assert f"FLOWMOD_CPU_WORKER_NTHREADS='{value}'" in message
    assert pushed == "0"


def test_default_worker_count_is_the_number_of_cores(run_python):
    proc = run_python("import flowmod as mx; print(mx.engine.num_workers())")
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) == os.cpu_count()
