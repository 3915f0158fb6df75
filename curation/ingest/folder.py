"""``curate import DIR``: local images as candidates (source ``folder``), with provenance.

One candidate per image content: a file whose bytes are already a folder candidate is merged into it
(listed under ``copies`` in its metadata and counted, never a second candidate). A file that moved
(its candidate's old path is gone) takes the candidate along, with its new label and attributes; a
re-import of the same path updates the label and attributes the options now give it. Labels come
from a folder level (``--label-from-folder``, ``--path-fields``), attributes (e.g. ``rendition``)
from folder levels, a CSV keyed by relative path, or a fixed ``--set key=value``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from curation.db.models import ClassSet, Image, ImageClass, SourceRecord
from curation.errors import CurateError
from curation.ingest.inspect import Inspected, inspect
from curation.store import ImageStore

log = logging.getLogger(__name__)
SOURCE = "folder"
CLASS_FIELD = "class"
SKIP_FIELD = "-"
# metadata names that curate itself gives a meaning in splits and exports: a user attribute may not take them
RESERVED_ATTRIBUTES = frozenset({
    "relative_path", "copies", "class", "label", "labels", "key", "cls", "group", "src", "sha256", "ext",
    "image_id", "phash", "phash_mirror", "item", "path", "subset", "source", "source_id", "url", "owner",
    "owner_name", "license"})


@dataclass
class ImportStats:
    seen: int = 0
    added: int = 0
    skipped: int = 0
    copies: int = 0  # identical bytes under another path, merged into the candidate that has them
    moved: int = 0
    updated: int = 0  # known paths whose attributes this import changed
    relabelled: int = 0
    conflicts: int = 0  # identical copies whose folder names another class than their candidate's
    rejected: dict[str, int] = field(default_factory=dict)
    unknown_folders: set[str] = field(default_factory=set)
    image_ids: dict[str, int] = field(default_factory=dict)  # file path -> its stored image (copies included)

    def add_rejection(self, reason: str) -> None:
        kind = reason.split(":", 1)[0]
        self.rejected[kind] = self.rejected.get(kind, 0) + 1


@dataclass(frozen=True)
class ImportOptions:
    """What a file's path says about it: ``path_fields`` name the folder levels under the root
    (``class``, an attribute name, or ``-`` to skip one); ``table`` maps relative paths to attributes."""

    lookup: Mapping[str, ImageClass] | None = None
    path_fields: tuple[str, ...] = ()
    table: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    fixed: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)  # normalised folder name -> class key or name
    license: str = "unknown"
    max_bytes: int = 1 << 30
    max_pixels: int = 1 << 30
    link: bool = True  # hard-link files into the store where it shares their filesystem (else copy)
    threads: int = 8  # files read, probed and stored at once (mostly waiting on the disk)


def check_attribute_names(names: Sequence[str], origin: str) -> None:
    """Refuse attribute names that would overwrite a column curate writes itself."""
    clash = sorted(set(names) & RESERVED_ATTRIBUTES - {CLASS_FIELD})
    if clash:
        raise CurateError(f"{origin}: attribute name(s) {', '.join(clash)} are curate's own columns "
                          f"({', '.join(sorted(RESERVED_ATTRIBUTES))}); rename them, e.g. {clash[0]!r} -> "
                          f"'meta_{clash[0]}'")


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
                 options: ImportOptions) -> None:
    """Import one batch of files; the caller commits after each batch, so a killed import resumes.

    Each new file is read once (sha256, header probe, tail check: :func:`curation.ingest.inspect.inspect`)
    and put in the store by hard link or copy (``options.link``), on ``options.threads`` threads; the
    batch's rows are looked up and inserted with a few queries, not a few per file. The store's
    filesystem is synced before returning, so the caller's commit never points at a file a crash can lose.
    """
    ids = {os.path.abspath(p): p for p in paths}  # the root is resolved and symlinks are skipped: no realpath
    known = {r.source_id: r for r in session.scalars(select(SourceRecord).where(
        SourceRecord.source == SOURCE, SourceRecord.source_id.in_(list(ids))))}
    fresh = [p for source_id, p in ids.items() if source_id not in known]
    found = {os.path.abspath(f.path): f for f in _inspect_all(fresh, store, options)}
    digests = {f.sha256 for f in found.values() if f.reason is None}
    images = {i.sha256: i for i in session.scalars(select(Image).where(Image.sha256.in_(digests)))} if digests else {}
    holders = _holders(session, [i.id for i in images.values()])
    placed: list[tuple[str, Image]] = []
    for source_id, path in ids.items():
        stats.seen += 1
        rel = path.relative_to(root).as_posix()
        cls_id, attrs = _describe(rel, options, stats)
        if source_id in known:
            _update(known[source_id], cls_id, attrs, rel, stats)
            if known[source_id].image_id is not None:
                stats.image_ids[source_id] = known[source_id].image_id
            continue
        image = _import_new(session, store, found[source_id], source_id, rel, cls_id, attrs, options, stats,
                            images, holders)
        if image is not None:
            placed.append((source_id, image))
    session.flush()
    for source_id, image in placed:
        stats.image_ids[source_id] = image.id
    if found and not store.remote:  # an object store's PUTs are durable when they return
        sync_filesystem(store.root)


def _inspect_all(paths: Sequence[Path], store: ImageStore, options: ImportOptions) -> list[Inspected]:
    """Read and probe every file and put each one that passes into the store, on ``options.threads`` threads:
    reads, sha256, links and the store's folder creation are system calls that release the GIL, so the
    threads overlap their waits."""
    def one(path: Path) -> Inspected:
        found = inspect(path, options.max_bytes, options.max_pixels)
        if found.reason is None:
            store.put_local(path, found.sha256, link=options.link)
        return found

    if options.threads <= 1 or len(paths) < 2:
        return [one(p) for p in paths]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(options.threads) as pool:
        return list(pool.map(one, paths))


def _holders(session: Session, image_ids: list[int]) -> dict[int, SourceRecord]:
    """image id -> the first folder candidate that has its bytes, for a batch of images, in one query."""
    if not image_ids:
        return {}
    out: dict[int, SourceRecord] = {}
    for record in session.scalars(select(SourceRecord).where(
            SourceRecord.source == SOURCE, SourceRecord.image_id.in_(image_ids)).order_by(SourceRecord.id)):
        out.setdefault(record.image_id, record)
    return out


def sync_filesystem(folder: Path) -> None:
    """Flush the filesystem that holds ``folder`` to disk (Linux ``syncfs``; ``sync`` elsewhere)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        os.sync()
        return
    try:
        if getattr(libc, "syncfs", None) is None or libc.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def _describe(rel: str, options: ImportOptions, stats: ImportStats) -> tuple[int | None, dict[str, str]]:
    """(class id, attributes) that a file's relative path, the attribute table and ``--set`` give it."""
    attrs = dict(options.fixed)
    folders = rel.split("/")[:-1]
    label = None
    for name, value in zip(options.path_fields, folders):
        if name == CLASS_FIELD:
            label = value
        elif name != SKIP_FIELD:
            attrs[name] = value
    row = dict(options.table.get(rel, {}))
    label = row.pop(CLASS_FIELD, None) or label
    attrs.update(row)
    cls_id = None
    if label is not None and options.lookup is not None:
        target = options.aliases.get(_normalise(label), label)
        cls = options.lookup.get(_normalise(target))
        if cls is None:
            stats.unknown_folders.add(label)
        cls_id = cls.id if cls else None
    return cls_id, attrs


