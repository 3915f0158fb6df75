"""Download the images of pending (or failed) source records, concurrently and bounded.

Fetching runs on this process's threads (:func:`fetch_threaded`), which also check and store good images,
writing them without fsync; or on Ray tasks with ``ray=`` (:func:`curation.parallel.map_unordered`). A
committing thread records every outcome, ``batch`` results a transaction; before each commit it syncs the
store's filesystem once, so a row never names a file that a crash could still lose, and a killed download
resumes where it stopped (bytes stored but not committed are fetched again and found whole, or rewritten).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

from sqlalchemy import Engine, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from curation.db.models import Image, QuerySource, SourceRecord
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
    # where the time went: thread-seconds of the fetch workers (network, checks, store) and wall seconds
    # of the committing thread (database, waiting for results)
    seconds: Counter = field(default_factory=Counter)

    def profile(self, wall_s: float, workers: int) -> str:
        """Where the time went, one line per part, as shares of the workers' and the committer's time."""
        s = self.seconds
        busy = wall_s * workers
        lines = [f"profile of {wall_s:.2f} s with {workers} fetch workers ({busy:.1f} worker-seconds):"]
        for key, what in (("network", "network (request to last byte, incl. server latency)"),
                          ("checks", "checks (sha256, placeholder, header probe, trailer)"),
                          ("store", "store (write, rename)")):
            lines.append(f"  {what:<54} {s[key]:8.2f} worker-s  {100 * s[key] / busy:5.1f} %")
        idle = max(0.0, busy - s["network"] - s["checks"] - s["store"])
        lines.append(f"  {'idle or queued (no task, GIL, scheduling)':<54} {idle:8.2f} worker-s  {100 * idle / busy:5.1f} %")
        for key, what in (("sync", "store sync (commit thread: one syncfs a batch)"),
                          ("database", "database (commit thread: rows, one commit a batch)"),
                          ("waiting", "waiting for results (thread handing out fetches)")):
            lines.append(f"  {what:<54} {s[key]:8.2f} s         {100 * s[key] / wall_s:5.1f} % of wall")
        return "\n".join(lines)

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


def storing_threads(workers: int) -> int:
    """Threads beyond the ``workers`` concurrent requests: while they check and store what came in (a
    placeholder check decodes every JPEG of a placeholder's size at an eighth), the requests go on."""
    return max(1, workers // 2)


def download(engine: Engine, store: ImageStore, records: Iterable[tuple], *, max_pixels: int,
             max_bytes: int, workers: int = 32, ray: str | None = None, timeout: float = 30.0, tries: int = 4,
             batch: int = 250, on_result: Callable[[DownloadStats], None] | None = None,
             stats: DownloadStats | None = None, placeholders: frozenset[str] = frozenset()) -> DownloadStats:
    """Fetch and store ``records`` ((id, url[, advertised size]) as :func:`select_records` gives them);
    returns counts of what happened (added to ``stats`` if given)."""
    from curation.parallel import map_unordered

    stats = DownloadStats() if stats is None else stats
    # workers store good images themselves where they can reach the store: always on this machine, and
    # on any machine when the store is an object-store URL (a local folder is not shared with Ray workers)
    store_root = store.url if (store.remote or not ray) else None
    threads = workers if ray else workers + storing_threads(workers)
    tasks: Iterator[FetchTask] = (FetchTask(rid, url, max_bytes=max_bytes, timeout=timeout, tries=tries,
                                            store_root=store_root, max_pixels=max_pixels,
                                            advertised=rest[0] if rest else None, placeholders=placeholders,
                                            connections=None if ray or threads == workers else workers)
                                  for rid, url, *rest in records)
    handed_out = threading.Event()  # every task is taken: the last results are on their way
    tasks = _then_set(tasks, handed_out)
    results = (map_unordered(fetch, tasks, ray=ray, max_pending=threads * 2, ray_options={"num_cpus": 0.25})
               if ray else fetch_threaded(tasks, threads))
    committer = _Committer(lambda done: _commit(engine, store, done, stats, max_pixels, max_bytes), on_result, stats)
    pending: list[FetchResult] = []
    waited = time.perf_counter()
    try:
        for result in results:
            stats.seconds["waiting"] += time.perf_counter() - waited
            pending.append(result)
            # full batches; at the end, whatever came in while the committer was busy, so the last commit
            # (which the download waits for) holds a few results rather than a whole batch
            if len(pending) >= batch or (handed_out.is_set() and committer.idle()):
                committer.put(pending)
                pending = []
            waited = time.perf_counter()
        if pending:
            committer.put(pending)
    finally:
        committer.close()
    log.info("%s", stats.summary())
    return stats


_DONE = object()


def _then_set(items: Iterable, event: threading.Event) -> Iterator:
    """``items``, then ``event`` set once they are all taken."""
    yield from items
    event.set()


def fetch_threaded(tasks: Iterator[FetchTask], threads: int) -> Iterator[FetchResult]:
    """:func:`fetch` over ``tasks`` on ``threads`` threads; results in completion order, at most two per
    thread waiting. Each thread takes the next task itself and hands its result over in one queue put (an
    executor's ``wait`` for the first of ~100 futures takes and releases every future's lock, for every
    result). An exception from ``tasks`` or ``fetch`` stops the threads and is raised here."""
    import queue

    results: queue.Queue = queue.Queue(maxsize=2 * threads)
    lock, stop = threading.Lock(), threading.Event()

    def work() -> None:
        try:
            while not stop.is_set():
                with lock:
                    task = next(tasks, None)
                if task is None:
                    break
                results.put(fetch(task))
        except BaseException as exc:  # raised in the consuming thread
            stop.set()
            results.put(exc)
        finally:
            results.put(_DONE)

    workers = [threading.Thread(target=work, name=f"download-{i}", daemon=True) for i in range(threads)]
    for thread in workers:
        thread.start()
    running = threads
    try:
        while running:
            item = results.get()
            if item is _DONE:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        stop.set()
        while running:  # let threads blocked on a full queue finish their put and see ``stop``
            if results.get() is _DONE:
                running -= 1


class _Committer:
    """Commits batches on its own thread, so the loop that hands out fetches never stops for a commit
    (a sync of the store's filesystem, then the database's commit). At most two batches wait; an error in a
    commit stops the download at the next batch and is raised by :meth:`close`."""

    def __init__(self, commit: Callable[[list[FetchResult]], None], on_result, stats: DownloadStats):
        import queue

        self._queue: queue.Queue = queue.Queue(maxsize=2)
        self._commit, self._on_result, self._stats = commit, on_result, stats
        self._error: BaseException | None = None
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="download-commit", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (results := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: nothing more is committed after a failure
            self._busy = True
            try:
                for result in results:
                    for key, value in zip(("network", "checks", "store"), result.seconds):
                        self._stats.seconds[key] += value
                self._commit(results)
                if self._on_result:
                    self._on_result(self._stats)
            except BaseException as exc:  # raised in the calling thread by close()
                self._error = exc
            finally:
                self._busy = False

    def idle(self) -> bool:
        """True when no batch is being committed or waiting."""
        return not self._busy and self._queue.empty()

    def put(self, results: list[FetchResult]) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(results)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


def _commit(engine: Engine, store: ImageStore, results: list[FetchResult], stats: DownloadStats, max_pixels: int,
            max_bytes: int) -> None:
    """One transaction for a batch: images the workers stored take a few set-wise statements; the rest
    (failures, bytes still to probe and store) go through :func:`apply_result` one by one."""
    start = time.perf_counter()
    stored = [r for r in results if r.status == "ok" and r.sha256 and r.probe is not None and r.probe.ok]
    others = [r for r in results if not (r.status == "ok" and r.sha256 and r.probe is not None and r.probe.ok)]
    if stored:
        store.sync()  # the workers wrote without fsync: the files reach the disk before the rows naming them
        synced = time.perf_counter()
        stats.seconds["sync"] += synced - start
        start = synced
    with session_scope(engine) as session:
        if stored:
            stats.downloaded += link_stored(session, stored)
            stats.attempted += len(stored)
        if others:
            list(session.scalars(select(SourceRecord).where(SourceRecord.id.in_([r.record_id for r in others]))))
            known = preload_images(session, [r.data for r in others if r.status == "ok" and r.data is not None])
            with session.no_autoflush:  # new images are inserted together when the batch commits
                for result in others:
                    apply_result(session, store, result, stats, max_pixels, max_bytes, known)
    stats.seconds["database"] += time.perf_counter() - start


def link_stored(session: Session, results: Sequence[FetchResult]) -> int:
    """Insert the ``Image`` rows that are new and mark the records downloaded, in four statements for
    the batch (an ORM object per row costs more than the download of the image); returns the records."""
    digests = {r.sha256 for r in results}
    ids = dict(session.execute(select(Image.sha256, Image.id).where(Image.sha256.in_(digests))).all())
    new: dict[str, dict] = {}
    for r in results:
        if r.sha256 not in ids and r.sha256 not in new:
            info = r.probe
            new[r.sha256] = {"sha256": r.sha256, "width": info.width, "height": info.height, "format": info.format,
                             "mode": info.mode, "n_bytes": r.n_bytes or len(r.data or b""), "n_frames": info.n_frames}
    if new:
        session.execute(insert(Image), list(new.values()))
        ids.update(session.execute(select(Image.sha256, Image.id).where(Image.sha256.in_(list(new)))).all())
    present = set(session.scalars(select(SourceRecord.id).where(SourceRecord.id.in_([r.record_id for r in results]))))
    rows = [{"rid": r.record_id, "image": ids[r.sha256], "tries": r.attempts} for r in results if r.record_id in present]
    if rows:
        session.connection().execute(
            update(SourceRecord.__table__).where(SourceRecord.__table__.c.id == bindparam("rid"))
            .values(image_id=bindparam("image"), status="downloaded", error=None,
                    attempts=func.coalesce(SourceRecord.__table__.c.attempts, 0) + bindparam("tries")), rows)
    return len(rows)


def download_during(engine: Engine, store: ImageStore, job_id: int, done: threading.Event, *,
                    poll_s: float = 0.05, **options) -> DownloadStats:
    """Download a scrape job's candidates as the job finds them, until ``done`` is set and none is left.

    ``options`` are :func:`download`'s keyword arguments. One download runs throughout: whenever its
    pool has room it takes the pending candidates found since, so downloads start with the first search
    page and never wait for a round of earlier ones to finish.
    """
    return download(engine, store, _arriving(engine, job_id, done, poll_s), **options)


def _arriving(engine: Engine, job_id: int, done: threading.Event, poll_s: float) -> Iterator[tuple]:
    """The job's pending candidates, each once, as they are committed; ends when ``done`` and none is new."""
    tried: set[int] = set()
    while True:
        finished = done.is_set()
        with session_scope(engine) as session:
            records = [r for r in select_records(session, job_id=job_id) if r[0] not in tried]
        if records:
            tried.update(r[0] for r in records)
            yield from records
        elif finished:
            return
        else:
            done.wait(poll_s)
