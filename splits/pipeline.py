"""Orchestration used by the CLI and the demo: spec -> frame -> build -> save; split -> export."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np

from curation.errors import CurateError
from splits.build import BuildResult, build
from splits.spec import SplitSpec

log = logging.getLogger(__name__)


def load_frame(spec: SplitSpec, session=None, metadata: Path | None = None, images_root: Path | None = None):
    """(frame, classes, dropped) for a spec: from the database, or from a metadata/items table."""
    from splits.classes import resolve_classes
    from splits.frames import db_frame, read_table, table_frame

    if spec.source == "db":
        if session is None:
            raise CurateError(f"spec {spec.name!r} reads the database: run it inside a workspace")
        classes = resolve_classes(spec.class_set, session)
        frame, dropped = db_frame(session, spec, classes)
        return frame, classes, dropped
    table = metadata or (Path(spec.table) if spec.table else None)
    if table is None:
        raise CurateError(f"spec {spec.name!r} builds from a metadata table: pass --metadata TABLE "
                          "(CSV or Parquet) or set source.table in the spec")
    root = images_root or (Path(spec.images_root) if spec.images_root else None)
    labels = None
    if spec.class_set == "auto":
        labels = read_table(table)[spec.label_column or "category"]
    classes = resolve_classes(spec.class_set, session, labels)
    frame, dropped = table_frame(spec, Path(table), classes, root)
    if session is not None:
        from splits.screen import screen_table

        frame, refused, screening = screen_table(frame, session, spec.multi_label, spec.include_rejected)
        dropped = {**dropped, **refused}
        frame.attrs["screening"] = screening
    return frame, classes, dropped


def build_spec(spec: SplitSpec, session=None, metadata: Path | None = None,
               images_root: Path | None = None) -> tuple[BuildResult, list, list[str], dict[str, Any]]:
    """Build without saving: (result, classes, metadata columns, where the data came from)."""
    frame, classes, dropped = load_frame(spec, session, metadata, images_root)
    rng = np.random.default_rng(spec.seed)
    result = build(frame, spec, classes, rng, dropped)
    meta = list(frame.attrs.get("metadata_columns", []))
    if spec.source == "dfr":
        meta = sorted(set(meta) | set(spec.attributes) | {"item"})
    origin = {k: frame.attrs[k] for k in ("table", "images_root", "screening", "grouped_by") if k in frame.attrs}
    result.report.update({k: origin[k] for k in ("screening", "grouped_by") if k in origin})
    return result, classes, meta, origin


def build_and_save(session, spec: SplitSpec, workspace: Path | None, metadata: Path | None = None,
                   images_root: Path | None = None, name: str | None = None, replace: bool = False,
                   preset: str | None = None) -> tuple[int, BuildResult]:
    """Build a split and record it (never commits)."""
    from splits.persist import save_split

    if name:
        from splits.spec import NAME_RE

        if not NAME_RE.match(name):
            raise CurateError(f"--name {name!r}: use letters, digits, '_', '-' or '.'")
        spec = spec.renamed(name)
    result, classes, meta, origin = build_spec(spec, session, metadata, images_root)
    class_list = [[c.key, c.name, c.logit_index] for c in classes]
    split_id = save_split(session, spec, result.members, result.report, meta, workspace, replace,
                          {**origin, "preset": preset, "class_list": class_list})
    return split_id, result


def export_named(session, name: str, fmt: str, out: Path, workspace: Path | None, store_root: Path | None,
                 link: bool = False, advance: Callable[[int], None] | None = None, shard_size: int = 5000,
                 record_as: str | None = None):
    """Export a saved split and record the export (version = previous + 1) at ``out``, or at ``record_as``
    (the object-store URL that a locally staged export is uploaded to)."""
    from sqlalchemy import func, select

    from curation.db.models import Export
    from splits.export import export_split
    from splits.persist import load_split

    spec, members, meta, split = load_split(session, name, workspace)
    summary = adopt_export(session, Path(out), name, spec, fmt)
    if summary is None:
        classes = split_classes(session, spec, split.report)
        summary = export_split(spec, name, members, meta, classes, fmt, out, store_root=store_root,
                               session=session, link=link, advance=advance,
                               shard_size=shard_size, build_report=split.report)
    version = (session.scalar(select(func.max(Export.version)).where(Export.split_id == split.id)) or 0) + 1
    session.add(Export(split_id=split.id, version=version, format=fmt, path=record_as or str(summary.out),
                       manifest_sha256=summary.manifest_sha256, n_images=summary.n_rows))
    session.flush()
    return summary, version


def adopt_export(session, out: Path, name: str, spec: SplitSpec, fmt: str):
    """The summary of a complete export of this split already at ``out`` that the database lacks, else None.

    An export is renamed into place before its database row commits; a kill between the two leaves a
    finished, verified folder that no row names. The rerun adopts it (after re-hashing every file)
    instead of refusing the folder, so disk and database agree whichever moment the kill came.
    """
    from sqlalchemy import select

    from curation.db.models import Export
    from splits.export import ExportSummary
    from splits.frozen import CONTAINER_SEP, ExportError, read_export, verify

    out = Path(out).resolve()
    if not (out / "export.json").is_file() or session.scalar(select(Export.id).where(Export.path == str(out))):
        return None
    try:
        export = read_export(out)
        result = verify(out)
    except (ExportError, OSError, ValueError, KeyError):
        return None
    info = export.info
    if not (result.ok and info.get("split") == name and info.get("spec_sha256") == spec.sha256()
            and info.get("format") == fmt):
        return None
    log.info("adopting the complete export of %s already at %s", name, out)
    n_files = len({r.path.split(CONTAINER_SEP)[0] for r in export.rows})
    return ExportSummary(out, len(export.rows), n_files, dict(info.get("refused", {})), export.manifest_sha256())


def split_classes(session, spec: SplitSpec, report: dict[str, Any]) -> list:
    """The class list frozen at build time (so an export's class index never drifts)."""
    from splits.classes import resolve_classes
    from splits.frozen import ClassEntry

    if report.get("class_list"):
        return [ClassEntry(i, k, n, li) for i, (k, n, li) in enumerate(report["class_list"])]
    return resolve_classes(spec.class_set, session)
