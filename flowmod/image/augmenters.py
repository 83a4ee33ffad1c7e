"""Augmenters of ``mx.image``: callables that take an HWC image and return it transformed,
and ``CreateAugmenter``, which builds MXNet's standard list of them.

Each takes an NDArray or a numpy array and returns the same kind. Random choices come from
Python's ``random`` module and, for ``LightingAug``, from ``numpy.random``, as in MXNet, so
seeding those reproduces a run. Colour augmenters work on float images: put ``CastAug``
before them (``CreateAugmenter`` does).
"""
from __future__ import annotations

import json
import random
import warnings

import numpy as np

from ..ndarray import NDArray
from .image import (as_numpy, center_crop, color_normalize, like, random_crop,
                    random_size_crop, resize, resize_short, _get_interp_method)

__all__ = ["Augmenter", "SequentialAug", "RandomOrderAug", "ResizeAug", "ForceResizeAug",
           "RandomCropAug", "RandomSizedCropAug", "CenterCropAug", "BrightnessJitterAug",
           "ContrastJitterAug", "SaturationJitterAug", "HueJitterAug", "ColorJitterAug",
           "LightingAug", "ColorNormalizeAug", "RandomGrayAug", "HorizontalFlipAug", "CastAug",
           "CreateAugmenter"]

# ITU-R BT.601 luma weights of R, G and B.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _plain(value):
    if isinstance(value, NDArray):
        value = value.asnumpy()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return value


class Augmenter:
    """Augmenter(**kwargs): the base of the augmenters, as ``mx.image.Augmenter``.

    A subclass implements ``__call__(src)``; the keyword arguments are kept for ``dumps``.
    """

    def __init__(self, **kwargs):
        self._kwargs = {k: _plain(v) for k, v in kwargs.items()}

    def dumps(self) -> str:
        """The augmenter as a JSON string: ``[class name in lower case, kwargs]``."""
        return json.dumps([self.__class__.__name__.lower(), self._kwargs])

    def __call__(self, src):
        raise NotImplementedError("Must override implementation.")


class SequentialAug(Augmenter):
    """SequentialAug(ts): applies the augmenters ``ts`` in order."""

    def __init__(self, ts):
        super().__init__()
        self.ts = ts

    def dumps(self):
        return [self.__class__.__name__.lower(), [x.dumps() for x in self.ts]]

    def __call__(self, src):
        for aug in self.ts:
            src = aug(src)
        return src


class RandomOrderAug(Augmenter):
    """RandomOrderAug(ts): applies the augmenters ``ts`` in a random order (shuffled in
    place with ``random.shuffle`` at every call)."""

    def __init__(self, ts):
        super().__init__()
        self.ts = ts

    def dumps(self):
        return [self.__class__.__name__.lower(), [x.dumps() for x in self.ts]]

    def __call__(self, src):
        random.shuffle(self.ts)
        for t in self.ts:
            src = t(src)
        return src


class ResizeAug(Augmenter):
    """ResizeAug(size, interp=2): resizes the shorter edge to ``size``."""

    def __init__(self, size: int, interp: int = 2):
        super().__init__(size=size, interp=interp)
        self.size = size
        self.interp = interp

    def __call__(self, src):
        return resize_short(src, self.size, self.interp)


class ForceResizeAug(Augmenter):
    """ForceResizeAug(size, interp=2): resizes to ``size`` (w, h), whatever the aspect."""

    def __init__(self, size, interp: int = 2):
        super().__init__(size=size, interp=interp)
        self.size = size
        self.interp = interp

    def __call__(self, src):
        img, was_nd = as_numpy(src)
        sizes = (img.shape[0], img.shape[1], self.size[1], self.size[0])
        return like(resize(img, self.size[0], self.size[1],
                           _get_interp_method(self.interp, sizes)), was_nd)


class RandomCropAug(Augmenter):
    """RandomCropAug(size, interp=2): ``random_crop`` to ``size`` (w, h)."""

    def __init__(self, size, interp: int = 2):
        super().__init__(size=size, interp=interp)
        self.size = size
        self.interp = interp

    def __call__(self, src):
        return random_crop(src, self.size, self.interp)[0]


class RandomSizedCropAug(Augmenter):
    """RandomSizedCropAug(size, area, ratio, interp=2): ``random_size_crop`` to ``size``."""

    def __init__(self, size, area, ratio, interp: int = 2, **kwargs):
        super().__init__(size=size, area=area, ratio=ratio, interp=interp)
        self.size = size
        if "min_area" in kwargs:
            warnings.warn("`min_area` is deprecated. Please use `area` instead.",
                          DeprecationWarning)
            self.area = kwargs.pop("min_area")
        else:
            self.area = area
        if kwargs:
            raise TypeError(f"RandomSizedCropAug: unexpected keyword arguments "
                            f"{sorted(kwargs)}")
        self.ratio = ratio
        self.interp = interp

    def __call__(self, src):
        return random_size_crop(src, self.size, self.area, self.ratio, self.interp)[0]


