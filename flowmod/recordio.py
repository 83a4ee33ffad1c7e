"""RecordIO files (``mxnet.recordio``): ``MXRecordIO``, ``MXIndexedRecordIO``, and the image
record header ``IRHeader`` with ``pack``/``unpack``/``pack_img``/``unpack_img``.

The on-disk format is dmlc-core's, byte for byte, so files written by MXNet (its ``im2rec``
tool and ``mx.recordio``) read here and the other way round. A record is one or more parts;
each part is::

    uint32 magic 0xced7230a | uint32 lrec | payload | zero padding to a multiple of 4 bytes

all little-endian, where ``lrec`` holds the payload length in its lower 29 bits and a
continuation flag in its upper 3: 0 a whole record, 1 the first part of a split record,
2 a middle part, 3 the last part. A record is split wherever its payload holds the magic
number at a 4-byte aligned position: the writer drops those four bytes and starts a new part,
the reader puts them back, so a reader that scans for the magic number to find the next
record (as dmlc-core's sharded readers do) never lands inside one. The ``.idx`` file of
``MXIndexedRecordIO`` is text, one ``key<TAB>offset`` line per record, the offset of the
record's first part in the ``.rec`` file.
"""
from __future__ import annotations

import numbers
import os
import struct
from collections import namedtuple

import numpy as np

from .base import MXNetError

__all__ = ["MXRecordIO", "MXIndexedRecordIO", "IRHeader", "pack", "unpack", "pack_img",
           "unpack_img"]

_MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", _MAGIC)
_PART_HEADER = struct.Struct("<II")
_LENGTH_MASK = (1 << 29) - 1
# Whole, first, middle and last parts of a record.
_WHOLE, _FIRST, _MIDDLE, _LAST = 0, 1, 2, 3


