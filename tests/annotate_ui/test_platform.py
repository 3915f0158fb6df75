"""The crowd platform entry ``/task`` (ExternalQuestion): off by default; signed per worker, capped,
submit targets and framing limited to the configured platform; no identity change on GET."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from sqlalchemy import func, select

from annotate_ui.security import platform_signature
from curation.db.models import Assignment, Hit, Worker
from curation.db.session import session_scope
from tests.annotate_ui.conftest import add_user, csrf_of, login, make_app, make_hits
from tests.annotate_ui.test_views import hit_data

SECRET = "platform-secret-for-tests"
ON = dict(external_entry=True)


def platform_app(world, **overrides):
    from annotate_ui.app import create_app
    from annotate_ui.config import load_config
    from tests.annotate_ui.conftest import SMALL

    cfg = load_config(None, **{**SMALL, **ON, **overrides})
    return create_app(engine=world.engine, store_path=world.store_path, config=cfg, secret_key="test-secret",
                      testing=True, platform_secret=SECRET)


def task_url(worker: str, assignment: str = "A1", hit: str = "", submit_to: str = "https://www.mturk.com",
             sig: str | None = None) -> str:
    sig = platform_signature(SECRET, worker.strip()) if sig is None else sig
    return "/task?" + urlencode({"assignmentId": assignment, "hitId": hit, "workerId": worker,
                                 "turkSubmitTo": submit_to, "sig": sig})


def take(client, url: str, **kw):
    """Open the /task link (GET shows a start page) and press its button (a POST)."""
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.get_data(as_text=True)))
    return client.post("/task", data=form, **kw)


def n_assignments(world) -> int:
    with session_scope(world.engine) as session:
        return session.scalar(select(func.count()).select_from(Assignment))


def test_task_is_off_unless_configured(sqlite_world):
    world = sqlite_world
    make_hits(world, ("cat",))
    client = make_app(world).test_client()
    assert client.get(task_url("CROWD7")).status_code == 404
    assert client.get("/task?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE").status_code == 404
    assert n_assignments(world) == 0
    import pytest

    from curation.errors import CurateError
    from annotate_ui.app import create_app
    from annotate_ui.config import load_config

    with pytest.raises(CurateError, match="platform secret"):
        create_app(engine=world.engine, store_path=world.store_path, config=load_config(None, **ON),
                   secret_key="k", testing=True)


def test_unsigned_or_forged_worker_links_are_refused(sqlite_world):
    world = sqlite_world
    make_hits(world, ("cat",))
    client = platform_app(world).test_client()
    assert client.get(task_url("VICTIM", sig="")).status_code == 403
    assert client.get(task_url("VICTIM", sig=platform_signature("guessed", "VICTIM"))).status_code == 403
    assert client.get(task_url("VICTIM", sig=platform_signature(SECRET, "ATTACKER"))).status_code == 403
    assert client.get(task_url(" ", sig=platform_signature(SECRET, ""))).status_code == 400  # blank workerId
    with session_scope(world.engine) as session:
        assert session.scalar(select(func.count()).select_from(Worker)) == 0
    assert n_assignments(world) == 0


def test_leases_per_client_address_are_capped(sqlite_world):
    world = sqlite_world
    make_hits(world, ("cat", "lynx", "boat"))
    app = platform_app(world, external_leases_per_window=3)
    codes = []
    for k in range(6):  # six made-up (but validly signed) ids from one address
        codes.append(take(app.test_client(), task_url(f"W{k}", assignment=f"A{k}")).status_code)
    assert codes == [302, 302, 302, 429, 429, 429]
    assert n_assignments(world) == 3
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    assert take(other, task_url("W9", assignment="A9")).status_code == 302


def test_the_named_hit_is_leased_and_the_code_posts_back_to_the_platform(sqlite_world):
    world = sqlite_world
    make_hits(world, ("cat",))
    with session_scope(world.engine) as session:
        public_id = session.scalars(select(Hit.public_id).order_by(Hit.id)).all()[1]
    client = platform_app(world).test_client()
    url = task_url("CROWD7", "A123", public_id, "https://workersandbox.mturk.com")
    page = take(client, url, follow_redirects=True).get_data(as_text=True)
    data = hit_data(page)
    done = client.post(data["submit"], data={"csrf_token": csrf_of(page)}, follow_redirects=True)
    text = done.get_data(as_text=True)
    assert 'action="https://workersandbox.mturk.com/mturk/externalSubmit"' in text and 'value="A123"' in text
    with session_scope(world.engine) as session:
        assignment = session.scalar(select(Assignment))
        assert assignment.external_assignment_id == "A123"
        assert session.get(Worker, assignment.worker_id).external_id == "ext-CROWD7"
        assert session.get(Hit, assignment.hit_id).public_id == public_id


def test_submit_target_must_be_a_configured_platform_host(sqlite_world):
    world = sqlite_world
    make_hits(world, ("cat",))
    for target in ("https://evil.example", "javascript:alert(1)", "http://www.mturk.com",
                   "https://www.mturk.com.evil.example", "https://user@www.mturk.com"):
        client = platform_app(world).test_client()
        page = take(client, task_url(f"W-{len(target)}", assignment=f"A{len(target)}", submit_to=target),
                    follow_redirects=True).get_data(as_text=True)
        data = hit_data(page)
        done = client.post(data["submit"], data={"csrf_token": csrf_of(page)}, follow_redirects=True)
        text = done.get_data(as_text=True)
        assert "externalSubmit" not in text and "evil" not in text and "javascript:" not in text
    client = platform_app(world, platform_hosts="crowd.example").test_client()
    page = take(client, task_url("W-own", assignment="A-own", submit_to="https://crowd.example/s"),
                follow_redirects=True).get_data(as_text=True)
    done = client.post(hit_data(page)["submit"], data={"csrf_token": csrf_of(page)}, follow_redirects=True)
    assert 'action="https://crowd.example/s/mturk/externalSubmit"' in done.get_data(as_text=True)


def test_a_get_of_task_never_changes_who_is_signed_in(sqlite_world):
    world = sqlite_world
    make_hits(world, ("cat",))
    add_user(world, "root", "admin")
    client = platform_app(world).test_client()
    login(client, "root")
    page = client.get(task_url("CROWD7"))
    assert page.status_code == 200 and 'id="start"' in page.get_data(as_text=True)
    assert client.get("/admin").status_code == 200  # still the admin
    assert n_assignments(world) == 0


def test_preview_shows_disabled_inputs_and_leases_nothing(sqlite_world):
    world = sqlite_world
    make_hits(world, ("cat",))
    client = platform_app(world).test_client()
    page = client.get("/task?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=&workerId=&turkSubmitTo=")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Preview" in text
    boxes = re.findall(r'<input type="checkbox"[^>]*>', text)
    assert boxes and all("disabled" in b for b in boxes)
    assert re.search(r'<button type="submit" id="submit" disabled>', text)
    assert n_assignments(world) == 0


def test_framing_and_form_targets_are_limited_to_the_platform(sqlite_world):
    world = sqlite_world
    plain = make_app(world).test_client().get("/login").headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in plain and "form-action 'self';" in plain and "https:" not in plain
    worker_page = make_app(world).test_client().get("/join/x").headers
    assert "frame-ancestors 'none'" in worker_page["Content-Security-Policy"]
    assert worker_page["X-Frame-Options"] == "DENY"
    framed = platform_app(world).test_client().get("/join/x").headers["Content-Security-Policy"]
    origins = "https://www.mturk.com https://workersandbox.mturk.com"
    assert f"frame-ancestors 'self' {origins}" in framed and f"form-action 'self' {origins};" in framed
    admin = platform_app(world).test_client().get("/login").headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in admin
