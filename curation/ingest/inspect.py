"""One read of a local file: its sha256, its header probed, and a cheap check that it is not cut short.

Import does not decode pixels: ``curate filter`` decodes every image once anyway (draft mode, for the
hashes) and rejects what fails to decode with the decoder's reason (``corrupt: image file is truncated``
...). Import refuses what the header and the file's tail already show: not an image, a format we do
not take, a decompression bomb by its header, and a file without the end marker its format must end with.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from curation.images import Probe, open_checked


@dataclass
class Inspected:
    """What one read of a file tells import; ``info.ok`` false (or ``error``) means rejected with a reason."""

    path: Path
    size: int
    mtime: dt.datetime
    sha256: str | None = None
    info: Probe | None = None
    error: str | None = None

    @property
    def reason(self) -> str | None:
        if self.error:
            return self.error
        return None if self.info is None or self.info.ok else self.info.reason


def cut_short(data: bytes, fmt: str | None) -> str | None:
    """Why ``data`` is visibly truncated for its format, or None: a JPEG needs an end-of-image marker,
    a PNG an IEND chunk, a WebP the bytes its RIFF header announces. Bytes after the marker (camera
    trailers) are allowed; damage inside the data is left to the decoder in ``curate filter``."""
    if fmt in ("JPEG", "MPO") and data.rfind(b"\xff\xd9") < 0:
        return "truncated: no JPEG end-of-image marker"
    if fmt == "PNG" and data.rfind(b"IEND") < 0:
        return "truncated: no PNG IEND chunk"
    if fmt == "WEBP" and len(data) >= 8 and struct.unpack("<I", data[4:8])[0] + 8 > len(data):
        return "truncated: fewer bytes than the WebP header announces"
    return None


def inspect(path: Path, max_bytes: int, max_pixels: int) -> Inspected:
    """Read ``path`` once: size cap, sha256, header probe (no pixel decoding) and the tail check."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            mtime = dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc).replace(tzinfo=None)
            found = Inspected(path, st.st_size, mtime)
            if st.st_size > max_bytes:
                found.error = f"too-large: {st.st_size} bytes > cap {max_bytes}"
                return found
            data = fh.read()
    except OSError as exc:
        return Inspected(path, 0, dt.datetime(1970, 1, 1), error=f"unreadable: {exc.strerror or exc}")
    found.sha256 = hashlib.sha256(data).hexdigest()
    info, img = open_checked(data, max_pixels=max_pixels)
    if img is not None:
        img.close()
        short = cut_short(data, info.format)
        if short:
            info = Probe(False, short, info.width, info.height, info.format)
    found.info = info
    return found
