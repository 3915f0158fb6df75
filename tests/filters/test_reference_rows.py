"""``curate reference list``'s query: usable (hashed) images per reference set, in one statement."""

from curation.db.models import ReferenceImage, ReferenceSet
from curation.filters.contamination import reference_rows, reference_signature
from tests.sqlcount import statements


def test_reference_rows(session, engine):
    val, empty = ReferenceSet(name="val", root="/data/val"), ReferenceSet(name="empty")
    session.add_all([val, empty])
    session.flush()
    session.add_all([ReferenceImage(reference_set_id=val.id, identity=f"{i}.jpg", phash=p)
                     for i, p in enumerate([1, 2, None, 4])])  # one unreadable: no hash
    session.commit()
    with statements(engine) as sent:
        rows = reference_rows(session)
    assert rows == [("empty", 0, ""), ("val", 3, "/data/val")]
    assert len(sent) == 1
    assert {name: n for name, n, _ in rows} == reference_signature(session)
