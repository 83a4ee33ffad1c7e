"""MXNet 1.x's binary NDArray list format: the files ``mx.nd.save`` writes and
``mx.nd.load`` reads (``.params`` files among them), on numpy arrays.

Everything is little-endian. A file is::

    uint64  0x112                 kMXAPINDArrayListMagic
    uint64  0                     reserved (never checked on load)
    uint64  N                     number of arrays
    N x     array record
    uint64  K                     number of names: 0 (a list) or N (a dict)
    K x     uint64 length, then that many bytes of UTF-8 name

An array record as MXNet 1.9 writes it (the V2 layout)::

    uint32  0xF993FAC9            NDARRAY_V2_MAGIC
    int32   storage type          0 dense, 1 row_sparse, 2 csr (see below)
    int32   ndim, int64 x ndim    shape
    int32   dev_type, int32 dev_id  context the array lived on (written as cpu(0))
    int32   type flag             0 float32, 1 float64, 2 float16, 3 uint8, 4 int32,
                                  5 int8, 6 int64, 7 bool, 12 bfloat16
    bytes   the elements, C order, prod(shape) * itemsize bytes

A sparse record (storage type 1 or 2) has, after the storage type, the storage shape
(the shape of the stored values: (nnz,) for csr, (rows stored, ...) for row_sparse) before
the shape, and after the type flag, for each index array (csr: indptr then indices;
row_sparse: indices), its int32 type flag and its shape; then the stored values, then each
index array's elements. In flowmod these records are :class:`SparseArray` values.

Older records, which MXNet 1.9 still reads and so does this module:

* V1 (magic 0xF993FAC8): the magic, then the shape as above; no storage type.
* legacy (no magic): the first uint32 *is* ndim, followed by ndim uint32 dims.

Both continue with context, type flag and elements exactly like V2. MXNet takes any first
word other than the V1, V2 and V3 (0xF993FACA) magics for a legacy ndim; so does this
module, reporting a bad magic when that ndim cannot be right.

Shapes and "none" arrays. MXNet 1.9, outside NumPy-shape semantics, writes a 0-d array
(``mx.nd.array(np.float32(3))`` has shape ``()``) as ndim 0 followed by its context, type
flag and one element. Its own V2 reader takes ndim 0 for a "none" array and stops there,
so it cannot read that file back; it reads it correctly only under global NumPy-shape
semantics. A none array can never be written (saving one fails with "Unknown storage
type-1"), so every V2 record with ndim 0 that MXNet produces carries data, and this module
reads it as a 0-d array. For V1 and legacy records MXNet 1.9 itself reads ndim 0 as a 0-d
array with one element, and so does this module. Dims of size 0 give zero-size arrays in
all three layouts, as in MXNet 1.9.

What this module does the way MXNet 1.9 does: the reserved word, the stored context and
any bytes after the last name are ignored; arrays always load to host memory; duplicate
names keep the last array; a file with no names loads as a list, so an empty dict loads
as ``[]``. What it rejects with :class:`~flowmod.base.MXNetError`: sparse records whose
shapes do not fit together, V3
records (written under NumPy-shape semantics, which MXNet 1.9 refuses outside them too),
type flags MXNet 1.9 has no type for (8-11), and anything truncated or inconsistent.
Every count, ndim and size is checked against the bytes left before anything is
allocated, so a corrupted file fails fast instead of allocating what its header claims.
"""
from __future__ import annotations

import io
import os
import stat
import struct

import numpy as np

from .base import MXNetError
from .fileio import write_atomic

__all__ = ["dumps", "dump", "loads", "save", "load", "load_stream", "SparseArray"]

LIST_MAGIC = 0x112
NDARRAY_V1_MAGIC = 0xF993FAC8
NDARRAY_V2_MAGIC = 0xF993FAC9
NDARRAY_V3_MAGIC = 0xF993FACA

STORAGE_DEFAULT = 0
STORAGE_ROW_SPARSE = 1
STORAGE_CSR = 2
_STORAGE_NAMES = {STORAGE_ROW_SPARSE: "row_sparse", STORAGE_CSR: "csr"}

# MXNet's Python API has no numpy bfloat16 either; it shows these elements with this
# structured dtype, and so does flowmod.
BFLOAT16 = np.dtype([("bfloat16", "<u2")])

