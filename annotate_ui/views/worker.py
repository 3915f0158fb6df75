"""The worker's way through: invite or token -> instructions -> qualification -> HITs -> completion code.

Also the ExternalQuestion entry ``/task?assignmentId=…&hitId=…&workerId=…&turkSubmitTo=…&sig=…`` that a
crowd platform frames; ``assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE`` is its preview mode. It is off
unless ``annotate.external_entry`` is set; then ``sig`` must be the worker's HMAC (see
:func:`annotate_ui.security.platform_signature`), ``turkSubmitTo`` a configured platform host, and
new leases per client address are capped per time window. No GET changes who is signed in.
"""

from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from annotate_ui import accounts, leasing
from annotate_ui.hits import draw_qualification, example_images, qualification_pool
from annotate_ui.security import signature_ok
from annotate_ui.db import get_db
from annotate_ui.state import state
from annotate_ui.views.common import current_worker, message, switch_identity
from annotate_ui.views.images import image_url
from curation.db.models import Assignment, Hit, HitItem, ImageClass, Worker, utcnow

bp = Blueprint("worker", __name__)
PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"


def _worker_or_login() -> Worker:
    worker = current_worker()
    if worker is None:
        abort(403, description="Open your invite link or worker link first.")
    return worker


def _needed_kind(worker: Worker) -> str | None:
    """'qualification' before a first HIT when a pool is open, 'label' after, None if the worker failed it."""
    if worker.qualified is False:
        return None
    if worker.qualified is None and qualification_pool(get_db()) is not None:
        return "qualification"
    return "label"


def _flagged_page(worker: Worker):
    return message("Your HITs are paused", "Your answers on images with known answers were not accurate enough "
                   f"({worker.flag_reason or 'flagged by an admin'}), so no more HITs are offered to you. "
                   "If you think this is a mistake, contact the requester with your worker id "
                   f"{worker.external_id}.")


def _lease(worker: Worker, kind: str, hit_id: int | None = None, external_assignment_id: str | None = None):
    """A lease for ``worker``: their own qualification draw, or a label HIT (``hit_id`` if given)."""
    import numpy as np

    if kind == "qualification":
        existing = leasing.current_lease(get_db(), worker.id, utcnow())
        if existing is not None:
            return existing
        pool = qualification_pool(get_db())
        mine = draw_qualification(get_db(), pool, worker.id, state().cfg, np.random.default_rng()) if pool else None
        if mine is None:
            return None
        hit_id = mine.id
    return leasing.lease_next(get_db(), worker.id, state().cfg, kind=kind, hit_id=hit_id,
                              external_assignment_id=external_assignment_id)


@bp.get("/")
def index():
    return redirect(url_for("worker.home") if current_worker() else url_for("auth.login"))


@bp.get("/join/<code>")
def join_page(code: str):
    """The invite's landing page; joining is a POST, so link previewers cannot use up invites."""
    return render_template("join.html", code=code[:128])


@bp.post("/join/<code>")
def join(code: str):
    worker = accounts.redeem_invite(get_db(), code[:128])
    if worker is None:
        get_db().rollback()
        return message("Invite not valid", "This invite link is unknown, used up or expired.", 404)
    get_db().commit()
    switch_identity(worker_id=worker.id)
    return redirect(url_for("worker.home", new=1))


@bp.get("/t/<token>")
def token_page(token: str):
    """A personal worker link's landing page; signing in is a POST (no identity change on GET)."""
    return render_template("join.html", token=token[:128])


@bp.post("/t/<token>")
def token_login(token: str):
    worker = accounts.worker_by_token(get_db(), token[:128])
    if worker is None:
        return message("Link not valid", "This worker link is unknown.", 404)
    switch_identity(worker_id=worker.id)
    return redirect(url_for("worker.home"))


def _done_count(worker_id: int) -> int:
    return get_db().scalar(select(func.count()).where(Assignment.worker_id == worker_id,
                                                  Assignment.status.in_(("submitted", "rejected")))) or 0


@bp.get("/w")
def home():
    worker = _worker_or_login()
    kind = _needed_kind(worker)
    available = len(leasing.candidate_hits(get_db(), worker.id, "label", utcnow(), limit=1000)) if kind else 0
    return render_template("home.html", worker=worker, done=_done_count(worker.id), kind=kind,
                           available=available, new=request.args.get("new") == "1",
                           resume=url_for("worker.token_page", token=worker.token, _external=True)
                           if worker.token else None)


