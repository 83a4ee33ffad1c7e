"""Image functions of ``mx.image``: decoding, resizing and cropping HWC images.

Images are HWC arrays (height, width, channels), RGB after ``imdecode``, as in MXNet. Every
function takes an NDArray or a numpy array and returns the same kind: pipelines that run on
worker threads (``ImageIter``, ``mx.io.ImageRecordIter``) pass numpy arrays, so nothing is
copied to and from NDArrays per image. Decoding and resizing go through OpenCV (the library
MXNet uses, so decoded pixels and interpolations are MXNet's), which releases the GIL while
it works.

Interpolation codes are OpenCV's and MXNet's: 0 nearest, 1 bilinear, 2 bicubic, 3 area,
4 Lanczos; 9 picks bicubic to enlarge, area to shrink and bilinear otherwise; 10 picks one
of 0-4 at random.
"""
from __future__ import annotations

import os
import random
import warnings
from numbers import Number

import cv2
import numpy as np

from ..base import MXNetError
from ..ndarray import NDArray
from ..ndarray import array as nd_array

__all__ = ["imdecode", "imread", "imresize", "scale_down", "copyMakeBorder", "resize_short",
           "fixed_crop", "random_crop", "center_crop", "color_normalize", "random_size_crop"]


def as_numpy(src) -> tuple[np.ndarray, bool]:
    """``src`` as a numpy array, and whether it was an NDArray."""
    if isinstance(src, NDArray):
        return src.asnumpy(), True
    if isinstance(src, np.ndarray):
        return src, False
    raise TypeError(f"expected an image as an NDArray or a numpy.ndarray, got "
                    f"{type(src).__name__}")


def like(out: np.ndarray, was_nd: bool):
    """``out`` as an NDArray when the input was one."""
    return nd_array(out, dtype=out.dtype) if was_nd else out


