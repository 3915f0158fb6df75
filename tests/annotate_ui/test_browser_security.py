"""The browser-visible security rows in Debian's headless Chromium: open redirects after sign-in,
framing by other sites, and GET links that must not switch identity."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from annotate_ui.server import running_server
from tests.annotate_ui.conftest import add_user, make_app, make_hits, new_invite, sign_in
from tests.annotate_ui.test_platform import SECRET, platform_app, task_url

pytestmark = pytest.mark.browser


def test_sign_in_with_a_tab_smuggled_next_stays_on_this_site(sqlite_world, page):
    add_user(sqlite_world, "rev")
    with running_server(make_app(sqlite_world), threads=4) as url:
        sign_in(page, f"{url}/login?next=/%09/evil.example/", "rev")
        assert urlsplit(page.url).netloc == urlsplit(url).netloc and urlsplit(page.url).path == "/review"


def _framed(page, src: str) -> bool:
    """Put ``src`` in an iframe of the current page; True when the framed page really loaded."""
    page.evaluate("""src => new Promise(done => {
        const f = document.createElement('iframe'); f.id = 'probe'; f.src = src;
        f.onload = () => done(); document.body.appendChild(f); setTimeout(done, 4000); })""", src)
    frame = page.frame_locator("#probe")
    try:
        return frame.locator("#join").count() > 0
    except Exception:
        return False


def test_worker_pages_cannot_be_framed_by_another_site(sqlite_world, page):
    world = sqlite_world
    code = new_invite(world)
    with running_server(make_app(world), threads=4) as url, running_server(make_app(world), threads=2) as other:
        page.goto(f"{other}/login")  # another origin (another port)
        assert not _framed(page, f"{url}/join/{code}")
        page.goto(f"{url}/login")    # and without a platform entry, not even by this site
        assert not _framed(page, f"{url}/join/{code}")


def test_with_a_platform_only_this_site_and_the_platform_may_frame(sqlite_world, page):
    world = sqlite_world
    code = new_invite(world)
    app = platform_app(world)
    with running_server(app, threads=4) as url, running_server(make_app(world), threads=2) as other:
        page.goto(f"{url}/login")
        assert _framed(page, f"{url}/join/{code}")  # the positive control: the probe does see a framed page
        page.goto(f"{other}/login")
        assert not _framed(page, f"{url}/join/{code}")


def test_opening_a_task_link_keeps_the_admin_signed_in(sqlite_world, page):
    world = sqlite_world
    make_hits(world, ("cat",))
    add_user(world, "root", "admin")
    with running_server(platform_app(world), threads=4) as url:
        sign_in(page, f"{url}/login", "root")
        page.goto(url + task_url("CROWD7"))  # e.g. an <img> or link planted by an attacker
        page.goto(f"{url}/admin")
        assert urlsplit(page.url).path == "/admin" and page.is_visible("#workers")
    assert SECRET
