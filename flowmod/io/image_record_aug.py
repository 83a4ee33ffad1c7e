"""The per-image work of ``ImageRecordIter``: decode one record, apply MXNet's default
augmenter (``aug_default``: resize, affine scale/rotate/shear/aspect, pad, crop, colour
jitter, HLS jitter, PCA noise) and write the normalized CHW image into its batch slot.

Everything heavy is one OpenCV call or native call (``_native.image_to_chw``, the last
step: channel order, mirror, normalization and layout in one pass into the batch slot) on
a whole image, which releases the GIL, so ``preprocess_threads`` of these run in parallel;
the Python between them is some tens of microseconds per image. Each image draws its random numbers from its own generator, seeded
by the iterator in batch order, so a run is reproducible whatever the number of threads.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import cv2
import numpy as np

from .. import _native

__all__ = ["AugParams", "CorruptImage", "process_image"]

# MXNet's PCA eigenvectors scaled by the eigenvalues (image_aug_default.cc).
_PCA = np.array([[55.46 * -0.5675, 4.794 * 0.7192, 1.148 * 0.4009],
                 [55.46 * -0.5808, 4.794 * -0.0045, 1.148 * -0.8140],
                 [55.46 * -0.5836, 4.794 * -0.6948, 1.148 * 0.4203]], dtype=np.float32)


# The source byte of output channel k: OpenCV gives BGR(A), the batch holds RGB(A).
_SOURCE = {1: [0], 3: [2, 1, 0], 4: [2, 1, 0, 3]}


class CorruptImage(Exception):
    """A record whose image cannot be decoded."""


@dataclass(frozen=True)
class AugParams:
    """The augmentation and normalization arguments of ImageRecordIter, checked."""
    channels: int
    height: int
    width: int
    resize: int = -1
    rand_crop: bool = False
    random_resized_crop: bool = False
    max_rotate_angle: int = 0
    max_aspect_ratio: float = 0.0
    min_aspect_ratio: float | None = None
    max_shear_ratio: float = 0.0
    max_crop_size: int = -1
    min_crop_size: int = -1
    max_random_scale: float = 1.0
    min_random_scale: float = 1.0
    max_random_area: float = 1.0
    min_random_area: float = 1.0
    max_img_size: float = 1e10
    min_img_size: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    pca_noise: float = 0.0
    random_h: int = 0
    random_s: int = 0
    random_l: int = 0
    rotate: int = -1
    rotate_list: tuple = ()
    fill_value: int = 255
    inter_method: int = 1
    pad: int = 0
    rand_mirror: bool = False
    mirror: bool = False
    mean: tuple = (0.0, 0.0, 0.0, 0.0)
    std: tuple = (1.0, 1.0, 1.0, 1.0)
    scale: float = 1.0
    max_random_contrast: float = 0.0
    max_random_illumination: float = 0.0

    def aspect_range(self) -> tuple[float, float]:
        if self.min_aspect_ratio is not None:
            return self.min_aspect_ratio, self.max_aspect_ratio
        return 1 - self.max_aspect_ratio, 1 + self.max_aspect_ratio

    def needs_affine(self) -> bool:
        lo, hi = self.aspect_range()
        return bool(self.max_rotate_angle > 0 or self.max_shear_ratio > 0 or self.rotate > 0
                    or self.rotate_list or self.max_random_scale != 1
                    or self.min_random_scale != 1
                    or (not self.random_resized_crop and (lo != 1 or hi != 1))
                    or self.max_img_size != 1e10 or self.min_img_size != 0)


def _interp(method: int, ow: int, oh: int, nw: int, nh: int, rng: random.Random) -> int:
    if method == 9:
        if nw > ow and nh > oh:
            return cv2.INTER_CUBIC
        if nw <= ow and nh <= oh:
            return cv2.INTER_AREA
        return cv2.INTER_LINEAR
    if method == 10:
        return rng.randint(0, 4)
    return method


def _affine(res: np.ndarray, p: AugParams, rng: random.Random) -> np.ndarray:
    shear = rng.random() * p.max_shear_ratio * 2 - p.max_shear_ratio
    angle = rng.randint(-p.max_rotate_angle, p.max_rotate_angle)
    if p.rotate > 0:
        angle = p.rotate
    if p.rotate_list:
        angle = p.rotate_list[rng.randint(0, len(p.rotate_list) - 1)]
    a, b = math.cos(angle / 180.0 * math.pi), math.sin(angle / 180.0 * math.pi)
    scale, ratio = 1.0, 1.0
    if not p.random_resized_crop:
        scale = rng.random() * (p.max_random_scale - p.min_random_scale) + p.min_random_scale
        lo, hi = p.aspect_range()
        ratio = rng.random() * (hi - lo) + lo
    hs = 2 * scale / (1 + ratio)
    ws = ratio * hs
    rows, cols = res.shape[:2]
    new_w = max(p.min_img_size, min(p.max_img_size, scale * cols))
    new_h = max(p.min_img_size, min(p.max_img_size, scale * rows))
    m = np.array([[hs * a - shear * b * ws, hs * b + shear * a * ws, 0.0],
                  [-b * ws, a * ws, 0.0]], dtype=np.float32)
    m[0, 2] = (new_w - (m[0, 0] * cols + m[0, 1] * rows)) / 2
    m[1, 2] = (new_h - (m[1, 0] * cols + m[1, 1] * rows)) / 2
    size = (int(new_w), int(new_h))
    method = _interp(p.inter_method, cols, rows, size[0], size[1], rng)
    return cv2.warpAffine(res, m, size, flags=method, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(p.fill_value,) * 3)


def _random_resized_crop(res: np.ndarray, p: AugParams, rng: random.Random):
    lo, hi = p.aspect_range()
    if p.max_random_area == 1 and p.min_random_area == 1 and lo == 1 and hi == 1:
        return None
    rows, cols = res.shape[:2]
    for _ in range(10):
        target = rows * cols * rng.uniform(p.min_random_area, p.max_random_area)
        ratio = rng.uniform(lo, hi)
        h, w = round(math.sqrt(target / ratio)), round(math.sqrt(target * ratio))
        if rng.random() > 0.5:
            h, w = w, h
        if h <= rows and w <= cols:
            y, x = rng.randint(0, rows - h), rng.randint(0, cols - w)
            method = _interp(p.inter_method, w, h, p.width, p.height, rng)
            return cv2.resize(res[y:y + h, x:x + w], (p.width, p.height),
                              interpolation=method)
    return None


def _crop(res: np.ndarray, p: AugParams, rng: random.Random) -> np.ndarray:
    """The data_shape region: a random sized crop, a crop of random size in [min_crop_size,
    max_crop_size] resized, or the image enlarged to cover data_shape and cropped."""
    if p.random_resized_crop:
        out = _random_resized_crop(res, p, rng)
        if out is not None:
            return out
    elif p.max_crop_size != -1 or p.min_crop_size != -1:
        rows, cols = res.shape[:2]
        if not (cols >= p.max_crop_size and rows >= p.max_crop_size
                and p.max_crop_size >= p.min_crop_size):
            raise CorruptImage(f"the image ({cols}x{rows}) is smaller than max_crop_size="
                               f"{p.max_crop_size}")
        size = rng.randint(p.min_crop_size, p.max_crop_size)
        y, x = rows - size, cols - size
        y, x = (rng.randint(0, y), rng.randint(0, x)) if p.rand_crop else (y // 2, x // 2)
        method = _interp(p.inter_method, size, size, p.width, p.height, rng)
        return cv2.resize(res[y:y + size, x:x + size], (p.width, p.height),
                          interpolation=method)
    rows, cols = res.shape[:2]
    method = _interp(p.inter_method, cols, rows, p.width, p.height, rng)
    if rows < p.height:
        res = cv2.resize(res, (int(p.height / rows * cols), p.height), interpolation=method)
        rows, cols = res.shape[:2]
    if cols < p.width:
        res = cv2.resize(res, (p.width, int(p.width / cols * rows)), interpolation=method)
        rows, cols = res.shape[:2]
    y, x = rows - p.height, cols - p.width
    if p.rand_crop:
        y, x = rng.randint(0, y), rng.randint(0, x)
    else:
        y, x = y // 2, x // 2
    return res[y:y + p.height, x:x + p.width]


def _color(res: np.ndarray, p: AugParams, rng: random.Random) -> np.ndarray:
    alpha_b = 1.0 + rng.uniform(-p.brightness, p.brightness)
    alpha_c = 1.0 + rng.uniform(-p.contrast, p.contrast)
    alpha_s = 1.0 + rng.uniform(-p.saturation, p.saturation)
    order = [0, 1, 2]
    rng.shuffle(order)
    for i in order:
        if i == 0:
            res = cv2.convertScaleAbs(res, alpha=alpha_b) if alpha_b >= 0 else res * 0
        elif i == 1:
            # MXNet converts its BGR image with RGB2GRAY; so does this.
            gray_mean = cv2.mean(cv2.cvtColor(res, cv2.COLOR_RGB2GRAY))[0]
            res = cv2.addWeighted(res, alpha_c, res, 0.0, (1 - alpha_c) * gray_mean)
        else:
            gray = cv2.cvtColor(cv2.cvtColor(res, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2BGR)
            res = cv2.addWeighted(res, alpha_s, gray, 1 - alpha_s, 0.0)
    return res


def _hls(res: np.ndarray, p: AugParams, rng: random.Random) -> np.ndarray:
    draws = [(rng.random() + 4 * rng.random()) / 5 for _ in range(3)]
    h = int(draws[0] * p.random_h * 2 - p.random_h)
    s = int(draws[1] * p.random_s * 2 - p.random_s)
    l_ = int(draws[2] * p.random_l * 2 - p.random_l)
    hls = cv2.cvtColor(res, cv2.COLOR_BGR2HLS).astype(np.int16)
    hls += np.array([h, l_, s], dtype=np.int16)
    np.clip(hls, 0, np.array([180, 255, 255], dtype=np.int16), out=hls)
    return cv2.cvtColor(hls.astype(np.uint8), cv2.COLOR_HLS2BGR)


def _pca(res: np.ndarray, p: AugParams, rng: random.Random) -> np.ndarray:
    alpha = np.array([rng.gauss(0, p.pca_noise) for _ in range(3)], dtype=np.float32)
    rgb = _PCA @ alpha
    # Added to the BGR planes as whole numbers, as MXNet's int arithmetic does.
    shift = np.trunc(rgb[::-1]).astype(np.int16)
    out = res.astype(np.int16) + shift
    return np.clip(out, 0, 255).astype(np.uint8)


def augment(img: np.ndarray, p: AugParams, rng: random.Random) -> np.ndarray:
    """``img`` (HWC, BGR, uint8) through MXNet's default augmenter, cropped to data_shape."""
    res = img
    if p.resize != -1:
        rows, cols = res.shape[:2]
        if rows > cols:
            nh, nw = p.resize * rows // cols, p.resize
        else:
            nh, nw = p.resize, p.resize * cols // rows
        res = cv2.resize(res, (nw, nh), interpolation=_interp(p.inter_method, cols, rows, nw,
                                                               nh, rng))
    if p.needs_affine():
        res = _affine(res, p, rng)
    if p.pad > 0:
        res = cv2.copyMakeBorder(res, p.pad, p.pad, p.pad, p.pad, cv2.BORDER_CONSTANT,
                                 value=(p.fill_value,) * 3)
    if res.ndim == 2:
        res = res[:, :, None]
    res = _crop(res, p, rng)
    if res.ndim == 2:
        res = res[:, :, None]
    if p.channels == 3:
        if p.brightness > 0 or p.contrast > 0 or p.saturation > 0:
            res = _color(res, p, rng)
        if p.random_h or p.random_s or p.random_l:
            res = _hls(res, p, rng)
        if p.pca_noise > 0:
            res = _pca(res, p, rng)
    return res


