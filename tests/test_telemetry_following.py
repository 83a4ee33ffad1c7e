"""Telemetry that follows fit, fit_async and score by itself while a metrics endpoint is served,
read back through Prometheus's own text parser."""
from __future__ import annotations

import asyncio
import gc

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import flowmod as mx
from flowmod import telemetry
from flowmod.base import MXNetError
from flowmod.telemetry import following

from conftest import HANG_GUARD


def scrape(registry) -> dict:
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def modules_reported(samples) -> set:
    return {dict(labels)["module"] for (name, labels) in samples
            if name == "flowmod_training_batches_total"}


def mlp():
    h = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=8, name="fc0")
    h = mx.sym.Activation(h, act_type="relu")
    return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=3, name="out"),
                                name="softmax")


def data(n=200, batch=20):
    rng = np.random.default_rng(0)
    x = rng.random((n, 10), dtype=np.float32)
    y = rng.integers(0, 3, n).astype(np.float32)
    return mx.io.NDArrayIter(x, y, batch_size=batch)


def flush(mod):
    for reporter in mod.__dict__.get("_telemetry_reporters", {}).values():
        assert reporter.flush(HANG_GUARD)


@pytest.fixture(autouse=True)
def no_endpoints():
    saved = list(following._endpoints)
    following._endpoints.clear()
    yield
    following._endpoints[:] = saved


@pytest.fixture
def served():
    """A registry served over HTTP on a loopback port for the test's length."""
    registry = CollectorRegistry()
    server, thread = telemetry.start_http_server(0, registry=registry)
    yield registry
    server.shutdown()
    server.server_close()
    thread.join(HANG_GUARD)


def test_fit_reports_samples_batches_epoch_and_metrics_by_itself(served):
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    metric = mx.metric.create("acc")
    # A validation metric of its own: fit would otherwise score with the training one.
    mod.fit(data(n=200, batch=20), eval_data=data(n=60), eval_metric=metric,
            validation_metric=mx.metric.create("acc"), num_epoch=2)
    flush(mod)
    samples = scrape(served)
    assert value(samples, "flowmod_training_samples_total", module="softmax") == 400
    assert value(samples, "flowmod_training_batches_total", module="softmax") == 20
    assert value(samples, "flowmod_training_batch_duration_seconds_count", module="softmax") == 18
    assert value(samples, "flowmod_training_epoch", module="softmax") == 1
    (name, train_acc), = metric.get_global_name_value()
    assert value(samples, "flowmod_training_metric", module="softmax",
                 metric=name) == pytest.approx(train_acc)
    (_, val_acc), = mod.score(data(n=60), "acc", telemetry=False)
    assert value(samples, "flowmod_evaluation_metric", module="softmax",
                 metric="accuracy") == pytest.approx(val_acc)


def test_successive_fits_add_to_the_same_series(served):
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    mod.fit(data(), num_epoch=1)
    mod.fit(data(), begin_epoch=1, num_epoch=2)
    flush(mod)
    assert value(scrape(served), "flowmod_training_samples_total", module="softmax") == 400


def test_nothing_is_reported_without_an_endpoint():
    registry = CollectorRegistry()
    telemetry.enable(registry)
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    mod.fit(data(), num_epoch=1)
    assert "_telemetry_reporters" not in mod.__dict__
    assert modules_reported(scrape(registry)) == set()


def test_a_stopped_server_is_followed_no_more():
    registry = CollectorRegistry()
    server, thread = telemetry.start_http_server(0, registry=registry)
    server.shutdown()
    server.server_close()
    thread.join(HANG_GUARD)
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    mod.fit(data(), num_epoch=1)
    assert modules_reported(scrape(registry)) == set()


def test_telemetry_false_opts_out(served):
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    mod.fit(data(), num_epoch=1, telemetry=False)
    assert modules_reported(scrape(served)) == set()


def test_a_name_labels_the_series(served):
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    mod.fit(data(), num_epoch=1, telemetry="mnist")
    flush(mod)
    samples = scrape(served)
    assert modules_reported(samples) == {"mnist"}
    assert value(samples, "flowmod_training_samples_total", module="mnist") == 200


def test_an_explicit_reporter_among_the_callbacks_reports_alone(served):
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    reporter = telemetry.PrometheusReporter("explicit", registry=served)
    mod.fit(data(), num_epoch=1, **reporter.callbacks())
    mod.fit(data(), begin_epoch=1, num_epoch=2, batch_end_callback=[reporter])
    assert reporter.flush(HANG_GUARD)
    samples = scrape(served)
    assert modules_reported(samples) == {"explicit"}
    assert value(samples, "flowmod_training_samples_total", module="explicit") == 400


def test_a_reporter_given_as_telemetry_replaces_the_default(served):
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    reporter = telemetry.PrometheusReporter("given", registry=served)
    mod.fit(data(), num_epoch=1, telemetry=reporter)
    assert reporter.flush(HANG_GUARD)
    samples = scrape(served)
    assert modules_reported(samples) == {"given"}
    assert value(samples, "flowmod_training_batches_total", module="given") == 10


def test_fit_async_reports_by_itself(served):
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    asyncio.run(mod.fit_async(data(), num_epoch=1))
    flush(mod)
    assert value(scrape(served), "flowmod_training_samples_total", module="softmax") == 200


def test_score_reports_its_evaluation_metric(served):
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    mod.fit(data(), num_epoch=1, telemetry=False)
    res = mod.score(data(n=60), mx.metric.create(["acc", "ce"]))
    samples = scrape(served)
    for name, expected in res:
        assert value(samples, "flowmod_evaluation_metric", module="softmax",
                     metric=name) == pytest.approx(expected)
    assert modules_reported(samples) == set()  # scoring trains nothing


def test_an_application_is_followed_while_it_is_held():
    registry = CollectorRegistry()
    app = telemetry.make_wsgi_app(registry)
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    mod.fit(data(), num_epoch=1)
    flush(mod)
    assert value(scrape(registry), "flowmod_training_samples_total", module="softmax") == 200
    del app
    gc.collect()
    mod.fit(data(), begin_epoch=1, num_epoch=2)
    flush(mod)
    assert value(scrape(registry), "flowmod_training_samples_total", module="softmax") == 200


@pytest.mark.parametrize("bad", [3, "", object()])
def test_a_bad_telemetry_value_is_refused_before_anything_runs(bad):
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    with pytest.raises(MXNetError, match=r"fit: telemetry=.*: expected"):
        mod.fit(data(), num_epoch=1, telemetry=bad)
    assert not mod.binded
    with pytest.raises(MXNetError, match=r"score: telemetry="):
        mod.bind(data().provide_data, data().provide_label)
        mod.init_params()
        mod.score(data(), "acc", telemetry=bad)
