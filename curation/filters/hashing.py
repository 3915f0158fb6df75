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


def _pack(bits: np.ndarray) -> list[int]:
    """Rows of 64 booleans as signed 64-bit hashes, the first boolean of a row its top bit."""
    return np.packbits(bits.reshape(-1, 64), axis=1).view(">i8").ravel().tolist()


def _phash_bits(gray: Image.Image) -> np.ndarray:
    """pHash bits of ``gray`` (mode L) and of its mirror: the 8x8 low DCT of a 32x32 thumbnail vs its median.

    Mirroring the thumbnail before the DCT only flips the sign of the odd horizontal frequencies, so one
    resize and one DCT give both.
    """
    pixels = np.asarray(gray.resize((_N, _N), Image.Resampling.LANCZOS), dtype=np.float64)
    low = _DCT @ pixels @ _DCT.T
    both = np.stack((low, low * _FLIP_SIGN)).reshape(2, 64)
    ordered = np.sort(both, axis=1)
    median = (ordered[:, 31] + ordered[:, 32]) / 2  # what np.median gives for 64 values
    return both > median[:, None]


def _dhash_bits(gray: Image.Image) -> np.ndarray:
    """dHash bits (row gradients of a 9x8 thumbnail) of ``gray`` and of its horizontal mirror."""
    pixels = np.asarray(gray.resize((9, 8), Image.Resampling.LANCZOS), dtype=np.int16)
    rising = pixels[:, 1:] > pixels[:, :-1]
    falling = pixels[:, :-1] > pixels[:, 1:]  # the mirror reads each row right to left
    return np.stack((rising, falling[:, ::-1])).reshape(2, 64)


def phash_pair(gray: Image.Image) -> tuple[int, int]:
    """pHash of ``gray`` (mode L) and of its horizontal mirror, from one 32x32 DCT."""
    plain, mirrored = _pack(_phash_bits(gray))
    return plain, mirrored


def dhash_pair(gray: Image.Image) -> tuple[int, int]:
    """dHash (row gradients of a 9x8 thumbnail) of ``gray`` and of its horizontal mirror."""
    plain, mirrored = _pack(_dhash_bits(gray))
    return plain, mirrored


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


_POWERS = np.stack((np.ones(256), np.arange(256.0), np.arange(256.0) ** 2), axis=1)  # 256 x 3


def _stats(base: Image.Image, gray: Image.Image) -> tuple[float, float, tuple[float, float, float]]:
    """Grayscale mean, largest per-channel standard deviation and per-channel means, from histograms.

    ``base`` is 8-bit L or RGB. A flat image is flat in every channel, so the largest deviation is the
    flatness score; a grey image's channel means are its grey mean thrice.
    """
    grey = base is gray
    hist = base.histogram() if grey else base.histogram() + gray.histogram()
    count, total, squares = (np.asarray(hist, dtype=np.float64).reshape(-1, 256) @ _POWERS).T
    means = total / count
    stds = np.sqrt(np.maximum(squares / count - means ** 2, 0.0))
    rgb = means[[0, 0, 0]] if grey else means[:3]
    return float(means[-1]), float(stds[:1 if grey else 3].max()), tuple(round(float(v), 2) for v in rgb)


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
        result.mean, result.std, result.rgb = _stats(base, gray)
        result.phash, result.phash_mirror, result.dhash, result.dhash_mirror = _pack(
            np.concatenate((_phash_bits(gray), _dhash_bits(gray))))
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
