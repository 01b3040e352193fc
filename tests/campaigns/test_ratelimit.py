"""The adaptive rate limit as the worker drives it: push-back slows it, accepted messages bring it back."""

from __future__ import annotations

from campaigns import AdaptiveRateLimiter
from campaigns.schedule import parse_rate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_push_back_halves_the_rate_down_to_the_floor_and_successes_restore_it() -> None:
    clock = Clock()
    limiter = AdaptiveRateLimiter(50.0, clock=clock)
    limiter.on_throttled()
    assert limiter.current == 25.0
    limiter.on_throttled()  # the same push-back (within a second): cut once
    assert limiter.current == 25.0
    for _ in range(10):
        clock.now += 2
        limiter.on_throttled()
    assert limiter.current == 0.2  # the floor
    for _ in range(20 * 60):
        limiter.on_success()
    assert limiter.current == 50.0


def test_push_back_never_raises_a_slow_campaign_above_its_configured_rate() -> None:
    # --rate 360/h is 0.1 message/s, below the 0.2/s floor: a 451 from the relay used to lift it to the
    # floor, doubling the rate the relay had just asked us to lower.
    clock = Clock()
    target = parse_rate("360/h")
    limiter = AdaptiveRateLimiter(target, clock=clock)
    for _ in range(5):
        limiter.on_throttled()
        assert limiter.current is not None and limiter.current < target
        clock.now += 2
    assert limiter.current == target / 2
    for _ in range(20 * 10):
        limiter.on_success()
    assert limiter.current == target
