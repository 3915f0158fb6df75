"""Admin pages that replace the CLI for a round of work: invites, HITs, accounts, a worker's history.

Every page needs an admin account (``login_required('admin')``); every POST carries the CSRF token
(checked for the whole app) and redirects after a flash.
"""

from __future__ import annotations

from typing import Callable

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from annotate_ui import accounts
from annotate_ui.history import worker_history
from annotate_ui.db import get_db
from annotate_ui.state import state
from annotate_ui.views.common import login_required
from curation.db.models import ClassSet, ImageClass, Invite, User, utcnow
from curation.errors import CurateError

bp = Blueprint("manage", __name__, url_prefix="/admin")
MAX_ID = "int(max=2147483647)"


def public_base() -> str:
    """How workers reach the app: ``annotate.base_url``, else the address this request came in on."""
    return state().cfg.base_url.rstrip("/") or request.url_root.rstrip("/")


def _number(name: str, kind: type, low: float, high: float, optional: bool = True):
    """A number from the form within [low, high], None when blank (and ``optional``); CurateError otherwise."""
    text = (request.form.get(name) or "").strip()
    if not text and optional:
        return None
    try:
        value = kind(text)
    except ValueError:
        raise CurateError(f"{name.replace('_', ' ')} must be a number") from None
    if not low <= value <= high:
        raise CurateError(f"{name.replace('_', ' ')} must lie between {low:g} and {high:g}")
    return value


def _create(what: str, endpoint: str, make: Callable[[], str]):
    """Run ``make`` (it returns the line to flash) and commit; on a CurateError roll back and say why
    no ``what`` was made. Either way redirect to ``endpoint`` (post/redirect/get)."""
    try:
        done = make()
    except CurateError as exc:
        get_db().rollback()
        flash(f"No {what} made: {exc}.")
    else:
        get_db().commit()
        flash(done)
    return redirect(url_for(endpoint))


@bp.get("/invites")
@login_required("admin")
def invites():
    rows = list(get_db().scalars(select(Invite).order_by(Invite.id.desc())))
    return render_template("manage_invites.html", invites=rows, base=public_base(), now=utcnow(), user=g.user)


@bp.post("/invites")
@login_required("admin")
def create_invite():
    def make() -> str:
        uses = _number("uses", int, 1, 100_000)
        days = _number("days", float, 0.001, 3650)
        invite = accounts.create_invite(get_db(), uses, days, (request.form.get("note") or "")[:500])
        return f"Invite made: {public_base()}/join/{invite.code}"

    return _create("invite", "manage.invites", make)


@bp.post(f"/invites/<{MAX_ID}:invite_id>/revoke")
@login_required("admin")
def revoke_invite(invite_id: int):
    if not accounts.revoke_invite(get_db(), invite_id):
        abort(404)
    get_db().commit()
    flash("Invite revoked; workers who joined with it keep working.")
    return redirect(url_for("manage.invites"))


def _classes_with_sets() -> list[tuple[str, list[ImageClass]]]:
    return [(cs.name, list(cs.classes)) for cs in get_db().scalars(select(ClassSet).order_by(ClassSet.name))]


@bp.get("/hits")
@login_required("admin")
def hits():
    from annotate_ui.hits import hit_rows

    return render_template("manage_hits.html", rows=hit_rows(get_db()), class_sets=_classes_with_sets(),
                           cfg=state().cfg, base=public_base(), user=g.user)


@bp.post("/hits")
@login_required("admin")
def create_hits():
    return _create("HITs", "manage.hits", _make_hits)


def _make_hits() -> str:
    """The HITs (or the qualification pool) the form asks for; the line saying what was made."""
    import dataclasses
    import datetime as dt

    import numpy as np

    from annotate_ui.hits import create_hits as make, create_qualification

    rng = np.random.default_rng()
    cls = get_db().get(ImageClass, _number("class_id", int, 1, 2**31 - 1, optional=False))
    if cls is None:
        raise CurateError("pick a class from the list")
    workers = _number("workers", int, 1, 100)
    cfg = dataclasses.replace(state().cfg, workers_per_image=workers) if workers else state().cfg
    reward = (request.form.get("reward") or "")[:200]
    if request.form.get("qualification") == "1":
        pool = create_qualification(get_db(), cls, cfg, rng, reward)
        return f"Qualification pool for {cls.name}: {len(pool.items)} gold images."
    days = _number("expires_days", float, 0.001, 3650)
    expires = utcnow() + dt.timedelta(days=days) if days else None
    plan = make(get_db(), cls, cfg, rng, reward, expires, (request.form.get("batch") or "")[:100] or None,
                _number("max_hits", int, 1, 100_000))
    warnings = " ".join(plan.warnings)
    return f"Made {len(plan.hits)} HITs for {cls.name} from {plan.candidates} candidates. {warnings}".strip()


@bp.get("/users")
@login_required("admin")
def users():
    rows = list(get_db().scalars(select(User).order_by(User.username)))
    return render_template("manage_users.html", users=rows, user=g.user, min_password=accounts.MIN_PASSWORD)


@bp.post("/users")
@login_required("admin")
def create_user():
    def make() -> str:
        form = request.form
        name, password = (form.get("username") or "").strip()[:100], (form.get("password") or "")[:500]
        made = accounts.create_user(get_db(), name, password, form.get("role") or "reviewer",
                                    (form.get("worker") or "").strip() or None)
        return f"{made.role} {made.username} created; they sign in at {public_base()}/login"

    return _create("account", "manage.users", make)


@bp.post(f"/users/<{MAX_ID}:user_id>/active")
@login_required("admin")
def set_active(user_id: int):
    target = get_db().get(User, user_id)
    if target is None:
        abort(404)
    if target.id == g.user.id:
        flash("You cannot disable your own account.")
        return redirect(url_for("manage.users"))
    target.active = request.form.get("active") == "1"
    target.session_version += 1  # a disabled account's open sessions end now
    get_db().commit()
    flash(f"{target.username} {'enabled' if target.active else 'disabled'}.")
    return redirect(url_for("manage.users"))


@bp.get(f"/workers/<{MAX_ID}:worker_id>")
@login_required("admin")
def worker(worker_id: int):
    history = worker_history(get_db(), worker_id)
    if history is None:
        abort(404)
    return render_template("manage_worker.html", h=history, user=g.user)
