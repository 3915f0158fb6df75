"""Label Studio interoperability, through its documented JSON formats (no SDK needed).

Export: every item of the open label HITs becomes a Label Studio task whose ``data`` holds the image
as a URL signed by this app (``/img/<signed>``, the same links the labeling pages use; they expire
after ``annotate.image_url_max_age_s``), the HIT's class and the item's opaque token; the labeling
config offers the class set's classes as choices (value: the class name; alias: the class key).

Import: Label Studio's JSON export (a list of tasks, each with ``annotations[].result[]`` of type
``choices`` and ``completed_by`` a user id or a user object) becomes

- votes: one per (annotator, item) — the annotator is the worker ``labelstudio:<email or id>``, with
  one submitted assignment per HIT; selected = the HIT's class is among the chosen classes. Gold items
  score the assignment like the app does. Importing a file twice adds nothing.
- reviews: the annotator is the reviewer account named like the email, or its part before '@' (or
  ``reviewer``); the
  choice becomes accept (the HIT's class), relabel (another single class), multi (several, the
  HIT's among them) or reject (none).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Iterable, Sequence
from xml.sax.saxutils import quoteattr

from sqlalchemy import select
from sqlalchemy.orm import Session

from curation.db.models import Assignment, Hit, HitItem, ImageClass, User, Vote, Worker

log = logging.getLogger(__name__)
FROM_NAME, TO_NAME, NONE_CHOICE = "class", "image", "none of these"


class LabelStudioError(ValueError):
    """The file is not a Label Studio JSON export of tasks made by ``curate labelstudio export``."""


def labeling_config(classes: Sequence[ImageClass]) -> str:
    """The Label Studio labeling config (XML): the image, the question, the classes as choices."""
    choices = "".join(f"    <Choice value={quoteattr(c.name)} alias={quoteattr(c.key)}/>\n" for c in classes)
    return ("<View>\n"
            f"  <Image name=\"{TO_NAME}\" value=\"$image\"/>\n"
            "  <Header value=\"$question\"/>\n"
            f"  <Choices name=\"{FROM_NAME}\" toName=\"{TO_NAME}\" choice=\"multiple\" showInline=\"true\">\n"
            f"{choices}    <Choice value={quoteattr(NONE_CHOICE)}/>\n"
            "  </Choices>\n</View>\n")


def export_tasks(session: Session, image_url, hit_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """Tasks for every item of the open label HITs (or ``hit_ids``); ``image_url(token)`` signs a URL."""
    stmt = select(Hit).where(Hit.kind == "label", Hit.status == "open").order_by(Hit.id)
    if hit_ids is not None:
        stmt = select(Hit).where(Hit.id.in_(list(hit_ids))).order_by(Hit.id)
    tasks = []
    for hit in session.scalars(stmt):
        cls = session.get(ImageClass, hit.class_id)
        for item in hit.items:
            tasks.append({"data": {"image": image_url(item.token), "curate_item": item.token,
                                   "curate_hit": hit.public_id, "class": cls.key,
                                   "question": f"Which classes does this image show? (asked for: {cls.name})"}})
    return tasks


def _annotator(annotation: dict[str, Any]) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("username") or who.get("id")
    if who in (None, ""):
        raise LabelStudioError("an annotation has no completed_by; export the project as JSON from Label Studio")
    return str(who)


def _choices(annotation: dict[str, Any]) -> set[str]:
    chosen: set[str] = set()
    for result in annotation.get("result") or []:
        if result.get("type") == "choices" and result.get("from_name", FROM_NAME) == FROM_NAME:
            chosen.update(str(c) for c in (result.get("value") or {}).get("choices") or [])
    return chosen


def parse_export(data: Any) -> list[tuple[str, str, set[str]]]:
    """(item token, annotator, chosen labels) per annotation that was not cancelled."""
    if isinstance(data, dict) and "tasks" in data:
        data = data["tasks"]
    if not isinstance(data, list):
        raise LabelStudioError("expected Label Studio's JSON export: a list of tasks (Export > JSON)")
    out = []
    for task in data:
        token = (task.get("data") or {}).get("curate_item") if isinstance(task, dict) else None
        if not token:
            raise LabelStudioError("a task has no data.curate_item: import only tasks made by "
                                   "`curate labelstudio export`")
        for annotation in task.get("annotations") or []:
            if not annotation.get("was_cancelled"):
                out.append((str(token), _annotator(annotation), _choices(annotation)))
    return out


def _class_keys(session: Session, class_set_id: int) -> dict[str, str]:
    """Label (key or name, case-insensitive) -> class key."""
    keys: dict[str, str] = {}
    for cls in session.scalars(select(ImageClass).where(ImageClass.class_set_id == class_set_id)):
        keys[cls.name.lower()] = keys[cls.key.lower()] = cls.key
    return keys


def _item(session: Session, token: str) -> tuple[HitItem, Hit, ImageClass]:
    item = session.scalar(select(HitItem).where(HitItem.token == token))
    if item is None:
        raise LabelStudioError(f"task item {token[:12]}… is not in this workspace (another workspace's export?)")
    hit = session.get(Hit, item.hit_id)
    return item, hit, session.get(ImageClass, hit.class_id)


def _chosen_keys(session: Session, cls: ImageClass, labels: set[str]) -> set[str]:
    known = _class_keys(session, cls.class_set_id)
    unknown = sorted(x for x in labels if x.lower() not in known and x != NONE_CHOICE)
    if unknown:
        raise LabelStudioError(f"unknown class label(s) {unknown[:3]}: use the labeling config from "
                               "`curate labelstudio export`")
    return {known[x.lower()] for x in labels if x != NONE_CHOICE}


def _assignment(session: Session, hit: Hit, annotator: str, now: dt.datetime) -> Assignment:
    from annotate_ui.hits import new_token

    external = f"labelstudio:{annotator}"
    worker = session.scalar(select(Worker).where(Worker.external_id == external))
    if worker is None:
        worker = Worker(external_id=external)
        session.add(worker)
        session.flush()
    found = session.scalar(select(Assignment).where(Assignment.hit_id == hit.id, Assignment.worker_id == worker.id))
    if found is None:
        found = Assignment(public_id=new_token(12), hit_id=hit.id, worker_id=worker.id, status="submitted",
                           external_assignment_id="labelstudio", lease_expires_at=now, submitted_at=now,
                           gold_correct=0, gold_total=0)
        session.add(found)
        session.flush()
    return found


def import_votes(session: Session, data: Any) -> int:
    """Votes from a Label Studio export; returns how many were added (existing ones are kept)."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    added = 0
    for token, annotator, labels in parse_export(data):
        item, hit, cls = _item(session, token)
        selected = cls.key in _chosen_keys(session, cls, labels)
        assignment = _assignment(session, hit, annotator, now)
        if session.scalar(select(Vote.id).where(Vote.assignment_id == assignment.id, Vote.hit_item_id == item.id)):
            continue
        session.add(Vote(assignment_id=assignment.id, hit_item_id=item.id, image_id=item.image_id, class_id=cls.id,
                         worker_id=assignment.worker_id, selected=selected))
        if item.role == "gold" and item.gold_answer is not None:
            assignment.gold_total = (assignment.gold_total or 0) + 1
            assignment.gold_correct = (assignment.gold_correct or 0) + int(selected == item.gold_answer)
        added += 1
    session.flush()
    log.info("imported %d Label Studio votes", added)
    return added


