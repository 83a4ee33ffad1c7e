"""Blocking calls that must not hang: waits interrupted by Ctrl-C, waits made inside engine
operations (which must not run a lane out of workers, and must refuse a cycle), and pushes
held back while a device has too much work in flight."""
from __future__ import annotations

import os
import random
import signal
import sys
import threading
import time

import numpy as np
import pytest

import flowmod as mx
from conftest import HANG_GUARD, bounded
from flowmod.base import MXNetError
from flowmod.future import when_ready

E = mx.engine

# Long enough that a signal sent 50 ms into a wait always lands while it blocks.
BUSY_SECONDS = 1.5


def _busy_lanes() -> None:
    """Holds every compute worker and the copy worker of cpu(0) for BUSY_SECONDS, so that
    whatever is pushed next is queued behind."""
    for _ in range(E.num_workers()):
        E.push_native(E.NativeOp.sleep(BUSY_SECONDS))
    E.push_native(E.NativeOp.sleep(BUSY_SECONDS), lane="copy")


class _SigintSoon:
    """Sends SIGINT to the main thread 50 ms after entering; the handler raises
    KeyboardInterrupt only inside the block, so a late signal cannot end the test run."""

    def __enter__(self):
        self.armed = True
        self.previous = signal.signal(signal.SIGINT, self._handle)
        self.timer = threading.Timer(
            0.05, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))
        self.timer.start()
        return self

    def _handle(self, signum, frame):
        if self.armed:
            raise KeyboardInterrupt

    def __exit__(self, *exc):
        self.armed = False
        self.timer.join()
        signal.signal(signal.SIGINT, self.previous)
        return False


def _sleeping_var() -> E.Var:
    v = E.Var()
    E.push_native(E.NativeOp.sleep(BUSY_SECONDS), writes=[v])
    return v


def _queued_array() -> mx.nd.NDArray:
    a = mx.nd.ones((4,))
    a.wait_to_read()
    _busy_lanes()
    return a + 1


# --- Ctrl-C -----------------------------------------------------------------------------------

WAITS = {
    "engine.wait": (_sleeping_var, E.wait, lambda v: v.version == 0),
    "engine.wait_all": (_sleeping_var, lambda v: E.wait_all(), lambda v: v.version == 0),
    "nd.waitall": (_sleeping_var, lambda v: mx.nd.waitall(), lambda v: v.version == 0),
    "future.result": (_sleeping_var, lambda v: when_ready([v]).result(), lambda v: v.version == 0),
    "asnumpy": (_queued_array, lambda a: a.asnumpy(), lambda a: a.version == 0),
    "wait_to_read": (_queued_array, lambda a: a.wait_to_read(), lambda a: a.version == 0),
}


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals reach the main thread only")
@pytest.mark.parametrize("kind", sorted(WAITS))
def test_ctrl_c_interrupts_a_blocking_wait_and_leaves_the_work_queued(kind):
    make, wait, still_pending = WAITS[kind]
    target = make()
    with pytest.raises(KeyboardInterrupt):
        with _SigintSoon():
            wait(target)
    # Raised while the awaited work was still pending, not after it finished.
    assert still_pending(target)
    # The engine is still usable, and a later wait of the same target succeeds.
    bounded(E.wait_all)
    assert not still_pending(target)
    if isinstance(target, mx.nd.NDArray):
        np.testing.assert_array_equal(target.asnumpy(), np.full((4,), 2.0, np.float32))


def test_interrupted_asnumpy_keeps_its_destination_until_the_copy_ran():
    arrays = []
    for _ in range(3):
        a = _queued_array()
        with pytest.raises(KeyboardInterrupt):
            with _SigintSoon():
                a.asnumpy()
        arrays.append(a)
        bounded(E.wait_all)
    for a in arrays:
        np.testing.assert_array_equal(a.asnumpy(), np.full((4,), 2.0, np.float32))


def test_sigint_from_another_process_interrupts_a_wait(run_python):
    code = """
        import signal, sys, time
        import flowmod as mx
        E = mx.engine
        v = E.Var()
        E.push_native(E.NativeOp.sleep(8.0), writes=[v])
        print("waiting", flush=True)
        start = time.perf_counter()
        try:
            E.wait(v)
            print("returned", flush=True)
        except KeyboardInterrupt:
            print("interrupted", v.version, flush=True)
        # Still usable: a new operation runs while the sleep holds one worker.
        w = E.Var()
        E.push(lambda: None, writes=[w])
        E.wait(w)
        print("usable", w.version, flush=True)
        sys.stdout.flush()
        import os; os._exit(0)
    """
    import subprocess
    import textwrap
    from conftest import _env
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)],
                            env=_env({"FLOWMOD_CPU_WORKER_NTHREADS": "2"}),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "waiting"
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=HANG_GUARD)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert out.split("\n")[:2] == ["interrupted 0", "usable 1"], (out, err)


# --- waits inside operations ------------------------------------------------------------------

def test_nested_waits_on_every_worker_and_one_more_finish():
    n = E.num_workers()
    v = E.Var()
    pushed = threading.Event()
    seen = []
    for _ in range(n + 1):
        E.push(lambda: (pushed.wait(HANG_GUARD), E.wait(v), seen.append(v.version)))
    E.push_native(E.NativeOp.sleep(0.01), writes=[v])
    pushed.set()
    bounded(E.wait_all)
    assert seen == [1] * (n + 1)


