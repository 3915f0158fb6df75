"""One worker's record for the admin: gold accuracy, agreement with other workers, HITs and votes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from annotate_ui.quality import WorkerStats, worker_stats
from curation.db.models import Assignment, Hit, HitItem, ImageClass, Vote, Worker


@dataclass(frozen=True)
class WorkerHistory:
    worker: Worker
    stats: WorkerStats
    agree: int            # candidate votes that match the other workers' majority on that image
    compared: int         # candidate votes with at least one other worker's vote and no tie
    assignments: list[tuple]
    votes: list[tuple]

    @property
    def agreement(self) -> float | None:
        return self.agree / self.compared if self.compared else None


def agreement(session: Session, worker_id: int) -> tuple[int, int]:
    """(agreeing, compared): how often the worker's candidate answer equals the majority answer of
    the other workers on the same image and class (ties are not compared)."""
    mine = dict(((i, c), bool(s)) for i, c, s in session.execute(
        select(Vote.image_id, Vote.class_id, Vote.selected).join(HitItem, HitItem.id == Vote.hit_item_id)
        .where(Vote.worker_id == worker_id, HitItem.role == "candidate")))
    if not mine:
        return 0, 0
    others: dict[tuple[int, int], list[int]] = {}
    image_ids = sorted({i for i, _c in mine})
    for start in range(0, len(image_ids), 500):
        rows = session.execute(select(Vote.image_id, Vote.class_id,
                                      func.sum(case((Vote.selected.is_(True), 1), else_=0)), func.count())
                               .join(HitItem, HitItem.id == Vote.hit_item_id)
                               .where(Vote.worker_id != worker_id, HitItem.role == "candidate",
                                      Vote.image_id.in_(image_ids[start:start + 500]))
                               .group_by(Vote.image_id, Vote.class_id))
        for image_id, class_id, yes, n in rows:
            others[(image_id, class_id)] = [int(yes or 0), int(n)]
    agree = compared = 0
    for key, answer in mine.items():
        yes, n = others.get(key, (0, 0))
        if n == 0 or 2 * yes == n:
            continue
        compared += 1
        agree += int(answer == (2 * yes > n))
    return agree, compared


def worker_history(session: Session, worker_id: int, max_votes: int = 500) -> WorkerHistory | None:
    worker = session.get(Worker, worker_id)
    if worker is None:
        return None
    stats = next(s for s in worker_stats(session) if s.worker_id == worker_id)
    agree, compared = agreement(session, worker_id)
    assignments = session.execute(
        select(Assignment.public_id, Hit.public_id, Hit.kind, ImageClass.name, Assignment.status,
               Assignment.gold_correct, Assignment.gold_total, Assignment.created_at, Assignment.submitted_at,
               Assignment.duration_s)
        .join(Hit, Hit.id == Assignment.hit_id).join(ImageClass, ImageClass.id == Hit.class_id)
        .where(Assignment.worker_id == worker_id).order_by(Assignment.id.desc())).all()
    votes = session.execute(
        select(Vote.image_id, ImageClass.name, Hit.kind, HitItem.role, HitItem.gold_answer, Vote.selected,
               Vote.created_at)
        .join(HitItem, HitItem.id == Vote.hit_item_id).join(Hit, Hit.id == HitItem.hit_id)
        .join(ImageClass, ImageClass.id == Vote.class_id)
        .where(Vote.worker_id == worker_id).order_by(Vote.id.desc()).limit(max_votes)).all()
    return WorkerHistory(worker, stats, agree, compared, [tuple(r) for r in assignments], [tuple(r) for r in votes])