# The flags MXNet 1.9.1's MSHADOW_TYPE_SWITCH knows. 8-11 (int16, uint16, uint32,
# uint64) are named in mshadow's enum but a 1.9.1 build reports "Unknown type enum" for
# them, so they are refused rather than read into files MXNet itself could not load.
_FLAG_TO_DTYPE = {
    0: np.dtype("<f4"),
    1: np.dtype("<f8"),
    2: np.dtype("<f2"),
    3: np.dtype("u1"),
    4: np.dtype("<i4"),
    5: np.dtype("i1"),
    6: np.dtype("<i8"),
    7: np.dtype("?"),
    12: BFLOAT16,
}
_UNSUPPORTED_FLAG_NAMES = {8: "int16", 9: "uint16", 10: "uint32", 11: "uint64"}
_KIND_SIZE_TO_FLAG = {
    ("f", 4): 0, ("f", 8): 1, ("f", 2): 2, ("u", 1): 3,
    ("i", 4): 4, ("i", 1): 5, ("i", 8): 6, ("b", 1): 7,
}

_CPU_DEV_TYPE = 1

# The smallest record a reader can meet: a legacy 0-d array of a 1-byte type
# (uint32 ndim, int32 x 2 context, int32 type flag, 1 element).
_MIN_RECORD_BYTES = 4 + 8 + 4 + 1

_MAX_NDIM = 64 if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else 32

_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
_I32X3 = struct.Struct("<iii")


class SparseArray:
    """A sparse record: ``stype`` ('csr' or 'row_sparse'), the dense ``shape``, the stored
    values ``data`` and the index arrays ``aux`` in MXNet's order (csr: indptr, indices;
    row_sparse: indices)."""

    __slots__ = ("stype", "shape", "data", "aux")

    def __init__(self, stype: str, shape, data: np.ndarray, aux):
        self.stype, self.shape, self.data, self.aux = stype, tuple(shape), data, list(aux)

    def __repr__(self) -> str:
        return f"SparseArray({self.stype!r}, shape={self.shape}, nnz={self.data.shape[0]})"


_STORAGE_IDS = {"row_sparse": STORAGE_ROW_SPARSE, "csr": STORAGE_CSR}


def _sparse_shapes_error(stype: str, shape, sshape, aux_shapes):
    """What is wrong with a sparse record's shapes, or None."""
    if stype == "csr":
        if len(shape) != 2:
            return f"a csr array has 2 dimensions, not shape {tuple(shape)}"
        if len(sshape) != 1 or [tuple(a) for a in aux_shapes] != [(shape[0] + 1,),
                                                                  (sshape[0],)]:
            return (f"csr shapes do not fit: shape {tuple(shape)}, values {tuple(sshape)}, "
                    f"indptr and indices {[tuple(a) for a in aux_shapes]}")
        return None
    if (len(sshape) != len(shape) or not shape or tuple(sshape[1:]) != tuple(shape[1:])
            or [tuple(a) for a in aux_shapes] != [(sshape[0],)] or sshape[0] > shape[0]):
        return (f"row_sparse shapes do not fit: shape {tuple(shape)}, values "
                f"{tuple(sshape)}, indices {[tuple(a) for a in aux_shapes]}")
    return None


def _dtype_flag(dtype: np.dtype):
    """MXNet's type flag for ``dtype``, or None when MXNet 1.x has no such type."""
    if dtype.names is not None:
        if (dtype.names == ("bfloat16",) and dtype.fields["bfloat16"][0].kind == "u"
                and dtype.fields["bfloat16"][0].itemsize == 2 and dtype.itemsize == 2):
            return 12
        return None
    return _KIND_SIZE_TO_FLAG.get((dtype.kind, dtype.itemsize))


def _describe(value) -> str:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{type(value).__name__} {text}"


