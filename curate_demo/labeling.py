"""The labeling stage of the offline demo, and the small synthetic world tests and benchmarks use.

:func:`labeling_demo` creates gold and HITs for the classes that have candidates, lets simulated
workers (some careless, one spammer) label through the HTTP app on a real waitress server,
aggregates, reviews with a scripted reviewer, and prints how a person can try the app.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from curation.db.models import GoldItem, ImageClass, SourceRecord
from curation.images import probe
from curation.ingest.records import store_image
from curation.store import ImageStore, sha256_bytes

DEMO_CREW = ("honest",) * 8 + ("careless", "spammer")


def pixel_key(data: bytes) -> str:
    """What a person sees of an image, as a key: its pixels without their lowest bit (the app varies
    that bit on every serve, so no two serves of one image are byte- or pixel-identical)."""
    import hashlib

    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        pixels = np.asarray(img.convert("RGB"))
    return "px:" + hashlib.sha256(f"{pixels.shape}".encode() + (pixels >> 1).tobytes()).hexdigest()


@dataclass
class Truth:
    """The simulated reality: which class each image (by sha256, and by :func:`pixel_key`) really shows."""

    classes: dict[str, str] = field(default_factory=dict)

    def add(self, data: bytes, class_key: str) -> None:
        self.classes[sha256_bytes(data)] = class_key
        self.classes[pixel_key(data)] = class_key

    def __call__(self, sha256: str, class_key: str) -> bool:
        return self.classes.get(sha256) == class_key

    def label(self, sha256: str) -> str | None:
        return self.classes.get(sha256)


def synthetic_image(rng: np.random.Generator, size: tuple[int, int] = (96, 72)) -> bytes:
    """A small random picture: a coloured background with a shape (different for every draw)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 255, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(3):
        x, y = int(rng.integers(0, size[0] - 20)), int(rng.integers(0, size[1] - 20))
        draw.ellipse((x, y, x + int(rng.integers(10, 40)), y + int(rng.integers(10, 40))),
                     fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def add_image(session: Session, store: ImageStore, data: bytes, source_id: str, cls: ImageClass | None,
              title: str = "") -> int:
    """Store ``data`` as a candidate found for ``cls`` (source 'synthetic'); returns the image id."""
    image = store_image(session, store, data, probe(data))
    session.add(SourceRecord(source="synthetic", source_id=source_id, title=title or source_id, status="downloaded",
                             class_id=cls.id if cls else None, image_id=image.id, license="CC0-1.0"))
    session.flush()
    return image.id


def make_world(session: Session, store: ImageStore, classes: Sequence[ImageClass], candidates: int,
               gold: int, rng: np.random.Generator, wrong_share: float = 0.2, tag: str = "w") -> Truth:
    """Per class: ``candidates`` synthetic candidates (``wrong_share`` of them really show another
    class) and ``gold`` gold positives. Returns the truth the simulated people see."""
    truth = Truth()
    for k, cls in enumerate(classes):
        for i in range(gold):
            data = synthetic_image(rng)
            image_id = add_image(session, store, data, f"{tag}-gold-{cls.key}-{i}", None)
            session.add(GoldItem(image_id=image_id, class_id=cls.id, answer=True, origin="import"))
            truth.add(data, cls.key)
        for i in range(candidates):
            data = synthetic_image(rng)
            really = classes[(k + 1) % len(classes)] if len(classes) > 1 and rng.random() < wrong_share else cls
            add_image(session, store, data, f"{tag}-cand-{cls.key}-{i}", cls)
            truth.add(data, really.key)
    session.flush()
    return truth


def truth_from_database(session: Session, wrong_share: float, rng: np.random.Generator,
                        store: ImageStore | None = None) -> Truth:
    """A simulated reality for an existing workspace: each candidate shows its hinted class, except a
    ``wrong_share`` that shows another class of the same set; gold positives show their class.
    With ``store``, images are also known by what they show (:func:`pixel_key`)."""
    from curation.db.models import Image

    truth = Truth()
    rows = session.execute(select(Image.sha256, ImageClass.key, ImageClass.class_set_id)
                           .join(SourceRecord, SourceRecord.image_id == Image.id)
                           .join(ImageClass, ImageClass.id == SourceRecord.class_id)).all()
    keys = sorted({key for _sha, key, _s in rows})
    for sha, key, _set in rows:
        truth.classes[sha] = key if rng.random() >= wrong_share or len(keys) < 2 else \
            keys[(keys.index(key) + 1) % len(keys)]
    for sha, key in session.execute(select(Image.sha256, ImageClass.key).join(GoldItem, GoldItem.image_id == Image.id)
                                    .join(ImageClass, ImageClass.id == GoldItem.class_id)
                                    .where(GoldItem.answer.is_(True))):
        truth.classes[sha] = key
    if store is not None:
        for sha, key in list(truth.classes.items()):
            try:
                truth.classes[pixel_key(store.read(sha))] = key
            except (OSError, ValueError):
                continue
    return truth


def add_gold_images(session: Session, store: ImageStore, cls: ImageClass, n: int, rng: np.random.Generator,
                    truth: Truth) -> None:
    """``n`` synthetic gold positives of ``cls`` (the first few become the class's example images)."""
    for i in range(n):
        data = synthetic_image(rng)
        image_id = add_image(session, store, data, f"gold-{cls.key}-{secrets.token_hex(4)}-{i}", None)
        session.add(GoldItem(image_id=image_id, class_id=cls.id, answer=True, origin="import"))
        truth.add(data, cls.key)
    session.flush()


def demo_account(session: Session, username: str, role: str) -> str:
    """Create (or reset) a demo account; returns its fresh password."""
    from werkzeug.security import generate_password_hash

    from annotate_ui.accounts import create_user
    from curation.db.models import User

    password = secrets.token_urlsafe(12)
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        create_user(session, username, password, role)
    else:
        user.password_hash, user.role = generate_password_hash(password), role
    return password


def _prepare(session: Session, store: ImageStore, cfg, rng: np.random.Generator,
             max_classes: int = 5) -> tuple[Truth, list[str], int]:
    from annotate_ui.hits import candidate_images, create_hits, create_qualification
    from curation.taxonomy import get_class_set

    pending = {c.id: len(candidate_images(session, c)) for c in get_class_set(session, "imagenet-r").classes}
    classes = [c for c in get_class_set(session, "imagenet-r").classes if pending[c.id]][:max_classes]
    if not classes:
        from curation.errors import CurateError

        raise CurateError("no candidates to label: import some first (curate import DIR --label-from-folder)")
    truth = truth_from_database(session, 0.15, rng, store)
    for cls in classes:
        # no worker sees an image twice, so each HIT a worker takes needs fresh gold of its class
        hits = -(-pending[cls.id] // cfg.candidates_per_hit)
        # (its gold positives also serve as other classes' negatives)
        per_hit = cfg.gold_positives_per_hit + cfg.gold_negatives_per_hit
        add_gold_images(session, store, cls, cfg.examples_per_class + 8 + hits * per_hit, rng, truth)
    create_qualification(session, classes[0], cfg, rng, "demo qualification")
    n_hits = sum(len(create_hits(session, cls, cfg, rng, "demo: no reward").hits) for cls in classes)
    return truth, [c.name for c in classes], n_hits


def _hit_for_a_person(session: Session, store: ImageStore, cfg, rng: np.random.Generator) -> None:
    """Fresh candidates and one HIT, so a person opening the invite has something to label."""
    from annotate_ui.hits import create_hits
    from curation.db.models import Hit

    cls = session.get(ImageClass, session.scalar(select(Hit.class_id).where(Hit.kind == "qualification")
                                                 .order_by(Hit.id.desc()).limit(1)))
    for i in range(cfg.candidates_per_hit):
        add_image(session, store, synthetic_image(rng), f"try-{cls.key}-{secrets.token_hex(4)}-{i}", cls)
    create_hits(session, cls, cfg, rng, "demo: try it yourself")


def labeling_demo(settings, engine, echo: Callable[[str], None] = print, crew: Sequence[str] = DEMO_CREW,
                  seed: int = 0, max_classes: int = 5) -> dict:
    """Gold + HITs for classes with candidates, a simulated crowd over HTTP, aggregation, a scripted review.

    Prints each step and how to try the app; returns the figures it printed.
    """
    from annotate_ui.accounts import create_invite
    from annotate_ui.aggregate import DecisionRule, aggregate
    from annotate_ui.app import create_app
    from annotate_ui.config import config_from_settings
    from annotate_ui.quality import worker_stats
    from annotate_ui.server import running_server
    from annotate_ui.simulate import run_crowd, scripted_review
    from curation.db.session import session_scope

    rng = np.random.default_rng(seed)
    store = ImageStore(settings.store_path)
    cfg = config_from_settings(settings, candidates_per_hit=12, gold_positives_per_hit=2, gold_negatives_per_hit=2,
                               qualification_positives=2, qualification_negatives=2)
    with session_scope(engine) as session:
        truth, names, n_hits = _prepare(session, store, cfg, rng, max_classes)
        crowd_invite = create_invite(session, note="demo crowd").code
        reviewer_pw = demo_account(session, "demo-reviewer", "reviewer")
        admin_pw = demo_account(session, "demo-admin", "admin")
        person_invite = create_invite(session, note="try the app").code
    echo(f"  {n_hits} HITs (+1 qualification) for {', '.join(names)}; {cfg.workers_per_image} workers per image")
    app = create_app(settings, engine, config=cfg, secret_key=secrets.token_urlsafe(32))
    with running_server(app, threads=8) as url:
        crowd = run_crowd(url, crowd_invite, crew, truth, seed=seed)
        echo(f"  {len(crew)} simulated workers ({', '.join(sorted(set(crew)))}) submitted {crowd.hits_done} HITs "
             f"over HTTP at {url}; failures: {len(crowd.failures)}")
        with session_scope(engine) as session:
            summary = aggregate(session, DecisionRule.from_config(cfg), "dawid-skene")
            stats = worker_stats(session)
            flagged = [w.external_id for w in stats if w.flagged]
        for w in stats:
            acc = "-" if w.accuracy is None else f"{w.accuracy:.2f}"
            state = "flagged" if w.flagged else {True: "qualified", False: "failed qualification"}.get(w.qualified, "")
            echo(f"    worker {w.external_id}: {w.hits} HITs, gold accuracy {acc} {state}")
        echo(f"  aggregated {summary.tasks} images: {summary.accepted_frequency} accepted (frequency >= "
             f"{cfg.min_frequency}, >= {cfg.min_votes} votes), {summary.accepted_model} by Dawid-Skene; "
             f"{summary.excluded_votes} votes of {len(flagged)} flagged worker(s) left out")
        review = scripted_review(url, "demo-reviewer", reviewer_pw, truth, truth.label,
                                 max_items=max(0, summary.accepted_frequency - 5))
        echo(f"  scripted reviewer: {dict(sorted(review.decisions.items()))}; 5 images left for you to review")
    with session_scope(engine) as session:
        _hit_for_a_person(session, store, cfg, rng)
    root = settings.root
    echo(f"  try it (one HIT is left open for you):  curate --workspace {root} serve   then open\n"
         f"    worker:   {cfg.public_base}/join/{person_invite}\n"
         f"    reviewer: {cfg.public_base}/login  (demo-reviewer / {reviewer_pw})\n"
         f"    admin:    {cfg.public_base}/admin  (demo-admin / {admin_pw})")
    return {"hits": n_hits, "submitted": crowd.hits_done, "failures": crowd.failures, "accepted": summary.accepted_frequency,
            "flagged": flagged, "reviews": review.decisions, "invite_url": f"{cfg.public_base}/join/{person_invite}"}
