"""A rate limiter shared by all worker threads that never exceeds its rate in any rolling window.

A plain token bucket allows ``burst + rate * t`` calls in ``t`` seconds: at 3,600 calls an hour with a
burst of 4 that is 64 calls in a minute, and a server counting 60 a minute refuses four. Here a burst is
borrowed from the rate, not added to it: ``burst`` calls may go at once, but then the calls that follow
wait until the rate has paid for them. The rule, checked on every call against the times of the last
``2 * burst - 1`` calls: any ``n + 1`` consecutive calls with ``n >= burst`` span more than ``n / rate``
seconds. Chaining such runs gives the bound for every window: at most ``max(burst, ceil(rate * t))``
calls in any window of ``t`` seconds, closed or half-open, for every ``t``.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from typing import Callable

EPSILON_S = 1e-6  # spans strictly longer than n / rate, so closed windows hold the bound too


class TokenBucket:
    """``rate_per_hour`` calls per hour with bursts of up to ``burst``; :meth:`acquire` blocks for one.

    Callers reserve their time under the lock and sleep outside it, so waiting threads are served in
    arrival order and the bound holds however many threads share the limiter. ``slack_s`` is added to
    every wait that the rate imposes, a margin for network jitter between here and the server's clock.
    """

    def __init__(self, rate_per_hour: float, burst: int = 1, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, slack_s: float = 0.02):
        if rate_per_hour <= 0:
            raise ValueError("rate_per_hour must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate_per_hour / 3600.0
        self.burst = burst
        self.slack_s = slack_s
        self._clock, self._sleep = clock, sleep
        self._history: collections.deque[float] = collections.deque(maxlen=2 * burst - 1)
        self._lock = threading.Lock()
        self.waited_s = 0.0

    def _earliest(self, now: float) -> float:
        """The first time a new call keeps every run of ``n + 1 >= burst + 1`` calls longer than ``n / rate``."""
        history = self._history
        at = max(now, history[-1]) if history else now
        for n in range(self.burst, len(history) + 1):
            at = max(at, history[-n] + n / self.rate + EPSILON_S + self.slack_s)
        return at

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            at = self._earliest(now)
            self._history.append(at)
            wait = at - now
            self.waited_s += wait
        if wait > 0:
            self._sleep(wait)

    def bound(self, seconds: float) -> int:
        """The most calls this limiter allows in any interval of ``seconds``."""
        return max(self.burst, math.ceil(self.rate * seconds))
