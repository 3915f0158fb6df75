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


class LoginLimiter:
    """At most ``attempts`` failed logins per (address, user name), and four times that per address
    over all names, within ``window_s`` seconds."""

    PER_ADDRESS = 4

    def __init__(self, attempts: int, window_s: float):
        self.attempts, self.window_s = attempts, window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self.window_s:
            times.popleft()
        return times

    def blocked(self, address: str, username: str) -> bool:
        with self._lock:
            now = time.monotonic()
            return (len(self._recent((address, username.lower()), now)) >= self.attempts
                    or len(self._recent((address, "\0any"), now)) >= self.attempts * self.PER_ADDRESS)

    def failed(self, address: str, username: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._recent((address, username.lower()), now).append(now)
            self._recent((address, "\0any"), now).append(now)

    def succeeded(self, address: str, username: str) -> None:
        with self._lock:
            self._failures.pop((address, username.lower()), None)


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


def secure_headers(response, frame_ok: bool = False):
    """Content-Security-Policy without inline script, no sniffing, no framing except worker pages."""
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; object-src 'none'; "
        f"base-uri 'none'; form-action 'self' https:; frame-ancestors {'*' if frame_ok else chr(39) + 'none' + chr(39)}")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not frame_ok:
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response