class CenterCropAug(Augmenter):
    """CenterCropAug(size, interp=2): ``center_crop`` to ``size`` (w, h)."""

    def __init__(self, size, interp: int = 2):
        super().__init__(size=size, interp=interp)
        self.size = size
        self.interp = interp

    def __call__(self, src):
        return center_crop(src, self.size, self.interp)[0]


class BrightnessJitterAug(Augmenter):
    """BrightnessJitterAug(brightness): multiplies by ``1 + uniform(-brightness,
    brightness)``."""

    def __init__(self, brightness: float):
        super().__init__(brightness=brightness)
        self.brightness = brightness

    def __call__(self, src):
        alpha = 1.0 + random.uniform(-self.brightness, self.brightness)
        img, was_nd = as_numpy(src)
        img = img if not was_nd else img.copy()
        img *= np.float32(alpha)
        return _in_place(src, img, was_nd)


class ContrastJitterAug(Augmenter):
    """ContrastJitterAug(contrast): blends with the image's mean luminance, by
    ``alpha = 1 + uniform(-contrast, contrast)``."""

    def __init__(self, contrast: float):
        super().__init__(contrast=contrast)
        self.contrast = contrast
        self.coef = _LUMA.reshape(1, 1, 3)

    def __call__(self, src):
        alpha = 1.0 + random.uniform(-self.contrast, self.contrast)
        img, was_nd = as_numpy(src)
        gray = img * self.coef
        gray = np.float32(3.0 * (1.0 - alpha) / gray.size) * np.sum(gray, dtype=np.float32)
        img = img if not was_nd else img.copy()
        img *= np.float32(alpha)
        img += gray
        return _in_place(src, img, was_nd)


class SaturationJitterAug(Augmenter):
    """SaturationJitterAug(saturation): blends each pixel with its luminance, by
    ``alpha = 1 + uniform(-saturation, saturation)``."""

    def __init__(self, saturation: float):
        super().__init__(saturation=saturation)
        self.saturation = saturation
        self.coef = _LUMA.reshape(1, 1, 3)

    def __call__(self, src):
        alpha = 1.0 + random.uniform(-self.saturation, self.saturation)
        img, was_nd = as_numpy(src)
        gray = np.sum(img * self.coef, axis=2, keepdims=True, dtype=np.float32)
        gray *= np.float32(1.0 - alpha)
        img = img if not was_nd else img.copy()
        img *= np.float32(alpha)
        img += gray
        return _in_place(src, img, was_nd)


def _in_place(src, img: np.ndarray, was_nd: bool):
    """MXNet's colour augmenters change their NDArray in place; so do these."""
    if was_nd:
        src[:] = img
        return src
    return img


class HueJitterAug(Augmenter):
    """HueJitterAug(hue): rotates the hue by ``uniform(-hue, hue) * pi`` in YIQ space."""

    def __init__(self, hue: float):
        super().__init__(hue=hue)
        self.hue = hue
        self.tyiq = np.array([[0.299, 0.587, 0.114],
                              [0.596, -0.274, -0.321],
                              [0.211, -0.523, 0.311]])
        self.ityiq = np.array([[1.0, 0.956, 0.621],
                               [1.0, -0.272, -0.647],
                               [1.0, -1.107, 1.705]])

    def __call__(self, src):
        alpha = random.uniform(-self.hue, self.hue)
        u, w = np.cos(alpha * np.pi), np.sin(alpha * np.pi)
        bt = np.array([[1.0, 0.0, 0.0], [0.0, u, -w], [0.0, w, u]])
        t = np.dot(np.dot(self.ityiq, bt), self.tyiq).T
        img, was_nd = as_numpy(src)
        return like(np.dot(img, t.astype(np.float32)), was_nd)


class ColorJitterAug(RandomOrderAug):
    """ColorJitterAug(brightness, contrast, saturation): the brightness, contrast and
    saturation jitters with a non-zero strength, in a random order."""

    def __init__(self, brightness: float, contrast: float, saturation: float):
        ts = []
        if brightness > 0:
            ts.append(BrightnessJitterAug(brightness))
        if contrast > 0:
            ts.append(ContrastJitterAug(contrast))
        if saturation > 0:
            ts.append(SaturationJitterAug(saturation))
        super().__init__(ts)


class LightingAug(Augmenter):
    """LightingAug(alphastd, eigval, eigvec): AlexNet's PCA lighting noise, adding
    ``eigvec @ (alpha * eigval)`` with ``alpha ~ numpy.random.normal(0, alphastd, 3)``."""

    def __init__(self, alphastd: float, eigval, eigvec):
        super().__init__(alphastd=alphastd, eigval=eigval, eigvec=eigvec)
        self.alphastd = alphastd
        self.eigval = np.asarray(eigval)
        self.eigvec = np.asarray(eigvec)

    def __call__(self, src):
        alpha = np.random.normal(0, self.alphastd, size=(3,))
        rgb = np.dot(self.eigvec * alpha, self.eigval).astype(np.float32)
        img, was_nd = as_numpy(src)
        img = img if not was_nd else img.copy()
        img += rgb
        return _in_place(src, img, was_nd)


