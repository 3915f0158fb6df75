"""``curate export``: a built split -> a frozen, self-describing export folder.

Formats: ``imagefolder`` (files under ``<subset>/<class>/``, a Hugging Face ``metadata.jsonl`` per
folder), ``csv`` (files once under ``images/`` and one CSV per subset), ``webdataset`` (tar shards per
subset) and ``parquet`` (one Parquet file per subset). Every format also gets the frozen-export
metadata of :mod:`splits.frozen`. Images refused by license, filter or review, or whose source is
missing or altered, are left out and counted by reason. The output is written to a temporary folder
and renamed into place, and an existing export is never overwritten.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Callable, Sequence

from curation.errors import CurateError
from curation.objstore import is_url
from splits.card import render_card
from splits.croissant import croissant_text
from splits.rai import workspace_facts
from splits.containers import SEP, wds_key, write_parquet, write_tar
from splits.copying import CopyJob, copy_all, read_all
from splits.frozen import ClassEntry, ManifestRow, write_metadata
from splits.hub import yaml_header
from splits.loading import label_map_section, label_map_text
from splits.refusals import license_reason, refusal_reasons
from splits.remote import fetch_objects
from splits.spec import SplitSpec

log = logging.getLogger(__name__)
FORMATS = ("imagefolder", "webdataset", "parquet", "csv")
UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
PROV = ("source", "source_id", "url", "owner", "license")
MIN_SHARDS = 8  # webdataset shards per subset (fewer only with fewer images): one per DataLoader worker


def shard_bounds(n: int, shard_size: int, min_shards: int) -> list[tuple[int, int]]:
    """(start, stop) of each shard: at most ``shard_size`` images, and at least ``min(n, min_shards)``
    shards so that a DataLoader with that many workers gives each worker a shard."""
    count = max(-(-n // max(shard_size, 1)), min(n, min_shards))
    return [(i * n // count, (i + 1) * n // count) for i in range(count)]


@dataclass
class ExportSummary:
    out: Path
    n_rows: int
    n_files: int
    refused: dict[str, int] = field(default_factory=dict)
    manifest_sha256: str = ""


def tool_version() -> str:
    try:
        return importlib_metadata.version("curate")
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


def _file_names(keys: Sequence[str], exts: Sequence[str], by_digest: bool,
                originals: Sequence[str] | None = None) -> dict[str, str]:
    """key -> a safe, unique file name: for store images the sanitised original name where one is known
    (as the ImageNet-R release keeps them; the sha256 is in the manifest), else ``<sha256>.<ext>``;
    for table images the sanitised path."""
    names: dict[str, str] = {}
    used: set[str] = set()
    originals = originals if originals is not None else [""] * len(keys)
    for key, ext, original in sorted(set(zip(keys, exts, originals))):
        if key in names:
            continue
        if by_digest and not original:
            name = f"{key}.{ext}"
        elif by_digest:
            name = _unique(_sanitise(original.rsplit(".", 1)[0]), f".{ext}", used)
        else:
            name = _unique(_sanitise(key), "", used)
        used.add(name)
        names[key] = name
    return names


def _sanitise(text: str) -> str:
    return UNSAFE_CHARS.sub("_", text.replace("/", "__").replace("\\", "__")).strip("._")[-150:] or "image"


def _unique(stem: str, suffix: str, used: set[str]) -> str:
    """``stem``, or ``stem-2``, ``stem-3`` ... (then ``suffix``) so that no two files share a name."""
    name, number = stem + suffix, 1
    while name in used:
        number += 1
        name = f"{stem}-{number}{suffix}"
    return name


def _refuse(members, spec: SplitSpec, session) -> tuple[Any, Counter[str], Counter[str]]:
    """(kept members, refused counts by reason, counts of rejected images kept by ``include_rejected``)."""
    refused: Counter[str] = Counter()
    included: Counter[str] = Counter()
    if session is not None and "image_id" in members.columns and len(members):
        ids = members["image_id"].astype(int)
        reasons = refusal_reasons(session, ids.tolist(), dict(zip(ids, members["license"])), spec.licenses,
                                  spec.multi_label)
        why = ids.map(lambda i: reasons.get(i, ""))
    else:
        reasons = {lic: license_reason(lic, spec.licenses) for lic in members["license"].unique()}
        why = members["license"].map(reasons)
        if session is not None and "sha256" in members.columns:
            why = why.where(why != "", _table_refusals(session, members["sha256"], spec))
            copy = members["sha256"].duplicated() & ~members["key"].duplicated() & (members["sha256"] != "")
            why = why.where(~copy | (why != ""), "filter: identical copy (the same bytes as another row)")
    if spec.include_rejected:
        override = why.str.startswith(("filter:", "review:"))
        for reason, count in why[override].value_counts().items():
            included[reason] += int(count)
        why = why.where(~override, "")
    for reason, count in why[why != ""].value_counts().items():
        refused[reason] += int(count)
    return members[why == ""], refused, included


def _table_refusals(session, digests, spec: SplitSpec):
    """Filter and review refusals of table images that the database knows (matched by the table's sha256)."""
    from sqlalchemy import select

    from curation.db.models import Image

    wanted = sorted({d for d in digests if isinstance(d, str) and len(d) == 64})
    ids: dict[str, int] = {}
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start:start + 5000]
        ids.update((d, i) for d, i in session.execute(select(Image.sha256, Image.id).where(Image.sha256.in_(chunk))))
    reasons = refusal_reasons(session, ids.values(), {}, (), spec.multi_label) if ids else {}
    return digests.map(lambda d: reasons.get(ids.get(d, -1), ""))


