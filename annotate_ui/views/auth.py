"""Reviewer and admin sign-in, rate-limited per (address, user name)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from annotate_ui.accounts import check_password
from annotate_ui.views.common import db, state, switch_identity

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None, fallback: str) -> str:
    """Only local paths (no scheme, no host, no '//') are followed after login."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return fallback


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""))
    username = (request.form.get("username") or "").strip()[:100]
    password = (request.form.get("password") or "")[:500]
    address = request.remote_addr or "?"
    limiter = state().limiter
    if limiter.blocked(address, username):
        abort(429, description="Too many failed sign-ins; wait a few minutes and try again.")
    user = check_password(db(), username, password)
    if user is None:
        limiter.failed(address, username)
        flash("Wrong user name or password.")
        return render_template("login.html", next=request.form.get("next", "")), 401
    limiter.succeeded(address, username)
    switch_identity(user_id=user.id)
    fallback = url_for("admin.dashboard") if user.role == "admin" else url_for("review.next_image")
    return redirect(_safe_next(request.form.get("next"), fallback))


@bp.post("/logout")
def logout():
    switch_identity()
    return redirect(url_for("auth.login"))
