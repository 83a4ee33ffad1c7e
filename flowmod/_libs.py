"""Loads the shared libraries that flowmod._native links before it is imported: OpenBLAS
(the scipy-openblas32 wheel) and, on x86-64 Linux, oneDNN (the onednn-cpu-gomp wheel, which
installs libdnnl into the environment's lib directory rather than into a package). Says
plainly what to do when the extension itself is missing."""
from __future__ import annotations

import ctypes
import importlib.metadata
import importlib.util
import os

import scipy_openblas32  # noqa: F401  (importing it loads libscipy_openblas)


def _load_onednn() -> None:
    try:
        dist = importlib.metadata.distribution("onednn-cpu-gomp")
    except importlib.metadata.PackageNotFoundError:
        return  # a build without oneDNN, or one whose rpath finds it
    for f in dist.files or ():
        if f.name == "libdnnl.so.3":
            ctypes.CDLL(str(dist.locate_file(f)), mode=ctypes.RTLD_GLOBAL)
            return


_load_onednn()


def require_native() -> None:
    """Raises ImportError, saying what to do, when this flowmod has no built extension: a
    source tree that was never built in place, typically imported because it is the current
    directory and so shadows an installed flowmod. (Importing flowmod._native there would
    fail with a misleading message about a circular import.)"""
    if importlib.util.find_spec("flowmod._native") is not None:
        return
    here = os.path.dirname(os.path.abspath(__file__))
    raise ImportError(
        f"flowmod's native extension (flowmod._native) is not in {here}: Python imported a "
        f"flowmod source tree that has not been built. Build it in place with "
        f"`pip install -e .` from the repository root, or, to use an installed flowmod, run "
        f"Python from another directory (the current directory comes first on sys.path).",
        name="flowmod._native", path=here)
