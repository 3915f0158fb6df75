"""Responsible-AI facts of an export from the workspace: how its images were collected (the queries
that found them and when, upload dates) and labelled (HITs, gold, workers, votes, agreement, reviews).

Computed over the exported images only, in a fixed order, so the same workspace gives the same text."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Sequence

from sqlalchemy import func, select

CHUNK = 500
MAX_QUERIES = 200


def _ids(session, digests: Sequence[str]) -> list[int]:
    from curation.db.models import Image

    ids: list[int] = []
    digests = sorted(set(digests))
    for start in range(0, len(digests), CHUNK):
        ids += session.scalars(select(Image.id).where(Image.sha256.in_(digests[start:start + CHUNK]))).all()
    return sorted(ids)


def _day(value) -> str | None:
    return value.date().isoformat() if value is not None else None


def _collection(session, ids: list[int]) -> dict[str, Any]:
    from curation.db.models import Query, QuerySource, SourceRecord

    found: dict[tuple[str, str], list] = defaultdict(list)
    uploads = []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        rows = session.execute(select(Query.source, Query.text, QuerySource.found_at)
                               .join(QuerySource, QuerySource.query_id == Query.id)
                               .join(SourceRecord, SourceRecord.id == QuerySource.source_record_id)
                               .where(SourceRecord.image_id.in_(chunk)))
        for source, text, at in rows:
            found[(source, text)].append(at)
        uploads += [u for u in session.scalars(select(SourceRecord.uploaded_at).where(
            SourceRecord.image_id.in_(chunk), SourceRecord.uploaded_at.is_not(None)))]
    queries = [{"source": s, "query": t, "images": len(at), "first_found": _day(min(at)), "last_found": _day(max(at))}
               for (s, t), at in sorted(found.items())][:MAX_QUERIES]
    out: dict[str, Any] = {"queries": queries, "n_queries": len(found)}
    if uploads:
        out["uploaded"] = [_day(min(uploads)), _day(max(uploads))]
    return out


def _labelling(session, ids: list[int]) -> dict[str, Any]:
    from curation.db.models import HitItem, Review, Vote

    hits, workers, reviewers = set(), set(), set()
    shares: dict[tuple[int, int], list[bool]] = defaultdict(list)
    decisions: Counter[str] = Counter()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        hits.update(session.scalars(select(HitItem.hit_id).where(HitItem.image_id.in_(chunk))))
        for image_id, class_id, worker, selected in session.execute(
                select(Vote.image_id, Vote.class_id, Vote.worker_id, Vote.selected).where(Vote.image_id.in_(chunk))):
            workers.add(worker)
            shares[(image_id, class_id)].append(bool(selected))
        for user, decision in session.execute(select(Review.user_id, Review.decision).where(
                Review.image_id.in_(chunk), Review.current.is_(True))):
            reviewers.add(user)
            decisions[decision] += 1
    gold = session.scalar(select(func.count()).where(HitItem.hit_id.in_(sorted(hits)), HitItem.role == "gold")) \
        if hits else 0
    agreement = [max(sum(v), len(v) - sum(v)) / len(v) for v in shares.values() if v]
    return {"hits": len(hits), "gold_items_in_those_hits": int(gold or 0), "workers": len(workers),
            "votes": sum(len(v) for v in shares.values()),
            "mean_majority_agreement": round(sum(agreement) / len(agreement), 4) if agreement else None,
            "reviews": dict(sorted(decisions.items())), "reviewers": len(reviewers)}


def workspace_facts(session, digests: Sequence[str]) -> dict[str, Any] | None:
    """Collection and labelling facts of the images ``digests``; None without a workspace database."""
    if session is None or not digests:
        return None
    ids = _ids(session, digests)
    if not ids:
        return None
    return {"collection": _collection(session, ids), "labelling": _labelling(session, ids)}
