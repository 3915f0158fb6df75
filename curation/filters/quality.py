"""Quality filter: corrupt, decompression bombs, animated, tiny, extreme aspect, pitch-black, flat.

Works on what hashing stored (size, frames, grayscale mean and deviation, decode error), so new
thresholds apply without decoding again. Rejected images stay out of the duplicate search.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from curation.db.models import Image
from curation.filters.decisions import QUALITY, chunked, record, without_decision
from curation.filters.params import FilterParams


def verdict(width: int | None, height: int | None, n_frames: int | None, mean: float | None,
            std: float | None, decode_error: str | None, params: FilterParams) -> tuple[str, str | None, float | None]:
    """(verdict, reason, score) for one image; the first failing check gives the reason."""
    if decode_error:
        return "reject", decode_error, None
    if mean is None or std is None or not width or not height:
        return "reject", "corrupt: no decoded pixels", None
    if params.reject_animated and (n_frames or 1) > 1:
        return "reject", f"animated: {n_frames} frames", float(n_frames or 1)
    side = min(width, height)
    if side < params.min_side:
        return "reject", f"tiny: {width}x{height} (min side {params.min_side})", float(side)
    aspect = max(width, height) / side
    if aspect > params.max_aspect:
        return "reject", f"aspect: {aspect:.2f} (max {params.max_aspect:g})", aspect
    if mean < params.black_mean:
        return "reject", f"black: mean {mean:.1f} (below {params.black_mean:g})", mean
    if std < params.flat_std:
        return "reject", f"flat: std {std:.2f} (below {params.flat_std:g})", std
    return "pass", None, std


def quality_targets(session: Session, rerun: bool) -> list[int]:
    """Hashed images to judge: all with ``rerun``, else those without a current quality decision."""
    stmt = select(Image.id).where(Image.hashed_at.is_not(None))
    if not rerun:
        stmt = stmt.where(without_decision(QUALITY))
    return list(session.scalars(stmt.order_by(Image.id)))


def judge_quality(session: Session, image_ids: Sequence[int], params: FilterParams,
                  replace_all: bool = False) -> Counter:
    """Record a quality decision for each image; returns rejections per reason kind."""
    rows = []
    cols = (Image.id, Image.width, Image.height, Image.n_frames, Image.pixel_mean, Image.pixel_std,
            Image.decode_error)
    for part in chunked(list(image_ids)):
        for image_id, *values in session.execute(select(*cols).where(Image.id.in_(part))):
            v, reason, score = verdict(*values, params=params)
            rows.append({"image_id": image_id, "verdict": v, "reason": reason, "score": score})
    return record(session, QUALITY, rows, params.quality(), replace_all=replace_all)