def decode(buf, flag: int = 1, to_rgb: bool = True) -> np.ndarray:
    """The HWC uint8 numpy image encoded in ``buf`` (JPEG, PNG or any format OpenCV reads):
    3 channels (RGB with ``to_rgb``, else BGR) for ``flag`` 1, 1 channel for 0."""
    data = np.frombuffer(buf, dtype=np.uint8) if not isinstance(buf, np.ndarray) else buf
    if data.size == 0:
        raise MXNetError("imdecode: buf is empty: expected an encoded image")
    img = cv2.imdecode(data, cv2.IMREAD_COLOR if flag else cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise MXNetError(f"imdecode: decoding failed: the {data.size} bytes are not an image "
                         f"OpenCV can decode (invalid or truncated file)")
    if img.ndim == 2:
        return img[:, :, None]
    if to_rgb:
        # cvtColor releases the GIL; a reversed-channel view would copy later while holding it.
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img


def _no_other_keywords(fn: str, kwargs: dict) -> None:
    # MXNet passes these to its image operators, which take ``name`` and refuse anything
    # else; an argument is refused by name here rather than dropped.
    kwargs.pop("name", None)
    if kwargs:
        raise TypeError(f"{fn}() got unexpected keyword arguments "
                        f"{', '.join(repr(k) for k in sorted(kwargs))}")


def imdecode(buf, flag: int = 1, to_rgb: bool = True, out=None, **kwargs) -> NDArray:
    """imdecode(buf, flag=1, to_rgb=1, out=None) -> NDArray

    Decodes an image (bytes, bytearray, a uint8 numpy array or NDArray) into an HWC uint8
    NDArray: RGB with 3 channels for ``flag=1`` (BGR with ``to_rgb=0``), 1 channel for
    ``flag=0``. An image that cannot be decoded raises MXNetError.

        >>> img = mx.image.imdecode(open('cat.jpg', 'rb').read())
        >>> img.shape
        (256, 256, 3)
    """
    _no_other_keywords("imdecode", kwargs)
    if isinstance(buf, NDArray):
        buf = buf.asnumpy().astype(np.uint8, copy=False)
    elif not isinstance(buf, (bytes, bytearray, np.ndarray)):
        raise ValueError("buf must be of type bytes, bytearray or numpy.ndarray,"
                         "if you would like to input type str, please convert to bytes")
    img = decode(buf, flag, to_rgb)
    if out is not None:
        out[:] = img
        return out
    return nd_array(img, dtype=np.uint8)


def imread(filename, flag: int = 1, to_rgb: bool = True, out=None, **kwargs) -> NDArray:
    """imread(filename, flag=1, to_rgb=1, out=None) -> NDArray

    Reads and decodes the image file ``filename``, as ``imdecode``."""
    _no_other_keywords("imread", kwargs)
    try:
        with open(filename, "rb") as f:
            buf = f.read()
    except OSError as e:
        raise MXNetError(f"imread: filename={os.fspath(filename)!r}: cannot read the file: "
                         f"{e.strerror or e}") from None
    try:
        return imdecode(buf, flag, to_rgb, out)
    except MXNetError as e:
        raise MXNetError(f"imread: {os.fspath(filename)!r}: {e}") from None


def _interp_arg(interp) -> int:
    if interp not in (0, 1, 2, 3, 4):
        raise ValueError(f"Unknown interp method {interp}: expected 0-4, 9 or 10")
    return int(interp)


def resize(img: np.ndarray, w: int, h: int, interp: int) -> np.ndarray:
    """``img`` (numpy HWC) resized to ``w`` x ``h``, keeping its channel axis."""
    if w <= 0 or h <= 0:
        raise MXNetError(f"imresize: w={w}, h={h}: expected positive sizes")
    out = cv2.resize(img, (int(w), int(h)), interpolation=_interp_arg(interp))
    return out[:, :, None] if out.ndim == 2 else out


def imresize(src, w: int, h: int, interp: int = 1, out=None, **kwargs):
    """imresize(src, w, h, interp=1) -> NDArray

    ``src`` (HWC) resized to width ``w`` and height ``h`` with OpenCV's interpolation
    ``interp``."""
    _no_other_keywords("imresize", kwargs)
    img, was_nd = as_numpy(src)
    res = resize(img, w, h, interp)
    if out is not None:
        out[:] = res
        return out
    return like(res, was_nd)


def scale_down(src_size, size) -> tuple[int, int]:
    """scale_down(src_size, size) -> (w, h)

    ``size`` (w, h) scaled down, keeping its aspect ratio, to fit in ``src_size`` (w, h)."""
    w, h = size
    sw, sh = src_size
    if sh < h:
        w, h = float(w * sh) / h, sh
    if sw < w:
        w, h = sw, float(h * sw) / w
    return int(w), int(h)


_BORDER_TYPES = (cv2.BORDER_CONSTANT, cv2.BORDER_REPLICATE, cv2.BORDER_REFLECT,
                 cv2.BORDER_WRAP, cv2.BORDER_REFLECT_101)


def copyMakeBorder(src, top: int, bot: int, left: int, right: int, type: int = 0,  # noqa: A002
                   value: float = 0.0, values=(), **kwargs):
    """copyMakeBorder(src, top, bot, left, right, type=0, value=0.0, values=())

    ``src`` (HWC) with a border of the given widths, as OpenCV's copyMakeBorder: ``type``
    0 constant (``value``, or per channel ``values``), 1 replicate, 2 reflect, 3 wrap,
    4 reflect-101."""
    _no_other_keywords("copyMakeBorder", kwargs)
    img, was_nd = as_numpy(src)
    if type not in _BORDER_TYPES:
        raise MXNetError(f"copyMakeBorder: type={type!r}: expected 0-4")
    fill = tuple(values) if values else (value,) * max(1, img.shape[2])
    res = cv2.copyMakeBorder(img, top, bot, left, right, type, value=fill)
    return like(res[:, :, None] if res.ndim == 2 else res, was_nd)


def _get_interp_method(interp, sizes=()) -> int:
    """The OpenCV interpolation for MXNet's ``interp`` (resolving 9 and 10) when an image of
    ``(old_h, old_w)`` becomes ``(new_h, new_w)``, ``sizes = (oh, ow, nh, nw)``."""
    if interp == 9:
        if sizes:
            oh, ow, nh, nw = sizes
            if nh > oh and nw > ow:
                return 2
            if nh < oh and nw < ow:
                return 3
            return 1
        return 2
    if interp == 10:
        return random.randint(0, 4)
    return _interp_arg(interp)


def resize_short(src, size: int, interp: int = 2):
    """resize_short(src, size, interp=2)

    ``src`` (HWC) resized so that its shorter edge is ``size``, keeping the aspect ratio
    (the longer edge is ``size * long // short``)."""
    img, was_nd = as_numpy(src)
    h, w = img.shape[:2]
    if h > w:
        new_h, new_w = size * h // w, size
    else:
        new_h, new_w = size, size * w // h
    return like(resize(img, new_w, new_h, _get_interp_method(interp, (h, w, new_h, new_w))),
                was_nd)


def fixed_crop(src, x0: int, y0: int, w: int, h: int, size=None, interp: int = 2):
    """fixed_crop(src, x0, y0, w, h, size=None, interp=2)

    The ``w`` x ``h`` region of ``src`` (HWC) at (``x0``, ``y0``), resized to ``size``
    (w, h) when given."""
    img, was_nd = as_numpy(src)
    out = img[y0:y0 + h, x0:x0 + w]
    if size is not None and (w, h) != tuple(size):
        out = resize(out, size[0], size[1], _get_interp_method(interp, (h, w, size[1],
                                                                        size[0])))
    elif was_nd:
        out = np.ascontiguousarray(out)
    return like(out, was_nd)


def random_crop(src, size, interp: int = 2):
    """random_crop(src, size, interp=2) -> (image, (x0, y0, w, h))

    A region of ``src`` at a random place (Python's ``random``), as large as ``size``
    (w, h) scaled down to fit, resized to ``size``."""
    h, w = src.shape[:2]
    new_w, new_h = scale_down((w, h), size)
    x0 = random.randint(0, w - new_w)
    y0 = random.randint(0, h - new_h)
    return fixed_crop(src, x0, y0, new_w, new_h, size, interp), (x0, y0, new_w, new_h)


def center_crop(src, size, interp: int = 2):
    """center_crop(src, size, interp=2) -> (image, (x0, y0, w, h))

    The centre region of ``src``, as large as ``size`` (w, h) scaled down to fit, resized
    to ``size``."""
    h, w = src.shape[:2]
    new_w, new_h = scale_down((w, h), size)
    x0 = int((w - new_w) / 2)
    y0 = int((h - new_h) / 2)
    return fixed_crop(src, x0, y0, new_w, new_h, size, interp), (x0, y0, new_w, new_h)


def color_normalize(src, mean, std=None):
    """color_normalize(src, mean, std=None)

    ``(src - mean) / std``, computed in place in ``src`` (a float image) as MXNet does."""
    if isinstance(src, NDArray):
        img = src.asnumpy()
        mean = mean.asnumpy() if isinstance(mean, NDArray) else mean
        std = std.asnumpy() if isinstance(std, NDArray) else std
        src[:] = color_normalize(img, mean, std)
        return src
    if mean is not None:
        src -= mean
    if std is not None:
        src /= std
    return src


def random_size_crop(src, size, area, ratio, interp: int = 2, **kwargs):
    """random_size_crop(src, size, area, ratio, interp=2) -> (image, (x0, y0, w, h))

    A random region of ``src`` whose area is a uniform fraction in ``area`` (a pair, or a
    minimum with 1.0 as maximum) of the image's and whose aspect ratio w/h is log-uniform in
    ``ratio``, resized to ``size`` (w, h); after 10 tries that do not fit, ``center_crop``.
    """
    h, w = src.shape[:2]
    src_area = h * w
    if "min_area" in kwargs:
        warnings.warn("`min_area` is deprecated. Please use `area` instead.",
                      DeprecationWarning)
        area = kwargs.pop("min_area")
    if kwargs:
        raise TypeError(f"random_size_crop: unexpected keyword arguments {sorted(kwargs)}")
    if isinstance(area, Number):
        area = (area, 1.0)
    for _ in range(10):
        target_area = random.uniform(area[0], area[1]) * src_area
        log_ratio = (np.log(ratio[0]), np.log(ratio[1]))
        new_ratio = np.exp(random.uniform(*log_ratio))
        new_w = int(round(np.sqrt(target_area * new_ratio)))
        new_h = int(round(np.sqrt(target_area / new_ratio)))
        if new_w <= w and new_h <= h:
            x0 = random.randint(0, w - new_w)
            y0 = random.randint(0, h - new_h)
            return fixed_crop(src, x0, y0, new_w, new_h, size, interp), (x0, y0, new_w, new_h)
    return center_crop(src, size, interp)