def _update(record: SourceRecord, cls_id: int | None, attrs: dict[str, str], rel: str, stats: ImportStats) -> None:
    """A path imported before: take the label and attributes this import gives it."""
    meta = dict(record.metadata_ or {})
    changed = any(meta.get(k) != v for k, v in attrs.items())
    relabel = cls_id is not None and cls_id != record.class_id
    if not (changed or relabel):
        stats.skipped += 1
        return
    if relabel:
        record.class_id = cls_id
        stats.relabelled += 1
    if changed:
        record.metadata_ = {**meta, **attrs, "relative_path": rel}
        stats.updated += 1


def _import_new(session: Session, store: ImageStore, found: Inspected, source_id: str, rel: str,
                cls_id: int | None, attrs: dict[str, str], options: ImportOptions, stats: ImportStats,
                images: dict[str, Image], holders: dict[int | str, SourceRecord]) -> Image | None:
    """Store one new file; returns its image (None when rejected). ``images`` (by sha256) and ``holders``
    (by image id, or sha256 for an image new in this batch) are the batch's lookups, updated here."""
    path = found.path
    record = SourceRecord(source=SOURCE, source_id=source_id, url=path.absolute().as_uri(), license=options.license,
                          title=path.stem, class_id=cls_id, uploaded_at=found.mtime, attempts=1,
                          metadata_={**attrs, "relative_path": rel})
    if found.reason is not None:
        record.status, record.error = "rejected", found.reason
        session.add(record)
        stats.add_rejection(found.reason)
        return None
    digest, info = found.sha256, found.info  # already in the store (see _inspect_all)
    image = images.get(digest)
    if image is None:
        image = Image(sha256=digest, width=info.width, height=info.height, format=info.format, mode=info.mode,
                      n_bytes=found.size, n_frames=info.n_frames)
        session.add(image)
        images[digest] = image
    holder = holders.get(image.id) if image.id is not None else holders.get(digest)
    if holder is not None:
        _merge(holder, record, cls_id, attrs, rel, stats)
        return image
    record.image, record.status = image, "downloaded"
    session.add(record)
    holders[image.id if image.id is not None else digest] = record
    stats.added += 1
    return image


def _merge(holder: SourceRecord, record: SourceRecord, cls_id: int | None, attrs: dict[str, str], rel: str,
           stats: ImportStats) -> None:
    """Identical bytes: the candidate moved (its old file is gone) or this file is a copy of it."""
    meta = dict(holder.metadata_ or {})
    if not Path(holder.source_id).exists():
        holder.source_id, holder.url, holder.title = record.source_id, record.url, record.title
        holder.metadata_ = {**meta, **attrs, "relative_path": rel}
        if cls_id is not None and cls_id != holder.class_id:
            holder.class_id = cls_id
            stats.relabelled += 1
        stats.moved += 1
        return
    copies = list(meta.get("copies", []))
    if rel in copies or rel == meta.get("relative_path"):
        stats.skipped += 1
        return
    holder.metadata_ = {**meta, "copies": sorted(copies + [rel])}
    if holder.class_id is None and cls_id is not None:
        holder.class_id = cls_id
    elif cls_id is not None and cls_id != holder.class_id:
        stats.conflicts += 1
    stats.copies += 1
