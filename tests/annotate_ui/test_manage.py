"""Admin pages for invites, HITs, accounts and a worker's history: role checks, CSRF, validation."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from annotate_ui.history import agreement
from curation.db.models import Assignment, Hit, HitItem, Invite, User, Vote, Worker
from curation.db.session import session_scope
from tests.annotate_ui.conftest import add_user, csrf_of, join, login, make_app, make_hits, new_invite
from tests.annotate_ui.test_views import hit_data

PAGES = ["/admin/invites", "/admin/hits", "/admin/users", "/admin/workers/1"]
POSTS = ["/admin/invites", "/admin/invites/1/revoke", "/admin/hits", "/admin/users", "/admin/users/1/active"]


def admin_client(world, **overrides):
    add_user(world, "root", "admin")
    client = make_app(world, **overrides).test_client()
    assert login(client, "root").status_code == 302
    return client, csrf_of(client.get("/admin/invites").get_data(as_text=True))


def flash_of(response) -> str:
    """The newest flashed message of the page."""
    found = re.findall(r"<li>(.*?)</li>", response.get_data(as_text=True).split('class="flash"', 1)[-1], re.S)
    return found[-1] if 'class="flash"' in response.get_data(as_text=True) and found else ""


def test_only_admins_reach_the_pages_and_every_post_needs_csrf(sqlite_world):
    world = sqlite_world
    with session_scope(world.engine) as session:
        session.add(Worker(external_id="w1"))
    add_user(world, "rev")
    anonymous = make_app(world).test_client()
    for path in PAGES:
        assert anonymous.get(path).status_code == 302
    reviewer = make_app(world).test_client()
    login(reviewer, "rev")
    token = csrf_of(reviewer.get("/review").get_data(as_text=True))
    for path in PAGES:
        assert reviewer.get(path).status_code == 403
    for path in POSTS:
        assert reviewer.post(path, data={"csrf_token": token}).status_code == 403
    admin, _ = admin_client(world)
    for path in PAGES:
        assert admin.get(path).status_code == 200
    for path in POSTS:
        assert admin.post(path, data={"uses": "1"}).status_code == 400  # no CSRF token
    with session_scope(world.engine) as session:
        assert session.scalar(select(func.count()).select_from(Invite)) == 0


def test_invites_are_made_validated_and_revoked_from_the_page(sqlite_world):
    world = sqlite_world
    client, token = admin_client(world, base_url="https://label.example/")
    made = client.post("/admin/invites", data={"csrf_token": token, "uses": "2", "days": "7", "note": "pilot"},
                       follow_redirects=True)
    link = re.search(r"https://label\.example/join/([\w-]{20,})", flash_of(made))
    assert link, flash_of(made)
    for bad in ({"days": "0"}, {"days": "-2"}, {"uses": "0"}, {"uses": "many"}, {"days": "nan"}):
        refused = client.post("/admin/invites", data={"csrf_token": token, **bad}, follow_redirects=True)
        assert flash_of(refused).startswith("No invite made")
    with session_scope(world.engine) as session:
        invite = session.scalar(select(Invite))
        assert session.scalar(select(func.count()).select_from(Invite)) == 1
        assert (invite.uses_left, invite.note, invite.code) == (2, "pilot", link.group(1))
    worker = make_app(world).test_client()
    join(worker, link.group(1))  # works before ...
    client.post(f"/admin/invites/{invite.id}/revoke", data={"csrf_token": token})
    late = make_app(world).test_client()
    landing = late.get(f"/join/{link.group(1)}").get_data(as_text=True)
    assert late.post(f"/join/{link.group(1)}", data={"csrf_token": csrf_of(landing)}).status_code == 404  # ... not after
    assert client.post("/admin/invites/99999999999/revoke", data={"csrf_token": token}).status_code == 404


def test_invite_links_use_the_address_the_proxy_reports_without_base_url(sqlite_world):
    client, token = admin_client(sqlite_world, trusted_proxies=1)
    made = client.post("/admin/invites", data={"csrf_token": token}, follow_redirects=True,
                       headers={"X-Forwarded-Host": "label.example:8443", "X-Forwarded-Proto": "https"})
    assert re.search(r"https://label\.example:8443/join/[\w-]{20,}", flash_of(made)), flash_of(made)


def test_hits_and_a_qualification_pool_are_made_for_a_class(sqlite_world):
    world = sqlite_world
    client, token = admin_client(world)
    cat = world.class_ids["cat"]
    made = client.post("/admin/hits", data={"csrf_token": token, "class_id": cat, "workers": "4", "max_hits": "1",
                                            "reward": "0.10 USD"}, follow_redirects=True)
    assert "Made 1 HITs for cat from 12 candidates" in flash_of(made)
    pool = client.post("/admin/hits", data={"csrf_token": token, "class_id": cat, "qualification": "1"},
                       follow_redirects=True)
    assert "Qualification pool for cat" in flash_of(pool)
    for bad in ({"class_id": "x"}, {"class_id": "999999"}, {"class_id": cat, "workers": "0"}):
        assert flash_of(client.post("/admin/hits", data={"csrf_token": token, **bad},
                                    follow_redirects=True)).startswith("No HITs made")
    with session_scope(world.engine) as session:
        hits = list(session.scalars(select(Hit).order_by(Hit.id)))
        assert [(h.kind, h.assignments_per_item, h.reward_note) for h in hits][0] == ("label", 4, "0.10 USD")
        assert [h.kind for h in hits] == ["label", "qualification"]
        assert session.scalar(select(func.count()).where(HitItem.hit_id == hits[0].id, HitItem.role == "candidate")) == 6
    assert hits[0].public_id in client.get("/admin/hits").get_data(as_text=True)


def test_accounts_are_created_and_disabling_ends_their_sessions(sqlite_world):
    world = sqlite_world
    client, token = admin_client(world)
    made = client.post("/admin/users", data={"csrf_token": token, "username": "newrev",
                                             "password": "long enough secret", "role": "reviewer"},
                       follow_redirects=True)
    assert "reviewer newrev created" in flash_of(made)
    weak = client.post("/admin/users", data={"csrf_token": token, "username": "weak", "password": "short"},
                       follow_redirects=True)
    assert "at least 10" in flash_of(weak)
    reviewer = make_app(world).test_client()
    assert login(reviewer, "newrev", "long enough secret").status_code == 302
    assert reviewer.get("/review").status_code == 200
    with session_scope(world.engine) as session:
        new_id = session.scalar(select(User.id).where(User.username == "newrev"))
        root_id = session.scalar(select(User.id).where(User.username == "root"))
    client.post(f"/admin/users/{new_id}/active", data={"csrf_token": token, "active": "0"})
    assert reviewer.get("/review").status_code == 302  # their open session ended
    assert login(reviewer, "newrev", "long enough secret").status_code == 401
    mine = client.post(f"/admin/users/{root_id}/active", data={"csrf_token": token, "active": "0"},
                       follow_redirects=True)
    assert "cannot disable your own" in flash_of(mine)
    client.post(f"/admin/users/{new_id}/active", data={"csrf_token": token, "active": "1"})
    assert login(reviewer, "newrev", "long enough secret").status_code == 302


def _vote(session, worker_id: int, item: HitItem, selected: bool, assignment_id: int) -> None:
    session.add(Vote(assignment_id=assignment_id, hit_item_id=item.id, image_id=item.image_id,
                     class_id=item.hit.class_id, worker_id=worker_id, selected=selected))


def test_agreement_is_with_the_other_workers_majority(sqlite_world):
    world = sqlite_world
    make_hits(world, ("cat",), workers_per_image=4)
    with session_scope(world.engine) as session:
        hit = session.scalar(select(Hit).order_by(Hit.id))
        items = [i for i in sorted(hit.items, key=lambda i: i.position) if i.role == "candidate"][:4]
        workers = [Worker(external_id=f"a{k}") for k in range(4)]
        session.add_all(workers)
        session.flush()
        # rows: items; columns: workers 0..3; worker 0 is judged against 1..3
        table = [(True, True, True, False),    # others 2 of 3 yes -> yes: agrees
                 (True, False, False, True),   # others 1 of 3 -> no: disagrees
                 (False, False, False, False),  # others 0 of 3 -> no: agrees
                 (False, True, True, True)]    # others 3 of 3 -> yes: disagrees
        for w, worker in enumerate(workers):
            a = Assignment(public_id=f"p{w}", hit_id=hit.id, worker_id=worker.id, status="submitted",
                           lease_expires_at=hit.created_at)
            session.add(a)
            session.flush()
            for row, item in zip(table, items):
                _vote(session, worker.id, item, row[w], a.id)
        session.flush()
        assert agreement(session, workers[0].id) == (2, 4)
        first = workers[0].id
    client, _ = admin_client(world)
    page = client.get(f"/admin/workers/{first}").get_data(as_text=True)
    assert "0.50" in page and "2 of 4 candidate answers" in page
    assert client.get("/admin/workers/2147483648").status_code == 404


def test_a_real_worker_history_shows_their_hits_votes_and_gold(sqlite_world):
    world = sqlite_world
    make_hits(world, ("cat",))
    app = make_app(world)
    worker = app.test_client()
    token = join(worker, new_invite(world))
    data = hit_data(worker.get(worker.post("/w/start", data={"csrf_token": token}).headers["Location"])
                    .get_data(as_text=True))
    worker.post(data["submit"], data={"csrf_token": token, "sel": [i["value"] for i in data["items"]]})
    with session_scope(world.engine) as session:
        worker_id = session.scalar(select(Assignment.worker_id))
        gold = session.execute(select(HitItem.gold_answer).join(Vote, Vote.hit_item_id == HitItem.id)
                               .where(HitItem.role == "gold")).scalars().all()
    right = sum(1 for g in gold if g)  # everything ticked: the gold positives are right, the negatives wrong
    add_user(world, "root", "admin")
    client = app.test_client()
    login(client, "root")
    page = client.get(f"/admin/workers/{worker_id}").get_data(as_text=True)
    assert f"{right / len(gold):.2f}" in page and page.count("<tr") >= 2 + len(data["items"])
    assert f'href="/admin/workers/{worker_id}"' in client.get("/admin").get_data(as_text=True)
