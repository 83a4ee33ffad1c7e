"""Checkpoint sets: a checkpoint's symbol, params and optimizer states load together or the
load raises MXNetError naming what is missing, whatever moment a save was killed at."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import flowmod as mx
from flowmod.base import MXNetError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _net():
    data = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(data, name="fc", num_hidden=3)
    return mx.sym.SoftmaxOutput(fc, name="softmax")


def _trained(steps=1, seed=0):
    rng = np.random.default_rng(seed)
    mod = mx.mod.Module(_net())
    mod.bind([("data", (4, 5))], [("softmax_label", (4,))])
    mod.init_params(mx.init.Xavier())
    mod.init_optimizer(optimizer="sgd",
                       optimizer_params={"learning_rate": 0.1, "momentum": 0.9})
    for _ in range(steps):
        batch = mx.io.DataBatch([mx.nd.array(rng.random((4, 5)))],
                                [mx.nd.array(rng.integers(0, 3, 4))])
        mod.forward_backward(batch)
        mod.update()
    return mod


def _load_fully(prefix, epoch):
    """Module.load with the optimizer states, then bound with an optimizer (which is where
    the states are read)."""
    mod = mx.mod.Module.load(prefix, epoch, load_optimizer_states=True)
    mod.bind([("data", (4, 5))], [("softmax_label", (4,))])
    mod.init_optimizer(optimizer="sgd",
                       optimizer_params={"learning_rate": 0.1, "momentum": 0.9})
    return mod


def test_save_writes_mxnet_files_and_a_manifest(tmp_path):
    prefix = str(tmp_path / "m")
    _trained().save_checkpoint(prefix, 3, save_optimizer_states=True)
    assert sorted(os.listdir(tmp_path)) == ["m-0003.manifest", "m-0003.params",
                                           "m-0003.states", "m-symbol.json"]
    manifest = json.loads((tmp_path / "m-0003.manifest").read_text())
    assert manifest["params"]["name"] == "m-0003.params"
    assert manifest["params"]["size"] == os.path.getsize(prefix + "-0003.params")
    assert manifest["states"]["name"] == "m-0003.states"
    # The params file is MXNet's format: plain nd.load reads it.
    assert sorted(mx.nd.load(prefix + "-0003.params")) == ["arg:fc_bias", "arg:fc_weight"]


def test_complete_checkpoint_loads_params_and_states(tmp_path):
    prefix = str(tmp_path / "m")
    mod = _trained(steps=2)
    mod.save_checkpoint(prefix, 1, save_optimizer_states=True)
    loaded = _load_fully(prefix, 1)
    for k, v in mod.get_params()[0].items():
        np.testing.assert_array_equal(loaded.get_params()[0][k].asnumpy(), v.asnumpy())
    momentum = {k: s.asnumpy() for k, s in mod._updater.states.items()}
    assert {k: s.asnumpy().tolist() for k, s in loaded._updater.states.items()} == \
        {k: v.tolist() for k, v in momentum.items()}


def test_missing_states_raise_at_load_naming_the_file(tmp_path):
    prefix = str(tmp_path / "m")
    _trained().save_checkpoint(prefix, 7, save_optimizer_states=True)
    os.unlink(prefix + "-0007.states")
    with pytest.raises(MXNetError, match=r"m-0007\.states.* is missing"):
        mx.mod.Module.load(prefix, 7, load_optimizer_states=True)
    # Without the states the params of the epoch are complete.
    mx.mod.Module.load(prefix, 7)


def test_missing_params_raise_at_load_naming_the_file(tmp_path):
    prefix = str(tmp_path / "m")
    _trained().save_checkpoint(prefix, 7, save_optimizer_states=True)
    os.unlink(prefix + "-0007.params")
    with pytest.raises(MXNetError, match=r"m-0007\.params.* is missing"):
        mx.mod.Module.load(prefix, 7)


def test_params_of_an_earlier_save_of_the_epoch_are_refused(tmp_path):
    prefix = str(tmp_path / "m")
    _trained(steps=1).save_checkpoint(prefix, 2, save_optimizer_states=True)
    old = (tmp_path / "m-0002.params").read_bytes()
    _trained(steps=3).save_checkpoint(prefix, 2, save_optimizer_states=True)
    # What a kill between the renames of a save over the same epoch leaves.
    (tmp_path / "m-0002.params").write_bytes(old)
    with pytest.raises(MXNetError, match=r"m-0002\.params.*does not match its SHA-256"):
        mx.mod.Module.load(prefix, 2)


def test_states_of_an_earlier_save_of_the_epoch_are_refused(tmp_path):
    prefix = str(tmp_path / "m")
    _trained(steps=1).save_checkpoint(prefix, 2, save_optimizer_states=True)
    old = (tmp_path / "m-0002.states").read_bytes()
    _trained(steps=3).save_checkpoint(prefix, 2, save_optimizer_states=True)
    (tmp_path / "m-0002.states").write_bytes(old)
    with pytest.raises(MXNetError, match=r"m-0002\.states.*does not match its SHA-256"):
        mx.mod.Module.load(prefix, 2, load_optimizer_states=True)


def test_checkpoint_saved_without_states_refuses_load_with_states(tmp_path):
    prefix = str(tmp_path / "m")
    _trained().save_checkpoint(prefix, 1, save_optimizer_states=True)
    # A later save of the epoch without states leaves the old states file beside it.
    _trained(steps=2).save_checkpoint(prefix, 1)
    assert os.path.exists(prefix + "-0001.states")
    with pytest.raises(MXNetError, match=r"saved without optimizer states"):
        mx.mod.Module.load(prefix, 1, load_optimizer_states=True)


def test_checkpoint_without_a_manifest_loads_as_mxnet_writes_it(tmp_path):
    prefix = str(tmp_path / "m")
    mod = _trained(steps=2)
    mod.save_checkpoint(prefix, 4, save_optimizer_states=True)
    os.unlink(prefix + "-0004.manifest")
    loaded = _load_fully(prefix, 4)
    for k, v in mod.get_params()[0].items():
        np.testing.assert_array_equal(loaded.get_params()[0][k].asnumpy(), v.asnumpy())


def test_checkpoint_without_a_manifest_and_states_refuses_load_with_states(tmp_path):
    prefix = str(tmp_path / "m")
    _trained().save_checkpoint(prefix, 4)
    os.unlink(prefix + "-0004.manifest")
    with pytest.raises(MXNetError, match=r"m-0004\.states.*does not exist"):
        mx.mod.Module.load(prefix, 4, load_optimizer_states=True)


def test_corrupted_manifest_is_refused_naming_it(tmp_path):
    prefix = str(tmp_path / "m")
    _trained().save_checkpoint(prefix, 4)
    (tmp_path / "m-0004.manifest").write_text("{not json")
    with pytest.raises(MXNetError, match=r"m-0004\.manifest.*not valid JSON"):
        mx.mod.Module.load(prefix, 4)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_next_save_removes_temporaries_of_killed_saves_only(tmp_path):
    dead = _dead_pid()
    stale = [f".m-0001.params.{dead}.0123456789ab.tmp",
             f".m-0002.states.{dead}.0123456789ab.tmp",
             f".m-symbol.json.{dead}.0123456789ab.tmp",
             f".m-0002.manifest.{dead}.0123456789ab.tmp"]
    kept = [f".m-0001.params.{os.getpid()}.0123456789ab.tmp",   # a live writer's
            f".other-0001.params.{dead}.0123456789ab.tmp",      # another prefix's
            f".m-extra-0001.params.{dead}.0123456789ab.tmp"]    # prefix "m-extra"
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"partial")
    _trained().save_checkpoint(str(tmp_path / "m"), 3, save_optimizer_states=True)
    left = sorted(n for n in os.listdir(tmp_path) if n.endswith(".tmp"))
    assert left == sorted(kept)


def test_model_save_checkpoint_is_a_set_too(tmp_path):
    prefix = str(tmp_path / "plain")
    arg = {"w": mx.nd.array(np.arange(6.0).reshape(2, 3))}
    aux = {"m": mx.nd.ones((3,))}
    mx.model.save_checkpoint(prefix, 5, _net(), arg, aux)
    assert sorted(os.listdir(tmp_path)) == ["plain-0005.manifest", "plain-0005.params",
                                           "plain-symbol.json"]
    sym, args, auxs = mx.model.load_checkpoint(prefix, 5)
    np.testing.assert_array_equal(args["w"].asnumpy(), arg["w"].asnumpy())
    np.testing.assert_array_equal(auxs["m"].asnumpy(), np.ones(3))
    mx.nd.save(prefix + "-0005.params", {"arg:w": mx.nd.zeros((2, 3))})
    with pytest.raises(MXNetError, match=r"plain-0005\.params.*the manifest says"):
        mx.model.load_checkpoint(prefix, 5)


def test_bucketing_checkpoint_is_a_set(tmp_path):
    def sym_gen(key):
        data = mx.sym.Variable("data")
        fc = mx.sym.FullyConnected(data, name="fc", num_hidden=2)
        return mx.sym.SoftmaxOutput(fc, name="softmax"), ("data",), ("softmax_label",)

    mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=5)
    mod.bind([("data", (2, 5))], [("softmax_label", (2,))])
    mod.init_params(mx.init.Xavier())
    prefix = str(tmp_path / "b")
    mod.save_checkpoint(prefix, 1)
    assert sorted(os.listdir(tmp_path)) == ["b-0001.manifest", "b-0001.params",
                                           "b-5-symbol.json", "b.buckets"]
    loaded = mx.mod.BucketingModule.load(prefix, 1, sym_gen=sym_gen, default_bucket_key=5)
    loaded.bind([("data", (2, 5))], [("softmax_label", (2,))])
    for k, v in mod.get_params()[0].items():
        np.testing.assert_array_equal(loaded.get_params()[0][k].asnumpy(), v.asnumpy())
    os.unlink(prefix + "-0001.params")
    with pytest.raises(MXNetError, match=r"b-0001\.params.* is missing"):
        mx.mod.BucketingModule.load(prefix, 1, sym_gen=sym_gen, default_bucket_key=5)


# ---- kill -9 at random moments ----------------------------------------------------------

# One process imports flowmod and builds the module once; for each trial it forks a saver,
# which the test kills with SIGKILL at a random moment, and reports when it has reaped it.
SAVER = """
import os, sys, time
sys.path.insert(0, sys.argv[2])
import flowmod as mx

