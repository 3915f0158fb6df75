"""Worker quality: accuracy on gold positives and negatives, time per HIT, flags.

A worker whose gold accuracy in label HITs falls under ``min_worker_accuracy`` (after
``min_gold_answers`` gold answers there; the qualification's gold is judged on its own) is
flagged; aggregation leaves their votes out, and with ``reopen_flagged`` their label assignments
are marked ``rejected`` so those HITs return to the pool for someone else.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from annotate_ui.config import AnnotateConfig
from curation.db.models import Assignment, GoldItem, Hit, HitItem, ImageClass, Vote, Worker


@dataclass(frozen=True)
class WorkerStats:
    worker_id: int
    external_id: str
    hits: int
    gold_pos_correct: int
    gold_pos_total: int
    gold_neg_correct: int
    gold_neg_total: int
    median_s: float | None
    qualified: bool | None
    flagged: bool
    flag_reason: str | None

    @property
    def accuracy(self) -> float | None:
        total = self.gold_pos_total + self.gold_neg_total
        return (self.gold_pos_correct + self.gold_neg_correct) / total if total else None

    @property
    def pos_accuracy(self) -> float | None:
        return self.gold_pos_correct / self.gold_pos_total if self.gold_pos_total else None

    @property
    def neg_accuracy(self) -> float | None:
        return self.gold_neg_correct / self.gold_neg_total if self.gold_neg_total else None


def _gold_counts(session: Session, worker_id: int | None = None) -> dict[int, tuple[int, int, int, int]]:
    """worker id -> (positives right, positives seen, negatives right, negatives seen)."""
    right = case((Vote.selected == HitItem.gold_answer, 1), else_=0)
    pos = HitItem.gold_answer.is_(True)
    stmt = (select(Vote.worker_id,
                   func.sum(case((pos, right), else_=0)), func.sum(case((pos, 1), else_=0)),
                   func.sum(case((~pos, right), else_=0)), func.sum(case((~pos, 1), else_=0)))
            .join(HitItem, HitItem.id == Vote.hit_item_id)
            .where(HitItem.role == "gold", HitItem.gold_answer.is_not(None)).group_by(Vote.worker_id))
    if worker_id is not None:
        stmt = stmt.where(Vote.worker_id == worker_id)
    return {int(w): tuple(int(x or 0) for x in rest) for w, *rest in session.execute(stmt)}


def refresh_worker(session: Session, worker: Worker, cfg: AnnotateConfig) -> None:
    """Flag ``worker`` if their gold accuracy is under the threshold (a flag is never lifted here)."""
    if worker.flagged:
        return
    correct, total = session.execute(select(func.coalesce(func.sum(Assignment.gold_correct), 0),
                                            func.coalesce(func.sum(Assignment.gold_total), 0))
                                     .where(Assignment.worker_id == worker.id,
                                            Assignment.gold_total.is_not(None),
                                            Assignment.hit_id.in_(select(Hit.id).where(Hit.kind == "label")))).one()
    if total < cfg.min_gold_answers or correct / total >= cfg.min_worker_accuracy:
        return
    pc, pt, nc, nt = _gold_counts(session, worker.id).get(worker.id, (0, 0, 0, 0))
    worker.flagged = True
    worker.flag_reason = (f"gold accuracy {correct / total:.2f} < {cfg.min_worker_accuracy:.2f} "
                          f"({pc}/{pt} positives, {nc}/{nt} negatives)")
    if cfg.reopen_flagged:
        label_hits = select(Hit.id).where(Hit.kind == "label")
        session.execute(update(Assignment).where(Assignment.worker_id == worker.id,
                                                 Assignment.status == "submitted",
                                                 Assignment.hit_id.in_(label_hits)).values(status="rejected"))
    session.flush()


def set_flag(session: Session, worker: Worker, flagged: bool, reason: str) -> None:
    """An admin flags or clears a worker by hand."""
    worker.flagged, worker.flag_reason = flagged, reason if flagged else None
    session.flush()


def worker_stats(session: Session) -> list[WorkerStats]:
    """One row per worker who ever leased a HIT (or holds a token), most HITs first."""
    gold = _gold_counts(session)
    durations: dict[int, list[float]] = {}
    hits: dict[int, int] = {}
    for worker_id, duration in session.execute(select(Assignment.worker_id, Assignment.duration_s).where(
            Assignment.status.in_(("submitted", "rejected")))):
        hits[worker_id] = hits.get(worker_id, 0) + 1
        if duration is not None:
            durations.setdefault(worker_id, []).append(float(duration))
    rows = []
    for worker in session.scalars(select(Worker).order_by(Worker.id)):
        pc, pt, nc, nt = gold.get(worker.id, (0, 0, 0, 0))
        times = durations.get(worker.id)
        rows.append(WorkerStats(worker.id, worker.external_id, hits.get(worker.id, 0), pc, pt, nc, nt,
                                statistics.median(times) if times else None, worker.qualified, worker.flagged,
                                worker.flag_reason))
    return sorted(rows, key=lambda r: (-r.hits, r.worker_id))


def gold_by_class(session: Session) -> list[tuple[str, str, int, int]]:
    """(class key, class name, gold positives, gold negatives) per class that has gold, by key."""
    stmt = (select(ImageClass.key, ImageClass.name, func.sum(case((GoldItem.answer.is_(True), 1), else_=0)),
                   func.sum(case((GoldItem.answer.is_(False), 1), else_=0)))
            .join(GoldItem, GoldItem.class_id == ImageClass.id).group_by(ImageClass.id).order_by(ImageClass.key))
    return [(key, name, int(pos), int(neg)) for key, name, pos, neg in session.execute(stmt)]
