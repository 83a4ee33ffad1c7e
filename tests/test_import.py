"""Importing flowmod where it cannot work says why and what to do."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import flowmod


def test_source_tree_without_extension_says_how_to_build_it(tmp_path):
    # A source tree as the repository root holds it: the package without the built extension.
    package = Path(flowmod.__file__).parent
    shutil.copytree(package, tmp_path / "flowmod",
                    ignore=shutil.ignore_patterns("_native*", "__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", "import flowmod"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: flowmod's native extension (flowmod._native) is not in "
                           f"{tmp_path / 'flowmod'}")
    assert "`pip install -e .`" in last
    assert "run Python from another directory" in last
    assert "circular import" not in result.stderr
