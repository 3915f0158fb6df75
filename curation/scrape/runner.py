"""Run a scrape job: worker threads fetch pages (sharing the client's rate limiter), the calling thread
stores each page and its cursor in one committed transaction. Different queries are fetched
concurrently; the pages and windows of one query follow each other (each continued window starts at
the last upload date of the page before it).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable, Mapping

from sqlalchemy import Engine

from curation.db.models import ScrapeJob, ScrapeWindow
from curation.db.session import session_scope
from curation.flickr.client import FlickrClient, FlickrUnavailable
from curation.scrape.job import PageResult, ScrapeOptions, WindowTask, job_options, open_tasks, parse_page, \
    query_counts, record_page

log = logging.getLogger(__name__)


@dataclass
class ScrapeStats:
    pages: int = 0
    new: int = 0
    linked: int = 0
    known: int = 0
    repeats: int = 0  # photos a query was answered again (the boundary second of a continued window)
    continued: int = 0  # windows that reached the cap and were continued from their last upload date
    empty_windows: int = 0  # windows whose first page had no result
    crowded_seconds: int = 0  # upload seconds with more photos than the cap: those past it are unreachable
    failed_windows: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: Counter = field(default_factory=Counter)  # "search": worker-seconds per call; "database": storing

    def add(self, counts: Mapping[str, int]) -> None:
        self.new += counts["new"]
        self.linked += counts["linked"]
        self.known += counts["known"]
        self.repeats += counts.get("repeat", 0)
        self.continued += counts.get("continued", 0)
        self.empty_windows += counts.get("empty", 0)
        self.crowded_seconds += counts.get("crowded", 0)
        for reason in ("license", "no_url"):
            if counts.get(reason):
                self.skipped[reason] = self.skipped.get(reason, 0) + counts[reason]


def fetch_page(client: FlickrClient, options: ScrapeOptions, task: WindowTask) -> PageResult:
    start = time.perf_counter()
    page = parse_page(client.search(**options.search_params(task.text, task.low, task.high, task.page)))
    page.seconds = time.perf_counter() - start
    return page


def run_job(engine: Engine, client: FlickrClient, job_id: int, license_short: Mapping[str, str], *,
            workers: int = 8, on_page: Callable[[ScrapeStats], None] | None = None) -> ScrapeStats:
    """Fetch every open window of the job until done; safe to kill and rerun at any moment."""
    stats = ScrapeStats()
    with session_scope(engine) as session:
        job = session.get(ScrapeJob, job_id)
        options = job_options(job)
        queue = open_tasks(session, job)
        counts = query_counts(session, sorted({t.query_id for t in queue}))
    in_flight: dict[Future, WindowTask] = {}
    pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="scrape")
    try:
        while queue or in_flight:
            while queue and len(in_flight) < workers:
                task = queue.pop(0)
                if options.max_per_query is not None and counts.get(task.query_id, 0) >= options.max_per_query:
                    continue  # the query has all it may have; its window stays open for a larger maximum
                in_flight[pool.submit(fetch_page, client, options, task)] = task
            if not in_flight:
                break
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                task = in_flight.pop(future)
                follow = _settle(engine, job_id, task, future, options, license_short, counts, stats)
                queue[:0] = follow  # depth first: finish a window before opening new ones
                if on_page:
                    on_page(stats)
    except BaseException:
        for future in in_flight:
            future.cancel()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    _finish(engine, job_id, options, counts)
    return stats


def _settle(engine: Engine, job_id: int, task: WindowTask, future: Future, options: ScrapeOptions,
            license_short: Mapping[str, str], counts: dict[int, int], stats: ScrapeStats) -> list[WindowTask]:
    try:
        page = future.result()
    except FlickrUnavailable as exc:
        log.warning("window %d (%r) failed: %s", task.window_id, task.text, exc)
        with session_scope(engine) as session:
            window = session.get(ScrapeWindow, task.window_id)
            window.status, window.error = "failed", str(exc)[:2000]
        stats.failed_windows += 1
        return []
    quota = None if options.max_per_query is None else options.max_per_query - counts.get(task.query_id, 0)
    start = time.perf_counter()
    with session_scope(engine) as session:
        job = session.get(ScrapeJob, job_id)
        follow, page_counts = record_page(session, job, task, page, options, license_short, quota)
    stats.seconds["database"] += time.perf_counter() - start
    stats.seconds["search"] += page.seconds
    counts[task.query_id] = counts.get(task.query_id, 0) + page_counts["linked"]
    stats.pages += 1
    stats.add(page_counts)
    return follow


def _finish(engine: Engine, job_id: int, options: ScrapeOptions, counts: dict[int, int]) -> None:
    from sqlalchemy import select

    with session_scope(engine) as session:
        job = session.get(ScrapeJob, job_id)
        open_windows = session.scalars(select(ScrapeWindow).where(
            ScrapeWindow.job_id == job_id, ScrapeWindow.status.in_(("pending", "failed")))).all()
        full = options.max_per_query
        blocking = [w for w in open_windows if w.status == "failed" or full is None or counts.get(w.query_id, 0) < full]
        job.status = "failed" if any(w.status == "failed" for w in blocking) else ("running" if blocking else "done")


def run_job_with_downloads(engine: Engine, client: FlickrClient, job_id: int, license_short: Mapping[str, str],
                           store, *, workers: int = 8, download_workers: int = 32,
                           on_page: Callable[[ScrapeStats], None] | None = None, **download_options):
    """:func:`run_job` while a second thread downloads what each page finds with ``download_workers``
    concurrent fetches (``download_options`` go to :func:`curation.download.runner.download`).
    Returns (scrape stats, download stats)."""
    import threading

    from curation.download.runner import download_during

    done = threading.Event()
    outcome: dict = {}

    def downloader() -> None:
        try:
            outcome["stats"] = download_during(engine, store, job_id, done, workers=download_workers,
                                               **download_options)
        except BaseException as exc:  # surfaced in the calling thread below
            outcome["error"] = exc

    thread = threading.Thread(target=downloader, name="scrape-downloads", daemon=True)
    thread.start()
    try:
        stats = run_job(engine, client, job_id, license_short, workers=workers, on_page=on_page)
    finally:
        done.set()
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return stats, outcome["stats"]
