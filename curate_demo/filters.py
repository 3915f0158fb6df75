"""The filter stage of ``curate demo``: hash the reference set, run every filter, write the contact
sheet, and check the decisions against the emulator's ground truth of planted problems."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Callable

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from curation.config import Settings
from curation.db.models import FilterDecision, Image, SourceRecord
from curation.db.session import session_scope
from curation.store import ImageStore

DUPLICATE_KINDS = ("reencode", "resize", "crop", "mirror")


def add_reference(engine: Engine, settings: Settings, name: str, root: Path) -> int:
    """Hash the images under ``root`` into the reference set ``name``; returns the usable count."""
    from curation.filters.contamination import reference_jobs, reference_set, save_reference_hashes
    from curation.filters.hashing import compute_hashes
    from curation.ingest.folder import iter_files

    with session_scope(engine) as session:
        ref = reference_set(session, name, root)
        jobs = reference_jobs(session, ref, root, iter_files(root), settings.max_image_pixels)
    results = list(compute_hashes(jobs))
    with session_scope(engine) as session:
        return save_reference_hashes(session, reference_set(session, name, root), results)


def _images_by_photo(session: Session) -> dict[str, Image]:
    rows = session.execute(select(SourceRecord.source_id, Image).join(Image, SourceRecord.image_id == Image.id)
                           .where(SourceRecord.source == "flickr"))
    return {source_id: image for source_id, image in rows}


def _rejections(session: Session) -> dict[int, str]:
    rows = session.execute(select(FilterDecision.image_id, FilterDecision.reason).where(
        FilterDecision.current.is_(True), FilterDecision.verdict == "reject"))
    return {image_id: reason or "" for image_id, reason in rows}


def caught_plants(session: Session, truth: dict) -> Counter[str]:
    """Per planted kind, how many the pipeline caught: a near or mirrored copy when it and its original
    ended in one duplicate group (one kept, the other rejected as its duplicate), an exact copy when the
    store holds the two as one image, a bad image when a quality filter rejected it."""
    images, rejected = _images_by_photo(session), _rejections(session)

    def keeper(image: Image) -> str:
        reason = rejected.get(image.id, "")
        return reason.split(":", 1)[1] if reason.startswith("duplicate-of:") else image.sha256

    caught: Counter[str] = Counter()
    for photo in truth["photos"]:
        kind, image = photo.get("plant"), images.get(photo["id"])
        if not kind or image is None:
            continue
        original = images.get(photo.get("plant_of") or "")
        if kind == "exact":
            hit = original is not None and original.id == image.id
        elif kind in DUPLICATE_KINDS:
            hit = original is not None and keeper(image) == keeper(original) and (
                image.id in rejected or original.id in rejected)
        elif kind == "reference":
            hit = rejected.get(image.id, "").startswith("contaminated:")
        else:  # black, tiny
            hit = image.id in rejected and not rejected[image.id].startswith("duplicate-of")
        caught[kind] += int(hit)
    return caught


def unplanted_duplicates(session: Session, truth: dict) -> int:
    """Images rejected as duplicates that are neither a planted copy nor the original of one: the
    filters' false positives on this corpus."""
    images, rejected = _images_by_photo(session), _rejections(session)
    planted = {p["id"] for p in truth["photos"] if p.get("plant")}
    planted |= {p["plant_of"] for p in truth["photos"] if p.get("plant_of")}
    return sum(1 for photo_id, image in images.items()
               if photo_id not in planted and rejected.get(image.id, "").startswith("duplicate-of:"))


def filter_demo(settings: Settings, engine: Engine, reference_dir: Path, ground_truth: Path,
                echo: Callable[[str], None] = print) -> dict:
    """Run the filters on the scraped workspace and report what they caught against the ground truth."""
    from curation.filters.params import load_params
    from curation.filters.pipeline import run_all
    from curation.filters.report import write_report

    usable = add_reference(engine, settings, "demo-reference", reference_dir)
    echo(f"  reference set demo-reference: {usable} images hashed from {reference_dir}")
    store = ImageStore(settings.store_path)
    with session_scope(engine) as session:
        summary = run_all(session, store, load_params(settings))
    echo(f"  {summary.line()}")
    report_path = settings.root / "filter-report.html"
    truth = json.loads(ground_truth.read_text())
    planted = Counter(p["plant"] for p in truth["photos"] if p.get("plant"))
    with session_scope(engine) as session:
        write_report(session, store, report_path)
        caught = caught_plants(session, truth)
        false_duplicates = unplanted_duplicates(session, truth)
    for kind in sorted(planted):
        echo(f"    planted {kind:9s}: {caught[kind]}/{planted[kind]} caught")
    echo(f"    {false_duplicates} image(s) that are no planted copy were rejected as duplicates (false positives)")
    echo(f"  contact sheet of duplicate groups and rejects: {report_path}")
    return {"planted": sum(planted.values()), "caught": sum(caught.values()), "per_kind": dict(caught),
            "false_duplicates": false_duplicates, "report": str(report_path)}
