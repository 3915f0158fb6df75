"""The pages in Debian's headless Chromium (Playwright), keyboard only; screenshots under tmp_path."""

from __future__ import annotations

from typing import Iterator

import pytest
from sqlalchemy import func, select

from annotate_ui.server import running_server
from curation.db.models import Assignment, Hit, HitItem, Review, Vote
from curation.db.session import session_scope
from tests.annotate_ui.conftest import add_user, make_app, make_hits, new_invite, press, sign_in, wait_focus
from tests.annotate_ui.test_review import accepted

pytestmark = pytest.mark.browser


def focused_index(page) -> int:
    return int(page.evaluate("document.activeElement.dataset.index"))


def grid_values(page) -> list[str]:
    return page.eval_on_selector_all("#grid input", "els => els.map(e => e.value)")


def confirm_with_enter(page) -> None:
    """Enter asks first; a second Enter on the dialog's focused Submit sends the HIT."""
    page.keyboard.press("Enter")
    page.wait_for_selector("#confirm[open]")
    wait_focus(page, "#confirm-yes")
    press(page, "Enter")


def start_hit(page, world, url: str) -> None:
    page.goto(f"{url}/join/{new_invite(world)}")
    wait_focus(page, "#join")
    press(page, "Enter")  # the autofocused join button
    wait_focus(page, "#start")
    press(page, "Enter")  # the autofocused start button
    wait_focus(page, "#grid input")


def test_worker_does_qualification_and_a_hit_with_the_keyboard(sqlite_world, page, tmp_path):
    world = sqlite_world
    make_hits(world, ("cat",), qualification="cat")
    with running_server(make_app(world), threads=4) as url:
        start_hit(page, world, url)
        assert "Qualification task" in page.content()
        values = grid_values(page)
        with session_scope(world.engine) as session:
            answers = dict(session.execute(select(HitItem.token, HitItem.gold_answer)
                                           .where(HitItem.token.in_(values))).all())
        assert focused_index(page) == 0 and len(answers) == len(values) == 4
        for i, value in enumerate(values):
            if answers[value]:
                page.keyboard.press("x" if i % 2 else "Space")  # both tick
            if i < len(values) - 1:
                page.keyboard.press("ArrowRight")
                assert focused_index(page) == i + 1
        confirm_with_enter(page)
        assert "Qualification passed" in page.inner_text("#qual-result")
        wait_focus(page, "#next")
        press(page, "Enter")  # the autofocused "Next HIT"
        wait_focus(page, "#grid input")
        values = grid_values(page)
        assert page.inner_text("#class-definition").startswith("cat:")
        assert "Example 1: this is a cat" in page.inner_text(".examples")
        page.keyboard.press("Space")             # tick image 1
        page.keyboard.press("ArrowRight")
        assert page.inner_text("#position") == "2"
        page.keyboard.press("Space")             # tick image 2 ...
        page.keyboard.press("u")                 # ... and undo that
        assert page.inner_text("#selected-count") == "1"
        page.keyboard.press("ArrowLeft")
        assert focused_index(page) == 0
        page.screenshot(path=str(tmp_path / "worker_hit.png"))
        confirm_with_enter(page)
        code = page.inner_text("#completion-code")
        assert page.inner_text("#done-count") == "2"
        page.screenshot(path=str(tmp_path / "worker_done.png"))
    assert len(code) == 12 and (tmp_path / "worker_hit.png").stat().st_size > 1000
    with session_scope(world.engine) as session:
        label = session.scalar(select(Assignment).join(Hit).where(Hit.kind == "label"))
        ticked = session.scalars(select(HitItem.token).join(Vote, Vote.hit_item_id == HitItem.id)
                                 .where(Vote.assignment_id == label.id, Vote.selected.is_(True))).all()
    assert label.status == "submitted" and label.completion_code == code and ticked == [values[0]]


@pytest.fixture
def on_a_hit(sqlite_world, page) -> Iterator[str]:
    """A running app with one HIT for cat, a worker who joined by invite and opened it; yields its URL."""
    make_hits(sqlite_world, ("cat",))
    with running_server(make_app(sqlite_world), threads=4) as url:
        start_hit(page, sqlite_world, url)
        yield url


@pytest.mark.usefixtures("on_a_hit")
def test_enter_on_return_gives_the_hit_back_and_submits_nothing(sqlite_world, page):
    page.keyboard.press("Space")
    page.focus("#submit")
    page.keyboard.press("Tab")  # from Submit to "Return this HIT"
    wait_focus(page, "#return")
    press(page, "Enter")
    assert "Image labeling" in page.content() and page.url.endswith("/w")
    with session_scope(sqlite_world.engine) as session:
        assert session.scalar(select(Assignment.status)) == "returned"
        assert session.scalar(select(func.count()).select_from(Vote)) == 0


