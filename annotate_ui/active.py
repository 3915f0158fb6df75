"""Active label collection (``curate hits create --active``): the next votes go where they are worth most.

The votes of the class set and the newest out-of-sample model run go through CROWDLAB; each voted
(image, class) gets cleanlab's ActiveLab score, and each candidate nobody voted on yet gets the score
ActiveLab gives unlabeled examples (directly comparable). Lowest score first; an image whose consensus
quality already reaches ``confident`` is not sent again, nor one still waiting in an open HIT.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from curation.db.models import Assignment, Hit, HitItem, ImageClass, utcnow
from curation.errors import CurateError

log = logging.getLogger(__name__)


@dataclass
class ActiveChoice:
    """The images to send next for one class, most informative first, and what was left out."""

    images: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    confident: int = 0      # voted images whose consensus quality reached the threshold
    pending: int = 0        # images still waiting for votes in an open HIT
    unpredicted: int = 0    # new candidates the model run has not seen (run curate predict again)


def pending_images(session: Session, class_id: int) -> set[int]:
    """Images of open label HITs of the class that still lack submitted assignments."""
    submitted = (select(Assignment.hit_id, func.count().label("n")).where(Assignment.status == "submitted")
                 .group_by(Assignment.hit_id).subquery())
    stmt = (select(HitItem.image_id).join(Hit, Hit.id == HitItem.hit_id)
            .outerjoin(submitted, submitted.c.hit_id == Hit.id)
            .where(Hit.class_id == class_id, Hit.kind == "label", Hit.status == "open", HitItem.role == "candidate",
                   func.coalesce(submitted.c.n, 0) < Hit.assignments_per_item,
                   (Hit.expires_at.is_(None)) | (Hit.expires_at > utcnow())))
    return {int(i) for i in session.scalars(stmt)}


def active_choice(session: Session, cls: ImageClass, confident: float) -> ActiveChoice:
    """Rank ``cls``'s voted and new candidates by ActiveLab score (lowest first)."""
    from annotate_ui.aggregate import vote_rows
    from annotate_ui.crowdlab import binary_probs, crowdlab, unlabeled_scores, vote_matrix
    from annotate_ui.hits import candidate_images
    from annotate_ui.predictions import latest_predictions

    class_ids = [c.id for c in cls.class_set.classes]
    votes = [((i, c), w, int(bool(s))) for i, c, w, s, role, _g, flagged in vote_rows(session, class_ids)
             if role == "candidate" and not flagged]
    if not votes:
        raise CurateError(f"class {cls.key}: no votes yet; --active needs a first round: curate hits create "
                          f"--class {cls.key}, collect votes, then curate predict")
    matrix = vote_matrix(votes)
    predictions, _run = latest_predictions(session, class_ids)
    missing = [t for t in matrix.tasks if t not in predictions]
    if missing:
        raise CurateError(f"{len(missing)} voted images have no model prediction; run  curate predict "
                          f"--class-set {cls.class_set.name} --weights PATH  first")
    probs = binary_probs([predictions[t] for t in matrix.tasks])
    result = crowdlab(matrix, probs)
    choice, pending = ActiveChoice(), pending_images(session, cls.id)
    ranked: list[tuple[float, int]] = []
    for k, (image_id, class_id) in enumerate(result.tasks):
        if class_id != cls.id:
            continue
        if result.quality[k] >= confident:
            choice.confident += 1
        elif image_id in pending:
            choice.pending += 1
        else:
            ranked.append((float(result.active[k]), image_id))
    fresh = [i for i in candidate_images(session, cls) if i not in pending]
    known = [i for i in fresh if (i, cls.id) in predictions]
    choice.unpredicted = len(fresh) - len(known)
    scores = unlabeled_scores(matrix, probs, binary_probs([predictions[(i, cls.id)] for i in known]))
    ranked += [(float(s), i) for s, i in zip(scores, known)]
    ranked.sort()
    choice.images, choice.scores = [i for _s, i in ranked], [s for s, _i in ranked]
    log.info("class %s: %d images to send, %d confident, %d pending", cls.key, len(ranked), choice.confident,
             choice.pending)
    return choice
