"""One read of a local file: its sha256, its header probed, a cheap check that it is not cut short and,
when asked, the filters' decode and hashes of the same bytes.

Import refuses what the header and the file's tail already show: not an image, a format we do not
take, a decompression bomb by its header, and a file without the end marker its format must end with.
With ``hash`` on, the bytes just read are also decoded once (draft mode) by
:func:`curation.filters.hashing.hash_batch`, the very function ``curate filter`` runs, so the filter finds
the image hashed and decodes nothing; a file whose header passes but whose pixels do not decode is still
imported, its decoder's reason stored as the image's ``decode_error`` (``curate filter`` rejects it as
``corrupt: ...``), as when the filter decodes it itself.

:func:`read_chunk` is the unit of work of import's worker processes: a chunk of paths in, one
:class:`Inspected` per path out (no bytes travel back).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from curation.filters.hashing import HashJob, HashResult, hash_batch
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
    hashes: HashResult | None = None  # the filters' decode of these bytes (``hash`` on and the header passed)
    stored: bool = False  # already put in the store by the worker that read it

    @property
    def reason(self) -> str | None:
        if self.error:
            return self.error
        return None if self.info is None or self.info.ok else self.info.reason


@dataclass(frozen=True)
class ReadTask:
    """A chunk of files for one worker; ``store_root`` is the local store to put accepted files in
    (None: the caller puts them, e.g. into an object store)."""

    paths: tuple[str, ...]
    max_bytes: int
    max_pixels: int
    hash: bool = False
    store_root: str | None = None
    link: bool = True


def cut_short(data: bytes, fmt: str | None) -> str | None:
    """Why ``data`` is visibly truncated for its format, or None: a JPEG needs an end-of-image marker,
    a PNG an IEND chunk, a WebP the bytes its RIFF header announces. Bytes after the marker (camera
    trailers) are allowed; damage inside the data is left to the decoder."""
    if fmt in ("JPEG", "MPO") and data.rfind(b"\xff\xd9") < 0:
        return "truncated: no JPEG end-of-image marker"
    if fmt == "PNG" and data.rfind(b"IEND") < 0:
        return "truncated: no PNG IEND chunk"
    if fmt == "WEBP" and len(data) >= 8 and struct.unpack("<I", data[4:8])[0] + 8 > len(data):
        return "truncated: fewer bytes than the WebP header announces"
    return None


def _load(path: Path, max_bytes: int) -> tuple[Inspected, bytes | None]:
    """Stat and read ``path`` once; the bytes are None when it is unreadable or over the size cap."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            mtime = dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc).replace(tzinfo=None)
            found = Inspected(path, st.st_size, mtime)
            if st.st_size > max_bytes:
                found.error = f"too-large: {st.st_size} bytes > cap {max_bytes}"
                return found, None
            return found, fh.read()
    except OSError as exc:
        return Inspected(path, 0, dt.datetime(1970, 1, 1), error=f"unreadable: {exc.strerror or exc}"), None


def _probe_only(found: Inspected, data: bytes, max_pixels: int) -> None:
    """sha256, header probe and tail check, no decoding."""
    found.sha256 = hashlib.sha256(data).hexdigest()
    info, img = open_checked(data, max_pixels=max_pixels)
    if img is not None:
        img.close()
    found.info = info


def _from_hashes(found: Inspected, result: HashResult) -> None:
    """The probe, sha256 and hashes of one :func:`hash_batch` result. Its ``mode`` is set exactly when the
    header passed (:func:`curation.images.open_checked` opened the image); without it the result's reason
    is the header's (not an image, a bomb ...), which import refuses."""
    found.sha256 = result.sha256
    if result.mode is None:
        found.info = Probe(False, result.reason, result.width, result.height, result.format)
        return
    found.info = Probe(True, None, result.width, result.height, result.format, result.mode, result.n_frames)
    found.hashes = result


def read_chunk(task: ReadTask) -> list[Inspected]:
    """Read, check (and hash) every file of ``task`` and put each one that passes into the local store;
    bad input comes back as a reason, never raised."""
    loaded = [_load(Path(p), task.max_bytes) for p in task.paths]
    readable = [(found, data) for found, data in loaded if data is not None]
    if task.hash:
        jobs = [HashJob(i, str(found.path), task.max_pixels, want_sha256=True, data=data)
                for i, (found, data) in enumerate(readable)]
        for (found, _), result in zip(readable, sorted(hash_batch(jobs), key=lambda r: r.key)):
            _from_hashes(found, result)
    else:
        for found, data in readable:
            _probe_only(found, data, task.max_pixels)
    for found, data in readable:
        if found.info.ok:
            short = cut_short(data, found.info.format)
            if short:
                found.info, found.hashes = Probe(False, short, found.info.width, found.info.height,
                                                 found.info.format), None
    if task.store_root is not None:
        from curation.store import ImageStore

        store = ImageStore(Path(task.store_root))
        for found, _ in readable:
            if found.reason is None:
                store.put_local(found.path, found.sha256, link=task.link)
                found.stored = True
    return [found for found, _ in loaded]


def inspect(path: Path, max_bytes: int, max_pixels: int, hash: bool = False) -> Inspected:
    """Read ``path`` once: size cap, sha256, header probe, tail check (and the filters' hashes with ``hash``)."""
    return read_chunk(ReadTask((str(path),), max_bytes, max_pixels, hash))[0]