def _check_value(value, where: str, func: str) -> np.ndarray:
    if isinstance(value, SparseArray):
        for part in [value.data] + value.aux:
            _check_value(part, where, func)
        error = _sparse_shapes_error(value.stype, value.shape, value.data.shape,
                                     [a.shape for a in value.aux])
        if value.stype not in _STORAGE_IDS or error:
            raise MXNetError(f"{func}: {where}: {error or 'unknown storage ' + value.stype}")
        return value
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        raise MXNetError(
            f"{func}: {where} must be a numpy.ndarray (or numpy scalar), got {_describe(value)}")
    if _dtype_flag(value.dtype) is None:
        raise MXNetError(
            f"{func}: {where} has dtype {value.dtype}, which MXNet 1.x cannot store; "
            f"supported: float32, float64, float16, uint8, int8, int32, int64, bool, bfloat16")
    return value


def _normalize(data, func: str):
    """Checks ``data`` completely and returns ``(arrays, names)``; names is None for a list.

    Nothing is converted yet, so that a bad argument is reported before any output exists
    and a large, valid argument is not copied up front.
    """
    if isinstance(data, np.ndarray):
        # mx.nd.save(fname, nd) saves [nd], so a lone array is accepted the same way.
        return [_check_value(data, "data", func)], None
    if isinstance(data, dict):
        arrays, names = [], []
        for key, value in data.items():
            if not isinstance(key, str):
                raise MXNetError(f"{func}: every key of data must be a str, got {_describe(key)}")
            if "\0" in key:
                # MXNet passes names as C strings and would silently cut this one short.
                raise MXNetError(f"{func}: key {key!r} of data contains a NUL character, "
                                 f"which MXNet's name list cannot hold")
            try:
                names.append(key.encode("utf-8"))
            except UnicodeEncodeError as e:
                raise MXNetError(f"{func}: key {key!r} of data is not encodable as UTF-8: "
                                 f"{e}") from None
            arrays.append(_check_value(value, f"data[{key!r}]", func))
        return arrays, names
    if isinstance(data, list):
        return [_check_value(v, f"data[{i}]", func) for i, v in enumerate(data)], None
    raise MXNetError(
        f"{func}: data must be a list of numpy arrays or a dict of str to numpy array "
        f"(as mx.nd.save takes), got {_describe(data)}")


def _as_stored(array: np.ndarray) -> np.ndarray:
    """``array`` as the C-ordered little-endian elements the file holds."""
    target = BFLOAT16 if array.dtype.names is not None else array.dtype.newbyteorder("<")
    # Not ascontiguousarray: older numpy versions turn a 0-d array into a 1-d one there.
    return np.asarray(array, dtype=target, order="C")


def _write_shape(out, shape) -> None:
    out.write(_I32.pack(len(shape)))
    out.write(struct.pack(f"<{len(shape)}q", *shape))


def _write_sparse(out, array: SparseArray) -> None:
    data = _as_stored(array.data)
    aux = [_as_stored(a) for a in array.aux]
    out.write(_U32.pack(NDARRAY_V2_MAGIC))
    out.write(_I32.pack(_STORAGE_IDS[array.stype]))
    _write_shape(out, data.shape)
    _write_shape(out, array.shape)
    out.write(_I32X3.pack(_CPU_DEV_TYPE, 0, _dtype_flag(data.dtype)))
    for a in aux:
        out.write(_I32.pack(_dtype_flag(a.dtype)))
        _write_shape(out, a.shape)
    for part in [data] + aux:
        if part.size:
            out.write(part.reshape(-1).view(np.uint8))


def _write_array(out, array: np.ndarray) -> None:
    if isinstance(array, SparseArray):
        _write_sparse(out, array)
        return
    stored = _as_stored(array)
    shape = stored.shape
    out.write(_U32.pack(NDARRAY_V2_MAGIC))
    out.write(_I32.pack(STORAGE_DEFAULT))
    out.write(_I32.pack(len(shape)))
    out.write(struct.pack(f"<{len(shape)}q", *shape))
    out.write(_I32X3.pack(_CPU_DEV_TYPE, 0, _dtype_flag(stored.dtype)))
    if stored.size:
        out.write(stored.reshape(-1).view(np.uint8))


def _write(out, arrays, names) -> None:
    out.write(_U64.pack(LIST_MAGIC))
    out.write(_U64.pack(0))
    out.write(_U64.pack(len(arrays)))
    for array in arrays:
        _write_array(out, array)
    names = names or []
    out.write(_U64.pack(len(names)))
    for name in names:
        out.write(_U64.pack(len(name)))
        out.write(name)


