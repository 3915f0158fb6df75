"""Loading the rows a split is built from into one canonical pandas frame.

Whatever the source (a metadata table, DeepFashion2 items, the database), the builder sees one row
per (image, item) with: ``key`` (the image's stable identity, the sort key), ``cls`` (class index),
``group`` (the disjointness key), the spec's attributes as strings, provenance columns, ``src``
(where the bytes are: a file path or a store digest), and optionally ``phash``/``phash_mirror``.
Rows that cannot take part are dropped here and counted by reason.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

from curation.errors import CurateError
from splits.frozen import ClassEntry
from splits.spec import DISJOINT_NONE, SplitSpec

log = logging.getLogger(__name__)
PROVENANCE = ("source", "source_id", "url", "owner", "owner_name", "license")
# columns a metadata table may carry with curate's meaning (provenance, hashes); other RESERVED names are refused
TABLE_INPUTS = {"sha256", "phash", "phash_mirror", "item", *PROVENANCE}
RESERVED = {"key", "cls", "group", "src", "sha256", "ext", "image_id", "phash", "phash_mirror", "item",
            "path", "subset", "label", "labels", "copies", *PROVENANCE}
FORMAT_EXT = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif"}


def read_table(path: Path):
    """A CSV or Parquet metadata table with every column as text (so 2019 and '2019' compare equal)."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise CurateError(f"metadata table {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, sep="\t" if suffix == ".tsv" else ",",
                            engine="pyarrow" if suffix == ".csv" else "c")
    elif suffix in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
        for col in frame.columns:
            if col not in ("phash", "phash_mirror"):
                frame[col] = frame[col].astype(str).where(frame[col].notna(), "")
    else:
        raise CurateError(f"{path}: metadata tables must be .csv, .tsv or .parquet")
    return frame


def _require(frame, columns: list[str], origin: str, hidden: frozenset[str] = frozenset()) -> None:
    """Refuse spec columns the frame lacks; ``hidden`` columns are internal and neither usable nor listed."""
    missing = [c for c in columns if c not in frame.columns or c in hidden]
    if missing:
        usable = [str(c) for c in frame.columns if c not in hidden]
        raise CurateError(f"{origin} lacks column(s) {', '.join(missing)} that the spec uses; "
                          f"its columns: {', '.join(usable)}")


def unsafe_paths(keys):
    """Vectorised: True where a table's image path is empty, absolute or climbs out with '..'."""
    text = keys.astype(str)
    return ((text == "") | text.str.match(r"^([/\\]|[A-Za-z]:)")
            | text.str.contains(r"(?:^|[/\\])\.\.(?:[/\\]|$)", regex=True)).to_numpy()


def table_frame(spec: SplitSpec, table: Path, classes: list[ClassEntry], images_root: Path | None = None):
    """The canonical frame of a metadata table (SVSF, generic) or a DFR items table."""
    import numpy as np

    from splits.classes import match_labels

    raw = read_table(table)
    label_col = "category" if spec.source == "dfr" else spec.label_column
    group_col = _group_column(spec, raw.columns)
    _refuse_clashes(raw.columns, {spec.image_column, label_col, group_col}, spec.attributes, table)
    needed = [spec.image_column, label_col, *spec.attributes] + ([group_col] if group_col else [])
    _require(raw, needed, f"metadata table {table}")
    dropped: Counter[str] = Counter()
    frame = raw.rename(columns={spec.image_column: "key"})
    unsafe = unsafe_paths(frame["key"])
    if unsafe.any():
        dropped["unsafe image path (absolute or '..')"] += int(unsafe.sum())
        frame = frame[~unsafe]
    frame = frame.assign(cls=match_labels(frame[label_col].to_numpy(), classes))
    unknown = frame["cls"] < 0
    if unknown.any():
        dropped[f"label names no class of {spec.class_set}"] += int(unknown.sum())
        frame = frame[~unknown]
    if spec.source != "dfr" and frame["key"].duplicated().any():
        dupes = frame.loc[frame["key"].duplicated(), "key"].head(3).tolist()
        raise CurateError(f"metadata table {table}: image(s) listed twice, e.g. {dupes}; one row per image")
    root = Path(images_root).resolve() if images_root else Path(table).resolve().parent
    ext = frame["key"].str.extract(r"\.([A-Za-z0-9]{1,8})$", expand=False).str.lower().fillna("jpg")
    frame = frame.assign(group=frame[group_col].astype(str) if group_col else frame["key"],
                         src=str(root) + "/" + frame["key"], sha256=frame.get("sha256", ""), ext=ext)
    for col in PROVENANCE:
        if col not in frame.columns:
            frame[col] = "table" if col == "source" else (frame["key"] if col == "source_id" else "")
    for col in ("phash", "phash_mirror"):
        if col in frame.columns:
            frame[col] = _to_int64(frame[col])
    frame = frame.sort_values(["key", "item"] if "item" in frame.columns else ["key"], kind="stable")
    meta = [c for c in raw.columns if c not in (spec.image_column, label_col, group_col) and c not in RESERVED
            and c != "category_id"]
    frame.attrs.update(metadata_columns=[c for c in meta if c in frame.columns] + ([group_col] if group_col else []),
                       images_root=str(root), table=str(Path(table).resolve()),
                       grouped_by=_grouped_by(spec, group_col))
    return frame.reset_index(drop=True), dict(dropped)


