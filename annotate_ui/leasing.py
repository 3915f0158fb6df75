"""Leasing HITs to workers and taking their answers, safely under concurrency.

Invariants, on SQLite and PostgreSQL alike:

* a HIT never has more live assignments (leased and unexpired, or submitted) than its quota:
  the lease locks the worker row, then the HIT row (``SELECT … FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, one savepoint per try; on SQLite the first write of the transaction takes the
  database's write lock, and the sqlite3 driver opens the transaction only at that write, so
  everything read afterwards is current), and counts under that lock;
* a worker holds at most one lease and never gets a HIT with an image they have already seen;
* a submission turns ``leased`` into ``submitted`` with one conditional UPDATE; only the request
  that wins it writes votes, and ``UNIQUE(assignment_id, hit_item_id)`` backs that up, so a double
  submit or a reload never duplicates a vote.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from annotate_ui.config import AnnotateConfig
from curation.db.models import Assignment, Hit, HitItem, Vote, Worker, utcnow


class SubmitError(ValueError):
    """A submission the app refuses (unknown items, an expired or returned lease)."""


@dataclass(frozen=True)
class SubmitOutcome:
    assignment: Assignment
    first_time: bool          # False when this was a repeat (double submit, reload)


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def live(now: dt.datetime):
    """SQL condition: an assignment that holds a slot of its HIT."""
    return or_(Assignment.status == "submitted",
               and_(Assignment.status == "leased", Assignment.lease_expires_at >= now))


def seen_images(worker_id: int):
    """Image ids in any HIT the worker was ever assigned (a subquery)."""
    return (select(HitItem.image_id).join(Assignment, Assignment.hit_id == HitItem.hit_id)
            .where(Assignment.worker_id == worker_id))


def lock_worker(session: Session, worker_id: int) -> None:
    """Take the worker's row lock; on SQLite, the database write lock (so it must come first)."""
    session.execute(update(Worker).where(Worker.id == worker_id).values(flagged=Worker.flagged))


def _lock_hit(session: Session, hit_id: int, wait: bool) -> bool | None:
    """Lock an open HIT's row: True when locked, False if gone or closed, None (PostgreSQL, not
    ``wait``) when another lease holds it right now."""
    if _is_postgres(session):
        stmt = select(Hit.id, Hit.status).where(Hit.id == hit_id)
        row = session.execute(stmt.with_for_update(skip_locked=not wait)).first()
        if row is None:
            exists_now = session.scalar(select(Hit.id).where(Hit.id == hit_id))
            return None if exists_now is not None and not wait else False
        return row.status == "open"
    result = session.execute(update(Hit).where(Hit.id == hit_id, Hit.status == "open").values(status=Hit.status))
    return bool(result.rowcount)


def current_lease(session: Session, worker_id: int, now: dt.datetime) -> Assignment | None:
    return session.scalar(select(Assignment).where(Assignment.worker_id == worker_id,
                                                   Assignment.status == "leased",
                                                   Assignment.lease_expires_at >= now)
                          .order_by(Assignment.id.desc()).limit(1))


def candidate_hits(session: Session, worker_id: int, kind: str, now: dt.datetime, limit: int = 25) -> list[int]:
    """Open HITs of ``kind`` the worker may take, fullest first (completed HITs sooner)."""
    counts = (select(Assignment.hit_id, func.count().label("n")).where(live(now))
              .group_by(Assignment.hit_id).subquery())
    other = aliased(HitItem)
    # a qualification is only ever the worker's own draw from a pool (annotate_ui.hits.draw_qualification)
    own = Hit.batch == f"q:{worker_id}" if kind == "qualification" else Hit.id.is_not(None)
    stmt = (select(Hit.id).outerjoin(counts, counts.c.hit_id == Hit.id).where(own)
            .where(Hit.kind == kind, Hit.status == "open", or_(Hit.expires_at.is_(None), Hit.expires_at > now),
                   func.coalesce(counts.c.n, 0) < Hit.assignments_per_item,
                   ~exists().where(Assignment.hit_id == Hit.id, Assignment.worker_id == worker_id),
                   ~exists().where(other.hit_id == Hit.id, other.image_id.in_(seen_images(worker_id))))
            .order_by(func.coalesce(counts.c.n, 0).desc(), Hit.id).limit(limit))
    return [int(i) for i in session.scalars(stmt)]


def _try_lease(session: Session, hit_id: int, worker_id: int, now: dt.datetime, cfg: AnnotateConfig,
               external_assignment_id: str | None, wait: bool = False) -> Assignment | bool | None:
    """A new assignment; None if the HIT cannot take this worker; False if it was busy (retry later)."""
    locked = _lock_hit(session, hit_id, wait)
    if locked is None:
        return False
    if not locked:
        return None
    session.execute(update(Assignment).where(Assignment.hit_id == hit_id, Assignment.status == "leased",
                                             Assignment.lease_expires_at < now).values(status="expired"))
    hit = session.get(Hit, hit_id)
    taken = session.scalar(select(func.count()).where(Assignment.hit_id == hit_id, live(now))) or 0
    if hit is None or taken >= hit.assignments_per_item or (hit.expires_at is not None and hit.expires_at <= now):
        return None
    overlap = session.scalar(select(exists().where(HitItem.hit_id == hit_id,
                                                   HitItem.image_id.in_(seen_images(worker_id)))))
    if overlap or session.scalar(select(exists().where(Assignment.hit_id == hit_id,
                                                       Assignment.worker_id == worker_id))):
        return None
    assignment = Assignment(public_id=secrets.token_urlsafe(12), hit_id=hit_id, worker_id=worker_id,
                            external_assignment_id=external_assignment_id, status="leased", created_at=now,
                            lease_expires_at=now + dt.timedelta(minutes=cfg.lease_minutes))
    session.add(assignment)
    session.flush()
    return assignment


