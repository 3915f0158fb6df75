"""Security rows of the hostile review, each through the real app (Flask test client): open redirects,
sign-in throttling behind a proxy, sign-out ending sessions, expired leases, the review queue,
huge ids, HEAD requests, invite and worker-id validation, gold varied on every serve."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re

import numpy as np
import pytest
from sqlalchemy import func, select, update

from curation.db.models import AggregatedLabel, Assignment, HitItem, Review, Vote
from curation.db.session import session_scope
from tests.annotate_ui.conftest import add_user, csrf_of, join, login, make_app, make_hits, new_invite
from tests.annotate_ui.test_views import hit_data


def login_from(client, address: str, name: str, password: str = "correct horse battery", next_: str = ""):
    """Sign in through a proxy that reports the client ``address`` in X-Forwarded-For."""
    headers = {"X-Forwarded-For": address}
    token = csrf_of(client.get("/login", headers=headers).get_data(as_text=True))
    return client.post("/login", headers=headers,
                       data={"csrf_token": token, "username": name, "password": password, "next": next_})


@pytest.mark.parametrize("target", ["/\t/evil.example", "/\n/evil.example", "/\\evil.example", "//evil.example",
                                    "https://evil.example/", "/%09/evil.example", "/\r\n/x", "/ok\x00",
                                    "javascript:alert(1)"])
def test_next_is_only_a_same_origin_path(sqlite_world, target):
    add_user(sqlite_world, "rev")
    client = make_app(sqlite_world).test_client()
    response = login_from(client, "1.2.3.4", "rev", next_=target)
    assert response.status_code == 302
    location = response.headers["Location"]
    # a percent-escape stays a plain same-origin path ("/%09/evil.example" on this host); all else falls back
    assert location == ("/%09/evil.example" if target == "/%09/evil.example" else "/review")


def test_next_from_the_query_is_checked_when_the_form_is_shown(sqlite_world):
    client = make_app(sqlite_world).test_client()
    page = client.get("/login?next=/%09/evil.example").get_data(as_text=True)  # the query decodes to a tab
    assert 'name="next" value=""' in page
    assert client.get("/login?next=/%0A/x").status_code == 200  # a newline: no 500


def test_a_local_next_is_followed(sqlite_world):
    add_user(sqlite_world, "root", "admin")
    client = make_app(sqlite_world).test_client()
    assert login_from(client, "1.2.3.4", "root", next_="/admin/export/votes.csv").headers["Location"] == \
        "/admin/export/votes.csv"


def test_throttle_is_per_address_behind_a_trusted_proxy(sqlite_world):
    add_user(sqlite_world, "rev")
    client = make_app(sqlite_world, trusted_proxies=1, login_attempts=3).test_client()
    for k in range(20):  # an attacker behind the same proxy sprays made-up names
        login_from(client, "6.6.6.6", f"made-up-{k}", "nope")
    assert login_from(client, "6.6.6.6", "someone", "nope").status_code == 429
    assert login_from(client, "10.0.0.2", "rev").status_code == 302  # the reviewer is not locked out


def test_throttle_is_per_account_over_all_addresses(sqlite_world):
    add_user(sqlite_world, "rev")
    client = make_app(sqlite_world, trusted_proxies=1, login_attempts=3, login_attempts_per_account=6).test_client()
    assert login_from(client, "10.0.0.2", "rev").status_code == 302  # the owner signed in from here before
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/review").get_data(as_text=True))})
    codes = [login_from(client, f"7.7.7.{k}", "rev", "guess-%d" % k).status_code for k in range(8)]
    assert codes == [401] * 6 + [429] * 2  # 8 addresses, 1 try each: the account's cap holds
    assert login_from(client, "7.7.7.100", "rev").status_code == 429  # even the right password, from elsewhere
    assert login_from(client, "10.0.0.2", "rev").status_code == 302  # the owner's known address still works


def test_without_a_trusted_proxy_forwarded_headers_are_ignored(sqlite_world):
    add_user(sqlite_world, "rev")
    client = make_app(sqlite_world, login_attempts=2).test_client()
    for k in range(2):
        login_from(client, f"9.9.9.{k}", "rev", "nope")
    assert login_from(client, "9.9.9.50", "rev").status_code == 429  # all one address: the proxy is not trusted


def test_head_login_is_not_a_failed_sign_in(sqlite_world):
    add_user(sqlite_world, "rev")
    client = make_app(sqlite_world, login_attempts=2).test_client()
    for _ in range(10):
        head = client.head("/login")
        assert head.status_code == 200
    assert login(client, "rev").status_code == 302


def test_sign_out_ends_every_copy_of_the_session(sqlite_world):
    from http.cookies import SimpleCookie

    add_user(sqlite_world, "root", "admin")
    app = make_app(sqlite_world)
    client = app.test_client()
    response = login(client, "root")
    cookie = SimpleCookie(response.headers["Set-Cookie"])["curate_session"].value
    thief = app.test_client()
    thief.set_cookie("curate_session", cookie)
    assert thief.get("/admin").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/admin").get_data(as_text=True))})
    for path in ("/admin", "/admin/export/votes.csv", "/review"):
        assert thief.get(path).status_code == 302  # back to the sign-in page
    assert login(client, "root").status_code == 302 and client.get("/admin").status_code == 200


def test_a_submit_after_the_lease_expired_is_409_and_writes_nothing(sqlite_world):
    world = sqlite_world
    make_hits(world, ("cat",))
    client = make_app(world).test_client()
    token = join(client, new_invite(world))
    location = client.post("/w/start", data={"csrf_token": token}).headers["Location"]
    data = hit_data(client.get(location).get_data(as_text=True))
    with session_scope(world.engine) as session:
        session.execute(update(Assignment).values(lease_expires_at=dt.datetime(2000, 1, 1)))
    response = client.post(data["submit"], data={"csrf_token": token, "sel": [data["items"][0]["value"]]})
    assert response.status_code == 409
    with session_scope(world.engine) as session:
        assert session.scalar(select(func.count()).select_from(Vote)) == 0
        assert session.scalar(select(Assignment.status)) != "submitted"


def _labels(world, accepted: bool) -> int:
    with session_scope(world.engine) as session:
        image_id = session.scalar(select(HitItem.image_id).where(HitItem.role == "candidate").limit(1))
        session.add(AggregatedLabel(image_id=image_id, class_id=world.class_ids["cat"], method="frequency",
                                    frequency=0.2 if not accepted else 1.0, n_votes=5, accepted=accepted))
    return image_id


def test_a_reviewer_decides_only_images_in_the_review_queue(sqlite_world):
    world = sqlite_world
    make_hits(world, ("cat",))
    add_user(world, "rev")
    rejected = _labels(world, accepted=False)
    client = make_app(world).test_client()
    login(client, "rev")
    token = csrf_of(client.get("/review").get_data(as_text=True))
    for decision in ("accept", "reject", "multi"):
        client.post("/review/decide", data={"csrf_token": token, "image_id": rejected,
                                            "class_id": world.class_ids["cat"], "decision": decision})
    client.post("/review/decide", data={"csrf_token": token, "image_id": rejected,
                                        "class_id": world.class_ids["cat"], "decision": "relabel",
                                        "new_class": "lynx"})
    with session_scope(world.engine) as session:
        assert session.scalar(select(func.count()).select_from(Review)) == 0


@pytest.mark.parametrize("value", ["9" * 30, "99999999999", "-1", "0", "1e9", " "])
def test_huge_or_odd_ids_are_400_or_404(sqlite_world, value):
    add_user(sqlite_world, "root", "admin")
    client = make_app(sqlite_world).test_client()
    login(client, "root")
    token = csrf_of(client.get("/review").get_data(as_text=True))
    decided = client.post("/review/decide", data={"csrf_token": token, "image_id": value, "class_id": value,
                                                  "decision": "accept"})
    assert decided.status_code in (400, 404)
    flagged = client.post(f"/admin/workers/{value.strip() or 'x'}/flag", data={"csrf_token": token, "flagged": "1"})
    assert flagged.status_code in (400, 404)
    assert "Back to reviewing" in flagged.get_data(as_text=True)  # the error page offers a way back


def test_blank_worker_ids_and_bad_invite_days_are_refused(workspace, cli):
    for days in ("0", "-1", "nan", "inf"):
        out = cli("invites", "create", "--days", days, ok=False).output
        assert "--days must be" in out and "Traceback" not in out
    assert "must not be blank" in cli("invites", "token", "--worker", " ", ok=False).output
    assert "/join/" in cli("invites", "create", "--days", "0.5").output
    from annotate_ui.accounts import external_worker
    from curation.db.session import connect
    from curation.errors import CurateError
    import os

    engine = connect(os.environ["CURATE_DB"])
    with session_scope(engine) as session, pytest.raises(CurateError):
        external_worker(session, "  ")
    engine.dispose()


def _pixels(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def test_gold_images_differ_on_every_serve_but_look_the_same(sqlite_world):
    world = sqlite_world
    make_hits(world, ("cat",))
    client = make_app(world).test_client()
    token = join(client, new_invite(world))
    page = client.get(client.post("/w/start", data={"csrf_token": token}).headers["Location"])
    text = page.get_data(as_text=True)
    with session_scope(world.engine) as session:
        gold = set(session.scalars(select(HitItem.token).where(HitItem.role == "gold")))
    urls = {i["value"]: i["img"] for i in hit_data(text)["items"]}
    token_of_gold = next(t for t in urls if t in gold)
    first, second = client.get(urls[token_of_gold]).data, client.get(urls[token_of_gold]).data
    assert hashlib.sha256(first).digest() != hashlib.sha256(second).digest()
    a, b = _pixels(first), _pixels(second)
    assert a.shape == b.shape and np.abs(a - b).max() <= 1 and (a != b).any()  # invisible, yet not identical
    with session_scope(world.engine) as session:
        from curation.db.models import Image

        sha = session.scalar(select(Image.sha256).join(HitItem, HitItem.image_id == Image.id)
                             .where(HitItem.token == token_of_gold))
    from curation.store import ImageStore

    original = ImageStore(world.store_path).read(sha)
    assert hashlib.sha256(first).hexdigest() != sha and np.abs(_pixels(original) - a).max() <= 1
    assert re.search(r"[0-9a-f]{64}", text) is None
