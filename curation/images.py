"""Safe inspection of untrusted image bytes: size caps, decompression-bomb guard, clear reasons.

Every stage that receives image bytes (folder import, download, filters) goes through
:func:`probe`, which never raises for bad input: it returns the reason as data.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 178_956_970  # Pillow's own default bomb threshold (2x MAX_IMAGE_PIXELS warns)
ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "MPO"})


@dataclass(frozen=True)
class Probe:
    ok: bool
    reason: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    mode: str | None = None
    n_frames: int | None = None


def open_checked(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS,
                 max_bytes: int | None = None) -> tuple[Probe, Image.Image | None]:
    """Open ``data`` and check its header without decoding pixels; the open image comes back when it passes.

    For a stage that goes on to decode (the filters), this saves opening the bytes twice. The caller
    owns the returned image (``None`` when the probe failed) and decodes it with ``load()``.
    """
    if max_bytes is not None and len(data) > max_bytes:
        return Probe(False, f"too-large: {len(data)} bytes > cap {max_bytes}"), None
    if not data:
        return Probe(False, "empty-file"), None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            fmt = img.format
            if fmt not in ALLOWED_FORMATS:
                img.close()
                return Probe(False, f"unsupported-format: {fmt}"), None
            if width * height > max_pixels:
                img.close()
                return Probe(False, f"decompression-bomb: {width}x{height} exceeds {max_pixels} pixels",
                             width, height, fmt), None
            n_frames = getattr(img, "n_frames", 1)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return Probe(False, f"decompression-bomb: {exc}"), None
    except UnidentifiedImageError:
        return Probe(False, "not-an-image"), None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        return Probe(False, f"corrupt: {str(exc)[:200]}"), None
    return Probe(True, None, width, height, fmt, img.mode, n_frames), img


def probe(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int | None = None,
          full_decode: bool = True) -> Probe:
    """Identify ``data`` as an image without trusting it.

    The header's pixel count is checked against ``max_pixels`` before any decoding, so a
    50,000 x 50,000 PNG is refused without allocating its pixels.
    """
    info, img = open_checked(data, max_pixels, max_bytes)
    if img is None:
        return info
    with img:
        if full_decode:
            try:
                img.load()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                return Probe(False, f"decompression-bomb: {exc}")
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                kind = "truncated" if "truncated" in str(exc).lower() else "corrupt"  # cut off in transfer?
                return Probe(False, f"{kind}: {str(exc)[:200]}")
    return info
