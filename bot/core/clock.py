"""Time source. Services take a ``Clock`` so tests can move time without sleeping."""

from __future__ import annotations

import time
from datetime import date, datetime, UTC
from zoneinfo import ZoneInfo

__all__ = ["Clock", "SystemClock", "FixedClock", "local_day", "iso_now"]


class Clock:
    """Wall-clock time in seconds since the epoch (UTC)."""

    def now(self) -> float:
        raise NotImplementedError

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.now(), tz=UTC)


class SystemClock(Clock):
    def now(self) -> float:
        return time.time()


class FixedClock(Clock):
    """A clock that only moves when told to (tests)."""

    def __init__(self, start: float) -> None:
        self._t = float(start)

    def now(self) -> float:
        return self._t

    def advance(self, seconds: float) -> None:
        self._t += seconds

    def set(self, t: float) -> None:
        self._t = float(t)


def local_day(clock: Clock, tz_name: str) -> date:
    """The user's local calendar date — "the day" everywhere in the product."""
    return datetime.fromtimestamp(clock.now(), ZoneInfo(tz_name)).date()


def iso_now(clock: Clock) -> str:
    return clock.utcnow().isoformat().replace("+00:00", "Z")