def encode_record(buf) -> bytes:
    """The bytes dmlc-core's RecordIOWriter writes for one record holding ``buf``."""
    data = bytes(buf)
    size = len(data)
    if size >= 1 << 29:
        raise MXNetError(f"MXRecordIO.write: a record of {size} bytes: RecordIO records hold "
                         f"less than 2**29 bytes")
    parts = []
    start = 0
    # The magic number can only split a record at 4-byte aligned positions of the payload.
    pos = data.find(_MAGIC_BYTES)
    while pos != -1:
        if pos % 4 == 0 and pos + 4 <= (size // 4) * 4:
            flag = _FIRST if start == 0 else _MIDDLE
            parts.append(_PART_HEADER.pack(_MAGIC, (flag << 29) | (pos - start)))
            parts.append(data[start:pos])
            start = pos + 4
            pos = data.find(_MAGIC_BYTES, start)
        else:
            pos = data.find(_MAGIC_BYTES, pos + 1)
    flag = _LAST if start != 0 else _WHOLE
    parts.append(_PART_HEADER.pack(_MAGIC, (flag << 29) | (size - start)))
    parts.append(data[start:])
    parts.append(b"\0" * (-size % 4))
    return b"".join(parts)


def read_record(fd: int, offset: int, file_size: int, uri: str) -> tuple[bytes | None, int]:
    """The record whose first part starts at ``offset`` of the file open as ``fd`` and the
    offset after it; None at the end of the file. Reads with ``os.pread``, so threads may
    share ``fd``. A record that is cut short or not where a record must start raises
    MXNetError naming the offset; nothing past ``file_size`` is read."""
    chunks = []
    pos = offset
    while True:
        head = os.pread(fd, 8, pos) if pos < file_size else b""
        if not head:
            if chunks:
                raise MXNetError(f"MXRecordIO: {uri!r}: truncated record at offset {offset}: "
                                 f"the file ends at {pos} before its last part")
            return None, pos
        if len(head) < 8:
            raise MXNetError(f"MXRecordIO: {uri!r}: truncated record at offset {pos}: "
                             f"{len(head)} bytes left, a record header has 8")
        magic, lrec = _PART_HEADER.unpack(head)
        if magic != _MAGIC:
            raise MXNetError(f"MXRecordIO: {uri!r}: invalid RecordIO file: no record starts "
                             f"at offset {pos} (found 0x{magic:08x}, expected the magic "
                             f"number 0x{_MAGIC:08x})")
        flag, length = lrec >> 29, lrec & _LENGTH_MASK
        first = not chunks
        if flag > _LAST or (first and flag not in (_WHOLE, _FIRST)) or (
                not first and flag not in (_MIDDLE, _LAST)):
            raise MXNetError(f"MXRecordIO: {uri!r}: corrupt record at offset {offset}: its "
                             f"part at offset {pos} has continuation flag {flag}")
        padded = (length + 3) & ~3
        if pos + 8 + padded > file_size:
            raise MXNetError(f"MXRecordIO: {uri!r}: truncated record at offset {pos}: it "
                             f"announces {length} bytes, the file has "
                             f"{max(0, file_size - pos - 8)} after its header")
        payload = os.pread(fd, length, pos + 8) if length else b""
        if len(payload) != length:
            raise MXNetError(f"MXRecordIO: {uri!r}: truncated record at offset {pos}: read "
                             f"{len(payload)} of {length} bytes")
        chunks.append(payload)
        pos += 8 + padded
        if flag in (_WHOLE, _LAST):
            return (chunks[0] if len(chunks) == 1 else _MAGIC_BYTES.join(chunks)), pos


def scan_records(fd: int, file_size: int, uri: str) -> list[int]:
    """The offsets of the records of the file open as ``fd``, read from their part headers
    (the payloads are skipped); a corrupt or truncated file raises MXNetError naming the
    offset, as ``read_record``."""
    offsets = []
    pos = 0
    start = True
    while pos < file_size:
        head = os.pread(fd, 8, pos)
        if len(head) < 8:
            raise MXNetError(f"MXRecordIO: {uri!r}: truncated record at offset {pos}: "
                             f"{len(head)} bytes left, a record header has 8")
        magic, lrec = _PART_HEADER.unpack(head)
        flag, length = lrec >> 29, lrec & _LENGTH_MASK
        if magic != _MAGIC or flag > _LAST or start != (flag in (_WHOLE, _FIRST)):
            # read_record words the error.
            read_record(fd, offsets[-1] if not start else pos, file_size, uri)
            raise MXNetError(f"MXRecordIO: {uri!r}: corrupt record at offset {pos}")
        if start:
            offsets.append(pos)
        pos += 8 + ((length + 3) & ~3)
        if pos > file_size:
            read_record(fd, offsets[-1], file_size, uri)
        start = flag in (_WHOLE, _LAST)
    if not start:
        read_record(fd, offsets[-1], file_size, uri)
    return offsets


def _uri_arg(uri, owner: str) -> str:
    if isinstance(uri, bytes):
        uri = uri.decode("utf-8")
    if not isinstance(uri, (str, os.PathLike)):
        raise TypeError(f"{owner}: uri={uri!r}: expected a file path")
    return os.fspath(uri)


class MXRecordIO:
    """MXRecordIO(uri, flag)

    Reads or writes a RecordIO file sequentially, as ``mx.recordio.MXRecordIO``: ``flag``
    is ``'w'`` (the file is created or truncated) or ``'r'``. ``write(buf)`` appends a
    record, ``read()`` returns the next one as bytes (None at the end of the file),
    ``reset()`` goes back to the first record (for ``'w'``: truncates the file) and
    ``close()`` flushes and closes it::

        >>> w = mx.recordio.MXRecordIO('tmp.rec', 'w')
        >>> for i in range(3):
        ...     w.write(b'record_%d' % i)
        >>> w.close()
        >>> r = mx.recordio.MXRecordIO('tmp.rec', 'r')
        >>> r.read()
        b'record_0'

    Pickling, as in MXNet, closes the file and records its path, flag and whether it was
    open; the unpickled copy opens the file again (from its first record; for ``'w'``,
    truncated). The file may not be used from a process other than the one that opened it
    (``RuntimeError``, as MXNet): call ``reset()`` there, or unpickle a copy.
    """

    def __init__(self, uri, flag: str):
        self.uri = _uri_arg(uri, type(self).__name__)
        self.flag = flag
        self.pid: int | None = None
        self.is_open = False
        self._file = None
        self.open()

    def open(self) -> None:
        """Opens the file: for ``'w'`` creates or truncates it, for ``'r'`` reads from its
        first record."""
        if self.flag == "w":
            mode, self.writable = "wb", True
        elif self.flag == "r":
            mode, self.writable = "rb", False
        else:
            raise ValueError(f"Invalid flag {self.flag}: expected 'r' or 'w'")
        try:
            self._file = open(self.uri, mode, buffering=-1 if self.writable else 0)
        except OSError as e:
            raise MXNetError(f"{type(self).__name__}: cannot open {self.uri!r} for "
                             f"{'writing' if self.writable else 'reading'}: "
                             f"{e.strerror or e}") from None
        self._size = 0 if self.writable else os.fstat(self._file.fileno()).st_size
        self._pos = 0
        self.pid = os.getpid()
        self.is_open = True

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    def __getstate__(self) -> dict:
        is_open = self.is_open
        self.close()
        d = dict(self.__dict__)
        d["is_open"] = is_open
        d["_file"] = None
        return d

    def __setstate__(self, d: dict) -> None:
        self.__dict__ = d
        is_open = d["is_open"]
        self.is_open = False
        self._file = None
        if is_open:
            self.open()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_pid(self, allow_reset: bool = False) -> None:
        if not self.is_open:
            raise MXNetError(f"{type(self).__name__}: {self.uri!r} is closed")
        if self.pid != os.getpid():
            if allow_reset:
                self.reset()
            else:
                raise RuntimeError("Forbidden operation in multiple processes")

    def close(self) -> None:
        """Closes the file (flushing what was written). Idempotent."""
        if not self.is_open:
            return
        self._file.close()
        self._file = None
        self.is_open = False
        self.pid = None

    def reset(self) -> None:
        """Goes back to the first record; for ``'w'``, truncates the file."""
        self.close()
        self.open()

    def write(self, buf) -> None:
        """Appends ``buf`` (bytes) as a record."""
        if not self.writable:
            raise AssertionError(f"{type(self).__name__}.write: {self.uri!r} is open for "
                                 f"reading")
        self._check_pid(allow_reset=False)
        if not isinstance(buf, (bytes, bytearray, memoryview)):
            raise TypeError(f"{type(self).__name__}.write: buf is a {type(buf).__name__}: "
                            f"expected bytes")
        encoded = encode_record(buf)
        self._file.write(encoded)
        self._pos += len(encoded)

    def read(self) -> bytes | None:
        """The next record as bytes, or None after the last one."""
        if self.writable:
            raise AssertionError(f"{type(self).__name__}.read: {self.uri!r} is open for "
                                 f"writing")
        self._check_pid(allow_reset=False)
        record, self._pos = read_record(self._file.fileno(), self._pos, self._size, self.uri)
        return record


class MXIndexedRecordIO(MXRecordIO):
    """MXIndexedRecordIO(idx_path, uri, flag, key_type=int)

    A RecordIO file with an index for random access, as ``mx.recordio.MXIndexedRecordIO``:
    ``write_idx(key, buf)`` appends a record and its ``key<TAB>offset`` line to the text
    file ``idx_path``; ``read_idx(key)`` reads the record of ``key``; ``keys`` lists the
    keys in file order and ``idx`` maps them to offsets. Keys are read as ``key_type``.

        >>> w = mx.recordio.MXIndexedRecordIO('tmp.idx', 'tmp.rec', 'w')
        >>> for i in range(5):
        ...     w.write_idx(i, b'record_%d' % i)
        >>> w.close()
        >>> mx.recordio.MXIndexedRecordIO('tmp.idx', 'tmp.rec', 'r').read_idx(3)
        b'record_3'
    """

    def __init__(self, idx_path, uri, flag: str, key_type=int):
        self.idx_path = _uri_arg(idx_path, "MXIndexedRecordIO")
        self.idx: dict = {}
        self.keys: list = []
        self.key_type = key_type
        self.fidx = None
        super().__init__(uri, flag)

    def open(self) -> None:
        super().open()
        self.idx = {}
        self.keys = []
        try:
            self.fidx = open(self.idx_path, self.flag)
        except OSError as e:
            super().close()
            raise MXNetError(f"MXIndexedRecordIO: cannot open the index {self.idx_path!r}: "
                             f"{e.strerror or e}") from None
        if not self.writable:
            for lineno, line in enumerate(iter(self.fidx.readline, ""), 1):
                fields = line.strip().split("\t")
                if not line.strip():
                    continue
                try:
                    key, offset = self.key_type(fields[0]), int(fields[1])
                except (IndexError, ValueError):
                    raise MXNetError(f"MXIndexedRecordIO: {self.idx_path!r} line {lineno}: "
                                     f"{line.rstrip()!r}: expected 'key<TAB>offset'") from None
                if not 0 <= offset < max(self._size, 1):
                    raise MXNetError(f"MXIndexedRecordIO: {self.idx_path!r} line {lineno}: "
                                     f"offset {offset} is outside {self.uri!r} "
                                     f"({self._size} bytes)")
                self.idx[key] = offset
                self.keys.append(key)

    def close(self) -> None:
        """Closes the record file and the index."""
        if not self.is_open:
            return
        super().close()
        self.fidx.close()

    def __getstate__(self) -> dict:
        d = super().__getstate__()
        d["fidx"] = None
        return d

    def seek(self, idx) -> None:
        """Moves the reader to the record of key ``idx``."""
        if self.writable:
            raise AssertionError(f"MXIndexedRecordIO.seek: {self.uri!r} is open for writing")
        self._check_pid(allow_reset=True)
        try:
            pos = self.idx[idx]
        except KeyError:
            raise KeyError(f"MXIndexedRecordIO: key {idx!r} is not in {self.idx_path!r}"
                           ) from None
        self._pos = pos

    def tell(self) -> int:
        """The offset the next record will be written at."""
        if not self.writable:
            raise AssertionError(f"MXIndexedRecordIO.tell: {self.uri!r} is open for reading")
        return self._pos

    def read_idx(self, idx) -> bytes:
        """The record of key ``idx``."""
        self.seek(idx)
        record = self.read()
        if record is None:
            raise MXNetError(f"MXIndexedRecordIO: key {idx!r}: offset {self.idx[idx]} is the "
                             f"end of {self.uri!r}")
        return record

    def write_idx(self, idx, buf) -> None:
        """Appends ``buf`` as the record of key ``idx``."""
        key = self.key_type(idx)
        pos = self.tell()
        self.write(buf)
        self.fidx.write(f"{key}\t{pos}\n")
        self.idx[key] = pos
        self.keys.append(key)


IRHeader = namedtuple("HEADER", ["flag", "label", "id", "id2"])
IRHeader.__doc__ = """IRHeader(flag, label, id, id2): the header of an image record.

``label`` is a number, or an array of float32 labels (then ``flag`` is their count);
``id`` identifies the record (``id2`` holds higher bits, usually 0)."""

_IR_FORMAT = "IfQQ"
_IR_SIZE = struct.calcsize(_IR_FORMAT)


def pack(header, s: bytes) -> bytes:
    """pack(header, s) -> bytes

    An image record: ``header`` (an IRHeader or 4-tuple) packed as MXNet's
    ``struct('IfQQ')``, followed by the labels when ``header.label`` is an array, and ``s``.
    """
    header = IRHeader(*header)
    if isinstance(header.label, numbers.Number):
        header = header._replace(flag=0)
    else:
        label = np.asarray(header.label, dtype=np.float32)
        header = header._replace(flag=label.size, label=0)
        s = label.tobytes() + bytes(s)
    return struct.pack(_IR_FORMAT, *header) + bytes(s)


def unpack(s: bytes) -> tuple[IRHeader, bytes]:
    """unpack(s) -> (IRHeader, bytes)

    The header and payload of an image record made by ``pack``; with several labels
    ``header.label`` is a float32 array."""
    if len(s) < _IR_SIZE:
        raise MXNetError(f"unpack: a record of {len(s)} bytes is shorter than the "
                         f"{_IR_SIZE}-byte image record header")
    header = IRHeader(*struct.unpack(_IR_FORMAT, s[:_IR_SIZE]))
    s = s[_IR_SIZE:]
    if header.flag > 0:
        if len(s) < 4 * header.flag:
            raise MXNetError(f"unpack: the header announces {header.flag} labels, the record "
                             f"holds {len(s)} bytes after it")
        header = header._replace(label=np.frombuffer(s, np.float32, header.flag))
        s = s[header.flag * 4:]
    return header, s


def unpack_img(s: bytes, iscolor: int = -1) -> tuple[IRHeader, np.ndarray]:
    """unpack_img(s, iscolor=-1) -> (IRHeader, numpy.ndarray)

    The header and the decoded image (HWC, BGR as OpenCV decodes it) of an image record;
    ``iscolor`` is OpenCV's imread flag (-1 as stored, 0 gray, 1 color)."""
    import cv2

    header, s = unpack(s)
    img = cv2.imdecode(np.frombuffer(s, dtype=np.uint8), iscolor)
    if img is None:
        raise MXNetError(f"unpack_img: the {len(s)}-byte image of record id {header.id} "
                         f"cannot be decoded")
    return header, img


def pack_img(header, img: np.ndarray, quality: int = 95, img_fmt: str = ".jpg") -> bytes:
    """pack_img(header, img, quality=95, img_fmt='.jpg') -> bytes

    An image record holding ``img`` (HWC, BGR, uint8) encoded with OpenCV: ``img_fmt``
    '.jpg' (``quality`` 1-100) or '.png' (``quality`` is the compression, 0-9)."""
    import cv2

    fmt = img_fmt.upper()
    if fmt in (".JPG", ".JPEG"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    elif fmt == ".PNG":
        params = [cv2.IMWRITE_PNG_COMPRESSION, int(quality)]
    else:
        params = []
    ok, buf = cv2.imencode(img_fmt, np.asarray(img), params)
    if not ok:
        raise MXNetError(f"pack_img: OpenCV cannot encode an image of shape "
                         f"{np.shape(img)} as {img_fmt!r}")
    return pack(header, buf.tobytes())
