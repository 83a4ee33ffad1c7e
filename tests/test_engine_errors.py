"""Failures: how a failing operation's error travels to the operations and waits after it,
and how bad arguments are refused before anything reaches the engine."""
from __future__ import annotations

import gc
import threading

import pytest

import flowmod as mx
from conftest import HANG_GUARD, bounded

E = mx.engine


def raiser(message: str, exc_type=ValueError):
    def op():
        raise exc_type(message)
    return op


def error_of(var) -> mx.MXNetError:
    with pytest.raises(mx.MXNetError) as info:
        bounded(E.wait, var)
    return info.value


def total_pushed() -> int:
    return sum(lane.pushed for lane in E.stats().lanes)


# --- what a failure looks like ---------------------------------------------------------------


def test_wait_raises_mxnet_error_naming_the_failed_operation():
    v = E.Var()
    E.push(raiser("bad input"), writes=[v], name="A")
    err = error_of(v)
    assert err.op_name == "A"
    assert "bad input" in err.op_message
    assert str(err) == f"operator 'A' failed: {err.op_message}"


def test_error_message_carries_the_exception_type_and_text():
    v = E.Var()
    E.push(raiser("shape mismatch", KeyError), writes=[v], name="A")
    assert error_of(v).op_message == "KeyError: 'shape mismatch'"


def test_mxnet_error_is_a_runtime_error():
    v = E.Var()
    E.push(raiser("x"), writes=[v])
    assert isinstance(error_of(v), RuntimeError)


def test_default_operation_name_is_the_callables_qualified_name():
    v = E.Var()

    def failing_step():
        raise ValueError("nope")

    E.push(failing_step, writes=[v])
    assert error_of(v).op_name == failing_step.__qualname__


def test_operation_name_of_a_callable_object_is_its_type_name():
    class Step:
        def __call__(self):
            raise ValueError("nope")

    v = E.Var()
    E.push(Step(), writes=[v])
    assert error_of(v).op_name == "Step"


def test_native_fail_op_fails_its_writes():
    v = E.Var()
    E.push_native(E.NativeOp.fail("native boom"), writes=[v])
    err = error_of(v)
    assert (err.op_name, err.op_message) == ("fail", "native boom")
    assert str(err) == "operator 'fail' failed: native boom"


def test_native_op_reports_its_name():
    assert [E.NativeOp.noop().name, E.NativeOp.sleep(0).name, E.NativeOp.fail("m").name] == \
        ["noop", "sleep", "fail"]
    assert repr(E.NativeOp.noop()) == "<NativeOp noop>"


def test_system_exit_in_an_operation_fails_the_operation_only():
    v = E.Var()
    E.push(raiser("3", SystemExit), writes=[v], name="exits")
    err = error_of(v)
    assert err.op_name == "exits"
    assert "SystemExit" in err.op_message


def test_exception_whose_str_raises_still_fails_the_operation():
    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError("no str for you")

    def op():
        raise Unprintable()

    v = E.Var()
    E.push(op, writes=[v], name="unprintable")
    assert error_of(v).op_name == "unprintable"
    w = E.Var()
    E.push(lambda: None, writes=[w])
    bounded(E.wait, w)


def test_failure_leaves_reads_of_the_failed_operation_valid():
    a, out = E.Var(), E.Var()
    E.push(lambda: None, writes=[a])
    E.push(raiser("x"), reads=[a], writes=[out])
    error_of(out)
    bounded(E.wait, a)  # only what the failed operation writes is failed


def test_failure_marks_every_var_the_operation_writes():
    vs = [E.Var() for _ in range(3)]
    E.push(raiser("many"), writes=vs, name="multi")
    assert [error_of(v).op_name for v in vs] == ["multi"] * 3


# --- error chains ----------------------------------------------------------------------------


def test_error_chain_skips_dependents_and_names_the_origin():
    a_out, b_out, c_out = E.Var(), E.Var(), E.Var()
    ran = []
    E.push(raiser("A exploded"), writes=[a_out], name="A")
    E.push(lambda: ran.append("B"), reads=[a_out], writes=[b_out], name="B")
    E.push(lambda: ran.append("C"), reads=[b_out], writes=[c_out], name="C")
    for var in (a_out, b_out, c_out):
        err = error_of(var)
        assert (err.op_name, "A exploded" in err.op_message) == ("A", True)
    assert ran == []


