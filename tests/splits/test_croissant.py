"""croissant.json in every export: valid for mlcroissant (offline), loads back with the right counts."""

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

mlc = pytest.importorskip("mlcroissant")


def _manifest_counts(root: Path) -> Counter:
    with open(root / "manifest.csv", newline="") as fh:
        return Counter(r["subset"] for r in csv.DictReader(fh))


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.mark.parametrize("fmt", ["imagefolder", "parquet"])
def test_croissant_validates_and_loads_back_per_split(svsf_built, cli, tmp_path, fmt):
    root = tmp_path / fmt
    cli("export", "svsf-small", "--format", fmt, "--out", root)
    meta = json.loads((root / "croissant.json").read_text())
    for item in meta["distribution"]:  # every file object's sha256 is the file's
        if item["@type"] == "cr:FileObject":
            assert item["sha256"] == hashlib.sha256((root / item["contentUrl"]).read_bytes()).hexdigest()
    dataset = mlc.Dataset(jsonld=root / "croissant.json")  # raises on a validation error
    assert not dataset.metadata.ctx.issues.errors
    images = list(dataset.records("images"))
    counts = Counter(_text(r["images/split"]) for r in images)
    assert counts == _manifest_counts(root) and sum(counts.values()) > 0
    splits = {_text(r["splits/name"]) for r in dataset.records("splits")}
    assert splits == set(counts)
    licenses = {_text(r["images/license"]) for r in images}
    assert licenses == {"CC-BY-2.0"} and meta["license"] == ["CC-BY-2.0"]
    owners = {p["identifier"] for p in meta["creator"]}
    assert {"flickr:12345@N01", "flickr:67890@N02"} <= owners
    assert meta["rai:dataLimitations"] and "flickr" in meta["rai:dataCollection"]
    assert "Refused at export" in meta["rai:dataAnnotationProtocol"]
    classes = list(dataset.records("classes"))
    assert len(classes) == 20


def _labelling_history(session, images) -> None:
    """A query that found two images on fixed dates, one HIT over them plus a gold item, and votes:
    image a: 2 of 2 workers yes; image b: 1 of 2 yes."""
    import datetime as dt

    from curation.db.models import (Assignment, Hit, HitItem, Query, QuerySource, SourceRecord, Vote, Worker)

    a, b, g = images["n01443537"][:3]
    recs = {r.image_id: r for r in session.query(SourceRecord).filter(SourceRecord.image_id.in_([a.id, b.id]))}
    query = Query(source="flickr", text="goldfish painting")
    session.add(query)
    session.flush()
    for day, image in ((3, a), (9, b)):
        session.add(QuerySource(query_id=query.id, source_record_id=recs[image.id].id,
                                found_at=dt.datetime(2026, 11, day, 12)))
    cls_id = recs[a.id].class_id
    hit = Hit(public_id="h1", class_id=cls_id)
    session.add(hit)
    session.flush()
    items = [HitItem(hit_id=hit.id, image_id=i.id, position=p, role=role, token=f"t{p}")
             for p, (i, role) in enumerate(((a, "candidate"), (b, "candidate"), (g, "gold")))]
    session.add_all(items)
    session.flush()
    now = dt.datetime(2026, 11, 10)
    for w, picks in enumerate(((True, True), (True, False))):
        worker = Worker(external_id=f"w{w}")
        session.add(worker)
        session.flush()
        asg = Assignment(public_id=f"a{w}", hit_id=hit.id, worker_id=worker.id, lease_expires_at=now)
        session.add(asg)
        session.flush()
        for item, pick in zip(items, picks):
            session.add(Vote(assignment_id=asg.id, hit_item_id=item.id, image_id=item.image_id, class_id=cls_id,
                             worker_id=worker.id, selected=pick))


def test_croissant_states_how_the_images_were_found_and_labelled(workspace, db_url, cli, tmp_path):
    from sqlalchemy.orm import Session

    from curation.db.session import connect
    from curation.store import ImageStore
    from tests.splits.dbdata import populate

    engine = connect(db_url)
    with Session(engine, expire_on_commit=False) as session:
        images = populate(session, ImageStore(workspace / "store"))
        _labelling_history(session, images)
        session.commit()
    engine.dispose()
    cli("splits", "build", "imagenet-r")
    cli("export", "imagenet-r", "--out", tmp_path / "a")
    cli("export", "imagenet-r", "--out", tmp_path / "b")
    text = (tmp_path / "a" / "croissant.json").read_text()
    assert text == (tmp_path / "b" / "croissant.json").read_text()  # no timestamps that change
    meta = json.loads(text)
    assert 'flickr "goldfish painting" (2 images, found 2026-11-03 to 2026-11-09)' in meta["rai:dataCollection"]
    protocol = meta["rai:dataAnnotationProtocol"]
    # by hand: 1 HIT with 1 gold item, 2 workers, 4 votes; agreement (2/2 + 1/2) / 2 = 0.75
    assert "1 HITs" in protocol and "1 gold items" in protocol and "2 workers, 4 votes" in protocol
    assert "majority 0.75" in protocol and "Expert review by 1 reviewer(s): accept 30." in protocol
    dataset = mlc.Dataset(jsonld=tmp_path / "a" / "croissant.json")
    assert len(list(dataset.records("images"))) == 30
