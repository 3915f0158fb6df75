import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from curation.db.models import Base, Image, ImageClass, Query, QuerySource, SourceRecord
from curation.db.session import HEAD_REVISION, MIGRATIONS, current_revision, upgrade
from curation.taxonomy import ensure_class_set, get_class_set


def test_migrations_create_every_table_and_are_idempotent(engine):
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    head = current_revision(engine)
    upgrade(engine)
    assert current_revision(engine) == head


def test_head_revision_constant_is_alembics_head(engine):
    """The constant the CLI's fast schema check compares with is the newest migration script's revision."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_heads() == [HEAD_REVISION]
    assert current_revision(engine) == HEAD_REVISION  # what upgrade() records, read without alembic


def test_migration_matches_models(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    assert diff == [], "models changed without a migration: run alembic revision --autogenerate"


def test_source_unique_and_many_to_many_queries(session):
    cs = get_class_set(session, "imagenet-r")
    goldfish = next(c for c in cs.classes if c.name == "goldfish")
    q1 = Query(text="goldfish cartoon", class_id=goldfish.id, rendition="cartoon")
    q2 = Query(text="goldfish painting", class_id=goldfish.id, rendition="painting")
    image = Image(sha256="a" * 64, n_bytes=10, phash=-(2**63), dhash=2**63 - 1)
    record = SourceRecord(source="flickr", source_id="123", image=image, license="4", owner="x@N00")
    session.add_all([q1, q2, record])
    session.flush()
    session.add_all([QuerySource(query_id=q1.id, source_record_id=record.id),
                     QuerySource(query_id=q2.id, source_record_id=record.id)])
    session.commit()
    assert session.scalar(select(Image.phash)) == -(2**63)
    session.add(SourceRecord(source="flickr", source_id="123"))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_builtin_class_sets(session):
    imr = get_class_set(session, "imagenet-r")
    assert len(imr.classes) == 200
    assert imr.classes[0].key == "n01443537" and imr.classes[0].logit_index == 1
    assert len(get_class_set(session, "svsf").classes) == 20
    dfr = get_class_set(session, "dfr").classes
    assert len(dfr) == 13 and dfr[-1].name == "sling dress"
    again = ensure_class_set(session, "imagenet-r")
    assert len(session.scalars(select(ImageClass).where(ImageClass.class_set_id == again.id)).all()) == 200
