"""``curate import DIR``: local images as candidates (source ``folder``), with provenance.

One candidate per image content: a file whose bytes are already a folder candidate is merged into it
(listed under ``copies`` in its metadata and counted, never a second candidate). A file that moved
(its candidate's old path is gone) takes the candidate along, with its new label and attributes; a
re-import of the same path updates the label and attributes the options now give it. Labels come
from a folder level (``--label-from-folder``, ``--path-fields``), attributes (e.g. ``rendition``)
from folder levels, a CSV keyed by relative path, or a fixed ``--set key=value``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from curation.db.bulk import insert_rows
from curation.db.models import ClassSet, Image, ImageClass, SourceRecord, utcnow
from curation.errors import CurateError
from curation.filters.hashing import image_columns
from curation.ingest.inspect import Inspected, ReadTask, read_chunk
from curation.store import ImageStore, sync_filesystem

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
    threads: int = 8  # files read, probed and stored at once by one process (mostly waiting on the disk)
    # Decode each new file once and store the filters' hashes with its image (``curate filter`` then decodes
    # nothing); only when the filter's pixel cap is ``max_pixels`` (see pipeline.filter_hashing), so the
    # stored hashes are exactly the ones the filter would compute.
    hash: bool = False
    workers: int | None = None  # processes that read, check and hash (default: all cores)


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
                 options: ImportOptions, found: Mapping[str, Inspected] | None = None) -> None:
    """Import one batch of files; the caller commits after each batch, so a killed import resumes.

    Each new file is read once (:func:`curation.ingest.inspect.read_chunk`: sha256, header probe, tail check
    and, with ``options.hash``, the filters' hashes) and put in the store by hard link or copy
    (``options.link``). ``found`` (by absolute path) holds what worker processes already read
    (:func:`curation.ingest.pipeline.import_folder`); a new file missing from it is read here, on
    ``options.threads`` threads. The batch's rows are looked up with a few queries and inserted in bulk.
    The store's filesystem is synced before returning, so the caller's commit never points at a file a
    crash can lose.
    """
    ids = {os.path.abspath(p): p for p in paths}  # the root is resolved and symlinks are skipped: no realpath
    known = {r.source_id: r for r in session.scalars(select(SourceRecord).where(
        SourceRecord.source == SOURCE, SourceRecord.source_id.in_(list(ids))))}
    fresh = [source_id for source_id in ids if source_id not in known]
    found = dict(found or {})
    missing = [Path(source_id) for source_id in fresh if source_id not in found]
    found.update({str(f.path): f for f in read_files(missing, store, options)})
    _store_unstored(store, [found[source_id] for source_id in fresh], options)
    synced = _sync_in_background(store) if fresh else None  # overlaps the rows below; joined before the commit
    rows = _Rows(session, {found[s].sha256 for s in fresh if found[s].reason is None}, options)
    prefix = os.path.join(os.path.abspath(root), "")
    for source_id, path in ids.items():
        stats.seen += 1
        rel = (source_id[len(prefix):].replace(os.sep, "/") if source_id.startswith(prefix)
               else path.relative_to(root).as_posix())
        cls_id, attrs = _describe(rel, options, stats)
        if source_id in known:
            _update(known[source_id], cls_id, attrs, rel, stats)
            if known[source_id].image_id is not None:
                stats.image_ids[source_id] = known[source_id].image_id
            continue
        rows.add(found[source_id], source_id, rel, cls_id, attrs, stats)
    stats.image_ids.update(rows.insert())
    if synced is not None:
        synced.join()


def _sync_in_background(store: ImageStore):
    """Start flushing the store's filesystem (the links and copies just made) on a thread; an object
    store's PUTs are durable when they return (None)."""
    if store.remote:
        return None
    import threading

    thread = threading.Thread(target=sync_filesystem, args=(store.root,), daemon=True)
    thread.start()
    return thread


def read_files(paths: Sequence[Path], store: ImageStore, options: ImportOptions) -> list[Inspected]:
    """Read and check every file in this process, on ``options.threads`` threads (reads, sha256 and links
    release the GIL), putting each one that passes into a local store."""
    if not paths:
        return []
    tasks = [ReadTask((str(p),), options.max_bytes, options.max_pixels, options.hash,
                      None if store.remote else str(store.root), options.link) for p in paths]
    if options.threads <= 1 or len(tasks) < 2:
        return [f for t in tasks for f in read_chunk(t)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(options.threads) as pool:
        return [f for part in pool.map(read_chunk, tasks) for f in part]


def _store_unstored(store: ImageStore, found: Sequence[Inspected], options: ImportOptions) -> None:
    """Put the accepted files that no worker stored (an object store: one PUT each, on threads)."""
    todo = [f for f in found if f.reason is None and not f.stored]
    if not store.remote:  # links and small copies: a plain loop costs less than handing them to threads
        for f in todo:
            store.put_local(f.path, f.sha256, link=options.link)
        return
    if not todo:
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, options.threads)) as pool:
        list(pool.map(lambda f: store.put_local(f.path, f.sha256, link=options.link), todo))