def _folder(spec: SplitSpec, subset: str, label: str) -> str:
    if spec.layout == "class":
        return f"{label}/"
    if spec.layout == "subset":
        return f"{subset}/"
    return f"{subset}/{label}/"


def _scope(spec: SplitSpec, fmt: str, subset: str, label: str) -> str:
    """Where file names must differ: one folder (imagefolder), the export (csv), one subset (containers)."""
    if fmt == "imagefolder":
        return _folder(spec, subset, label)
    return "images/" if fmt == "csv" else subset


def _scoped_names(ordered, spec: SplitSpec, fmt: str) -> dict[tuple[str, str], str]:
    """(scope, key) -> file name, unique within each scope (so ``goldfish/1.jpg`` and ``shark/1.jpg`` both keep
    their names in their class folders)."""
    first = [tuple(x for x in str(v).split("|") if x) for v in ordered["labels"].tolist()]
    scopes = [_scope(spec, fmt, s, ls[0] if len(ls) == 1 else "") for s, ls in zip(ordered["subset"].tolist(), first)]
    originals = (ordered["original_name"].fillna("").astype(str).tolist() if "original_name" in ordered
                 else [""] * len(ordered))
    grouped: dict[str, list[tuple[str, str, str]]] = {}
    for scope, key, ext, original in zip(scopes, ordered["key"].tolist(), ordered["ext"].tolist(), originals):
        grouped.setdefault(scope, []).append((key, ext, original))
    out: dict[tuple[str, str], str] = {}
    for scope, items in grouped.items():
        keys, exts, names = zip(*items)
        out.update({(scope, k): v for k, v in _file_names(keys, exts, spec.source == "db", names).items()})
    return out


