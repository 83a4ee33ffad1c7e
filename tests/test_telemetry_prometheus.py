"""dashboards/: the Grafana dashboard's queries evaluated by a real Prometheus scraping a
training run, and the shipped scrape configuration checked by promtool.

The Prometheus binaries come from Debian's ``prometheus`` package (.ci/run installs it).
Without them these tests skip, except under CI (``CI=true``), where that is a failure.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import flowmod as mx
from flowmod import telemetry

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DASHBOARD = os.path.join(ROOT, "dashboards", "flowmod-training.json")
SCRAPE_CONFIG = os.path.join(ROOT, "dashboards", "prometheus.yml")
DS_UID = "${DS_PROMETHEUS}"
WAIT = 90.0  # bounds every wait on Prometheus: its start, its scrapes, each query


def _binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}")
                                  else None)
    if path is None:
        reason = (f"{name} is not installed (Debian package 'prometheus': "
                  f"apt-get install -y prometheus)")
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def _load_dashboard() -> dict:
    with open(DASHBOARD, encoding="utf-8") as f:
        return json.load(f)


def _panels(dashboard: dict) -> list:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def _queries(dashboard: dict) -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in _panels(dashboard)
            for target in panel.get("targets", [])]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=WAIT) as response:
            return json.loads(response.read().decode())
    except urllib.error.HTTPError as e:  # Prometheus says why in the body
        pytest.fail(f"{urllib.parse.unquote_plus(url)}: {e}: {e.read().decode()}")


# ---- the dashboard as a file -----------------------------------------------------------------
def test_dashboard_queries_its_prometheus_datasource_variable():
    dashboard = _load_dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    for name in ("job", "instance"):
        assert variables[name]["datasource"]["uid"] == DS_UID
    for panel in _panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": DS_UID}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DS_UID, panel["title"]


def test_dashboard_panels_have_unique_ids_and_fit_the_grid():
    panels = _panels(_load_dashboard())
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for p in panels:
        grid = p["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, p["title"]


def test_dashboard_shows_queues_throughput_latency_training_and_storage():
    exprs = " ".join(expr for _, expr in _queries(_load_dashboard()))
    for needle in ("flowmod_engine_queue_depth", "flowmod_engine_ops_running",
                   "rate(flowmod_engine_ops_completed_total",
                   "histogram_quantile(0.5, sum by (op, le) (rate(flowmod_engine_op_duration",
                   "histogram_quantile(0.99, sum by (op, le) (rate(flowmod_engine_op_duration",
                   "rate(flowmod_training_samples_total",
                   "flowmod_training_batch_duration_seconds_bucket",
                   "flowmod_training_metric", "flowmod_evaluation_metric",
                   "flowmod_storage_in_use_bytes", "flowmod_storage_pooled_bytes"):
        assert needle in exprs, needle


def test_dashboard_names_only_metrics_flowmod_exports():
    registry = CollectorRegistry()
    reporter = telemetry.PrometheusReporter("names", registry=registry)
    mod = mx.mod.Module(_mlp(), context=mx.cpu())
    mod.fit(_data(100), eval_data=_data(50), num_epoch=1, **reporter.callbacks())
    assert reporter.flush(WAIT)
    exported = {s.name for family in
                text_string_to_metric_families(generate_latest(registry).decode())
                for s in family.samples}
    used = set(re.findall(r"flowmod_[a-z_]+", " ".join(e for _, e in
                                                       _queries(_load_dashboard()))))
    variables = " ".join(v.get("definition", "") for v in
                         _load_dashboard()["templating"]["list"])
    used |= set(re.findall(r"flowmod_[a-z_]+", variables))
    assert used <= exported, used - exported


# ---- the scrape configuration ----------------------------------------------------------------
def test_shipped_scrape_config_is_valid():
    promtool = _binary("promtool")
    res = subprocess.run([promtool, "check", "config", SCRAPE_CONFIG], capture_output=True,
                         text=True, timeout=WAIT)
    assert res.returncode == 0, res.stdout + res.stderr


# ---- a real Prometheus scraping a training run -----------------------------------------------
def _mlp():
    h = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=16, name="fc0")
    h = mx.sym.Activation(h, act_type="relu")
    return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=3, name="out"),
                                name="softmax")


def _data(n, batch=10):
    rng = np.random.default_rng(1)
    x = rng.random((n, 10), dtype=np.float32)
    return mx.io.NDArrayIter(x, rng.integers(0, 3, n).astype(np.float32), batch_size=batch)


@pytest.fixture(params=["reporter", "following"])
def training_endpoint(request):
    """A training run in a thread, epoch after epoch with validation, served on a loopback
    port; yields the port, and stops both afterwards. The run reports through a
    PrometheusReporter among its callbacks, or ("following") by itself, as an unmodified
    script does once it serves the endpoint."""
    registry = CollectorRegistry()
    server, server_thread = telemetry.start_http_server(0, registry=registry)
    stop = threading.Event()
    errors = []

    class Stopped(Exception):
        """Ends fit once the test is done."""

    def stop_when_asked(_param):
        if stop.is_set():
            raise Stopped

    def train():
        try:
            mod = mx.mod.Module(_mlp(), context=mx.cpu())
            if request.param == "following":
                callbacks = {"batch_end_callback": stop_when_asked}
            else:
                reporter = telemetry.PrometheusReporter("prom", registry=registry,
                                                        metric_interval=0.5)
                callbacks = reporter.callbacks()
                callbacks["batch_end_callback"] = [reporter, stop_when_asked]
            mod.fit(_data(500), eval_data=_data(100), num_epoch=10**6, **callbacks)
        except Stopped:
            pass
        except BaseException as e:  # reported by the test
            errors.append(e)

    trainer = threading.Thread(target=train, daemon=True)
    trainer.start()
    try:
        yield server.server_port, errors
    finally:
        stop.set()
        trainer.join(WAIT)
        server.shutdown()
        server.server_close()
        server_thread.join(WAIT)
    assert not trainer.is_alive(), "training did not stop"


@pytest.fixture
def prometheus(tmp_path, training_endpoint):
    """A Prometheus on a free loopback port scraping the training endpoint every second,
    with the shipped configuration's job; yields its base URL and always stops it."""
    binary = _binary("prometheus")
    target_port, _ = training_endpoint
    with open(SCRAPE_CONFIG, encoding="utf-8") as f:
        config = f.read()
    config, n_targets = re.subn(r'targets: \["127\.0\.0\.1:8000"\]',
                                f'targets: ["127.0.0.1:{target_port}"]', config)
    config, n_intervals = re.subn(r"(scrape|evaluation)_interval: 5s", r"\1_interval: 1s",
                                  config)
    assert (n_targets, n_intervals) == (1, 2), "dashboards/prometheus.yml changed shape"
    (tmp_path / "prometheus.yml").write_text(config, encoding="utf-8")
    port = _free_port()
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
         "--log.level=warn"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT
        while True:
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()
            try:
                with urllib.request.urlopen(f"{base}/-/ready", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline, "Prometheus did not become ready"
            time.sleep(0.2)
        yield base, f"127.0.0.1:{target_port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        log.close()


def _query(base: str, expr: str) -> list:
    body = _get_json(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert body["status"] == "success", (expr, body)
    return body["data"]["result"]


def _finite(result: list) -> list[float]:
    return [float(r["value"][1]) for r in result if math.isfinite(float(r["value"][1]))]


def test_every_dashboard_query_returns_data_from_prometheus(prometheus, training_endpoint):
    base, target = prometheus
    _, errors = training_endpoint
    # Enough scrapes for the rates, and at least one finished validation.
    deadline = time.monotonic() + WAIT
    while True:
        assert not errors, errors
        scrapes = _finite(_query(base, 'count_over_time(flowmod_engine_info{job="flowmod"}[5m])'))
        evaluated = _query(base, 'flowmod_evaluation_metric{job="flowmod"}')
        if scrapes and scrapes[0] >= 8 and evaluated:
            break
        assert time.monotonic() < deadline, f"Prometheus scraped {scrapes} times"
        time.sleep(0.5)

    # The values Grafana puts in for the dashboard's variables.
    substitutions = {"$__rate_interval": "10s", "$job": "flowmod", "$instance": target}
    # A scrape that times out on a busy machine marks every series stale until the next one
    # succeeds: a query that is empty is asked again until the deadline.
    pending = []
    for title, expr in _queries(_load_dashboard()):
        for name, val in substitutions.items():
            expr = expr.replace(name, val)
        pending.append((title, expr))
    deadline = time.monotonic() + WAIT
    while True:
        pending = [(title, expr) for title, expr in pending if not _finite(_query(base, expr))]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert not pending, pending

    for variable in _load_dashboard()["templating"]["list"]:
        match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable.get("definition", ""))
        if match is None:
            continue
        selector = match.group(1).replace("$job", "flowmod")
        body = _get_json(f"{base}/api/v1/label/{match.group(2)}/values?" +
                         urllib.parse.urlencode({"match[]": selector}))
        assert body["data"], variable["name"]
