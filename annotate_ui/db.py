"""The per-request database session (the flaskr ``db.py`` layout).

``get_db()`` opens one session per request on the app's engine; the view commits what it changes.
``init_app(app)`` registers ``close_db`` so that whatever a request left uncommitted is rolled back.
"""

from __future__ import annotations

from flask import Flask, g
from sqlalchemy.orm import Session

from annotate_ui.state import state


def get_db() -> Session:
    """This request's session, opened on first use."""
    if "db" not in g:
        g.db = Session(state().engine, expire_on_commit=False)
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    """Roll back and close this request's session, if it opened one."""
    dbs = g.pop("db", None)
    if dbs is not None:
        dbs.rollback()
        dbs.close()


def init_app(app: Flask) -> None:
    """Close each request's session when its app context ends."""
    app.teardown_appcontext(close_db)
