"""flowmod never configures logging for the application: importing it, building iterators
and modules, and training install no handler on the root logger, so a script's own
``logging.basicConfig`` afterwards takes effect (as with MXNet's example scripts); its
messages go through named loggers under ``flowmod``."""
from __future__ import annotations

import ast
import gzip
import os
import struct
import subprocess
import sys
import textwrap

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "flowmod")
ROOT_FUNCTIONS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log",
                  "basicConfig"}


def _run(script: str, tmp_path) -> str:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def _mnist_files(tmp_path):
    images = np.random.RandomState(0).randint(0, 256, (20, 28, 28)).astype(np.uint8)
    labels = (np.arange(20) % 10).astype(np.uint8)
    (tmp_path / "img.gz").write_bytes(gzip.compress(
        struct.pack(">IIII", 0x803, 20, 28, 28) + images.tobytes()))
    (tmp_path / "lab.gz").write_bytes(gzip.compress(
        struct.pack(">II", 0x801, 20) + labels.tobytes()))


def test_no_module_calls_the_root_loggers_functions():
    calls = []
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path) as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and isinstance(node.func.value, ast.Name)
                        and node.func.value.id == "logging"
                        and node.func.attr in ROOT_FUNCTIONS):
                    calls.append(f"{os.path.relpath(path, ROOT)}:{node.lineno} "
                                 f"logging.{node.func.attr}")
    assert calls == []


def test_import_iterators_and_modules_leave_the_root_logger_unconfigured(tmp_path):
    _mnist_files(tmp_path)
    out = _run("""
        import logging
        import numpy as np
        import flowmod as mx
        mnist = mx.io.MNISTIter(image="img.gz", label="lab.gz", batch_size=5, flat=True)
        np.savetxt("d.csv", np.ones((4, 3)), delimiter=",")
        mx.io.CSVIter(data_csv="d.csv", data_shape=(3,), batch_size=2)
        mx.io.NDArrayIter(np.ones((4, 3)), batch_size=2)
        data = mx.sym.Variable("data")
        net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, num_hidden=10), name="softmax")
        mod = mx.mod.Module(net)
        mod.bind(mnist.provide_data, mnist.provide_label)
        mod.init_params(mx.init.Xavier())
        mod.init_optimizer()
        assert logging.getLogger().handlers == [], logging.getLogger().handlers
        print("handlers: none")
    """, tmp_path)
    assert "handlers: none" in out


def test_basic_config_after_construction_shows_the_epoch_lines(tmp_path):
    _mnist_files(tmp_path)
    out = _run("""
        import logging
        import flowmod as mx
        train = mx.io.MNISTIter(image="img.gz", label="lab.gz", batch_size=5, flat=True)
        net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable("data"),
                                                         num_hidden=10), name="softmax")
        mod = mx.mod.Module(net)
        logging.basicConfig(level=logging.DEBUG)
        mod.fit(train, num_epoch=1, optimizer_params={"learning_rate": 0.1})
    """, tmp_path)
    assert "Epoch[0] Train-accuracy=" in out
    assert "Epoch[0] Time cost=" in out
    assert "INFO:flowmod.io.file_iters:MNISTIter" not in out  # built before basicConfig


def test_internal_messages_go_through_named_flowmod_loggers(tmp_path):
    _mnist_files(tmp_path)
    out = _run("""
        import logging
        logging.basicConfig(level=logging.INFO, format="%(name)s|%(message)s")
        import flowmod as mx
        mx.io.MNISTIter(image="img.gz", label="lab.gz", batch_size=5)
    """, tmp_path)
    assert "flowmod.io.file_iters|MNISTIter: load 20 images" in out


def test_module_logs_through_the_logging_module_by_default_as_mxnet():
    import logging

    import flowmod as mx
    net = mx.sym.Variable("data")
    assert mx.mod.Module(net, label_names=None).logger is logging
