"""A token-bucket rate limit that slows down when the relay pushes back (AIMD).

A temporary SMTP reply (421, 450, 451, 452, 454) halves the current rate; a run of accepted messages
raises it again step by step towards the configured rate. This is how a polite sender keeps a relay
from blocking it, instead of counting throttling replies as failures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["AdaptiveRateLimiter", "backoff_delay"]


class AdaptiveRateLimiter:
    """Token bucket at ``rate`` messages/s (``None``: unlimited) with multiplicative decrease on push-back.

    Example::

        limiter = AdaptiveRateLimiter(50.0)
        await limiter.acquire()      # before each message
        limiter.on_throttled()       # after a 421/45x reply
        limiter.on_success()         # after a 250
    """

    def __init__(
        self,
        rate: float | None,
        *,
        burst: float | None = None,
        floor: float = 0.2,
        recover_after: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive, e.g. 50 for 50 messages per second")
        self.target = rate
        self.current = rate
        self.floor = floor
        self.recover_after = recover_after
        self._burst = burst
        self._clock = clock
        self._tokens = self._capacity()
        self._updated = clock()
        self._successes = 0
        self._lock = asyncio.Lock()
        self._last_decrease = float("-inf")
        self._paused_until = float("-inf")
        self.throttled = 0

    def _capacity(self) -> float:
        if self.current is None:
            return float("inf")
        return self._burst if self._burst is not None else max(1.0, self.current / 10)

    async def acquire(self) -> None:
        """Wait until one message may be sent (and until any pause is over)."""
        if self.current is None and self._clock() >= self._paused_until:
            return
        async with self._lock:
            while (wait := self._paused_until - self._clock()) > 0:
                await asyncio.sleep(wait)
            while self.current is not None:
                now = self._clock()
                rate = self.current
                self._tokens = min(self._capacity(), self._tokens + (now - self._updated) * rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / rate)

    def try_acquire(self) -> bool:
        """Take one token if one is available now (no waiting); False when the caller must wait."""
        if self._clock() < self._paused_until:
            return False
        if self.current is None:
            return True
        if self._lock.locked():
            return False  # someone is already waiting in acquire(): they go first
        now = self._clock()
        self._tokens = min(self._capacity(), self._tokens + (now - self._updated) * self.current)
        self._updated = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def pause_for(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (the relay is unreachable or closed the connection)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def pause_remaining(self) -> float:
        """Seconds left in the current pause (0 when sending is allowed)."""
        return max(0.0, self._paused_until - self._clock())

    def on_throttled(self) -> None:
        """The relay answered with a temporary refusal: halve the rate (not below ``floor``, nor below half
        the target rate when that is lower: a refusal never raises the rate).

        Refusals of messages already in flight when the first one came back belong to the same push-back,
        so the rate is cut at most once per second.
        """
        self.throttled += 1
        self._successes = 0
        now = self._clock()
        if now - self._last_decrease < 1.0:
            return
        self._last_decrease = now
        base = self.current if self.current is not None else 100.0
        # The floor keeps a push-back from slowing a campaign to a crawl; a campaign configured below it
        # (360/h is 0.1/s) may still halve once, but a refusal must never raise the rate.
        lowest = min(self.floor, self.target / 2) if self.target is not None else self.floor
        self.current = max(lowest, base / 2)
        self._tokens = min(self._tokens, 0.0)

    def on_success(self) -> None:
        """An accepted message: after ``recover_after`` in a row, step back up towards the target rate."""
        if self.current == self.target:
            return
        self._successes += 1
        if self._successes >= self.recover_after:
            self._successes = 0
            assert self.current is not None
            step = (self.target or self.current * 2) / 10
            raised = self.current + step
            self.current = raised if self.target is None else min(self.target, raised)
            if self.target is None and self.current > 10_000:
                self.current = None


def backoff_delay(attempt: int, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Exponential backoff with "equal jitter": between half and all of ``min(cap, base * 2**(attempt-1))``."""
    ceiling: float = min(cap, base * float(2 ** max(0, attempt - 1)))
    return ceiling / 2 + rand() * ceiling / 2
