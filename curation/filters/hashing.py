"""Perceptual and pixel hashes of untrusted image bytes, computed once and stored.

One decode per image gives everything the filters need: pHash and dHash of the image and of its
horizontal mirror, the sha256 of the decoded pixels, and the grayscale mean and standard deviation
(for the black and flat quality checks). JPEGs decode in draft mode (DCT scaling, 1/2 to 1/8 of
the size), which is most of the speed; the bytes are opened once, their header checked by
:func:`curation.images.open_checked` before anything is decoded, and EXIF orientation is applied
before any hash. A JPEG whose header holds nothing Pillow would act on but one EXIF orientation (no XMP,
no multi-picture index: most photos, from cameras or web resizers) skips Pillow's header parse:
libjpeg-turbo reads its header and decodes it, under the same pixel caps and with the same pixels, turned
upright as Pillow turns them (:func:`_plain_jpeg`). The dHash grid is a thumbnail of the pHash thumbnail, and the numpy work (DCTs,
medians, bit packing, statistics) runs once per batch, not once per image.

Hashes are 64-bit, bit 63 first in row-major order of the hash grid, so ``hash & (1 << 63)`` is
the top-left bit; the unsigned value equals ``int(str(imagehash.phash(thumb)), 16)`` for the same
32x32 thumbnail (:func:`_thumb32`), and the dHash equals ``imagehash.dhash`` of that thumbnail. They are
stored as signed 64-bit integers (:func:`to_signed`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from itertools import chain
from typing import Iterable, Iterator, Sequence

import numpy as np
import simplejpeg
from PIL import Image, ImageOps

from curation.images import open_checked
from curation.objstore import read_bytes

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
    path: str  # a local path, or an object-store URL any worker can read
    max_pixels: int
    want_sha256: bool = False
    data: bytes | None = None  # the bytes themselves, when the path is on a disk the worker cannot see


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


def _phash_bits(thumbs: np.ndarray) -> np.ndarray:
    """pHash bits of 32x32 thumbnails (n x 32 x 32) and of their mirrors: the 8x8 low DCT vs its median.

    Mirroring the thumbnail before the DCT only flips the sign of the odd horizontal frequencies, so one
    resize and one DCT give both. Returns n x 2 x 64 booleans (plain, mirrored).
    """
    low = _DCT @ thumbs @ _DCT.T
    both = np.stack((low, low * _FLIP_SIGN), axis=1).reshape(-1, 2, 64)
    ordered = np.partition(both, (31, 32), axis=2)
    median = (ordered[..., 31] + ordered[..., 32]) / 2  # what np.median gives for 64 values
    return both > median[..., None]


def _lanczos(n_in: int, n_out: int) -> np.ndarray:
    """The n_out x n_in LANCZOS (a = 3) resampling matrix Pillow uses to shrink n_in pixels to n_out."""
    scale = n_in / n_out
    offset = ((np.arange(n_in) + 0.5)[None, :] - (np.arange(n_out) + 0.5)[:, None] * scale) / scale
    weights = np.sinc(offset) * np.sinc(offset / 3) * (np.abs(offset) < 3)
    return weights / weights.sum(axis=1, keepdims=True)


_ROWS_8, _COLS_9 = _lanczos(_N, 8), _lanczos(_N, 9)


def _dhash_bits(thumbs: np.ndarray) -> np.ndarray:
    """dHash bits of 32x32 thumbnails (n x 32 x 32) and of their mirrors: n x 2 x 64 booleans.

    The 9x8 grid is Pillow's LANCZOS resize of the thumbnail done as two matrix products for the whole
    batch: columns first, then rows, each rounded half up to whole grey levels as Pillow's 8-bit passes
    round (the same grid, and equal neighbours stay equal).
    """
    across = np.clip(np.floor(thumbs @ _COLS_9.T + 0.5), 0, 255)
    grid = np.clip(np.floor(_ROWS_8 @ across + 0.5), 0, 255)
    rising = grid[:, :, 1:] > grid[:, :, :-1]
    falling = grid[:, :, :-1] > grid[:, :, 1:]  # the mirror reads each row right to left
    return np.stack((rising, falling[:, :, ::-1]), axis=1).reshape(-1, 2, 64)


def _thumb32(gray: Image.Image) -> Image.Image:
    """The 32x32 pHash thumbnail: a box reduction to within 2x of it, then LANCZOS (half the cost of LANCZOS alone)."""
    return gray.resize((_N, _N), Image.Resampling.LANCZOS, reducing_gap=1.0)


def _thumb32_bytes(gray: Image.Image) -> bytes:
    """``_thumb32(gray).tobytes()`` for a loaded mode-L image, by the very steps Pillow's ``resize`` takes for
    it (a box reduction by ``size // 32`` where that is over 1, then LANCZOS over the reduced box), called on
    the image core: for a working-size image Pillow's Python-level checks are a third of the resize.
    ``tests/filters/test_hashing.py`` compares the two over many sizes."""
    w, h = gray.size
    if (w, h) == (_N, _N):
        return gray.tobytes()
    fx, fy = w // _N or 1, h // _N or 1
    core, box = gray.im, (0, 0, w, h)
    if fx > 1 or fy > 1:
        core, box = core.reduce((fx, fy), box), (0, 0, w / fx, h / fy)  # a whole-image box is its own safe box
    return gray._new(core.resize((_N, _N), Image.Resampling.LANCZOS, box)).tobytes()


def _array(img: Image.Image, dtype) -> np.ndarray:
    return np.asarray(img, dtype=dtype)[None]


def phash_pair(gray: Image.Image) -> tuple[int, int]:
    """pHash of ``gray`` (mode L) and of its horizontal mirror, from one 32x32 DCT."""
    plain, mirrored = _pack(_phash_bits(_array(_thumb32(gray), np.float64)))
    return plain, mirrored


def dhash_pair(gray: Image.Image) -> tuple[int, int]:
    """dHash of ``gray`` and of its mirror: row gradients of a 9x8 LANCZOS shrink of its 32x32 thumbnail."""
    plain, mirrored = _pack(_dhash_bits(_array(_thumb32(gray), np.float64)))
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


_TURBO_COLORSPACE = {"RGB": "RGB", "L": "GRAY"}
_ORIENTATION_KEYS = frozenset({"exif", "xmp", "XML:com.adobe.xmp", "Raw profile type exif"})  # where Pillow finds one


def _draft_size(width: int, height: int) -> dict[str, int]:
    """The size Pillow's ``draft`` to ``WORK_SIZE`` decodes a ``width`` x ``height`` JPEG at, as simplejpeg's minimum.

    Pillow scales by 1/8, 1/4, 1/2 or 1 (the largest not above ``min(width, height) // WORK_SIZE``);
    libjpeg-turbo also knows 3/8, 5/8 ..., and given ``WORK_SIZE`` alone it would pick one of those for,
    say, a 240x180 image (90x68 where Pillow gives 120x90). Asking for Pillow's size exactly makes it
    pick Pillow's scale: every smaller factor gives fewer pixels.
    """
    most = min(width // WORK_SIZE, height // WORK_SIZE)
    scale = next(s for s in (8, 4, 2, 1) if most >= s or s == 1)
    return {"min_width": -(-width // scale), "min_height": -(-height // scale)}


def _turbo_draft(img: Image.Image, data: bytes) -> Image.Image | None:
    """Draft-decode a YCbCr or grayscale JPEG straight through libjpeg-turbo's TurboJPEG API (simplejpeg).

    The same DCT scaling and the same pixels as Pillow's ``draft`` + ``load``, without Pillow's Python-level
    load loop (about a tenth of the decode time at 1/8 scale). ``None`` sends the image down Pillow's path:
    CMYK and other colour spaces, and any file libjpeg-turbo warns about (Pillow then decides whether the
    damage is fatal, e.g. a truncated file, or ignorable, e.g. stray bytes before a marker).
    """
    colorspace = _TURBO_COLORSPACE.get(img.mode)
    if colorspace is None:
        return None
    try:
        pixels = simplejpeg.decode_jpeg(data, colorspace=colorspace, **_draft_size(*img.size))
    except ValueError:
        return None
    return Image.fromarray(pixels if colorspace == "RGB" else pixels[..., 0], img.mode)


def _decode(img: Image.Image, data: bytes) -> tuple[Image.Image, tuple[int, int]]:
    """Draft-decode (JPEG) the opened ``img``, load frame 0 and apply EXIF orientation; returns (image, full size)."""
    full = img.size
    decoded = _turbo_draft(img, data) if img.format in ("JPEG", "MPO") else None
    if decoded is None:
        if img.format in ("JPEG", "MPO"):
            img.draft(None, (WORK_SIZE, WORK_SIZE))
        img.load()
        decoded = img
    else:
        decoded.info.update(img.info)  # the EXIF (and XMP) orientation travels with the pixels
    if _ORIENTATION_KEYS.isdisjoint(decoded.info):  # no EXIF or XMP: nothing can rotate it (skips a parse)
        return decoded, full
    before = decoded.size
    ImageOps.exif_transpose(decoded, in_place=True)
    if decoded.size != before:  # rotated by 90 or 270 degrees
        full = (full[1], full[0])
    return decoded, full


_LUMA = np.array([0.299, 0.587, 0.114])
_POWERS = np.stack((np.ones(256), np.arange(256.0), np.arange(256.0) ** 2), axis=1)  # 256 x 3
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError, MemoryError)


@dataclass
class _Decoded:
    """One image's share of a batch: its result so far, its 32x32 thumbnail and channel histograms."""

    result: HashResult
    thumb32: bytes = b""
    hist: list[int] | None = None  # R, G, B histograms (768 counts); an L image repeats its one


def _decode_one(data: bytes, key: int | str, max_pixels: int, want_sha256: bool) -> _Decoded:
    """Open once, check the header, decode once; bad input comes back as a reason, never raised."""
    sha = hashlib.sha256(data).hexdigest() if want_sha256 else None
    fast = _plain_jpeg(data, key, max_pixels, sha)
    if fast is not None:
        return fast
    info, img = open_checked(data, max_pixels=max_pixels)
    if img is None:
        return _Decoded(HashResult(key, False, info.reason, sha, info.width, info.height, info.format))
    n_frames = 1 if info.format in _SINGLE_FRAME_FORMATS else info.n_frames
    result = HashResult(key, True, None, sha, info.width, info.height, info.format, info.mode, n_frames)
    try:
        with img:
            img, full = _decode(img, data)
            result.pixel_sha256 = _pixel_digest(img, full)
            return _summarise(result, to_8bit(img))
    except _DECODE_ERRORS as exc:
        result.ok, result.reason = False, f"corrupt: {str(exc)[:200]}"
        return _Decoded(result)


def _summarise(result: HashResult, base: Image.Image) -> _Decoded:
    """The thumbnail and histograms of an 8-bit RGB or L image (reduced first when it is large)."""
    if min(base.size) >= 4 * WORK_SIZE:
        base = base.reduce(min(base.size) // (2 * WORK_SIZE))
    gray = base if base.mode == "L" else base.convert("L")
    hist = base.histogram()
    return _Decoded(result, _thumb32_bytes(gray), hist * 3 if base is gray else hist)


_PLAIN_COLORSPACES = {"YCbCr": "RGB", "RGB": "RGB", "Gray": "L"}  # what Pillow calls the decoded mode


# EXIF orientation -> the transpose that stands the image upright (ImageOps.exif_transpose's table)
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}


def _plain_jpeg(data: bytes, key: int | str, max_pixels: int, sha: str | None) -> _Decoded | None:
    """The common case without Pillow's header parse: a JPEG whose header holds nothing but the image and,
    perhaps, an EXIF orientation.

    Taken only when the markers before the scan carry no XMP, no multi-picture index and at most one
    plainly readable EXIF orientation (:func:`_plain_header`), libjpeg-turbo reads the header as YCbCr, RGB
    or grayscale within the pixel caps, and decodes it without a warning; the image is then turned upright
    as ``ImageOps.exif_transpose`` turns it, and the pixels, hashes and result are the ones the general path
    gives (``tests/filters/test_hashing.py`` compares the two). ``None`` sends the bytes down the general
    path, which gives every refusal its reason.
    """
    if not data.startswith(b"\xff\xd8\xff"):
        return None
    orientation = _plain_header(data)
    if orientation is None:
        return None
    try:
        height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return None
    mode = _PLAIN_COLORSPACES.get(colorspace)
    bomb = Image.MAX_IMAGE_PIXELS
    if mode is None or width * height > max_pixels or (bomb is not None and width * height > bomb):
        return None
    try:
        pixels = simplejpeg.decode_jpeg(data, colorspace=_TURBO_COLORSPACE[mode], **_draft_size(width, height))
    except ValueError:
        return None
    pixels = np.ascontiguousarray(pixels if mode == "RGB" else pixels[..., 0])
    h, w = pixels.shape[:2]
    img = Image.frombuffer(mode, (w, h), pixels, "raw", mode, 0, 1)
    if orientation == 1:
        digest = hashlib.sha256(f"{mode}:{width}x{height}:{w}x{h}:".encode())
        digest.update(pixels)
    else:
        img = img.transpose(_UPRIGHT[orientation])
        full = (height, width) if orientation >= 5 else (width, height)  # a quarter turn swaps the sides
        digest = hashlib.sha256(f"{mode}:{full[0]}x{full[1]}:{img.size[0]}x{img.size[1]}:".encode())
        digest.update(img.tobytes())
    result = HashResult(key, True, None, sha, width, height, "JPEG", mode, 1, digest.hexdigest())
    return _summarise(result, img)


def _plain_header(data: bytes) -> int | None:
    """The EXIF orientation (1 to 8; 1 where there is none) of a JPEG whose marker segments up to the first
    scan hold nothing else that can change the pixels Pillow gives, else None: a multi-picture index (APP2
    MPF: Pillow calls the file MPO), XMP (APP1: its ``tiff:Orientation`` can turn the image), a second EXIF
    block, or anything not plainly readable (an odd marker, an EXIF block it cannot parse) is left to Pillow."""
    at, end = 2, min(len(data), 1 << 20)
    orientation = None
    while at + 4 <= end:
        if data[at] != 0xFF:
            return None  # not where a marker must be: let Pillow judge the file
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0xDA:  # start of scan: the header is over
            return orientation or 1
        length = int.from_bytes(data[at + 2:at + 4], "big")
        if marker == 0xE1:
            if data[at + 4:at + 10] != b"Exif\x00\x00" or orientation is not None:
                return None  # XMP or another APP1, or a second EXIF block
            orientation = _exif_orientation(data[at + 10:at + 2 + length])
            if orientation not in _UPRIGHT and orientation != 1:
                return None
        elif marker == 0xE2 and data[at + 4:at + 8] == b"MPF\x00":
            return None
        at += 2 + length
    return None


def _exif_orientation(tiff: bytes) -> int | None:
    """The orientation an EXIF block's first IFD gives (1 where it has none), or None where the block is not
    plainly readable (bad byte order, offsets out of range, the tag twice or not one SHORT)."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return None
    order = "little" if tiff[:2] == b"II" else "big"
    if int.from_bytes(tiff[2:4], order) != 42:
        return None
    ifd = int.from_bytes(tiff[4:8], order)
    if ifd < 8 or ifd + 2 > len(tiff):
        return None
    count = int.from_bytes(tiff[ifd:ifd + 2], order)
    if ifd + 2 + 12 * count > len(tiff):
        return None
    found = []
    for at in range(ifd + 2, ifd + 2 + 12 * count, 12):
        if int.from_bytes(tiff[at:at + 2], order) == 0x0112:
            kind, n = int.from_bytes(tiff[at + 2:at + 4], order), int.from_bytes(tiff[at + 4:at + 8], order)
            if kind != 3 or n != 1:
                return None
            found.append(int.from_bytes(tiff[at + 8:at + 10], order))
    if len(found) > 1:
        return None
    return found[0] if found else 1


def _finish(decoded: list[_Decoded]) -> list[HashResult]:
    """pHash, dHash, mirrors and pixel statistics of a batch, in a few vectorised numpy calls."""
    done = [d for d in decoded if d.hist is not None]
    if done:
        thumbs = np.frombuffer(b"".join(d.thumb32 for d in done), dtype=np.uint8).reshape(-1, _N, _N)
        thumbs = thumbs.astype(np.float64)
        hashes = _pack(np.concatenate((_phash_bits(thumbs), _dhash_bits(thumbs)), axis=1))
        # Per-channel means and the largest per-channel standard deviation, from histograms: a flat image
        # is flat in every channel, so the largest deviation is the flatness score. The grey mean is the
        # luma (ITU-R 601) of the channel means, which is what the mean of the L conversion comes to.
        counts = np.fromiter(chain.from_iterable(d.hist for d in done), dtype=np.int64, count=768 * len(done))
        count, total, squares = np.moveaxis(counts.reshape(-1, 3, 256) @ _POWERS, -1, 0)
        means = total / count
        stds = np.sqrt(np.maximum(squares / count - means ** 2, 0.0))
        flat, grey = stds.max(axis=1).tolist(), (means @ _LUMA).tolist()
        for i, (d, rgb) in enumerate(zip(done, means.tolist())):
            r = d.result
            r.phash, r.phash_mirror, r.dhash, r.dhash_mirror = hashes[4 * i:4 * i + 4]
            r.mean, r.std = grey[i], flat[i]
            r.rgb = (round(rgb[0], 2), round(rgb[1], 2), round(rgb[2], 2))
    return [d.result for d in decoded]


def hash_bytes(data: bytes, key: int | str = 0, max_pixels: int = 178_956_970,
               want_sha256: bool = False) -> HashResult:
    """Decode ``data`` once and compute every hash; bad input comes back as a reason, never raised."""
    return _finish([_decode_one(data, key, max_pixels, want_sha256)])[0]


def _read(job: HashJob) -> _Decoded:
    try:
        data = job.data if job.data is not None else read_bytes(job.path)  # a path or an object-store URL
    except OSError as exc:
        return _Decoded(HashResult(job.key, False, f"unreadable: {exc.strerror or exc}"))
    return _decode_one(data, job.key, job.max_pixels, job.want_sha256)


def hash_job(job: HashJob) -> HashResult:
    """Read one file and hash it; an unreadable file is a result with a reason."""
    return _finish([_read(job)])[0]


def hash_batch(jobs: list[HashJob]) -> list[HashResult]:
    """Hash a chunk of jobs in one worker call: one round trip, and the numpy work done for all at once."""
    return _finish([_read(job) for job in jobs])


def compute_hashes(jobs: Iterable[HashJob], *, workers: int | None = None, ray: str | None = None,
                   chunk: int = 64) -> Iterator[HashResult]:
    """Hash ``jobs`` in a process pool (or on Ray); results come back in completion order."""
    from curation.parallel import map_unordered

    def chunks() -> Iterator[list[HashJob]]:
        batch: list[HashJob] = []
        for job in jobs:
            batch.append(_portable(job) if ray else job)
            if len(batch) >= chunk:
                yield batch
                batch = []
        if batch:
            yield batch

    for results in map_unordered(hash_batch, chunks(), workers=workers, ray=ray):
        yield from results


def _portable(job: HashJob) -> HashJob:
    """A job a Ray worker on another machine can run: a local file's bytes travel with it (a URL stays a URL)."""
    import dataclasses

    from curation.objstore import is_url

    if job.data is not None or is_url(job.path):
        return job
    try:
        return dataclasses.replace(job, data=read_bytes(job.path))
    except OSError:
        return job  # the worker reports it unreadable, as for a local run


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
