"""A scrape job's state in the database: its queries' upload-date windows (the resumable cursor), and
the photos each page found. Functions here take a Session and never commit; the runner commits after
every page, so a killed job loses at most the page in flight and a rerun fetches it again.

Keyset pagination by upload date: a query's search is sorted oldest first and paged through; every
page's photos are kept. Flickr answers only the first ``cap`` (about 4,000) results of a search, so
when a window has more, its last reachable page ends the window ("continued") and a new window starts
at the last upload date seen (inclusive: photos that share that second are fetched again and counted
as repeats, never stored twice). The pending window row, with its start date and next page, is the
keyset cursor a rerun resumes from. Calls per query come to about Σ⌈matched/per_page⌉ plus one page
per continuation for the repeats at each boundary.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Mapping, Sequence

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from curation.db.models import Query, QuerySource, ScrapeJob, ScrapeWindow, SourceRecord
from curation.flickr.photos import EXTRAS, record_fields

FLICKR_FIRST_UPLOAD = int(dt.datetime(2004, 2, 1, tzinfo=dt.timezone.utc).timestamp())
FLICKR_CAP = 4000


@dataclass(frozen=True)
class ScrapeOptions:
    licenses: tuple[str, ...]  # Flickr license ids
    min_upload: int = FLICKR_FIRST_UPLOAD  # unix seconds, inclusive
    max_upload: int = 0  # unix seconds, exclusive; 0 = now, fixed when the job is created
    min_taken: str | None = None  # "YYYY-MM-DD"
    max_taken: str | None = None
    safe_search: int = 1
    content_type: int | None = 1
    media: str = "photos"
    max_per_query: int | None = None
    sizes: tuple[str, ...] = ("url_c", "url_l", "url_o")
    per_page: int = 500
    cap: int = FLICKR_CAP

    def search_params(self, text: str, low: int, high: int, page: int) -> dict:
        params = {"text": text, "min_upload_date": low, "max_upload_date": high - 1, "page": page,
                  "per_page": self.per_page, "sort": "date-posted-asc", "safe_search": self.safe_search,
                  "media": self.media, "license": ",".join(self.licenses),
                  "extras": ",".join((*EXTRAS, *self.sizes, "url_z", "url_m"))}
        if self.content_type:
            params["content_type"] = self.content_type
        if self.min_taken:
            params["min_taken_date"] = f"{self.min_taken} 00:00:00"
        if self.max_taken:
            params["max_taken_date"] = f"{self.max_taken} 23:59:59"
        return params


@dataclass(frozen=True)
class WindowTask:
    """One page to fetch: a snapshot of a window's cursor, safe to hand to a worker thread."""

    window_id: int
    query_id: int
    text: str
    low: int
    high: int
    page: int


@dataclass
class PageResult:
    total: int
    pages: int
    photos: list[dict] = field(default_factory=list)
    seconds: float = 0.0  # the worker's time on this call: the rate limiter's wait, the network, parsing


def job_name(texts: Sequence[str], options: ScrapeOptions) -> str:
    """A stable default name: the same command line names the same job, so a rerun resumes it."""
    key = json.dumps({"q": sorted(texts), "o": asdict(options)}, sort_keys=True)
    return "flickr-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def prepare_job(session: Session, name: str, queries: Sequence[Query], options: ScrapeOptions,
                now: int) -> ScrapeJob:
    """Create the job and one window per query (or find them); failed windows go back to pending."""
    job = session.scalar(select(ScrapeJob).where(ScrapeJob.name == name))
    if job is None:
        params = asdict(options) | {"max_upload": options.max_upload or now}
        job = ScrapeJob(name=name, source="flickr", params=params, status="running")
        session.add(job)
        session.flush()
    job.status = "running"
    low, high = int(job.params["min_upload"]), int(job.params["max_upload"])
    have = set(session.scalars(select(ScrapeWindow.query_id).where(ScrapeWindow.job_id == job.id)))
    for query in queries:
        if query.id not in have:
            session.add(ScrapeWindow(job_id=job.id, query_id=query.id, min_upload=low, max_upload=high))
    for window in session.scalars(select(ScrapeWindow).where(ScrapeWindow.job_id == job.id,
                                                             ScrapeWindow.status == "failed")):
        window.status = "pending"
    session.flush()
    return job


