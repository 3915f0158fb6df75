"""The frozen export format: the contract between ``splits`` (writer) and ``models`` (reader).

An export is a folder::

    export.json     what it is: name, format version, spec, seed, tool version, subsets, counts
    classes.csv     index,key,name,logit_index  (index = the model's output index)
    manifest.csv    one row per (image, subset): path, sha256, subset, label, labels, source, source_id,
                    url, owner, license, then metadata columns in sorted order
    SHA256SUMS      "<sha256>  <path>" for every file of the export but itself, sorted by path
    README.md       the dataset card
    <image files>   at the ``path`` of their manifest rows (e.g. train/<class>/<sha256>.jpg)

In ``webdataset`` and ``parquet`` exports the images live inside containers and a row's ``path`` is
``<container>#<member>`` (e.g. ``train/train-000000.tar#<key>.jpg``); ``FrozenExport.read_bytes`` reads
either kind, and ``verify`` re-hashes the members too. Plain file names never contain ``#``.

``label`` holds the class key of a single-label image; ``labels`` holds the keys of a multi-label
image joined by ``|`` (and repeats ``label`` for single-label ones). Everything is written in a
fixed order with no timestamps, so exporting the same inputs twice gives byte-identical files.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Mapping, Sequence

from curation.store import sha256_file  # noqa: F401 - one implementation, re-exported for models/ and splits/

FORMAT_VERSION = 1
CORE_COLUMNS = ("path", "sha256", "subset", "label", "labels", "source", "source_id", "url", "owner", "license")
SUMS = "SHA256SUMS"
META = "export.json"
MANIFEST = "manifest.csv"
CLASSES = "classes.csv"
CONTAINER_SEP = "#"  # manifest paths of webdataset/parquet exports: "<container>#<member>"
_ODD_PARTS = ("", ".", "..")  # path parts that a normal relative POSIX path never has


class ExportError(Exception):
    """An export folder is missing, malformed or altered; the message says which file and what to do."""


@dataclass(frozen=True)
class ClassEntry:
    index: int
    key: str
    name: str
    logit_index: int | None = None


@dataclass(frozen=True)
class ManifestRow:
    path: str
    sha256: str
    subset: str
    labels: tuple[str, ...]
    source: str = ""
    source_id: str = ""
    url: str = ""
    owner: str = ""
    license: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.labels[0] if len(self.labels) == 1 else ""


@dataclass
class FrozenExport:
    root: Path
    info: dict[str, Any]
    classes: list[ClassEntry]
    rows: list[ManifestRow]
    location: str | None = None  # the object-store URL of an export read in place (``root``: its metadata cache)

    @property
    def multi_label(self) -> bool:
        return bool(self.info.get("multi_label"))

    def subsets(self) -> list[str]:
        return sorted({r.subset for r in self.rows})

    def subset(self, name: str) -> list[ManifestRow]:
        rows = [r for r in self.rows if r.subset == name]
        if not rows:
            raise ExportError(f"{self.root}: no subset {name!r}; subsets are {', '.join(self.subsets())}")
        return rows

    def class_index(self) -> dict[str, int]:
        return {c.key: c.index for c in self.classes}

    def image_path(self, row: ManifestRow) -> Path:
        """The file of a row; for container formats (webdataset, parquet) the container holding it."""
        return self.root / row.path.partition(CONTAINER_SEP)[0]

    def read_bytes(self, row: ManifestRow) -> bytes:
        """The image bytes of a row, from a plain file or from inside a tar/Parquet container."""
        from splits.containers import read_member

        if self.location:
            from splits.remote import read_remote_member

            return read_remote_member(self.location, row.path, row.sha256 or None)
        return read_member(self.root, row.path)

    def manifest_sha256(self) -> str:
        return sha256_file(self.root / MANIFEST)


def safe_relpath(path: str) -> str:
    """Reject absolute paths and '..' so nothing is ever written or read outside an export."""
    if "\\" not in path and all(part not in _ODD_PARTS for part in path.split("/")):
        return path  # already a normal relative POSIX path (the common case: no PurePosixPath per row)
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or "\\" in path:
        raise ExportError(f"unsafe path in export: {path!r}")
    return pure.as_posix()


def _csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)  # the csv module writes None as ""
    return buf.getvalue()


def manifest_text(rows: Sequence[ManifestRow]) -> str:
    meta_cols = sorted({k for r in rows for k in r.metadata})
    clash = set(meta_cols) & set(CORE_COLUMNS)
    if clash:
        raise ExportError(f"metadata columns {sorted(clash)} clash with the manifest's own columns; rename them")
    ordered = sorted(rows, key=lambda r: (r.subset, r.path))
    return _csv_text(list(CORE_COLUMNS) + meta_cols, (
        (safe_relpath(r.path), r.sha256, r.subset, r.label, "|".join(r.labels), r.source, r.source_id, r.url,
         r.owner, r.license, *[r.metadata.get(c, "") for c in meta_cols]) for r in ordered))


def classes_text(classes: Sequence[ClassEntry]) -> str:
    return _csv_text(["index", "key", "name", "logit_index"],
                     ([c.index, c.key, c.name, c.logit_index] for c in sorted(classes, key=lambda c: c.index)))


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8", newline="\n")
    os.replace(tmp, path)


def write_metadata(root: Path, info: Mapping[str, Any], classes: Sequence[ClassEntry],
                   rows: Sequence[ManifestRow], card: str, extra_files: Mapping[str, str] | None = None) -> None:
    """Write export.json, classes.csv, manifest.csv, README.md (and ``extra_files``), then SHA256SUMS.

    Image files must already be in place; their checksums are taken from the manifest rows where a
    row names the file (the writer hashed them while copying) and computed for every other file.
    """
    root = Path(root)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.subset] = counts.get(row.subset, 0) + 1
    full_info = {"format_version": FORMAT_VERSION, **info, "subsets": dict(sorted(counts.items())),
                 "n_rows": len(rows), "n_classes": len(classes)}
    write_text(root / META, json.dumps(full_info, indent=2, sort_keys=True, default=str) + "\n")
    write_text(root / CLASSES, classes_text(classes))
    write_text(root / MANIFEST, manifest_text(rows))
    write_text(root / "README.md", card)
    for name, text in (extra_files or {}).items():
        write_text(root / safe_relpath(name), text)
    write_sums(root, {r.path: r.sha256 for r in rows if r.sha256})


def write_sums(root: Path, known: Mapping[str, str] | None = None) -> None:
    """Write SHA256SUMS over every file under ``root`` (hashes in ``known`` are trusted)."""
    known = known or {}
    lines = []
    for rel in list_files(root):
        if rel == SUMS:
            continue
        digest = known.get(rel) or sha256_file(root / rel)
        lines.append(f"{digest}  {rel}\n")
    write_text(root / SUMS, "".join(lines))


def list_files(root: Path, skip_tmp: bool = True) -> list[str]:
    """Every file under ``root`` as a sorted relative POSIX path (``skip_tmp``: our temporary files skipped)."""
    out = []
    base = os.fspath(root).rstrip(os.sep) + os.sep
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        prefix = (folder + os.sep)[len(base):].replace(os.sep, "/")
        out.extend(prefix + name for name in files
                   if not (skip_tmp and name.startswith(".") and name.endswith(".tmp")))
    return sorted(out)


def read_sums(root: Path) -> dict[str, str]:
    path = Path(root) / SUMS
    if not path.exists():
        raise ExportError(f"{root} has no {SUMS}: it is not a frozen export (make one with: curate export)")
    sums = {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ExportError(f"{path}: byte {exc.start} is not UTF-8, so the checksum list is damaged; "
                          "restore the export from a copy or export again") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64:
            raise ExportError(f"{path}:{number}: malformed line {line!r}")
        sums[safe_relpath(rel)] = digest
    return sums


def read_export(root: Path) -> FrozenExport:
    """Load an export's description, classes and manifest (no checksum work; see ``verify``)."""
    root = Path(root)
    for name in (META, CLASSES, MANIFEST):
        if not (root / name).exists():
            raise ExportError(f"{root} has no {name}: not a curate export (make one with: curate export)")
    info = json.loads((root / META).read_text(encoding="utf-8"))
    if info.get("format_version", 0) > FORMAT_VERSION:
        raise ExportError(f"{root} uses export format {info['format_version']}; upgrade curate to read it")
    with open(root / CLASSES, newline="", encoding="utf-8") as fh:
        classes = [ClassEntry(int(r["index"]), r["key"], r["name"],
                              int(r["logit_index"]) if r.get("logit_index") else None) for r in csv.DictReader(fh)]
    with open(root / MANIFEST, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        meta_cols = [c for c in reader.fieldnames or [] if c not in CORE_COLUMNS]
        rows = [ManifestRow(path=safe_relpath(r["path"]), sha256=r["sha256"], subset=r["subset"],
                            labels=tuple(x for x in r["labels"].split("|") if x), source=r["source"],
                            source_id=r["source_id"], url=r["url"], owner=r["owner"], license=r["license"],
                            metadata={c: r[c] for c in meta_cols}) for r in reader]
    return FrozenExport(root, info, classes, rows)


@dataclass
class VerifyResult:
    missing: list[str] = field(default_factory=list)
    altered: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    inconsistent: list[str] = field(default_factory=list)
    checked: int = 0

    @property
    def ok(self) -> bool:
        return not (self.missing or self.altered or self.extra or self.inconsistent)


def verify(root: Path, rehash: bool = True) -> VerifyResult:
    """Recompute every checksum and check that the manifest agrees with SHA256SUMS."""
    root = Path(root)
    sums = read_sums(root)
    result = VerifyResult()
    present = set(list_files(root, skip_tmp=False)) - {SUMS}  # leftover temporary files count as extra
    for rel, digest in sums.items():
        path = root / rel
        result.checked += 1
        if rel not in present:
            result.missing.append(rel)
        elif rehash and sha256_file(path) != digest:
            result.altered.append(rel)
    result.extra = sorted(present - set(sums))
    try:
        export = read_export(root)
    except (ExportError, KeyError, ValueError) as exc:
        result.inconsistent.append(f"manifest unreadable: {exc}")
        return result
    members: dict[str, dict[str, str]] = {}
    for row in export.rows:
        container, sep, member = row.path.partition(CONTAINER_SEP)
        if container not in sums:
            result.inconsistent.append(f"{row.path}: in manifest.csv but not in {SUMS}")
        elif not sep and row.sha256 and sums[row.path] != row.sha256:
            result.inconsistent.append(f"{row.path}: manifest sha256 differs from {SUMS}")
        elif sep and rehash and container in present:
            if container not in members:
                members[container] = _container_digests(root, container)
            if members[container].get(member) != row.sha256:
                result.inconsistent.append(f"{row.path}: the image inside {container} differs from manifest.csv")
    return result


def _container_digests(root: Path, container: str) -> dict[str, str]:
    from splits.containers import container_digests

    try:
        return container_digests(root, container)
    except Exception as exc:  # a damaged tar/parquet is reported as data, not raised
        return {"": f"unreadable: {exc}"}
