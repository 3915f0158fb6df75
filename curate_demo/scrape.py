"""The scrape stage of ``curate demo``: an emulator, a class x style corpus, a scrape, the downloads.

The emulator itself is a feature of :mod:`curation.emulator` (``curate emulator``); this module only drives it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, select

from curation.config import Settings
from curation.db.models import ClassSet, ImageClass
from curation.db.session import session_scope
from curation.emulator.corpus import CorpusConfig, build_corpus, write_reference_set
from curation.emulator.renditions import STYLE_WORDS
from curation.emulator.server import FlickrEmulator

log = logging.getLogger(__name__)
DEMO_CLASSES = ("goldfish", "strawberry", "mushroom", "beacon", "ladybug")
DEMO_STYLES = ("photo", "sketch", "cartoon", "painting", "origami")


def demo_queries(session, classes: tuple[str, ...], styles: tuple[str, ...], class_set: str = "imagenet-r"):
    """One query per (class, rendition style) plus the bare class name for photo-like images."""
    from curation.flickr.queries import QuerySpec
    from curation.taxonomy import ensure_class_set

    ensure_class_set(session, class_set)
    rows = session.scalars(select(ImageClass).join(ClassSet).where(ClassSet.name == class_set,
                                                                   ImageClass.name.in_(classes)))
    keys = {c.name: c.key for c in rows}
    specs = []
    for name in classes:
        for style in styles:
            keyword = None if style == "photo" else STYLE_WORDS[style][0]
            text = name.replace("_", " ") + (f" {keyword}" if keyword else "")
            specs.append(QuerySpec(text, keys.get(name), keyword))
    return specs


def demo_scrape(settings: Settings, engine: Engine, *, classes: tuple[str, ...] = DEMO_CLASSES,
                styles: tuple[str, ...] = DEMO_STYLES, per_cell: int = 10, seed: int = 0,
                photo_per_cell: int | None = None, reference_dir: Path | None = None, workers: int = 8, download_workers: int = 16) -> dict[str, Any]:
    """Scrape a generated class x style corpus from a local emulator into the workspace and download it.

    The corpus plants exact, near and mirrored duplicates, pitch-black and tiny images, overlaps with a
    reference set, deleted photos (Flickr's placeholder) and a noai photo. Writes the ground truth to
    ``emulator_ground_truth.json`` and the reference set to ``reference_dir`` (default ``reference/``)
    in the workspace. Returns counts for the demo to print.
    """
    from curation.flickr.client import FlickrClient, RetryPolicy
    from curation.scrape.job import ScrapeOptions
    from curation.scrape.pipeline import setup_job
    from curation.scrape.ratelimit import TokenBucket
    from curation.scrape.runner import run_job_with_downloads
    from curation.store import ImageStore

    corpus = build_corpus(CorpusConfig(classes=classes, styles=styles, per_cell=per_cell, plants=2, deleted=2,
                                       noai=1, photo_per_cell=photo_per_cell), seed=seed)
    reference_dir = reference_dir or settings.root / "reference"
    references = write_reference_set(corpus, reference_dir)
    truth = corpus.write_ground_truth(settings.root / "emulator_ground_truth.json")
    with FlickrEmulator(corpus, seed=seed) as emu:
        client = FlickrClient(emu.api_key, emu.api_secret, rest_url=emu.rest_url,
                              limiter=TokenBucket(36_000, burst=8), retry=RetryPolicy(tries=4, base_s=0.2),
                              rng=np.random.default_rng(seed))
        with session_scope(engine) as session:
            specs = demo_queries(session, classes, styles)
        job_id, name, shorts = setup_job(engine, settings, client, specs, "imagenet-r", ["redistributable"],
                                         ScrapeOptions(licenses=()), name=f"demo-emulator-{seed}")
        stats, got = run_job_with_downloads(engine, client, job_id, shorts, ImageStore(settings.store_path),
                                            workers=workers, download_workers=download_workers,
                                            max_pixels=settings.max_image_pixels, max_bytes=settings.max_image_bytes)
        api_calls = len(emu.counters.api_calls)
    planted: dict[str, int] = {}
    for photo in corpus.photos:
        if photo.plant:
            planted[photo.plant] = planted.get(photo.plant, 0) + 1
    rejected = ", ".join(f"{k}: {v}" for k, v in sorted(got.rejected.items())) or "none"
    summary = (f"scraped {stats.new} photos for {len(specs)} queries ({stats.linked} query links) in {api_calls} "
               f"emulated API calls; downloaded {got.downloaded}, rejected {sum(got.rejected.values())} ({rejected}), "
               f"failed {sum(got.failed.values())}; planted {sum(planted.values())} duplicates/bad images "
               f"(truth: {truth.name}); reference set: {len(references)} images in {reference_dir}")
    return {"summary": summary, "job": name, "queries": len(specs), "corpus_photos": len(corpus.photos), "api_calls": api_calls,
            "pages": stats.pages, "new": stats.new, "linked": stats.linked,
            "downloaded": got.downloaded, "rejected": dict(got.rejected), "failed": dict(got.failed),
            "planted": planted, "reference_dir": str(reference_dir), "reference_images": len(references),
            "ground_truth": str(truth)}
