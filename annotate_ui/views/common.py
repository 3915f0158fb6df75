"""Per-request helpers shared by the blueprints: the database session, the signed-in people."""

from __future__ import annotations

import functools
from typing import Any, Callable

from flask import abort, current_app, g, redirect, render_template, request, session, url_for
from sqlalchemy.orm import Session

from annotate_ui.app import AppState
from annotate_ui.security import secure_headers
from curation.db.models import User, Worker


def state() -> AppState:
    return current_app.extensions["curate"]


def db() -> Session:
    """This request's session (the view commits what it changes)."""
    if "db" not in g:
        g.db = Session(state().engine, expire_on_commit=False)
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.rollback()
        session.close()


def finish_response(response):
    """Security headers; worker pages may be framed by a crowd platform, nothing else may."""
    frame_ok = request.blueprint == "worker" or request.blueprint == "images"
    if request.blueprint in ("review", "admin", "auth", "worker"):
        response.headers.setdefault("Cache-Control", "no-store")
    return secure_headers(response, frame_ok=frame_ok)


def error_page(exc):
    code = getattr(exc, "code", 500) or 500
    text = getattr(exc, "description", "") or "Something went wrong."
    return render_template("message.html", title=f"Error {code}", text=text), code


def message(title: str, text: str, code: int = 200, action: tuple[str, str] | None = None):
    """A plain page with a line of text and optionally one button (label, POST url)."""
    return render_template("message.html", title=title, text=text, action=action), code


def current_worker() -> Worker | None:
    worker_id = session.get("worker_id")
    return db().get(Worker, worker_id) if worker_id else None


def current_user() -> User | None:
    user_id = session.get("user_id")
    return db().get(User, user_id) if user_id else None


def login_required(*roles: str) -> Callable:
    """Views for signed-in reviewers/admins; others go to the login page (or get 403)."""
    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any):
            user = current_user()
            if user is None:
                return redirect(url_for("auth.login", next=request.path))
            if roles and user.role not in roles:
                abort(403, description="Your account may not open this page.")
            g.user = user
            return view(*args, **kwargs)
        return wrapped
    return decorator


def switch_identity(**values: Any) -> None:
    """Start a fresh session for a new identity (prevents session fixation), keeping nothing else."""
    session.clear()
    session.update(values)
