"""Per-request helpers shared by the blueprints: the signed-in people, error pages, response headers."""

from __future__ import annotations

import functools
from typing import Any, Callable

from flask import abort, g, redirect, render_template, request, session, url_for

from annotate_ui.db import get_db
from annotate_ui.security import secure_headers
from annotate_ui.state import state
from curation.db.models import User, Worker

def platform_origins() -> tuple[str, ...]:
    """``https://host`` of each configured platform host, when the platform entry is on."""
    cfg = state().cfg
    return tuple(f"https://{h}" for h in cfg.platform_host_list) if cfg.external_entry else ()


def finish_response(response):
    """Security headers; worker pages may be framed by the configured crowd platform, nothing else may."""
    framed = request.blueprint in ("worker", "images")
    if request.blueprint in ("review", "admin", "manage", "auth", "worker"):
        response.headers.setdefault("Cache-Control", "no-store")
    return secure_headers(response, platform_origins() if framed else ())


def _way_back() -> tuple[str, str]:
    """(label, URL) of the page this visitor most likely wants after an error."""
    if session.get("user_id"):
        return "Back to reviewing", url_for("review.next_image")
    if session.get("worker_id"):
        return "Back to the instructions", url_for("worker.home")
    return "Sign in", url_for("auth.login")


def error_page(exc):
    code = getattr(exc, "code", 500) or 500
    text = getattr(exc, "description", "") or "Something went wrong."
    if code == 500:
        text = "Something went wrong on our side; nothing you sent was lost. Try again in a moment."
    return render_template("message.html", title=f"Error {code}", text=text, back=_way_back()), code


def message(title: str, text: str, code: int = 200, action: tuple[str, str] | None = None):
    """A plain page with a line of text, a way back, and optionally one button (label, POST url)."""
    return render_template("message.html", title=title, text=text, action=action, back=_way_back()), code


def parse_id(text: str | None) -> int | None:
    """A database id from a form or query value; None unless 1 .. 2**31-1 (what every backend stores)."""
    text = (text or "").strip()
    if not text.isdigit() or len(text) > 10:
        return None
    value = int(text)
    return value if 0 < value < 2**31 else None


def current_worker() -> Worker | None:
    worker_id = session.get("worker_id")
    return get_db().get(Worker, worker_id) if worker_id else None


def current_user() -> User | None:
    """The signed-in account; None once it signed out elsewhere (session version) or was disabled."""
    user_id = session.get("user_id")
    if not user_id:
        return None
    user = get_db().get(User, user_id)
    if user is None or not user.active or session.get("user_version") != user.session_version:
        return None
    return user


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
