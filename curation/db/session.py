"""Engines, sessions and migrations.

Data functions elsewhere take a ``Session`` and never open or commit one; the CLI (or a test)
opens it with :func:`session_scope` and owns the unit of work.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from curation.errors import CurateError, DatabaseUnreachable

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def connect(url: str, check: bool = True) -> Engine:
    """An engine for ``url``; with ``check``, a failing connection raises a message naming the URL."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUnreachable(
            f"{url!r} is not a database URL; use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB") from exc
    kwargs: dict = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=20)
        if parsed.get_backend_name() == "postgresql":
            kwargs["connect_args"] = {"connect_timeout": 10}
    try:
        engine = create_engine(parsed, **kwargs)
    except NoSuchModuleError as exc:
        raise DatabaseUnreachable(
            f"cannot use database {safe_url(url)}: no driver for '{parsed.drivername}'. "
            "Use postgresql+psycopg://… for PostgreSQL or sqlite:///… for SQLite") from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if check:
        try:
            with engine.connect() as conn:
                if parsed.get_backend_name() == "sqlite":
                    conn.exec_driver_sql("SELECT count(*) FROM sqlite_master")  # a damaged header fails here
        except DatabaseError as exc:
            from curation.errors import user_message

            if not isinstance(exc, OperationalError) or "not a database" in str(exc):
                raise DatabaseUnreachable(user_message(exc) or str(exc)) from exc
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise DatabaseUnreachable(
                f"cannot connect to database {safe_url(url)}: {reason}. Check that the server is running "
                "and the URL (--db or CURATE_DB) is right") from exc
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextlib.contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent)."""
    from alembic import command

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


# The newest migration under MIGRATIONS: a database at it needs no look at the migration scripts (loading
# them costs every command a quarter of a second). tests/curation/test_db.py keeps it equal to alembic's head.
HEAD_REVISION = "0003_crowdlab"


def current_revision(engine: Engine) -> str | None:
    """The revision alembic recorded in the database (None: no ``alembic_version`` table, or no row)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        versions = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    if len(versions) > 1:
        raise CurateError(f"the database records several schema revisions ({', '.join(sorted(versions))}); "
                          "curate keeps one line of migrations: restore it from a backup")
    return versions[0] if versions else None


def known_revisions() -> set[str]:
    """Every revision id of this package's migrations."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return {rev.revision for rev in ScriptDirectory.from_config(cfg).walk_revisions()}


def has_schema(engine: Engine) -> bool:
    return inspect(engine).has_table("images")
