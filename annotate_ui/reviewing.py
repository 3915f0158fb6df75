"""The expert review pass: a queue of images aggregation accepted, decisions, undo, disagreements.

A decision supersedes the reviewer's earlier decision on the same image (``current`` turns
false, nothing is deleted); undo makes the reviewer's last decision not current, so the image
returns to their queue. A reviewer never sees an image they voted on as a worker.

The queue comes in two orders: ``doubt`` (lowest CROWDLAB consensus quality first, the default once
``curate aggregate --method crowdlab`` has run) and ``class`` (by class, then oldest image first).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session, aliased

from curation.db.models import AggregatedLabel, ImageClass, Review, SourceRecord, User, Vote

DECISIONS = ("accept", "reject", "relabel", "multi")
ORDERS = ("doubt", "class")
DOUBT_METHOD = "crowdlab"  # the aggregation whose consensus quality orders the queue by doubt


@dataclass(frozen=True)
class QueueItem:
    image_id: int
    class_id: int
    frequency: float | None
    posterior: float | None
    n_votes: int
    quality: float | None = None  # CROWDLAB consensus quality (low = doubtful), when it has run


def has_doubt(session: Session) -> bool:
    """Whether any consensus quality is stored (then the queue is ordered by doubt by default)."""
    return session.scalar(select(AggregatedLabel.id).where(AggregatedLabel.method == DOUBT_METHOD,
                                                           AggregatedLabel.quality.is_not(None)).limit(1)) is not None


def default_order(session: Session) -> str:
    return "doubt" if has_doubt(session) else "class"


def doubtful_count(session: Session, threshold: float) -> int:
    """Images whose CROWDLAB consensus quality lies below ``threshold``."""
    return int(session.scalar(select(func.count(func.distinct(AggregatedLabel.image_id))).where(
        AggregatedLabel.method == DOUBT_METHOD, AggregatedLabel.quality < threshold)) or 0)


def _voted_by(user: User):
    return select(Vote.image_id).where(Vote.worker_id == user.worker_id)


def queue(session: Session, user: User, method: str, reviews_per_image: int, limit: int = 50,
          class_id: int | None = None, image_id: int | None = None, order: str = "class") -> list[QueueItem]:
    """Accepted images this reviewer has not decided on, that still need reviews: by ``order`` ("doubt":
    lowest consensus quality first, images without one last; "class": by class, oldest image first)."""
    if order not in ORDERS:
        raise ValueError(f"unknown queue order {order!r}; valid: {', '.join(ORDERS)}")
    done_by_me = select(Review.image_id).where(Review.user_id == user.id, Review.current.is_(True))
    counts = (select(Review.image_id, func.count(func.distinct(Review.user_id)).label("n"))
              .where(Review.current.is_(True)).group_by(Review.image_id).subquery())
    doubt = aliased(AggregatedLabel)
    stmt = (select(AggregatedLabel, doubt.quality).outerjoin(counts, counts.c.image_id == AggregatedLabel.image_id)
            .outerjoin(doubt, and_(doubt.image_id == AggregatedLabel.image_id,
                                   doubt.class_id == AggregatedLabel.class_id, doubt.method == DOUBT_METHOD))
            .where(AggregatedLabel.method == method, AggregatedLabel.accepted.is_(True),
                   AggregatedLabel.image_id.not_in(done_by_me),
                   func.coalesce(counts.c.n, 0) < reviews_per_image).limit(limit))
    if order == "doubt":
        stmt = stmt.order_by(doubt.quality.is_(None), doubt.quality, AggregatedLabel.class_id, AggregatedLabel.image_id)
    else:
        stmt = stmt.order_by(AggregatedLabel.class_id, AggregatedLabel.image_id)
    if user.worker_id is not None:
        stmt = stmt.where(AggregatedLabel.image_id.not_in(_voted_by(user)))
    if class_id is not None:
        stmt = stmt.where(AggregatedLabel.class_id == class_id)
    if image_id is not None:
        stmt = stmt.where(AggregatedLabel.image_id == image_id)
    return [QueueItem(r.image_id, r.class_id, r.frequency, r.posterior, r.n_votes, q)
            for r, q in session.execute(stmt)]


def in_queue(session: Session, user: User, method: str, reviews_per_image: int, image_id: int,
             class_id: int) -> bool:
    """Whether this (image, class) is waiting for this reviewer (only those may be decided)."""
    return bool(queue(session, user, method, reviews_per_image, limit=1, class_id=class_id, image_id=image_id))


def queue_size(session: Session, user: User, method: str, reviews_per_image: int) -> int:
    return len(queue(session, user, method, reviews_per_image, limit=100_000))


def may_review(session: Session, user: User, image_id: int) -> bool:
    """False when the reviewer voted on this image as a worker."""
    if user.worker_id is None:
        return True
    return session.scalar(select(func.count()).where(Vote.worker_id == user.worker_id,
                                                     Vote.image_id == image_id)) == 0


def decide(session: Session, user: User, image_id: int, decision: str, proposed_class_id: int,
           class_id: int | None = None, note: str = "", classes: list[str] | None = None) -> Review:
    """Record a decision; ``relabel`` needs the new ``class_id``, ``multi`` the ``classes`` (keys) the
    image shows. Supersedes this reviewer's earlier one."""
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}; valid: {', '.join(DECISIONS)}")
    if not may_review(session, user, image_id):
        raise PermissionError("you voted on this image as a worker; another reviewer must review it")
    if decision == "relabel":
        if class_id is None or session.get(ImageClass, class_id) is None:
            raise ValueError("relabel needs the class the image shows")
    final = {"accept": proposed_class_id, "relabel": class_id}.get(decision)
    session.execute(update(Review).where(Review.user_id == user.id, Review.image_id == image_id,
                                         Review.current.is_(True)).values(current=False))
    review = Review(image_id=image_id, user_id=user.id, decision=decision, class_id=final,
                    proposed_class_id=proposed_class_id, note=note[:2000], current=True,
                    classes=",".join(classes or []) if decision == "multi" else "")
    session.add(review)
    session.flush()
    return review


