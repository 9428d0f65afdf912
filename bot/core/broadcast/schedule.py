"""Time math for the daily broadcast: a subscriber's local "HH:MM" -> UTC instants.

Pure functions, no I/O. Every instant is epoch seconds on a UTC minute boundary. Local days
and times are computed with ``zoneinfo``, so daylight-saving changes are handled:

* a local time that does not exist that day (spring forward, e.g. 02:30 in New York) is sent
  at the same wall-clock offset as before the change (so 03:30 local), once;
* a local time that happens twice (fall back) is sent at the first occurrence (``fold=0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from bot.core.inputs import parse_hhmm as _parse_hhmm

__all__ = ["parse_hhmm", "due_instant", "next_due", "plan", "Plan", "zone"]


@lru_cache(maxsize=1024)
def zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def parse_hhmm(text: str) -> str | None:
    """``"8:05"`` / ``"08:05"`` / ``"8시 5분"`` -> ``"08:05"``; bare digits (``"0805"``) and
    anything else -> None. The rule lives in ``bot.core.inputs.parse_hhmm``."""
    return _parse_hhmm(text)


def due_instant(day: date, hhmm: str, tz: str) -> int:
    """The UTC instant (epoch s, minute boundary) of ``hhmm`` on local ``day`` in ``tz``."""
    h, m = int(hhmm[:2]), int(hhmm[3:5])
    local = datetime(day.year, day.month, day.day, h, m, tzinfo=zone(tz))  # fold=0: first occurrence
    ts = int(local.timestamp())
    return ts - ts % 60


def next_due(hhmm: str, tz: str, after: float) -> tuple[int, date]:
    """The first instant strictly after ``after`` at ``hhmm`` local, and its local day."""
    day = datetime.fromtimestamp(after, zone(tz)).date() - timedelta(days=1)
    while True:
        due = due_instant(day, hhmm, tz)
        if due > after:
            return due, day
        day += timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Plan:
    """What a tick does with one due subscriber."""

    send: bool  # queue today's fortune now
    day: date  # the local day the send is for (or the day of the next due time)
    next_due: int  # where the subscriber is re-indexed


def plan(hhmm: str, tz: str, now: float) -> Plan:
    """Decide for a subscriber whose indexed due time has come (score <= now).

    ``today`` is the subscriber's local day *now*. If today's send time has passed (on time,
    or late after an outage: catch-up within the same local day), send today's fortune and
    re-index to tomorrow's time. If it has not (yesterday's send was missed and today's time
    is still ahead, or the user changed time zone), send nothing — never yesterday's fortune —
    and re-index to today's time.
    """
    today = datetime.fromtimestamp(now, zone(tz)).date()
    due_today = due_instant(today, hhmm, tz)
    if due_today <= now:
        nxt, _ = next_due(hhmm, tz, max(now, due_today))
        return Plan(True, today, nxt)
    return Plan(False, today, due_today)
