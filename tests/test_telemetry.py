"""flowmod.telemetry: the engine collector, the training reporter and the endpoints, read
back through Prometheus's own text parser."""
from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import threading
import time
import urllib.request
import wsgiref.util

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import flowmod as mx
from flowmod import engine, telemetry
from flowmod.base import MXNetError
from flowmod.model import BatchEndParam

from conftest import HANG_GUARD

CPU0 = {"device": "cpu(0)", "lane": "compute"}


def parse(text: str) -> dict:
    """{(sample name, frozenset of labels): value} of an exposition text."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def scrape(registry) -> dict:
    return parse(generate_latest(registry).decode())


def value(samples: dict, name: str, **labels) -> float:
    return samples[(name, frozenset(labels.items()))]


def value_before(samples: dict, name: str, **labels) -> float:
    """A value from a scrape taken before the test's work: 0 for a lane not used yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def registry():
    reg = CollectorRegistry()
    telemetry.enable(reg)
    return reg


def quiet_engine():
    """Lets garbage-collected arrays push their frees now, so counts move only by the test's
    own operations."""
    gc.collect()
    engine.wait_all()


def mlp():
    h = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=8, name="fc0")
    h = mx.sym.Activation(h, act_type="relu")
    return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=3, name="out"),
                                name="softmax")


def data(n=200, batch=20, **kwargs):
    rng = np.random.default_rng(0)
    x = rng.random((n, 10), dtype=np.float32)
    y = rng.integers(0, 3, n).astype(np.float32)
    return mx.io.NDArrayIter(x, y, batch_size=batch, **kwargs)


# ---- off by default --------------------------------------------------------------------------
def test_importing_flowmod_loads_no_prometheus_client_and_starts_nothing(run_python):
    res = run_python("""
        import sys, threading
        import flowmod
        assert "prometheus_client" not in sys.modules, "prometheus_client imported"
        assert threading.active_count() == 1, threading.enumerate()
        import prometheus_client
        names = [n for n in prometheus_client.REGISTRY._names_to_collectors
                 if n.startswith("flowmod")]
        assert names == [], names
        print("ok")
    """)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"


def test_telemetry_names_unknown_attribute():
    with pytest.raises(AttributeError, match="no_such_name"):
        telemetry.no_such_name  # noqa: B018


def test_enable_registers_once_per_registry(registry):
    first = telemetry.enable(registry)
    assert telemetry.enable(registry) is first
    names = [f.name for f in text_string_to_metric_families(generate_latest(registry).decode())]
    assert names.count("flowmod_engine_ops_pushed") == 1


def test_enable_rejects_a_registry_of_the_wrong_type():
    with pytest.raises(TypeError, match="registry="):
        telemetry.enable(registry="default")


# ---- the engine collector --------------------------------------------------------------------
def test_pushed_and_completed_count_each_operation(registry):
    quiet_engine()
    before = scrape(registry)
    # Held until after the scrape: dropping a var pushes its deletion, an operation too.
    held = [engine.Var() for _ in range(5)]
    for v in held:
        engine.push_native(engine.NativeOp.noop(), [], [v])
    engine.wait_all()
    after = scrape(registry)
    for name in ("flowmod_engine_ops_pushed_total", "flowmod_engine_ops_completed_total"):
        assert value(after, name, **CPU0) - value_before(before, name, **CPU0) == 5


