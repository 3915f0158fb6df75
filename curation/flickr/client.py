"""The Flickr API client: ``flickrapi`` (parsed JSON, no token cache) behind a rate limiter and retries.

Temporary failures (codes 10 and 105, HTTP 5xx and 429, timeouts, dropped connections) are retried
with exponential backoff and jitter; after the last try :class:`FlickrUnavailable` is raised and the
caller records it as data. An invalid key (code 100), a bad signature or a bad parameter is never
retried: :class:`FlickrRequestError` says what to fix.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from curation.config import Settings, load_secret
from curation.errors import CurateError

log = logging.getLogger(__name__)
FLICKR_REST_URL = "https://api.flickr.com/services/rest/"
TEMPORARY_CODES = frozenset({10, 105})
_HTTP_STATUS = re.compile(r"Status code (\d{3}) received")


class Limiter(Protocol):
    def acquire(self) -> None: ...


class FlickrUnavailable(Exception):
    """A call still failed temporarily after every retry."""


class FlickrRequestError(CurateError):
    """Flickr refused the request itself (key, signature, parameters): retrying cannot help."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class RetryPolicy:
    tries: int = 6
    base_s: float = 1.0
    factor: float = 2.0
    max_s: float = 120.0

    def delay(self, attempt: int, rng: np.random.Generator) -> float:
        """Backoff before retry ``attempt`` (0-based): half fixed, half random ("equal jitter")."""
        cap = min(self.max_s, self.base_s * self.factor ** attempt)
        return cap / 2 + float(rng.uniform(0, cap / 2))


def classify(exc: BaseException) -> tuple[bool, str]:
    """(temporary?, reason) for an exception raised by a flickrapi call."""
    import requests
    from flickrapi.exceptions import FlickrError

    if isinstance(exc, FlickrError):
        message = re.sub(r"^Error: \d+: ", "", str(exc))
        if exc.code in TEMPORARY_CODES:
            return True, f"code {exc.code}: {message}"
        status = _HTTP_STATUS.search(str(exc))
        if exc.code is None and status:
            code = int(status.group(1))
            return code >= 500 or code == 429, f"HTTP {code}"
        return False, f"code {exc.code}: {message}" if exc.code is not None else message
    if isinstance(exc, (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        return True, f"{type(exc).__name__}: {str(exc)[:200]}"
    if isinstance(exc, ValueError):  # an HTML error page instead of JSON
        return True, f"unparsable response: {str(exc)[:200]}"
    return False, f"{type(exc).__name__}: {exc}"


def _request_error(exc: BaseException, reason: str, method: str) -> FlickrRequestError:
    code = getattr(exc, "code", None)
    if code == 100:
        return FlickrRequestError(
            f"Flickr refused the API key ({reason}). Set FLICKR_API_KEY and FLICKR_API_SECRET in the environment "
            "(or flickr_api_key / flickr_api_secret in the workspace's secrets.toml) to a valid key.", code)
    if code in (96, 97):
        return FlickrRequestError(f"Flickr rejected the request signature ({reason}); check FLICKR_API_SECRET.", code)
    return FlickrRequestError(f"Flickr refused {method} ({reason}); check the search options and run again.", code)


class FlickrClient:
    """Thread-safe: each thread gets its own ``flickrapi.FlickrAPI``; all share one rate limiter."""

    def __init__(self, api_key: str, api_secret: str, *, rest_url: str | None = None,
                 limiter: Limiter | None = None, retry: RetryPolicy | None = None, timeout: float = 30.0,
                 rng: np.random.Generator | None = None, sleep: Callable[[float], None] = time.sleep):
        self.api_key, self._secret = api_key, api_secret
        self.rest_url = rest_url or FLICKR_REST_URL
        self.limiter, self.retry, self.timeout = limiter, retry or RetryPolicy(), timeout
        self._rng = rng if rng is not None else np.random.default_rng()
        self._rng_lock = threading.Lock()
        self._sleep = sleep
        self._local = threading.local()
        self.calls = 0
        self.retries = 0

    def _api(self):
        api = getattr(self._local, "api", None)
        if api is None:
            import flickrapi
            import requests
            from requests.adapters import HTTPAdapter

            api = flickrapi.FlickrAPI(self.api_key, self._secret, format="parsed-json", store_token=False,
                                      timeout=self.timeout)
            api.REST_URL = self.rest_url
            session = requests.Session()  # flickrapi shares one class-level session; give each thread its own
            session.mount("http://", HTTPAdapter(pool_maxsize=4))
            session.mount("https://", HTTPAdapter(pool_maxsize=4))
            api.flickr_oauth.session = session
            self._local.api = api
        return api

    def call(self, method: str, **params: Any) -> dict:
        """Call ``method`` (e.g. ``flickr.photos.search``); retries temporary failures."""
        reason = ""
        for attempt in range(self.retry.tries):
            if self.limiter is not None:
                self.limiter.acquire()
            with self._rng_lock:
                self.calls += 1
            try:
                return self._api().do_flickr_call(method, **params)
            except Exception as exc:  # noqa: BLE001 - classified just below
                temporary, reason = classify(exc)
                if not temporary:
                    raise _request_error(exc, reason, method) from exc
            if attempt + 1 < self.retry.tries:
                with self._rng_lock:
                    wait = self.retry.delay(attempt, self._rng)
                    self.retries += 1
                log.info("%s failed temporarily (%s); retry %d in %.2fs", method, reason, attempt + 1, wait)
                self._sleep(wait)
        raise FlickrUnavailable(f"{method} still failing after {self.retry.tries} tries: {reason}")

    def search(self, **params: Any) -> dict:
        return self.call("flickr.photos.search", **params)["photos"]

    def licenses(self) -> list[dict]:
        return self.call("flickr.photos.licenses.getInfo")["licenses"]["license"]


def credentials(settings: Settings) -> tuple[str, str]:
    """The API key and secret from FLICKR_API_KEY/FLICKR_API_SECRET or the workspace's secrets.toml."""
    key = load_secret(settings, "flickr_api_key", "FLICKR_API_KEY")
    secret = load_secret(settings, "flickr_api_secret", "FLICKR_API_SECRET")
    if not key or not secret:
        raise CurateError("no Flickr API key: set FLICKR_API_KEY and FLICKR_API_SECRET in the environment, or put "
                          f"flickr_api_key = \"...\" and flickr_api_secret = \"...\" in {settings.root / 'secrets.toml'} "
                          "(never on the command line). Offline, start `curate emulator flickr` and use the key it prints.")
    return key, secret


def rest_url_setting(settings: Settings, explicit: str | None = None) -> str:
    """The REST endpoint: ``--rest-url``, CURATE_FLICKR_REST_URL, ``[flickr] rest_url`` or Flickr's own."""
    import os

    return explicit or os.environ.get("CURATE_FLICKR_REST_URL") or str(
        settings.section("flickr").get("rest_url") or FLICKR_REST_URL)


def make_client(settings: Settings, *, rest_url: str | None = None, limiter: Limiter | None = None,
                retry: RetryPolicy | None = None, timeout: float = 30.0,
                rng: np.random.Generator | None = None) -> FlickrClient:
    key, secret = credentials(settings)
    return FlickrClient(key, secret, rest_url=rest_url_setting(settings, rest_url), limiter=limiter, retry=retry,
                        timeout=timeout, rng=rng)
