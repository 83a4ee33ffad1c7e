"""Runs MXNet 1.9.1's own ``tests/python/unittest/test_module.py`` against flowmod.

    python tests/mxnet_compat/run_mxnet_test_module.py [--mirror GIT_DIR] [--keep] [pytest args]

The test file and the training helpers it imports (``tests/python/train/test_bucketing.py``)
are read from a git mirror of apache/mxnet at tag 1.9.1 (default:
``/work/.mirror/apache+mxnet/repo``, or ``$MXNET_MIRROR``) into a temporary directory; nothing
of MXNet's is kept in this repository. Beside them the script writes:

- ``mxnet/``: an import alias, so ``import mxnet`` gives ``flowmod`` and every
  ``mxnet.<sub>`` is the same module object as ``flowmod.<sub>`` (one class per type);
  ``mxnet.contrib.amp.amp``, which ``test_bucketing.py`` imports and never calls, is an empty
  module;
- ``common.py``: the four names ``test_module.py`` takes from MXNet's ``unittest/common.py``
  (``setup_module``, ``with_seed``, ``assertRaises``, ``teardown``), written here without
  nose.

pytest then runs in that directory (the tests write checkpoint files into the current
directory). The exit status is pytest's.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TAG = "1.9.1"
FILES = {
    "tests/python/unittest/test_module.py": "unittest/test_module.py",
    "tests/python/train/test_bucketing.py": "train/test_bucketing.py",
}

ALIAS = '''\
"""``import mxnet`` as ``import flowmod``: each flowmod module is registered under its mxnet
name, so both names give the same module objects."""
import importlib
import pkgutil
import sys
import types

import flowmod

for _info in pkgutil.walk_packages(flowmod.__path__, "flowmod."):
    if "._native" in _info.name:
        continue
    importlib.import_module(_info.name)
for _name, _module in list(sys.modules.items()):
    if _name == "flowmod" or _name.startswith("flowmod."):
        sys.modules["mxnet" + _name[len("flowmod"):]] = _module

# test_bucketing.py imports mxnet.contrib.amp.amp and never uses it.
_contrib = types.ModuleType("mxnet.contrib")
_contrib.amp = types.ModuleType("mxnet.contrib.amp")
_contrib.amp.amp = types.ModuleType("mxnet.contrib.amp.amp")
for _m in (_contrib, _contrib.amp, _contrib.amp.amp):
    sys.modules[_m.__name__] = _m
flowmod.contrib = _contrib
'''

COMMON = '''\
"""The names test_module.py imports from MXNet's unittest/common.py, without nose."""
import functools
import random

import numpy as np

import mxnet as mx


def assertRaises(expected_exception, func, *args, **kwargs):
    try:
        func(*args, **kwargs)
    except expected_exception:
        pass
    else:
        raise AssertionError("%s did not raise %s" % (func.__name__,
                                                      expected_exception.__name__))


def _seed_all(seed):
    np.random.seed(seed)
    mx.random.seed(seed)
    random.seed(seed)


def with_seed(seed=None):
    """Runs the test with numpy's, mxnet's and Python's generators seeded (a fresh random
    seed unless one is given, printed on failure)."""
    def decorator(test):
        @functools.wraps(test)
        def wrapper(*args, **kwargs):
            this_seed = seed if seed is not None else np.random.randint(0, 2 ** 31 - 1)
            _seed_all(this_seed)
            try:
                return test(*args, **kwargs)
            except BaseException:
                print("with_seed: test %s failed with seed %d" % (test.__name__, this_seed))
                raise
        return wrapper
    return decorator


def setup_module():
    _seed_all(np.random.randint(0, 2 ** 31 - 1))


def teardown():
    mx.nd.waitall()
'''


def _read_from_mirror(mirror: str, path: str) -> str:
    return subprocess.run(["git", "-C", mirror, "show", f"{TAG}:{path}"], check=True,
                          capture_output=True, text=True).stdout


def prepare(mirror: str, root: str) -> str:
    """Writes the tests, the alias and common.py under ``root``; returns the test file."""
    for src, dst in FILES.items():
        os.makedirs(os.path.join(root, os.path.dirname(dst)), exist_ok=True)
        with open(os.path.join(root, dst), "w") as f:
            f.write(_read_from_mirror(mirror, src))
    os.makedirs(os.path.join(root, "shim", "mxnet"), exist_ok=True)
    with open(os.path.join(root, "shim", "mxnet", "__init__.py"), "w") as f:
        f.write(ALIAS)
    with open(os.path.join(root, "unittest", "common.py"), "w") as f:
        f.write(textwrap.dedent(COMMON))
    return os.path.join(root, "unittest", "test_module.py")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", default=os.environ.get(
        "MXNET_MIRROR", "/work/.mirror/apache+mxnet/repo"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args, pytest_args = parser.parse_known_args()
    if not os.path.isdir(args.mirror):
        print(f"no apache/mxnet git mirror at {args.mirror}: pass --mirror GIT_DIR or set "
              f"MXNET_MIRROR", file=sys.stderr)
        return 2
    root = tempfile.mkdtemp(prefix="mxnet-test-module-")
    try:
        test_file = prepare(args.mirror, root)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (os.path.join(root, "shim"), REPO, env.get("PYTHONPATH", "")) if p)
        cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", root,
               test_file, *pytest_args]
        return subprocess.run(cmd, cwd=os.path.join(root, "unittest"), env=env).returncode
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