def test_queue_depth_and_running_rise_with_pushed_work_then_completed(registry):
    quiet_engine()
    workers = engine.num_workers()
    before = scrape(registry)
    held = [engine.Var() for _ in range(workers + 3)]  # dropped vars would add deletions
    gate = held[0]
    # Every worker held by a sleep, two more operations ready behind them, and one waiting
    # for the first sleep's var.
    # Long enough that every worker is still in its sleep when the last one starts, on a
    # machine whose other work delays a worker's start by a second or more.
    for v in held[:workers]:
        engine.push_native(engine.NativeOp.sleep(4.0), [], [v])
    for v in held[workers:workers + 2]:
        engine.push_native(engine.NativeOp.noop(), [], [v])
    engine.push_native(engine.NativeOp.noop(), [gate], [held[-1]])

    deadline = time.monotonic() + HANG_GUARD
    while True:
        during = scrape(registry)
        if value(during, "flowmod_engine_ops_running", **CPU0) == workers:
            break
        assert time.monotonic() < deadline, "the workers never all started"
        time.sleep(0.01)
    assert value(during, "flowmod_engine_queue_depth", state="ready", **CPU0) == 2
    assert value(during, "flowmod_engine_queue_depth", state="waiting", **CPU0) == 1
    assert (value(during, "flowmod_engine_ops_completed_total", **CPU0)
            == value_before(before, "flowmod_engine_ops_completed_total", **CPU0))

    engine.wait_all()
    after = scrape(registry)
    for state in ("ready", "waiting"):
        assert value(after, "flowmod_engine_queue_depth", state=state, **CPU0) == 0
    assert value(after, "flowmod_engine_ops_running", **CPU0) == 0
    assert (value(after, "flowmod_engine_ops_completed_total", **CPU0)
            - value_before(before, "flowmod_engine_ops_completed_total", **CPU0)) == workers + 3


def test_failed_and_skipped_operations_are_counted(registry):
    quiet_engine()
    before = scrape(registry)
    bad, out = engine.Var(), engine.Var()  # held until the scrape, as their deletions count
    engine.push_native(engine.NativeOp.fail("broken"), [], [bad])
    engine.push_native(engine.NativeOp.noop(), [bad], [out])
    engine.wait_all()
    after = scrape(registry)
    for name in ("flowmod_engine_ops_failed_total", "flowmod_engine_ops_skipped_total"):
        assert value(after, name, **CPU0) - value_before(before, name, **CPU0) == 1


def test_op_duration_histogram_is_the_engines_cumulated(registry):
    for _ in range(3):
        engine.push_native(engine.NativeOp.sleep(0.002), [], [engine.Var()])
    engine.wait_all()
    samples = scrape(registry)
    stats = next(op for op in engine.stats().op_latency if op.name == "sleep")
    buckets = sorted(((float(dict(labels)["le"]), v) for (name, labels), v in samples.items()
                      if name == "flowmod_engine_op_duration_seconds_bucket"
                      and dict(labels)["op"] == "sleep"))
    assert [b for b, _ in buckets] == sorted(stats.bucket_bounds)
    assert [v for _, v in buckets] == list(np.cumsum(stats.bucket_counts))
    assert value(samples, "flowmod_engine_op_duration_seconds_count", op="sleep") == stats.count
    assert value(samples, "flowmod_engine_op_duration_seconds_sum", op="sleep") == \
        pytest.approx(stats.sum_seconds)
    assert stats.count >= 3 and stats.sum_seconds >= 0.006


def test_storage_bytes_are_the_host_pools(registry):
    quiet_engine()
    keep = mx.nd.zeros((1 << 18,))
    keep.wait_to_read()
    samples = scrape(registry)
    in_use, pooled = mx._native.storage_bytes()
    assert value(samples, "flowmod_storage_in_use_bytes", device="cpu") == in_use
    assert value(samples, "flowmod_storage_pooled_bytes", device="cpu") == pooled
    assert in_use >= keep.size * 4


def test_workers_and_engine_kind_are_reported(registry):
    engine.push_native(engine.NativeOp.noop(), [], [engine.Var()])
    engine.wait_all()
    samples = scrape(registry)
    assert value(samples, "flowmod_engine_workers", **CPU0) == engine.num_workers()
    assert value(samples, "flowmod_engine_info", engine_type=engine.engine_type()) == 1


def test_metric_names_follow_prometheus_conventions(registry):
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    reporter = telemetry.PrometheusReporter("conventions", registry=registry)
    mod.fit(data(), num_epoch=1, eval_data=data(), **reporter.callbacks())
    assert reporter.flush(HANG_GUARD)
    families = list(text_string_to_metric_families(generate_latest(registry).decode()))
    assert {f.name for f in families} >= {
        "flowmod_engine_ops_pushed", "flowmod_engine_ops_completed", "flowmod_engine_ops_failed",
        "flowmod_engine_queue_depth", "flowmod_engine_ops_running",
        "flowmod_engine_op_duration_seconds", "flowmod_storage_in_use_bytes",
        "flowmod_storage_pooled_bytes", "flowmod_training_samples", "flowmod_training_batches",
        "flowmod_training_batch_duration_seconds", "flowmod_training_epoch",
        "flowmod_training_metric", "flowmod_evaluation_metric"}
    for family in families:
        assert family.name.startswith("flowmod_"), family.name
        for s in family.samples:
            if family.type == "counter" and not s.name.endswith("_created"):
                assert s.name.endswith("_total"), s.name
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
        if "bytes" in family.name:
            assert family.name.endswith("_bytes"), family.name
        for s in family.samples:
            assert set(s.labels) <= {"device", "lane", "state", "op", "module", "metric", "le",
                                     "engine_type", "iterator"}, s.labels


