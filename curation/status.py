"""Counts per pipeline stage, for ``curate status``."""

from __future__ import annotations

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from curation.db.models import (AggregatedLabel, Export, FilterDecision, HitItem, Review, SourceRecord,
                                SplitMember)


def stage_counts(session: Session) -> list[tuple[str, int]]:
    """(stage, count) rows in pipeline order; counts of images unless the name says otherwise."""
    def count(stmt) -> int:
        return int(session.scalar(stmt) or 0)

    rows = [
        ("candidates", count(select(func.count()).select_from(SourceRecord))),
        ("downloaded", count(select(func.count(distinct(SourceRecord.image_id))).where(
            SourceRecord.image_id.is_not(None)))),
        ("identical copies merged", identical_copies(session)),
        ("pending download", count(select(func.count()).where(SourceRecord.status == "pending"))),
        ("failed download", count(select(func.count()).where(SourceRecord.status == "failed"))),
        ("filtered out", count(select(func.count(distinct(FilterDecision.image_id))).where(
            FilterDecision.current.is_(True), FilterDecision.verdict == "reject"))),
        ("in HITs", count(select(func.count(distinct(HitItem.image_id))).where(HitItem.role == "candidate"))),
        ("labeled (accepted by aggregation)", count(select(func.count(distinct(AggregatedLabel.image_id))).where(
            AggregatedLabel.accepted.is_(True)))),
        ("reviewed", count(select(func.count(distinct(Review.image_id))).where(Review.current.is_(True)))),
        ("in splits", count(select(func.count(distinct(SplitMember.image_id))))),
        ("exports", count(select(func.count()).select_from(Export))),
    ]
    return rows


def identical_copies(session: Session) -> int:
    """Files or photos whose bytes another candidate already had: the copies folded into one candidate
    at import (listed under ``copies``) plus records beyond the first that share one stored image."""
    records = int(session.scalar(select(func.count()).where(SourceRecord.image_id.is_not(None))) or 0)
    images = int(session.scalar(select(func.count(distinct(SourceRecord.image_id)))) or 0)
    folded = sum(len((meta or {}).get("copies", [])) for meta in session.scalars(
        select(SourceRecord.metadata_).where(SourceRecord.source == "folder", SourceRecord.image_id.is_not(None))))
    return records - images + folded


def rejection_reasons(session: Session) -> list[tuple[str, str, int]]:
    """(stage, reason kind, count) for rejected downloads/imports and current filter rejections."""
    out: list[tuple[str, str, int]] = []
    records = session.execute(select(SourceRecord.error, func.count()).where(
        SourceRecord.status.in_(("rejected", "failed"))).group_by(SourceRecord.error)).all()
    merged: dict[str, int] = {}
    for reason, n in records:
        kind = (reason or "unknown").split(":", 1)[0]
        merged[kind] = merged.get(kind, 0) + n
    out += [("download", k, v) for k, v in sorted(merged.items())]
    decisions = session.execute(select(FilterDecision.reason, func.count()).where(
        FilterDecision.current.is_(True), FilterDecision.verdict == "reject").group_by(FilterDecision.reason)).all()
    merged = {}
    for reason, n in decisions:
        kind = (reason or "unknown").split(":", 1)[0]
        merged[kind] = merged.get(kind, 0) + n
    out += [("filter", k, v) for k, v in sorted(merged.items())]
    return out
