"""Quiet hours: when a nudge must not go out (nights and public holidays, in Brussels time)."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contact_center.errors import ConfigurationError

__all__ = ["QuietHours"]

_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class QuietHours:
    """A daily quiet span such as ``20:00-09:00`` (it may wrap midnight) plus the country's public holidays.

    >>> from datetime import UTC
    >>> QuietHours("20:00-09:00").reason(datetime(2026, 11, 23, 22, 0, tzinfo=UTC)) is not None
    True
    """

    def __init__(
        self, span: str = "20:00-09:00", timezone: str = "Europe/Brussels", country: str | None = "BE"
    ) -> None:
        match = _SPAN.match(span)
        if match is None:
            raise ConfigurationError(
                f"quiet hours {span!r} are not like 20:00-09:00; fix CC_JOURNEYS__QUIET_HOURS"
            )
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ConfigurationError(
                f"quiet hours {span!r} name an impossible time; fix CC_JOURNEYS__QUIET_HOURS"
            )
        self.span = span.strip()
        self.start = time(h1, m1)
        self.end = time(h2, m2)
        try:
            self.zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigurationError(
                f"unknown time zone {timezone!r}; fix CC_JOURNEYS__TIMEZONE (e.g. Europe/Brussels)"
            ) from None
        self.country = country

    @cached_property
    def _holidays(self) -> Any:
        if not self.country:
            return {}
        import holidays

        try:
            return holidays.country_holidays(self.country)
        except NotImplementedError:
            raise ConfigurationError(
                f"no public holidays known for country {self.country!r}; fix CC_JOURNEYS__HOLIDAY_COUNTRY"
            ) from None

    def _in_span(self, t: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def reason(self, when: datetime) -> str | None:
        """Why ``when`` is quiet (night or a named public holiday), or None when a nudge may go out."""
        if when.tzinfo is None:
            raise ValueError(f"{when.isoformat()} has no timezone")
        local = when.astimezone(self.zone)
        holiday = self._holidays.get(local.date())
        if holiday:
            return f"public holiday ({holiday}, {local.date().isoformat()})"
        if self._in_span(local.time()):
            return f"quiet hours ({self.span} {self.zone.key}); next window opens {self.next_open(when):%Y-%m-%d %H:%M}"
        return None

    def next_open(self, when: datetime) -> datetime:
        """The first local time at or after ``when`` that is neither in the span nor on a holiday."""
        local = when.astimezone(self.zone)
        for _ in range(40):  # each pass jumps to a window edge or a day; 40 outlasts any run of holidays
            if not self._holidays.get(local.date()) and not self._in_span(local.time()):
                return local
            if self._in_span(local.time()) and self.start > self.end and local.time() >= self.start:
                local = local.replace(
                    hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0
                ) + timedelta(days=1)
            elif self._in_span(local.time()):
                local = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
            else:
                local = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return local
