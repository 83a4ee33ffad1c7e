"""Randomized dependency graphs, checked against sequential execution.

A scenario has K vars holding ints and, per pushing thread, a list of operations with random
read and write sets (overlapping, with duplicates), a random placement and priority, and a
short random sleep. Each operation stores into every var it writes a deterministic function
of what it read. The reference is the same operations run one after another in push order:
either every thread owns a disjoint set of vars (so any interleaving of the threads' pushes
gives the same result), or pushes are made under one lock that records the global order.

Checked: the final values (and failures) equal the reference; every operation that should
run ran exactly once and the others did not; and on a global event clock every operation
started after every earlier conflicting operation ended.
"""
from __future__ import annotations

import dataclasses
import gc
import itertools
import json
import threading
import time
import zlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flowmod as mx

E = mx.engine

OP_NAME = "randomized_op"  # one name for all: names are interned per process
HANG_GUARD = 30.0
MAX_VARS = 6
MAX_THREADS = 4
MAX_OPS_PER_THREAD = 12
PLACES = [(mx.cpu(0), "compute"), (mx.cpu(0), "copy"), (mx.cpu(1), "compute")]


@dataclasses.dataclass(frozen=True)
class OpSpec:
    reads: tuple[int, ...]
    writes: tuple[int, ...]
    sleep_us: int
    place: int
    priority: int
    fails: bool


@dataclasses.dataclass(frozen=True)
class Scenario:
    num_vars: int
    shared: bool  # all threads use all vars; pushes serialized by a lock recording the order
    threads: tuple[tuple[OpSpec, ...], ...]

    def spec(self, key: tuple[int, int]) -> OpSpec:
        return self.threads[key[0]][key[1]]


def op_specs(var_ids: list[int], failures: bool):
    def var_lists(max_size):
        if not var_ids:  # a thread that owns no var pushes operations using none
            return st.just(())
        return st.lists(st.sampled_from(var_ids), max_size=max_size).map(tuple)

    return st.builds(
        OpSpec,
        reads=var_lists(4),
        writes=var_lists(3),
        sleep_us=st.integers(0, 1000),
        place=st.integers(0, len(PLACES) - 1),
        priority=st.integers(-2, 2),
        fails=st.integers(0, 4).map(lambda x: x == 0) if failures else st.just(False),
    )


@st.composite
def scenarios(draw, failures: bool = False, max_ops: int = MAX_OPS_PER_THREAD):
    num_vars = draw(st.integers(1, MAX_VARS))
    num_threads = draw(st.integers(1, MAX_THREADS))
    shared = draw(st.booleans())
    threads = []
    for t in range(num_threads):
        owned = list(range(num_vars)) if shared else \
            [v for v in range(num_vars) if v % num_threads == t]
        threads.append(tuple(draw(st.lists(op_specs(owned, failures), max_size=max_ops))))
    return Scenario(num_vars, shared, tuple(threads))


def initial_value(v: int) -> int:
    return 1000 + v


def mix(key: tuple[int, int], var: int, inputs: tuple[tuple[int, int], ...]) -> int:
    return zlib.crc32(repr((key, var, inputs)).encode())


def failure_message(key: tuple[int, int]) -> str:
    return f"failure of {key[0]}-{key[1]}"


def conflicts(a: OpSpec, b: OpSpec) -> bool:
    wa, wb = set(a.writes), set(b.writes)
    return bool(wa & (set(b.reads) | wb) or wb & set(a.reads))


# --- the reference ---------------------------------------------------------------------------


def run_sequentially(sc: Scenario, order: list[tuple[int, int]]):
    """-> (state, ran): state[v] is ("ok", value) or ("err", the set of operations whose
    failure may have reached v: an operation reading several failed vars inherits one of
    their errors); ran is the set of operations that run rather than being skipped."""
    state = {v: ("ok", initial_value(v)) for v in range(sc.num_vars)}
    ran = set()
    for key in order:
        spec = sc.spec(key)
        reads, writes = sorted(set(spec.reads)), sorted(set(spec.writes))
        failed = [state[r][1] for r in reads if state[r][0] == "err"]
        if failed:
            origins = frozenset().union(*failed)
            for w in writes:
                state[w] = ("err", origins)
            continue
        ran.add(key)
        if spec.fails:
            for w in writes:
                state[w] = ("err", frozenset([key]))
            continue
        inputs = tuple((r, state[r][1]) for r in reads)
        for w in writes:
            state[w] = ("ok", mix(key, w, inputs))
    return state, ran


# --- the engine ------------------------------------------------------------------------------