def plan_rows(members, spec: SplitSpec, fmt: str) -> list[dict[str, Any]]:
    """One dict per member: its export path (or container#member) and file name, in manifest order."""
    ordered = members.sort_values(["subset", "key"], kind="stable")
    names = _scoped_names(ordered, spec, fmt)
    columns = list(ordered.columns)
    split: dict[Any, tuple[str, ...]] = {}  # labels text -> keys, parsed once per distinct value
    rows = []
    for values in zip(*(ordered[c].tolist() for c in columns)):  # columns to lists: no per-cell boxing
        rec = dict(zip(columns, values))
        labels = split.get(rec["labels"])
        if labels is None:
            labels = split[rec["labels"]] = tuple(x for x in str(rec["labels"]).split("|") if x)
        label = labels[0] if len(labels) == 1 else ""
        name = names[(_scope(spec, fmt, rec["subset"], label), rec["key"])]
        if fmt == "imagefolder":
            path = _folder(spec, rec["subset"], label) + name
        elif fmt == "csv":
            path = f"images/{name}"
        elif fmt == "parquet":
            path = f"{rec['subset']}.parquet{SEP}{name}"
        else:
            path = f"{rec['subset']}/{wds_key(name)}.{rec['ext']}"
        rec.update(labels_t=labels, file_name=name, path=path)
        rows.append(rec)
    return rows


def export_split(spec: SplitSpec, split_name: str, members, meta_cols: Sequence[str], classes: list[ClassEntry],
                 fmt: str, out: Path, *, store_root: Path | None = None, session=None, link: bool = False,
                 shard_size: int = 5000, advance: Callable[[int], None] | None = None,
                 build_report: dict[str, Any] | None = None) -> ExportSummary:
    """Write the export of one built split; refuses an existing, non-empty ``out``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    out = Path(out).resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CurateError(f"{out} already exists and exports are frozen: a changed export is a new version. "
                          f"Write it to a new folder, e.g. --out {out.name}-v2")
    members, refused, included = _refuse(members, spec, session)
    planned = plan_rows(members, spec, fmt)
    staged = None
    if spec.source == "db" and is_url(store_root):  # images of a remote store: fetched once, then as a folder
        staged = tempfile.mkdtemp(prefix="curate-store-")
        store_root, link = fetch_objects(str(store_root), [row["src"] for row in planned], Path(staged)), False
    try:
        return _write_export(spec, split_name, planned, refused, included, meta_cols, classes, fmt, out,
                             store_root, session, link, shard_size, advance, build_report)
    finally:
        if staged:
            shutil.rmtree(staged, ignore_errors=True)


def _write_export(spec: SplitSpec, split_name: str, planned: list[dict], refused: Counter, included: Any,
                  meta_cols: Sequence[str], classes: list[ClassEntry], fmt: str, out: Path,
                  store_root: Path | None, session, link: bool, shard_size: int,
                  advance: Callable[[int], None] | None, build_report: dict[str, Any] | None) -> ExportSummary:
    store = os.fspath(Path(store_root)) if spec.source == "db" else ""
    for row in planned:
        src = row["src"]
        row["src_path"] = os.path.join(store, src[:2], src[2:4], src) if store else src
    tmp = out.with_name(f".{out.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        writer = _write_files if fmt in ("imagefolder", "csv") else _write_containers
        kept = writer(tmp, planned, fmt, refused, link, shard_size, classes, meta_cols, advance)
        manifest = _manifest(kept, meta_cols)
        info = _info(spec, split_name, fmt, refused, build_report, included)
        owners = {(r["source"], r["owner"]): str(r.get("owner_name", "")) for r in kept if r.get("owner")}
        folders = _imagefolder_order(spec, manifest) if fmt == "imagefolder" else {}
        card = render_card(info, classes, manifest, owners, _card_attributes(spec, manifest, meta_cols),
                           dict(refused), header=_header(fmt, spec, manifest, meta_cols),
                           labels_section="" if spec.multi_label else label_map_section(
                               classes, folders or {"": sorted({r.label for r in manifest})}, fmt,
                               lambda s: _folder(spec, s, "").rstrip("/"), sorted({r.subset for r in manifest})))
        extra = _extra_files(spec, manifest, fmt, meta_cols)
        extra["label_map.csv"] = label_map_text(classes, folders)
        facts = workspace_facts(session, [r.sha256 for r in manifest])
        extra["croissant.json"] = croissant_text(info, classes, manifest, card, owners, facts)
        write_metadata(tmp, info, classes, manifest, card, extra)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    from splits.frozen import sha256_file

    n_files = len({r["path"].split(SEP)[0] for r in kept})
    return ExportSummary(out, len(kept), n_files, dict(sorted(refused.items())), sha256_file(out / "manifest.csv"))


def _header(fmt: str, spec: SplitSpec, rows: Sequence[ManifestRow], meta_cols: Sequence[str]) -> str:
    counts = Counter(r.subset for r in rows)
    return yaml_header(fmt, spec.layout, sorted(counts), dict(counts), [r.license for r in rows], meta_cols)


def _imagefolder_order(spec: SplitSpec, rows: Sequence[ManifestRow]) -> dict[str, list[str]]:
    """Per folder that ImageFolder can open (``<subset>`` or the export itself), its class keys in
    ImageFolder's order (sorted folder names); none for multi-label layouts."""
    if spec.layout == "subset":
        return {}
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault("export" if spec.layout == "class" else row.subset, set()).add(row.label)
    return {folder: sorted(keys) for folder, keys in found.items()}


