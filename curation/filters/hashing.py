"""Perceptual and pixel hashes of untrusted image bytes, computed once and stored.

One decode per image gives everything the filters need: pHash and dHash of the image and of its
horizontal mirror, the sha256 of the decoded pixels, and the grayscale mean and standard deviation
(for the black and flat quality checks). JPEGs decode in draft mode (DCT scaling, 1/2 to 1/8 of
the size), which is most of the speed; the header is checked by :func:`curation.images.probe`
before anything is decoded, and EXIF orientation is applied before any hash.

Hashes are 64-bit, bit 63 first in row-major order of the hash grid, so ``hash & (1 << 63)`` is
the top-left bit; the unsigned value equals ``int(str(imagehash.phash(img)), 16)`` for the same
resized input. They are stored as signed 64-bit integers (:func:`to_signed`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
from PIL import Image, ImageOps

from curation.images import probe

log = logging.getLogger(__name__)

WORK_SIZE = 64  # decode at least this many pixels per side (draft mode picks the scale)
_N = 32
_DCT = np.cos(np.pi * np.arange(8)[:, None] * (2 * np.arange(_N)[None, :] + 1) / (2 * _N))  # 8 x 32
_FLIP_SIGN = np.where(np.arange(8) % 2 == 0, 1.0, -1.0)[None, :]  # DCT of a mirrored row: odd terms flip
_BIT_WEIGHTS = np.array([1 << (63 - i) for i in range(64)], dtype=np.uint64)
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "La", "RGBa"})
_SINGLE_FRAME_FORMATS = frozenset({"MPO"})  # camera JPEGs carrying a preview frame are not animations


@dataclass(frozen=True)
class HashJob:
    """One image to hash: its key (image id, reference identity ...) and where its bytes are."""

    key: int | str
    path: str
    max_pixels: int
    want_sha256: bool = False


@dataclass
class HashResult:
    """What one decode tells the filters; ``reason`` says why ``ok`` is false."""

    key: int | str
    ok: bool
    reason: str | None = None
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    mode: str | None = None
    n_frames: int | None = None
    pixel_sha256: str | None = None
    phash: int | None = None
    dhash: int | None = None
    phash_mirror: int | None = None
    dhash_mirror: int | None = None
    mean: float | None = None
    std: float | None = None
    rgb: tuple[float, float, float] | None = None


def to_signed(value: int) -> int:
    """An unsigned 64-bit hash as the signed integer a BIGINT column holds."""
    return value - (1 << 64) if value >= (1 << 63) else value


def to_unsigned(values: Sequence[int] | np.ndarray) -> np.ndarray:
    """Signed stored hashes as a uint64 array (same bits)."""
    return np.asarray(values, dtype=np.int64).view(np.uint64)


def _pack(bits: np.ndarray) -> int:
    return to_signed(int(np.bitwise_or.reduce(_BIT_WEIGHTS[bits.ravel()], initial=np.uint64(0))))


def phash_pair(gray: Image.Image) -> tuple[int, int]:
    """pHash of ``gray`` (mode L) and of its horizontal mirror, from one 32x32 DCT."""
    pixels = np.asarray(gray.resize((_N, _N), Image.Resampling.LANCZOS), dtype=np.float64)
    low = _DCT @ pixels @ _DCT.T
    mirrored = low * _FLIP_SIGN
    return _pack(low > np.median(low)), _pack(mirrored > np.median(mirrored))


def dhash_pair(gray: Image.Image) -> tuple[int, int]:
    """dHash (row gradients of a 9x8 thumbnail) of ``gray`` and of its horizontal mirror."""
    pixels = np.asarray(gray.resize((9, 8), Image.Resampling.LANCZOS), dtype=np.int16)
    flipped = pixels[:, ::-1]
    return _pack(pixels[:, 1:] > pixels[:, :-1]), _pack(flipped[:, 1:] > flipped[:, :-1])


def to_8bit(img: Image.Image) -> Image.Image:
    """An 8-bit RGB or L view of any mode: alpha composited on white, 16-bit and float rescaled."""
    mode = img.mode
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode.startswith("I") or mode == "F":
        values = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16") or (mode == "I" and values.size and values.max() > 255):
            values = values / 257.0
        elif mode == "F" and values.size and values.max() <= 1.0:
            values = values * 255.0
        return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")
    if mode in ("L", "RGB"):
        return img
    if mode == "1":
        return img.convert("L")
    return img.convert("RGB")


def to_gray(img: Image.Image) -> Image.Image:
    """8-bit grayscale (ITU-R 601 luma) of any mode."""
    img = to_8bit(img)
    return img if img.mode == "L" else img.convert("L")


def _pixel_digest(img: Image.Image, full_size: tuple[int, int]) -> str:
    """sha256 of the decoded pixels with the mode and the full size.

    JPEGs are decoded at the draft scale, so for them this says "the same pixels at 1/2-1/8 size":
    byte-different files of one image (metadata stripped, re-saved losslessly) still match.
    """
    if img.mode == "P" or img.mode == "1":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    digest = hashlib.sha256(f"{img.mode}:{full_size[0]}x{full_size[1]}:{img.size[0]}x{img.size[1]}:".encode())
    digest.update(img.tobytes())
    return digest.hexdigest()


def _decode(data: bytes) -> tuple[Image.Image, tuple[int, int]]:
    """Open, draft-decode (JPEG), load frame 0 and apply EXIF orientation; returns (image, full size)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        img = Image.open(io.BytesIO(data))
        full = img.size
        if img.format in ("JPEG", "MPO"):
            img.draft(None, (WORK_SIZE, WORK_SIZE))
        img.load()
        before = img.size
        ImageOps.exif_transpose(img, in_place=True)
    if img.size != before:  # rotated by 90 or 270 degrees
        full = (full[1], full[0])
    return img, full


