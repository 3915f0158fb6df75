"""50 simulated workers at once through HTTP (a real waitress server), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from annotate_ui.server import running_server
from curate_demo.crowd import run_crowd
from curation.db.models import Assignment, Hit, HitItem, Vote
from curation.db.session import session_scope
from tests.annotate_ui.conftest import make_app, make_hits, new_invite

QUOTA = 3


@pytest.mark.slow
def test_fifty_concurrent_workers_never_exceed_quota_nor_lose_votes(world):
    make_hits(world, ("cat", "lynx", "boat"), workers_per_image=QUOTA)
    app = make_app(world, workers_per_image=QUOTA, min_gold_answers=10_000)
    crew = ["honest"] * 40 + ["careless"] * 6 + ["spammer"] * 4
    with running_server(app, threads=16) as url:
        result = run_crowd(url, new_invite(world), crew, world.truth, seed=3, double_submit=0.3)
    assert result.failures == []
    assert result.repeats_seen == 0
    with session_scope(world.engine) as session:
        n_hits = session.scalar(select(func.count()).select_from(Hit))
        per_hit = dict(session.execute(select(Assignment.hit_id, func.count()).where(
            Assignment.status == "submitted").group_by(Assignment.hit_id)).all())
        live = session.scalar(select(func.count()).where(Assignment.status == "leased"))
        votes = session.execute(select(Assignment.public_id, HitItem.token, Vote.selected)
                                .join(Assignment, Assignment.id == Vote.assignment_id)
                                .join(HitItem, HitItem.id == Vote.hit_item_id)).all()
        per_candidate = session.execute(select(Vote.image_id, func.count()).join(HitItem)
                                        .where(HitItem.role == "candidate").group_by(Vote.image_id)).all()
    assert n_hits == 6 and live == 0
    assert sorted(per_hit.values()) == [QUOTA] * n_hits  # every HIT filled, none beyond its quota
    assert all(n == QUOTA for _image, n in per_candidate) and len(per_candidate) == 36
    expected = {(s.assignment, token, token in s.selected) for s in result.submissions for token in s.items}
    assert len(result.submissions) == QUOTA * n_hits
    assert len(votes) == len(expected) and set(votes) == expected  # nothing lost, nothing counted twice
