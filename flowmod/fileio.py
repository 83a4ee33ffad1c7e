"""Atomic file writes: every file flowmod writes (parameters, symbols, optimizer states,
checkpoints) goes to a temporary file beside the target, is flushed to disk and renamed
over it, so a reader or a crash sees the old file or the new one, never a mixture."""
from __future__ import annotations

import os
import stat
import uuid
from typing import Callable, IO

__all__ = ["write_atomic"]


def _temp_beside(fname: str):
    directory = os.path.dirname(os.path.abspath(fname))
    base = os.path.basename(fname)
    while True:
        path = os.path.join(directory, f".{base}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            # Created with 0o666 so that the umask applies as for an ordinary new file.
            return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue


def _sync_directory(directory: str) -> None:
    # Makes the rename itself durable; some platforms and file systems cannot open or sync a
    # directory, and the data is already safely in place for readers then.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(fname, write: Callable[[IO], None], binary: bool = True) -> None:
    """Replaces ``fname`` with what ``write(file)`` writes. A symbolic link is written
    through (its target is replaced), an existing file's permission bits are kept, and on
    any error the old file is left as it was and the temporary file removed. OSError
    propagates."""
    fname = os.fspath(fname)
    target = os.path.realpath(fname) if os.path.islink(fname) else fname
    tmp, fd = _temp_beside(target)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        except FileNotFoundError:
            pass
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _sync_directory(os.path.dirname(os.path.abspath(target)))