def lease_next(session: Session, worker_id: int, cfg: AnnotateConfig, kind: str = "label",
               now: dt.datetime | None = None, hit_id: int | None = None,
               external_assignment_id: str | None = None) -> Assignment | None:
    """The worker's live lease, or a new one on ``hit_id`` / the best open HIT of ``kind``; None if none.

    The candidate HITs are chosen before any lock (the heaviest query), then every condition is
    checked again under the locks; commit soon after.
    """
    now = now or utcnow()
    planned = [hit_id] if hit_id is not None else candidate_hits(session, worker_id, kind, now)
    lock_worker(session, worker_id)
    worker = session.scalar(select(Worker).where(Worker.id == worker_id)
                            .execution_options(populate_existing=True))
    if worker is None or worker.flagged or (kind == "label" and worker.qualified is False):
        return None
    existing = current_lease(session, worker_id, now)
    if existing is not None:
        return existing
    assignment = _lease_from(session, planned, worker_id, now, cfg, external_assignment_id)
    if assignment is None and hit_id is None:  # the plan went stale: look again, under the lock
        fresh = [h for h in candidate_hits(session, worker_id, kind, now) if h not in planned]
        assignment = _lease_from(session, fresh, worker_id, now, cfg, external_assignment_id)
    return assignment


def _lease_from(session: Session, hit_ids: list[int], worker_id: int, now: dt.datetime, cfg: AnnotateConfig,
                external_assignment_id: str | None) -> Assignment | None:
    busy: list[int] = []
    for candidate in hit_ids:
        assignment = _attempt(session, candidate, worker_id, now, cfg, external_assignment_id, wait=False)
        if assignment is False:
            busy.append(candidate)
        elif assignment is not None:
            return assignment
    for candidate in busy:  # every free HIT was taken: wait for the ones other leases held
        assignment = _attempt(session, candidate, worker_id, now, cfg, external_assignment_id, wait=True)
        if assignment:
            return assignment
    return None


def _attempt(session: Session, hit_id: int, worker_id: int, now: dt.datetime, cfg: AnnotateConfig,
             external_assignment_id: str | None, wait: bool) -> Assignment | bool | None:
    """One lease try. On PostgreSQL inside a savepoint, so a failed try releases its HIT lock at once
    (a lease then never holds one HIT while waiting for another: no deadlock)."""
    if not _is_postgres(session):
        return _try_lease(session, hit_id, worker_id, now, cfg, external_assignment_id, wait)
    savepoint = session.begin_nested()
    result = _try_lease(session, hit_id, worker_id, now, cfg, external_assignment_id, wait)
    if isinstance(result, Assignment):
        savepoint.commit()
    else:
        savepoint.rollback()
    return result


def peek_next(session: Session, worker_id: int, kind: str = "label", now: dt.datetime | None = None) -> Hit | None:
    """The HIT the worker would most likely get next (for preloading its images); nothing is locked."""
    ids = candidate_hits(session, worker_id, kind, now or utcnow(), limit=1)
    return session.get(Hit, ids[0]) if ids else None


def submit(session: Session, assignment_id: int, selected: Iterable[str], cfg: AnnotateConfig,
           now: dt.datetime | None = None) -> SubmitOutcome:
    """Record the worker's answers (item tokens they ticked) exactly once; repeats return the first result."""
    from annotate_ui.quality import refresh_worker

    now = now or utcnow()
    chosen = set(selected)
    items = list(session.scalars(select(HitItem).join(Assignment, Assignment.hit_id == HitItem.hit_id)
                                 .where(Assignment.id == assignment_id)))
    unknown = chosen - {item.token for item in items}
    if unknown:
        raise SubmitError(f"{len(unknown)} selected item(s) are not part of this HIT")
    code = secrets.token_hex(6).upper()
    won = session.execute(update(Assignment).where(Assignment.id == assignment_id, Assignment.status == "leased",
                                                   Assignment.lease_expires_at >= now)
                          .values(status="submitted", submitted_at=now, completion_code=code)).rowcount
    assignment = session.get(Assignment, assignment_id)
    session.refresh(assignment)
    if not won:
        if assignment.status in ("submitted", "rejected"):
            return SubmitOutcome(assignment, first_time=False)
        status = "expired" if assignment.status == "leased" else assignment.status
        raise SubmitError(f"this HIT's lease has {status}; it went back to the pool and nothing was recorded")
    hit = session.get(Hit, assignment.hit_id)
    correct = total = 0
    for item in items:
        ticked = item.token in chosen
        session.add(Vote(assignment_id=assignment.id, hit_item_id=item.id, image_id=item.image_id,
                         class_id=hit.class_id, worker_id=assignment.worker_id, selected=ticked, created_at=now))
        if item.role == "gold" and item.gold_answer is not None:
            total += 1
            correct += int(ticked == item.gold_answer)
    assignment.gold_correct, assignment.gold_total = correct, total
    assignment.duration_s = max(0.0, (now - assignment.created_at).total_seconds())
    session.flush()
    worker = session.get(Worker, assignment.worker_id)
    if hit.kind == "qualification":
        worker.qualified = total > 0 and correct / total >= cfg.qualification_pass
    refresh_worker(session, worker, cfg)
    return SubmitOutcome(assignment, first_time=True)


def return_assignment(session: Session, assignment_id: int) -> bool:
    """The worker gives a leased HIT back; its slot returns to the pool at once."""
    result = session.execute(update(Assignment).where(Assignment.id == assignment_id,
                                                      Assignment.status == "leased").values(status="returned"))
    return bool(result.rowcount)