def test_nested_asnumpy_on_every_worker_and_one_more_finish():
    n = E.num_workers()
    a = mx.nd.ones((8,))
    b = mx.nd.zeros((8,))
    pushed = threading.Event()
    seen = []
    for _ in range(n + 1):
        E.push(lambda: (pushed.wait(HANG_GUARD), seen.append(b.asnumpy().sum())))
    a.copyto(b)  # queued on the lane behind the callables that wait for it
    pushed.set()
    bounded(E.wait_all)
    assert seen == [8.0] * (n + 1)


def test_wait_for_own_output_inside_an_operation_raises_naming_it():
    v = E.Var()
    caught = []

    def waits_for_itself():
        try:
            E.wait(v)
        except MXNetError as e:
            caught.append(str(e))

    E.push(waits_for_itself, writes=[v])
    bounded(E.wait, v)
    assert len(caught) == 1
    assert "waits_for_itself" in caught[0] and "writes itself" in caught[0]


def test_uncaught_wait_cycle_fails_the_operation():
    v = E.Var()
    E.push(lambda: E.wait(v), writes=[v], name="cyclic_wait")
    with pytest.raises(MXNetError, match="cyclic_wait.*would never return"):
        bounded(E.wait, v)
    E.push(lambda: None, writes=[v])
    bounded(E.wait, v)  # the engine goes on


def test_wait_for_a_var_written_behind_the_operation_raises():
    y, x = E.Var(), E.Var()
    pushed = threading.Event()
    caught = []

    def waits_behind_itself():
        pushed.wait(HANG_GUARD)
        try:
            E.wait(x)
        except MXNetError as e:
            caught.append(str(e))

    E.push(waits_behind_itself, writes=[y])
    E.push(lambda: None, reads=[y], writes=[x])
    pushed.set()
    bounded(E.wait_all)
    assert len(caught) == 1 and "queued behind" in caught[0]


def test_wait_all_inside_an_operation_raises():
    caught = []

    def op():
        try:
            E.wait_all()
        except MXNetError as e:
            caught.append(str(e))

    E.push(op, name="waits_for_all")
    bounded(E.wait_all)
    assert len(caught) == 1 and "waits_for_all" in caught[0]


@pytest.mark.parametrize("seed", range(4))
def test_randomized_nested_waits_match_sequential_execution(seed):
    """Callables add what they read to what they write; half of them first wait for a var of
    an independent chain that may be queued behind them. The values must be those of running
    the same callables one by one in push order."""
    rng = random.Random(seed)
    k, side_n = 5, 3
    data = [E.Var() for _ in range(k)]
    side = [E.Var() for _ in range(side_n)]
    values, expected = [1] * k, [1] * k
    for _ in range(200):
        if rng.random() < 0.3:
            E.push_native(E.NativeOp.sleep(0.0002), writes=[side[rng.randrange(side_n)]])
            continue
        r, w, s = rng.randrange(k), rng.randrange(k), rng.randrange(side_n)
        waits = rng.random() < 0.5

        def op(r=r, w=w, s=s, waits=waits):
            if waits:
                E.wait(side[s])
            values[w] += values[r] + 1

        E.push(op, reads=[data[r]], writes=[data[w]])
        expected[w] += expected[r] + 1
    bounded(E.wait_all, timeout=120)
    assert values == expected


# --- the in-flight bound ----------------------------------------------------------------------

def test_pushes_beyond_the_bound_keep_the_pending_count_bounded(run_python):
    code = """
        import json
        import flowmod as mx
        E = mx.engine
        v = E.Var()
        op = E.NativeOp.sleep(0.00002)
        most = 0
        for i in range(20000):
            E.push_native(op, reads=[v], writes=[v])
            if i % 16 == 0:
                lane = E.stats().lane(mx.cpu(0))
                most = max(most, lane.pushed - lane.completed - lane.failed - lane.skipped)
        E.wait(v)
        print(json.dumps({"most": most, "version": v.version}))
    """
    r = run_python(code, env={"FLOWMOD_ENGINE_MAX_INFLIGHT": "256"})
    assert r.returncode == 0, r.stderr
    import json
    result = json.loads(r.stdout)
    assert result["version"] == 20000
    # Checked every 64 pushes of a thread: at most that many past the bound.
    assert 0 < result["most"] <= 256 + 64


def test_without_the_bound_the_pending_count_grows(run_python):
    code = """
        import flowmod as mx
        E = mx.engine
        v = E.Var()
        E.push_native(E.NativeOp.sleep(0.5), writes=[v])
        for i in range(5000):
            E.push_native(E.NativeOp.noop(), reads=[v], writes=[v])
        lane = E.stats().lane(mx.cpu(0))
        print(lane.pushed - lane.completed)
    """
    r = run_python(code, env={"FLOWMOD_ENGINE_MAX_INFLIGHT": "0"})
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) > 4000


def test_push_inside_an_operation_passes_the_bound(run_python):
    code = """
        import flowmod as mx
        E = mx.engine
        v = E.Var()
        def pushes_many():
            for _ in range(2000):
                E.push_native(E.NativeOp.noop(), writes=[v])
        E.push(pushes_many)
        E.wait_all()
        print(v.version)
    """
    r = run_python(code, env={"FLOWMOD_ENGINE_MAX_INFLIGHT": "32",
                              "FLOWMOD_CPU_WORKER_NTHREADS": "1"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "2000"


def test_bad_max_inflight_is_refused_naming_the_variable(run_python):
    r = run_python("import flowmod as mx; mx.engine.Var(); mx.engine.wait_all()",
                   env={"FLOWMOD_ENGINE_MAX_INFLIGHT": "-3"})
    assert r.returncode != 0
    assert "FLOWMOD_ENGINE_MAX_INFLIGHT='-3'" in r.stderr
