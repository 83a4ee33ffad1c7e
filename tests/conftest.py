"""Shared fixtures for the engine's Python tests.

The worker count is pinned before flowmod is first imported: the rendezvous tests need at
least two compute workers per CPU device, and the default (the number of cores) would make
their outcome depend on the machine.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import pytest

os.environ.setdefault("FLOWMOD_CPU_WORKER_NTHREADS", "4")

import flowmod  # noqa: E402  (after the environment above is set)

# Bounds every blocking step of a test, so that an engine that loses an operation fails the
# test instead of hanging the run. A correct engine never comes near it.
HANG_GUARD = 30.0

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FLOWMOD_") and k != "PYTEST_CURRENT_TEST"}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (TESTS_DIR, os.environ.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


@pytest.fixture
def run_python(tmp_path):
    """run_python(code, env=None, timeout=60) -> CompletedProcess

    Runs ``code`` in a fresh interpreter (environment variables such as
    FLOWMOD_ENGINE_TYPE are read when flowmod is first used, and some tests end the
    interpreter). The tests directory is importable; a hang fails the test.
    """

    def run(code: str, env: dict[str, str] | None = None, timeout: float = 60.0):
        try:
            return subprocess.run(
                [sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=_env(env),
                capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"the interpreter did not finish within {timeout} s "
                        f"(stdout={e.stdout!r}, stderr={e.stderr!r})")

    return run


def bounded(fn, *args, timeout: float = HANG_GUARD):
    """Calls ``fn(*args)`` on a helper thread and returns its result, failing the test if it
    has not returned within ``timeout`` (the helper thread is then left blocked)."""
    box: dict[str, object] = {}

    def target():
        try:
            box["result"] = fn(*args)
        except BaseException as e:  # handed back to the test thread
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        pytest.fail(f"{getattr(fn, '__name__', fn)} did not return within {timeout} s")
    if "error" in box:
        raise box["error"]
    return box.get("result")


@pytest.fixture(autouse=True)
def _engine_drained():
    """Each test starts and ends with no operation of another test in flight."""
    bounded(flowmod.engine.wait_all)
    yield
    bounded(flowmod.engine.wait_all)
