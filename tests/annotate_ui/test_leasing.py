"""Leasing and submission on SQLite and PostgreSQL: quotas, expiry, no repeats, idempotent submits."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from annotate_ui import leasing
from annotate_ui.accounts import create_worker_token
from curation.db.models import Assignment, Hit, HitItem, Vote, Worker, utcnow
from curation.db.session import session_scope
from tests.annotate_ui.conftest import make_hits


def new_worker(engine, name: str) -> int:
    with session_scope(engine) as session:
        return create_worker_token(session, name).id


def lease(engine, worker_id: int, cfg, now=None, kind: str = "label"):
    with session_scope(engine) as session:
        return leasing.lease_next(session, worker_id, cfg, kind=kind, now=now)


def submit(engine, assignment_id: int, tokens, cfg, now=None):
    with session_scope(engine) as session:
        return leasing.submit(session, assignment_id, tokens, cfg, now=now)


def tokens_of(engine, hit_id: int, gold: bool | None = None) -> list[str]:
    """The HIT's item tokens in order; with ``gold``, only its gold items of that answer."""
    stmt = select(HitItem.token).where(HitItem.hit_id == hit_id).order_by(HitItem.position)
    if gold is not None:
        stmt = stmt.where(HitItem.gold_answer.is_(gold))
    with session_scope(engine) as session:
        return list(session.scalars(stmt))


def test_quota_is_never_exceeded_and_one_lease_per_worker(world, small_cfg):
    make_hits(world, ("cat",))  # 12 candidates / 6 per HIT = 2 HITs, 2 workers each
    workers = [new_worker(world.engine, f"w{i}") for i in range(6)]
    leased = [lease(world.engine, w, small_cfg) for w in workers]
    assert sum(a is not None for a in leased) == 4
    assert lease(world.engine, workers[0], small_cfg).id == leased[0].id  # the same live lease, not a second one
    with session_scope(world.engine) as session:
        per_hit = session.execute(select(Assignment.hit_id, func.count()).group_by(Assignment.hit_id)).all()
    assert sorted(n for _h, n in per_hit) == [2, 2]


def test_expired_lease_returns_to_pool_and_late_submit_is_refused(world, small_cfg):
    make_hits(world, ("cat",), candidates_per_hit=12)  # one HIT of 14 items, 2 workers
    a, b, c = (new_worker(world.engine, n) for n in "abc")
    first = lease(world.engine, a, small_cfg)
    lease(world.engine, b, small_cfg)
    assert lease(world.engine, c, small_cfg) is None
    later = utcnow() + dt.timedelta(minutes=small_cfg.lease_minutes + 1)
    taken = lease(world.engine, c, small_cfg, now=later)
    assert taken is not None and taken.hit_id == first.hit_id
    with pytest.raises(leasing.SubmitError, match="expired"):
        submit(world.engine, first.id, [], small_cfg, now=later)


def test_double_submit_writes_votes_once(world, small_cfg):
    make_hits(world, ("cat",))
    worker = new_worker(world.engine, "w")
    assignment = lease(world.engine, worker, small_cfg)
    tokens = tokens_of(world.engine, assignment.hit_id)
    first = submit(world.engine, assignment.id, tokens[:3], small_cfg)
    again = submit(world.engine, assignment.id, tokens[3:], small_cfg)
    assert first.first_time and not again.first_time
    assert again.assignment.completion_code == first.assignment.completion_code
    with session_scope(world.engine) as session:
        votes = session.execute(select(HitItem.token, Vote.selected).join(Vote, Vote.hit_item_id == HitItem.id)).all()
    assert len(votes) == len(tokens)
    assert {t for t, s in votes if s} == set(tokens[:3])


def test_submit_refuses_items_of_another_hit(world, small_cfg):
    make_hits(world, ("cat",))
    worker = new_worker(world.engine, "w")
    assignment = lease(world.engine, worker, small_cfg)
    with session_scope(world.engine) as session:
        other = session.scalar(select(HitItem.token).where(HitItem.hit_id != assignment.hit_id).limit(1))
    with pytest.raises(leasing.SubmitError, match="not part of this HIT"):
        submit(world.engine, assignment.id, [other], small_cfg)