# ---- the endpoints ---------------------------------------------------------------------------
def test_http_server_listens_on_loopback_by_default(registry):
    server, thread = telemetry.start_http_server(0, registry=registry)
    try:
        assert server.server_address[0] == "127.0.0.1"
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=HANG_GUARD) as response:
            samples = parse(response.read().decode())
        assert value(samples, "flowmod_engine_ops_pushed_total", **CPU0) > 0
    finally:
        server.shutdown()
        server.server_close()
        thread.join(HANG_GUARD)


@pytest.mark.parametrize("port", [-1, 65536, "8000", 1.5, True])
def test_start_http_server_rejects_a_bad_port(port):
    with pytest.raises(ValueError, match="port="):
        telemetry.start_http_server(port)


def test_wsgi_app_serves_the_metrics(registry):
    app = telemetry.make_wsgi_app(registry)
    environ = {"PATH_INFO": "/metrics", "REQUEST_METHOD": "GET", "QUERY_STRING": ""}
    wsgiref.util.setup_testing_defaults(environ)
    status = []
    body = b"".join(app(environ, lambda s, headers: status.append(s)))
    assert status[0].startswith("200")
    assert ("flowmod_engine_ops_pushed_total", frozenset(CPU0.items())) in parse(body.decode())


def test_asgi_app_serves_the_metrics(registry):
    app = telemetry.make_asgi_app(registry)
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/metrics", "query_string": b"",
             "headers": []}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 200
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert ("flowmod_engine_ops_pushed_total", frozenset(CPU0.items())) in parse(body.decode())


# ---- the training reporter -------------------------------------------------------------------
def test_reporter_counts_every_sample_and_batch_of_fit(registry):
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    reporter = telemetry.PrometheusReporter("count", registry=registry)
    mod.fit(data(n=200, batch=20), num_epoch=2, batch_end_callback=reporter)
    assert reporter.flush(HANG_GUARD)
    samples = scrape(registry)
    assert value(samples, "flowmod_training_samples_total", module="count") == 400
    assert value(samples, "flowmod_training_batches_total", module="count") == 20
    # The first batch of each epoch has no start to time it from.
    assert value(samples, "flowmod_training_batch_duration_seconds_count", module="count") == 18
    assert value(samples, "flowmod_training_batch_duration_seconds_sum", module="count") > 0
    assert value(samples, "flowmod_training_epoch", module="count") == 1


def test_reporter_does_not_count_padding(registry):
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    reporter = telemetry.PrometheusReporter("pad", registry=registry)
    mod.fit(data(n=210, batch=20, last_batch_handle="pad"), num_epoch=1,
            batch_end_callback=reporter)
    assert reporter.flush(HANG_GUARD)
    samples = scrape(registry)
    assert value(samples, "flowmod_training_samples_total", module="pad") == 210
    assert value(samples, "flowmod_training_batches_total", module="pad") == 11


def test_reporter_reports_the_epochs_training_and_validation_metrics(registry):
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    reporter = telemetry.PrometheusReporter("metrics", registry=registry)
    train_metric = mx.metric.create(["acc", "ce"])
    # A validation metric of its own: fit would otherwise score with the training one.
    mod.fit(data(), eval_data=data(n=100), eval_metric=train_metric,
            validation_metric=mx.metric.create(["acc", "ce"]), num_epoch=2,
            **reporter.callbacks())
    samples = scrape(registry)
    for name, expected in train_metric.get_global_name_value():
        assert value(samples, "flowmod_training_metric", module="metrics",
                     metric=name) == pytest.approx(expected)
    for name, expected in mod.score(data(n=100), mx.metric.create(["acc", "ce"])):
        assert value(samples, "flowmod_evaluation_metric", module="metrics",
                     metric=name) == pytest.approx(expected)