def run_on_engine(sc: Scenario):
    """Pushes the scenario from one thread per operation list. -> (order, values, errors,
    spans, runs, versions)."""
    vars_ = [E.Var() for _ in range(sc.num_vars)]
    values = {v: initial_value(v) for v in range(sc.num_vars)}
    spans: dict[tuple[int, int], tuple[int, int]] = {}
    runs: dict[tuple[int, int], int] = {}
    clock = itertools.count()  # next() on it is atomic under the GIL
    order: list[tuple[int, int]] = []
    order_lock = threading.Lock()
    start = threading.Barrier(len(sc.threads), timeout=HANG_GUARD)
    thread_errors: list[BaseException] = []

    def make_op(key, spec):
        def op():
            begin = next(clock)
            runs[key] = runs.get(key, 0) + 1
            inputs = tuple((r, values[r]) for r in sorted(set(spec.reads)))
            if spec.sleep_us:
                time.sleep(spec.sleep_us / 1e6)
            if spec.fails:
                spans[key] = (begin, next(clock))
                raise RuntimeError(failure_message(key))
            for w in sorted(set(spec.writes)):
                values[w] = mix(key, w, inputs)
            spans[key] = (begin, next(clock))
        return op

    def push(key):
        spec = sc.spec(key)
        ctx, lane = PLACES[spec.place]
        E.push(make_op(key, spec), reads=[vars_[r] for r in spec.reads],
               writes=[vars_[w] for w in spec.writes], ctx=ctx, lane=lane,
               priority=spec.priority, name=OP_NAME)

    def pusher(t):
        try:
            start.wait()
            for j in range(len(sc.threads[t])):
                if sc.shared:
                    with order_lock:
                        order.append((t, j))
                        push((t, j))
                else:
                    push((t, j))
        except BaseException as e:
            thread_errors.append(e)

    threads = [threading.Thread(target=pusher, args=(t,)) for t in range(len(sc.threads))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG_GUARD)
        assert not t.is_alive(), "a pushing thread hung"
    assert not thread_errors, thread_errors
    if not sc.shared:
        # Threads share no var: their own push orders make up a valid global order.
        order = [(t, j) for t, ops in enumerate(sc.threads) for j in range(len(ops))]

    done = threading.Event()
    waiter = threading.Thread(target=lambda: (E.wait_all(), done.set()), daemon=True)
    waiter.start()
    assert done.wait(HANG_GUARD), "wait_all hung"

    errors = {}
    for v, var in enumerate(vars_):
        try:
            E.wait(var)
        except mx.MXNetError as e:
            errors[v] = e
    versions = [var.version for var in vars_]
    del vars_
    gc.collect()  # on this thread, with no push in flight
    return order, values, errors, spans, runs, versions


def check_scenario(sc: Scenario, check_versions: bool) -> None:
    order, values, errors, spans, runs, versions = run_on_engine(sc)
    state, ran = run_sequentially(sc, order)

    def origin(err: mx.MXNetError):
        assert err.op_name == OP_NAME, err
        for key in order:
            if err.op_message == f"RuntimeError: {failure_message(key)}":
                return key
        raise AssertionError(f"unexpected error {err}")

    observed = {}
    for v in range(sc.num_vars):
        if v in errors:
            key = origin(errors[v])
            possible = state[v][1] if state[v][0] == "err" else frozenset()
            observed[v] = ("err", possible if key in possible else frozenset([key]))
        else:
            observed[v] = ("ok", values[v])
    assert observed == state
    assert set(runs) == ran
    assert set(runs.values()) <= {1}

    # Happens-before: a conflicting pair runs in push order, the later one starting only
    # after the earlier one ended.
    for i, a in enumerate(order):
        for b in order[i + 1:]:
            if a in spans and b in spans and conflicts(sc.spec(a), sc.spec(b)):
                assert spans[a][1] < spans[b][0], (a, b, sc.spec(a), sc.spec(b))

    if check_versions:
        expected = [sum(v in set(spec.writes) for ops in sc.threads for spec in ops)
                    for v in range(sc.num_vars)]
        assert versions == expected


COMMON = dict(deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(max_examples=60, **COMMON)
@given(scenarios())
def test_random_graphs_match_sequential_execution(sc):
    check_scenario(sc, check_versions=True)


@settings(max_examples=60, **COMMON)
@given(scenarios(failures=True))
def test_random_graphs_with_failures_match_sequential_execution(sc):
    check_scenario(sc, check_versions=False)


def test_sequential_reference_agrees_with_a_hand_computed_case():
    # The oracle itself, on a case small enough to follow by hand.
    a, b = 0, 1
    sc = Scenario(2, True, ((
        OpSpec(reads=(), writes=(a,), sleep_us=0, place=0, priority=0, fails=False),
        OpSpec(reads=(a, a), writes=(b, a), sleep_us=0, place=0, priority=0, fails=False),
        OpSpec(reads=(b,), writes=(a,), sleep_us=0, place=0, priority=0, fails=True),
        OpSpec(reads=(a,), writes=(b,), sleep_us=0, place=0, priority=0, fails=False),
    ),))
    order = [(0, 0), (0, 1), (0, 2), (0, 3)]
    state, ran = run_sequentially(sc, order)
    assert state == {a: ("err", frozenset([(0, 2)])), b: ("err", frozenset([(0, 2)]))}
    assert ran == {(0, 0), (0, 1), (0, 2)}


def naive_engine_property() -> None:
    """The same properties, smaller, for a process whose engine is the NaiveEngine."""
    assert E.engine_type() == "NaiveEngine"
    small = dict(COMMON, max_examples=15)

    @settings(**small)
    @given(scenarios(max_ops=6))
    def plain(sc):
        check_scenario(sc, check_versions=True)

    @settings(**small)
    @given(scenarios(failures=True, max_ops=6))
    def with_failures(sc):
        check_scenario(sc, check_versions=False)

    plain()
    with_failures()
    print(json.dumps("passed"))


def test_random_graphs_under_the_naive_engine(run_python):
    proc = run_python(
        "import test_engine_randomized as t; t.naive_engine_property()",
        env={"FLOWMOD_ENGINE_TYPE": "NaiveEngine"}, timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split() == ['"passed"']
