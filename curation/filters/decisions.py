"""Writing filter decisions: a new decision supersedes the image's current one for that filter."""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Sequence

from sqlalchemy import and_, exists, select, update
from sqlalchemy.orm import Session

from curation.db.bulk import insert_rows
from curation.db.models import FilterDecision, Image

CHUNK = 5000
QUALITY, CONTAMINATION, DUPLICATE = "quality", "contamination", "duplicate"
FILTERS = (QUALITY, CONTAMINATION, DUPLICATE)


def chunked(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def supersede(session: Session, filter_name: str, image_ids: Sequence[int] | None) -> None:
    """Mark current decisions of ``filter_name`` not current (for ``image_ids``, or all when None)."""
    base = update(FilterDecision).where(FilterDecision.filter == filter_name, FilterDecision.current.is_(True))
    if image_ids is None:
        session.execute(base.values(current=False))
        return
    for part in chunked(list(image_ids)):
        session.execute(base.where(FilterDecision.image_id.in_(part)).values(current=False))


def record(session: Session, filter_name: str, rows: list[dict[str, Any]], params: dict[str, Any],
           replace_all: bool = False) -> Counter:
    """Store one decision per row (image_id, verdict, reason, score); returns counts per reason kind."""
    supersede(session, filter_name, None if replace_all else [r["image_id"] for r in rows])
    payload = [(r["image_id"], r["verdict"], (r.get("reason") or None) and r["reason"][:200], r.get("score"))
               for r in rows]
    for part in chunked(payload):  # one driver-level executemany; the shared values are bound once
        insert_rows(session, FilterDecision.__table__, ("image_id", "verdict", "reason", "score"), part,
                    {"filter": filter_name, "params": params, "current": True})
    return Counter(reason_kind(r.get("reason")) for r in rows if r["verdict"] == "reject")


def reason_kind(reason: str | None) -> str:
    """The part of a reason before its first colon (``duplicate-of:abc`` -> ``duplicate-of``)."""
    return (reason or "unknown").split(":", 1)[0]


def current_decisions(session: Session, filter_name: str) -> dict[int, FilterDecision]:
    return {d.image_id: d for d in session.scalars(select(FilterDecision).where(
        FilterDecision.filter == filter_name, FilterDecision.current.is_(True)))}


def without_decision(filter_name: str):
    """A clause: the image has no current decision of ``filter_name``."""
    return ~exists().where(and_(FilterDecision.image_id == Image.id, FilterDecision.filter == filter_name,
                                FilterDecision.current.is_(True)))


def with_verdict(filter_name: str, verdict: str):
    """A clause: the image's current decision of ``filter_name`` has ``verdict``."""
    return exists().where(and_(FilterDecision.image_id == Image.id, FilterDecision.filter == filter_name,
                               FilterDecision.current.is_(True), FilterDecision.verdict == verdict))


def current_verdicts(session: Session, filter_name: str) -> dict[int, str]:
    """image id -> verdict of its current decision of ``filter_name``."""
    return dict(session.execute(select(FilterDecision.image_id, FilterDecision.verdict).where(
        FilterDecision.filter == filter_name, FilterDecision.current.is_(True))).all())
