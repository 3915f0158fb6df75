"""Scrape jobs by name, for every stage that selects by one (``curate scrape status``, ``curate download --job``).

It lives beside the schema, not in :mod:`curation.scrape`, so that ``download`` need not import ``scrape``
(``scrape`` runs downloads, so the dependency goes one way only: scrape -> download).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from curation.db.models import ScrapeJob
from curation.errors import CurateError


def find_job(session: Session, name: str | None) -> ScrapeJob:
    """The named job, or the most recent one."""
    stmt = select(ScrapeJob).where(ScrapeJob.name == name) if name else select(ScrapeJob).order_by(ScrapeJob.id.desc())
    job = session.scalars(stmt.limit(1)).first()
    if job is None:
        known = ", ".join(session.scalars(select(ScrapeJob.name).order_by(ScrapeJob.id.desc()).limit(10)))
        raise CurateError(f"no scrape job {name!r}; known jobs: {known or 'none yet (run: curate scrape)'}")
    return job
