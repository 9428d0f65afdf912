"""Incidents P0–P3 with the runbook's response times, a timeline, and reminders.

Response time (``[ops] response_minutes``): P0 15 min, P1 1 h, P2 4 h from the declaration;
P3 the next business day at ``business_start`` (09:00) in ``business_timezone`` (Asia/Seoul):
the first day after the declaration's local date that is Mon–Fri and not in ``holidays``.

Storage (one slot, ``{ops}``): the incident hash, its timeline list and the open index change
together in one script per step (``ops_incident.lua``: declare, ack, note, resolve, remind).
The number comes from ``INCR`` first; a crash between the ``INCR`` and the declaration only
skips a number. Every step is gated on the state: acknowledging twice, or resolving twice,
changes nothing. A reminder is due when the incident is still open (not acknowledged) past its
deadline, and again every ``remind_seconds``; the script records it before it is posted, so
two evaluators never both remind (a crash in between loses that one reminder; the next comes
after the interval). Redis down: ``ServiceUnavailable``, nothing changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, UTC
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.core.store import K, redis_guard

if TYPE_CHECKING:
    from bot.core.service import Core
    from bot.core.settings import OpsConfig

__all__ = ["SEVERITIES", "Incident", "Incidents", "deadline_ms", "next_business_start"]

SEVERITIES = ("P0", "P1", "P2", "P3")


def next_business_start(cfg: OpsConfig, declared_ms: int) -> int:
    """P3: the next business day's ``business_start`` after the declaration's local date (ms)."""
    tz = ZoneInfo(cfg.business_timezone)
    local = datetime.fromtimestamp(declared_ms / 1000, UTC).astimezone(tz)
    holidays = {date.fromisoformat(d) for d in cfg.holidays}
    hh, mm = (int(x) for x in cfg.business_start.split(":"))
    day = local.date() + timedelta(days=1)
    while day.weekday() >= 5 or day in holidays:
        day += timedelta(days=1)
    return int(datetime.combine(day, time(hh, mm), tzinfo=tz).timestamp() * 1000)


def deadline_ms(cfg: OpsConfig, severity: str, declared_ms: int) -> int:
    """When an incident of ``severity`` declared at ``declared_ms`` must be acknowledged."""
    if severity == "P3":
        return next_business_start(cfg, declared_ms)
    return declared_ms + cfg.response_minutes[severity] * 60_000


@dataclass(frozen=True, slots=True)
class Incident:
    number: int
    severity: str
    title: str
    state: str  # open | acked | resolved
    declared_by: str
    declared_at: int
    deadline: int
    acked_by: str = ""
    acked_at: int = 0
    resolved_at: int = 0
    reminders: int = 0
    timeline: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, raw: dict[str, str], timeline: list[str] | None = None) -> Incident:
        return cls(int(raw["number"]), raw.get("severity", "?"), raw.get("title", ""), raw.get("state", "?"),
                   raw.get("declared_by", ""), int(raw.get("declared_at", 0)), int(raw.get("deadline", 0)),
                   raw.get("acked_by", ""), int(raw.get("acked_at", 0) or 0), int(raw.get("resolved_at", 0) or 0),
                   int(raw.get("reminders", 0) or 0), [json.loads(x) for x in (timeline or [])])


class Incidents:
    def __init__(self, core: Core) -> None:
        self._core = core

    def _keys(self, n: int) -> list[str]:
        return [K.ops_incident(n), K.ops_incident_timeline(n), K.ops_incidents_open()]

    async def _step(self, n: int, action: str, who: str, text: str = "", *extra: str | int) -> str:
        async with redis_guard("ops.incident"):
            out = await self._core.store.scripts["ops_incident"](
                keys=self._keys(n), args=[action, self._core.clock.now_ms(), who, text[:500], n, *extra])
        return str(out)

    async def declare(self, severity: str, title: str, who: str) -> Incident:
        cfg = self._core.settings.product.ops
        async with redis_guard("ops.incident"):
            n = int(await self._core.store.redis.incr(K.ops_incident_seq()))
        now = self._core.clock.now_ms()
        await self._step(n, "declare", who, title, severity, deadline_ms(cfg, severity, now))
        got = await self.get(n)
        assert got is not None
        return got

    async def ack(self, n: int, who: str) -> str:
        return await self._step(n, "ack", who)

    async def note(self, n: int, who: str, text: str) -> str:
        return await self._step(n, "note", who, text)

    async def resolve(self, n: int, who: str, text: str = "") -> str:
        return await self._step(n, "resolve", who, text)

    async def remind(self, n: int) -> str:
        interval = int(self._core.settings.product.ops.remind_seconds * 1000)
        return await self._step(n, "remind", "bot", "", interval)

    async def get(self, n: int) -> Incident | None:
        async with redis_guard("ops.incident"):
            async with self._core.store.redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(K.ops_incident(n))
                pipe.lrange(K.ops_incident_timeline(n), 0, -1)
                raw, timeline = await pipe.execute()
        return Incident.of(raw, timeline) if raw else None

    async def open(self) -> list[Incident]:
        """Incidents not resolved yet, oldest first."""
        async with redis_guard("ops.incident"):
            numbers = await self._core.store.redis.zrange(K.ops_incidents_open(), 0, -1)
        out = [await self.get(int(n)) for n in numbers]
        return [i for i in out if i is not None]

    async def recent(self, count: int = 10) -> list[Incident]:
        """The newest ``count`` incidents (any state), newest first."""
        async with redis_guard("ops.incident"):
            last = int(await self._core.store.redis.get(K.ops_incident_seq()) or 0)
        out = [await self.get(n) for n in range(last, max(0, last - count), -1)]
        return [i for i in out if i is not None]
