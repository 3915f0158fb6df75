"""Duplicate groups as data a person or a script can take out of the tool.

One row per (group, member, file): the group's id and kind, the member's role (``keeper``,
``duplicate``, or ``identical-copy`` for a file whose bytes another file already had and that the
import merged), its sha256, Hamming distance and mirroring, whether the filters kept or rejected it,
and where it came from (source, path or URL, path relative to the import root). Images that were
only merged at import (no near or mirrored duplicate) get a group of kind ``identical`` of their own.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from curation.db.models import DuplicateGroup, FilterDecision, Image, SourceRecord

COLUMNS = ("group", "kind", "role", "sha256", "distance", "mirrored", "decision", "source", "path_or_url",
           "relative_path")


@dataclass(frozen=True)
class GroupRow:
    group: str
    kind: str
    role: str
    sha256: str
    distance: int | None
    mirrored: bool
    decision: str  # kept | rejected
    source: str
    path_or_url: str
    relative_path: str


def _origin(record: SourceRecord) -> tuple[str, str]:
    """(path or URL, relative path): a folder import's file, otherwise the source's URL or id."""
    rel = str((record.metadata_ or {}).get("relative_path", ""))
    if record.source == "folder":
        return record.source_id, rel
    return record.url or record.source_id, rel


def _copy_rows(group: str, kind: str, decision: str, image: Image) -> list[GroupRow]:
    """Every file or record beyond an image's first: identical bytes merged into one candidate."""
    rows = []
    records = sorted(image.records, key=lambda r: r.id)
    for record in records[1:]:
        where, rel = _origin(record)
        rows.append(GroupRow(group, kind, "identical-copy", image.sha256, 0, False, decision, record.source,
                             where, rel))
    for record in records:
        meta = record.metadata_ or {}
        root = record.source_id[: -len(meta.get("relative_path", ""))] if record.source == "folder" else ""
        for rel in meta.get("copies", []):
            rows.append(GroupRow(group, kind, "identical-copy", image.sha256, 0, False, decision, record.source,
                                 root + rel if root else rel, rel))
    return rows


def _rejected(session: Session) -> set[int]:
    return set(session.scalars(select(FilterDecision.image_id).where(
        FilterDecision.current.is_(True), FilterDecision.verdict == "reject")))


def _member_rows(group_id: str, kind: str, role: str, image: Image, distance: int | None, mirrored: bool,
                 rejected: set[int]) -> list[GroupRow]:
    decision = "rejected" if image.id in rejected else "kept"
    first = min(image.records, key=lambda r: r.id) if image.records else None
    where, rel = _origin(first) if first else ("", "")
    head = GroupRow(group_id, kind, role, image.sha256, distance, mirrored, decision,
                    first.source if first else "", where, rel)
    return [head, *_copy_rows(group_id, kind, decision, image)]


def group_rows(session: Session) -> list[GroupRow]:
    """Every current duplicate group (largest first), then every image with merged identical copies."""
    groups = session.scalars(select(DuplicateGroup).where(DuplicateGroup.current.is_(True))
                             .options(selectinload(DuplicateGroup.members)).order_by(DuplicateGroup.id)).all()
    groups = sorted(groups, key=lambda g: (-len(g.members), g.id))
    ids = {m.image_id for g in groups for m in g.members}
    images = {i.id: i for i in session.scalars(select(Image).where(Image.id.in_(ids))
                                               .options(selectinload(Image.records)))} if ids else {}
    rejected = _rejected(session)
    rows: list[GroupRow] = []
    for group in groups:
        for member in sorted(group.members, key=lambda m: (m.image_id != group.keeper_image_id, m.distance or 0,
                                                           m.image_id)):
            role = "keeper" if member.image_id == group.keeper_image_id else "duplicate"
            rows += _member_rows(str(group.id), group.kind, role, images[member.image_id], member.distance,
                                 bool(member.mirrored), rejected)
    rows += _identical_only(session, ids, rejected)
    return rows


def _identical_only(session: Session, grouped: set[int], rejected: set[int]) -> list[GroupRow]:
    """Images outside every duplicate group that still have identical copies merged into them."""
    from sqlalchemy import func

    shared = set(session.scalars(select(SourceRecord.image_id).where(SourceRecord.image_id.is_not(None))
                                 .group_by(SourceRecord.image_id).having(func.count() > 1)))
    shared |= {i for i, meta in session.execute(select(SourceRecord.image_id, SourceRecord.metadata_).where(
        SourceRecord.source == "folder", SourceRecord.image_id.is_not(None))) if (meta or {}).get("copies")}
    wanted = sorted(shared - grouped)
    rows: list[GroupRow] = []
    for image in session.scalars(select(Image).where(Image.id.in_(wanted)).order_by(Image.id)
                                 .options(selectinload(Image.records))) if wanted else []:
        rows += _member_rows(f"identical-{image.id}", "identical", "keeper", image, 0, False, rejected)
    return rows


def write_groups(rows: list[GroupRow], out: Path) -> Path:
    """``out`` as CSV (``.csv``) or JSON (``.json``: a list of groups, each with its members)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".json":
        grouped: dict[str, dict] = {}
        for row in rows:
            entry = grouped.setdefault(row.group, {"group": row.group, "kind": row.kind, "members": []})
            entry["members"].append({k: v for k, v in asdict(row).items() if k not in ("group", "kind")})
        out.write_text(json.dumps(list(grouped.values()), indent=1) + "\n", encoding="utf-8")
        return out
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows([getattr(r, c) if getattr(r, c) is not None else "" for c in COLUMNS] for r in rows)
    out.write_text(buf.getvalue(), encoding="utf-8")
    return out