def job_options(job: ScrapeJob) -> ScrapeOptions:
    params = dict(job.params)
    for key in ("licenses", "sizes"):
        params[key] = tuple(params[key])
    return ScrapeOptions(**params)


def open_tasks(session: Session, job: ScrapeJob) -> list[WindowTask]:
    rows = session.execute(select(ScrapeWindow, Query.text).join(Query, Query.id == ScrapeWindow.query_id)
                           .where(ScrapeWindow.job_id == job.id, ScrapeWindow.status == "pending")
                           .order_by(ScrapeWindow.id)).all()
    return [WindowTask(w.id, w.query_id, text, w.min_upload, w.max_upload, w.next_page) for w, text in rows]


def query_counts(session: Session, query_ids: Sequence[int]) -> dict[int, int]:
    rows = session.execute(select(QuerySource.query_id, func.count()).where(QuerySource.query_id.in_(query_ids))
                           .group_by(QuerySource.query_id)).all()
    return {int(q): int(n) for q, n in rows}


def parse_page(photos: Mapping) -> PageResult:
    """The ``photos`` envelope with str or int numbers."""
    from curation.flickr.photos import as_int

    rows = photos.get("photo") or []
    return PageResult(as_int(photos.get("total")) or 0, as_int(photos.get("pages")) or 0,
                      [p for p in rows if isinstance(p, Mapping)])