class CountingAccuracy(mx.metric.Accuracy):
    """Accuracy counting how often its value is read (each reading waits for the engine)."""

    def __init__(self):
        super().__init__()
        self.readings = 0

    def get_global_name_value(self):
        self.readings += 1
        return super().get_global_name_value()


def test_reporter_reads_the_training_metric_only_at_epoch_end_without_an_interval(registry):
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    reporter = telemetry.PrometheusReporter("lazy", registry=registry, metric_interval=None)
    metric = CountingAccuracy()
    mod.fit(data(n=400, batch=10), eval_metric=metric, num_epoch=2, **reporter.callbacks())
    # fit reads it once an epoch; the reporter at the last batch and at the epoch's end.
    assert metric.readings <= 3 * 2


def test_reporter_reads_the_training_metric_at_most_once_an_interval(registry):
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    hourly = CountingAccuracy()
    mod.fit(data(n=400, batch=10), eval_metric=hourly, num_epoch=1,
            batch_end_callback=telemetry.PrometheusReporter("hourly", registry=registry,
                                                            metric_interval=3600))
    always = CountingAccuracy()
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    mod.fit(data(n=400, batch=10), eval_metric=always, num_epoch=1,
            batch_end_callback=telemetry.PrometheusReporter("always", registry=registry,
                                                            metric_interval=1e-9))
    assert hourly.readings <= 2
    assert always.readings >= 39


def test_reporter_records_a_batch_only_when_its_update_has_run(registry):
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    train = data()
    mod.bind(train.provide_data, train.provide_label)
    mod.init_params()
    mod.init_optimizer()
    reporter = telemetry.PrometheusReporter("completion", registry=registry)
    batch = next(iter(train))
    engine.wait_all()
    # Every compute worker held until the checks below: the batch is pushed, and cannot run.
    release = threading.Event()
    for _ in range(engine.num_workers()):
        engine.push(lambda: release.wait(HANG_GUARD), [], [engine.Var()], name="hold")
    deadline = time.monotonic() + HANG_GUARD
    while engine.stats().lane(mx.cpu()).running < engine.num_workers():
        assert time.monotonic() < deadline
        time.sleep(0.001)
    mod.forward_backward(batch)
    mod.update()
    mod.update_metric(mx.metric.create("acc"), batch.label)
    reporter(BatchEndParam(epoch=0, nbatch=0, eval_metric=None,
                           locals={"self": mod, "data_batch": batch}))
    # The callback returned without waiting for the batch: the workers are still asleep.
    assert engine.stats().lane(mx.cpu()).running == engine.num_workers()
    assert value(scrape(registry), "flowmod_training_batches_total", module="completion") == 0
    release.set()
    assert reporter.flush(HANG_GUARD)
    assert value(scrape(registry), "flowmod_training_batches_total", module="completion") == 1


def test_scrapes_during_fit_see_training_and_engine_progress(registry):
    server, thread = telemetry.start_http_server(0, registry=registry)
    url = f"http://127.0.0.1:{server.server_port}/metrics"
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    reporter = telemetry.PrometheusReporter("live", registry=registry)
    errors = []

    def train():
        try:
            mod.fit(data(n=2000, batch=10), eval_data=data(n=100), num_epoch=3,
                    **reporter.callbacks())
        except BaseException as e:  # reported by the test thread
            errors.append(e)

    trainer = threading.Thread(target=train)
    scrapes = []
    try:
        trainer.start()
        deadline = time.monotonic() + HANG_GUARD
        while trainer.is_alive() and time.monotonic() < deadline:
            with urllib.request.urlopen(url, timeout=HANG_GUARD) as response:
                scrapes.append(parse(response.read().decode()))
            time.sleep(0.02)
        trainer.join(HANG_GUARD)
        assert not trainer.is_alive(), "fit did not finish"
        assert not errors, errors
        assert reporter.flush(HANG_GUARD)
        with urllib.request.urlopen(url, timeout=HANG_GUARD) as response:
            scrapes.append(parse(response.read().decode()))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(HANG_GUARD)

    def series(name, **labels):
        return [s.get((name, frozenset(labels.items())), 0.0) for s in scrapes]

    completed = series("flowmod_engine_ops_completed_total", **CPU0)
    trained = series("flowmod_training_samples_total", module="live")
    assert len(scrapes) >= 3
    assert completed == sorted(completed) and completed[-1] > completed[0]
    assert trained == sorted(trained) and trained[-1] == 6000
    assert any(0 < t < 6000 for t in trained[:-1]), "no scrape saw the training under way"
    assert series("flowmod_training_epoch", module="live")[-1] == 2
    assert not math.isnan(series("flowmod_evaluation_metric", module="live",
                                 metric="accuracy")[-1])