@bp.post("/w/start")
def start():
    worker = _worker_or_login()
    if worker.flagged:
        return _flagged_page(worker)
    kind = _needed_kind(worker)
    if kind is None:
        return message("Qualification not passed", "Thank you for your time; your answers on the "
                       "qualification task were not accurate enough to continue.")
    assignment = _lease(worker, kind)
    get_db().commit()
    if assignment is None:
        return message("No HITs right now", "There is no task available for you at the moment. "
                       "Come back later.", action=("Try again", url_for("worker.start")))
    return redirect(url_for("worker.assignment", public_id=assignment.public_id))


def _own_assignment(public_id: str) -> Assignment:
    """The signed-in worker's assignment; anyone else's is a 404 (never revealed)."""
    worker = _worker_or_login()
    assignment = get_db().scalar(select(Assignment).where(Assignment.public_id == public_id[:64]))
    if assignment is None or assignment.worker_id != worker.id:
        abort(404)
    return assignment


def _hit_context(hit: Hit, preview: bool) -> dict:
    dbs = get_db()
    cls = dbs.get(ImageClass, hit.class_id)
    items = list(dbs.scalars(select(HitItem).where(HitItem.hit_id == hit.id).order_by(HitItem.position)))
    cfg = state().cfg
    examples = [image_url("x", gold.id) for gold in example_images(dbs, cls, cfg.examples_per_class)]
    grid = [{"value": item.token, "img": image_url("h", item.token)} for item in items]
    return {"hit": hit, "cls": cls, "grid": grid, "examples": examples, "preview": preview,
            "data": {"class_key": cls.key, "class_name": cls.name, "items": grid, "preview": preview}}


@bp.get("/w/a/<public_id>")
def assignment(public_id: str):
    assignment = _own_assignment(public_id)
    if assignment.status in ("submitted", "rejected"):
        return redirect(url_for("worker.done", public_id=public_id))
    if assignment.status != "leased" or assignment.lease_expires_at < utcnow():
        return message("Lease expired", "This HIT's time ran out and it went back to the pool.", 410,
                       action=("Start another HIT", url_for("worker.start")))
    hit = get_db().get(Hit, assignment.hit_id)
    context = _hit_context(hit, preview=False)
    upcoming = leasing.peek_next(get_db(), assignment.worker_id)
    preload = [image_url("h", t) for t in get_db().scalars(select(HitItem.token).where(
        HitItem.hit_id == upcoming.id).order_by(HitItem.position))] if upcoming is not None else []
    left_s = max(0, int((assignment.lease_expires_at - utcnow()).total_seconds()))
    available = len(leasing.candidate_hits(get_db(), assignment.worker_id, "label", utcnow(), limit=1000))
    context["data"].update(preload=preload, submit=url_for("worker.submit", public_id=public_id), lease_left_s=left_s)
    return render_template("hit.html", assignment=assignment, done=_done_count(assignment.worker_id),
                           available=available, lease_left_s=left_s, **context)


@bp.post("/w/a/<public_id>/submit")
def submit(public_id: str):
    assignment = _own_assignment(public_id)
    selected = request.form.getlist("sel")
    if len(selected) > state().cfg.max_form_items:
        abort(413)
    try:
        leasing.submit(get_db(), assignment.id, selected, state().cfg)
        get_db().commit()
    except IntegrityError:
        get_db().rollback()  # a concurrent duplicate lost the race; the winner's votes stand
    except leasing.SubmitError as exc:
        get_db().rollback()
        return message("Not submitted", str(exc), 409, action=("Start another HIT", url_for("worker.start")))
    return redirect(url_for("worker.done", public_id=public_id))


@bp.get("/w/a/<public_id>/done")
def done(public_id: str):
    assignment = _own_assignment(public_id)
    if assignment.status not in ("submitted", "rejected"):
        return redirect(url_for("worker.assignment", public_id=public_id))
    hit = get_db().get(Hit, assignment.hit_id)
    worker = get_db().get(Worker, assignment.worker_id)
    turk = session.get("turk") or {}
    external = turk if turk.get("assignmentId") == assignment.external_assignment_id and turk.get("submitTo") else None
    kind = _needed_kind(worker)
    available = len(leasing.candidate_hits(get_db(), worker.id, "label", utcnow(), limit=1000)) if kind else 0
    return render_template("done.html", assignment=assignment, hit=hit, worker=worker, external=external,
                           kind=kind, done=_done_count(worker.id), available=available)


