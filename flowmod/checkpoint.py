"""Checkpoint sets: the files one ``save_checkpoint`` writes, committed so that a load of an
epoch gets all of that epoch's files or raises MXNetError naming what is missing.

The files keep MXNet's names and formats (``prefix-symbol.json``, ``prefix-%04d.params``,
``prefix-%04d.states``; ``prefix-KEY-symbol.json`` and ``prefix.buckets`` for buckets), so
MXNet loads flowmod's checkpoints and flowmod loads MXNet's. One file is added per epoch,
``prefix-%04d.manifest``: a small JSON document with the size and SHA-256 of the epoch's
params and states files (MXNet ignores it).

A save:

1. removes the temporaries that earlier saves to the prefix left when they were killed;
2. writes every file to a temporary beside its target and flushes it to disk;
3. renames them in this order, syncing the directory after each step so that the order
   holds after a crash of the machine too: the prefix's shared files (symbols, bucket keys),
   the manifest, the states, the params.

The manifest is in place before any file of its epoch, so from then on the epoch's files
are checked against it: a kill in the middle leaves the epoch missing a file, or holding a
file of an earlier save of that epoch, and its load raises MXNetError naming the file. The
other epochs are never touched, so the previous complete one still loads. An epoch without
a manifest was written by MXNet (or before manifests existed) and loads as MXNet loads it,
except that asking for optimizer states that are not there raises at load, not in ``fit``.

The symbol file is shared by every epoch of a prefix, as in MXNet; it is replaced whole
(atomically), and a save of a different network over a prefix changes it for the earlier
epochs too, as MXNet's does.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from typing import IO, Callable

from . import params_format
from .base import MXNetError
from .fileio import (commit_temporary, remove_stale_temporaries, sync_directory,
                     write_temporary)

__all__ = ["params_name", "states_name", "manifest_name", "save_set", "read_params",
           "check_states"]

_FORMAT = "flowmod checkpoint"
_VERSION = 1
_CHUNK = 1 << 20


def params_name(prefix, epoch: int) -> str:
    return "%s-%04d.params" % (prefix, epoch)


def states_name(prefix, epoch: int) -> str:
    return "%s-%04d.states" % (prefix, epoch)


def manifest_name(prefix, epoch: int) -> str:
    return "%s-%04d.manifest" % (prefix, epoch)


class _HashingFile:
    """A write-only file that passes what it is given to ``out`` and hashes it."""

    def __init__(self, out: IO):
        self._out = out
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        self._out.write(view)
        self.sha256.update(view)
        self.size += view.nbytes
        return view.nbytes


def _belongs_to(prefix) -> Callable[[str], bool]:
    # Every name a checkpoint of the prefix uses: epochs (MXNet's %04d may be longer or
    # negative), bucket keys (integers) and the shared files.
    base = re.escape(os.path.basename(os.fspath(prefix)))
    pattern = re.compile(rf"^{base}(-(-?[0-9]+)\.(params|states|manifest)"
                         rf"|(-(-?[0-9]+))?-symbol\.json|\.buckets)$")
    return lambda name: pattern.match(name) is not None


def _write_hashed(fname: str, write: Callable[[IO], None]):
    record = {}

    def hashed(out):
        tee = _HashingFile(out)
        write(tee)
        record.update(size=tee.size, sha256=tee.sha256.hexdigest())

    return write_temporary(fname, hashed), record


def save_set(prefix, epoch: int, params: dict, states: bytes | None = None,
             shared: tuple = ()) -> None:
    """Writes one epoch's checkpoint set: ``params`` (a dict of str to numpy array, in
    MXNet's .params format), ``states`` (the optimizer state bytes, or None for none) and
    the prefix's ``shared`` files, pairs ``(file name, str or bytes)`` committed in their order
    before the epoch's files. OSError propagates; the files already in place then are as
    they were or complete."""
    directory = os.path.dirname(os.path.abspath(params_name(prefix, epoch)))
    remove_stale_temporaries(directory, _belongs_to(prefix))
    pending = []   # (temporary, target), in commit order
    try:
        for fname, content in shared:
            pending.append((write_temporary(fname, lambda out, c=content: out.write(c),
                                            binary=isinstance(content, bytes)), fname))
        files = {}
        if states is not None:
            tmp, files["states"] = _write_hashed(states_name(prefix, epoch),
                                                 lambda out: out.write(states))
            states_tmp = (tmp, states_name(prefix, epoch))
        tmp, files["params"] = _write_hashed(params_name(prefix, epoch),
                                             lambda out: params_format.dump(params, out))
        params_tmp = (tmp, params_name(prefix, epoch))
        manifest = {"format": _FORMAT, "version": _VERSION, "epoch": int(epoch),
                    "params": dict(name=os.path.basename(params_tmp[1]), **files["params"]),
                    "states": (dict(name=os.path.basename(states_tmp[1]), **files["states"])
                               if states is not None else None)}
        text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
        pending.append((write_temporary(manifest_name(prefix, epoch),
                                        lambda out: out.write(text), binary=False),
                        manifest_name(prefix, epoch)))
        if states is not None:
            pending.append(states_tmp)
        pending.append(params_tmp)
        while pending:
            tmp, target = pending[0]
            commit_temporary(tmp, target)
            pending.pop(0)
            sync_directory(os.path.dirname(os.path.abspath(target)))
    finally:
        for tmp, _ in pending:
            try:
                os.unlink(tmp)
            except OSError:
                pass


# -- loading ------------------------------------------------------------------------------

def _read_manifest(prefix, epoch: int, func: str):
    name = manifest_name(prefix, epoch)
    try:
        with open(name, "rb") as f:
            raw = f.read(1 << 16)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise MXNetError(f"{func}: cannot read the checkpoint manifest {name!r}: {e}") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise MXNetError(f"{func}: the checkpoint manifest {name!r} is not valid JSON "
                         f"({e}); remove it to load the epoch as MXNet would") from None
    ok = (isinstance(doc, dict) and doc.get("format") == _FORMAT
          and doc.get("version") == _VERSION and doc.get("epoch") == epoch
          and isinstance(doc.get("params"), dict) and "states" in doc
          and (doc["states"] is None or isinstance(doc["states"], dict)))
    for key in ("params", "states"):
        entry = doc.get(key) if isinstance(doc, dict) else None
        if isinstance(entry, dict):
            ok = ok and (isinstance(entry.get("size"), int)
                         and isinstance(entry.get("sha256"), str))
    if not ok:
        raise MXNetError(f"{func}: the checkpoint manifest {name!r} is not a {_FORMAT!r} "
                         f"version {_VERSION} manifest of epoch {epoch}; remove it to load "
                         f"the epoch as MXNet would")
    return doc


def _interrupted(func: str, fname: str, prefix, epoch: int, what: str) -> MXNetError:
    return MXNetError(f"{func}: {fname!r} {what}: the checkpoint of epoch {epoch} is incomplete (its "
                      f"save was interrupted, or the file changed since); "
                      f"{manifest_name(prefix, epoch)!r} lists the files of the complete "
                      f"set")


def _check_against(f, fname: str, entry: dict, prefix, epoch: int, func: str) -> None:
    size = os.fstat(f.fileno()).st_size
    if size != entry["size"]:
        raise _interrupted(func, fname, prefix, epoch,
                           f"has {size} bytes where the manifest says {entry['size']}")
    digest = hashlib.sha256()
    while True:
        chunk = f.read(_CHUNK)
        if not chunk:
            break
        digest.update(chunk)
    if digest.hexdigest() != entry["sha256"]:
        raise _interrupted(func, fname, prefix, epoch,
                           "does not match its SHA-256 in the manifest")
    f.seek(0)


def _open_member(func, fname, what, manifest, prefix, epoch, absent: str):
    """Opens one file of an epoch's set for reading. A file the manifest lists but the disk
    lacks is an interrupted save; without a manifest, ``absent`` says what is missing."""
    try:
        return open(fname, "rb")
    except FileNotFoundError:
        if manifest is not None:
            raise _interrupted(func, fname, prefix, epoch, "is missing") from None
        raise MXNetError(absent) from None
    except OSError as e:
        raise MXNetError(f"{func}: cannot open the {what} {fname!r}: {e}") from None


def read_params(prefix, epoch: int, func: str = "load_checkpoint"):
    """The contents of ``prefix-%04d.params`` (a dict or list of numpy arrays, as
    ``params_format.load`` gives), checked against the epoch's manifest if it has one."""
    manifest = _read_manifest(prefix, epoch, func)
    fname = params_name(prefix, epoch)
    f = _open_member(func, fname, "parameter file", manifest, prefix, epoch,
                     f"{func}: the parameter file {fname!r} of epoch {epoch} does not exist")
    with f:
        try:
            if manifest is not None:
                _check_against(f, fname, manifest["params"], prefix, epoch, func)
            return params_format.load_stream(f, os.fstat(f.fileno()).st_size, fname)
        except OSError as e:
            raise MXNetError(f"{func}: cannot read the parameter file {fname!r}: {e}") from None


def check_states(prefix, epoch: int, func: str = "load") -> str:
    """The name of the epoch's optimizer states file, after checking that it exists and,
    where the epoch has a manifest, that it is the file saved with the epoch's params."""
    manifest = _read_manifest(prefix, epoch, func)
    fname = states_name(prefix, epoch)
    if manifest is not None and manifest["states"] is None:
        raise MXNetError(f"{func}: load_optimizer_states=True, but the checkpoint of epoch "
                         f"{epoch} was saved without optimizer states (no {fname!r} in "
                         f"{manifest_name(prefix, epoch)!r})")
    f = _open_member(func, fname, "optimizer states file", manifest, prefix, epoch,
                     f"{func}: load_optimizer_states=True, but the optimizer states file "
                     f"{fname!r} of epoch {epoch} does not exist")
    with f:
        if manifest is not None:
            try:
                _check_against(f, fname, manifest["states"], prefix, epoch, func)
            except OSError as e:
                raise MXNetError(f"{func}: cannot read the optimizer states file {fname!r}: "
                                 f"{e}") from None
    return fname