def _manifest(kept, meta_cols: Sequence[str]) -> list[ManifestRow]:
    """The manifest rows of the kept images; provenance and metadata as text ("" where a column is absent)."""
    return [ManifestRow(r["path"], r["sha256"], r["subset"], r["labels_t"], *(str(r.get(k, "")) for k in PROV),
                        metadata={c: str(r.get(c, "")) for c in meta_cols}) for r in kept]


def _card_attributes(spec: SplitSpec, rows: Sequence[ManifestRow], meta_cols: Sequence[str],
                     max_values: int = 30) -> list[str]:
    """The spec's attributes, else the metadata columns with few distinct values (not paths or ids)."""
    if spec.attributes:
        return list(spec.attributes)
    return [c for c in meta_cols if len({r.metadata[c] for r in rows}) <= max_values]


def _info(spec: SplitSpec, split_name: str, fmt: str, refused: Counter[str],
          build_report: dict[str, Any] | None, included: Counter[str]) -> dict[str, Any]:
    return {"name": split_name, "split": split_name, "description": spec.description, "class_set": spec.class_set,
            "seed": spec.seed, "spec": dict(spec.raw), "spec_sha256": spec.sha256(), "tool": "curate",
            "tool_version": tool_version(), "format": fmt, "layout": spec.layout, "multi_label": spec.multi_label,
            "refused": dict(sorted(refused.items())), "included_rejected": dict(sorted(included.items())),
            "build": {k: (build_report or {}).get(k, {}) for k in ("sizes", "dropped", "held_out", "screening")}}


def _write_files(root: Path, planned, fmt, refused, link, shard_size, classes, meta_cols, advance):
    """imagefolder / csv: one copy job per distinct destination, hashed while copying."""
    base = os.fspath(root)
    jobs: dict[str, CopyJob] = {}
    for row in planned:
        if row["path"] not in jobs:
            jobs[row["path"]] = CopyJob(row["src_path"], os.path.join(base, row["path"]), _expected(row))
    results = dict(zip(jobs, copy_all(list(jobs.values()), link=link, advance=advance)))
    kept = []
    for row in planned:
        result = results[row["path"]]
        if result.error:
            refused[result.error.split(":")[0] + " source file"] += 1
            continue
        row["sha256"] = result.sha256
        kept.append(row)
    return kept


def _expected(row: dict[str, Any]) -> str:
    """The sha256 a row's source must have, where its table or store records one."""
    digest = row.get("sha256")
    return digest if isinstance(digest, str) else ""


