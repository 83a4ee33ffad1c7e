"""mx.profiler: the Chrome trace of a training run checked against the trace event format and
against the engine's dependency rules, MXNet's aggregate table, the annotations, and the
arguments it refuses."""
from __future__ import annotations

import json
import re
import threading
import warnings
from collections import defaultdict

import numpy as np
import pytest

import flowmod as mx
from flowmod.base import MXNetError
from flowmod.profiler.session import SESSION, DEFAULT_CONFIG

# fit after init_params (run first, so that the trace holds only the training's work).
pytestmark = pytest.mark.filterwarnings("ignore:Parameters already initialized")

BATCH, BATCHES = 32, 4
EPS = 1e-3  # us: times are whole ns, printed as us


def mlp():
    h = mx.sym.Variable("data")
    h = mx.sym.Activation(mx.sym.FullyConnected(h, num_hidden=16, name="fc1"), act_type="relu")
    return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=4, name="fc2"),
                                name="softmax")


def train_iter():
    rng = np.random.default_rng(0)
    x = rng.random((BATCH * BATCHES, 20), dtype=np.float32)
    y = rng.integers(0, 4, BATCH * BATCHES).astype(np.float32)
    return mx.io.NDArrayIter(x, y, batch_size=BATCH)


@pytest.fixture(autouse=True)
def fresh_profiler():
    mx.profiler.set_state("stop")
    SESSION.clear()
    SESSION.aggregate.clear()
    SESSION.config = dict(DEFAULT_CONFIG)
    yield
    mx.profiler.set_state("stop")
    SESSION.clear()
    SESSION.aggregate.clear()
    SESSION.config = dict(DEFAULT_CONFIG)


