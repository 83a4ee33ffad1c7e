"""``mx.image.ImageIter``: batches of augmented images read from a RecordIO file or an
image list, decoded and augmented in Python on the calling thread, as MXNet's.

For the multi-threaded pipeline with MXNet's C++ augmenter options use
``mx.io.ImageRecordIter``.
"""
from __future__ import annotations

import logging
import os
import random

import numpy as np

from .. import recordio
from ..base import MXNetError, numeric_types
from .imglist import read_imglist
from ..io.io import DataBatch, DataDesc, DataIter
from ..ndarray import array as nd_array
from .augmenters import CreateAugmenter
from .image import as_numpy, decode

# A named logger: records propagate to the handlers the application configures, and
# flowmod never installs one on the root logger (as logging.info would).
_log = logging.getLogger(__name__)

__all__ = ["ImageIter"]

_LABEL_DTYPES = ("int32", "float32", "int64", "float64")
_LAST_BATCH_HANDLES = ("pad", "discard", "roll_over")


def _read_imglist(path, dtype: str) -> tuple[dict, list]:
    """The image list file's entries by index, and the indices in file order."""
    imglist, keys = {}, []
    for key, labels, img_path in read_imglist(path, "ImageIter"):
        imglist[key] = (np.array(labels, dtype=np.float64).astype(dtype), img_path)
        keys.append(key)
    return imglist, keys


def _list_from_python(imglist, dtype: str) -> tuple[dict, list]:
    """An image list given as ``[[label..., path], ...]``; keys are '1', '2', ... as MXNet."""
    result, keys = {}, []
    for index, img in enumerate(imglist, 1):
        key = str(index)
        if len(img) > 2:
            label = np.array(img[:-1], dtype=dtype)
        elif isinstance(img[0], numeric_types):
            label = np.array([img[0]], dtype=dtype)
        else:
            label = np.array(img[0], dtype=dtype)
        result[key] = (label, img[-1])
        keys.append(key)
    return result, keys