def dump(data, out) -> None:
    """Writes what :func:`dumps` returns to the binary file object ``out`` (without
    building the bytes in memory first). ``data`` is checked before anything is written."""
    arrays, names = _normalize(data, "dump")
    _write(out, arrays, names)


def dumps(data) -> bytes:
    """Serializes a list of arrays or a dict of str->array the way ``mx.nd.save`` does.

    Parameters
    ----------
    data : list of numpy.ndarray, or dict of str to numpy.ndarray
        The data to save. A single ``numpy.ndarray`` is saved as a one-element list, as
        ``mx.nd.save`` does for a single NDArray. Numpy scalars are saved as 0-d arrays.
        Dtypes: float32, float64, float16, uint8, int8, int32, int64, bool and bfloat16
        (``numpy.dtype([('bfloat16', '<u2')])``, as MXNet's Python API shows it).

    Returns
    -------
    bytes
        The file contents, byte for byte what MXNet 1.9 writes for the same dense arrays on
        ``cpu(0)``. A 0-d array is written as MXNet writes it (ndim 0, then its element);
        MXNet 1.9 reads that back only under global NumPy-shape semantics, flowmod always.

    Raises
    ------
    MXNetError
        If ``data`` is not a list or dict, a key is not a str, or a value is not an array
        of a supported dtype; nothing has been serialized then.
    """
    arrays, names = _normalize(data, "dumps")
    out = io.BytesIO()
    _write(out, arrays, names)
    return out.getvalue()


class _Reader:
    """Reads exact amounts from a binary stream of known length, and reports where and
    what it expected when the stream cannot supply it."""

    def __init__(self, stream, size: int, source: str | None):
        self._stream = stream
        self._size = size
        self._source = source
        self.offset = 0

    @property
    def remaining(self) -> int:
        return self._size - self.offset

    def fail(self, offset: int, message: str) -> MXNetError:
        where = (f"NDArray file {self._source!r}" if self._source is not None
                 else "NDArray data")
        return MXNetError(f"cannot load {where}: at byte offset {offset}: {message}")

    def need(self, nbytes: int, what: str) -> None:
        if nbytes > self.remaining:
            raise self.fail(self.offset, f"expected {what} ({nbytes} bytes), but only "
                                         f"{self.remaining} bytes remain (truncated file?)")

    def read(self, nbytes: int, what: str) -> bytes:
        self.need(nbytes, what)
        chunk = self._stream.read(nbytes)
        if len(chunk) != nbytes:
            raise self.fail(self.offset, f"expected {what} ({nbytes} bytes), but the "
                                         f"stream ended after {len(chunk)} (file changed?)")
        self.offset += nbytes
        return chunk

    def unpack(self, fmt: struct.Struct, what: str):
        values = fmt.unpack(self.read(fmt.size, what))
        return values[0] if len(values) == 1 else values

    def read_into(self, array: np.ndarray, what: str) -> None:
        nbytes = array.nbytes
        self.need(nbytes, what)
        view = memoryview(array.reshape(-1).view(np.uint8))
        filled = 0
        while filled < nbytes:
            got = self._stream.readinto(view[filled:])
            if not got:
                raise self.fail(self.offset + filled,
                                f"expected {what} ({nbytes} bytes), but the stream ended "
                                f"after {filled} (file changed?)")
            filled += got
        self.offset += nbytes


def _read_shape(reader: _Reader, ndim: int, dim_fmt: str, index: int, start: int):
    if ndim < 0:
        raise reader.fail(start, f"array {index} has ndim {ndim}; a stored shape must "
                                 f"have ndim >= 0")
    dim_size = struct.calcsize(dim_fmt)
    reader.need(ndim * dim_size, f"the {ndim} dims of array {index}")
    if ndim > _MAX_NDIM:
        raise reader.fail(start, f"array {index} has ndim {ndim}, more than the {_MAX_NDIM} "
                                 f"dims numpy supports")
    dims_at = reader.offset
    shape = struct.unpack(f"<{ndim}{dim_fmt}", reader.read(ndim * dim_size,
                                                           f"the dims of array {index}"))
    for axis, dim in enumerate(shape):
        if dim < 0:
            raise reader.fail(dims_at + axis * dim_size,
                              f"dim {axis} of array {index} is {dim}; expected a size >= 0")
    return shape