_LEVELS = np.arange(256, dtype=np.float64)


def _moments(img: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and standard deviation of an 8-bit image, from its histogram (fast, exact)."""
    hist = np.asarray(img.histogram(), dtype=np.float64).reshape(-1, 256)
    count = hist.sum(axis=1)
    mean = hist @ _LEVELS / count
    var = hist @ (_LEVELS ** 2) / count - mean ** 2
    return mean, np.sqrt(np.maximum(var, 0.0))


def _rgb_means(base: Image.Image, means: np.ndarray) -> tuple[float, float, float]:
    """Mean red, green and blue of ``base`` (grey images: the grey mean thrice)."""
    if base.mode == "RGB":
        values = means
    elif base.mode in ("L", "LA", "I;16", "I", "F"):
        values = np.repeat(means[:1], 3)
    else:
        values = _moments(base.convert("RGB"))[0]
    return (round(float(values[0]), 2), round(float(values[1]), 2), round(float(values[2]), 2))


def hash_bytes(data: bytes, key: int | str = 0, max_pixels: int = 178_956_970,
               want_sha256: bool = False) -> HashResult:
    """Decode ``data`` once and compute every hash; bad input comes back as a reason, never raised."""
    sha = hashlib.sha256(data).hexdigest() if want_sha256 else None
    info = probe(data, max_pixels=max_pixels, full_decode=False)
    if not info.ok:
        return HashResult(key, False, info.reason, sha, info.width, info.height, info.format)
    n_frames = 1 if info.format in _SINGLE_FRAME_FORMATS else info.n_frames
    result = HashResult(key, True, None, sha, info.width, info.height, info.format, info.mode, n_frames)
    try:
        img, full = _decode(data)
        result.pixel_sha256 = _pixel_digest(img, full)
        base = to_8bit(img)
        if min(base.size) >= 4 * WORK_SIZE:
            base = base.reduce(min(base.size) // (2 * WORK_SIZE))
        gray = base if base.mode == "L" else base.convert("L")
        result.mean = _moments(gray)[0][0]
        means, stds = _moments(base)
        result.std = float(stds.max())  # a flat image is flat in every channel
        result.rgb = _rgb_means(base, means)
        result.phash, result.phash_mirror = phash_pair(gray)
        result.dhash, result.dhash_mirror = dhash_pair(gray)
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError, MemoryError) as exc:
        result.ok, result.reason = False, f"corrupt: {str(exc)[:200]}"
    return result


def hash_job(job: HashJob) -> HashResult:
    """Read one file and hash it; an unreadable file is a result with a reason."""
    try:
        data = Path(job.path).read_bytes()
    except OSError as exc:
        return HashResult(job.key, False, f"unreadable: {exc.strerror or exc}")
    return hash_bytes(data, job.key, job.max_pixels, job.want_sha256)


def hash_batch(jobs: list[HashJob]) -> list[HashResult]:
    """Hash a chunk of jobs in one worker call (fewer round trips than one task per image)."""
    return [hash_job(job) for job in jobs]


def compute_hashes(jobs: Iterable[HashJob], *, workers: int | None = None, ray: str | None = None,
                   chunk: int = 64) -> Iterator[HashResult]:
    """Hash ``jobs`` in a process pool (or on Ray); results come back in completion order."""
    from curation.parallel import map_unordered

    def chunks() -> Iterator[list[HashJob]]:
        batch: list[HashJob] = []
        for job in jobs:
            batch.append(job)
            if len(batch) >= chunk:
                yield batch
                batch = []
        if batch:
            yield batch

    for results in map_unordered(hash_batch, chunks(), workers=workers, ray=ray):
        yield from results


def image_columns(result: HashResult, now: dt.datetime) -> dict:
    """The ``images`` columns a hash result fills (for a bulk UPDATE by primary key)."""
    row = {"id": result.key, "hashed_at": now, "pixel_sha256": result.pixel_sha256, "phash": result.phash,
           "dhash": result.dhash, "phash_mirror": result.phash_mirror, "dhash_mirror": result.dhash_mirror,
           "pixel_mean": result.mean, "pixel_std": result.std,
           "pixel_rgb": None if result.rgb is None else ",".join(f"{v:.2f}" for v in result.rgb),
           "decode_error": None if result.ok else (result.reason or "corrupt")[:300]}
    if result.n_frames is not None:
        row["n_frames"] = result.n_frames
    return row
