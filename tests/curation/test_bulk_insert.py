"""``curation.db.bulk.insert_rows`` stores what SQLAlchemy's own insert stores, on SQLite and PostgreSQL:
JSON, dates, booleans, floats and NULLs read back equal through the ORM, constants and defaults included."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, select

from curation.db.bulk import insert_rows
from curation.db.models import FilterDecision, Image, SourceRecord


def _images(session, n: int) -> list[int]:
    session.execute(insert(Image.__table__), [{"sha256": f"{i:064x}", "n_bytes": i} for i in range(n)])
    return list(session.scalars(select(Image.id).order_by(Image.id)))


def test_decisions_read_back_as_the_orm_wrote_them(session):
    ids = _images(session, 6)
    params = {"threshold": 10, "mirror": True, "note": "a 'quoted' % value", "nested": [1.5, None]}
    rows = [(ids[0], "pass", None, 0.25), (ids[1], "reject", "corrupt: bad %s marker", None),
            (ids[2], "reject", "duplicate-of:" + "f" * 64, 3.0)]
    insert_rows(session, FilterDecision.__table__, ("image_id", "verdict", "reason", "score"), rows,
                {"filter": "quality", "params": params, "current": True})
    for image_id, verdict, reason, score in rows:  # the same rows the ordinary way, on other images
        session.add(FilterDecision(image_id=ids[3 + rows.index((image_id, verdict, reason, score))],
                                   filter="quality", params=params, verdict=verdict, reason=reason, score=score,
                                   current=True))
    session.commit()
    got = session.scalars(select(FilterDecision).order_by(FilterDecision.image_id)).all()
    assert len(got) == 6
    fast, orm = got[:3], got[3:]
    for a, b in zip(fast, orm):
        assert (a.filter, a.params, a.verdict, a.reason, a.score, a.current) == \
            (b.filter, b.params, b.verdict, b.reason, b.score, b.current)
    assert fast[0].params == params and fast[1].reason == "corrupt: bad %s marker" and fast[1].score is None
    assert fast[0].current is True
    # created_at came from the column's default, once for the batch
    assert len({d.created_at for d in fast}) == 1 and isinstance(fast[0].created_at, dt.datetime)
    assert abs(fast[0].created_at - orm[0].created_at) < dt.timedelta(minutes=5)


def test_per_row_dates_and_json_are_processed(session):
    when = [dt.datetime(2021, 3, 4, 5, 6, 7, 891011), None]
    rows = [("s1", "http://x/1", when[0], {"relative_path": "a/b.jpg", "k": "v"}, "downloaded"),
            ("s2", "http://x/2", when[1], None, "rejected")]
    insert_rows(session, SourceRecord.__table__, ("source_id", "url", "uploaded_at", "metadata", "status"), rows,
                {"source": "folder"})
    session.commit()
    got = {r.source_id: r for r in session.scalars(select(SourceRecord))}
    assert got["s1"].uploaded_at == when[0] and got["s2"].uploaded_at is None
    assert got["s1"].metadata_ == {"relative_path": "a/b.jpg", "k": "v"}
    assert got["s1"].source == got["s2"].source == "folder" and got["s2"].status == "rejected"


def test_unknown_column_is_refused(session):
    with pytest.raises(ValueError, match="no column"):
        insert_rows(session, FilterDecision.__table__, ("image_id", "colour"), [(1, "red")])
