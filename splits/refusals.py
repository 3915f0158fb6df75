"""Which images may not enter a split or an export, and why: a license outside the spec's allow-list,
a current filter rejection, or a current review that rejected the image (or, for a single-label set,
marked it as showing several classes)."""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

CHUNK = 5000


def license_reason(license: str, allowed: Sequence[str]) -> str:
    if allowed and license not in allowed:
        return f"license: {license or 'unknown'} is not in the allow-list"
    return ""


def refusal_reasons(session, image_ids: Iterable[int], licenses: Mapping[int, str], allowed: Sequence[str],
                    multi_label: bool = False) -> dict[int, str]:
    """image id -> reason, for every refused image (the first reason found: license, filter, review)."""
    from sqlalchemy import select

    from curation.db.models import FilterDecision, Review

    ids = sorted(set(image_ids))
    reasons: dict[int, str] = {}
    for image_id in ids:
        reason = license_reason(licenses.get(image_id, ""), allowed)
        if reason:
            reasons[image_id] = reason
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        filters = session.execute(
            select(FilterDecision.image_id, FilterDecision.filter, FilterDecision.reason)
            .where(FilterDecision.image_id.in_(chunk), FilterDecision.current.is_(True),
                   FilterDecision.verdict == "reject").order_by(FilterDecision.image_id, FilterDecision.filter))
        for image_id, name, why in filters:
            reasons.setdefault(image_id, f"filter: {name}" + (f" ({why})" if why else ""))
        rejected = ("reject",) if multi_label else ("reject", "multi")
        reviews = session.execute(select(Review.image_id, Review.decision).where(
            Review.image_id.in_(chunk), Review.current.is_(True), Review.decision.in_(rejected)))
        for image_id, decision in reviews:
            reasons.setdefault(image_id, "review: rejected" if decision == "reject"
                               else "review: multi (shows several classes)")
    return reasons
