"""CSRF, escaping of Flickr strings, signed image URLs, traversal, login rate limit, access control.

None of this depends on the database, so these run on SQLite only."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update

from curation.db.models import AggregatedLabel, HitItem, SourceRecord
from curation.db.session import session_scope
from tests.annotate_ui.conftest import add_user, join, login, make_app, make_hits, new_invite

SCRIPT = '<script>alert("owned")</script>'


def leased_page(client, token: str) -> tuple[str, str]:
    location = client.post("/w/start", data={"csrf_token": token}).headers["Location"]
    return location, client.get(location).get_data(as_text=True)


def test_post_without_or_with_wrong_csrf_is_refused(sqlite_world):
    world = sqlite_world
    make_hits(world, ("cat",))
    client = make_app(world).test_client()
    token = join(client, new_invite(world))
    assert client.post("/w/start").status_code == 400
    assert client.post("/w/start", data={"csrf_token": token + "x"}).status_code == 400
    assert client.post("/w/start", headers={"X-CSRF-Token": token}).status_code == 302
    other = make_app(world).test_client()
    assert other.post("/login", data={"username": "a", "password": "b"}).status_code == 400


def test_session_cookie_is_httponly_and_samesite(sqlite_world):
    world = sqlite_world
    client = make_app(world).test_client()
    response = client.get(f"/join/{new_invite(world)}")  # the landing page sets the CSRF token
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "frame-ancestors" in response.headers["Content-Security-Policy"]


def test_flickr_title_with_script_is_shown_as_text(sqlite_world):
    world = sqlite_world
    make_hits(world, ("cat",))
    add_user(world, "rev")
    with session_scope(world.engine) as session:
        image_id = session.scalar(select(HitItem.image_id).where(HitItem.role == "candidate").limit(1))
        session.execute(update(SourceRecord).where(SourceRecord.image_id == image_id)
                        .values(title=SCRIPT, tags='"><img src=x onerror=alert(1)>', source="flickr"))
        session.add(AggregatedLabel(image_id=image_id, class_id=world.class_ids["cat"], method="frequency",
                                    frequency=1.0, n_votes=5, accepted=True))
    client = make_app(world).test_client()
    login(client, "rev")
    page = client.get("/review").get_data(as_text=True)
    assert SCRIPT not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in page


def test_image_urls_are_signed_and_tampering_fails(sqlite_world):
    world = sqlite_world
    make_hits(world, ("cat",))
    client = make_app(world).test_client()
    _, page = leased_page(client, join(client, new_invite(world)))
    src = re.search(r'<img src="(/img/[^"]+)" alt="image 1"', page).group(1)
    served = client.get(src)
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert "ETag" not in served.headers and "Last-Modified" not in served.headers  # nothing that tells gold apart
    with session_scope(world.engine) as session:
        tokens = set(session.scalars(select(HitItem.token)))
        shas = {r.image.sha256 for r in session.scalars(select(SourceRecord)) if r.image}
    assert not any(s in page for s in shas)  # no content address leaks into the page
    body, sig = src.rsplit(".", 1)
    tampered = [body + "." + sig[::-1], body[:-2] + "xx." + sig, "/img/" + "A" * 40]
    forged = make_app(world, image_url_max_age_s=60).extensions["curate"].signer
    assert forged.load(src.removeprefix("/img/")) is not None  # the same key accepts it ...
    other = __import__("annotate_ui.security", fromlist=["ImageSigner"]).ImageSigner("another-key", 60)
    tampered.append("/img/" + other.sign("h", next(iter(tokens))))  # ... another key does not
    for url in tampered:
        assert client.get(url).status_code == 404


@pytest.mark.parametrize("path", ["/img/../../../../etc/passwd", "/img/..%2f..%2f..%2fetc%2fpasswd",
                                  "/img/%2e%2e/%2e%2e/curate.toml", "/static/../app.py", "/static/..%2fapp.py",
                                  "/img/" + "0" * 64])
def test_path_traversal_finds_nothing(sqlite_world, path):
    client = make_app(sqlite_world).test_client()
    response = client.get(path)
    assert response.status_code == 404
    assert b"root:" not in response.data and b"create_app" not in response.data


def test_login_is_rate_limited(sqlite_world):
    add_user(sqlite_world, "rev")
    client = make_app(sqlite_world, login_attempts=3).test_client()
    codes = [login(client, "rev", "wrong password!").status_code for _ in range(3)]
    assert codes == [401, 401, 401]
    assert login(client, "rev").status_code == 429  # even the right password waits out the window
    assert login(client, "someone-else", "nope").status_code == 401
    for k in range(8):  # password spraying over many names from one address is capped too
        login(client, f"name{k}", "nope")
    assert login(client, "fresh-name", "nope").status_code == 429


def test_review_and_admin_pages_need_the_right_login(sqlite_world):
    world = sqlite_world
    add_user(world, "rev")
    client = make_app(world).test_client()
    for path in ("/review", "/admin", "/admin/export/votes.csv"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    login(client, "rev")
    assert client.get("/review").status_code == 200
    assert client.get("/admin").status_code == 403
    assert client.get("/admin/export/votes.csv").status_code == 403


def test_open_redirect_after_login_is_refused(sqlite_world):
    add_user(sqlite_world, "rev")
    client = make_app(sqlite_world).test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"csrf_token": token, "username": "rev",
                                           "password": "correct horse battery", "next": "//evil.example/x"})
    assert response.headers["Location"] == "/review"


def test_a_worker_sees_only_their_own_assignment(sqlite_world):
    world = sqlite_world
    make_hits(world, ("cat",))
    app = make_app(world)
    alice, bob = app.test_client(), app.test_client()
    location, _ = leased_page(alice, join(alice, new_invite(world)))
    bob_token = join(bob, new_invite(world))
    assert bob.get(location).status_code == 404
    assert bob.post(location + "/submit", data={"csrf_token": bob_token}).status_code == 404
    assert app.test_client().get(location).status_code == 403  # nobody signed in
