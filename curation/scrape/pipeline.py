"""Setting a scrape up: license table, allowed ids, query rows, the job and its windows."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace
from typing import Sequence

from sqlalchemy import Engine

from curation.config import Settings
from curation.db.session import session_scope
from curation.errors import CurateError
from curation.flickr.client import FlickrClient, FlickrUnavailable
from curation.flickr.licenses import load_licenses, resolve_licenses
from curation.flickr.queries import QuerySpec, ensure_queries
from curation.scrape.job import ScrapeOptions, job_name, prepare_job
from curation.taxonomy import ensure_class_set


def parse_day(value: str | None, name: str, end: bool = False) -> int | None:
    """``YYYY-MM-DD`` as unix seconds (UTC), the start of the day or, with ``end``, the next day."""
    if not value:
        return None
    try:
        day = dt.datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc)
    except ValueError as exc:
        raise CurateError(f"{name} must be a date like 2019-06-30, got {value!r}") from exc
    return int((day + dt.timedelta(days=1 if end else 0)).timestamp())


def setup_job(engine: Engine, settings: Settings, client: FlickrClient, specs: Sequence[QuerySpec], class_set: str,
              licenses_wanted: Sequence[str], options: ScrapeOptions, *, name: str | None = None,
              refresh_licenses: bool = False) -> tuple[int, str, dict[str, str]]:
    """Create (or find) the job for ``specs``; returns (job id, job name, license id -> short name)."""
    if not specs:
        raise CurateError("no queries to run; give --class-set/--keyword, --pattern, --query or --query-file")
    try:
        table = load_licenses(client, settings.root, refresh=refresh_licenses)
    except FlickrUnavailable as exc:
        raise CurateError(f"Flickr is not answering ({exc}); try again later") from exc
    allowed = resolve_licenses(table, licenses_wanted)
    options = replace(options, licenses=tuple(x.id for x in allowed))
    if options.max_upload and options.max_upload <= options.min_upload:
        raise CurateError("the upload-date range is empty: --max-upload must be after --min-upload")
    with session_scope(engine) as session:
        classes = ensure_class_set(session, class_set).classes if any(s.class_key for s in specs) else []
        queries = ensure_queries(session, specs, classes)
        name = name or job_name([s.text for s in specs], options)
        job = prepare_job(session, name, queries, options, now=int(time.time()) + 86400)
        job_id = job.id
    return job_id, name, {x.id: x.short for x in table}