# ---- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    ({"name": ""}, "name="),
    ({"name": 3}, "name="),
    ({"batch_size": 0}, "batch_size="),
    ({"batch_size": 2.5}, "batch_size="),
    ({"metric_interval": 0}, "metric_interval="),
    ({"metric_interval": "10"}, "metric_interval="),
])
def test_reporter_rejects_bad_arguments(registry, kwargs, match):
    with pytest.raises(ValueError, match=match):
        telemetry.PrometheusReporter(registry=registry, **kwargs)


def test_reporter_asks_for_batch_size_without_a_data_batch(registry):
    reporter = telemetry.PrometheusReporter("bare", registry=registry)
    with pytest.raises(MXNetError, match="batch_size="):
        reporter(BatchEndParam(epoch=0, nbatch=0, eval_metric=None, locals={}))


def test_reporter_asks_for_the_module_without_one(registry):
    reporter = telemetry.PrometheusReporter("bare", batch_size=4, registry=registry)
    with pytest.raises(MXNetError, match="module="):
        reporter(BatchEndParam(epoch=0, nbatch=0, eval_metric=None, locals={}))


def test_reporter_starts_no_thread_and_goes_with_its_owner(registry):
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    train = data()
    mod.bind(train.provide_data, train.provide_label)
    mod.init_params()
    before = {t.ident for t in threading.enumerate()}
    reporter = telemetry.PrometheusReporter("short-lived", registry=registry)
    mod.fit(train, num_epoch=1, batch_end_callback=reporter)
    assert reporter.flush(HANG_GUARD)
    assert {t.ident for t in threading.enumerate()} <= before
    folding = telemetry.enable(registry).folding
    assert reporter in folding.reporters
    del reporter
    gc.collect()
    assert len(folding.reporters) == 0
    assert value(scrape(registry), "flowmod_training_batches_total", module="short-lived") == 10


def test_folding_times_batches_from_their_start_or_the_previous_end(registry):
    from flowmod.future import Future
    from flowmod.telemetry.reporter import _Tally
    tally = _Tally(telemetry.enable(registry), "fold")

    def resolve(future, end, ok=True):
        if ok:
            future.set_result(None)
        else:
            future.set_exception(MXNetError("failed"))
        future._resolved_at = end  # its end set by hand, as fold reads it

    def batch(start, end, ok=True, samples=10):
        future = Future()
        if end is not None:
            resolve(future, end, ok)
        tally.note(future, start, samples)
        return future

    batch(0.0, 1.0)
    batch(0.5, 1.0005)        # queued behind the first and noted with it: they share
    batch(2.0, 2.5)           # started after the previous ended
    batch(None, 3.0)          # untimed (an epoch's first batch): counted, not timed
    batch(2.9, 3.2)           # could start only when the untimed one ended
    batch(3.1, 3.3, ok=False)  # failed: neither counted nor timed, but it held the engine
    batch(3.2, 3.5)
    waiting = batch(3.4, None)
    batch(3.6, 3.7)           # finished, but behind one that has not: not folded yet
    tally.fold()
    samples = scrape(registry)
    assert value(samples, "flowmod_training_batches_total", module="fold") == 6
    assert value(samples, "flowmod_training_samples_total", module="fold") == 60
    expected = [1.0005 / 2, 1.0005 / 2, 0.5, 0.2, 0.2]
    assert value(samples, "flowmod_training_batch_duration_seconds_count",
                 module="fold") == len(expected)
    assert value(samples, "flowmod_training_batch_duration_seconds_sum",
                 module="fold") == pytest.approx(sum(expected))
    le_half = value(samples, "flowmod_training_batch_duration_seconds_bucket", module="fold",
                    le="0.4096")
    assert le_half == 2  # the two 0.2 s batches; 0.5 s ones fall in the next bucket
    resolve(waiting, 3.65)
    tally.fold()
    samples = scrape(registry)
    assert value(samples, "flowmod_training_batches_total", module="fold") == 8
    assert value(samples, "flowmod_training_batch_duration_seconds_count",
                 module="fold") == len(expected) + 2


