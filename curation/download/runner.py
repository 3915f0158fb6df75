"""Download the images of pending (or failed) source records, concurrently and bounded.

Fetching runs through :func:`curation.parallel.map_unordered` (threads here, or Ray tasks with
``ray=``); the calling thread probes and stores the bytes (:func:`attach_bytes`) and records each
failure's reason, committing every ``batch`` results so a killed download resumes where it stopped.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from curation.db.models import QuerySource, SourceRecord
from curation.db.session import session_scope
from curation.download.fetch import FetchResult, FetchTask, fetch
from curation.ingest.records import attach_bytes, preload_images
from curation.store import ImageStore

log = logging.getLogger(__name__)


@dataclass
class DownloadStats:
    attempted: int = 0
    downloaded: int = 0
    failed: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        def fmt(counter: Counter) -> str:
            return ", ".join(f"{k}: {v}" for k, v in sorted(counter.items())) or "none"

        return (f"downloaded {self.downloaded} of {self.attempted}; failed {sum(self.failed.values())} "
                f"({fmt(self.failed)}); rejected {sum(self.rejected.values())} ({fmt(self.rejected)})")


def select_records(session: Session, *, retry_failed: bool = False, source: str | None = None,
                   job_id: int | None = None, limit: int | None = None) -> list[tuple[int, str, tuple[int, int] | None]]:
    """(id, url, advertised size) of records to download: pending ones, plus (transiently) failed ones with
    ``retry_failed``; permanent failures are ``rejected`` and never retried."""
    states = ["pending", "failed"] if retry_failed else ["pending"]
    stmt = select(SourceRecord.id, SourceRecord.url, SourceRecord.metadata_).where(SourceRecord.status.in_(states),
                                                           SourceRecord.url.is_not(None))
    if source:
        stmt = stmt.where(SourceRecord.source == source)
    if job_id is not None:
        stmt = stmt.where(SourceRecord.id.in_(select(QuerySource.source_record_id).where(QuerySource.job_id == job_id)))
    stmt = stmt.order_by(SourceRecord.id)
    if limit:
        stmt = stmt.limit(limit)
    return [(int(i), str(u), _advertised(m)) for i, u, m in session.execute(stmt).all()]


def _advertised(meta: dict | None) -> tuple[int, int] | None:
    """The width and height a search result gave for the record's URL (None where it gave none)."""
    w, h = (meta or {}).get("width"), (meta or {}).get("height")
    return (w, h) if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0 else None


def apply_result(session: Session, store: ImageStore, result: FetchResult, stats: DownloadStats,
                 max_pixels: int, max_bytes: int, known: dict | None = None) -> None:
    """Store the bytes (probed) or record the failure on the result's source record."""
    record = session.get(SourceRecord, result.record_id)
    if record is None:
        return
    stats.attempted += 1
    if result.status == "ok" and result.data is not None:
        if attach_bytes(session, store, record, result.data, max_pixels, max_bytes, info=result.probe, known=known):
            stats.downloaded += 1
        elif (record.error or "").startswith("truncated"):  # bytes cut short in transfer: worth a retry
            record.status = "failed"
            stats.failed["truncated"] += 1
        else:
            stats.rejected[(record.error or "rejected").split(":", 1)[0]] += 1
        record.attempts = (record.attempts or 1) - 1 + result.attempts
        return
    record.status, record.error = result.status, (result.error or result.status)[:2000]
    record.attempts = (record.attempts or 0) + result.attempts
    (stats.failed if result.status == "failed" else stats.rejected)[record.error.split(":", 1)[0].split(" ")[0]] += 1


def download(engine: Engine, store: ImageStore, records: Sequence[tuple], *, max_pixels: int,
             max_bytes: int, workers: int = 32, ray: str | None = None, timeout: float = 30.0, tries: int = 4,
             batch: int = 100, on_result: Callable[[DownloadStats], None] | None = None,
             stats: DownloadStats | None = None, placeholders: frozenset[str] = frozenset()) -> DownloadStats:
    """Fetch and store ``records`` ((id, url[, advertised size]) as :func:`select_records` gives them);
    returns counts of what happened (added to ``stats`` if given)."""
    from curation.parallel import map_unordered

    stats = DownloadStats() if stats is None else stats
    # workers store good images themselves where they can reach the store: always on this machine, and
    # on any machine when the store is an object-store URL (a local folder is not shared with Ray workers)
    store_root = store.url if (store.remote or not ray) else None
    tasks: Iterator[FetchTask] = (FetchTask(rid, url, max_bytes=max_bytes, timeout=timeout, tries=tries,
                                            store_root=store_root, max_pixels=max_pixels,
                                            advertised=rest[0] if rest else None, placeholders=placeholders)
                                  for rid, url, *rest in records)
    results = map_unordered(fetch, tasks, workers=workers, kind="threads", ray=ray, max_pending=workers * 2,
                            ray_options={"num_cpus": 0.25} if ray else None)
    pending: list[FetchResult] = []
    for result in results:
        pending.append(result)
        if len(pending) >= batch:
            _commit(engine, store, pending, stats, max_pixels, max_bytes)
            pending = []
            if on_result:
                on_result(stats)
    if pending:
        _commit(engine, store, pending, stats, max_pixels, max_bytes)
        if on_result:
            on_result(stats)
    log.info("%s", stats.summary())
    return stats


def _commit(engine: Engine, store: ImageStore, results: list[FetchResult], stats: DownloadStats, max_pixels: int,
            max_bytes: int) -> None:
    with session_scope(engine) as session:
        ids = [r.record_id for r in results]
        list(session.scalars(select(SourceRecord).where(SourceRecord.id.in_(ids))))  # one query for the batch
        known = preload_images(session, [r.data for r in results if r.status == "ok" and r.data is not None])
        with session.no_autoflush:  # new images are inserted together when the batch commits
            for result in results:
                apply_result(session, store, result, stats, max_pixels, max_bytes, known)


def download_during(engine: Engine, store: ImageStore, job_id: int, done: threading.Event, *,
                    poll_s: float = 0.05, **options) -> DownloadStats:
    """Download a scrape job's candidates as the job finds them, until ``done`` is set and none is left.

    ``options`` are :func:`download`'s keyword arguments. Each round takes every pending candidate not
    yet tried, so downloads start with the first search page instead of after the last one.
    """
    stats = DownloadStats()
    tried: set[int] = set()
    while True:
        finished = done.is_set()
        with session_scope(engine) as session:
            records = [r for r in select_records(session, job_id=job_id) if r[0] not in tried]
        if records:
            tried.update(r[0] for r in records)
            download(engine, store, records, stats=stats, **options)
        elif finished:
            return stats
        else:
            done.wait(poll_s)
