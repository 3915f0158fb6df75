"""``curate filter`` / ``curate reference`` end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

from PIL import Image
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from curation.db.models import DuplicateGroup, DuplicateMember, FilterDecision, Image as ImageRow, SourceRecord
from tests.filters.conftest import encode, photo


def _db(db_url):
    engine = create_engine(db_url)
    return engine, Session(engine)


def _by_name(session) -> dict[str, int]:
    rows = session.execute(select(SourceRecord.metadata_, SourceRecord.image_id)).all()
    return {meta["relative_path"]: image_id for meta, image_id in rows if image_id is not None}


def _current(session, image_id: int, name: str) -> FilterDecision | None:
    return session.scalar(select(FilterDecision).where(FilterDecision.image_id == image_id,
                                                       FilterDecision.filter == name, FilterDecision.current.is_(True)))


def _sha(session, image_id: int) -> str:
    return session.get(ImageRow, image_id).sha256


def test_filter_rejects_quality_and_duplicates_and_keeps_the_best(workspace, db_url, cli, planted):
    folder, _ = planted
    cli("import", folder, "--license", "CC0-1.0")
    out = cli("filter", "--workers", "1").output
    assert "duplicate-of" in out and "black" in out
    engine, session = _db(db_url)
    with session:
        ids = _by_name(session)
        for name, kind in [("black.jpg", "black"), ("flat.png", "flat"), ("tiny.jpg", "tiny"),
                           ("wide.jpg", "aspect"), ("anim.gif", "animated")]:
            decision = _current(session, ids[name], "quality")
            assert decision.verdict == "reject" and decision.reason.startswith(kind), name
            assert _current(session, ids[name], "duplicate") is None  # quality rejects stay out of the search
        # largest resolution first (big1), else the earliest upload (the originals were written first)
        expected = {"reencode0.jpg": "orig0.jpg", "orig1.jpg": "big1.jpg", "mirror2.jpg": "orig2.jpg",
                    "orig3-again.png": "orig3.jpg", "orig3.png": "orig3.jpg"}
        for copy, keeper in expected.items():
            decision = _current(session, ids[copy], "duplicate")
            assert decision.verdict == "reject" and decision.reason == f"duplicate-of:{_sha(session, ids[keeper])}"
        for name in ("orig0.jpg", "big1.jpg", "orig2.jpg", "orig3.jpg", "orig4.jpg", "orig5.jpg"):
            assert _current(session, ids[name], "duplicate").verdict == "pass", name
        groups = session.scalars(select(DuplicateGroup).where(DuplicateGroup.current.is_(True))).all()
        assert sorted(g.kind for g in groups) == ["mirror", "near", "near", "near"]
        mirror = next(g for g in groups if g.kind == "mirror")
        member = session.get(DuplicateMember, (mirror.id, ids["mirror2.jpg"]))
        assert member.mirrored and mirror.keeper_image_id == ids["orig2.jpg"]
        assert session.get(ImageRow, ids["orig0.jpg"]).phash is not None
    engine.dispose()
    assert "duplicate-of" in cli("status").output


def test_rerun_with_new_threshold_does_not_decode_and_keeps_history(workspace, db_url, cli, planted, monkeypatch,
                                                                      tmp_path):
    folder, _ = planted
    cli("import", folder)
    cli("filter", "--workers", "1")
    import curation.filters.hashing as hashing

    original = hashing.hash_bytes

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(hashing, "hash_bytes", no_decoding)
    out = cli("filter", "--workers", "1", "--rerun", "--threshold", "0", "--dhash-threshold", "0",
              "--min-side", "10").output
    assert "hashed 0" in out
    engine, session = _db(db_url)
    with session:
        ids = _by_name(session)
        assert _current(session, ids["tiny.jpg"], "quality").verdict == "pass"  # new min side, no decoding
        assert _current(session, ids["orig3.jpg"], "duplicate").verdict == "pass"  # 2 bits from the PNGs
        same_pixels = _current(session, ids["orig3-again.png"], "duplicate")  # pixels match at any threshold
        assert same_pixels.reason == f"duplicate-of:{_sha(session, ids['orig3.png'])}"
        old = session.scalar(select(func.count()).where(FilterDecision.current.is_(False)))
        assert old >= len(ids) * 2  # every earlier decision kept, marked not current
        assert session.scalar(select(func.count()).select_from(DuplicateGroup).where(
            DuplicateGroup.current.is_(False))) == 4
    engine.dispose()
    again = cli("filter", "--workers", "1").output  # no flags: the last run's thresholds, said so
    assert "judged 0 for quality" in again
    assert "threshold=0 (last run), dhash_threshold=0 (last run), max_mean_diff=10.0 (last run)" in again
    monkeypatch.setattr(hashing, "hash_bytes", original)
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "orig4-big.jpg").write_bytes(encode(photo(4).resize((480, 360)), quality=90))
    cli("import", extra)
    out = cli("filter", "--workers", "1", "--threshold", "10", "--dhash-threshold", "16").output
    assert "threshold=10 (command line), dhash_threshold=16 (command line)" in out
    engine, session = _db(db_url)
    with session:
        ids = _by_name(session)
        new = _current(session, ids["orig4-big.jpg"], "duplicate")
        # orig4 was already kept: it stays the keeper even though the newcomer is larger
        assert new.reason == f"duplicate-of:{_sha(session, ids['orig4.jpg'])}"
    engine.dispose()


def test_reference_set_contamination(workspace, db_url, cli, planted, tmp_path):
    folder, _ = planted
    cli("import", folder)
    cli("filter", "--workers", "1")
    ref = tmp_path / "imagenet-val" / "n01440764"
    ref.mkdir(parents=True)
    (ref / "ILSVRC2012_val_00000001.JPEG").write_bytes(
        encode(photo(5).transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((300, 225)), quality=80))
    (ref / "ILSVRC2012_val_00000002.JPEG").write_bytes(encode(photo(77), quality=80))
    (ref / "broken.JPEG").write_bytes(b"\xff\xd8\xff garbage")
    out = cli("reference", "add", tmp_path / "imagenet-val", "--name", "imagenet-val", "--workers", "1").output
    assert "3 new file(s) hashed, 2 usable, 1 unreadable" in out
    assert "0 new file(s)" in cli("reference", "add", tmp_path / "imagenet-val", "--name", "imagenet-val").output
    assert "imagenet-val" in cli("reference", "list").output
    out = cli("filter", "--workers", "1").output
    assert "contaminated: 1" in out
    engine, session = _db(db_url)
    with session:
        ids = _by_name(session)
        decision = _current(session, ids["orig5.jpg"], "contamination")
        assert decision.verdict == "reject"
        assert decision.reason == "contaminated:imagenet-val/n01440764/ILSVRC2012_val_00000001.JPEG"
        assert _current(session, ids["orig4.jpg"], "contamination").verdict == "pass"
        group = session.scalar(select(DuplicateGroup).where(DuplicateGroup.kind == "reference"))
        assert group.params["reference"].startswith("imagenet-val/") and group.members[0].mirrored
    engine.dispose()


def test_report_counts_and_escaped_contact_sheet(workspace, db_url, cli, planted):
    folder, _ = planted
    cli("import", folder)
    engine, session = _db(db_url)
    with session:
        for r in session.scalars(select(SourceRecord)):
            r.title = '<script>alert("x")</script><img src=x onerror=alert(1)>'
        session.commit()
    engine.dispose()
    cli("filter", "--workers", "1")
    out_file = workspace / "report.html"
    out = cli("filter", "report", "--out", out_file).output
    assert "duplicate-of" in out and "black" in out and "report.html" in out
    page = out_file.read_text()
    assert "<script" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page and "data:image/jpeg;base64," in page
    assert "Content-Security-Policy" in page and page.count("class=\"card keep\"") == 4


def test_run_all_library_entry_point(engine, tmp_path):
    """What ``curate demo`` calls: run_all in the caller's session, then write_report."""
    from curation.db.session import session_scope
    from curation.filters import load_params, run_all
    from curation.filters.report import write_report
    from curation.images import probe
    from curation.ingest.records import store_image
    from curation.store import ImageStore

    store = ImageStore(tmp_path / "store")
    datas = [encode(photo(1), quality=90), encode(photo(1).transpose(Image.Transpose.FLIP_LEFT_RIGHT), quality=85),
             encode(photo(2), quality=90), encode(Image.new("RGB", (100, 100)))]
    with session_scope(engine) as session:
        for i, data in enumerate(datas):
            image = store_image(session, store, data, probe(data))
            session.add(SourceRecord(source="test", source_id=str(i), image_id=image.id, license="CC0-1.0"))
        summary = run_all(session, store, load_params(), workers=1)
        report = write_report(session, store, tmp_path / "report.html")
    assert summary.hashed == 4 and summary.totals == {"black": 1, "duplicate-of": 1}
    assert "duplicate-of: 1" in summary.line() and report.groups == 1 and report.rejected_shown == 1