def _group_column(spec: SplitSpec, columns) -> str | None:
    """The disjointness column: ``groups.disjoint_by``, or ``groups.fallback`` when the table lacks it."""
    group_col = spec.disjoint_by
    if group_col not in columns and spec.disjoint_fallback is not None:
        log.info("the table has no %r column: keeping %s apart instead", group_col, spec.disjoint_fallback)
        group_col = spec.disjoint_fallback
    return None if group_col in (*DISJOINT_NONE, "image") else group_col


def _grouped_by(spec: SplitSpec, group_col: str | None) -> str:
    return group_col or ("none" if spec.disjoint_by in DISJOINT_NONE else "image")


def _refuse_clashes(columns, used: set, attributes: list[str], table: Path) -> None:
    """A user column named like one curate writes itself would overwrite it or vanish from the export.

    Provenance columns (source, url, owner, license ...) are read as provenance; they cannot also be
    split attributes, which are metadata columns of the manifest."""
    as_attr = [a for a in attributes if a in RESERVED]
    if as_attr:
        raise CurateError(f"metadata table {table}: the spec splits on {', '.join(as_attr)}, a column curate "
                          f"keeps as provenance or structure; copy it to a column of another name "
                          f"(e.g. 'meta_{as_attr[0]}') and split on that")
    clash = sorted(str(c) for c in columns if c in RESERVED and c not in TABLE_INPUTS and c not in used)
    if clash:
        raise CurateError(f"metadata table {table}: column(s) {', '.join(clash)} clash with the export's own "
                          f"columns ({', '.join(sorted(RESERVED - TABLE_INPUTS))}); rename them, "
                          f"e.g. {clash[0]!r} -> 'meta_{clash[0]}'")


def _to_int64(series):
    import numpy as np
    import pandas as pd

    values = pd.to_numeric(series.replace("", np.nan), errors="coerce")
    return values.astype("Int64")


def db_frame(session, spec: SplitSpec, classes: list[ClassEntry]):
    """The canonical frame of the images in the database that carry a label of the spec's class set."""
    import pandas as pd

    rows = _db_rows(session, spec)
    dropped: Counter[str] = Counter()
    if not rows:
        raise CurateError(_no_labels_message(session, spec))
    frame = pd.DataFrame(rows)
    # one provenance record per image, chosen the same way on every backend
    frame = frame.sort_values(["sha256", "source", "source_id", "review_id"], ascending=[True, True, True, False],
                              kind="stable").drop_duplicates("sha256")
    index = {c.key: c.index for c in classes}
    frame["cls"] = frame["class_key"].map(index).fillna(-1).astype("int64")
    from splits.refusals import refusal_reasons

    reasons = refusal_reasons(session, frame["image_id"].tolist(), dict(zip(frame["image_id"], frame["license"])),
                              spec.licenses, spec.multi_label)
    refused = frame["image_id"].map(lambda i: reasons.get(i, ""))
    if spec.include_rejected:
        refused = refused.where(refused.str.startswith("license:"), "")
    for reason, count in refused[refused != ""].map(lambda r: r.split(":")[0]).value_counts().items():
        dropped[f"refused ({reason})"] += int(count)
    frame = frame[refused == ""]
    meta = sorted({k for m in frame["metadata"] for k in (m or {}) if k not in RESERVED})
    for key in meta:
        frame[key] = [("" if (m or {}).get(key) is None else str((m or {}).get(key))) for m in frame["metadata"]]
    renditions = _renditions(session, frame["image_id"].tolist())
    if renditions:  # the query's rendition; an imported image keeps the one its import gave it
        found = frame["image_id"].map(renditions).fillna("")
        given = frame["rendition"] if "rendition" in frame.columns else ""
        frame["rendition"] = found.where(found != "", given)
        meta = sorted(set(meta) | {"rendition"})
    frame = _portable_provenance(frame)
    internal = frozenset({"metadata", "class_key", "format", "review_id"})  # dropped below
    _require(frame, spec.attributes, "the database images' metadata", internal)
    group_col = _group_column(spec, frame.columns)
    if group_col:
        _require(frame, [group_col], "the database images' metadata", internal)
    frame = frame.assign(key=frame["sha256"], group=frame[group_col] if group_col else frame["sha256"],
                         src=frame["sha256"],
                         ext=frame["format"].map(FORMAT_EXT).fillna("bin"))
    for col in ("phash", "phash_mirror"):
        frame[col] = frame[col].astype("Int64")
    frame = frame.drop(columns=["metadata", "class_key", "format", "review_id"]).sort_values("key", kind="stable")
    frame.attrs.update(metadata_columns=meta, grouped_by=_grouped_by(spec, group_col))
    return frame.reset_index(drop=True), dict(dropped)


