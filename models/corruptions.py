"""The 15 ImageNet-C corruptions at severities 1-5.

Default backend: ``imagecorruptions-imaug`` (the maintained fork of bethgelab's ``imagecorruptions``:
``importlib.resources`` for its frost images, current numpy), called per image with numpy's global
generator seeded from the protocol's ``numpy.random.Generator`` (under a lock), so a seed gives the
same bytes. Frost uses the package's real frost images, through the ImageNet-C selection rule: the fork's
``frost`` draws among six overlays (``randint(6)``), ImageNet-C and ``imagecorruptions`` among the first
five (``randint(5)``), so frost overlays the library's images with the rule below.

Reference port (``port_corrupt``): the same corruptions in numpy/scipy/PIL with an explicit Generator,
kept for machines without the library (it pulls in OpenCV, scikit-image and numba, about 500 MB) and to
check the library against (``tests/models/test_corruption_library.py``). OpenCV/scikit-image helpers are
replaced by their definitions (Gaussian kernels, BORDER_REFLECT_101 = scipy 'mirror', s&p noise,
RGB<->HSV, BT.601 grey). Its frost uses the library's frost images when installed (or ``frost_dir``);
only without either does it fall back to a procedural texture, and the export records which.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import threading
from io import BytesIO
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy import ndimage

Rng = np.random.Generator
log = logging.getLogger(__name__)
_GLOBAL_RNG = threading.Lock()  # the library draws from numpy's global generator


def _gaussian(x: np.ndarray, sigma: float, mode: str = "nearest", truncate: float = 4.0) -> np.ndarray:
    """skimage.filters.gaussian (channel_axis last for 3-D input)."""
    sig = (sigma, sigma, 0) if x.ndim == 3 else sigma
    return ndimage.gaussian_filter(x, sig, mode=mode, truncate=truncate)


def _cv_gaussian_kernel(ksize: int, sigma: float) -> np.ndarray:
    i = np.arange(ksize) - (ksize - 1) / 2
    k = np.exp(-(i ** 2) / (2 * sigma ** 2))
    return k / k.sum()


def disk(radius: float, alias_blur: float = 0.1) -> np.ndarray:
    size = np.arange(-8, 9) if radius <= 8 else np.arange(-radius, radius + 1)
    ksize = 3 if radius <= 8 else 5
    xx, yy = np.meshgrid(size, size)
    aliased = np.array((xx ** 2 + yy ** 2) <= radius ** 2, dtype=np.float32)
    aliased /= aliased.sum()
    k = _cv_gaussian_kernel(ksize, alias_blur)
    out = ndimage.correlate1d(aliased, k, axis=0, mode="mirror")
    return ndimage.correlate1d(out, k, axis=1, mode="mirror")


def plasma_fractal(rng: Rng, mapsize: int = 256, wibbledecay: float = 3) -> np.ndarray:
    """Diamond-square height map in [0, 1] (mapsize a power of two)."""
    maparray = np.empty((mapsize, mapsize), dtype=np.float64)
    maparray[0, 0] = 0
    stepsize, wibble = mapsize, 100.0

    def wibbledmean(array):
        return array / 4 + wibble * rng.uniform(-wibble, wibble, array.shape)

    while stepsize >= 2:
        corner = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        square = corner + np.roll(corner, shift=-1, axis=0)
        square += np.roll(square, shift=-1, axis=1)
        maparray[stepsize // 2:mapsize:stepsize, stepsize // 2:mapsize:stepsize] = wibbledmean(square)
        dr = maparray[stepsize // 2:mapsize:stepsize, stepsize // 2:mapsize:stepsize]
        ul = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        lt = dr + np.roll(dr, 1, axis=0) + ul + np.roll(ul, -1, axis=1)
        maparray[0:mapsize:stepsize, stepsize // 2:mapsize:stepsize] = wibbledmean(lt)
        tt = dr + np.roll(dr, 1, axis=1) + ul + np.roll(ul, -1, axis=0)
        maparray[stepsize // 2:mapsize:stepsize, 0:mapsize:stepsize] = wibbledmean(tt)
        stepsize //= 2
        wibble /= wibbledecay
    maparray -= maparray.min()
    return maparray / maparray.max()


def clipped_zoom(img: np.ndarray, zoom_factor: float) -> np.ndarray:
    ch0 = int(np.ceil(img.shape[0] / float(zoom_factor)))
    top0 = (img.shape[0] - ch0) // 2
    ch1 = int(np.ceil(img.shape[1] / float(zoom_factor)))
    top1 = (img.shape[1] - ch1) // 2
    return ndimage.zoom(img[top0:top0 + ch0, top1:top1 + ch1], (zoom_factor, zoom_factor, 1), order=1)


def _shift(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    if dx < 0:
        shifted = np.roll(image, shift=image.shape[1] + dx, axis=1)
        shifted[:, dx:] = shifted[:, dx - 1:dx]
    elif dx > 0:
        shifted = np.roll(image, shift=dx, axis=1)
        shifted[:, :dx] = shifted[:, dx:dx + 1]
    else:
        shifted = image
    if dy < 0:
        shifted = np.roll(shifted, shift=image.shape[0] + dy, axis=0)
        shifted[dy:, :] = shifted[dy - 1:dy, :]
    elif dy > 0:
        shifted = np.roll(shifted, shift=dy, axis=0)
        shifted[:dy, :] = shifted[dy:dy + 1, :]
    return shifted


def _motion_blur(x: np.ndarray, radius: int, sigma: float, angle: float) -> np.ndarray:
    width = radius * 2 + 1
    kernel = np.exp(-np.arange(width) ** 2 / (2 * sigma ** 2)) / (np.sqrt(2 * np.pi) * sigma)
    kernel /= kernel.sum()
    point = (width * np.sin(np.deg2rad(angle)), width * np.cos(np.deg2rad(angle)))
    hypot = math.hypot(point[0], point[1])
    blurred = np.zeros_like(x, dtype=np.float32)
    for i in range(width):
        dy = -math.ceil(((i * point[0]) / hypot) - 0.5)
        dx = -math.ceil(((i * point[1]) / hypot) - 0.5)
        if abs(dy) >= x.shape[0] or abs(dx) >= x.shape[1]:
            break
        blurred = blurred + kernel[i] * _shift(x, dx, dy)
    return blurred


def _gray(x: np.ndarray) -> np.ndarray:
    return x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114


def gaussian_noise(x: Any, s: int, rng: Rng):
    c = [.08, .12, 0.18, 0.26, 0.38][s - 1]
    x = np.array(x) / 255.
    return np.clip(x + rng.normal(size=x.shape, scale=c), 0, 1) * 255


def shot_noise(x: Any, s: int, rng: Rng):
    c = [60, 25, 12, 5, 3][s - 1]
    x = np.array(x) / 255.
    return np.clip(rng.poisson(x * c) / float(c), 0, 1) * 255


def impulse_noise(x: Any, s: int, rng: Rng):
    c = [.03, .06, .09, 0.17, 0.27][s - 1]
    x = np.array(x) / 255.
    flipped = rng.random(x.shape) < c
    salted = rng.random(x.shape) < 0.5
    x[flipped & salted], x[flipped & ~salted] = 1.0, 0.0
    return np.clip(x, 0, 1) * 255


def glass_blur(x: Any, s: int, rng: Rng):
    sigma, delta, iterations = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)][s - 1]
    x = np.uint8(_gaussian(np.array(x) / 255., sigma) * 255)
    h_max, w_max = x.shape[:2]
    for _ in range(iterations):
        for h in range(h_max - delta, delta, -1):
            for w in range(w_max - delta, delta, -1):
                dx, dy = rng.integers(-delta, delta, size=(2,))
                hp, wp = h + dy, w + dx
                x[h, w], x[hp, wp] = x[hp, wp], x[h, w]  # as released: copies, never swaps
    return np.clip(_gaussian(x / 255., sigma), 0, 1) * 255


def defocus_blur(x: Any, s: int, rng: Rng):
    radius, alias = [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)][s - 1]
    x = np.array(x) / 255.
    kernel = disk(radius, alias)
    channels = np.stack([ndimage.correlate(x[:, :, d], kernel, mode="mirror") for d in range(3)], axis=2)
    return np.clip(channels, 0, 1) * 255


def motion_blur(x: Any, s: int, rng: Rng):
    radius, sigma = [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)][s - 1]
    x = _motion_blur(np.array(x), radius, sigma, rng.uniform(-45, 45))
    return np.clip(x, 0, 255)


def zoom_blur(x: Any, s: int, rng: Rng):
    c = [np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.02),
         np.arange(1, 1.26, 0.02), np.arange(1, 1.31, 0.03)][s - 1]
    x = (np.array(x) / 255.).astype(np.float32)
    out = np.zeros_like(x)
    for zoom in c:
        layer = clipped_zoom(x, zoom)[:x.shape[0], :x.shape[1], :]
        out[:layer.shape[0], :layer.shape[1]] += layer
    return np.clip((x + out) / (len(c) + 1), 0, 1) * 255


def snow(x: Any, s: int, rng: Rng):
    c = [(0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7), (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
         (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65), (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)][s - 1]
    x = np.array(x, dtype=np.float32) / 255.
    layer = rng.normal(size=x.shape[:2], loc=c[0], scale=c[1])
    layer = clipped_zoom(layer[..., np.newaxis], c[2])
    layer[layer < c[3]] = 0
    layer = np.clip(layer.squeeze(), 0, 1)
    layer = _motion_blur(layer, c[4], c[5], rng.uniform(-135, -45))
    layer = (np.round(layer * 255).astype(np.uint8) / 255.)[..., np.newaxis][:x.shape[0], :x.shape[1], :]
    x = c[6] * x + (1 - c[6]) * np.maximum(x, _gray(x).reshape(x.shape[0], x.shape[1], 1) * 1.5 + 0.5)
    x[:layer.shape[0], :layer.shape[1]] += layer + np.rot90(layer, k=2)
    return np.clip(x, 0, 1) * 255


def frost_files(frost_dir: Path | None = None) -> list[Path] | None:
    """The five frost overlays used (frost1-5), from ``frost_dir`` or an installed imagecorruptions."""
    if frost_dir is None:
        spec = importlib.util.find_spec("imagecorruptions")
        if spec is None or not spec.origin:
            return None
        frost_dir = Path(spec.origin).parent / "frost"
    names = ["frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg"]
    files = [Path(frost_dir) / n for n in names]
    return files if all(f.is_file() for f in files) else None


def procedural_frost(rng: Rng, height: int, width: int) -> np.ndarray:
    """A stand-in frost overlay (uint8 RGB, pale blue-white crystalline streaks) when no frost images exist."""
    size = 1 << max(height, width, 32).bit_length()
    base = plasma_fractal(rng, size, 1.6)[:height, :width]
    streaks = _motion_blur((rng.random((height, width)) > 0.985).astype(np.float32), 6, 3, rng.uniform(0, 180))
    ice = np.clip(0.55 * base + 4.0 * streaks, 0, 1)
    tint = np.array([0.85, 0.93, 1.0])
    return (ice[..., None] * tint * 255).astype(np.uint8)


def frost(x: Any, s: int, rng: Rng, frost_dir: Path | None = None):
    from PIL import Image

    c = [(1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)][s - 1]
    x = np.array(x)
    idx = int(rng.integers(5))
    files = frost_files(frost_dir)
    if files is None:
        return np.clip(c[0] * x + c[1] * procedural_frost(rng, x.shape[0], x.shape[1]), 0, 255)
    fimg = Image.open(files[idx]).convert("RGB")
    fh, fw = fimg.height, fimg.width
    scale = max(1.0, x.shape[0] / fh, x.shape[1] / fw) * 1.1
    fimg = fimg.resize((int(np.ceil(fw * scale)), int(np.ceil(fh * scale))), Image.BICUBIC)
    f = np.array(fimg)
    top = int(rng.integers(0, f.shape[0] - x.shape[0]))
    left = int(rng.integers(0, f.shape[1] - x.shape[1]))
    return np.clip(c[0] * x + c[1] * f[top:top + x.shape[0], left:left + x.shape[1]], 0, 255)


def fog(x: Any, s: int, rng: Rng):
    c = [(1.5, 2), (2., 2), (2.5, 1.7), (2.5, 1.5), (3., 1.4)][s - 1]
    x = np.array(x) / 255.
    max_val = x.max()
    side = int(max(x.shape))
    size = 1 if side == 0 else 2 ** (side - 1).bit_length()
    x += c[0] * plasma_fractal(rng, size, c[1])[:x.shape[0], :x.shape[1]][..., np.newaxis]
    return np.clip(x * max_val / (max_val + c[0]), 0, 1) * 255


def brightness(x: Any, s: int, rng: Rng):
    from matplotlib.colors import hsv_to_rgb, rgb_to_hsv

    c = [.1, .2, .3, .4, .5][s - 1]
    x = rgb_to_hsv(np.array(x) / 255.)
    x[:, :, 2] = np.clip(x[:, :, 2] + c, 0, 1)
    return np.clip(hsv_to_rgb(x), 0, 1) * 255


def contrast(x: Any, s: int, rng: Rng):
    c = [0.4, .3, .2, .1, .05][s - 1]
    x = np.array(x) / 255.
    means = np.mean(x, axis=(0, 1), keepdims=True)
    return np.clip((x - means) * c + means, 0, 1) * 255


def elastic_transform(x: Any, s: int, rng: Rng):
    image = np.array(x, dtype=np.float32) / 255.
    shape = image.shape
    sigma = np.array(shape[:2]) * 0.01
    alpha = [250 * 0.05, 250 * 0.065, 250 * 0.085, 250 * 0.1, 250 * 0.12][s - 1]
    max_d = shape[0] * 0.005
    dx = (ndimage.gaussian_filter(rng.uniform(-max_d, max_d, size=shape[:2]), sigma, mode="mirror", truncate=3)
          * alpha).astype(np.float32)[..., None]
    dy = (ndimage.gaussian_filter(rng.uniform(-max_d, max_d, size=shape[:2]), sigma, mode="mirror", truncate=3)
          * alpha).astype(np.float32)[..., None]
    xx, yy, zz = np.meshgrid(np.arange(shape[1]), np.arange(shape[0]), np.arange(shape[2]))
    indices = np.reshape(yy + dy, (-1, 1)), np.reshape(xx + dx, (-1, 1)), np.reshape(zz, (-1, 1))
    return np.clip(ndimage.map_coordinates(image, indices, order=1, mode="mirror").reshape(shape), 0, 1) * 255


def pixelate(x: Any, s: int, rng: Rng):
    from PIL import Image

    c = [0.6, 0.5, 0.4, 0.3, 0.25][s - 1]
    w, h = x.size
    return x.resize((int(w * c), int(h * c)), Image.BOX).resize((w, h), Image.NEAREST)


def jpeg_compression(x: Any, s: int, rng: Rng):
    from PIL import Image

    buf = BytesIO()
    x.save(buf, "JPEG", quality=[25, 18, 15, 10, 7][s - 1])
    return Image.open(buf).convert("RGB")


CORRUPTION_FUNCTIONS: dict[str, Callable[[Any, int, Rng], Any]] = {
    "gaussian_noise": gaussian_noise, "shot_noise": shot_noise, "impulse_noise": impulse_noise,
    "defocus_blur": defocus_blur, "glass_blur": glass_blur, "motion_blur": motion_blur, "zoom_blur": zoom_blur,
    "snow": snow, "frost": frost, "fog": fog, "brightness": brightness, "contrast": contrast,
    "elastic_transform": elastic_transform, "pixelate": pixelate, "jpeg_compression": jpeg_compression,
}


SEEDED = ("impulse_noise", "glass_blur")
LIBRARY_MIN_SIDE = 32  # the library refuses smaller images; the port corrupts them


def library() -> Any | None:
    """``imagecorruptions.corrupt`` of the maintained fork, or None where it is not installed (or is
    the unmaintained original, which fails to import on current setuptools/numpy)."""
    try:
        from imagecorruptions import corrupt as lib_corrupt
    except Exception as exc:  # noqa: BLE001 - ImportError, or pkg_resources/np.float_ inside the original
        log.debug("imagecorruptions not usable (%s); using the reference port", exc)
        return None
    return lib_corrupt


def backend(frost_dir: Path | None = None) -> str:
    """Which implementation ``corrupt`` uses: the library, or the port (with a given ``frost_dir``)."""
    return "imagecorruptions-imaug" if library() is not None and frost_dir is None else "port"


def _check(name: str, severity: int) -> None:
    if name not in CORRUPTION_FUNCTIONS:
        raise ValueError(f"unknown corruption {name!r}; valid names: {', '.join(CORRUPTION_FUNCTIONS)}")
    if severity not in range(1, 6):
        raise ValueError(f"severity must be 1-5, got {severity}")


def library_corrupt(img: Any, name: str, severity: int, rng: Rng):
    """The library's corruption of a PIL RGB image, numpy's global generator seeded from ``rng``."""
    from PIL import Image

    _check(name, severity)
    lib_corrupt = library()
    if lib_corrupt is None:
        raise RuntimeError("imagecorruptions-imaug is not installed: pip install 'curate[corruptions]'")
    arr = np.asarray(img.convert("RGB") if hasattr(img, "convert") else img, dtype=np.uint8)
    seed = int(rng.integers(2 ** 32))
    extra = {"seed": seed} if name in SEEDED else {}  # these draw from their own generators
    with _GLOBAL_RNG:
        np.random.seed(seed)
        out = lib_corrupt(arr, severity=severity, corruption_name=name, **extra)
    return Image.fromarray(np.uint8(out))


def port_corrupt(img: Any, name: str, severity: int, rng: Rng, frost_dir: Path | None = None):
    """The reference port's corruption of a PIL RGB image (float results truncated to uint8)."""
    from PIL import Image

    _check(name, severity)
    fn = CORRUPTION_FUNCTIONS[name]
    out = fn(img, severity, rng, frost_dir) if name == "frost" else fn(img, severity, rng)
    return out if isinstance(out, Image.Image) else Image.fromarray(np.uint8(out))


def corrupt(img: Any, name: str, severity: int, rng: Rng, frost_dir: Path | None = None):
    """Corrupt a PIL RGB image with the library (the port where it is missing, or for an explicit
    ``frost_dir`` of your own frost images; frost: the library's five ImageNet-C overlays, picked and
    cropped as ImageNet-C does); returns a PIL image."""
    small = min(getattr(img, "size", (LIBRARY_MIN_SIDE,))) < LIBRARY_MIN_SIDE
    if backend(frost_dir) == "port" or small or name == "frost":
        return port_corrupt(img, name, severity, rng, frost_dir)
    return library_corrupt(img, name, severity, rng)
