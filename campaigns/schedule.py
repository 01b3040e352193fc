"""Schedules in Europe/Brussels time: the start, optional send windows, the grace period, the finish estimate.

A window such as ``mon-fri 09:00-17:00`` restricts sending to those local hours; outside it the worker
leaves the campaign alone and resumes at the next opening. Daylight-saving changes are handled by
computing each day's window in local time.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from contact_center.errors import ScheduleError

__all__ = ["BRUSSELS", "SendWindow", "estimate_finish", "format_local", "parse_local_time", "parse_rate"]

BRUSSELS = ZoneInfo("Europe/Brussels")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(
    r"^\s*(?P<days>daily|[a-z]{3}(?:-[a-z]{3})?(?:,[a-z]{3}(?:-[a-z]{3})?)*)\s+"
    r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$",
    re.IGNORECASE,
)


def parse_local_time(text: str) -> datetime:
    """Parse ``YYYY-MM-DD HH:MM`` (or ISO 8601) as Europe/Brussels time unless it carries an offset.

    A local time that the daylight-saving change skips (``2027-03-28 02:30``) or repeats
    (``2027-10-31 02:30``) raises :class:`ScheduleError`: the first would silently become 03:30, the
    second could be either of two instants an hour apart. An explicit offset settles the second.
    """
    try:
        value = datetime.fromisoformat(text.strip().replace("T", " "))
    except ValueError:
        raise ScheduleError(
            f"cannot read the time {text!r}; write it as YYYY-MM-DD HH:MM (Brussels time)"
        ) from None
    if value.tzinfo:
        return value
    first = value.replace(tzinfo=BRUSSELS, fold=0)
    second = value.replace(tzinfo=BRUSSELS, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    shown = value.strftime("%Y-%m-%d %H:%M")
    round_trip = datetime.fromtimestamp(first.timestamp(), BRUSSELS).replace(tzinfo=None)
    if round_trip != value:
        raise ScheduleError(
            f"{shown} does not exist in Brussels: the clocks skip that hour for summer time; "
            "pick a time outside it (e.g. an hour later)"
        )
    raise ScheduleError(
        f"{shown} happens twice in Brussels (the clocks go back an hour that night); add the offset: "
        f"{shown}{_offset(first)} for the first, {shown}{_offset(second)} "
        "for the second"
    )


def _offset(value: datetime) -> str:
    offset = value.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    return f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def format_local(timestamp: float) -> str:
    """An epoch timestamp as ``YYYY-MM-DD HH:MM`` Brussels time, for people."""
    return datetime.fromtimestamp(timestamp, BRUSSELS).strftime("%Y-%m-%d %H:%M %Z")


def parse_rate(text: str) -> float:
    """Parse ``50/s``, ``3000/min``, ``100000/h`` or a bare number (per second) into messages per second."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|second|m|min|minute|h|hour))?\s*", text.lower())
    if not match or float(match.group(1)) <= 0:
        raise ScheduleError(f"cannot read the rate {text!r}; write e.g. 50/s, 3000/min or 100000/h")
    value = float(match.group(1))
    unit = match.group(2) or "s"
    return (
        value
        / {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}[unit]
    )


def _wall_clock(day: date, at: time) -> float:
    """The instant a Brussels wall clock reads ``at`` on ``day``.

    A reading the spring change skips (02:30 on the last Sunday of March) is taken as the jump itself
    (03:00 CEST), which is when the wall clock passes it; zoneinfo alone would place it an hour later.
    """
    local = datetime.combine(day, at, BRUSSELS)
    instant = local.timestamp()
    if datetime.fromtimestamp(instant, BRUSSELS).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    # Bisect (whole seconds) between the readings before and after the jump for the instant it happens.
    low, high = math.floor(local.replace(fold=1).timestamp()), math.ceil(instant)
    offset = BRUSSELS.utcoffset(datetime.fromtimestamp(low, BRUSSELS))
    while high - low > 1:
        middle = (low + high) // 2
        if BRUSSELS.utcoffset(datetime.fromtimestamp(middle, BRUSSELS)) == offset:
            low = middle
        else:
            high = middle
    return float(high)


@dataclass(frozen=True, slots=True)
class SendWindow:
    """Days of the week and a daily local-time range during which sending is allowed."""

    days: frozenset[int]
    start: time
    end: time
    source: str

    @classmethod
    def parse(cls, text: str) -> SendWindow:
        """Parse ``mon-fri 09:00-17:00``, ``mon,wed,fri 08:30-12:00`` or ``daily 09:00-20:00``."""
        match = _WINDOW.match(text)
        if not match:
            raise ScheduleError(f'cannot read the window {text!r}; write e.g. "mon-fri 09:00-17:00"')
        days: set[int] = set()
        spec = match.group("days").lower()
        if spec == "daily":
            days = set(range(7))
        else:
            for part in spec.split(","):
                first, _, last = part.partition("-")
                if first not in _DAYS or (last and last not in _DAYS):
                    raise ScheduleError(
                        f"unknown day in window {text!r}; use mon, tue, wed, thu, fri, sat, sun"
                    )
                a, b = _DAYS.index(first), _DAYS.index(last or first)
                days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        try:
            start = time.fromisoformat(match.group("start").zfill(5))
            end = time.fromisoformat(match.group("end").zfill(5))
        except ValueError:
            raise ScheduleError(f"bad time in window {text!r}; hours run 00:00-23:59") from None
        if end <= start:
            raise ScheduleError(f"window {text!r} ends before it starts; overnight windows are not supported")
        return cls(frozenset(days), start, end, text.strip())

    def _interval(self, day: date) -> tuple[float, float] | None:
        if day.weekday() not in self.days:
            return None
        return _wall_clock(day, self.start), _wall_clock(day, self.end)

    def is_open(self, timestamp: float) -> bool:
        """Whether sending is allowed at this instant."""
        day = datetime.fromtimestamp(timestamp, BRUSSELS).date()
        interval = self._interval(day)
        return interval is not None and interval[0] <= timestamp < interval[1]

    def next_open(self, timestamp: float) -> float:
        """The first instant at or after ``timestamp`` when sending is allowed."""
        if self.is_open(timestamp):
            return timestamp
        day = datetime.fromtimestamp(timestamp, BRUSSELS).date()
        for offset in range(8):
            interval = self._interval(day + timedelta(days=offset))
            if interval and interval[1] > timestamp:
                return max(timestamp, interval[0])
        raise ScheduleError(f"window {self.source!r} never opens")  # pragma: no cover


def estimate_finish(remaining: int, rate: float, start: float, window: SendWindow | None) -> float:
    """When ``remaining`` messages at ``rate``/s will be sent, counting only open window time."""
    needed = remaining / rate
    if window is None:
        return start + needed
    day = datetime.fromtimestamp(start, BRUSSELS).date()
    for offset in range(3660):
        interval = window._interval(day + timedelta(days=offset))
        if interval is None or interval[1] <= start:
            continue
        opens = max(start, interval[0])
        span = interval[1] - opens
        if needed <= span:
            return opens + needed
        needed -= span
    return float("inf")
