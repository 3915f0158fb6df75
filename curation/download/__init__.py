"""Downloading candidates' images: bounded, polite, resumable; failures recorded per image."""

from curation.download.fetch import FetchResult, FetchTask, fetch, is_placeholder, robots_forbid
from curation.download.runner import DownloadStats, apply_result, download, select_records

__all__ = ["FetchResult", "FetchTask", "fetch", "is_placeholder", "robots_forbid", "DownloadStats", "apply_result",
           "download", "select_records"]
