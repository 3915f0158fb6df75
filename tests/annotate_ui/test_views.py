"""The worker, review and admin pages through Flask's test client."""

from __future__ import annotations

import csv
import io
import json
import re

from sqlalchemy import func, select

from curation.db.models import Assignment, HitItem, Vote, Worker
from curation.db.session import session_scope
from tests.annotate_ui.conftest import add_user, csrf_of, join, login, make_app, make_hits, new_invite


def hit_data(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="hit-data">(.*?)</script>', page, re.S)
    return json.loads(found.group(1))


def gold_answers(world, tokens: list[str]) -> dict[str, bool | None]:
    with session_scope(world.engine) as session:
        return dict(session.execute(select(HitItem.token, HitItem.gold_answer).where(HitItem.token.in_(tokens))).all())


def test_worker_flow_qualification_then_hit_then_code(world):
    make_hits(world, ("cat",), qualification="cat")
    client = make_app(world).test_client()
    token = join(client, new_invite(world))
    start = client.post("/w/start", data={"csrf_token": token})
    assert start.status_code == 302
    page = client.get(start.headers["Location"]).get_data(as_text=True)
    assert "Qualification task" in page and "cat" in page
    data = hit_data(page)
    answers = gold_answers(world, [i["value"] for i in data["items"]])
    chosen = [t for t, a in answers.items() if a]
    done = client.post(data["submit"], data={"csrf_token": token, "sel": chosen}, follow_redirects=True)
    text = done.get_data(as_text=True)
    assert "Qualification passed" in text and re.search(r'id="completion-code">[0-9A-F]{12}<', text)
    nxt = client.post("/w/start", data={"csrf_token": token})
    label_page = client.get(nxt.headers["Location"]).get_data(as_text=True)
    data = hit_data(label_page)
    assert "Qualification task" not in label_page and len(data["items"]) == 8 and data["preload"]
    assert 'autofocus' in label_page and "A small domesticated feline." in label_page
    client.post(data["submit"], data={"csrf_token": token, "sel": [data["items"][0]["value"]]})
    client.post(data["submit"], data={"csrf_token": token, "sel": []})  # a double submit
    with session_scope(world.engine) as session:
        assert session.scalar(select(func.count()).select_from(Vote)) == 4 + 8
        assert session.scalar(select(func.count()).where(Vote.selected.is_(True))) == 2 + 1


def test_failed_qualification_stops_the_worker(world):
    make_hits(world, ("cat",), qualification="cat")
    client = make_app(world).test_client()
    token = join(client, new_invite(world))
    page = client.get(client.post("/w/start", data={"csrf_token": token}).headers["Location"]).get_data(as_text=True)
    data = hit_data(page)
    client.post(data["submit"], data={"csrf_token": token, "sel": []})
    home = client.get("/w").get_data(as_text=True)
    assert "not accurate enough" in home and 'id="start"' not in home
    assert "Qualification not passed" in client.post("/w/start", data={"csrf_token": token}).get_data(as_text=True)


def test_reload_of_a_submitted_hit_shows_the_code(world):
    make_hits(world, ("cat",))
    client = make_app(world).test_client()
    token = join(client, new_invite(world))
    location = client.post("/w/start", data={"csrf_token": token}).headers["Location"]
    data = hit_data(client.get(location).get_data(as_text=True))
    client.post(data["submit"], data={"csrf_token": token})
    again = client.get(location)
    assert again.status_code == 302 and again.headers["Location"].endswith("/done")


def test_admin_dashboard_and_csv_exports(world):
    make_hits(world, ("cat",))
    add_user(world, "root", "admin")
    app = make_app(world)
    worker = app.test_client()
    token = join(worker, new_invite(world))
    data = hit_data(worker.get(worker.post("/w/start", data={"csrf_token": token}).headers["Location"])
                    .get_data(as_text=True))
    worker.post(data["submit"], data={"csrf_token": token, "sel": [data["items"][0]["value"]]})
    admin = app.test_client()
    assert login(admin, "root").status_code == 302
    page = admin.get("/admin").get_data(as_text=True)
    assert re.search(r"<td>cat</td><td>12</td><td>6</td>", page)
    votes = list(csv.DictReader(io.StringIO(admin.get("/admin/export/votes.csv").get_data(as_text=True))))
    assert len(votes) == 8 and sum(v["selected"] == "True" for v in votes) == 1
    assert {v["role"] for v in votes} == {"candidate", "gold"}
    reviews = admin.get("/admin/export/reviews.csv").get_data(as_text=True)
    assert reviews.splitlines()[0].startswith("review_id,reviewer,image_sha256,decision")


def test_no_worker_sees_gold_or_anyone_elses_answers(world):
    make_hits(world, ("cat",), candidates_per_hit=12)  # a single HIT, two workers
    app = make_app(world)
    first, second = app.test_client(), app.test_client()
    token = join(first, new_invite(world))
    page = first.get(first.post("/w/start", data={"csrf_token": token}).headers["Location"]).get_data(as_text=True)
    data = hit_data(page)
    first.post(data["submit"], data={"csrf_token": token, "sel": [i["value"] for i in data["items"]]})
    token = join(second, new_invite(world))
    page = second.get(second.post("/w/start", data={"csrf_token": token}).headers["Location"]).get_data(as_text=True)
    values = [item["value"] for item in data["items"]]  # (image links are signed per second: compare items)
    assert [item["value"] for item in hit_data(page)["items"]] == values  # the same HIT ...
    markup = re.sub(r'<script.*?</script>', "", re.sub(r'(src|value|action)="[^"]*"', "", page), flags=re.S)
    assert " checked" not in markup and "gold" not in markup.lower() and "selected by" not in markup  # ... blank
    assert all(set(item) == {"value", "img"} for item in hit_data(page)["items"])


def test_returned_hit_goes_back_to_the_pool(world):
    make_hits(world, ("cat",), candidates_per_hit=12, workers_per_image=1)  # one HIT, one slot
    app = make_app(world)
    first, second = app.test_client(), app.test_client()
    token = join(first, new_invite(world))
    location = first.post("/w/start", data={"csrf_token": token}).headers["Location"]
    other = join(second, new_invite(world))
    assert "No HITs right now" in second.post("/w/start", data={"csrf_token": other}).get_data(as_text=True)
    assert first.post(location + "/return", data={"csrf_token": token}).status_code == 302
    assert first.get(location).status_code == 410
    assert second.post("/w/start", data={"csrf_token": other}).status_code == 302


def test_opening_an_invite_uses_it_only_on_join(world):
    from annotate_ui.accounts import create_invite

    with session_scope(world.engine) as session:
        code = create_invite(session, uses=1).code
    client = make_app(world).test_client()
    for _ in range(3):  # a link previewer fetching the page uses nothing up
        assert client.get(f"/join/{code}").status_code == 200
    join(client, code)
    late = make_app(world).test_client()
    landing = late.get(f"/join/{code}").get_data(as_text=True)
    assert late.post(f"/join/{code}", data={"csrf_token": csrf_of(landing)}).status_code == 404


def test_a_flagged_worker_is_told_why(sqlite_world):
    world = sqlite_world
    make_hits(world, ("cat",))
    client = make_app(world).test_client()
    token = join(client, new_invite(world))
    with session_scope(world.engine) as session:
        worker = session.scalar(select(Worker))
        worker.flagged, worker.flag_reason = True, "gold accuracy 0.40 < 0.70 (1/3 positives, 1/2 negatives)"
    home = client.get("/w").get_data(as_text=True)
    assert "gold accuracy 0.40 &lt; 0.70" in home and 'id="start"' not in home
    started = client.post("/w/start", data={"csrf_token": token})
    text = started.get_data(as_text=True)
    assert started.status_code == 200 and "gold accuracy 0.40" in text and "No HITs right now" not in text
    assert 'id="back"' in text  # and a way back