@pytest.mark.usefixtures("on_a_hit")
def test_enter_with_nothing_ticked_asks_and_escape_keeps_working(sqlite_world, page):
    page.keyboard.press("Enter")
    page.wait_for_selector("#confirm[open]")
    assert "ticked no image" in page.inner_text("#confirm-text")
    page.keyboard.press("Escape")
    page.wait_for_selector("#confirm:not([open])", state="attached")
    wait_focus(page, "#grid input")
    with session_scope(sqlite_world.engine) as session:
        assert session.scalar(select(func.count()).select_from(Vote)) == 0
    page.keyboard.press("e")  # enlarge the focused image, Escape closes it
    page.wait_for_selector("#zoom[open]")
    big = page.eval_on_selector("#zoom-img", "img => img.naturalWidth")
    assert big > 0
    page.keyboard.press("Escape")
    page.wait_for_selector("#zoom:not([open])", state="attached")
    first = page.inner_text("#lease-left")
    page.wait_for_function("t => document.getElementById('lease-left').textContent !== t", arg=first,
                           timeout=5000)  # the lease counts down
    confirm_with_enter(page)
    assert page.inner_text("#completion-code")
    with session_scope(sqlite_world.engine) as session:
        assert session.scalar(select(Assignment.status)) == "submitted"
        assert session.scalar(select(func.count()).where(Vote.selected.is_(True))) == 0


def test_reviewer_reviews_a_batch_with_the_keyboard(sqlite_world, page, tmp_path):
    world = sqlite_world
    ids = accepted(world, 5)
    add_user(world, "rev")
    with running_server(make_app(world), threads=4) as url:
        sign_in(page, f"{url}/review", "rev")
        assert page.inner_text("#remaining-count") == "5"
        page.screenshot(path=str(tmp_path / "review.png"))
        press(page, "a")
        press(page, "r")
        page.keyboard.press("l")
        page.keyboard.type("lnx")            # a typo'd search still finds lynx ...
        page.wait_for_selector("#class-suggestions li")
        page.keyboard.press("ArrowDown")     # ... picked from the list
        press(page, "Enter")
        assert "relabel as lynx" in page.inner_text(".flash")
        page.keyboard.press("m")             # several classes: filter, tick, filter, tick, record
        wait_focus(page, "#multi-filter")
        page.keyboard.type("cat")
        page.keyboard.press("Space")
        page.keyboard.type("boat")
        page.keyboard.press("Space")
        press(page, "Enter")
        assert "multi: cat, boat" in page.inner_text(".flash")
        page.keyboard.press("n")             # a note, then accept
        page.keyboard.type("toy cat, not a photo")
        page.keyboard.press("Escape")
        press(page, "a")
        press(page, "u")                     # undo that accept ...
        assert page.get_attribute("#review", "data-image") == str(ids[4])
        press(page, "a")                     # ... and accept again, without a note
        assert page.is_visible("#queue-empty")
        page.screenshot(path=str(tmp_path / "review_done.png"))
    with session_scope(world.engine) as session:
        current = {r.image_id: (r.decision, r.classes) for r in session.scalars(
            select(Review).where(Review.current.is_(True)))}
        undone = session.scalars(select(Review.note).where(Review.current.is_(False))).all()
    assert current == {ids[0]: ("accept", ""), ids[1]: ("reject", ""), ids[2]: ("relabel", ""),
                       ids[3]: ("multi", "cat,boat"), ids[4]: ("accept", "")}
    assert undone == ["toy cat, not a photo"]


def test_preview_page_has_disabled_inputs(sqlite_world, page, tmp_path):
    make_hits(sqlite_world, ("cat",))
    from tests.annotate_ui.test_platform import platform_app

    with running_server(platform_app(sqlite_world), threads=4) as url:
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


def test_admin_makes_an_invite_and_hits_with_the_keyboard(sqlite_world, page):
    from curation.db.models import Invite

    world = sqlite_world
    add_user(world, "root", "admin")
    with running_server(make_app(world), threads=4) as url:
        sign_in(page, f"{url}/admin", "root")
        page.goto(f"{url}/admin/invites")
        wait_focus(page, "#invite-uses")
        page.keyboard.type("3")
        page.keyboard.press("Tab")
        page.keyboard.type("2")
        page.keyboard.press("Tab")
        page.keyboard.type("pilot batch")
        press(page, "Enter")
        assert f"{url}/join/" in page.inner_text(".flash")
        page.goto(f"{url}/admin/hits")
        wait_focus(page, "#hits-class")
        page.keyboard.type("lynx")  # a select picks by typing
        page.keyboard.press("Tab")
        page.keyboard.type("2")
        press(page, "Enter")
        assert "Made 2 HITs for lynx" in page.inner_text(".flash")
    with session_scope(world.engine) as session:
        invite = session.scalar(select(Invite))
        hits = session.scalars(select(Hit)).all()
    assert (invite.uses_left, invite.note) == (3, "pilot batch") and invite.expires_at is not None
    assert [(h.class_id, h.assignments_per_item) for h in hits] == [(world.class_ids["lynx"], 2)] * 2