FORK_SCRIPT = """
import json, os
from prometheus_client import CollectorRegistry
import flowmod as mx
from flowmod import telemetry
from flowmod.future import Future
from test_telemetry import data, mlp
registry = CollectorRegistry()
reporter = telemetry.PrometheusReporter("forked", registry=registry)
mod = mx.mod.Module(mlp(), context=mx.cpu())
mod.fit(data(n=100), num_epoch=1, batch_end_callback=reporter)  # 5 batches
assert reporter.flush(30)
held = Future()
# A batch still running at the fork: the child never sees it end.
reporter._tally.note(held, None, 20)
def batches():
    return registry.get_sample_value("flowmod_training_batches_total", {"module": "forked"})
pid = os.fork()
if pid == 0:
    try:
        mod.fit(data(n=60), num_epoch=1, batch_end_callback=reporter)  # 3 batches
        print("child " + json.dumps([reporter.flush(30), batches()]), flush=True)
    finally:
        os._exit(0)
os.waitpid(pid, 0)
held.set_result(None)
assert reporter.flush(30)
print("parent " + json.dumps(batches()))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_counts_its_own_batches_not_its_parents_unfinished_ones(run_python):
    proc = run_python(FORK_SCRIPT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    # The child starts from the parent's recorded 5 and adds its 3, not waiting behind the
    # batch the parent had in flight; the parent records that one once it ends.
    assert json.loads(lines["child"]) == [True, 8.0]
    assert json.loads(lines["parent"]) == 6.0


def test_scrapes_record_finished_batches_without_a_flush(registry):
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    reporter = telemetry.PrometheusReporter("unflushed", registry=registry)
    mod.fit(data(), num_epoch=1, batch_end_callback=reporter)
    engine.wait_all()
    deadline = time.monotonic() + HANG_GUARD
    # The callback thread notes each batch after the engine finishes it.
    while time.monotonic() < deadline and value(
            scrape(registry), "flowmod_training_batches_total", module="unflushed") < 10:
        time.sleep(0.01)
    assert value(scrape(registry), "flowmod_training_batches_total", module="unflushed") == 10


def test_reporter_times_batches_by_their_update_future(registry):
    from flowmod.future import Future
    reporter = telemetry.PrometheusReporter("futures", registry=registry, batch_size=8)
    first, second, failed = Future(), Future(), Future()
    for nbatch, upd in enumerate((first, second, failed)):
        reporter(BatchEndParam(epoch=0, nbatch=nbatch, eval_metric=None,
                               locals={"upd": upd, "self": None}))
    # Pending futures: nothing is recorded, and a flush with a timeout says so.
    assert not reporter.flush(0.05)
    assert value(scrape(registry), "flowmod_training_batches_total", module="futures") == 0
    first.set_result(None)
    assert value(scrape(registry), "flowmod_training_batches_total", module="futures") == 1
    assert not reporter.flush(0.0)
    second.set_result(None)
    failed.set_exception(MXNetError("the update failed"))
    assert reporter.flush(HANG_GUARD)
    samples = scrape(registry)
    # The failed batch processed nothing; the first is not timed (the epoch's first batch).
    assert value(samples, "flowmod_training_batches_total", module="futures") == 2
    assert value(samples, "flowmod_training_samples_total", module="futures") == 16
    assert value(samples, "flowmod_training_batch_duration_seconds_count",
                 module="futures") == 1
    assert 0 <= value(samples, "flowmod_training_batch_duration_seconds_sum",
                      module="futures") <= second._resolved_at - first._resolved_at + 1e-3
