"""Keyset pagination by upload date against a capped, bursty catalogue: search calls within the bound,
every photo found exactly once, ties at the boundary second, a second over the cap, resume mid-keyset."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from sqlalchemy import func, select

from curation.config import load_settings
from curation.db.models import Query, QuerySource, ScrapeWindow, SourceRecord
from curation.db.session import session_scope
from curation.emulator import CorpusConfig, FlickrEmulator, build_corpus
from curation.emulator.corpus import with_bursty_uploads
from curation.flickr.client import FlickrClient, RetryPolicy
from curation.flickr.queries import QuerySpec
from curation.scrape.job import ScrapeOptions
from curation.scrape.pipeline import setup_job
from curation.scrape.runner import run_job

CAP, PER_PAGE = 40, 10  # Flickr's 4,000 and 500, scaled down so a test makes hundreds of calls, not thousands
QUERIES = ("goldfish", "mushroom", "cartoon", "goldfish sketch")


def _matches(photo, text: str) -> bool:
    """What a default search returns (reference: text in title, description or tags; safe; photos only)."""
    words = set(re.findall(r"[a-z0-9]+", f"{photo.title} {photo.description} {photo.tags}".lower()))
    return set(text.split()) <= words and photo.safety == 1 and photo.content_type == 1


@pytest.fixture
def bursty(start_emulator):
    corpus = build_corpus(CorpusConfig(classes=("goldfish", "mushroom"), styles=("cartoon", "sketch"),
                                       per_cell=110, plants=0, reference_size=0), seed=5)
    corpus = with_bursty_uploads(corpus, np.random.default_rng(5), bursts=3, burst_s=60)
    emu = FlickrEmulator(corpus, cap=CAP, max_side=96).start()
    yield emu
    emu.stop()


class Killed(BaseException):
    """The process dying mid-run, as far as the runner can tell."""


class _KillAfter:
    def __init__(self, calls: int):
        self.left = calls

    def acquire(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise Killed()


def _job(engine, tmp_path, emu, limiter=None):
    client = FlickrClient(emu.api_key, emu.api_secret, rest_url=emu.rest_url, limiter=limiter,
                          rng=np.random.default_rng(0), retry=RetryPolicy(tries=2, base_s=0.01))
    job_id, _, shorts = setup_job(engine, load_settings(tmp_path), client, [QuerySpec(q) for q in QUERIES],
                                  "imagenet-r", ["all"], ScrapeOptions(licenses=(), per_page=PER_PAGE, cap=CAP))
    return client, job_id, shorts


def _search_calls(emu) -> int:
    return sum(method == "flickr.photos.search" for _, method, _ in emu.counters.api_calls)


def _bound(emu) -> tuple[int, dict[str, set[str]]]:
    """1.2 x Σ⌈matched/per_page⌉ + queries, from a plain loop over the catalogue; and the expected ids."""
    expected = {q: {p.id for p in emu.corpus.photos if _matches(p, q)} for q in QUERIES}
    pages = sum(math.ceil(len(ids) / PER_PAGE) for ids in expected.values())
    return math.floor(1.2 * pages) + len(QUERIES), expected


def _found(engine) -> dict[str, list[str]]:
    with session_scope(engine) as session:
        rows = session.execute(select(Query.text, SourceRecord.source_id)
                               .join(QuerySource, QuerySource.query_id == Query.id)
                               .join(SourceRecord, SourceRecord.id == QuerySource.source_record_id)).all()
    out: dict[str, list[str]] = {}
    for text, source_id in rows:
        out.setdefault(text, []).append(source_id)
    return out


def _assert_each_photo_once(engine, expected: dict[str, set[str]]) -> None:
    found = _found(engine)
    for query, ids in expected.items():
        assert len(found[query]) == len(set(found[query])), f"{query}: a photo linked twice"
        assert set(found[query]) == ids, query
    with session_scope(engine) as session:
        records = session.scalar(select(func.count()).select_from(SourceRecord))
    assert records == len(set().union(*expected.values()))  # one record per photo across queries


def test_search_calls_within_the_bound_and_every_photo_found_once(engine, tmp_path, bursty):
    bound, expected = _bound(bursty)
    assert max(len(ids) for ids in expected.values()) > 3 * CAP  # several continuations per query
    client, job_id, shorts = _job(engine, tmp_path, bursty)
    licenses_calls = _search_calls(bursty)
    stats = run_job(engine, client, job_id, shorts, workers=3)
    calls = _search_calls(bursty) - licenses_calls
    assert calls <= bound, (calls, bound)
    assert stats.continued >= 3 * len(QUERIES) - 1 and stats.repeats > 0  # ties at boundary seconds refetched
    assert stats.pages == calls and stats.crowded_seconds == 0 and stats.empty_windows == 0
    _assert_each_photo_once(engine, expected)
    with session_scope(engine) as session:
        windows = session.scalars(select(ScrapeWindow)).all()
    assert {w.status for w in windows} == {"done", "continued"}
    assert all(w.total_reported is not None for w in windows)


def test_resume_mid_keyset_continues_from_the_recorded_cursor(engine, tmp_path, bursty):
    bound, expected = _bound(bursty)
    client, job_id, shorts = _job(engine, tmp_path, bursty, limiter=_KillAfter(13))
    with pytest.raises(Killed):
        run_job(engine, client, job_id, shorts, workers=1)
    with session_scope(engine) as session:
        job_low = min(session.scalars(select(ScrapeWindow.min_upload)))
        cursors = session.scalars(select(ScrapeWindow).where(ScrapeWindow.status == "pending",
                                                             ScrapeWindow.min_upload > job_low)).all()
        assert cursors, "no continued window recorded before the kill"
        assert session.scalar(select(func.count()).select_from(ScrapeWindow)
                              .where(ScrapeWindow.status == "continued")) >= 1
    before = _search_calls(bursty)
    client, job_id, shorts = _job(engine, tmp_path, bursty)  # the rerun: same command, same job
    run_job(engine, client, job_id, shorts, workers=2)
    assert _search_calls(bursty) <= bound + 2  # the page in flight at the kill, and the licenses call
    assert before < _search_calls(bursty)
    _assert_each_photo_once(engine, expected)


def test_a_second_with_more_than_the_cap_is_counted_and_the_rest_still_found(engine, tmp_path, start_emulator):
    from dataclasses import replace

    corpus = build_corpus(CorpusConfig(classes=("goldfish",), styles=("cartoon",), per_cell=70, plants=0,
                                       reference_size=0), seed=2)
    crowded = corpus.photos[0].dateupload
    corpus.photos[:55] = [replace(p, dateupload=crowded, safety=1, content_type=1) for p in corpus.photos[:55]]
    emu = FlickrEmulator(corpus, cap=CAP, max_side=96).start()
    try:
        client = FlickrClient(emu.api_key, emu.api_secret, rest_url=emu.rest_url, rng=np.random.default_rng(0))
        job_id, _, shorts = setup_job(engine, load_settings(tmp_path), client, [QuerySpec("goldfish")], "imagenet-r",
                                      ["all"], ScrapeOptions(licenses=(), per_page=PER_PAGE, cap=CAP,
                                                             min_upload=crowded))
        stats = run_job(engine, client, job_id, shorts)
    finally:
        emu.stop()
    matched = [p for p in corpus.photos if _matches(p, "goldfish") and p.dateupload >= crowded]
    at_crowded = sum(p.dateupload == crowded for p in matched)
    assert at_crowded == 55 and len(matched) > at_crowded
    assert stats.crowded_seconds == 1
    found = _found(engine)["goldfish"]
    assert len(found) == len(set(found)) == len(matched) - (at_crowded - CAP)  # all but the 15 past the cap
    assert {p.id for p in matched if p.dateupload > crowded} <= set(found)


def test_the_emulator_sorts_oldest_first_and_keeps_both_date_bounds_inclusive(bursty):
    """Flickr: min_upload_date is 'greater than or equal', max_upload_date 'less than or equal'."""
    import flickrapi

    api = flickrapi.FlickrAPI(bursty.api_key, bursty.api_secret, format="parsed-json", store_token=False)
    api.REST_URL = bursty.rest_url
    dates = sorted(p.dateupload for p in bursty.corpus.photos if _matches(p, "goldfish"))
    low, high = dates[10], dates[30]
    photos = api.photos.search(text="goldfish", min_upload_date=low, max_upload_date=high, sort="date-posted-asc",
                               content_type=1, safe_search=1,
                               per_page=100, extras="date_upload")["photos"]
    got = [int(p["dateupload"]) for p in photos["photo"]]
    assert got == sorted(got) and got[0] == low and got[-1] == high
    assert int(photos["total"]) == sum(low <= d <= high for d in dates)
