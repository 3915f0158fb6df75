"""Progress of scrape jobs, per query: windows done / open / failed, photos found, Flickr's own totals."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from curation.db.models import Query, QuerySource, ScrapeJob, ScrapeWindow, SourceRecord


@dataclass(frozen=True)
class QueryProgress:
    query: str
    windows_done: int
    windows_open: int
    windows_failed: int
    continued: int  # windows continued past the cap from their last upload date
    found: int
    reported: int | None  # Flickr's total for the whole range (first page of the widest window)
    downloaded: int

    @property
    def state(self) -> str:
        if self.windows_failed:
            return "failed"
        return "done" if not self.windows_open else ("running" if self.windows_done or self.found else "pending")


def job_progress(session: Session, job: ScrapeJob) -> list[QueryProgress]:
    windows = session.execute(select(ScrapeWindow.query_id, ScrapeWindow.status, func.count())
                              .where(ScrapeWindow.job_id == job.id)
                              .group_by(ScrapeWindow.query_id, ScrapeWindow.status)).all()
    by_query: dict[int, dict[str, int]] = {}
    for query_id, status, n in windows:
        by_query.setdefault(query_id, {})[status] = int(n)
    widest = {}
    for query_id, low, high, total in session.execute(
            select(ScrapeWindow.query_id, ScrapeWindow.min_upload, ScrapeWindow.max_upload,
                   ScrapeWindow.total_reported).where(ScrapeWindow.job_id == job.id)):
        if query_id not in widest or high - low > widest[query_id][0]:
            widest[query_id] = (high - low, total)
    found = dict(session.execute(select(QuerySource.query_id, func.count()).where(QuerySource.job_id == job.id)
                                 .group_by(QuerySource.query_id)).all())
    downloaded = dict(session.execute(
        select(QuerySource.query_id, func.count()).join(SourceRecord, SourceRecord.id == QuerySource.source_record_id)
        .where(QuerySource.job_id == job.id, SourceRecord.status == "downloaded").group_by(QuerySource.query_id)).all())
    texts = dict(session.execute(select(Query.id, Query.text).where(Query.id.in_(list(by_query)))).all())
    out = []
    for query_id in sorted(by_query, key=lambda q: texts.get(q, "")):
        states = by_query[query_id]
        out.append(QueryProgress(texts.get(query_id, "?"), states.get("done", 0), states.get("pending", 0),
                                 states.get("failed", 0), states.get("continued", 0) + states.get("split", 0), int(found.get(query_id, 0)),
                                 widest[query_id][1], int(downloaded.get(query_id, 0))))
    return out