def test_skipped_operation_does_not_run_even_if_it_reads_other_valid_vars():
    good, bad, out = E.Var(), E.Var(), E.Var()
    ran = []
    E.push(lambda: None, writes=[good])
    E.push(raiser("x"), writes=[bad], name="origin")
    E.push(lambda: ran.append(1), reads=[good, bad], writes=[out])
    assert error_of(out).op_name == "origin"
    assert ran == []


def test_read_of_failed_var_without_writes_is_skipped():
    bad = E.Var()
    ran = []
    E.push(raiser("x"), writes=[bad])
    E.push(lambda: ran.append(1), reads=[bad])
    bounded(E.wait_all)
    assert ran == []


def test_read_and_write_of_failed_var_is_skipped_and_keeps_the_error():
    v = E.Var()
    ran = []
    E.push(raiser("first"), writes=[v], name="origin")
    E.push(lambda: ran.append(1), reads=[v], writes=[v], name="update")
    assert error_of(v).op_name == "origin"
    assert ran == []


def test_native_failure_chain_skips_python_dependents():
    a, b = E.Var(), E.Var()
    ran = []
    E.push_native(E.NativeOp.fail("native"), writes=[a])
    E.push(lambda: ran.append(1), reads=[a], writes=[b])
    assert error_of(b).op_name == "fail"
    assert ran == []


# --- recovery --------------------------------------------------------------------------------


def test_later_pure_write_clears_the_failure():
    v = E.Var()
    E.push(raiser("x"), writes=[v])
    E.push(lambda: None, writes=[v])
    bounded(E.wait, v)
    seen = []
    E.push(lambda: seen.append("read"), reads=[v])
    bounded(E.wait_all)
    assert seen == ["read"]


def test_later_write_clears_a_native_failure():
    v = E.Var()
    E.push_native(E.NativeOp.fail("x"), writes=[v])
    error_of(v)
    E.push_native(E.NativeOp.noop(), writes=[v])
    bounded(E.wait, v)


def test_later_failure_replaces_an_earlier_one():
    v = E.Var()
    E.push(raiser("first"), writes=[v], name="one")
    E.push(raiser("second"), writes=[v], name="two")
    err = error_of(v)
    assert (err.op_name, "second" in err.op_message) == ("two", True)


def test_wait_raises_again_until_cleared():
    v = E.Var()
    E.push(raiser("x"), writes=[v], name="sticky")
    assert [error_of(v).op_name for _ in range(3)] == ["sticky"] * 3


def test_engine_keeps_running_after_failures():
    for i in range(20):
        E.push(raiser(f"f{i}"), writes=[E.Var()])
        E.push_native(E.NativeOp.fail(f"n{i}"), writes=[E.Var()])
    v = E.Var()
    out = []
    E.push(lambda: out.append(1), writes=[v])
    E.push(lambda: out.append(out[-1] + 1), reads=[v], writes=[v])
    bounded(E.wait, v)
    assert out == [1, 2]


def test_wait_all_does_not_raise_for_failures():
    v = E.Var()
    E.push(raiser("x"), writes=[v])
    bounded(E.wait_all)
    error_of(v)


# --- on_complete -----------------------------------------------------------------------------


def test_on_complete_receives_the_error():
    v = E.Var()
    got = []
    done = threading.Event()
    E.push(raiser("for the callback"), writes=[v], name="cb_origin")
    E.on_complete(v, lambda err: (got.append(err), done.set()))
    assert done.wait(HANG_GUARD)
    (err,) = got
    assert isinstance(err, mx.MXNetError)
    assert (err.op_name, "for the callback" in err.op_message) == ("cb_origin", True)


