"""The pages in Debian's headless Chromium (Playwright), keyboard only; screenshots under tmp_path."""

from __future__ import annotations

from typing import Iterator

import pytest
from sqlalchemy import select

from annotate_ui.server import running_server
from curation.db.models import Assignment, Hit, HitItem, Review, Vote
from curation.db.session import session_scope
from tests.annotate_ui.conftest import add_user, make_app, make_hits, new_invite
from tests.annotate_ui.test_review import accepted

pytestmark = pytest.mark.browser
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="module")
def browser() -> Iterator:
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


def focused_index(page) -> int:
    return int(page.evaluate("document.activeElement.dataset.index"))


def test_worker_does_qualification_and_a_hit_with_the_keyboard(sqlite_world, page, tmp_path):
    world = sqlite_world
    make_hits(world, ("cat",), qualification="cat")
    with session_scope(world.engine) as session:
        answers = dict(session.execute(select(HitItem.token, HitItem.gold_answer)).all())
    with running_server(make_app(world), threads=4) as url:
        page.goto(f"{url}/join/{new_invite(world)}")
        wait_focus(page, "#join")
        press(page, "Enter")  # the autofocused join button
        wait_focus(page, "#start")
        press(page, "Enter")  # the autofocused start button
        assert "Qualification task" in page.content()
        wait_focus(page, "#grid input")
        values = page.eval_on_selector_all("#grid input", "els => els.map(e => e.value)")
        assert focused_index(page) == 0
        for i, value in enumerate(values):
            if answers[value]:
                page.keyboard.press("Space")
            if i < len(values) - 1:
                page.keyboard.press("ArrowRight")
                assert focused_index(page) == i + 1
        press(page, "Enter")
        assert "Qualification passed" in page.inner_text("#qual-result")
        wait_focus(page, "#next")
        press(page, "Enter")  # the autofocused "Next HIT"
        wait_focus(page, "#grid input")
        values = page.eval_on_selector_all("#grid input", "els => els.map(e => e.value)")
        page.keyboard.press("Space")             # tick image 1
        page.keyboard.press("ArrowRight")
        page.keyboard.press("Space")             # tick image 2 ...
        page.keyboard.press("u")                 # ... and undo that
        assert page.inner_text("#selected-count") == "1"
        page.keyboard.press("ArrowLeft")
        assert focused_index(page) == 0
        page.screenshot(path=str(tmp_path / "worker_hit.png"))
        press(page, "Enter")
        code = page.inner_text("#completion-code")
        page.screenshot(path=str(tmp_path / "worker_done.png"))
    assert len(code) == 12 and (tmp_path / "worker_hit.png").stat().st_size > 1000
    with session_scope(world.engine) as session:
        label = session.scalar(select(Assignment).join(Hit).where(Hit.kind == "label"))
        ticked = session.scalars(select(HitItem.token).join(Vote, Vote.hit_item_id == HitItem.id)
                                 .where(Vote.assignment_id == label.id, Vote.selected.is_(True))).all()
    assert label.status == "submitted" and label.completion_code == code and ticked == [values[0]]


def test_reviewer_reviews_a_batch_with_the_keyboard(sqlite_world, page, tmp_path):
    world = sqlite_world
    ids = accepted(world, 5)
    add_user(world, "rev")
    with running_server(make_app(world), threads=4) as url:
        page.goto(f"{url}/review")
        wait_focus(page, "#username")
        page.keyboard.type("rev")
        page.keyboard.press("Tab")
        page.keyboard.type("correct horse battery")
        press(page, "Enter")
        assert page.inner_text("#remaining-count") == "5"
        page.screenshot(path=str(tmp_path / "review.png"))
        press(page, "a")
        press(page, "r")
        page.keyboard.press("l")
        page.keyboard.type("lynx")
        press(page, "Enter")
        press(page, "m")
        press(page, "u")  # undo "several classes"
        press(page, "a")
        press(page, "a")
        assert page.is_visible("#queue-empty")
        page.screenshot(path=str(tmp_path / "review_done.png"))
    with session_scope(world.engine) as session:
        current = {r.image_id: r.decision for r in session.scalars(select(Review).where(Review.current.is_(True)))}
    assert current == {ids[0]: "accept", ids[1]: "reject", ids[2]: "relabel", ids[3]: "accept", ids[4]: "accept"}


def test_preview_page_has_disabled_inputs(sqlite_world, page, tmp_path):
    make_hits(sqlite_world, ("cat",))
    with running_server(make_app(sqlite_world), threads=4) as url:
        page.goto(f"{url}/task?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=&workerId=&turkSubmitTo=")
        boxes = page.locator("#grid input[type=checkbox]")
        assert boxes.count() == 8
        assert all(boxes.nth(i).is_disabled() for i in range(boxes.count()))
        assert page.locator("#submit").is_disabled()
        page.keyboard.press("Tab")
        page.keyboard.press("Space")
        assert page.inner_text("#selected-count") == "0"
        page.screenshot(path=str(tmp_path / "preview.png"))
    assert (tmp_path / "preview.png").exists()