_IMAGE_COLUMNS = ("sha256", "width", "height", "format", "mode", "n_bytes", "n_frames")
_HASH_COLUMNS = ("hashed_at", "pixel_sha256", "phash", "dhash", "phash_mirror", "dhash_mirror", "pixel_mean",
                 "pixel_std", "pixel_rgb", "decode_error")  # what image_columns() fills, but n_frames


class _Rows:
    """A batch's new rows: images (with their hashes) and folder candidates, inserted in bulk at the end.

    Lookups by sha256 cover both the images already in the database and those new in this batch; a new
    candidate is a plain namespace until inserted, so :func:`_merge` treats it as it treats a stored one.
    """

    def __init__(self, session: Session, digests: set[str], options: ImportOptions):
        self.session, self.options, self.now = session, options, utcnow()
        self.image_ids: dict[str, int] = dict(session.execute(select(Image.sha256, Image.id).where(
            Image.sha256.in_(digests))).all()) if digests else {}
        self.holders: dict[str, Any] = {}  # sha256 -> the folder candidate that has these bytes
        if self.image_ids:
            by_id = {v: k for k, v in self.image_ids.items()}
            for image_id, record in _holders(session, list(by_id)).items():
                self.holders[by_id[image_id]] = record
        self.new_images: dict[str, dict[str, Any]] = {}
        self.records: list[tuple[SimpleNamespace, str | None]] = []
        self.placed: list[tuple[str, str]] = []  # (source id, sha256) of every stored file

    def add(self, found: Inspected, source_id: str, rel: str, cls_id: int | None, attrs: dict[str, str],
            stats: ImportStats) -> None:
        """One new file: a rejected candidate, a copy merged into its holder, or a new candidate."""
        path = found.path
        record = SimpleNamespace(
            source=SOURCE, source_id=source_id, url=path.as_uri(), license=self.options.license,
            title=path.stem, class_id=cls_id, uploaded_at=found.mtime, attempts=1,
            metadata_={**attrs, "relative_path": rel}, status="rejected", error=found.reason)
        if found.reason is not None:
            self.records.append((record, None))
            stats.add_rejection(found.reason)
            return
        digest = found.sha256
        if digest not in self.image_ids and digest not in self.new_images:
            self.new_images[digest] = self._image_row(found)
        self.placed.append((source_id, digest))
        holder = self.holders.get(digest)
        if holder is not None:
            _merge(holder, record, cls_id, attrs, rel, stats)
            return
        record.status, record.error = "downloaded", None
        self.records.append((record, digest))
        self.holders[digest] = record
        stats.added += 1

    def _image_row(self, found: Inspected) -> dict[str, Any]:
        info = found.info
        row: dict[str, Any] = {"sha256": found.sha256, "width": info.width, "height": info.height,
                               "format": info.format, "mode": info.mode, "n_bytes": found.size,
                               "n_frames": info.n_frames}
        if self.options.hash:  # every row of a batch has the same columns: one executemany
            columns = image_columns(found.hashes, self.now) if found.hashes else {"hashed_at": None}
            row.update({k: v for k, v in columns.items() if k != "id"})
        return row

    def insert(self) -> dict[str, int]:
        """Insert the new images, then the new candidates; returns every stored file's image id."""
        # one driver-level executemany per table (curation.db.bulk); the new images' ids are then read back
        # by digest, a unique index, in a few queries
        images, records = Image.__table__, SourceRecord.__table__
        if self.new_images:
            columns = _IMAGE_COLUMNS + (_HASH_COLUMNS if self.options.hash else ())
            insert_rows(self.session, images, columns,
                        [tuple(row.get(c) for c in columns) for row in self.new_images.values()])
            digests = list(self.new_images)
            for start in range(0, len(digests), 5000):
                self.image_ids.update(self.session.execute(select(Image.sha256, Image.id).where(
                    Image.sha256.in_(digests[start:start + 5000]))).all())
        if self.records:
            keys = [key for key in dict.fromkeys(k for record, _ in self.records for k in vars(record))
                    if key != "metadata_"]
            columns = [*keys, "metadata", "image_id"]
            rows = []
            for record, digest in self.records:
                row = vars(record)
                rows.append((*(row.get(key) for key in keys), row.get("metadata_"),
                             self.image_ids[digest] if digest else None))
            insert_rows(self.session, records, columns, rows)
        return {source_id: self.image_ids[digest] for source_id, digest in self.placed}


def _holders(session: Session, image_ids: list[int]) -> dict[int, SourceRecord]:
    """image id -> the first folder candidate that has its bytes, for a batch of images, in one query."""
    if not image_ids:
        return {}
    out: dict[int, SourceRecord] = {}
    for record in session.scalars(select(SourceRecord).where(
            SourceRecord.source == SOURCE, SourceRecord.image_id.in_(image_ids)).order_by(SourceRecord.id)):
        out.setdefault(record.image_id, record)
    return out


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