def test_on_complete_receives_the_inherited_error_of_a_skipped_write():
    a, b = E.Var(), E.Var()
    got = []
    E.push_native(E.NativeOp.fail("deep"), writes=[a])
    E.push(lambda: None, reads=[a], writes=[b])
    E.on_complete(b, got.append)
    bounded(E.wait_all)
    assert [(e.op_name, e.op_message) for e in got] == [("fail", "deep")]


def test_on_complete_receives_none_after_success():
    v = E.Var()
    got = []
    E.push(lambda: None, writes=[v])
    E.on_complete(v, got.append)
    bounded(E.wait_all)
    assert got == [None]


def test_exception_in_callback_goes_to_unraisablehook(monkeypatch):
    seen = []
    monkeypatch.setattr("sys.unraisablehook", lambda u: seen.append(type(u.exc_value)))
    v = E.Var()

    def callback(err):
        raise ZeroDivisionError("callback bug")

    E.on_complete(v, callback)
    bounded(E.wait_all)
    assert seen == [ZeroDivisionError]
    E.push(lambda: None, writes=[v])  # the engine is unaffected
    bounded(E.wait, v)


# --- counters --------------------------------------------------------------------------------


def test_stats_count_failed_and_skipped_operations():
    ctx = mx.cpu(5)
    before = E.stats().lane(ctx)
    a, b, c = E.Var(), E.Var(), E.Var()
    E.push(raiser("x"), writes=[a], ctx=ctx)
    E.push_native(E.NativeOp.fail("y"), writes=[b], ctx=ctx)
    E.push(lambda: None, reads=[a], writes=[c], ctx=ctx)
    E.push_native(E.NativeOp.noop(), reads=[b, c], ctx=ctx)
    E.push(lambda: None, writes=[a], ctx=ctx)
    bounded(E.wait_all)
    after = E.stats().lane(ctx)
    assert (after.pushed - before.pushed, after.completed - before.completed,
            after.failed - before.failed, after.skipped - before.skipped) == (5, 1, 2, 2)


def test_failed_operations_are_in_the_latency_histogram():
    before = {h.name: h.count for h in E.stats().op_latency}.get("fails_timed", 0)
    for _ in range(3):
        E.push(raiser("x"), writes=[E.Var()], name="fails_timed")
    bounded(E.wait_all)
    after = {h.name: h.count for h in E.stats().op_latency}["fails_timed"]
    assert after - before == 3


# --- bad arguments ---------------------------------------------------------------------------


def _noop():
    return None