prefix = sys.argv[1]
data = mx.sym.Variable("data")
net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, name="fc", num_hidden=64),
                           name="softmax")
mod = mx.mod.Module(net)
mod.bind([("data", (4, 256))], [("softmax_label", (4,))])
mod.init_params(mx.init.Xavier())
mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.1, "momentum": 0.9})
batch = mx.io.DataBatch([mx.nd.ones((4, 256))], [mx.nd.zeros((4,))])
mod.forward_backward(batch)
mod.update()
mod.save_checkpoint(prefix + "-warmup", 0, save_optimizer_states=True)
for line in sys.stdin:
    first = int(line)
    pid = os.fork()
    if pid == 0:
        for i in range(first, first + 200):
            mod.forward_backward(batch)
            mod.update()
            start = time.perf_counter()
            # A few epoch numbers in turn: saves also replace an earlier save of an epoch.
            mod.save_checkpoint(prefix, i % 3, save_optimizer_states=True)
            # One write(2) of the whole line: a kill can come between two of print's writes,
            # and the next line read would be a half line glued to "reaped".
            os.write(1, f"saved {i % 3} {time.perf_counter() - start}\\n".encode())
        os._exit(0)
    print("child", pid, flush=True)
    os.waitpid(pid, 0)
    print("reaped", flush=True)
