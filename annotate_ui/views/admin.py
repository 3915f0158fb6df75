"""The admin dashboard: progress per class, the worker table, disagreements, CSV exports."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import aliased

from annotate_ui import quality, reviewing
from annotate_ui.db import get_db
from annotate_ui.state import state
from annotate_ui.views.common import login_required
from curation.db.models import (AggregatedLabel, Assignment, Hit, HitItem, ImageClass, Image, Review, User, Vote,
                                Worker)

bp = Blueprint("admin", __name__, url_prefix="/admin")


def class_progress(session, method: str) -> list[tuple]:
    """(class name, candidates, voted, accepted, reviewed) for every class with label HITs."""
    def per_class(stmt) -> dict[int, int]:
        return {int(c): int(n) for c, n in session.execute(stmt)}

    candidates = per_class(select(Hit.class_id, func.count(distinct(HitItem.image_id))).join(HitItem)
                           .where(Hit.kind == "label", HitItem.role == "candidate").group_by(Hit.class_id))
    voted = per_class(select(Vote.class_id, func.count(distinct(Vote.image_id))).join(HitItem)
                      .where(HitItem.role == "candidate").group_by(Vote.class_id))
    accepted = per_class(select(AggregatedLabel.class_id, func.count()).where(
        AggregatedLabel.method == method, AggregatedLabel.accepted.is_(True)).group_by(AggregatedLabel.class_id))
    reviewed = per_class(select(Review.proposed_class_id, func.count(distinct(Review.image_id))).where(
        Review.current.is_(True)).group_by(Review.proposed_class_id))
    names = dict(session.execute(select(ImageClass.id, ImageClass.name).where(ImageClass.id.in_(list(candidates)))).all())
    return [(names[c], n, voted.get(c, 0), accepted.get(c, 0), reviewed.get(c, 0))
            for c, n in sorted(candidates.items(), key=lambda kv: names[kv[0]])]


@bp.get("")
@login_required("admin")
def dashboard():
    session = get_db()
    hits = dict(session.execute(select(Hit.kind, func.count()).group_by(Hit.kind)).all())
    submitted = session.scalar(select(func.count()).where(Assignment.status == "submitted")) or 0
    threshold = request.args.get("quality", type=float)
    threshold = state().cfg.doubt_threshold if threshold is None or not 0 <= threshold <= 1 else threshold
    return render_template("admin.html", progress=class_progress(session, state().cfg.review_method),
                           workers=quality.worker_stats(session), disputes=reviewing.disagreements(session),
                           hits=hits, submitted=submitted, threshold=threshold,
                           doubtful=reviewing.doubtful_count(session, threshold), has_doubt=reviewing.has_doubt(session))


@bp.post("/workers/<int(max=2147483647):worker_id>/flag")
@login_required("admin")
def flag(worker_id: int):
    worker = get_db().get(Worker, worker_id)
    if worker is None:
        abort(404)
    flagged = request.form.get("flagged") == "1"
    quality.set_flag(get_db(), worker, flagged, "flagged by an admin")
    get_db().commit()
    back = url_for("manage.worker", worker_id=worker_id) if request.form.get("back") == "worker" else None
    return redirect(back or url_for("admin.dashboard"))


def safe_cell(value) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(name: str, header: list[str], rows) -> Response:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return Response(buf.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}"})


@bp.get("/export/votes.csv")
@login_required("admin")
def export_votes():
    stmt = (select(Vote.id, Worker.external_id, Worker.flagged, Assignment.public_id, Assignment.status, Hit.public_id,
                   Hit.kind, ImageClass.key, Image.sha256, HitItem.role, HitItem.gold_answer, Vote.selected,
                   Vote.created_at)
            .join(Worker, Worker.id == Vote.worker_id).join(Assignment, Assignment.id == Vote.assignment_id)
            .join(Hit, Hit.id == Assignment.hit_id).join(HitItem, HitItem.id == Vote.hit_item_id)
            .join(ImageClass, ImageClass.id == Vote.class_id).join(Image, Image.id == Vote.image_id)
            .order_by(Vote.id))
    header = ["vote_id", "worker", "worker_flagged", "assignment", "assignment_status", "hit", "hit_kind", "class",
              "image_sha256", "role", "gold_answer", "selected", "created_at"]
    return _csv("votes.csv", header, get_db().execute(stmt))


@bp.get("/export/reviews.csv")
@login_required("admin")
def export_reviews():
    proposed, final = aliased(ImageClass), aliased(ImageClass)
    stmt = (select(Review.id, User.username, Image.sha256, Review.decision, proposed.key, final.key, Review.classes,
                   Review.note, Review.current, Review.created_at)
            .join(User, User.id == Review.user_id).join(Image, Image.id == Review.image_id)
            .outerjoin(proposed, proposed.id == Review.proposed_class_id)
            .outerjoin(final, final.id == Review.class_id).order_by(Review.id))
    header = ["review_id", "reviewer", "image_sha256", "decision", "proposed_class", "final_class", "classes",
              "note", "current", "created_at"]
    return _csv("reviews.csv", header, get_db().execute(stmt))