def record_page(session: Session, job: ScrapeJob, task: WindowTask, page: PageResult, options: ScrapeOptions,
                license_short: Mapping[str, str], quota: int | None) -> tuple[list[WindowTask], dict[str, int]]:
    """Store one fetched page and advance the window's cursor; returns the follow-up tasks and counts.

    A window whose first page reports more results than its reachable pages hold is paged to its last
    reachable page and then continued by a new window from the last upload date seen. Photos already
    known (other pages, windows or queries) are linked, not duplicated.
    """
    window = session.get(ScrapeWindow, task.window_id)
    counts = store_photos(session, job.id, task.query_id, page.photos, options, license_short, quota)
    counts.update(empty=0, continued=0, crowded=0)
    window.found += counts["linked"]
    if task.page == 1:
        window.total_reported, window.pages = page.total, page.pages
        counts["empty"] = int(page.total == 0)
    reachable = max(1, options.cap // options.per_page)  # whole pages within the cap: no wrapped repeats
    total = window.total_reported if window.total_reported is not None else page.total
    over = total > reachable * options.per_page
    last = reachable if over else min(window.pages or page.pages, reachable)
    window.next_page = task.page + 1
    if quota is not None and counts["linked"] >= quota or not page.photos:
        window.status = "done"
        return [], counts
    if window.next_page <= last:
        return [WindowTask(window.id, task.query_id, task.text, task.low, task.high, window.next_page)], counts
    window.status = "done"
    if not over:
        return [], counts
    return _continue(session, window, task, page, counts), counts


def _continue(session: Session, window: ScrapeWindow, task: WindowTask, page: PageResult,
              counts: dict[str, int]) -> list[WindowTask]:
    """The window past the cap: from the last upload date seen, or, if a single second holds more than
    the cap, from the next second (the rest of that second cannot be reached by date: it is counted and
    noted on the window)."""
    from curation.flickr.photos import as_int

    dates = [d for d in (as_int(p.get("dateupload")) for p in page.photos) if d is not None]
    window.status = "continued"
    counts["continued"] = 1
    if not dates:  # an answer without upload dates: halve the window instead (each half is fetched anew)
        mid = (task.low + task.high) // 2
        return [_child(session, window, task, lo, hi) for lo, hi in ((task.low, mid), (mid, task.high))
                if hi > lo and (lo, hi) != (task.low, task.high)]
    start = max(dates)
    if start <= task.low:  # every reachable result shares the window's first second
        start = task.low + 1
        counts["crowded"] = 1
        window.error = f"more photos than the cap uploaded in second {task.low}: those past the cap are unreachable"
    if start >= task.high:
        return []
    return [_child(session, window, task, start, task.high)]


def _child(session: Session, parent: ScrapeWindow, task: WindowTask, low: int, high: int) -> WindowTask:
    """The window ``[low, high)`` of the parent's query (found again on a rerun), as the task of its next page."""
    child = session.scalar(select(ScrapeWindow).where(
        ScrapeWindow.job_id == parent.job_id, ScrapeWindow.query_id == parent.query_id,
        ScrapeWindow.min_upload == low, ScrapeWindow.max_upload == high))
    if child is None:
        child = ScrapeWindow(job_id=parent.job_id, query_id=parent.query_id, min_upload=low, max_upload=high)
        session.add(child)
        session.flush()
    return WindowTask(child.id, task.query_id, task.text, low, high, child.next_page or 1)


def store_photos(session: Session, job_id: int, query_id: int, photos: Sequence[Mapping], options: ScrapeOptions,
                 license_short: Mapping[str, str], quota: int | None) -> dict[str, int]:
    """Insert new source records and link every photo to the query (once); counts what happened."""
    counts = {"new": 0, "linked": 0, "known": 0, "repeat": 0, "license": 0, "no_url": 0}
    allowed = set(options.licenses)
    fields_by_id: dict[str, dict] = {}
    for photo in photos:
        if str(photo.get("license", "")) not in allowed:
            counts["license"] += 1  # Flickr filters by license; this guards against answers that do not
            continue
        fields = record_fields(photo, options.sizes, license_short)
        if fields is None:
            counts["no_url"] += 1
            continue
        fields_by_id.setdefault(fields["source_id"], fields)
    counts["repeat"] = len(photos) - counts["license"] - counts["no_url"] - len(fields_by_id)  # twice on a page
    if not fields_by_id:
        return counts
    ids = list(fields_by_id)
    known = dict(session.execute(select(SourceRecord.source_id, SourceRecord.id).where(
        SourceRecord.source == "flickr", SourceRecord.source_id.in_(ids))).all())
    linked = set(session.scalars(select(QuerySource.source_record_id).where(
        QuerySource.query_id == query_id, QuerySource.source_record_id.in_(list(known.values())))))
    chosen: list[tuple[int, str]] = []
    for rank, source_id in enumerate(ids):
        counts["known"] += source_id in known
        if source_id in known and known[source_id] in linked:
            counts["repeat"] += 1  # this query found it before: a boundary date fetched again, or a rerun
            continue
        if quota is not None and len(chosen) >= quota:
            break
        chosen.append((rank, source_id))
    fresh = [source_id for _, source_id in chosen if source_id not in known]
    if fresh:  # bulk inserts: a page of 500 photos is two statements, not a thousand
        class_id = session.scalar(select(Query.class_id).where(Query.id == query_id))
        rows = [{**fields_by_id[source_id], "class_id": class_id} for source_id in fresh]
        new_ids = session.scalars(insert(SourceRecord).returning(SourceRecord.id, sort_by_parameter_order=True),
                                  rows).all()
        known.update(zip(fresh, new_ids))
        counts["new"] = len(fresh)
    if chosen:
        session.execute(insert(QuerySource), [{"query_id": query_id, "source_record_id": known[source_id],
                                               "job_id": job_id, "rank": rank} for rank, source_id in chosen])
    counts["linked"] = len(chosen)
    return counts
