"""``curate splits list``'s query: one row per split with its export count, in one statement."""

from curation.db.models import Export, Split
from splits.persist import split_rows
from tests.sqlcount import statements


def _split(name: str, seed: int, report: dict) -> Split:
    return Split(name=name, spec={}, spec_sha256="0" * 64, seed=seed, report=report)


def _export(split: Split, version: int) -> Export:
    return Export(split_id=split.id, version=version, format="folder", path=f"/x/{version}",
                  manifest_sha256="0" * 64, n_images=1)


def test_split_rows_counts_exports_in_one_query(session, engine):
    a = _split("b-table", 2, {"kind": "table", "sizes": {"train": 3}})
    b = _split("a-db", 1, {"kind": "db", "sizes": {"train": 5, "iid_test": 2}})
    c = _split("c-empty", 0, {})
    session.add_all([a, b, c])
    session.flush()
    session.add_all([_export(b, 1), _export(b, 2), _export(c, 1)])
    session.commit()
    with statements(engine) as sent:
        rows = split_rows(session)
    # by hand: sizes summed per split, exports counted per split, sorted by name
    assert rows == [("a-db", "db", 1, 2, 7, 2), ("b-table", "table", 2, 1, 3, 0), ("c-empty", "db", 0, 0, 0, 1)]
    assert len(sent) == 1


def test_split_rows_empty(session):
    assert split_rows(session) == []
