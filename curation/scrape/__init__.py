"""Scrape jobs: resumable, rate-limited Flickr searches past the 4,000-result cap."""

from curation.scrape.job import FLICKR_CAP, ScrapeOptions, job_name, prepare_job
from curation.scrape.ratelimit import TokenBucket
from curation.scrape.runner import ScrapeStats, run_job

__all__ = ["FLICKR_CAP", "ScrapeOptions", "job_name", "prepare_job", "TokenBucket", "ScrapeStats", "run_job"]