def _read_array(reader: _Reader, index: int) -> np.ndarray:
    start = reader.offset
    magic = reader.unpack(_U32, f"the magic or legacy ndim of array {index}")
    if magic == NDARRAY_V3_MAGIC:
        raise reader.fail(start, f"array {index} was saved under NumPy-shape semantics "
                                 f"(NDARRAY_V3_MAGIC 0xF993FACA), which MXNet 1.x loads only "
                                 f"within those semantics; flowmod does not read it")
    if magic == NDARRAY_V2_MAGIC:
        stype_at = reader.offset
        stype = reader.unpack(_I32, f"the int32 storage type of array {index}")
        if stype in _STORAGE_NAMES:
            return _read_sparse(reader, index, _STORAGE_NAMES[stype], start)
        if stype != STORAGE_DEFAULT:
            raise reader.fail(stype_at, f"array {index} has unknown storage type {stype}; "
                                        f"expected 0 (default/dense), 1 (row_sparse) or "
                                        f"2 (csr)")
        ndim = reader.unpack(_I32, f"the int32 ndim of array {index}")
        shape = _read_shape(reader, ndim, "q", index, reader.offset - 4)
    elif magic == NDARRAY_V1_MAGIC:
        ndim = reader.unpack(_I32, f"the int32 ndim of array {index}")
        shape = _read_shape(reader, ndim, "q", index, reader.offset - 4)
    else:
        # Legacy records have no magic: the word just read is the ndim. A corrupted magic
        # lands here too, so say both things it could have been.
        if magic > _MAX_NDIM or magic * 4 > reader.remaining:
            raise reader.fail(start, f"expected NDARRAY_V2_MAGIC 0xF993FAC9 (or V1 "
                                     f"0xF993FAC8, or a legacy ndim) for array {index}, "
                                     f"read 0x{magic:08X}")
        shape = _read_shape(reader, magic, "I", index, start)
    reader.unpack(struct.Struct("<ii"), f"the context of array {index}")
    dtype = _read_flag(reader, f"array {index}")
    return _read_elements(reader, shape, dtype, f"array {index}", start)


def _read_flag(reader: _Reader, what: str) -> np.dtype:
    flag_at = reader.offset
    flag = reader.unpack(_I32, f"the int32 type flag of {what}")
    dtype = _FLAG_TO_DTYPE.get(flag)
    if dtype is None:
        known = _UNSUPPORTED_FLAG_NAMES.get(flag)
        detail = (f" ({known}, which MXNet 1.x cannot load)" if known
                  else "; expected one of " + ", ".join(map(str, sorted(_FLAG_TO_DTYPE))))
        raise reader.fail(flag_at, f"{what} has unknown type flag {flag}{detail}")
    return dtype


def _read_v2_shape(reader: _Reader, index: int, what: str):
    ndim = reader.unpack(_I32, f"the int32 ndim of {what} of array {index}")
    return _read_shape(reader, ndim, "q", index, reader.offset - 4)


def _read_sparse(reader: _Reader, index: int, stype: str, start: int) -> SparseArray:
    sshape = _read_v2_shape(reader, index, "the storage shape")
    shape_at = reader.offset
    shape = _read_v2_shape(reader, index, "the shape")
    if not shape:
        raise reader.fail(shape_at, f"array {index} is a {stype} array of ndim 0")
    reader.unpack(struct.Struct("<ii"), f"the context of array {index}")
    dtype = _read_flag(reader, f"array {index}")
    aux_at = reader.offset
    aux = []
    for i in range(1 if stype == "row_sparse" else 2):
        aux_dtype = _read_flag(reader, f"index array {i} of array {index}")
        if aux_dtype.kind not in "iu" or aux_dtype == BFLOAT16:
            raise reader.fail(reader.offset - 4, f"index array {i} of array {index} has type "
                                                 f"{aux_dtype}; expected an integer type")
        aux.append((aux_dtype, _read_v2_shape(reader, index, f"index array {i}")))
    if not np.prod(sshape, dtype=np.int64):
        # As MXNet's NDArray constructor: an empty storage shape (which MXNet writes for
        # some arrays) is taken from the index shapes.
        sshape = (tuple(aux[-1][1][:1]) + tuple(shape[1:]) if stype == "row_sparse"
                  else tuple(aux[-1][1]))
    error = _sparse_shapes_error(stype, shape, sshape, [s for _, s in aux])
    if error:
        raise reader.fail(aux_at, f"array {index}: {error}")
    data = _read_elements(reader, sshape, dtype, f"the values of array {index}", start)
    parts_at = reader.offset
    parts = [_read_elements(reader, s, dt, f"index array {i} of array {index}", start)
             for i, (dt, s) in enumerate(aux)]
    error = _sparse_indices_error(stype, shape, data.shape[0], parts)
    if error:
        raise reader.fail(parts_at, f"array {index}: {error}")
    return SparseArray(stype, shape, data, parts)