BAD_PUSHES = [
    pytest.param(lambda v: E.push(42, writes=[v]), mx.MXNetError, "fn=42", id="fn-not-callable"),
    pytest.param(lambda v: E.push(_noop, reads=5, writes=[v]), TypeError, "reads=5",
                 id="reads-not-a-sequence"),
    pytest.param(lambda v: E.push(_noop, reads=[v, "x"]), TypeError, "reads[1]='x'",
                 id="reads-item-not-a-var"),
    pytest.param(lambda v: E.push(_noop, writes=[v, 3]), TypeError, "writes[1]=3",
                 id="writes-item-not-a-var"),
    pytest.param(lambda v: E.push(_noop, writes=[v], lane="gpu"), mx.MXNetError, "lane='gpu'",
                 id="lane-gpu"),
    pytest.param(lambda v: E.push(_noop, writes=[v], lane=None), mx.MXNetError, "lane=None",
                 id="lane-none"),
    pytest.param(lambda v: E.push(_noop, writes=[v], priority="x"), mx.MXNetError,
                 "priority='x'", id="priority-str"),
    pytest.param(lambda v: E.push(_noop, writes=[v], priority=2**31), mx.MXNetError,
                 f"priority={2**31}", id="priority-too-big"),
    pytest.param(lambda v: E.push(_noop, writes=[v], priority=True), mx.MXNetError,
                 "priority=True", id="priority-bool"),
    pytest.param(lambda v: E.push(_noop, writes=[v], priority=1.5), mx.MXNetError,
                 "priority=1.5", id="priority-float"),
    pytest.param(lambda v: E.push(_noop, writes=[v], ctx=mx.gpu(0)), mx.MXNetError,
                 "ctx=gpu(0)", id="ctx-gpu"),
    pytest.param(lambda v: E.push(_noop, writes=[v], ctx="cpu"), mx.MXNetError, "ctx='cpu'",
                 id="ctx-str"),
    pytest.param(lambda v: E.push_native(E.NativeOp.noop(), writes=[v], ctx=mx.gpu(1)),
                 mx.MXNetError, "ctx=gpu(1)", id="native-ctx-gpu"),
    pytest.param(lambda v: E.push_native(E.NativeOp.noop(), writes=[v], lane="disk"),
                 mx.MXNetError, "lane='disk'", id="native-lane"),
    pytest.param(lambda v: E.push_native(E.NativeOp.noop(), writes=[v, None]), TypeError,
                 "writes[1]=None", id="native-writes-item"),
    pytest.param(lambda v: E.push_native(E.NativeOp.noop(), writes=[v], priority="high"),
                 mx.MXNetError, "priority='high'", id="native-priority"),
    pytest.param(lambda v: E.push_bulk([(E.NativeOp.noop(), [], [v]), ("noop", [], [v])]),
                 TypeError, "ops[1]=('noop'", id="bulk-entry-not-a-nativeop"),
    pytest.param(lambda v: E.push_bulk([(E.NativeOp.noop(), [], [v]),
                                        (E.NativeOp.noop(), [v])]),
                 TypeError, "ops[1]=", id="bulk-entry-wrong-length"),
    pytest.param(lambda v: E.push_bulk([(E.NativeOp.noop(), [], [v]),
                                        (E.NativeOp.noop(), [], [v, 1.0])]),
                 TypeError, "writes[1]=1.0", id="bulk-entry-bad-var"),
    pytest.param(lambda v: E.push_bulk([(E.NativeOp.noop(), [], [v])], ctx=mx.gpu(0)),
                 mx.MXNetError, "ctx=gpu(0)", id="bulk-ctx-gpu"),
]


@pytest.mark.parametrize("bad_push, error, names", BAD_PUSHES)
def test_bad_argument_raises_before_anything_is_pushed(bad_push, error, names):
    v = E.Var()
    # Dropping a Var pushes its deletion: keep the collector from doing so mid-count.
    gc.collect()
    gc.disable()
    try:
        before = total_pushed()
        with pytest.raises(error) as info:
            bad_push(v)
        bounded(E.wait_all)
        after = total_pushed()
    finally:
        gc.enable()
    assert names in str(info.value)
    assert after == before
    assert v.version == 0


def test_gpu_push_names_the_missing_gpu_support():
    with pytest.raises(mx.MXNetError, match="no GPU support"):
        E.push(_noop, ctx=mx.gpu(0))


def test_num_workers_of_a_gpu_raises():
    with pytest.raises(mx.MXNetError, match=r"ctx=gpu\(0\)"):
        E.num_workers(mx.gpu(0))


def test_num_workers_of_an_unknown_lane_raises():
    with pytest.raises(mx.MXNetError, match="lane='io'"):
        E.num_workers(mx.cpu(0), "io")


def test_on_complete_with_a_non_callable_raises():
    with pytest.raises(TypeError, match="callback=7"):
        E.on_complete(E.Var(), 7)


def test_wait_on_a_non_var_raises_type_error():
    with pytest.raises(TypeError):
        E.wait("v")


def test_native_sleep_rejects_a_negative_duration_with_mxnet_error():
    with pytest.raises(mx.MXNetError, match="seconds=-1"):
        E.NativeOp.sleep(-1.0)


def test_error_names_the_operation_however_many_names_were_used(run_python):
    # Operation names are interned for the latency histograms, which have a bounded number
    # of entries; the error must still carry the name the operation was pushed with.
    code = """
    import flowmod as mx
    E = mx.engine
    v = E.Var()
    for i in range(5000):
        E.push(lambda: None, writes=[v], name=f"step{i}")
    def fail():
        raise ValueError("late")
    E.push(fail, writes=[v], name="step-5000")
    try:
        E.wait(v)
    except mx.MXNetError as e:
        print(e.op_name)
    """
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "step-5000"
