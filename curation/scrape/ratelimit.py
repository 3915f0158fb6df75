"""A token bucket shared by all worker threads: at most ``burst + rate * t`` calls in any ``t`` seconds."""

from __future__ import annotations

import threading
import time
from typing import Callable


class TokenBucket:
    """``rate_per_hour`` tokens per hour, holding at most ``burst``; :meth:`acquire` blocks for one.

    Callers reserve their token under the lock and sleep outside it, so waiting threads are served in
    arrival order and the bound holds however many threads share the bucket.
    """

    def __init__(self, rate_per_hour: float, burst: int = 1, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if rate_per_hour <= 0:
            raise ValueError("rate_per_hour must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate_per_hour / 3600.0
        self.burst = burst
        self._clock, self._sleep = clock, sleep
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()
        self.waited_s = 0.0

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
            self.waited_s += wait
        if wait > 0:
            self._sleep(wait)

    def bound(self, seconds: float) -> float:
        """The most calls this bucket allows in any interval of ``seconds``."""
        return self.burst + self.rate * seconds