def _sparse_indices_error(stype: str, shape, nnz: int, parts):
    """What is wrong with a sparse record's index values, or None: a csr indptr must rise
    from 0 to nnz and its column indices lie in range; row_sparse row indices must increase
    and lie in range (flowmod's kernels rely on both)."""
    if stype == "csr":
        ptr, col = (p.astype(np.int64) for p in parts)
        if ptr[0] != 0 or ptr[-1] != nnz or (np.diff(ptr) < 0).any():
            return "the csr indptr does not rise from 0 to the number of stored values"
        if col.size and (col.min() < 0 or col.max() >= shape[1]):
            return f"a csr column index is outside [0, {shape[1]})"
        return None
    rows = parts[0].astype(np.int64)
    if rows.size and (rows[0] < 0 or rows[-1] >= shape[0] or (np.diff(rows) <= 0).any()):
        return f"the row_sparse row indices do not increase within [0, {shape[0]})"
    return None


def _read_elements(reader: _Reader, shape, dtype: np.dtype, what: str, start: int):
    index = what
    count = 1
    for dim in shape:
        count *= dim
    reader.need(count * dtype.itemsize,
                f"the {count} {dtype if dtype.names is None else 'bfloat16'} elements of "
                f"{index} with shape {tuple(shape)}")
    try:
        array = np.empty(shape, dtype=dtype)
    except ValueError as e:
        raise reader.fail(start, f"{index} has shape {tuple(shape)}, which numpy "
                                 f"cannot represent: {e}") from None
    reader.read_into(array, f"the elements of {index}")
    return array


def _read(reader: _Reader):
    magic = reader.unpack(_U64, "the uint64 file magic 0x112")
    if magic != LIST_MAGIC:
        raise reader.fail(0, f"expected the NDArray list magic 0x112 (kMXAPINDArrayListMagic), "
                             f"read 0x{magic:X}; not an MXNet NDArray file")
    reader.unpack(_U64, "the uint64 reserved word")
    count_at = reader.offset
    count = reader.unpack(_U64, "the uint64 array count")
    if count > max(reader.remaining - 8, 0) // _MIN_RECORD_BYTES:
        raise reader.fail(count_at, f"the array count is {count}, but {reader.remaining} "
                                    f"bytes cannot hold that many arrays and the name count")
    arrays = [_read_array(reader, i) for i in range(count)]
    names_at = reader.offset
    num_names = reader.unpack(_U64, "the uint64 name count")
    if num_names not in (0, count):
        raise reader.fail(names_at, f"the name count is {num_names}; expected 0 or the "
                                    f"array count {count}")
    if not num_names:
        return arrays
    result = {}
    for i in range(num_names):
        length = reader.unpack(_U64, f"the uint64 length of name {i}")
        name_at = reader.offset
        raw = reader.read(length, f"the {length}-byte name {i}")
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise reader.fail(name_at, f"name {i} is not valid UTF-8: {e}") from None
        result[name] = arrays[i]
    return result