@bp.post("/w/a/<public_id>/return")
def give_back(public_id: str):
    assignment = _own_assignment(public_id)
    leasing.return_assignment(get_db(), assignment.id)
    get_db().commit()
    return redirect(url_for("worker.home"))


def _submit_target(turk_submit_to: str) -> str | None:
    """The platform's submit URL, only on https and only to a configured platform host."""
    parsed = urlparse(turk_submit_to)
    if parsed.scheme != "https" or parsed.username or parsed.password or parsed.port not in (None, 443):
        return None
    if (parsed.hostname or "").lower() not in state().cfg.platform_host_list:
        return None
    return f"https://{parsed.hostname}{parsed.path.rstrip('/')}/mturk/externalSubmit"


TASK_ARGS = ("assignmentId", "hitId", "workerId", "turkSubmitTo", "sig")


def _task_args(source) -> dict[str, str]:
    """The ExternalQuestion parameters; 404 when the platform entry is off, 400/403 when they are bad."""
    if not state().cfg.external_entry:
        abort(404, description="This server takes no crowd platform tasks; open your invite or worker link.")
    args = {k: (source.get(k) or "")[:200] for k in TASK_ARGS}
    if args["assignmentId"] in ("", PREVIEW):
        return args
    args["workerId"] = args["workerId"].strip()
    if not args["workerId"] or any(ord(ch) < 0x21 for ch in args["workerId"]):
        abort(400, description="workerId is missing or blank; open the task from your platform again.")
    if not signature_ok(state().platform_secret, args["workerId"], args["sig"]):
        abort(403, description="This task link is not signed for this worker; open it from your platform again.")
    return args


@bp.get("/task")
def external_task():
    """ExternalQuestion entry: the preview with inputs disabled, or a page whose button (a POST) takes the HIT."""
    args = _task_args(request.args)
    if args["assignmentId"] in ("", PREVIEW):
        hit = get_db().scalar(select(Hit).where(Hit.public_id == args["hitId"])) if args["hitId"] else None
        hit = hit if hit is not None and hit.kind == "label" else get_db().scalar(
            select(Hit).where(Hit.kind == "label", Hit.status == "open").order_by(Hit.id))
        if hit is None:
            return message("No HITs", "There are no open HITs.", 404)
        return render_template("hit.html", assignment=None, done=0, **_hit_context(hit, preview=True))
    return render_template("task_start.html", args=args)


@bp.post("/task")
def external_task_start():
    """Sign the platform's worker in (a POST from the start page) and lease them the HIT."""
    args = _task_args(request.form)
    if args["assignmentId"] in ("", PREVIEW):
        abort(400, description="Accept the HIT on your platform first.")
    address = request.remote_addr or "?"
    cfg = state().cfg
    if state().leases.count(("task", address)) >= cfg.external_leases_per_window:
        abort(429, description="Too many HITs taken from this address; wait a while and try again.")
    try:
        worker = accounts.external_worker(get_db(), args["workerId"])
        get_db().commit()
    except IntegrityError:
        get_db().rollback()
        worker = accounts.external_worker(get_db(), args["workerId"])
    turk = {"assignmentId": args["assignmentId"], "submitTo": _submit_target(args["turkSubmitTo"])}
    if current_worker() is None or current_worker().id != worker.id:
        switch_identity(worker_id=worker.id, turk=turk)
    else:
        session["turk"] = turk
    if worker.flagged:
        return _flagged_page(worker)
    kind = _needed_kind(worker)
    if kind is None:
        return message("Qualification not passed", "Your qualification answers were not accurate enough.")
    hit = get_db().scalar(select(Hit).where(Hit.public_id == args["hitId"])) if args["hitId"] else None
    target = hit.id if hit is not None and kind == "label" and hit.kind == "label" else None
    leased = _lease(worker, kind, target, args["assignmentId"])
    get_db().commit()
    if leased is None:
        return message("HIT not available", "This HIT is full, expired, or shows images you have seen.", 409)
    state().leases.add(("task", address))
    return redirect(url_for("worker.assignment", public_id=leased.public_id))