def decode(buf: bytes, channels: int) -> np.ndarray:
    flag = {1: cv2.IMREAD_GRAYSCALE, 3: cv2.IMREAD_COLOR, 4: cv2.IMREAD_UNCHANGED}[channels]
    img = cv2.imdecode(np.frombuffer(buf, dtype=np.uint8), flag) if buf else None
    if img is None:
        raise CorruptImage(f"{len(buf)} bytes that OpenCV cannot decode as an image")
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] != channels:
        raise CorruptImage(f"an image of {img.shape[2]} channels, data_shape has {channels}")
    return img


def process_image(buf: bytes, p: AugParams, rng: random.Random, out: np.ndarray,
                  mean_img: np.ndarray | None) -> None:
    """Decodes ``buf``, augments it and writes it into ``out`` (C, H, W): RGB(A) planes
    ``(pixel - mean) * scale / std`` for float output, raw pixels for uint8, pixels minus
    the rounded mean (saturated) for int8. Raises CorruptImage for an undecodable image."""
    write_slot(augment(decode(buf, p.channels), p, rng), p, rng, out, mean_img)


def write_slot(res: np.ndarray, p: AugParams, rng: random.Random, out: np.ndarray,
               mean_img: np.ndarray | None) -> None:
    """The augmented image ``res`` (HWC BGR(A), data_shape's H and W), mirrored as drawn,
    written into its slot ``out`` (C, H, W) as ``process_image`` says: one native pass over
    the pixels without the GIL (channel order, mirror, normalization and layout at once),
    computed as MXNet's ImageRecordIOParser2::ProcessImage does: float32 arithmetic, one
    rounding to the output type; the mean image indexed as the unmirrored crop."""
    mirrored = (p.rand_mirror and rng.random() < 0.5) or p.mirror
    c = p.channels
    one = np.float32(1)
    contrast, illumination = one, np.float32(0)
    if out.dtype != np.uint8:
        scale = np.float32(p.scale)
        top_c = np.float32(p.max_random_contrast)
        top_i = np.float32(p.max_random_illumination)
        contrast = (np.float32(rng.random()) * top_c * 2 - top_c + one) * scale
        illumination = (np.float32(rng.random()) * top_i * 2 - top_i) * scale
    std = [np.float32(v) for v in p.std[:c]]
    if res.strides[1] != c or (c > 1 and res.strides[2] != 1):
        res = np.ascontiguousarray(res)
    _native.image_to_chw(res, 0, 0, bool(mirrored), _SOURCE[c],
                         [float(m) for m in p.mean[:c]],
                         [float(contrast / s) for s in std],
                         [float(illumination / s) for s in std], mean_img, out)
