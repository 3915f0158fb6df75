"""Turning bytes into a stored image and linking it to its source record (shared by every source)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from curation.db.models import Image, SourceRecord
from curation.images import Probe, probe
from curation.store import ImageStore, sha256_bytes


def store_image(session: Session, store: ImageStore, data: bytes, info: Probe,
                known: dict[str, Image] | None = None) -> Image:
    """Put ``data`` in the store and return its ``Image`` row (existing or new).

    ``known`` maps sha256 to the rows a batch already loaded (see :func:`preload_images`): then a digest
    missing from it is new, no query is made, and the row is inserted with the batch at its flush.
    """
    digest = store.put(data)
    image = known.get(digest) if known is not None else session.scalar(select(Image).where(Image.sha256 == digest))
    if image is None:
        image = Image(sha256=digest, width=info.width, height=info.height, format=info.format, mode=info.mode,
                      n_bytes=len(data), n_frames=info.n_frames)
        session.add(image)
        if known is None:
            session.flush()
        else:
            known[digest] = image
    return image


def preload_images(session: Session, blobs: list[bytes]) -> dict[str, Image]:
    """The ``Image`` rows that already exist for these bytes, by sha256, in one query."""
    digests = {sha256_bytes(b) for b in blobs}
    return {i.sha256: i for i in session.scalars(select(Image).where(Image.sha256.in_(digests)))} if digests else {}


def attach_bytes(session: Session, store: ImageStore, record: SourceRecord, data: bytes,
                 max_pixels: int, max_bytes: int | None = None, info: Probe | None = None,
                 known: dict[str, Image] | None = None) -> bool:
    """Probe ``data`` (unless a worker already did: ``info``); store it and mark ``record`` downloaded,
    or mark it rejected with the reason."""
    record.attempts = (record.attempts or 0) + 1
    if info is None:
        info = probe(data, max_pixels=max_pixels, max_bytes=max_bytes)
    if not info.ok:
        record.status, record.error = "rejected", info.reason
        return False
    record.image = store_image(session, store, data, info, known)
    record.status, record.error = "downloaded", None
    return True
