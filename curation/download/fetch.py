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

import urllib3
from urllib3 import exceptions as e

from curation.download.placeholder import is_placeholder, placeholder_reason  # noqa: F401 - re-exported
from curation.images import Probe, probe
from curation.store import open_store, sha256_bytes

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
    # at most this many requests of this process in flight at once (None: one per thread); a pool with
    # more threads than this keeps every connection busy while other threads check and store
    connections: int | None = None


@dataclass(frozen=True)
class FetchResult:
    record_id: int
    status: str  # ok | failed (transient: worth retrying later) | rejected (permanent: never an acceptable image)
    data: bytes | None = None  # the body, unless the worker stored it (then ``sha256`` and ``n_bytes`` say what)
    error: str | None = None
    attempts: int = 1
    probe: Probe | None = None  # set when the worker already probed (and stored) the bytes
    sha256: str | None = None  # set when the worker stored the bytes under this digest
    seconds: tuple[float, float, float] = (0.0, 0.0, 0.0)  # this worker's time in network, checks, store
    n_bytes: int = 0  # the body's size


def _pool():
    """One urllib3 pool for every thread of this process (urllib3 pools are thread-safe)."""
    pool = _state.get("pool")
    if pool is None:
        with _state_lock:
            pool = _state.setdefault("pool", urllib3.PoolManager(maxsize=64, headers={"User-Agent": USER_AGENT}))
    return pool


def close_connections() -> None:
    """Close this process's pooled connections; the next fetch opens new ones."""
    with _state_lock:
        pool = _state.pop("pool", None)
    if pool is not None:
        pool.clear()


def _store(root: str):
    """The store at ``root``, opened once per process (an object store's client is reused)."""
    stores: dict = _state.get("stores") or _state.setdefault("stores", {})  # type: ignore[assignment]
    store = stores.get(root)
    if store is None:
        with _state_lock:
            store = stores.setdefault(root, open_store(root))
    return store


def _gate(connections: int | None) -> threading.BoundedSemaphore | None:
    """The process-wide semaphore that holds concurrent requests to ``connections``."""
    if connections is None:
        return None
    gates: dict = _state.get("gates") or _state.setdefault("gates", {})  # type: ignore[assignment]
    gate = gates.get(connections)
    if gate is None:
        with _state_lock:
            gate = gates.setdefault(connections, threading.BoundedSemaphore(connections))
    return gate


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
    host = urlsplit(task.url).netloc
    reason, network = "no attempt", 0.0
    for attempt in range(1, task.tries + 1):
        wait = _pause(host)
        if wait > 0:
            time.sleep(min(wait, task.max_retry_after))
        gate = _gate(task.connections)
        if gate is not None:
            gate.acquire()
        start = time.perf_counter()
        try:
            outcome = _get(task)
        except (e.TimeoutError, e.MaxRetryError) as exc:
            cause = getattr(exc, "reason", exc)  # NewConnectionError subclasses ConnectTimeoutError in urllib3 2
            timeout = isinstance(cause, e.TimeoutError) and not isinstance(cause, e.NewConnectionError)
            outcome = ("retry", None, "timeout" if timeout else f"network: {str(exc)[:150]}", None)
        except e.ProtocolError as exc:
            short = "IncompleteRead" in str(exc) or "incomplete" in str(exc).lower()
            outcome = ("retry", None, "truncated: connection closed before the promised length" if short
                       else f"network: {str(exc)[:150]}", None)
        except (e.HTTPError, OSError, ValueError) as exc:
            outcome = ("retry", None, f"network: {type(exc).__name__}: {str(exc)[:150]}", None)
        finally:
            if gate is not None:
                gate.release()
        network += time.perf_counter() - start
        kind, data, reason, meta = outcome
        if kind == "ok" and data is not None:
            return _checked(task, data, meta, attempt, network)
        if kind in ("rejected", "failed"):
            return FetchResult(task.record_id, kind, data, reason, attempt, seconds=(network, 0.0, 0.0))
        if attempt < task.tries and not reason.startswith("http-429"):
            time.sleep(task.backoff_s * 2 ** (attempt - 1) * (0.5 + _rng().random() / 2))
    return FetchResult(task.record_id, "failed", None, reason, task.tries, seconds=(network, 0.0, 0.0))


def _checked(task: FetchTask, data: bytes, meta: tuple[str, str | None], attempt: int,
             network: float) -> FetchResult:
    """The checks every fetched body goes through in the worker: placeholder, then (local runs) the probe
    and the store. Each digest is computed once here, not again by the committing thread."""
    start = time.perf_counter()
    digest = sha256_bytes(data)
    final_url, content_type = meta
    why = placeholder_reason(data, task.url, final_url, content_type, task.advertised, task.placeholders, digest)
    if why:
        return FetchResult(task.record_id, "rejected", None, why, attempt,
                           seconds=(network, time.perf_counter() - start, 0.0))
    if not task.store_root:  # Ray workers may not share the store's disk: the caller probes and stores
        return FetchResult(task.record_id, "ok", data, None, attempt,
                           seconds=(network, time.perf_counter() - start, 0.0))
    info = check_image(data, task.max_pixels, task.max_bytes)
    checked = time.perf_counter()
    stored = None
    if info.ok:
        # no fsync here: the committing thread syncs the store once before the batch's commit
        stored = _store(task.store_root).put(data, durable=False, sha256=digest)
    # stored bytes are not carried along (nor sent back from a Ray worker): the row needs their digest and size
    return FetchResult(task.record_id, "ok", None if stored else data, None, attempt, info, stored,
                       (network, checked - start, time.perf_counter() - checked), len(data))


def check_image(data: bytes, max_pixels: int, max_bytes: int) -> Probe:
    """The probe's header checks (format, pixel cap, size cap) and a body that is complete.

    A body that ends with its format's trailer (JPEG's EOI marker, PNG's IEND chunk, GIF's ';') was not
    cut short and is not decoded here: the filters decode every image anyway and reject what fails.
    Any other body is fully decoded, so a cut-off transfer is still caught now and retried later.
    """
    info = probe(data, max_pixels=max_pixels, max_bytes=max_bytes, full_decode=False)
    if not info.ok or _has_trailer(data, info.format):
        return info
    return probe(data, max_pixels=max_pixels, max_bytes=max_bytes, full_decode=True)


def _has_trailer(data: bytes, fmt: str | None) -> bool:
    tail = data[-64:].rstrip(b"\x00\r\n\t ")
    if fmt == "JPEG":
        return tail.endswith(b"\xff\xd9")
    if fmt == "PNG":
        return tail.endswith(b"IEND\xaeB`\x82")
    if fmt == "GIF":
        return tail.endswith(b";")
    return False


def _get(task: FetchTask) -> tuple[str, bytes | None, str | None, tuple[str, str | None] | None]:
    """One GET: (outcome, body, reason, (final URL, Content-Type) of a 200 answer)."""
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
            return "retry", None, f"http-429 (retry after {delay:.0f}s)", None
        if status >= 500 or status in TRANSIENT_HTTP:
            return "retry", None, f"http-{status}", None
        if status != 200:  # 404, 410, 403 ...: the photo is gone or closed, retrying will not help
            return "rejected", None, f"http-{status}: {HTTP_REASONS.get(status, 'refused by the server')}", None
        if robots_forbid(response.headers.get("X-Robots-Tag")):
            return "rejected", None, "robots-noai: X-Robots-Tag forbids AI use", None
        promised = response.headers.get("Content-Length", "")
        if promised.isdigit() and int(promised) > task.max_bytes:
            return "rejected", None, f"too-large: {promised} bytes > cap {task.max_bytes}", None
        chunks, size = [], 0
        for chunk in response.stream(256 * 1024):
            size += len(chunk)
            if size > task.max_bytes:
                return "rejected", None, f"too-large: over {task.max_bytes} bytes", None
            chunks.append(chunk)
        reuse = True
        data = b"".join(chunks)
        if promised.isdigit() and len(data) < int(promised):
            return "retry", None, f"truncated: {len(data)} of {promised} bytes", None
        return "ok", data, None, (response.geturl() or task.url, response.headers.get("Content-Type"))
    finally:
        if reuse:
            response.release_conn()
        else:
            response.close()  # unread body: drop the connection rather than reuse it half-read
