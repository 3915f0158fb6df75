"""HIT creation (``curate hits create``) and gold sets (``curate gold import``).

A label HIT shows one class and a shuffled grid: candidates that passed the filters plus hidden
gold (ImageNetV2's recipe: 42 candidates, 3 known positives, 3 known negatives from the most
similar class). Image URLs carry only each item's random token, so gold cannot be spotted.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from annotate_ui.config import AnnotateConfig
from curation.db.models import (Assignment, ClassSet, FilterDecision, GoldItem, Hit, HitItem, ImageClass,
                                Review, SourceRecord, utcnow)
from curation.errors import CurateError

log = logging.getLogger(__name__)
QUALIFICATION_QUOTA = 1_000_000  # every worker may take the qualification


@dataclass
class HitPlan:
    """What ``create_hits`` made for one class."""

    class_key: str
    hits: list[Hit] = field(default_factory=list)
    candidates: int = 0
    gold_positive_pool: int = 0
    gold_negative_pool: int = 0
    warnings: list[str] = field(default_factory=list)


def resolve_class(session: Session, key: str, class_set: str | None = None) -> ImageClass:
    """The class with key (or name) ``key``, optionally within ``class_set``."""
    stmt = select(ImageClass).join(ClassSet).where((ImageClass.key == key) | (ImageClass.name == key))
    if class_set:
        stmt = stmt.where(ClassSet.name == class_set)
    found = list(session.scalars(stmt))
    if not found:
        raise CurateError(f"no class {key!r}{' in ' + class_set if class_set else ''}; "
                          "list them with:  curate classes list SET")
    if len(found) > 1:
        sets = ", ".join(sorted(c.class_set.name for c in found))
        raise CurateError(f"class {key!r} exists in several class sets ({sets}); pass --class-set")
    return found[0]


def new_token(n: int = 16) -> str:
    return secrets.token_urlsafe(n)


def rejected_images():
    """Image ids with a current filter rejection (a subquery)."""
    return select(FilterDecision.image_id).where(FilterDecision.current.is_(True),
                                                 FilterDecision.verdict == "reject")


def candidate_images(session: Session, cls: ImageClass) -> list[int]:
    """Images found for ``cls`` that passed the filters and are in no label HIT or gold set of it yet."""
    in_hits = select(HitItem.image_id).join(Hit).where(Hit.class_id == cls.id, Hit.kind == "label")
    gold = select(GoldItem.image_id).where(GoldItem.class_id == cls.id)
    stmt = (select(SourceRecord.image_id).distinct().where(
        SourceRecord.class_id == cls.id, SourceRecord.image_id.is_not(None),
        SourceRecord.image_id.not_in(rejected_images()), SourceRecord.image_id.not_in(in_hits),
        SourceRecord.image_id.not_in(gold)).order_by(SourceRecord.image_id))
    return [int(i) for i in session.scalars(stmt)]


def example_images(session: Session, cls: ImageClass, k: int) -> list[GoldItem]:
    """The first ``k`` gold positives of ``cls``: shown as examples, so never hidden in a HIT."""
    if k <= 0:
        return []
    stmt = (select(GoldItem).where(GoldItem.class_id == cls.id, GoldItem.answer.is_(True))
            .order_by(GoldItem.id).limit(k))
    return list(session.scalars(stmt))


def _words(cls: ImageClass) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", f"{cls.name} {cls.definition}".lower()))


def most_similar_class(session: Session, cls: ImageClass) -> ImageClass | None:
    """The class of the same set most easily confused with ``cls`` that has gold positives.

    Confusion counts from reviews (relabels between the two) come first, then shared words of the
    names and definitions, then closeness in the class list.
    """
    with_gold = select(GoldItem.class_id).where(GoldItem.answer.is_(True))
    others = list(session.scalars(select(ImageClass).where(
        ImageClass.class_set_id == cls.class_set_id, ImageClass.id != cls.id, ImageClass.id.in_(with_gold))))
    if not others:
        return None
    confusion = dict(session.execute(
        select(Review.class_id, func.count()).where(Review.decision == "relabel", Review.current.is_(True),
                                                    Review.proposed_class_id == cls.id)
        .group_by(Review.class_id)).all())
    mine = _words(cls)

    def score(other: ImageClass) -> tuple:
        theirs = _words(other)
        jaccard = len(mine & theirs) / max(1, len(mine | theirs))
        return (-confusion.get(other.id, 0), -jaccard, abs(other.position - cls.position), other.id)

    return min(others, key=score)


def gold_pools(session: Session, cls: ImageClass, cfg: AnnotateConfig) -> tuple[list[int], list[int]]:
    """(positive image ids, negative image ids) usable as hidden gold for ``cls``."""
    examples = {g.image_id for g in example_images(session, cls, cfg.examples_per_class)}
    positives = [i for i in session.scalars(select(GoldItem.image_id).where(
        GoldItem.class_id == cls.id, GoldItem.answer.is_(True)).order_by(GoldItem.id)) if i not in examples]
    negatives = list(session.scalars(select(GoldItem.image_id).where(
        GoldItem.class_id == cls.id, GoldItem.answer.is_(False)).order_by(GoldItem.id)))
    similar = most_similar_class(session, cls)
    if similar is not None:
        mine = set(positives) | examples | set(negatives)
        negatives += [i for i in session.scalars(select(GoldItem.image_id).where(
            GoldItem.class_id == similar.id, GoldItem.answer.is_(True)).order_by(GoldItem.id)) if i not in mine]
    return positives, negatives


def _least_used(session: Session, pool: Sequence[int], n: int, rng: np.random.Generator,
                uses: dict[int, int]) -> list[int]:
    """``n`` images of ``pool``, the least used so far first (ties broken by ``rng``)."""
    if n <= 0 or not pool:
        return []
    noise = rng.random(len(pool))
    order = sorted(range(len(pool)), key=lambda k: (uses.get(pool[k], 0), noise[k]))
    chosen = [pool[k] for k in order[:n]]
    for image_id in chosen:
        uses[image_id] = uses.get(image_id, 0) + 1
    return chosen


def _gold_uses(session: Session) -> dict[int, int]:
    rows = session.execute(select(HitItem.image_id, func.count()).where(HitItem.role == "gold")
                           .group_by(HitItem.image_id)).all()
    return {int(i): int(n) for i, n in rows}


def _make_hit(session: Session, cls: ImageClass, kind: str, quota: int, items: list[tuple[int, str, bool | None]],
              rng: np.random.Generator, reward_note: str, expires_at: dt.datetime | None, batch: str | None) -> Hit:
    hit = Hit(public_id=new_token(12), class_id=cls.id, kind=kind, batch=batch, assignments_per_item=quota,
              reward_note=reward_note, expires_at=expires_at, status="open")
    session.add(hit)
    session.flush()
    for position, k in enumerate(rng.permutation(len(items))):
        image_id, role, answer = items[int(k)]
        session.add(HitItem(hit_id=hit.id, image_id=image_id, position=position, role=role, gold_answer=answer,
                            token=new_token()))
    session.flush()
    return hit


def create_hits(session: Session, cls: ImageClass, cfg: AnnotateConfig, rng: np.random.Generator,
                reward_note: str = "", expires_at: dt.datetime | None = None, batch: str | None = None,
                max_hits: int | None = None, images: Sequence[int] | None = None) -> HitPlan:
    """Label HITs for every not-yet-used candidate of ``cls`` (or for ``images``, in that order, e.g. the
    active-learning choice of :mod:`annotate_ui.active`): candidates plus shuffled hidden gold."""
    plan = HitPlan(cls.key)
    candidates = list(images) if images is not None else candidate_images(session, cls)
    plan.candidates = len(candidates)
    positives, negatives = gold_pools(session, cls, cfg)
    plan.gold_positive_pool, plan.gold_negative_pool = len(positives), len(negatives)
    if len(positives) < cfg.gold_positives_per_hit or len(negatives) < cfg.gold_negatives_per_hit:
        plan.warnings.append(f"class {cls.key}: only {len(positives)} gold positives and {len(negatives)} "
                             "gold negatives; import more with  curate gold import DIR --class KEY [--negative]")
    uses = _gold_uses(session)
    size = cfg.candidates_per_hit
    for start in range(0, len(candidates), size):
        if max_hits is not None and len(plan.hits) >= max_hits:
            break
        items: list[tuple[int, str, bool | None]] = [(i, "candidate", None) for i in candidates[start:start + size]]
        chosen = set(i for i, _, _ in items)
        for image_id in _least_used(session, [p for p in positives if p not in chosen],
                                    cfg.gold_positives_per_hit, rng, uses):
            items.append((image_id, "gold", True))
            chosen.add(image_id)
        for image_id in _least_used(session, [n for n in negatives if n not in chosen],
                                    cfg.gold_negatives_per_hit, rng, uses):
            items.append((image_id, "gold", False))
        plan.hits.append(_make_hit(session, cls, "label", cfg.workers_per_image, items, rng, reward_note,
                                   expires_at, batch))
    return plan


POOL_BATCH = "qualification-pool"


def guess_pass_probability(n_items: int, pass_share: float) -> float:
    """The chance that ticking at random (a fair coin per image) passes a qualification of
    ``n_items`` gold images with pass mark ``pass_share``."""
    from math import ceil, comb

    need = ceil(pass_share * n_items - 1e-9)
    return sum(comb(n_items, k) for k in range(need, n_items + 1)) / 2 ** n_items


def create_qualification(session: Session, cls: ImageClass, cfg: AnnotateConfig, rng: np.random.Generator,
                         reward_note: str = "") -> Hit:
    """The qualification pool of ``cls``: every usable gold image of the class (and of its most similar
    class as negatives). Nobody leases the pool itself: each worker gets their own draw from it
    (:func:`draw_qualification`), in their own order."""
    positives, negatives = gold_pools(session, cls, cfg)
    if len(positives) < cfg.qualification_positives or len(negatives) < cfg.qualification_negatives:
        raise CurateError(f"class {cls.key} has {len(positives)} gold positives and {len(negatives)} negatives; "
                          f"a qualification draws {cfg.qualification_positives} and {cfg.qualification_negatives} "
                          "per worker from a larger pool: import more with  curate gold import DIR --class KEY "
                          "[--negative]")
    if len(positives) < 2 * cfg.qualification_positives or len(negatives) < 2 * cfg.qualification_negatives:
        log.warning("class %s: the qualification pool is less than twice a draw; workers will see much of "
                    "the same gold", cls.key)
    items = [(i, "gold", True) for i in positives] + [(i, "gold", False) for i in negatives]
    return _make_hit(session, cls, "qualification", QUALIFICATION_QUOTA, items, rng, reward_note, None, POOL_BATCH)


def qualification_pool(session: Session) -> Hit | None:
    """The open qualification pool new workers draw from (the newest), if any."""
    return session.scalar(select(Hit).where(Hit.kind == "qualification", Hit.status == "open",
                                            Hit.batch == POOL_BATCH).order_by(Hit.id.desc()).limit(1))


def draw_qualification(session: Session, pool: Hit, worker_id: int, cfg: AnnotateConfig,
                       rng: np.random.Generator) -> Hit | None:
    """The worker's own qualification HIT: a fresh random draw from ``pool``, in random order, of
    images they have not seen (preferably ones no open label HIT shows). An unused earlier draw is
    reused; None when the pool is exhausted."""
    from annotate_ui.leasing import seen_images

    batch = f"q:{worker_id}"
    mine = session.scalar(select(Hit).where(Hit.kind == "qualification", Hit.batch == batch, Hit.status == "open",
                                            ~Hit.id.in_(select(Assignment.hit_id).where(
                                                Assignment.worker_id == worker_id))).limit(1))
    if mine is not None:
        return mine
    seen = set(session.scalars(seen_images(worker_id)))
    items = [i for i in session.scalars(select(HitItem).where(HitItem.hit_id == pool.id).order_by(HitItem.id))
             if i.image_id not in seen]
    # prefer gold that no open label HIT shows, so passing the qualification never bars a worker from a HIT
    in_labels = set(session.scalars(select(HitItem.image_id).join(Hit).where(Hit.kind == "label",
                                                                            Hit.status == "open")))
    drawn: list[tuple[int, str, bool | None]] = []
    for answer, n in ((True, cfg.qualification_positives), (False, cfg.qualification_negatives)):
        group = [i.image_id for i in items if i.gold_answer is answer]
        fresh = [i for i in group if i not in in_labels]
        group = fresh if len(fresh) >= n else group
        if len(group) < n:
            return None
        drawn += [(int(image_id), "gold", answer) for image_id in rng.choice(group, size=n, replace=False)]
    cls = session.get(ImageClass, pool.class_id)
    return _make_hit(session, cls, "qualification", 1, drawn, rng, pool.reward_note, None, batch)


def add_gold(session: Session, image_ids: Sequence[int], cls: ImageClass, answer: bool, origin: str) -> int:
    """Record ``image_ids`` as gold for ``cls``; returns how many were new."""
    known = set(session.scalars(select(GoldItem.image_id).where(GoldItem.class_id == cls.id,
                                                                GoldItem.image_id.in_(list(image_ids)))))
    added = 0
    for image_id in dict.fromkeys(image_ids):
        if image_id not in known:
            session.add(GoldItem(image_id=image_id, class_id=cls.id, answer=answer, origin=origin))
            added += 1
    session.flush()
    return added


def import_gold(session: Session, store, directory: Path, cls: ImageClass, negative: bool,
                license: str, max_bytes: int, max_pixels: int) -> tuple[int, int, dict[str, int]]:
    """Import the images of ``directory`` as gold for ``cls``: (new gold, already gold, rejected by reason)."""
    from curation.ingest.folder import ImportOptions, ImportStats, import_files, iter_files

    root = directory.resolve()
    files = list(iter_files(root))
    stats = ImportStats()
    import_files(session, store, root, files, stats, ImportOptions(license=license, max_bytes=max_bytes,
                                                                   max_pixels=max_pixels))
    image_ids = list(stats.image_ids.values())  # identical copies of known images included
    added = add_gold(session, image_ids, cls, not negative, "import")
    return added, len(set(image_ids)) - added, stats.rejected


def gold_from_reviews(session: Session, cls: ImageClass | None = None) -> int:
    """Gold from the review pass: accepted or relabeled images become positives of their class,
    rejected ones negatives of the class they were proposed for. Images reviewers disagree on are skipped."""
    from annotate_ui.reviewing import disagreeing_images

    disputed = set(disagreeing_images(session))
    stmt = select(Review).where(Review.current.is_(True), Review.decision.in_(("accept", "relabel", "reject")))
    added = 0
    for review in session.scalars(stmt):
        if review.image_id in disputed:
            continue
        class_id = review.proposed_class_id if review.decision == "reject" else review.class_id
        if class_id is None or (cls is not None and class_id != cls.id):
            continue
        target = session.get(ImageClass, class_id)
        added += add_gold(session, [review.image_id], target, review.decision != "reject", "review")
    return added


def hit_rows(session: Session) -> list[tuple]:
    """(public id, kind, class key, items, submitted, quota, status, expires) per HIT."""
    submitted = (select(Assignment.hit_id, func.count().label("n")).where(Assignment.status == "submitted")
                 .group_by(Assignment.hit_id).subquery())
    n_items = select(HitItem.hit_id, func.count().label("n")).group_by(HitItem.hit_id).subquery()
    stmt = (select(Hit.public_id, Hit.kind, ImageClass.key, n_items.c.n, func.coalesce(submitted.c.n, 0),
                   Hit.assignments_per_item, Hit.status, Hit.expires_at)
            .join(ImageClass, ImageClass.id == Hit.class_id).join(n_items, n_items.c.hit_id == Hit.id)
            .outerjoin(submitted, submitted.c.hit_id == Hit.id).order_by(Hit.id))
    out = []
    for public_id, kind, key, n, submitted_n, quota, status, expires in session.execute(stmt):
        if status == "open" and (submitted_n >= quota or (expires is not None and expires <= utcnow())):
            status = "complete" if submitted_n >= quota else "expired"
        out.append((public_id, kind, key, n, submitted_n, quota, status, expires))
    return out
