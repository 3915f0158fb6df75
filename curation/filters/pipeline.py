"""Running every filter: hash what is new, then quality, contamination and duplicates in that order.

Quality rejects never reach the searches; contaminated images are left out of the duplicate groups.
Everything after hashing reads stored columns, so a rerun with new thresholds decodes nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from curation.db.models import FilterDecision, Image, utcnow
from curation.filters.contamination import contamination_targets, judge_contamination, reference_signature
from curation.filters.decisions import chunked, reason_kind
from curation.filters.duplicates import judge_duplicates
from curation.filters.hashing import HashJob, HashResult, compute_hashes, image_columns
from curation.filters.params import FilterParams
from curation.filters.quality import judge_quality, quality_targets
from curation.store import ImageStore

log = logging.getLogger(__name__)


@dataclass
class FilterSummary:
    """What one run did, and the current rejections per reason kind over the whole database."""

    hashed: int = 0
    undecodable: int = 0
    judged: dict[str, int] = field(default_factory=dict)
    rejected: Counter = field(default_factory=Counter)
    groups: int = 0
    totals: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(self.rejected.items())) or "none"
        return (f"hashed {self.hashed} ({self.undecodable} undecodable); judged "
                f"{self.judged.get('quality', 0)} for quality, {self.judged.get('contamination', 0)} for "
                f"contamination, {self.judged.get('duplicate', 0)} for duplicates; rejected {reasons}; "
                f"{self.groups} duplicate group(s) written")


def pending_jobs(session: Session, store: ImageStore, max_pixels: int, rehash: bool = False) -> list[HashJob]:
    """Hash jobs for images never hashed (all images with ``rehash``)."""
    stmt = select(Image.id, Image.sha256).order_by(Image.id)
    if not rehash:
        stmt = stmt.where(Image.hashed_at.is_(None))
    # a location any worker can read: a path on this machine, or the object's URL when the store is remote
    return [HashJob(image_id, store.location(sha), max_pixels) for image_id, sha in session.execute(stmt)]


def save_hashes(session: Session, results: Sequence[HashResult]) -> int:
    """Store hash results on their images; returns how many could not be decoded."""
    now = utcnow()
    rows = [image_columns(r, now) for r in results]
    for part in chunked(rows, 1000):
        session.execute(update(Image), list(part))
    return sum(1 for r in results if not r.ok)


def hash_pending(session: Session, store: ImageStore, params: FilterParams, *, rehash: bool = False,
                 workers: int | None = None, ray: str | None = None,
                 on_result: Callable[[HashResult], None] | None = None) -> tuple[int, int]:
    """Hash every pending image in this session; returns (hashed, undecodable)."""
    jobs = pending_jobs(session, store, params.max_pixels, rehash)
    results = []
    for result in compute_hashes(jobs, workers=workers, ray=ray):
        results.append(result)
        if on_result:
            on_result(result)
    return len(results), save_hashes(session, results)


def judge_all(session: Session, params: FilterParams, *, rerun: bool = False, workers: int = 1,
              summary: FilterSummary | None = None) -> FilterSummary:
    """Quality, then contamination, then duplicates, on stored hashes (no decoding)."""
    summary = summary or FilterSummary()
    targets = quality_targets(session, rerun)
    summary.judged["quality"] = len(targets)
    summary.rejected += judge_quality(session, targets, params, replace_all=rerun)
    session.flush()
    targets = contamination_targets(session, rerun, reference_signature(session))
    summary.judged["contamination"] = len(targets)
    summary.rejected += judge_contamination(session, targets, params, rerun, workers)
    session.flush()
    counts, summary.groups, summary.judged["duplicate"] = judge_duplicates(session, params, rerun, workers)
    summary.rejected += counts
    summary.totals = current_rejections(session)
    return summary


def run_all(session: Session, store: ImageStore, params: FilterParams, *, rerun: bool = False,
            rehash: bool = False, workers: int | None = None, ray: str | None = None) -> FilterSummary:
    """Hash what is new and run every filter; the caller commits. Returns what happened."""
    from curation.parallel import default_workers

    summary = FilterSummary()
    summary.hashed, summary.undecodable = hash_pending(session, store, params, rehash=rehash, workers=workers,
                                                       ray=ray)
    session.flush()
    return judge_all(session, params, rerun=rerun, workers=workers or default_workers(), summary=summary)


def current_rejections(session: Session) -> dict[str, int]:
    """Reason kind -> number of images with a current rejection of that kind (all filters)."""
    rows = session.execute(select(FilterDecision.reason, func.count()).where(
        FilterDecision.current.is_(True), FilterDecision.verdict == "reject").group_by(FilterDecision.reason))
    totals: Counter = Counter()
    for reason, n in rows:
        totals[reason_kind(reason)] += n
    return dict(sorted(totals.items()))
