"""Label Studio round trip: tasks out with signed image URLs, its JSON export (a hand-written fixture of
its documented format, `data` filled with the exported tasks as Label Studio keeps them) back in as
votes or reviews."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlparse

import pytest
from sqlalchemy import select

from annotate_ui.labelstudio import LabelStudioError, export_tasks, import_reviews, import_votes, labeling_config
from annotate_ui.security import ImageSigner
from curation.db.models import Assignment, HitItem, ImageClass, Review, Vote, Worker
from curation.db.session import session_scope
from tests.annotate_ui.conftest import add_user, make_app, make_hits

FIXTURE = Path(__file__).parent / "data" / "labelstudio_export.json"


def _export(world):
    signer = ImageSigner("test-secret", 3600)
    make_hits(world, ("cat",))
    with session_scope(world.engine) as session:
        tasks = export_tasks(session, lambda t: f"https://label.example/img/{signer.sign('h', t)}")
        classes = session.scalars(select(ImageClass).order_by(ImageClass.position)).all()
        config = labeling_config(classes)
        roles = {i.token: (i.role, i.gold_answer, i.image_id) for i in session.scalars(select(HitItem))}
    return tasks, config, roles


def _filled(tasks, candidates_first):
    data = json.loads(FIXTURE.read_text())
    for task, source in zip(data, candidates_first):
        task["data"] = source["data"]
    return data


def test_round_trip_votes(sqlite_world):
    world = sqlite_world
    tasks, config, roles = _export(world)
    assert tasks and all(t["data"]["class"] == "cat" for t in tasks)
    root = ET.fromstring(config)  # valid XML with every class as a choice, by key
    assert {c.get("alias") for c in root.iter("Choice")} == {"cat", "lynx", "boat", None}
    client = make_app(world).test_client()
    reply = client.get(urlparse(tasks[0]["data"]["image"]).path)
    assert reply.status_code == 200 and reply.data[:2] in (b"\xff\xd8", b"\x89P")
    assert client.get("/img/forged").status_code == 404

    ordered = sorted(tasks, key=lambda t: roles[t["data"]["curate_item"]][0] != "candidate")
    data = _filled(ordered, ordered)
    with session_scope(world.engine) as session:
        assert import_votes(session, data) == 4  # the cancelled annotation is not a vote
    with session_scope(world.engine) as session:
        assert import_votes(session, data) == 0  # a second import adds nothing
        votes = session.scalars(select(Vote)).all()
        by = {(session.get(Worker, v.worker_id).external_id, v.image_id): v.selected for v in votes}
        # independent expectation: selected = 'cat' (the HIT's class) among the chosen labels
        first, second = (roles[ordered[i]["data"]["curate_item"]][2] for i in (0, 1))
        assert by == {("labelstudio:1", first): True, ("labelstudio:alice@lab.org", first): True,
                      ("labelstudio:1", second): False, ("labelstudio:alice@lab.org", second): False}
        assert all(a.status == "submitted" for a in session.scalars(select(Assignment)))


def test_round_trip_reviews_and_bad_files(sqlite_world):
    world = sqlite_world
    tasks, _, roles = _export(world)
    candidates = [t for t in tasks if roles[t["data"]["curate_item"]][0] == "candidate"]
    data = _filled(candidates, candidates)
    with session_scope(world.engine) as session, pytest.raises(LabelStudioError, match="no reviewer account"):
        import_reviews(session, data)
    add_user(world, "alice")  # user names hold no '@': the email's local part
    add_user(world, "1")
    with session_scope(world.engine) as session:
        assert import_reviews(session, data) == 4
    with session_scope(world.engine) as session:
        got = {(r.image_id, r.user_id, r.decision, r.class_id) for r in session.scalars(select(Review))}
        img = [roles[c["data"]["curate_item"]][2] for c in candidates[:2]]
        ids = world.class_ids
        decisions = {(i, d, c) for i, _, d, c in got}
        assert decisions == {(img[0], "accept", ids["cat"]), (img[0], "multi", None),
                             (img[1], "reject", None), (img[1], "relabel", ids["boat"])}
    with session_scope(world.engine) as session:
        with pytest.raises(LabelStudioError, match="curate_item"):
            import_votes(session, [{"id": 1, "data": {"image": "x"}, "annotations": []}])
        with pytest.raises(LabelStudioError, match="list of tasks"):
            import_votes(session, {"foo": 1})
        bad = _filled(candidates, candidates)
        bad[0]["annotations"][0]["result"][0]["value"]["choices"] = ["giraffe"]
        with pytest.raises(LabelStudioError, match="unknown class"):
            import_votes(session, bad)


def test_cli_commands(workspace, cli, tmp_path):
    for args in (["labelstudio", "export"], ["labelstudio", "import"]):
        assert "Example:" in cli(*args, "--help").output
    out = cli("labelstudio", "export", "--out", tmp_path / "ls", "--base-url", "https://l.example").output
    assert "0 tasks" in out and (tmp_path / "ls" / "config.xml").is_file()
    (tmp_path / "bad.json").write_text('{"not": "tasks"}')
    bad = cli("labelstudio", "import", tmp_path / "bad.json", ok=False)
    assert bad.exit_code == 1 and "nothing was imported" in bad.output and "Traceback" not in bad.output
    assert cli("labelstudio", "export", "--out", tmp_path / "x", "--base-url", "label", ok=False).exit_code == 2
