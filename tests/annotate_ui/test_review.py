"""The review pass: queue, decisions, relabel by search, undo, own votes excluded, disagreements."""

from __future__ import annotations

import re

from sqlalchemy import select

from annotate_ui import reviewing as reviews
from curation.db.models import AggregatedLabel, Review, SourceRecord, User, Vote, Worker
from curation.db.session import session_scope
from tests.annotate_ui.conftest import add_user, csrf_of, login, make_app


def accepted(world, n: int, key: str = "cat") -> list[int]:
    """Mark the first ``n`` candidates of ``key`` accepted by aggregation; returns their image ids."""
    with session_scope(world.engine) as session:
        ids = list(session.scalars(select(SourceRecord.image_id).where(SourceRecord.class_id == world.class_ids[key])
                                   .order_by(SourceRecord.id).limit(n)))
        for image_id in ids:
            session.add(AggregatedLabel(image_id=image_id, class_id=world.class_ids[key], method="frequency",
                                        frequency=0.8, n_votes=5, accepted=True))
    return ids


def decide(client, page: str, decision: str, **extra: str):
    form = {"csrf_token": csrf_of(page), "decision": decision,
            "image_id": re.search(r'name="image_id" value="(\d+)"', page).group(1),
            "class_id": re.search(r'name="class_id" value="(\d+)"', page).group(1), **extra}
    return client.post("/review/decide", data=form, follow_redirects=True).get_data(as_text=True)


def test_review_decisions_relabel_and_undo(world):
    ids = accepted(world, 4)
    add_user(world, "rev")
    client = make_app(world).test_client()
    login(client, "rev")
    page = client.get("/review").get_data(as_text=True)
    assert 'id="remaining-count">4<' in page and '<option value="lynx (lynx)">' in page
    page = decide(client, page, "accept")
    page = decide(client, page, "relabel", new_class="lynx (lynx)")
    assert "Recorded: relabel as lynx" in page
    page = decide(client, page, "relabel", new_class="no such class")
    assert "Pick the new class" in page
    assert "Tick the classes" in decide(client, page, "multi")  # several classes, but none picked
    page = decide(client, page, "multi", classes=[str(world.class_ids["cat"]), str(world.class_ids["lynx"])])
    assert "Recorded: multi: cat, lynx" in page
    page = client.post("/review/undo", data={"csrf_token": csrf_of(page)}, follow_redirects=True).get_data(as_text=True)
    assert "Undid your last decision" in page and f'data-image="{ids[2]}"' in page
    page = decide(client, page, "multi", classes=[str(world.class_ids["boat"]), str(world.class_ids["cat"])],
                  note="a cat in a boat")
    page = decide(client, page, "accept")
    assert 'id="queue-empty"' in page
    with session_scope(world.engine) as session:
        multi = session.scalar(select(Review).where(Review.image_id == ids[2], Review.current.is_(True)))
        assert (multi.decision, multi.classes, multi.note) == ("multi", "cat,boat", "a cat in a boat")
    with session_scope(world.engine) as session:
        current = {r.image_id: (r.decision, r.class_id) for r in session.scalars(
            select(Review).where(Review.current.is_(True)))}
        undone = session.scalars(select(Review.decision).where(Review.current.is_(False))).all()
    cat, lynx = world.class_ids["cat"], world.class_ids["lynx"]
    assert current == {ids[0]: ("accept", cat), ids[1]: ("relabel", lynx), ids[2]: ("multi", None),
                       ids[3]: ("accept", cat)}
    assert undone == ["multi"]


def test_relabel_forgives_typos_and_asks_when_unclear(world):
    accepted(world, 3)
    add_user(world, "rev")
    client = make_app(world).test_client()
    login(client, "rev")
    page = client.get("/review").get_data(as_text=True)
    assert "Recorded: relabel as lynx" in decide(client, page, "relabel", new_class="  LNYX ")
    page = client.get("/review").get_data(as_text=True)
    assert "Recorded: relabel as boat" in decide(client, page, "relabel", new_class="bota")
    page = client.get("/review").get_data(as_text=True)
    assert "Pick the new class" in decide(client, page, "relabel", new_class="zzzzzz")
    with session_scope(world.engine) as session:
        decided = session.scalars(select(Review.class_id).where(Review.current.is_(True)).order_by(Review.id)).all()
    assert decided == [world.class_ids["lynx"], world.class_ids["boat"]]


def test_reviewer_never_reviews_an_image_they_voted_on(world):
    ids = accepted(world, 2)
    with session_scope(world.engine) as session:
        worker = Worker(external_id="also-a-worker")
        session.add(worker)
        session.flush()
        from curation.db.models import Assignment, Hit, HitItem, utcnow

        hit = Hit(public_id="h1", class_id=world.class_ids["cat"])
        session.add(hit)
        session.flush()
        item = HitItem(hit_id=hit.id, image_id=ids[0], position=0, token="tok")
        assignment = Assignment(public_id="a1", hit_id=hit.id, worker_id=worker.id, status="submitted",
                                lease_expires_at=utcnow())
        session.add_all([item, assignment])
        session.flush()
        session.add(Vote(assignment_id=assignment.id, hit_item_id=item.id, image_id=ids[0],
                         class_id=world.class_ids["cat"], worker_id=worker.id, selected=True))
    add_user(world, "dual", worker="also-a-worker")
    with session_scope(world.engine) as session:
        user = session.scalar(select(User).where(User.username == "dual"))
        queue = reviews.queue(session, user, "frequency", 1)
        assert [q.image_id for q in queue] == [ids[1]]
        assert not reviews.may_review(session, user, ids[0])
    client = make_app(world).test_client()
    login(client, "dual")
    page = client.get("/review").get_data(as_text=True)
    forged = page.replace(f'name="image_id" value="{ids[1]}"', f'name="image_id" value="{ids[0]}"')
    assert "not in your review queue" in decide(client, forged, "accept")  # never offered, so refused


def test_disagreement_between_reviewers_reaches_the_admin(world):
    ids = accepted(world, 1)
    add_user(world, "ann")
    add_user(world, "ben")
    add_user(world, "boss", "admin")
    app = make_app(world, reviews_per_image=2)
    for name, decision in (("ann", "accept"), ("ben", "reject")):
        client = app.test_client()
        login(client, name)
        decide(client, client.get("/review").get_data(as_text=True), decision)
    with session_scope(world.engine) as session:
        assert reviews.disagreeing_images(session) == ids
    admin = app.test_client()
    login(admin, "boss")
    page = admin.get("/admin").get_data(as_text=True)
    assert re.search(r"ann: accept \(cat\); ben: reject", page)
