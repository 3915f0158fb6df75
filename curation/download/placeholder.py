"""Flickr's "This photo is no longer available" image, which Flickr serves with HTTP 200 for deleted photos.

Every signal is used, cheapest first: the URL it redirects to (``photo_unavailable``); the sha256 of
placeholder files seen in the wild (package data ``placeholder_sha256.txt``, extended by the workspace's
``[download] placeholder_sha256`` list or ``placeholder_file``); bytes whose type contradicts the URL
(Flickr's static photo URLs end in ``.jpg`` and serve JPEG, its placeholder is a PNG); decoded dimensions
that contradict the size the search result advertised for that URL; and finally its look, compared
against a drawn template. A genuine photo whose largest size is 500x374 is advertised at 500x374, so
it matches its advertisement and is kept.
"""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache
from pathlib import Path
from typing import Iterable
from urllib.parse import urlsplit

import numpy as np
from PIL import Image, ImageDraw, UnidentifiedImageError

SIZES = frozenset({(500, 374), (500, 375), (240, 179), (240, 180), (100, 75), (75, 75), (150, 150), (320, 240),
                   (640, 480), (800, 600), (1024, 768)})
KNOWN_SHA256: set[str] = set()  # digests added at run time (tests, library users)
KNOWN_FILE = Path(__file__).with_name("placeholder_sha256.txt")  # package data: one digest a line, '#' comments
SIZE_SLACK = 2  # pixels of rounding between the advertised and the served size
# grey levels between an image's mean and the template's beyond which the look cannot match: the grid
# test allows a mean difference of 6 on the field (most of the image) and 12 on the glyph
MEAN_SLACK = 12
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"), (b"GIF87a", "gif"), (b"GIF89a", "gif"),
          (b"RIFF", "webp"))
_ALIASES = {"jpg": "jpeg", "pjpeg": "jpeg", "x-png": "png"}  # Content-Type spellings seen in the wild
_EXT = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".gif": "gif", ".webp": "webp"}


def read_digests(path: Path) -> set[str]:
    """The sha256 digests listed in a file (one per line, '#' starts a comment); refuses anything else."""
    digests = set()
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        text = line.split("#", 1)[0].strip().lower()
        if not text:
            continue
        if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
            raise ValueError(f"{path}:{number}: not a sha256 hex digest: {text[:80]!r}")
        digests.add(text)
    return digests


@lru_cache(maxsize=1)
def _package_digests() -> frozenset[str]:
    return frozenset(read_digests(KNOWN_FILE))


def known_digests(extra: Iterable[str] = (), files: Iterable[Path] = ()) -> frozenset[str]:
    """The package's placeholder digests plus a workspace's own (a list and/or files)."""
    digests = _package_digests() | KNOWN_SHA256 | {str(d).strip().lower() for d in extra}
    for path in files:
        digests |= read_digests(path)
    return frozenset(digests)


def sniff(data: bytes) -> str | None:
    """The image type the first bytes announce (png, jpeg, gif, webp), else None."""
    return next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)


def type_mismatch(data: bytes, url: str, content_type: str | None) -> str | None:
    """Why the response's type contradicts the URL's extension (a PNG for a ``.jpg``), else None."""
    expected = _EXT.get(Path(urlsplit(url).path).suffix.lower())
    if expected is None:
        return None
    declared = (content_type or "").split(";")[0].strip().lower()
    declared_kind = _ALIASES.get(declared.removeprefix("image/"), declared.removeprefix("image/")) \
        if declared.startswith("image/") else None
    for kind, what in ((declared_kind, f"Content-Type {declared}"), (sniff(data), "the bytes")):
        if kind and kind != expected:
            return f"{what} say {kind} for a .{expected.replace('jpeg', 'jpg')} URL"
    return None


def size_mismatch(size: tuple[int, int], advertised: tuple[int, int] | None) -> str | None:
    """Why a decoded size contradicts the advertised one (either orientation, a little rounding), else None."""
    if not advertised or not all(isinstance(v, int) and v > 0 for v in advertised):
        return None
    (w, h), (aw, ah) = size, advertised
    for ew, eh in ((aw, ah), (ah, aw)):
        if abs(w - ew) <= SIZE_SLACK and abs(h - eh) <= SIZE_SLACK:
            return None
    return f"the bytes are {w}x{h}, the search result advertised {aw}x{ah}"
_GRID = (64, 48)


