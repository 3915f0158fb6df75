"""Titles are untrusted text of any length: stored whole, byte for byte, on both backends."""

from __future__ import annotations

from sqlalchemy import select

from curation.db.models import SourceRecord
from curation.db.session import session_scope
from curation.flickr.photos import record_fields

TITLES = ["t" * 1001, "Ünïcødé 🐟 " * 400, "<script>alert(1)</script>" + "x" * 5000, "tab\there\nnewline" * 300]


def test_long_hostile_titles_are_stored_whole(engine):
    with session_scope(engine) as session:
        for i, title in enumerate(TITLES):
            photo = {"id": str(i), "title": title, "url_c": f"http://h/{i}.jpg", "width_c": 800, "height_c": 600}
            fields = record_fields(photo, ("url_c",), {})
            assert fields["title"] == title
            session.add(SourceRecord(**fields))
    with session_scope(engine) as session:
        stored = {r.source_id: r.title for r in session.scalars(select(SourceRecord))}
    assert [stored[str(i)] for i in range(len(TITLES))] == TITLES
