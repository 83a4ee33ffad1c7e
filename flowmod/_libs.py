"""Loads the shared libraries that flowmod._native links before it is imported: OpenBLAS
(the scipy-openblas32 wheel) and, on x86-64 Linux, oneDNN (the onednn-cpu-gomp wheel, which
installs libdnnl into the environment's lib directory rather than into a package)."""
from __future__ import annotations

import ctypes
import importlib.metadata

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
