"""Aggregation: selection frequency, crowd-kit posteriors, the decision rule, flagged workers left out."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from annotate_ui import leasing
from annotate_ui.accounts import create_worker_token
from annotate_ui.aggregate import METHODS, DecisionRule, aggregate
from curation.db.models import AggregatedLabel, Hit, HitItem, Image, Worker
from curation.db.session import session_scope
from tests.annotate_ui.conftest import make_hits


def crowd_votes(world, cfg, n_workers: int, wrong_by: dict[int, float]) -> None:
    """``n_workers`` label every cat HIT; worker k answers a ``wrong_by[k]`` share of items wrongly."""
    for k in range(n_workers):
        with session_scope(world.engine) as session:
            worker_id = create_worker_token(session, f"w{k}").id
        while True:
            with session_scope(world.engine) as session:
                assignment = leasing.lease_next(session, worker_id, cfg)
                if assignment is None:
                    break
                items = session.execute(select(HitItem.token, Image.sha256, HitItem.position).join(Image)
                                        .where(HitItem.hit_id == assignment.hit_id)).all()
                chosen = [t for t, sha, pos in items
                          if world.truth(sha, "cat") != ((pos * 7 + k) % 100 < wrong_by.get(k, 0) * 100)]
                leasing.submit(session, assignment.id, chosen, cfg)


def rows(world, method: str) -> dict[str, AggregatedLabel]:
    with session_scope(world.engine) as session:
        found = session.execute(select(Image.sha256, AggregatedLabel).join(Image)
                                .where(AggregatedLabel.method == method)).all()
        return {sha: label for sha, label in found}


def test_frequency_posterior_and_rule(world, small_cfg):
    cfg = small_cfg.__class__(**{**small_cfg.__dict__, "workers_per_image": 5, "min_gold_answers": 1000})
    make_hits(world, ("cat",), workers_per_image=5)
    crowd_votes(world, cfg, 5, {4: 1.0})  # four careful workers, one who answers everything wrongly
    with session_scope(world.engine) as session:
        summary = aggregate(session, DecisionRule(0.7, 5, 0.9), "dawid-skene")
    assert summary.tasks == 12 and summary.votes == 5 * 16 and summary.excluded_votes == 0
    freq, model = rows(world, "frequency"), rows(world, "dawid-skene")
    for sha, label in freq.items():
        assert label.n_votes == 5
        assert label.frequency == pytest.approx(0.8 if world.truth(sha, "cat") else 0.2)
        assert label.accepted == world.truth(sha, "cat")
        assert (model[sha].posterior > 0.9) == world.truth(sha, "cat") == model[sha].accepted
    with session_scope(world.engine) as session:  # a stricter rule, rerun in place: no duplicate rows
        aggregate(session, DecisionRule(0.9, 5, 0.9), "dawid-skene")
        assert session.scalar(select(func.count()).select_from(AggregatedLabel)) == 24
        assert session.scalar(select(func.count()).where(AggregatedLabel.method == "frequency",
                                                         AggregatedLabel.accepted.is_(True))) == 0


def test_flagged_workers_votes_are_left_out(world, small_cfg):
    cfg = small_cfg.__class__(**{**small_cfg.__dict__, "workers_per_image": 3, "min_gold_answers": 1000})
    make_hits(world, ("cat",), workers_per_image=3)
    crowd_votes(world, cfg, 3, {2: 1.0})
    with session_scope(world.engine) as session:
        session.execute(update(Worker).where(Worker.external_id == "w2").values(flagged=True))
        summary = aggregate(session, DecisionRule(0.7, 2, 0.9), "majority")
    assert summary.excluded_votes == 2 * 8
    for sha, label in rows(world, "frequency").items():
        assert label.n_votes == 2 and label.frequency == (1.0 if world.truth(sha, "cat") else 0.0)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_runs(sqlite_world, small_cfg, method):
    cfg = small_cfg.__class__(**{**small_cfg.__dict__, "min_gold_answers": 1000})
    make_hits(sqlite_world, ("cat",))
    crowd_votes(sqlite_world, cfg, 2, {})
    with session_scope(sqlite_world.engine) as session:
        summary = aggregate(session, DecisionRule(0.7, 2, 0.5), method)
    assert summary.tasks == 12
    model = rows(sqlite_world, method)
    assert all(label.accepted == sqlite_world.truth(sha, "cat") for sha, label in model.items())


def test_unknown_method_lists_valid_ones(sqlite_world):
    with session_scope(sqlite_world.engine) as session, pytest.raises(ValueError, match="dawid-skene"):
        aggregate(session, DecisionRule(), "wawa")


def test_cli_aggregate(workspace, cli):
    from curation.db.session import connect
    from tests.annotate_ui.conftest import build_world, load_config

    import os

    engine = connect(os.environ["CURATE_DB"])
    world = build_world(engine, workspace / "store")
    make_hits(world, ("cat",), workers_per_image=2)
    crowd_votes(world, load_config(None, workers_per_image=2, min_gold_answers=1000), 2, {})
    out = cli("aggregate", "--class", "cat", "--class-set", "toy", "--min-votes", "2", "--method", "glad").output
    assert "12 images from 32 votes" in out and "by glad posterior" in out
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Hit)) == 2
    engine.dispose()
    assert "unknown method" in cli("aggregate", "--method", "wawa", ok=False).output
