"""Runs a benchmark's child interpreter from a neutral directory.

``python -c`` puts the current directory first on ``sys.path``; run from the repository root,
the child would import the source tree's ``flowmod`` (which has no built extension unless it
was built in place) instead of the installed one. The child runs in a fresh temporary
directory instead, with ``PYTHONPATH`` made absolute so that an explicit one still applies.
"""
from __future__ import annotations

import os
import subprocess
import tempfile


def run_python(python: str, code: str, *args: str,
               env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -c code args...`` run to completion from a temporary directory, its output
    captured as text."""
    env = dict(os.environ if env is None else env)
    if env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) if p else os.getcwd()
                                            for p in env["PYTHONPATH"].split(os.pathsep))
    with tempfile.TemporaryDirectory(prefix="flowmod-bench-") as cwd:
        return subprocess.run([python, "-c", code, *args], capture_output=True, text=True,
                              env=env, cwd=cwd)


def failure(result: subprocess.CompletedProcess) -> str:
    """The last line a failed child wrote to stderr (what went wrong, usually)."""
    tail = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
    return tail[0]
