"""Saving and loading built splits.

Every split gets a row in ``splits`` (spec, seed, report). Members of a database split go to
``split_members``; members of a metadata-table split (whose images need not be in the database) go
to ``<workspace>/splits/<name>.members.parquet``, whose sha256 the ``splits`` row records.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from curation.errors import CurateError
from splits.spec import SplitSpec, parse_spec

MEMBER_CORE = ("subset", "key", "labels", "src", "sha256", "ext", "source", "source_id", "url", "owner",
               "owner_name", "license")


def members_path(workspace: Path, name: str) -> Path:
    return Path(workspace) / "splits" / f"{name}.members.parquet"


def save_split(session, spec: SplitSpec, members, report: dict[str, Any], metadata_columns: list[str],
               workspace: Path | None, replace: bool = False, extra: dict[str, Any] | None = None) -> int:
    """Record the split (and its members); returns the ``splits`` row id. Never commits."""
    from sqlalchemy import delete, func, insert, select

    from curation.db.models import Export, Split, SplitMember

    existing = session.scalar(select(Split).where(Split.name == spec.name))
    if existing is not None:
        n_exports = session.scalar(select(func.count()).select_from(Export).where(Export.split_id == existing.id))
        if not replace:
            raise CurateError(f"a split named {spec.name!r} exists; pass --replace to rebuild it, "
                              "or give the spec another name")
        if n_exports:
            raise CurateError(f"split {spec.name!r} has {n_exports} export(s) and is frozen; build the changed "
                              "spec under a new name (a change means a new version)")
        session.execute(delete(SplitMember).where(SplitMember.split_id == existing.id))
        session.delete(existing)
        session.flush()
    full_report = {**report, "kind": spec.source, "metadata_columns": list(metadata_columns), **(extra or {})}
    if spec.source != "db":
        if workspace is None:
            raise CurateError("a metadata-table split is saved in a workspace: run inside one or pass --workspace")
        path = members_path(workspace, spec.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        keep = [c for c in (*MEMBER_CORE, *metadata_columns) if c in members.columns]
        members[keep].astype(str).to_parquet(path, index=False)
        full_report["members_file"] = path.relative_to(workspace).as_posix()
        full_report["members_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    split = Split(name=spec.name, preset=(extra or {}).get("preset"), spec=dict(spec.raw),
                  spec_sha256=spec.sha256(), seed=spec.seed, report=full_report)
    session.add(split)
    session.flush()
    if spec.source == "db":
        meta = [c for c in metadata_columns if c in members.columns]
        rows = [{"split_id": split.id, "subset": subset, "image_id": int(image_id), "labels": labels.split("|"),
                 "metadata_": {c: str(v) for c, v in zip(meta, values)}}
                for subset, image_id, labels, *values in members[["subset", "image_id", "labels", *meta]]
                .itertuples(index=False, name=None)]
        for start in range(0, len(rows), 5000):
            session.execute(insert(SplitMember), rows[start:start + 5000])
    return split.id


def get_split(session, name: str):
    from sqlalchemy import select

    from curation.db.models import Split

    split = session.scalar(select(Split).where(Split.name == name))
    if split is None:
        names = session.scalars(select(Split.name).order_by(Split.name)).all()
        raise CurateError(f"no split named {name!r}; splits: {', '.join(names) or 'none yet'} "
                          "(build one with: curate splits build SPEC)")
    return split


def split_rows(session) -> list[tuple[str, str, int, int, int, int]]:
    """(name, kind, seed, subsets, memberships, exports) per built split, by name; one query."""
    from sqlalchemy import func, select

    from curation.db.models import Export, Split

    n_exports = select(Export.split_id, func.count().label("n")).group_by(Export.split_id).subquery()
    stmt = (select(Split.name, Split.seed, Split.report, func.coalesce(n_exports.c.n, 0))
            .outerjoin(n_exports, n_exports.c.split_id == Split.id).order_by(Split.name))
    rows = []
    for name, seed, report, exports in session.execute(stmt):
        sizes = report.get("sizes", {})
        rows.append((name, report.get("kind", "db"), seed, len(sizes), sum(sizes.values()), int(exports)))
    return rows


def load_split(session, name: str, workspace: Path | None) -> tuple[SplitSpec, Any, list[str], Any]:
    """(spec, members frame, metadata columns, the ``splits`` row) of a built split."""
    split = get_split(session, name)
    spec = parse_spec(split.spec, f"split {name}")
    spec = _renamed(spec, name)
    meta = list(split.report.get("metadata_columns", []))
    if split.report.get("kind", "db") == "db":
        members = _db_members(session, split.id, meta)
    else:
        members = _file_members(split, workspace)
    return spec, members, meta, split


def _renamed(spec: SplitSpec, name: str) -> SplitSpec:
    return spec if spec.name == name else spec.renamed(name)


def _file_members(split, workspace: Path | None):
    import pandas as pd

    if workspace is None:
        raise CurateError("this split's members live in a workspace; run inside it or pass --workspace")
    path = Path(workspace) / split.report["members_file"]
    if not path.exists():
        raise CurateError(f"the members file {path} of split {split.name!r} is missing; rebuild the split")
    if hashlib.sha256(path.read_bytes()).hexdigest() != split.report.get("members_sha256"):
        raise CurateError(f"the members file {path} of split {split.name!r} was altered; rebuild the split")
    return pd.read_parquet(path)


def _db_members(session, split_id: int, meta: list[str]):
    import pandas as pd
    from sqlalchemy import select

    from curation.db.models import Image, SourceRecord, SplitMember
    from splits.frames import FORMAT_EXT, original_name, portable_provenance

    query = (select(SplitMember.subset, SplitMember.labels, SplitMember.metadata_, Image.id, Image.sha256,
                    Image.format, SourceRecord.metadata_, SourceRecord.source, SourceRecord.source_id,
                    SourceRecord.url, SourceRecord.owner, SourceRecord.owner_name, SourceRecord.license)
             .join(Image, Image.id == SplitMember.image_id).join(SourceRecord, SourceRecord.image_id == Image.id)
             .where(SplitMember.split_id == split_id))
    rows = []
    for subset, labels, metadata, image_id, sha, fmt, record_meta, *prov in session.execute(query):
        prov = list(portable_provenance(*(p or "" for p in prov[:3]), record_meta)) + list(prov[3:])
        rows.append({"subset": subset, "key": sha, "labels": "|".join(labels), "src": sha, "sha256": sha,
                     "ext": FORMAT_EXT.get(fmt or "", "bin"), "image_id": image_id,
                     "original_name": original_name(prov[0], prov[1], record_meta),
                     **dict(zip(("source", "source_id", "url", "owner", "owner_name", "license"),
                                (p or "" for p in prov))),
                     **{c: (metadata or {}).get(c, "") for c in meta}})
    columns = [*MEMBER_CORE, "image_id", "original_name", *meta]
    frame = pd.DataFrame(rows, columns=columns)
    frame = frame.sort_values(["subset", "key", "source", "source_id"], kind="stable")
    return frame.drop_duplicates(["subset", "key"]).reset_index(drop=True)