def import_reviews(session: Session, data: Any, reviewer: str | None = None) -> int:
    """Review decisions from a Label Studio export; returns how many were recorded."""
    from annotate_ui.reviewing import decide

    done = 0
    for token, annotator, labels in parse_export(data):
        item, hit, cls = _item(session, token)
        if item.role != "candidate":
            continue
        name = reviewer or annotator
        user = session.scalar(select(User).where(User.username.in_([name, name.split("@")[0]]))
                              .order_by(User.username != name))
        if user is None:
            raise LabelStudioError(f"no reviewer account {name!r}: create it with `curate users create {name}` "
                                   "or pass --reviewer NAME")
        keys = _chosen_keys(session, cls, labels)
        decision, other = _decision(cls.key, keys)
        other_id = session.scalar(select(ImageClass.id).where(ImageClass.class_set_id == cls.class_set_id,
                                                              ImageClass.key == other)) if other else None
        decide(session, user, item.image_id, decision, cls.id, other_id, note="Label Studio")
        done += 1
    return done


def _decision(proposed: str, keys: set[str]) -> tuple[str, str | None]:
    if not keys:
        return "reject", None
    if keys == {proposed}:
        return "accept", None
    if proposed in keys:
        return "multi", None
    if len(keys) == 1:
        return "relabel", next(iter(keys))
    return "reject", None  # several classes, none of them the proposed one
