"""Atomic file writes: every file flowmod writes (parameters, symbols, optimizer states,
checkpoints) goes to a temporary file beside the target, is flushed to disk and renamed
over it, so a reader or a crash sees the old file or the new one, never a mixture.

A temporary is named ``.TARGET.PID.RANDOM.tmp`` (the writing process's id in it), so that a
later writer can tell the leftovers of a killed process (:func:`remove_stale_temporaries`)
from a file another live process is still writing."""
from __future__ import annotations

import os
import re
import stat
import uuid
from typing import IO, Callable

__all__ = ["write_atomic", "write_temporary", "commit_temporary", "sync_directory",
           "remove_stale_temporaries"]

_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.(?P<pid>[0-9]+)\.[0-9a-f]{12}\.tmp$")


def _temp_beside(fname: str):
    directory = os.path.dirname(os.path.abspath(fname))
    base = os.path.basename(fname)
    while True:
        path = os.path.join(directory, f".{base}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            # Created with 0o666 so that the umask applies as for an ordinary new file.
            return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue


def sync_directory(directory: str) -> None:
    """Makes the renames done in ``directory`` durable (and ordered, for a crash of the
    machine). Some platforms and file systems cannot open or sync a directory; the data is
    already safely in place for readers then."""
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


def _target_of(fname) -> str:
    fname = os.fspath(fname)
    return os.path.realpath(fname) if os.path.islink(fname) else fname


def write_temporary(fname, write: Callable[[IO], None], binary: bool = True) -> str:
    """Writes what ``write(file)`` writes to a new temporary file beside ``fname`` (beside
    the target of a symbolic link), flushed to disk, and returns its path; on any error the
    temporary is removed. :func:`commit_temporary` renames it over ``fname``."""
    tmp, fd = _temp_beside(_target_of(fname))
    try:
        with os.fdopen(fd, "wb" if binary else "w",
                       **({} if binary else {"encoding": "utf-8"})) as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return tmp


def commit_temporary(tmp: str, fname) -> None:
    """Renames the temporary ``tmp`` over ``fname`` (through a symbolic link), keeping an
    existing file's permission bits. The caller syncs the directory."""
    target = _target_of(fname)
    try:
        os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
    except FileNotFoundError:
        pass
    os.replace(tmp, target)


def write_atomic(fname, write: Callable[[IO], None], binary: bool = True) -> None:
    """Replaces ``fname`` with what ``write(file)`` writes. A symbolic link is written
    through (its target is replaced), an existing file's permission bits are kept, and on
    any error the old file is left as it was and the temporary file removed. OSError
    propagates."""
    tmp = write_temporary(fname, write, binary)
    try:
        commit_temporary(tmp, fname)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    sync_directory(os.path.dirname(os.path.abspath(_target_of(fname))))


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True


def remove_stale_temporaries(directory: str, belongs: Callable[[str], bool]) -> list:
    """Removes from ``directory`` the temporaries of targets for which ``belongs(name)`` is
    true whose writing process no longer runs (a writer killed before its rename), and
    returns their paths. Temporaries of running processes, this one included, are kept: they
    may be in the middle of a write."""
    removed = []
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return removed
    for name in names:
        match = _TEMP_NAME.match(name)
        if match is None or not belongs(match.group("target")):
            continue
        if _process_alive(int(match.group("pid"))):
            continue
        path = os.path.join(directory, name)
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed
