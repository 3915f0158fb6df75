"""Fetch one image: the per-item function that threads or Ray tasks run (plain data in, plain data out).

Honours HTTP 429 and ``Retry-After`` (every thread of the process pauses for that host), retries 5xx,
timeouts and cut-off transfers with backoff, refuses ``X-Robots-Tag: noai``/``noimageai``, stops
reading past the size cap, and recognises Flickr's "photo unavailable" placeholder, which Flickr serves
with HTTP 200 for deleted photos.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from curation.download.placeholder import is_placeholder, placeholder_reason  # noqa: F401 - re-exported
from curation.images import Probe

USER_AGENT = "curate/0.1 (+dataset curation; honours X-Robots-Tag noai)"
TRANSIENT_HTTP = frozenset({408, 425, 429})  # besides 5xx: the server may answer later
HTTP_REASONS = {404: "not found (deleted?)", 410: "gone", 403: "forbidden", 401: "needs authorisation",
                451: "unavailable for legal reasons"}
_state: dict[str, object] = {}
_state_lock = threading.Lock()


@dataclass(frozen=True)
class FetchTask:
    record_id: int
    url: str
    max_bytes: int = 50 * 1024 * 1024
    timeout: float = 30.0
    tries: int = 4
    max_retry_after: float = 120.0
    backoff_s: float = 0.5
    # Write good images into this store (a folder, or an object-store URL any worker can reach) from the
    # worker, so storing happens in parallel; the caller's attach_bytes then finds the object already there.
    store_root: str | None = None
    max_pixels: int = 178_956_970
    advertised: tuple[int, int] | None = None  # the size the search result gave for this URL
    placeholders: frozenset[str] = frozenset()  # extra placeholder digests (the workspace's)


@dataclass(frozen=True)
class FetchResult:
    record_id: int
    status: str  # ok | failed (transient: worth retrying later) | rejected (permanent: never an acceptable image)
    data: bytes | None = None
    error: str | None = None
    attempts: int = 1
    probe: Probe | None = None  # set when the worker already probed (and stored) the bytes


def _pool():
    """One urllib3 pool for every thread of this process (urllib3 pools are thread-safe)."""
    import urllib3

    pool = _state.get("pool")
    if pool is None:
        with _state_lock:
            pool = _state.setdefault("pool", urllib3.PoolManager(maxsize=64, headers={"User-Agent": USER_AGENT}))
    return pool


def _rng() -> random.Random:
    """A per-thread jitter source seeded from the OS (never the global RNG)."""
    local = _state.get("local")
    if local is None:
        with _state_lock:
            local = _state.setdefault("local", threading.local())
    if not hasattr(local, "rng"):
        local.rng = random.Random()  # type: ignore[attr-defined]
    return local.rng  # type: ignore[attr-defined]


def _pause(host: str, until: float | None = None) -> float:
    """Record a pause for ``host`` (after a 429) or return how long callers must still wait."""
    with _state_lock:
        pauses: dict[str, float] = _state.setdefault("pauses", {})  # type: ignore[assignment]
        if until is not None:
            pauses[host] = max(pauses.get(host, 0.0), until)
        return max(0.0, pauses.get(host, 0.0) - time.monotonic())


def retry_after_seconds(value: str | None, default: float) -> float:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date."""
    if not value:
        return default
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return default


def robots_forbid(header: str | None) -> bool:
    """True when an ``X-Robots-Tag`` value says noai or noimageai (optionally per user agent)."""
    if not header:
        return False
    for item in header.split(","):
        directive = item.split(":")[-1].strip().lower()
        if directive in ("noai", "noimageai"):
            return True
    return False