def _write_containers(root: Path, planned, fmt, refused, link, shard_size, classes, meta_cols, advance):
    """webdataset / parquet: images read and hashed in parallel, packed in manifest order."""
    index = {c.key: c.index for c in classes}
    by_subset: dict[str, list[dict[str, Any]]] = {}
    for row in planned:
        by_subset.setdefault(row["subset"], []).append(row)
    kept = []
    for subset, rows in by_subset.items():
        good = []
        for row, (_, data, digest, error) in zip(rows, read_all(CopyJob(r["src_path"], "", _expected(r))
                                                               for r in rows)):
            if advance:
                advance(1)
            if error:
                refused[error.split(":")[0] + " source file"] += 1
                continue
            good.append({**row, "sha256": digest, "bytes": data})
        if fmt == "parquet":
            write_parquet(root / f"{subset}.parquet", [_record(r, meta_cols) for r in good],
                          ["subset", *PROV, *meta_cols])
        else:
            for number, (start, stop) in enumerate(shard_bounds(len(good), shard_size, MIN_SHARDS)):
                shard = good[start:stop]
                tar = f"{subset}/{subset}-{number:06d}.tar"
                write_tar(root / tar, [(wds_key(r["file_name"]), r["ext"], r["bytes"], _sample_meta(r, meta_cols, index),
                                        index.get(r["labels_t"][0]) if len(r["labels_t"]) == 1 else None)
                                       for r in shard])
                for r in shard:
                    r["path"] = f"{tar}{SEP}{wds_key(r['file_name'])}.{r['ext']}"
        kept.extend({k: v for k, v in r.items() if k != "bytes"} for r in good)
    return kept


def _record(row: dict[str, Any], meta_cols: Sequence[str]) -> dict[str, Any]:
    labels = row["labels_t"]
    return {"bytes": row["bytes"], "file_name": row["file_name"], "sha256": row["sha256"],
            "label": labels[0] if len(labels) == 1 else "", "labels": labels,
            "meta": {c: str(row.get(c, "")) for c in ("subset", *PROV, *meta_cols)}}


def _sample_meta(row: dict[str, Any], meta_cols: Sequence[str], index: dict[str, int]) -> dict[str, Any]:
    return {"labels": list(row["labels_t"]), "label_indices": [index[x] for x in row["labels_t"] if x in index],
            "sha256": row["sha256"], "subset": row["subset"], **{k: str(row.get(k, "")) for k in PROV},
            **{c: str(row.get(c, "")) for c in meta_cols}}


def _extra_files(spec: SplitSpec, rows: Sequence[ManifestRow], fmt: str, meta_cols: Sequence[str]) -> dict[str, str]:
    import tomli_w

    files = {"spec.toml": tomli_w.dumps(dict(spec.raw))}
    if fmt == "imagefolder":
        files.update(_hf_metadata(spec, rows, meta_cols))
    elif fmt == "csv":
        from splits.frozen import _csv_text

        for subset in sorted({r.subset for r in rows}):
            ordered = sorted((r for r in rows if r.subset == subset), key=lambda r: r.path)
            files[f"{subset}.csv"] = _csv_text(["path", "sha256", "label", "labels", "subset", *PROV, *meta_cols], (
                [r.path, r.sha256, r.label, "|".join(r.labels), r.subset, *(getattr(r, k) for k in PROV),
                 *(r.metadata[c] for c in meta_cols)] for r in ordered))
    return files


def _hf_metadata(spec: SplitSpec, rows: Sequence[ManifestRow], meta_cols: Sequence[str]) -> dict[str, str]:
    """Hugging Face ``imagefolder`` metadata: a ``metadata.jsonl`` beside each subset's files."""
    encode = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode  # one encoder, not one per line
    files: dict[str, list[str]] = {}
    for row in sorted(rows, key=lambda r: r.path):
        folder = "" if spec.layout == "class" else f"{row.subset}/"
        line = {"file_name": row.path[len(folder):], "label": row.label, "labels": list(row.labels),
                "subset": row.subset, "sha256": row.sha256, "source": row.source, "source_id": row.source_id,
                "url": row.url, "owner": row.owner, "license": row.license, **row.metadata}
        files.setdefault(f"{folder}metadata.jsonl", []).append(encode(line))
    return {name: "\n".join(lines) + "\n" for name, lines in files.items()}