class ColorNormalizeAug(Augmenter):
    """ColorNormalizeAug(mean, std): ``color_normalize`` with per-channel ``mean`` and
    ``std`` (None leaves that step out)."""

    def __init__(self, mean, std):
        super().__init__(mean=mean, std=std)
        self.mean = None if mean is None else np.asarray(_plain(mean), dtype=np.float32)
        self.std = None if std is None else np.asarray(_plain(std), dtype=np.float32)

    def __call__(self, src):
        return color_normalize(src, self.mean, self.std)


class RandomGrayAug(Augmenter):
    """RandomGrayAug(p): with probability ``p``, replaces each channel by the luminance
    ``0.21 R + 0.72 G + 0.07 B``."""

    def __init__(self, p: float):
        super().__init__(p=p)
        self.p = p
        self.mat = np.array([[0.21, 0.21, 0.21], [0.72, 0.72, 0.72], [0.07, 0.07, 0.07]],
                            dtype=np.float32)

    def __call__(self, src):
        if random.random() < self.p:
            img, was_nd = as_numpy(src)
            src = like(np.dot(img, self.mat), was_nd)
        return src


class HorizontalFlipAug(Augmenter):
    """HorizontalFlipAug(p): mirrors left to right with probability ``p``."""

    def __init__(self, p: float):
        super().__init__(p=p)
        self.p = p

    def __call__(self, src):
        if random.random() < self.p:
            img, was_nd = as_numpy(src)
            src = like(np.ascontiguousarray(img[:, ::-1]), was_nd)
        return src


class CastAug(Augmenter):
    """CastAug(typ='float32'): converts to ``typ``."""

    def __init__(self, typ: str = "float32"):
        super().__init__(type=typ)
        self.typ = typ

    def __call__(self, src):
        return src.astype(self.typ)


def CreateAugmenter(data_shape, resize: int = 0, rand_crop: bool = False,
                    rand_resize: bool = False, rand_mirror: bool = False, mean=None, std=None,
                    brightness: float = 0, contrast: float = 0, saturation: float = 0,
                    hue: float = 0, pca_noise: float = 0, rand_gray: float = 0,
                    inter_method: int = 2) -> list[Augmenter]:
    """CreateAugmenter(data_shape, resize=0, rand_crop=False, rand_resize=False,
    rand_mirror=False, mean=None, std=None, brightness=0, contrast=0, saturation=0, hue=0,
    pca_noise=0, rand_gray=0, inter_method=2) -> list of Augmenter

    MXNet's standard augmentation for images of ``data_shape`` (C, H, W): shorter edge
    resized to ``resize`` (if > 0); a crop to (W, H), random-sized (``rand_resize``, which
    needs ``rand_crop``), random (``rand_crop``) or central; a random mirror; a cast to
    float32; colour jitter, hue jitter, PCA noise and random gray where their strengths are
    non-zero; and normalisation by ``mean`` and ``std`` (True gives ImageNet's values)::

        >>> augs = mx.image.CreateAugmenter((3, 224, 224), resize=256, rand_crop=True,
        ...                                 rand_mirror=True, mean=True, std=True)
    """
    auglist: list[Augmenter] = []
    if resize > 0:
        auglist.append(ResizeAug(resize, inter_method))
    crop_size = (data_shape[2], data_shape[1])
    if rand_resize:
        if not rand_crop:
            raise AssertionError("CreateAugmenter: rand_resize=True needs rand_crop=True")
        auglist.append(RandomSizedCropAug(crop_size, 0.08, (3.0 / 4.0, 4.0 / 3.0),
                                          inter_method))
    elif rand_crop:
        auglist.append(RandomCropAug(crop_size, inter_method))
    else:
        auglist.append(CenterCropAug(crop_size, inter_method))
    if rand_mirror:
        auglist.append(HorizontalFlipAug(0.5))
    auglist.append(CastAug())
    if brightness or contrast or saturation:
        auglist.append(ColorJitterAug(brightness, contrast, saturation))
    if hue:
        auglist.append(HueJitterAug(hue))
    if pca_noise > 0:
        eigval = np.array([55.46, 4.794, 1.148])
        eigvec = np.array([[-0.5675, 0.7192, 0.4009],
                           [-0.5808, -0.0045, -0.8140],
                           [-0.5836, -0.6948, 0.4203]])
        auglist.append(LightingAug(pca_noise, eigval, eigvec))
    if rand_gray > 0:
        auglist.append(RandomGrayAug(rand_gray))
    mean = _stats_arg(mean, [123.68, 116.28, 103.53], "mean")
    std = _stats_arg(std, [58.395, 57.12, 57.375], "std")
    if mean is not None or std is not None:
        auglist.append(ColorNormalizeAug(mean, std))
    return auglist


def _stats_arg(value, default, arg: str):
    if value is True:
        return np.array(default, dtype=np.float32)
    if value is None or value is False:
        return None
    if not isinstance(value, (np.ndarray, NDArray)) or value.shape[0] not in (1, 3):
        raise AssertionError(f"CreateAugmenter: {arg}={value!r}: expected True, None or an "
                             f"array of 1 or 3 values")
    return value