def fetch(task: FetchTask) -> FetchResult:
    """Download ``task.url``; never raises for a bad URL, server or body: the reason comes back as data."""
    from urllib3 import exceptions as e

    host = urlsplit(task.url).netloc
    reason = "no attempt"
    for attempt in range(1, task.tries + 1):
        wait = _pause(host)
        if wait > 0:
            time.sleep(min(wait, task.max_retry_after))
        try:
            outcome = _get(task)
        except (e.TimeoutError, e.MaxRetryError) as exc:
            cause = getattr(exc, "reason", exc)  # NewConnectionError subclasses ConnectTimeoutError in urllib3 2
            timeout = isinstance(cause, e.TimeoutError) and not isinstance(cause, e.NewConnectionError)
            outcome = ("retry", None, "timeout" if timeout else f"network: {str(exc)[:150]}")
        except e.ProtocolError as exc:
            short = "IncompleteRead" in str(exc) or "incomplete" in str(exc).lower()
            outcome = ("retry", None, "truncated: connection closed before the promised length" if short
                       else f"network: {str(exc)[:150]}")
        except (e.HTTPError, OSError, ValueError) as exc:
            outcome = ("retry", None, f"network: {type(exc).__name__}: {str(exc)[:150]}")
        kind, data, reason = outcome
        info = _prestore(task, data) if kind == "ok" and task.store_root and data is not None else None
        if kind in ("ok", "rejected", "failed"):
            return FetchResult(task.record_id, kind, data, reason, attempt, info)
        if attempt < task.tries and not reason.startswith("http-429"):
            time.sleep(task.backoff_s * 2 ** (attempt - 1) * (0.5 + _rng().random() / 2))
    return FetchResult(task.record_id, "failed", None, reason, task.tries)


def _prestore(task: FetchTask, data: bytes) -> Probe:
    """Probe the bytes and store good ones from the worker thread (decoding and fsync in parallel)."""
    from curation.images import probe
    from curation.store import open_store

    info = probe(data, max_pixels=task.max_pixels, max_bytes=task.max_bytes)
    if info.ok:
        open_store(task.store_root).put(data)
    return info


def _get(task: FetchTask) -> tuple[str, bytes | None, str | None]:
    import urllib3

    if not task.url.startswith(("http://", "https://")):
        return "rejected", None, "bad-url: only http(s) URLs are fetched"
    response = _pool().request("GET", task.url, preload_content=False, timeout=urllib3.Timeout(task.timeout),
                               retries=urllib3.Retry(total=5, connect=0, read=0, status=0, other=0, redirect=5,
                                                             respect_retry_after_header=False))
    reuse = False
    try:
        status = response.status
        if status == 429:
            delay = min(retry_after_seconds(response.headers.get("Retry-After"), 5.0), task.max_retry_after)
            _pause(urlsplit(task.url).netloc, time.monotonic() + delay)
            return "retry", None, f"http-429 (retry after {delay:.0f}s)"
        if status >= 500 or status in TRANSIENT_HTTP:
            return "retry", None, f"http-{status}"
        if status != 200:  # 404, 410, 403 ...: the photo is gone or closed, retrying will not help
            return "rejected", None, f"http-{status}: {HTTP_REASONS.get(status, 'refused by the server')}"
        if robots_forbid(response.headers.get("X-Robots-Tag")):
            return "rejected", None, "robots-noai: X-Robots-Tag forbids AI use"
        promised = response.headers.get("Content-Length", "")
        if promised.isdigit() and int(promised) > task.max_bytes:
            return "rejected", None, f"too-large: {promised} bytes > cap {task.max_bytes}"
        chunks, size = [], 0
        for chunk in response.stream(64 * 1024):
            size += len(chunk)
            if size > task.max_bytes:
                return "rejected", None, f"too-large: over {task.max_bytes} bytes"
            chunks.append(chunk)
        reuse = True
        data = b"".join(chunks)
        if promised.isdigit() and len(data) < int(promised):
            return "retry", None, f"truncated: {len(data)} of {promised} bytes"
        why = placeholder_reason(data, task.url, response.geturl() or task.url, response.headers.get("Content-Type"),
                                 task.advertised, task.placeholders)
        if why:
            return "rejected", None, why
        return "ok", data, None
    finally:
        if reuse:
            response.release_conn()
        else:
            response.close()  # unread body: drop the connection rather than reuse it half-read
