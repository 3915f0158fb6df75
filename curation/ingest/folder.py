"""``curate import DIR``: local images as candidates (source ``folder``), with provenance."""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from curation.db.models import ClassSet, ImageClass, SourceRecord
from curation.ingest.records import attach_bytes
from curation.store import ImageStore

log = logging.getLogger(__name__)
SOURCE = "folder"


@dataclass
class ImportStats:
    seen: int = 0
    added: int = 0
    skipped: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    unknown_folders: set[str] = field(default_factory=set)

    def add_rejection(self, reason: str) -> None:
        kind = reason.split(":", 1)[0]
        self.rejected[kind] = self.rejected.get(kind, 0) + 1


def iter_files(root: Path, skipped: dict[str, int] | None = None) -> Iterator[Path]:
    """Every regular file under ``root``, in a stable order, skipping hidden files and folders and symlinks.

    What is skipped is counted in ``skipped`` (reason -> count) so the caller can report it.
    """
    skipped = {} if skipped is None else skipped

    def skip(reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1

    for folder, dirs, files in os.walk(root, followlinks=False):
        for d in dirs:
            if (Path(folder) / d).is_symlink():
                skip("symlink")
            elif d.startswith("."):
                skip("hidden folder")
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (Path(folder) / d).is_symlink())
        for name in sorted(files):
            path = Path(folder) / name
            if path.is_symlink():
                skip("symlink")
            elif name.startswith("."):
                skip("hidden name (starts with '.')")
            elif path.is_file():
                yield path
            else:
                skip("not a regular file")


def _normalise(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def class_lookup(session: Session, class_set: ClassSet) -> dict[str, ImageClass]:
    """Map folder names to classes by key or name, ignoring case, spaces and punctuation."""
    lookup: dict[str, ImageClass] = {}
    for cls in session.scalars(select(ImageClass).where(ImageClass.class_set_id == class_set.id)):
        lookup[_normalise(cls.key)] = cls
        lookup.setdefault(_normalise(cls.name), cls)
    return lookup


def import_files(session: Session, store: ImageStore, root: Path, paths: Sequence[Path], stats: ImportStats,
                 lookup: dict[str, ImageClass] | None, license: str, max_bytes: int, max_pixels: int) -> None:
    """Import one batch of files; the caller commits after each batch, so a killed import resumes."""
    ids = {str(p.resolve()): p for p in paths}
    known = set(session.scalars(select(SourceRecord.source_id).where(
        SourceRecord.source == SOURCE, SourceRecord.source_id.in_(list(ids)))))
    for source_id, path in ids.items():
        stats.seen += 1
        if source_id in known:
            stats.skipped += 1
            continue
        record = _new_record(path, root, source_id, license, lookup, stats)
        session.add(record)
        size = path.stat().st_size
        if size > max_bytes:
            record.status, record.error = "rejected", f"too-large: {size} bytes > cap {max_bytes}"
            record.attempts = 1
        else:
            attach_bytes(session, store, record, path.read_bytes(), max_pixels)
        if record.status == "rejected":
            stats.add_rejection(record.error or "rejected")
        else:
            stats.added += 1
    session.flush()


def _new_record(path: Path, root: Path, source_id: str, license: str, lookup: dict[str, ImageClass] | None,
                stats: ImportStats) -> SourceRecord:
    rel = path.relative_to(root)
    cls = None
    if lookup is not None and len(rel.parts) > 1:
        folder = rel.parts[0]
        cls = lookup.get(_normalise(folder))
        if cls is None:
            stats.unknown_folders.add(folder)
    mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).replace(tzinfo=None)
    return SourceRecord(source=SOURCE, source_id=source_id, url=path.resolve().as_uri(), license=license,
                        title=path.stem, class_id=cls.id if cls else None, uploaded_at=mtime,
                        metadata_={"relative_path": rel.as_posix()})
