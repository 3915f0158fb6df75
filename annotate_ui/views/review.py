"""The review pass, image by image: accept, reject, relabel (searchable), flag several classes, undo."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from annotate_ui import review as reviews
from annotate_ui.views.common import db, login_required, parse_id, state
from annotate_ui.views.images import image_url
from curation.db.models import AggregatedLabel, ImageClass

bp = Blueprint("review", __name__, url_prefix="/review")


def _class_choices(cls: ImageClass) -> list[ImageClass]:
    return list(db().scalars(select(ImageClass).where(ImageClass.class_set_id == cls.class_set_id)
                             .order_by(ImageClass.position)))


def _find_class(text: str, within: ImageClass) -> ImageClass | None:
    """A class of the same set by key, name, or the 'name (key)' text the search list shows."""
    text = text.strip()
    if text.endswith(")") and "(" in text:
        text = text[text.rindex("(") + 1:-1]
    return db().scalar(select(ImageClass).where(ImageClass.class_set_id == within.class_set_id,
                                                (ImageClass.key == text) | (ImageClass.name == text)))


@bp.get("")
@login_required("reviewer", "admin")
def next_image():
    cfg = state().cfg
    user = g.user
    items = reviews.queue(db(), user, cfg.review_method, cfg.reviews_per_image, limit=1)
    remaining = reviews.queue_size(db(), user, cfg.review_method, cfg.reviews_per_image)
    context = {"user": user, "remaining": remaining, "reviewed": reviews.reviewed_count(db(), user)}
    if not items:
        return render_template("review.html", item=None, **context)
    item = items[0]
    cls = db().get(ImageClass, item.class_id)
    return render_template("review.html", item=item, cls=cls, img=image_url("r", item.image_id),
                           record=reviews.provenance(db(), item.image_id), choices=_class_choices(cls), **context)


@bp.post("/decide")
@login_required("reviewer", "admin")
def decide():
    form = request.form
    image_id, class_id = parse_id(form.get("image_id")), parse_id(form.get("class_id"))
    if image_id is None or class_id is None:
        abort(400, description="That form named no valid image or class; nothing was recorded.")
    cfg = state().cfg
    cls = db().get(ImageClass, class_id)
    if cls is None or not reviews.in_queue(db(), g.user, cfg.review_method, cfg.reviews_per_image, image_id, class_id):
        flash("That image is not in your review queue; nothing was recorded.")
        return redirect(url_for("review.next_image"))
    decision = form.get("decision", "")
    new_class = None
    if decision == "relabel":
        new_class = _find_class(form.get("new_class", "")[:300], cls)
        if new_class is None:
            flash("Pick the new class from the list (type to search).")
            return redirect(url_for("review.next_image"))
    try:
        reviews.decide(db(), g.user, image_id, decision, class_id, new_class.id if new_class else None,
                       form.get("note", ""))
    except (ValueError, PermissionError) as exc:
        db().rollback()
        flash(str(exc))
        return redirect(url_for("review.next_image"))
    db().commit()
    flash(f"Recorded: {decision}{' as ' + new_class.name if new_class else ''}.")
    return redirect(url_for("review.next_image"))


@bp.post("/undo")
@login_required("reviewer", "admin")
def undo():
    undone = reviews.undo_last(db(), g.user)
    db().commit()
    flash("Undid your last decision." if undone else "Nothing to undo.")
    return redirect(url_for("review.next_image"))