def template(size: tuple[int, int] = (500, 374)) -> Image.Image:
    """The placeholder's layout: light grey (235) field, a camera-like glyph and a text bar, centred."""
    w, h = size
    img = Image.new("RGB", size, (235, 235, 235))
    draw = ImageDraw.Draw(img)
    s = min(w / 500, h / 374)
    cx, cy = w / 2, h / 2
    draw.rounded_rectangle((cx - 45 * s, cy - 57 * s, cx + 45 * s, cy + 13 * s), radius=max(1, int(8 * s)),
                           outline=(170, 170, 170), width=max(1, int(4 * s)))
    draw.ellipse((cx - 15 * s, cy - 37 * s, cx + 15 * s, cy - 7 * s), outline=(170, 170, 170), width=max(1, int(4 * s)))
    draw.rectangle((cx - 100 * s, cy + 43 * s, cx + 100 * s, cy + 55 * s), fill=(160, 160, 160))
    return img


def template_png(size: tuple[int, int] = (500, 374)) -> bytes:
    buf = io.BytesIO()
    template(size).save(buf, format="PNG")
    return buf.getvalue()


@lru_cache(maxsize=16)
def _template_grid(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The template's grey grid at ``size`` and the mask of its glyph (darker than the field)."""
    grid = np.frombuffer(template(size).convert("L").resize(_GRID, Image.BILINEAR).tobytes(), np.uint8)
    grid = grid.astype(np.int16)
    return grid, grid < 225


def placeholder_reason(data: bytes, url: str, final_url: str = "", content_type: str | None = None,
                       advertised: tuple[int, int] | None = None, known: Iterable[str] = (),
                       digest: str | None = None) -> str | None:
    """Why ``data`` is (or stands in for) Flickr's deleted-photo placeholder rather than the photo, else None.

    Every reason starts with ``flickr-placeholder:`` and names the signal that caught it. ``digest`` is
    the sha256 of ``data`` where the caller has it already; the bytes are opened once for all checks.
    """
    if "photo_unavailable" in (final_url or ""):
        return "flickr-placeholder: redirected to photo_unavailable"
    digest = digest or hashlib.sha256(data).hexdigest()
    if digest in KNOWN_SHA256 or digest in known or digest in _package_digests():
        return "flickr-placeholder: a known placeholder file (its sha256 is listed)"
    size = None
    try:
        with Image.open(io.BytesIO(data)) as img:
            size = img.size
            if _looks_like_template(img, data):
                return "flickr-placeholder: looks like the photo-unavailable image"
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError):
        pass  # not an image these checks can read: the probe that follows says why
    why = type_mismatch(data, final_url or url, content_type)
    if why is None and size is not None:
        why = size_mismatch(size, advertised)
    return f"flickr-placeholder: {why}" if why else None


def is_placeholder(data: bytes, final_url: str = "") -> bool:
    """True for the placeholder's redirect URL, a known digest, or its drawn look."""
    digest = hashlib.sha256(data).hexdigest()
    if "photo_unavailable" in final_url or digest in KNOWN_SHA256 or digest in _package_digests():
        return True
    try:
        with Image.open(io.BytesIO(data)) as img:
            return _looks_like_template(img, data)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError):
        return False  # not an image this check can read: the probe that follows says why


def _looks_like_template(img: Image.Image, data: bytes) -> bool:
    """The drawn look, on a 64x48 grey grid; only images of a placeholder size are decoded at all.

    A JPEG is first decoded at an eighth of its size (its DC coefficients: block means), and one whose
    mean grey is far from the template's is not it; otherwise it is decoded in draft mode (a DCT-domain
    downscale by 2, 4 or 8) to no less than 96 pixels a side, twice the grid's: the template drawn as
    a JPEG then differs from the grid of a full decode by under 3 grey levels, against thresholds of 12
    and 6.
    """
    size = img.size
    if size not in SIZES:
        return False
    reference, glyph = _template_grid(size)
    if img.format == "JPEG":
        img.draft("L", (1, 1))
        tiny = np.frombuffer(img.convert("L").tobytes(), np.uint8)
        if abs(float(tiny.mean()) - float(reference.mean())) > MEAN_SLACK:
            return False
        img = Image.open(io.BytesIO(data))
        img.draft("L", (2 * _GRID[1], 2 * _GRID[1]))
    grid = np.frombuffer(img.convert("L").resize(_GRID, Image.BILINEAR).tobytes(), np.uint8).astype(np.int16)
    difference = np.abs(grid - reference)
    # the glyph must be there, on the flat grey field
    return bool(glyph.any()) and difference[glyph].mean() < 12 and difference[~glyph].mean() < 6