def test_no_worker_sees_an_image_twice(world, small_cfg):
    # Two classes whose HITs share gold (cat's positives are lynx's negatives and the other way).
    make_hits(world, ("cat", "lynx"), gold_positives_per_hit=3, gold_negatives_per_hit=3)
    worker = new_worker(world.engine, "w")
    seen: list[int] = []
    while (assignment := lease(world.engine, worker, small_cfg)) is not None:
        with session_scope(world.engine) as session:
            seen += list(session.scalars(select(HitItem.image_id).where(HitItem.hit_id == assignment.hit_id)))
        submit(world.engine, assignment.id, [], small_cfg)
    assert len(seen) == len(set(seen)) and seen


def lease_qualification(engine, worker_id: int, cfg):
    import numpy as np

    from annotate_ui.hits import draw_qualification, qualification_pool

    with session_scope(engine) as session:
        assert leasing.lease_next(session, worker_id, cfg, kind="qualification") is None  # never the pool itself
        mine = draw_qualification(session, qualification_pool(session), worker_id, cfg, np.random.default_rng(0))
        return leasing.lease_next(session, worker_id, cfg, kind="qualification", hit_id=mine.id)


def test_failed_qualification_is_refused_label_hits_but_not_flagged(world, small_cfg):
    make_hits(world, ("cat",), qualification="cat")
    worker = new_worker(world.engine, "spammer")
    qual = lease_qualification(world.engine, worker, small_cfg)
    wrong = tokens_of(world.engine, qual.hit_id, gold=False)
    submit(world.engine, qual.id, wrong, small_cfg)  # ticks exactly the negatives: every answer wrong
    with session_scope(world.engine) as session:
        spammer = session.get(Worker, worker)
        assert spammer.qualified is False and not spammer.flagged  # the qualification is judged on its own
    assert lease(world.engine, worker, small_cfg) is None


def test_qualification_gold_does_not_count_toward_the_flag_minimum(engine, tmp_path, small_cfg):
    from tests.annotate_ui.conftest import build_world

    world = build_world(engine, tmp_path / "store", gold=40)  # enough gold that qualification and HITs differ
    make_hits(world, ("cat",), qualification="cat")
    worker = new_worker(world.engine, "new")
    qual = lease_qualification(world.engine, worker, small_cfg)
    right = tokens_of(world.engine, qual.hit_id, gold=True)
    submit(world.engine, qual.id, right, small_cfg)  # 4 of 4 gold right
    label = lease(world.engine, worker, small_cfg)
    wrong = tokens_of(world.engine, label.hit_id, gold=False)
    submit(world.engine, label.id, wrong, small_cfg)  # 0 of 2 gold right: 2 label gold < min_gold_answers 4
    with session_scope(world.engine) as session:
        # counting the qualification, 4/6 = 0.67 after 6 gold answers would have flagged them
        assert session.get(Worker, worker).flagged is False


def test_flagged_worker_is_refused(world, small_cfg):
    make_hits(world, ("cat",))
    worker = new_worker(world.engine, "spammer")
    with session_scope(world.engine) as session:
        session.get(Worker, worker).flagged = True
    assert lease(world.engine, worker, small_cfg) is None


def test_reopen_after_flagging_frees_label_slots(world, small_cfg):
    make_hits(world, ("cat",), candidates_per_hit=12, workers_per_image=1)
    worker = new_worker(world.engine, "careless")
    assignment = lease(world.engine, worker, small_cfg)
    wrong = tokens_of(world.engine, assignment.hit_id, gold=False)
    submit(world.engine, assignment.id, wrong, small_cfg.__class__(**{**small_cfg.__dict__, "min_gold_answers": 2}))
    with session_scope(world.engine) as session:
        assert session.get(Assignment, assignment.id).status == "rejected"
        assert session.scalar(select(func.count()).select_from(Vote)) == 14  # kept, just not counted
    assert lease(world.engine, new_worker(world.engine, "next"), small_cfg) is not None


def test_expired_hit_is_not_leased(world, small_cfg):
    make_hits(world, ("cat",))
    with session_scope(world.engine) as session:
        for hit in session.scalars(select(Hit)):
            hit.expires_at = utcnow() - dt.timedelta(seconds=1)
    assert lease(world.engine, new_worker(world.engine, "w"), small_cfg) is None
