"""CSRF tokens, login rate limiting, signed image URLs and response headers.

CSRF: every session carries a random token; every POST must echo it (form field ``csrf_token`` or
header ``X-CSRF-Token``), compared in constant time. Image URLs are ``/img/<signed>`` where the
signed payload names a HIT item's random token (or an example / review image) and expires.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from typing import Any

CSRF_KEY = "_csrf"
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


def csrf_token() -> str:
    """This session's CSRF token (made on first use)."""
    from flask import session

    token = session.get(CSRF_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_KEY] = token
    return token


def check_csrf() -> None:
    """``before_request`` hook: refuse an unsafe request without the session's token (400)."""
    from flask import abort, request, session

    if request.method not in UNSAFE:
        return
    expected = session.get(CSRF_KEY)
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    if not expected or not hmac.compare_digest(str(expected), str(sent)):
        abort(400, description="The form expired or was not sent by this site (CSRF check failed). "
                               "Reload the page and try again.")


class WindowCounter:
    """Events per key within a sliding window of ``window_s`` seconds (in memory, thread safe)."""

    def __init__(self, window_s: float):
        self.window_s = window_s
        self._events: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._events.setdefault(key, deque())
        while times and now - times[0] > self.window_s:
            times.popleft()
        return times

    def count(self, key: tuple[str, str]) -> int:
        with self._lock:
            return len(self._recent(key, time.monotonic()))

    def add(self, *keys: tuple[str, str]) -> None:
        with self._lock:
            now = time.monotonic()
            for key in keys:
                self._recent(key, now).append(now)

    def clear(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._events.pop(key, None)


class LoginLimiter:
    """Failed sign-ins within ``window_s``: at most ``attempts`` per (address, account), four times
    that per address over all names, and ``per_account`` per account over all addresses.

    The per-account cap does not lock out addresses that signed in to that account before, so an
    attacker spraying one account from many addresses cannot lock its owner out.
    """

    PER_ADDRESS = 4

    def __init__(self, attempts: int, window_s: float, per_account: int | None = None):
        self.attempts, self.window_s = attempts, window_s
        self.per_account = per_account if per_account is not None else attempts * self.PER_ADDRESS
        self._failures = WindowCounter(window_s)
        self._good: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def blocked(self, address: str, username: str) -> bool:
        name = username.lower()
        with self._lock:
            trusted = (address, name) in self._good
        return (self._failures.count((address, name)) >= self.attempts
                or self._failures.count((address, "\0any")) >= self.attempts * self.PER_ADDRESS
                or (not trusted and self._failures.count(("\0account", name)) >= self.per_account))

    def failed(self, address: str, username: str) -> None:
        name = username.lower()
        self._failures.add((address, name), (address, "\0any"), ("\0account", name))

    def succeeded(self, address: str, username: str) -> None:
        name = username.lower()
        self._failures.clear((address, name))
        with self._lock:
            if len(self._good) < 100_000:
                self._good.add((address, name))


def platform_signature(secret: str, worker_id: str) -> str:
    """The HMAC-SHA256 (hex) that a per-worker ``/task`` link carries as ``sig``."""
    import hashlib

    return hmac.new(secret.encode(), f"worker:{worker_id}".encode(), hashlib.sha256).hexdigest()


def signature_ok(secret: str | None, worker_id: str, sig: str) -> bool:
    return bool(secret) and hmac.compare_digest(platform_signature(secret, worker_id), sig or "")


class ImageSigner:
    """Signs and checks image references; a tampered or expired reference yields None."""

    KINDS = ("h", "x", "r")  # HIT item token, class example (gold id), review image (image id)

    def __init__(self, secret_key: str, max_age_s: int):
        from itsdangerous import URLSafeTimedSerializer

        self._serializer = URLSafeTimedSerializer(secret_key, salt="curate-image")
        self.max_age_s = max_age_s

    def sign(self, kind: str, ref: Any) -> str:
        assert kind in self.KINDS
        return self._serializer.dumps([kind, ref])

    def load(self, signed: str) -> tuple[str, Any] | None:
        from itsdangerous import BadData

        if len(signed) > 512:
            return None
        try:
            kind, ref = self._serializer.loads(signed, max_age=self.max_age_s)
        except (BadData, ValueError, TypeError):
            return None
        return (kind, ref) if kind in self.KINDS else None


def secure_headers(response, platform_origins: tuple[str, ...] = ()):
    """Content-Security-Policy without inline script, no sniffing; framing and form targets limited
    to this site plus ``platform_origins`` (the configured crowd platform, on worker pages only)."""
    extra = "".join(" " + origin for origin in platform_origins)
    ancestors = f"'self'{extra}" if platform_origins else "'none'"
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; object-src 'none'; "
        f"base-uri 'none'; form-action 'self'{extra}; frame-ancestors {ancestors}")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not platform_origins:
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response
