"""HIT composition, gold choice, filters respected, and the hits / gold CLI."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

from annotate_ui.config import load_config
from annotate_ui.hits import create_hits, create_qualification, gold_from_reviews, most_similar_class
from curation.db.models import FilterDecision, GoldItem, Hit, HitItem, ImageClass, Review, User
from curation.db.session import session_scope
from tests.annotate_ui.conftest import build_world


def test_default_hit_is_42_candidates_3_gold_positives_3_similar_negatives(engine, tmp_path):
    world = build_world(engine, tmp_path / "store", candidates=44, gold=8)
    with session_scope(engine) as session:
        cat, lynx = session.get(ImageClass, world.class_ids["cat"]), session.get(ImageClass, world.class_ids["lynx"])
        assert most_similar_class(session, cat).key == "lynx"  # shares "feline" with cat, unlike boat
        plan = create_hits(session, cat, load_config(), np.random.default_rng(0), reward_note="0.40 USD")
        assert [len(h.items) for h in plan.hits] == [48, 2 + 6]
        first = plan.hits[0]
        roles = [(i.role, i.gold_answer) for i in first.items]
        assert roles.count(("candidate", None)) == 42 and roles.count(("gold", True)) == 3
        assert roles.count(("gold", False)) == 3
        negatives = {i.image_id for i in first.items if i.gold_answer is False}
        lynx_gold = set(session.scalars(select(GoldItem.image_id).where(GoldItem.class_id == lynx.id)))
        assert negatives <= lynx_gold
        examples = set(session.scalars(select(GoldItem.image_id).where(GoldItem.class_id == cat.id)
                                       .order_by(GoldItem.id).limit(3)))
        hidden = {i.image_id for h in plan.hits for i in h.items if i.role == "gold"}
        assert not examples & hidden  # example images are never hidden gold
        gold_positions = [i.position for i in first.items if i.role == "gold"]
        assert gold_positions != list(range(42, 48))  # shuffled into the grid
        assert len({i.token for i in first.items}) == 48 and first.assignments_per_item == 5
        assert first.reward_note == "0.40 USD"


def test_filtered_out_and_used_candidates_are_skipped(engine, tmp_path):
    world = build_world(engine, tmp_path / "store", candidates=10, gold=5)
    cfg = load_config(None, candidates_per_hit=4, gold_positives_per_hit=1, gold_negatives_per_hit=1)
    with session_scope(engine) as session:
        cat = session.get(ImageClass, world.class_ids["cat"])
        from annotate_ui.hits import candidate_images

        images = candidate_images(session, cat)
        session.add(FilterDecision(image_id=images[0], filter="quality", verdict="reject", reason="too-small"))
        session.add(FilterDecision(image_id=images[1], filter="quality", verdict="reject", current=False))
        session.add(FilterDecision(image_id=images[2], filter="dedup", verdict="pass"))
        session.flush()
        plan = create_hits(session, cat, cfg, np.random.default_rng(0))
        used = {i.image_id for h in plan.hits for i in h.items if i.role == "candidate"}
        assert images[0] not in used and {images[1], images[2]} <= used and len(used) == 9
        assert create_hits(session, cat, cfg, np.random.default_rng(0)).hits == []  # nothing twice


def test_qualification_is_a_pool_and_each_worker_draws_their_own(engine, tmp_path):
    from itertools import product

    from annotate_ui.hits import draw_qualification, guess_pass_probability
    from curation.db.models import Worker

    world = build_world(engine, tmp_path / "store", candidates=2, gold=8)
    cfg = load_config(qualification_positives=2, qualification_negatives=2)
    with session_scope(engine) as session:
        cat = session.get(ImageClass, world.class_ids["cat"])
        pool = create_qualification(session, cat, cfg, np.random.default_rng(0))
        assert pool.kind == "qualification" and {i.role for i in pool.items} == {"gold"}
        pool_images = {i.image_id: i.gold_answer for i in pool.items}
        assert sum(pool_images.values()) == 5 and len(pool_images) == 13  # 8 gold - 3 examples; 8 lynx negatives
        draws = []
        for k in range(8):
            worker = Worker(external_id=f"w{k}")
            session.add(worker)
            session.flush()
            hit = draw_qualification(session, pool, worker.id, cfg, np.random.default_rng(k))
            items = sorted(hit.items, key=lambda i: i.position)
            assert all(pool_images[i.image_id] is i.gold_answer for i in items)
            assert sorted(i.gold_answer for i in items) == [False, False, True, True]
            assert hit.assignments_per_item == 1
            assert draw_qualification(session, pool, worker.id, cfg, np.random.default_rng(99)).id == hit.id
            draws.append(tuple(i.image_id for i in items))
        assert len({frozenset(d) for d in draws}) > 1 and len(set(draws)) == len(draws)
    # a fair coin per image passes 14 of 16 with (C(16,14) + C(16,15) + 1) / 2**16, counted here by brute force
    passing = sum(1 for ticks in product((0, 1), repeat=16) if sum(ticks) >= 14)
    assert guess_pass_probability(16, 0.85) == passing / 2 ** 16 == 137 / 65536


def test_a_qualification_pool_smaller_than_a_draw_is_refused(engine, tmp_path):
    from curation.errors import CurateError

    world = build_world(engine, tmp_path / "store", candidates=2, gold=8)
    with session_scope(engine) as session:
        cat = session.get(ImageClass, world.class_ids["cat"])
        with pytest.raises(CurateError, match="larger pool"):
            create_qualification(session, cat, load_config(), np.random.default_rng(0))


def test_gold_from_reviews_skips_disputed_images(engine, tmp_path):
    world = build_world(engine, tmp_path / "store", candidates=3, gold=0)
    cat_id = world.class_ids["cat"]
    with session_scope(engine) as session:
        images = list(session.scalars(select(HitItem.image_id)))  # none yet
        from curation.db.models import SourceRecord

        images = list(session.scalars(select(SourceRecord.image_id).where(SourceRecord.class_id == cat_id)
                                      .order_by(SourceRecord.id)))
        a, b = User(username="a", password_hash="x"), User(username="b", password_hash="x")
        session.add_all([a, b])
        session.flush()
        session.add_all([Review(image_id=images[0], user_id=a.id, decision="accept", class_id=cat_id,
                                proposed_class_id=cat_id),
                         Review(image_id=images[1], user_id=a.id, decision="reject", proposed_class_id=cat_id),
                         Review(image_id=images[2], user_id=a.id, decision="accept", class_id=cat_id,
                                proposed_class_id=cat_id),
                         Review(image_id=images[2], user_id=b.id, decision="multi", proposed_class_id=cat_id)])
        session.flush()
        assert gold_from_reviews(session) == 2
        gold = dict(session.execute(select(GoldItem.image_id, GoldItem.answer)).all())
        assert gold == {images[0]: True, images[1]: False}


def test_cli_gold_import_hits_create_and_list(workspace, cli, tmp_path, image_bytes):
    for name, seeds in (("pos", range(5)), ("neg", range(100, 105))):
        folder = tmp_path / name
        folder.mkdir()
        for seed in seeds:
            (folder / f"{seed}.jpg").write_bytes(image_bytes(seed))
    (tmp_path / "pos" / "junk.jpg").write_bytes(b"not an image")
    out = cli("gold", "import", tmp_path / "pos", "--class", "n01443537").output
    assert "5 new" in out and "not-an-image: 1" in out
    assert "5 new" in cli("gold", "import", tmp_path / "neg", "--class", "goldfish", "--negative").output
    cands = tmp_path / "cands" / "goldfish"
    cands.mkdir(parents=True)
    for seed in range(200, 210):
        (cands / f"{seed}.jpg").write_bytes(image_bytes(seed))
    cli("import", tmp_path / "cands", "--label-from-folder")
    out = cli("hits", "create", "--class", "goldfish", "--candidates", "4", "--gold-positives", "1",
              "--gold-negatives", "1", "--workers", "3", "--reward", "0.10 USD", "--expires-days", "3").output
    assert "created 3 HITs for 1 classes, 3 workers per image" in out
    assert "larger pool" in cli("hits", "create", "--class", "goldfish", "--qualification", ok=False).output
    with open(workspace / "curate.toml", "a") as fh:
        fh.write("\n[annotate]\nqualification_positives = 1\nqualification_negatives = 1\n"
                 "qualification_pass = 1.0\n")
    out = cli("hits", "create", "--class", "goldfish", "--qualification").output
    # 2 positives left (5 imported, 3 shown as examples), 5 negatives; a guess passes 2 of 2 with p = 1/4
    assert "qualification pool" in out and "7 gold images" in out and "probability 25.00%" in out
    listing = cli("hits", "list").output
    assert "4 HITs (3 label, 1 qualification)" in listing and "/task?hitId=" in listing
    assert "goldfish" in cli("gold", "list").output
    from curation.db.session import connect

    engine = connect(__import__("os").environ["CURATE_DB"])
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Hit)) == 4
    engine.dispose()