def loads(buf):
    """Loads arrays from the bytes of an MXNet NDArray file, like ``mx.nd.load_frombuffer``.

    Parameters
    ----------
    buf : bytes, bytearray or memoryview
        The contents of a file written by ``mx.nd.save`` (any MXNet 1.x; V2, V1 and legacy
        records) or by :func:`dumps`.

    Returns
    -------
    list of numpy.ndarray or dict of str to numpy.ndarray
        A dict if the file holds names, else a list. Each array is a fresh, writable copy
        in native layout; bfloat16 elements have dtype ``[('bfloat16', '<u2')]``.

    Raises
    ------
    MXNetError
        If the data is truncated, corrupted, sparse, saved under NumPy-shape semantics or
        of a type MXNet 1.x cannot load; the message gives the byte offset and what was
        expected there.
    """
    if not isinstance(buf, (bytes, bytearray, memoryview)):
        raise MXNetError(f"loads: buf must be bytes, bytearray or memoryview, "
                         f"got {_describe(buf)}")
    try:
        view = memoryview(buf).cast("B")
    except TypeError as e:
        raise MXNetError(f"loads: buf must be a contiguous bytes-like object: {e}") from None
    return _read(_Reader(io.BytesIO(view), view.nbytes, None))


def _check_fname(fname, func: str) -> str:
    if isinstance(fname, os.PathLike):
        fname = os.fspath(fname)
    if not isinstance(fname, str):
        raise MXNetError(f"{func}: fname must be a str or os.PathLike, got {_describe(fname)}")
    return fname


def load(fname):
    """Loads an array list or str->array dict from a file, like ``mx.nd.load``.

    Parameters
    ----------
    fname : str or os.PathLike
        The file written by ``mx.nd.save`` or :func:`save`. Elements are read straight into
        their arrays, so loading needs about the file's size in memory, not twice it.

    Returns
    -------
    list of numpy.ndarray or dict of str to numpy.ndarray
        A dict if the file holds names, else a list (see :func:`loads`).

    Raises
    ------
    MXNetError
        If the file cannot be opened or read, or its contents are not a valid NDArray file;
        the message names the file, the byte offset and what was expected.
    """
    fname = _check_fname(fname, "load")
    try:
        with open(fname, "rb") as f:
            info = os.fstat(f.fileno())
            if stat.S_ISREG(info.st_mode):
                return _read(_Reader(f, info.st_size, fname))
            return _read_unsized(f, info, fname)
    except OSError as e:
        raise MXNetError(f"cannot load NDArray file {fname!r}: {e}") from e


def _read_unsized(f, info: os.stat_result, fname: str):
    # A device may never end (/dev/zero, /dev/urandom); a pipe or socket ends when its
    # writer closes it. Either way the size is unknown, so the header is checked before
    # the rest is read.
    if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
        kind = "character" if stat.S_ISCHR(info.st_mode) else "block"
        raise MXNetError(f"cannot load NDArray file {fname!r}: it is a {kind} device, whose "
                         f"size is unbounded; expected a regular file or a pipe")
    head = f.read(8)
    if len(head) == 8 and _U64.unpack(head)[0] != LIST_MAGIC:
        raise _Reader(io.BytesIO(head), 8, fname).fail(
            0, f"expected the NDArray list magic 0x112 (kMXAPINDArrayListMagic), read "
               f"0x{_U64.unpack(head)[0]:X}; not an MXNet NDArray file")
    data = head + f.read()
    return _read(_Reader(io.BytesIO(data), len(data), fname))


def load_stream(f, size: int, source: str):
    """:func:`load` from the binary file object ``f`` holding ``size`` bytes from its
    current position; ``source`` names it in errors."""
    return _read(_Reader(f, size, source))


def save(fname, data) -> None:
    """Saves a list of arrays or a dict of str->array to a file, like ``mx.nd.save``.

    Parameters
    ----------
    fname : str or os.PathLike
        The file name.
    data : list of numpy.ndarray, or dict of str to numpy.ndarray
        The data to save (see :func:`dumps`).

    The file is replaced atomically: the data is written to a temporary file in the same
    directory, flushed to disk, and renamed over ``fname``. Readers see the old file or
    the new one, never a mixture; on any error the old file is left as it was and the
    temporary file is removed. An existing file's permission bits are kept.

    Raises
    ------
    MXNetError
        For a bad ``data`` (before any file is created) or a failure to write the file.
    """
    fname = _check_fname(fname, "save")
    arrays, names = _normalize(data, "save")
    # Like fopen in MXNet, a symbolic link is written through rather than replaced.
    try:
        write_atomic(fname, lambda out: _write(out, arrays, names))
    except OSError as e:
        raise MXNetError(f"cannot save NDArray file {fname!r}: {e}") from e
