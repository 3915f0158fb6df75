"""The labeling stage of ``curate demo``: gold, HITs, a simulated crowd over HTTP, aggregation, review.

:func:`labeling_demo` creates gold and HITs for the classes that have candidates, lets simulated
workers (some careless, one spammer) label through the HTTP app on a real waitress server,
aggregates, reviews with a scripted reviewer, and prints how a person can try the app.
"""

from __future__ import annotations

import secrets
from typing import Callable, Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from curate_demo.world import Truth, add_gold_images, add_image, synthetic_image, truth_from_database
from curation.db.models import ImageClass
from curation.store import ImageStore

DEMO_CREW = ("honest",) * 8 + ("careless", "spammer")


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
    from curate_demo.crowd import run_crowd, scripted_review
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