def profiled_fit(tmp_path, **config) -> dict:
    """Trains BATCHES batches with the profiler on; returns the trace dump wrote."""
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    mod.bind(data_shapes=[("data", (BATCH, 20))], label_shapes=[("softmax_label", (BATCH,))])
    mod.init_params(mx.init.Xavier())
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.1,
                                                          "momentum": 0.9})
    mx.nd.waitall()
    filename = str(tmp_path / "profile.json")
    mx.profiler.set_config(filename=filename, **config)
    mx.profiler.set_state("run")
    mod.fit(train_iter(), num_epoch=1, optimizer="sgd",
            optimizer_params={"learning_rate": 0.1, "momentum": 0.9})
    mx.nd.waitall()
    mx.profiler.set_state("stop")
    mx.profiler.dump(finished=False)
    with open(filename, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture
def trace(tmp_path):
    return profiled_fit(tmp_path, profile_all=True, aggregate_stats=True)


def of_phase(trace, ph):
    return [e for e in trace["traceEvents"] if e["ph"] == ph]


def operations(trace):
    return [e for e in of_phase(trace, "X") if e["cat"] == "operator"]


# ---- the format --------------------------------------------------------------------------------
NUMBER = (int, float)
FIELDS = {  # ph -> {field: type} every such event carries
    "X": {"name": str, "cat": str, "ts": NUMBER, "dur": NUMBER, "pid": int, "tid": int},
    "B": {"name": str, "ts": NUMBER, "pid": int, "tid": int},
    "E": {"ts": NUMBER, "pid": int, "tid": int},
    "b": {"name": str, "cat": str, "ts": NUMBER, "pid": int, "tid": int, "id": str},
    "e": {"name": str, "cat": str, "ts": NUMBER, "pid": int, "tid": int, "id": str},
    "s": {"name": str, "cat": str, "ts": NUMBER, "pid": int, "tid": int, "id": int},
    "f": {"name": str, "cat": str, "ts": NUMBER, "pid": int, "tid": int, "id": int},
    "C": {"name": str, "ts": NUMBER, "pid": int, "args": dict},
    "i": {"name": str, "ts": NUMBER, "pid": int, "tid": int, "s": str},
    "M": {"name": str, "pid": int, "args": dict},
}
METADATA = {"process_name": "name", "thread_name": "name", "process_sort_index": "sort_index",
            "thread_sort_index": "sort_index"}


def test_every_event_has_the_fields_of_its_phase(trace):
    assert set(trace) >= {"traceEvents"}
    assert trace["displayTimeUnit"] in ("ms", "ns")
    for e in trace["traceEvents"]:
        assert e["ph"] in FIELDS, e
        for field, kind in FIELDS[e["ph"]].items():
            assert isinstance(e.get(field), kind) and not isinstance(e.get(field), bool), (field, e)
        if "ts" in e:
            assert e["ts"] >= 0, e
        if e["ph"] == "X":
            assert e["dur"] >= 0, e
        if e["ph"] == "M":
            assert isinstance(e["args"][METADATA[e["name"]]], (str, int)), e
        if e["ph"] == "C":
            assert e["args"] and all(isinstance(v, NUMBER) for v in e["args"].values()), e
        if e["ph"] == "i":
            assert e["s"] in ("g", "p", "t"), e
        if e["ph"] == "f":
            assert e.get("bp") == "e", e


def test_every_track_is_named_device_lane_and_worker(trace):
    names = {(e["pid"], e.get("tid")): e["args"]["name"] for e in of_phase(trace, "M")
             if e["name"] in ("process_name", "thread_name")}
    for e in operations(trace):
        assert names[(e["pid"], 0)] == "cpu(0)"
        assert re.fullmatch(r"(compute|copy|python) lane, worker \d+", names[(e["pid"], e["tid"])])
    assert names[(0, 0)] == "python"


def test_operations_of_one_track_never_overlap(trace):
    by_track = defaultdict(list)
    for e in operations(trace):
        by_track[(e["pid"], e["tid"])].append(e)
    assert by_track
    for events in by_track.values():
        events.sort(key=lambda e: e["ts"])
        for a, b in zip(events, events[1:]):
            assert a["ts"] + a["dur"] <= b["ts"] + EPS, (a, b)


def _versions(trace):
    """(writer of each var@version, readers of each var@version)."""
    writer, readers = {}, defaultdict(list)
    for e in operations(trace):
        for w in e["args"]["writes"]:
            assert w not in writer, f"{w} written twice"
            writer[w] = e
        for r in e["args"]["reads"]:
            readers[r].append(e)
    return writer, readers


def _previous(ref: str) -> str:
    var, version = ref.split("@")
    return f"{var}@{int(version) - 1}"


def test_each_operation_starts_after_the_operations_it_depends_on_ended(trace):
    writer, readers = _versions(trace)
    checked = 0
    for e in operations(trace):
        start = e["ts"]
        for r in e["args"]["reads"]:  # after the write of the version it read
            if r in writer:
                w = writer[r]
                assert w["ts"] + w["dur"] <= start + EPS, (w, e)
                checked += 1
        for ref in e["args"]["writes"]:  # after the previous write and its reads
            before = _previous(ref)
            for d in ([writer[before]] if before in writer else []) + readers.get(before, []):
                if d is e:
                    continue
                assert d["ts"] + d["dur"] <= start + EPS, (d, e)
                checked += 1
    assert checked > 100


def test_flows_go_from_each_write_to_the_operations_that_waited_on_it(trace):
    writer, _ = _versions(trace)
    starts = {e["id"]: e for e in of_phase(trace, "s")}
    finishes = of_phase(trace, "f")
    assert finishes and len(starts) == len(finishes)
    by_place = {(e["pid"], e["tid"], e["ts"]): e for e in operations(trace)}
    for f in finishes:
        s = starts[f["id"]]
        target = by_place[(f["pid"], f["tid"], f["ts"])]
        source = writer[s["name"]]  # the write that made the version named
        assert (source["pid"], source["tid"]) == (s["pid"], s["tid"])
        assert source["ts"] <= s["ts"] <= source["ts"] + source["dur"]
        assert s["name"] in target["args"]["reads"] or \
            s["name"] in [_previous(w) for w in target["args"]["writes"]]
        assert source["ts"] + source["dur"] <= target["ts"] + EPS


def test_operations_are_named_as_their_nodes_with_their_shapes(trace):
    ops = operations(trace)
    by_name = defaultdict(list)
    for e in ops:
        by_name[e["name"]].append(e)
    for node in ("fc1_forward", "fc2_forward", "fc1_backward", "fc2_backward"):
        assert len(by_name[node]) == BATCHES, node
    fc1 = by_name["fc1_forward"][0]["args"]
    assert fc1["operator"] == "FullyConnected"
    assert fc1["shapes"] == f"({BATCH},20) (16,20) (16,) -> ({BATCH},16)"
    assert by_name["fc1_backward"][0]["args"]["operator"] == "_backward_FullyConnected"
    # The optimizer's updates, imperative calls, keep their operator's name (SGD updates
    # several parameters per call: multi_sgd_mom_update, as MXNet's aggregation does).
    updates = [e for e in ops if e["name"].endswith("sgd_mom_update")]
    assert updates and all(e["args"]["operator"] == e["name"] for e in updates)
    # Every batch writes the two weights and two biases, and their momenta.
    assert sum(len(e["args"]["writes"]) for e in updates) >= 2 * 4 * BATCHES


def test_api_calls_and_fit_batches_are_on_the_calling_threads_track(trace):
    api = [e for e in of_phase(trace, "X") if e["cat"] == "flowmod_api"]
    counts = defaultdict(int)
    for e in api:
        assert (e["pid"], e["tid"]) == (0, threading.main_thread().ident)
        counts[e["name"]] += 1
    for name in ("forward", "backward", "update", "update_metric", "fit batch"):
        assert counts[name] == BATCHES, name
    # Each forward call starts before the operations it pushed.
    first_forward = min(e["ts"] for e in api if e["name"] == "forward")
    assert first_forward <= min(e["ts"] for e in operations(trace) if e["name"] == "fc1_forward")


def test_storage_is_a_counter_track_of_the_device(trace):
    counters = [e for e in of_phase(trace, "C") if e["name"] == "host storage"]
    assert len(counters) >= 4 * BATCHES
    assert all(c["args"]["in_use_bytes"] > 0 for c in counters)
    cpu = {e["pid"] for e in of_phase(trace, "M")
           if e["name"] == "process_name" and e["args"]["name"] == "cpu(0)"}
    assert {c["pid"] for c in counters} == cpu


def test_only_what_was_asked_for_is_recorded(tmp_path):
    trace = profiled_fit(tmp_path, profile_symbolic=True, profile_imperative=False)
    names = {e["name"] for e in operations(trace)}
    assert "fc1_forward" in names and not [n for n in names if n.endswith("sgd_mom_update")]
    assert not [e for e in of_phase(trace, "X") if e["cat"] == "flowmod_api"]
    assert not of_phase(trace, "C")


# ---- the aggregate table -------------------------------------------------------------------
def test_dumps_counts_and_times_every_operator_as_the_trace_does(trace):
    text = mx.profiler.dumps()
    lines = text.splitlines()
    assert lines[1:3] == ["Profile Statistics:",
                          "\tNote the difference in units for different entries."]
    at = lines.index("operator")
    assert lines[at + 1] == "================="
    assert lines[at + 2].split() == ["Name", "Total", "Count", "Time", "(ms)", "Min", "Time",
                                     "(ms)", "Max", "Time", "(ms)", "Avg", "Time", "(ms)"]
    rows = {}
    for line in lines[at + 4:]:
        if not line:
            break
        name, count, total, low, high, avg = line.split()
        rows[name] = (int(count), float(total), float(low), float(high), float(avg))
    durations = defaultdict(list)
    for e in operations(trace):
        durations[e["name"]].append(e["dur"] / 1e3)
    assert set(rows) == set(durations)
    for name, (count, total, low, high, avg) in rows.items():
        d = durations[name]
        assert count == len(d)
        assert total == pytest.approx(sum(d), abs=1e-4)
        assert low == pytest.approx(min(d), abs=1e-4)
        assert high == pytest.approx(max(d), abs=1e-4)
        assert avg == pytest.approx(sum(d) / len(d), abs=1e-4)
    totals = [r[1] for r in rows.values()]
    assert list(totals) == sorted(totals, reverse=True)  # sort_by='total', descending


def test_dumps_json_sorts_and_resets(trace):
    stats = json.loads(mx.profiler.dumps(format="json", sort_by="count", ascending=True))
    assert stats["Unit"] == {"Time": "ms", "Memory": "kB"}
    ops = stats["Time"]["operator"]
    counts = [v["Count"] for v in ops.values()]
    assert counts == sorted(counts)
    assert ops["fc1_forward"]["Count"] == BATCHES
    assert stats["Time"]["flowmod_api"]["forward"]["Count"] == BATCHES
    assert "Device Storage" in stats["Memory"]
    mx.profiler.dumps(reset=True)
    assert "operator" not in mx.profiler.dumps()


# ---- state -----------------------------------------------------------------------------------
def _push_some():
    a = mx.nd.ones((4, 4))
    for _ in range(5):
        a = a * 2
    # Dropping the arrays pushes their storage's release; waitall lets it run now, so
    # that it does not land in whatever profiler state the caller sets next.
    del a
    mx.nd.waitall()


def test_a_stopped_or_paused_profiler_records_nothing(tmp_path):
    mx.profiler.set_config(filename=str(tmp_path / "p.json"), profile_all=True)
    _push_some()
    mx.profiler.set_state("run")
    mx.profiler.pause()
    _push_some()
    mx.profiler.resume()
    mx.profiler.set_state("stop")
    _push_some()
    assert operations(mx.profiler.trace()) == []
    mx.profiler.set_state("run")
    _push_some()
    mx.profiler.set_state("stop")
    assert len([e for e in operations(mx.profiler.trace()) if e["name"] == "_mul_scalar"]) == 5


def test_dump_finished_forgets_and_a_later_run_starts_a_new_trace(tmp_path):
    mx.profiler.set_config(filename=str(tmp_path / "p.json"), profile_all=True)
    mx.profiler.set_state("run")
    _push_some()
    mx.profiler.dump()
    assert not SESSION.running
    with open(tmp_path / "p.json", encoding="utf-8") as f:
        assert operations(json.load(f))
    assert operations(mx.profiler.trace()) == []


def test_deprecated_names_still_work(tmp_path):
    with pytest.warns(DeprecationWarning):
        mx.profiler.profiler_set_config(mode="all", filename=str(tmp_path / "old.json"))
    with pytest.warns(DeprecationWarning):
        mx.profiler.profiler_set_state("run")
    _push_some()
    with pytest.warns(DeprecationWarning):
        mx.profiler.profiler_set_state("stop")
    with pytest.warns(DeprecationWarning):
        mx.profiler.dump_profile()
    with open(tmp_path / "old.json", encoding="utf-8") as f:
        assert operations(json.load(f))


@pytest.mark.parametrize("call, match", [
    (lambda: mx.profiler.set_config(profile_everything=True), "unknown key 'profile_everything'"),
    (lambda: mx.profiler.set_config(profile_all="yes"), "profile_all='yes': expected True"),
    (lambda: mx.profiler.set_config(dump_period=0), "dump_period=0"),
    (lambda: mx.profiler.set_state("go"), "state='go': expected 'run' or 'stop'"),
    (lambda: mx.profiler.set_state("run", profile_process="server"), "profile_process='server'"),
    (lambda: mx.profiler.dumps(sort_by="name"), "sort_by='name'"),
    (lambda: mx.profiler.dumps(format="csv"), "format='csv'"),
    (lambda: mx.profiler.dump(finished=1), "finished=1"),
    (lambda: mx.profiler.Task("not a domain", "t"), "domain='not a domain'"),
    (lambda: mx.profiler.Marker(mx.profiler.Domain("d"), "m").mark("galaxy"), "scope='galaxy'"),
    (lambda: mx.profiler.Counter(mx.profiler.Domain("d"), "c", 1.5), "value=1.5"),
])
def test_bad_arguments_are_refused_naming_them(call, match):
    with pytest.raises(MXNetError, match=re.escape(match)):
        call()


def test_set_config_takes_mxnets_string_values(tmp_path):
    mx.profiler.set_config(profile_all="True", aggregate_stats="False",
                           filename=str(tmp_path / "s.json"))
    assert SESSION.config["profile_all"] is True and SESSION.config["aggregate_stats"] is False


def test_set_config_is_refused_while_running():
    mx.profiler.set_state("run")
    with pytest.raises(MXNetError, match="running"):
        mx.profiler.set_config(profile_all=True)


# ---- annotations -----------------------------------------------------------------------------
def test_annotations_are_recorded_on_the_calling_thread(tmp_path):
    mx.profiler.set_config(filename=str(tmp_path / "a.json"), profile_all=True,
                           aggregate_stats=True)
    domain = mx.profiler.Domain("mydomain")
    mx.profiler.set_state("run")
    task = domain.new_task("load")
    task.start()
    task.stop()
    with mx.profiler.Frame(domain, "step"):
        pass
    with mx.profiler.Event("wait"):
        pass
    counter = domain.new_counter("queued", 3)
    counter += 2
    counter -= 1
    domain.new_marker("here").mark("global")
    with mx.profiler.scope("eval:"):
        with mx.profiler.scope("inner:", append_mode=True):
            ev = mx.profiler.Event("scored")
            ev.start()
            ev.stop()
    mx.profiler.set_state("stop")
    trace = mx.profiler.trace()
    spans = {(e["name"], e["cat"]) for e in of_phase(trace, "X")}
    assert {("load", "mydomain"), ("step", "mydomain"), ("wait", "Event"),
            ("eval:inner:scored", "Event"), ("eval", "scope")} <= spans
    values = [e["args"]["queued"] for e in of_phase(trace, "C") if e["name"] == "queued"]
    assert values == [3, 5, 4]
    marks = [e for e in of_phase(trace, "i") if e["name"] == "here"]
    assert len(marks) == 1 and marks[0]["s"] == "g"
    main = threading.main_thread().ident
    assert all(e["tid"] == main for e in of_phase(trace, "X"))
    stats = json.loads(mx.profiler.dumps(format="json"))["Time"]
    assert stats["mydomain"]["load"]["Count"] == 1
    assert stats["Event"]["wait"]["Count"] == 1


def test_annotations_outside_a_run_record_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ev = mx.profiler.Event("idle")
        ev.start()
        ev.stop()
    assert not of_phase(mx.profiler.trace(), "X")