def portable_provenance(source: str, source_id: str, url: str, metadata: dict | None) -> tuple[str, str, str]:
    """(source, source_id, url) safe to publish: a folder import's id becomes its path relative to the
    import root and its ``file://`` URL is dropped, so an export never carries the curator's file system."""
    if source == "folder" or url.startswith("file:"):
        return source, str((metadata or {}).get("relative_path", "")), ""
    return source, source_id, url


def original_name(source: str, source_id: str, metadata: dict | None) -> str:
    """The file name an image had in the folder it was imported from, or '' (other sources)."""
    rel = str((metadata or {}).get("relative_path", "") or (source_id if source == "folder" else ""))
    return rel.replace("\\", "/").rsplit("/", 1)[-1]


def _no_labels_message(session, spec: SplitSpec) -> str:
    """Why a DB split found no labelled image, and the one thing to do about it."""
    from sqlalchemy import func, select

    from curation.db.models import ClassSet, ImageClass, SourceRecord

    hinted = session.scalar(select(func.count(func.distinct(SourceRecord.image_id)))
                            .join(ImageClass, ImageClass.id == SourceRecord.class_id)
                            .join(ClassSet, ClassSet.id == ImageClass.class_set_id)
                            .where(ClassSet.name == spec.class_set, SourceRecord.image_id.is_not(None))) or 0
    if spec.labels_from == "reviewed" and hinted:
        return (f"no image of class set {spec.class_set!r} has a review yet, but {hinted} carry the label their "
                f"import gave them (folder names): build from those with  curate splits build {spec.name} "
                "--labels-from source  (or set labels.from = \"source\" in your spec), or review them first")
    return (f"no image in the database carries a {spec.labels_from} label of class set {spec.class_set!r}; "
            f"import labelled folders first:  curate import DIR --class-set {spec.class_set} --label-from-folder")


def _portable_provenance(frame):
    import pandas as pd

    if len(frame):
        fixed = [portable_provenance(s, i, u, m) for s, i, u, m in zip(
            frame["source"], frame["source_id"], frame["url"], frame["metadata"])]
        frame[["source", "source_id", "url"]] = pd.DataFrame(fixed, index=frame.index)
    return frame


def _renditions(session, image_ids: list[int]) -> dict[int, str]:
    """Each image's rendition: the keyword of the first query (by id) with a rendition that found it, or
    'photo' when only queries without one did (a bare class query matches every style). Images no query
    found (imported folders) get none."""
    from sqlalchemy import select

    from curation.db.models import Query, QuerySource, SourceRecord

    out: dict[int, str] = {}
    wanted = set(image_ids)
    rows = session.execute(select(SourceRecord.image_id, Query.rendition)
                           .join(QuerySource, QuerySource.source_record_id == SourceRecord.id)
                           .join(Query, Query.id == QuerySource.query_id)
                           .where(SourceRecord.image_id.is_not(None)).order_by(Query.id))
    for image_id, rendition in rows:
        if image_id in wanted and (out.get(image_id) in (None, "photo")):
            out[image_id] = rendition or "photo"
    return out


def _db_rows(session, spec: SplitSpec) -> list[dict[str, Any]]:
    from sqlalchemy import literal, select

    from curation.db.models import ClassSet, Image, ImageClass, Review, SourceRecord

    label_class = ImageClass.key.label("class_key")
    cols = [Image.id.label("image_id"), Image.sha256, Image.format, Image.phash, Image.phash_mirror,
            SourceRecord.source, SourceRecord.source_id, SourceRecord.url, SourceRecord.owner,
            SourceRecord.owner_name, SourceRecord.license, SourceRecord.metadata_.label("metadata"), label_class]
    query = select(*cols).join(SourceRecord, SourceRecord.image_id == Image.id)
    if spec.labels_from == "reviewed":
        latest = (select(Review.image_id, Review.class_id, Review.id)
                  .where(Review.current.is_(True), Review.decision.in_(("accept", "relabel"))).subquery())
        query = query.add_columns(latest.c.id.label("review_id")).join(latest, latest.c.image_id == Image.id) \
            .join(ImageClass, ImageClass.id == latest.c.class_id)
    else:
        query = query.add_columns(literal(0).label("review_id")).join(ImageClass, ImageClass.id == SourceRecord.class_id)
    query = query.join(ClassSet, ClassSet.id == ImageClass.class_set_id).where(ClassSet.name == spec.class_set)
    out = []
    for row in session.execute(query):
        item = dict(row._mapping)
        for col in ("source", "source_id", "url", "owner", "owner_name", "license"):
            item[col] = item[col] or ""
        out.append(item)
    return out
