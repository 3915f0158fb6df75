"""Fixtures of the labeling app tests: a small synthetic world on each backend, a fresh app per test."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from annotate_ui.config import load_config
from tests.fixtures.world import Truth, make_world
from curation.db.session import session_scope
from curation.taxonomy import ClassDef, ensure_class_set

TOY = [ClassDef("cat", "cat", None, "A small domesticated feline."),
       ClassDef("lynx", "lynx", None, "A wild feline with tufted ears."),
       ClassDef("boat", "boat", None, "A vessel for travelling on water.")]
SMALL = dict(candidates_per_hit=6, gold_positives_per_hit=1, gold_negatives_per_hit=1, workers_per_image=2,
             examples_per_class=1, qualification_positives=2, qualification_negatives=2, min_gold_answers=4)


@dataclass
class World:
    engine: Any
    store_path: Path
    truth: Truth
    class_ids: dict[str, int]


def build_world(engine, store_path: Path, candidates: int = 12, gold: int = 6, seed: int = 0) -> World:
    from curation.store import ImageStore

    with session_scope(engine) as session:
        class_set = ensure_class_set(session, "toy", TOY, "test classes")
        classes = list(class_set.classes)
        truth = make_world(session, ImageStore(store_path), classes, candidates, gold, np.random.default_rng(seed))
        ids = {c.key: c.id for c in classes}
    return World(engine, store_path, truth, ids)


@pytest.fixture
def world(engine, tmp_path) -> World:
    return build_world(engine, tmp_path / "store")


@pytest.fixture
def sqlite_world(tmp_path):
    """A world on SQLite only, for checks that do not depend on the database."""
    from curation.db.session import connect, upgrade

    engine = connect(f"sqlite:///{tmp_path / 'one.sqlite'}")
    upgrade(engine)
    yield build_world(engine, tmp_path / "store")
    engine.dispose()


def make_app(world: World, **overrides: Any):
    from annotate_ui.app import create_app

    cfg = load_config(None, **{**SMALL, **overrides})
    return create_app(engine=world.engine, store_path=world.store_path, config=cfg, secret_key="test-secret",
                      testing=True)


@pytest.fixture
def small_cfg():
    return load_config(None, **SMALL)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "page has no CSRF token"
    return found.group(1)


def make_hits(world: World, keys=("cat",), qualification: str | None = None, **overrides: Any) -> None:
    from annotate_ui.hits import create_hits, create_qualification

    cfg = load_config(None, **{**SMALL, **overrides})
    rng = np.random.default_rng(1)
    with session_scope(world.engine) as session:
        from curation.db.models import ImageClass

        if qualification:
            create_qualification(session, session.get(ImageClass, world.class_ids[qualification]), cfg, rng)
        for key in keys:
            create_hits(session, session.get(ImageClass, world.class_ids[key]), cfg, rng)


def new_invite(world: World) -> str:
    from annotate_ui.accounts import create_invite

    with session_scope(world.engine) as session:
        return create_invite(session).code


def add_user(world: World, name: str, role: str = "reviewer", password: str = "correct horse battery",
             worker: str | None = None) -> None:
    from annotate_ui.accounts import create_user

    with session_scope(world.engine) as session:
        create_user(session, name, password, role, worker)


def join(client, code: str) -> str:
    """Open an invite link; returns the CSRF token of the worker's session."""
    landing = client.get(f"/join/{code}").get_data(as_text=True)
    page = client.post(f"/join/{code}", data={"csrf_token": csrf_of(landing)}, follow_redirects=True)
    assert page.status_code == 200
    return csrf_of(page.get_data(as_text=True))


def login(client, name: str, password: str = "correct horse battery"):
    token = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"csrf_token": token, "username": name, "password": password})


# --- a real browser (Debian's headless Chromium, driven by Playwright) for the ``browser`` tests ---

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def press(page, key: str) -> None:
    """A key that submits a form: wait for the next page."""
    with page.expect_navigation():
        page.keyboard.press(key)


def wait_focus(page, selector: str) -> None:
    """Autofocus lands when the browser next renders; wait for it before typing."""
    page.wait_for_function("sel => document.activeElement === document.querySelector(sel)", arg=selector)


def sign_in(page, start: str, name: str, password: str = "correct horse battery") -> None:
    """Open ``start`` (a page that asks to sign in) and sign in with the keyboard only."""
    page.goto(start)
    wait_focus(page, "#username")
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    press(page, "Enter")
