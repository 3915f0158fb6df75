"""The review pass, image by image: accept, reject, relabel (searchable), flag several classes, undo."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from annotate_ui import reviewing as reviews
from annotate_ui.db import get_db
from annotate_ui.state import state
from annotate_ui.views.common import login_required, parse_id
from annotate_ui.views.images import image_url
from curation.db.models import ImageClass

bp = Blueprint("review", __name__, url_prefix="/review")


def _class_choices(cls: ImageClass) -> list[ImageClass]:
    return list(get_db().scalars(select(ImageClass).where(ImageClass.class_set_id == cls.class_set_id)
                             .order_by(ImageClass.position)))


def fuzzy_classes(text: str, choices: list[ImageClass], n: int = 5) -> list[ImageClass]:
    """Classes whose key, name or 'name (key)' is closest to ``text`` (case and spacing ignored)."""
    import difflib

    text = " ".join(text.lower().split())
    if not text:
        return []
    names: dict[str, ImageClass] = {}
    for c in choices:
        for label in (c.key, c.name, f"{c.name} ({c.key})"):
            names.setdefault(" ".join(label.lower().split()), c)
    exact = names.get(text)
    if exact is not None:
        return [exact]
    found = [names[m] for m in difflib.get_close_matches(text, list(names), n=3 * n, cutoff=0.6)]
    found += [c for label, c in names.items() if text in label]
    return list(dict.fromkeys(found))[:n]


def _find_class(text: str, within: ImageClass) -> tuple[ImageClass | None, list[ImageClass]]:
    """(the class meant, None if unclear) and the close candidates, among ``within``'s class set."""
    matches = fuzzy_classes(text[:300], _class_choices(within))
    return (matches[0] if len(matches) == 1 else None), matches


def _order() -> str:
    """The queue order asked for (``?order=doubt|class``; a form's ``order``), else the default."""
    asked = request.values.get("order", "")
    return asked if asked in reviews.ORDERS else reviews.default_order(get_db())


def _back():
    return redirect(url_for("review.next_image", order=_order()))


@bp.get("")
@login_required("reviewer", "admin")
def next_image():
    cfg = state().cfg
    user, order = g.user, _order()
    items = reviews.queue(get_db(), user, cfg.review_method, cfg.reviews_per_image, limit=1, order=order)
    remaining = reviews.queue_size(get_db(), user, cfg.review_method, cfg.reviews_per_image)
    context = {"user": user, "remaining": remaining, "reviewed": reviews.reviewed_count(get_db(), user),
               "order": order, "orders": reviews.ORDERS, "has_doubt": reviews.has_doubt(get_db())}
    if not items:
        return render_template("review.html", item=None, **context)
    item = items[0]
    cls = get_db().get(ImageClass, item.class_id)
    return render_template("review.html", item=item, cls=cls, img=image_url("r", item.image_id),
                           record=reviews.provenance(get_db(), item.image_id), choices=_class_choices(cls), **context)


@bp.post("/decide")
@login_required("reviewer", "admin")
def decide():
    form = request.form
    image_id, class_id = parse_id(form.get("image_id")), parse_id(form.get("class_id"))
    if image_id is None or class_id is None:
        abort(400, description="That form named no valid image or class; nothing was recorded.")
    cfg = state().cfg
    cls = get_db().get(ImageClass, class_id)
    if cls is None or not reviews.in_queue(get_db(), g.user, cfg.review_method, cfg.reviews_per_image, image_id, class_id):
        flash("That image is not in your review queue; nothing was recorded.")
        return _back()
    decision = form.get("decision", "")
    new_class, several = None, []
    if decision == "relabel":
        new_class, close = _find_class(form.get("new_class", ""), cls)
        if new_class is None:
            hint = f" Did you mean: {', '.join(c.name for c in close)}?" if close else ""
            flash(f"Pick the new class from the list (type to search).{hint}")
            return _back()
    elif decision == "multi":
        wanted = {parse_id(v) for v in form.getlist("classes")[:50]} - {None}
        several = [c for c in _class_choices(cls) if c.id in wanted]
        if not several:
            flash("Tick the classes the image shows (m opens the list).")
            return _back()
    try:
        reviews.decide(get_db(), g.user, image_id, decision, class_id, new_class.id if new_class else None,
                       form.get("note", "")[:2000], [c.key for c in several])
    except (ValueError, PermissionError) as exc:
        get_db().rollback()
        flash(str(exc))
        return _back()
    get_db().commit()
    detail = f" as {new_class.name}" if new_class else f": {', '.join(c.name for c in several)}" if several else ""
    flash(f"Recorded: {decision}{detail}.")
    return _back()


@bp.post("/undo")
@login_required("reviewer", "admin")
def undo():
    undone = reviews.undo_last(get_db(), g.user)
    get_db().commit()
    flash("Undid your last decision." if undone else "Nothing to undo.")
    return _back()
