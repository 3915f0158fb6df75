"""Flickr's "This photo is no longer available" image, which Flickr serves with HTTP 200 for deleted photos.

Recognised by the URL it redirects to (``photo_unavailable``), by known digests, or by its look: one of
the sizes Flickr renders it at, a flat light-grey field with a grey glyph, compared against a template.
"""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache

from PIL import Image, ImageDraw, UnidentifiedImageError

SIZES = frozenset({(500, 374), (500, 375), (240, 179), (240, 180), (100, 75), (75, 75), (150, 150), (320, 240),
                   (640, 480), (800, 600), (1024, 768)})
KNOWN_SHA256: set[str] = set()  # digests of placeholder files seen in the wild can be added here
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
def _template_grid(size: tuple[int, int]) -> bytes:
    return template(size).convert("L").resize(_GRID, Image.BILINEAR).tobytes()


def is_placeholder(data: bytes, final_url: str = "") -> bool:
    if "photo_unavailable" in final_url or hashlib.sha256(data).hexdigest() in KNOWN_SHA256:
        return True
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.size not in SIZES:
                return False
            grid = img.convert("L").resize(_GRID, Image.BILINEAR).tobytes()
            size = img.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError):
        return False  # not an image this check can read: the probe that follows says why
    reference = _template_grid(size)
    glyph = [abs(a - b) for a, b in zip(grid, reference) if b < 225]  # the glyph must be there ...
    field = [abs(a - b) for a, b in zip(grid, reference) if b >= 225]  # ... on the flat grey field
    return bool(glyph) and sum(glyph) / len(glyph) < 12 and sum(field) / len(field) < 6