"""


def _epochs_present(directory, base):
    epochs = set()
    for name in os.listdir(directory):
        for suffix in (".params", ".states", ".manifest"):
            if name.startswith(base + "-") and name.endswith(suffix):
                stem = name[len(base) + 1:-len(suffix)]
                if stem.lstrip("-").isdigit():
                    epochs.add(int(stem))
    return sorted(epochs)


def _check_every_epoch(prefix, directory, last_complete):
    """Each epoch found loads with its states, or raises MXNetError naming one of its
    files; the last one saved in full loads. Returns how many were refused."""
    refused = 0
    for epoch in _epochs_present(directory, os.path.basename(prefix)):
        try:
            mod = mx.mod.Module.load(prefix, epoch, load_optimizer_states=True)
        except MXNetError as e:
            assert epoch != last_complete, f"the last epoch saved in full is refused: {e}"
            assert "k-%04d." % epoch in str(e), str(e)
            refused += 1
            continue
        mod.bind([("data", (4, 256))], [("softmax_label", (4,))])
        mod.init_optimizer(optimizer="sgd",
                           optimizer_params={"learning_rate": 0.1, "momentum": 0.9})
        assert [mod._updater.states[i].shape for i in (0, 1)] == [(64, 256), (64,)]
    return refused


def test_kill_9_at_any_moment_leaves_complete_epochs_or_clear_errors(tmp_path):
    prefix = str(tmp_path / "k")
    server = subprocess.Popen([sys.executable, "-c", SAVER, prefix, ROOT],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    rng = random.Random(1234)
    trials, refused, with_temporaries, first = 12, 0, 0, 0
    try:
        for _ in range(trials):
            server.stdin.write(f"{first}\n")
            server.stdin.flush()
            kind, pid = server.stdout.readline().split()
            assert kind == "child"
            line = server.stdout.readline().split()   # the first save is done
            saved, took = [line[1]], float(line[2])
            # Then a moment anywhere within the next save or two.
            time.sleep(rng.uniform(0.0, 2.0 * took))
            os.kill(int(pid), signal.SIGKILL)
            for line in iter(server.stdout.readline, "reaped\n"):
                assert line.startswith("saved"), line
                saved.append(line.split()[1])
            first += len(saved) + 1
            with_temporaries += any(n.endswith(".tmp") for n in os.listdir(tmp_path))
            refused += _check_every_epoch(prefix, tmp_path, int(saved[-1]))
    finally:
        server.stdin.close()
        server.wait(timeout=60)
    # The next save to the prefix removes what the killed ones left.
    mod = mx.mod.Module.load(prefix + "-warmup", 0)
    mod.bind([("data", (4, 256))], [("softmax_label", (4,))])
    mod.save_checkpoint(prefix, 9)
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    print(f"{trials} kills: {refused} incomplete epochs refused, temporaries left by "
          f"{with_temporaries}")


def test_manifest_without_the_states_entry_is_refused_naming_it(tmp_path):
    # Found by tests/fuzz/fuzz_module_load.py: a KeyError escaped from the manifest check.
    prefix = str(tmp_path / "m")
    _trained().save_checkpoint(prefix, 4, save_optimizer_states=True)
    manifest = json.loads((tmp_path / "m-0004.manifest").read_text())
    del manifest["states"]
    (tmp_path / "m-0004.manifest").write_text(json.dumps(manifest))
    with pytest.raises(MXNetError, match=r"m-0004\.manifest.*is not a 'flowmod checkpoint'"):
        mx.mod.Module.load(prefix, 4, load_optimizer_states=True)


def test_params_file_lacking_a_parameter_of_the_network_is_refused_at_load(tmp_path):
    # Found by tests/fuzz/fuzz_module_load.py: the parameter was left unset at bind and
    # get_params raised KeyError later.
    prefix = str(tmp_path / "m")
    mx.model.save_checkpoint(prefix, 1, _net(), {"fc_weight": mx.nd.ones((3, 5))}, {})
    with pytest.raises(MXNetError, match=r"m-0001\.params.*has no 'arg:fc_bias'"):
        mx.mod.Module.load(prefix, 1)