def undo_last(session: Session, user: User) -> Review | None:
    """Withdraw the reviewer's most recent current decision; returns it (now not current)."""
    last = session.scalar(select(Review).where(Review.user_id == user.id, Review.current.is_(True))
                          .order_by(Review.id.desc()).limit(1))
    if last is not None:
        last.current = False
        session.flush()
    return last


def disagreeing_images(session: Session) -> list[int]:
    """Images whose current reviews (by different reviewers) differ in decision or final class."""
    rows = session.execute(select(Review.image_id, Review.decision, Review.class_id)
                           .where(Review.current.is_(True)).order_by(Review.image_id)).all()
    verdicts: dict[int, set] = {}
    for image_id, decision, class_id in rows:
        verdicts.setdefault(image_id, set()).add((decision, class_id))
    return [image_id for image_id, found in verdicts.items() if len(found) > 1]


def disagreements(session: Session) -> list[tuple[int, list[tuple[str, str, str | None]]]]:
    """(image id, [(reviewer, decision, final class name)]) for every disputed image."""
    out = []
    for image_id in disagreeing_images(session):
        rows = session.execute(select(User.username, Review.decision, ImageClass.name)
                               .join(User, User.id == Review.user_id)
                               .outerjoin(ImageClass, ImageClass.id == Review.class_id)
                               .where(Review.image_id == image_id, Review.current.is_(True))
                               .order_by(User.username)).all()
        out.append((image_id, [tuple(r) for r in rows]))
    return out


def provenance(session: Session, image_id: int) -> SourceRecord | None:
    """The first source record of an image (its title, owner, tags, license: untrusted strings)."""
    return session.scalar(select(SourceRecord).where(SourceRecord.image_id == image_id)
                          .order_by(SourceRecord.id).limit(1))


def reviewed_count(session: Session, user: User) -> int:
    return int(session.scalar(select(func.count()).where(and_(Review.user_id == user.id,
                                                               Review.current.is_(True)))) or 0)