class ImageIter(DataIter):
    """ImageIter(batch_size, data_shape, label_width=1, path_imgrec=None, path_imglist=None,
    path_root=None, path_imgidx=None, shuffle=False, part_index=0, num_parts=1,
    aug_list=None, imglist=None, data_name='data', label_name='softmax_label',
    dtype='float32', last_batch_handle='pad', **kwargs)

    Batches of images from a RecordIO file (``path_imgrec``, with ``path_imgidx`` for
    random access), an image list file (``path_imglist``: ``index<TAB>label...<TAB>path``
    lines, paths relative to ``path_root``) or a Python list ``imglist`` of
    ``[label..., path]``, as ``mx.image.ImageIter``. Each image is decoded (RGB), passed
    through ``aug_list`` (default: ``CreateAugmenter(data_shape, **kwargs)``) and
    transposed to CHW; data batches are float32 ``(batch_size,) + data_shape``, labels
    ``(batch_size,)`` or ``(batch_size, label_width)``. ``dtype`` is the labels' type in
    an image list.

    ``shuffle`` reorders the images at every ``reset`` with Python's ``random`` (needs
    ``path_imgidx`` with a .rec). ``num_parts``/``part_index`` read only the
    ``part_index``-th of ``num_parts`` slices of ``len // num_parts`` images (as MXNet, the
    last ``len % num_parts`` images are in no part). ``last_batch_handle`` is 'pad' (the
    last batch is filled up from the start, ``pad`` counts those), 'discard' or
    'roll_over' (the images of the incomplete batch open the next epoch).
    """

    def __init__(self, batch_size: int, data_shape, label_width: int = 1, path_imgrec=None,
                 path_imglist=None, path_root=None, path_imgidx=None, shuffle: bool = False,
                 part_index: int = 0, num_parts: int = 1, aug_list=None, imglist=None,
                 data_name: str = "data", label_name: str = "softmax_label",
                 dtype: str = "float32", last_batch_handle: str = "pad", **kwargs):
        super().__init__()
        if not (path_imgrec or path_imglist or isinstance(imglist, list)):
            raise MXNetError("ImageIter: give path_imgrec, path_imglist or imglist (a list)")
        if dtype not in _LABEL_DTYPES:
            raise AssertionError(f"{dtype} label not supported: expected one of "
                                 f"{', '.join(_LABEL_DTYPES)}")
        if last_batch_handle not in _LAST_BATCH_HANDLES:
            raise MXNetError(f"ImageIter: last_batch_handle={last_batch_handle!r}: expected "
                             f"'pad', 'discard' or 'roll_over'")
        self.check_data_shape(data_shape)
        self.imgrec = None
        self.imgidx = None
        if path_imgrec:
            if path_imgidx:
                self.imgrec = recordio.MXIndexedRecordIO(path_imgidx, path_imgrec, "r")
                self.imgidx = list(self.imgrec.keys)
            else:
                self.imgrec = recordio.MXRecordIO(path_imgrec, "r")
        imgkeys = None
        if path_imglist:
            self.imglist, imgkeys = _read_imglist(path_imglist, dtype)
        elif isinstance(imglist, list):
            self.imglist, imgkeys = _list_from_python(imglist, dtype)
        else:
            self.imglist = None
        self.path_root = path_root
        data_shape = tuple(data_shape)
        self.provide_data = [DataDesc(data_name, (batch_size,) + data_shape)]
        label_shape = (batch_size, label_width) if label_width > 1 else (batch_size,)
        self.provide_label = [DataDesc(label_name, label_shape)]
        self.batch_size = batch_size
        self.data_shape = data_shape
        self.label_width = label_width
        self.shuffle = shuffle
        if self.imgrec is None:
            self.seq = imgkeys
        elif shuffle or num_parts > 1 or path_imgidx:
            if self.imgidx is None:
                raise MXNetError("ImageIter: shuffle and num_parts > 1 with path_imgrec need "
                                 "path_imgidx")
            self.seq = self.imgidx
        else:
            self.seq = None
        if num_parts > 1:
            if not 0 <= part_index < num_parts:
                raise MXNetError(f"ImageIter: part_index={part_index!r}: expected an integer "
                                 f"in [0, num_parts={num_parts})")
            per_part = len(self.seq) // num_parts
            self.seq = self.seq[part_index * per_part:(part_index + 1) * per_part]
        self.auglist = CreateAugmenter(data_shape, **kwargs) if aug_list is None else aug_list
        self.cur = 0
        self._allow_read = True
        self.last_batch_handle = last_batch_handle
        self.num_image = len(self.seq) if self.seq is not None else None
        self._cache_data = None
        self._cache_label = None
        self._cache_idx = None
        _log.info("ImageIter: %s images", self.num_image if self.seq is not None
                  else "the records of " + str(path_imgrec))
        self.reset()

    def reset(self) -> None:
        """Back to the first image (reshuffled with ``shuffle``); with 'roll_over' the
        carried images stay for the next batch."""
        if self.seq is not None and self.shuffle:
            random.shuffle(self.seq)
        if self.last_batch_handle != "roll_over" or self._cache_data is None:
            if self.imgrec is not None:
                self.imgrec.reset()
            self.cur = 0
            self._allow_read = True

    def hard_reset(self) -> None:
        """Back to the first image, dropping the images 'roll_over' carries."""
        if self.seq is not None and self.shuffle:
            random.shuffle(self.seq)
        if self.imgrec is not None:
            self.imgrec.reset()
        self.cur = 0
        self._allow_read = True
        self._cache_data = None
        self._cache_label = None
        self._cache_idx = None

    def next_sample(self):
        """The next ``(label, encoded image)``; StopIteration at the end of the data."""
        if self._allow_read is False:
            raise StopIteration
        if self.seq is not None:
            if self.cur >= self.num_image:
                if self.last_batch_handle != "discard":
                    self.cur = 0
                raise StopIteration
            idx = self.seq[self.cur]
            self.cur += 1
            if self.imgrec is not None:
                header, img = recordio.unpack(self.imgrec.read_idx(idx))
                if self.imglist is None:
                    return header.label, img
                return self.imglist[idx][0], img
            label, fname = self.imglist[idx]
            return label, self.read_image(fname)
        s = self.imgrec.read()
        if s is None:
            if self.last_batch_handle != "discard":
                self.imgrec.reset()
            raise StopIteration
        header, img = recordio.unpack(s)
        return header.label, img

    def _batchify(self, batch_data: np.ndarray, batch_label: np.ndarray, start: int = 0
                  ) -> int:
        i = start
        try:
            while i < self.batch_size:
                label, s = self.next_sample()
                data = self.imdecode(s)
                try:
                    self.check_valid_image(data)
                except RuntimeError as e:
                    _log.debug("Invalid image, skipping:  %s", str(e))
                    continue
                data = self.augmentation_transform(data)
                batch_data[i] = self.postprocess_data(data)
                batch_label[i] = np.reshape(label, batch_label[i].shape)
                i += 1
        except StopIteration:
            if not i:
                raise
        return i

    def next(self) -> DataBatch:
        """The next batch of ``batch_size`` augmented images."""
        if self._cache_data is not None:
            batch_data, batch_label, i = self._cache_data, self._cache_label, self._cache_idx
        else:
            batch_data = np.zeros((self.batch_size,) + self.data_shape, dtype=np.float32)
            batch_label = np.zeros(self.provide_label[0][1], dtype=np.float32)
            i = self._batchify(batch_data, batch_label)
        pad = self.batch_size - i
        if pad != 0:
            if self.last_batch_handle == "discard":
                raise StopIteration
            if self.last_batch_handle == "roll_over" and self._cache_data is None:
                self._cache_data, self._cache_label, self._cache_idx = (
                    batch_data, batch_label, i)
                raise StopIteration
            self._batchify(batch_data, batch_label, i)
            if self.last_batch_handle == "pad":
                self._allow_read = False
            else:
                self._cache_data = self._cache_label = self._cache_idx = None
        return DataBatch([nd_array(batch_data)], [nd_array(batch_label)], pad=pad)

    def check_data_shape(self, data_shape) -> None:
        """Checks that ``data_shape`` is (3, H, W)."""
        if not len(data_shape) == 3:
            raise ValueError("data_shape should have length 3, with dimensions CxHxW")
        if not data_shape[0] == 3:
            raise ValueError("This iterator expects inputs to have 3 channels.")

    def check_valid_image(self, data) -> None:
        """Raises RuntimeError for an image without pixels."""
        if len(data[0].shape) == 0:
            raise RuntimeError("Data shape is wrong")

    def _locate(self) -> str:
        if self.seq is not None:
            idx = self.seq[(self.cur % self.num_image) - 1]
        else:
            idx = "the last read"
        if self.imglist is not None and idx in self.imglist:
            return f"filename: {self.imglist[idx][1]}"
        return f"index: {idx}"

    def imdecode(self, s) -> np.ndarray:
        """Decodes one image (RGB, HWC uint8); RuntimeError names a broken one."""
        try:
            return decode(s)
        except MXNetError as e:
            raise RuntimeError(f"Broken image {self._locate()}, {e}") from None

    def read_image(self, fname: str) -> bytes:
        """The bytes of image ``fname`` under ``path_root``."""
        path = os.path.join(self.path_root, fname) if self.path_root else fname
        try:
            with open(path, "rb") as fin:
                return fin.read()
        except OSError as e:
            raise MXNetError(f"ImageIter: cannot read image {path!r}: {e.strerror or e}"
                             ) from None

    def augmentation_transform(self, data):
        """``data`` through every augmenter of ``auglist``."""
        for aug in self.auglist:
            data = aug(data)
        return data

    def postprocess_data(self, datum) -> np.ndarray:
        """The HWC image as CHW."""
        img, _ = as_numpy(datum)
        return img.transpose(2, 0, 1)
