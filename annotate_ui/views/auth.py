"""Reviewer and admin sign-in, rate-limited per (address, account), per address and per account.

Behind a reverse proxy set ``annotate.trusted_proxies`` so the address is the client's, not the proxy's.
Signing out raises the account's session version, which ends every copy of its session cookie.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from annotate_ui.accounts import check_password
from annotate_ui.db import get_db
from annotate_ui.state import state
from annotate_ui.views.common import current_user, switch_identity

bp = Blueprint("auth", __name__)


def safe_next(target: str | None, fallback: str) -> str:
    """Only a same-origin relative path is followed after sign-in: it starts with one '/', has no
    scheme, host, backslash or control character (browsers drop tabs and newlines, so '/\\t/evil'
    would become '//evil')."""
    if not target or len(target) > 2000 or not target.startswith("/") or target.startswith("//"):
        return fallback
    if "\\" in target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return fallback
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else fallback


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method != "POST":  # GET and HEAD only show the form
        return render_template("login.html", next=safe_next(request.args.get("next"), ""))
    username = (request.form.get("username") or "").strip()[:100]
    password = (request.form.get("password") or "")[:500]
    address = request.remote_addr or "?"
    limiter = state().limiter
    if limiter.blocked(address, username):
        abort(429, description="Too many failed sign-ins; wait a few minutes and try again.")
    user = check_password(get_db(), username, password)
    if user is None or not user.active:
        limiter.failed(address, username)
        flash("Wrong user name or password." if user is None else "This account is disabled; ask an admin.")
        return render_template("login.html", next=safe_next(request.form.get("next"), "")), 401
    limiter.succeeded(address, username)
    switch_identity(user_id=user.id, user_version=user.session_version)
    fallback = url_for("admin.dashboard") if user.role == "admin" else url_for("review.next_image")
    return redirect(safe_next(request.form.get("next"), fallback))


@bp.post("/logout")
def logout():
    user = current_user()
    if user is not None:
        user.session_version += 1  # every copy of this session cookie stops working
        get_db().commit()
    switch_identity()
    return redirect(url_for("auth.login"))
