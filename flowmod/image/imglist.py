"""Image list files (``.lst``), as MXNet's ``im2rec`` writes them: one image a line,
``index<TAB>label...<TAB>path``. Read by ``mx.image.ImageIter`` and ``mx.io.ImageRecordIter``."""
from __future__ import annotations

import os

from ..base import MXNetError


def read_imglist(path, owner: str) -> list[tuple[int, list[str], str]]:
    """The ``(index, labels, path)`` of every non-empty line, the labels as written;
    ``owner`` (the iterator's name) prefixes the errors."""
    path = os.fspath(path)
    try:
        fin = open(path)
    except OSError as e:
        raise MXNetError(f"{owner}: path_imglist={path!r}: cannot read the file: "
                         f"{e.strerror or e}") from None
    entries = []
    with fin:
        for lineno, line in enumerate(fin, 1):
            if not line.strip():
                continue
            fields = line.strip().split("\t")
            if len(fields) < 3:
                raise MXNetError(f"{owner}: path_imglist={path!r} line {lineno}: "
                                 f"{line.rstrip()!r}: expected 'index<TAB>label...<TAB>path'")
            try:
                index = int(fields[0])
            except ValueError:
                raise MXNetError(f"{owner}: path_imglist={path!r} line {lineno}: index "
                                 f"{fields[0]!r}: expected an integer") from None
            entries.append((index, fields[1:-1], fields[-1]))
    return entries
