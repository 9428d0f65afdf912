"""The ops audit log: an append-only Redis Stream (``K.ops_audit``).

Every ops command, confirmation, refusal and alert state change is one entry: who, surface,
channel, command, arguments, result, time (ms). Entries are only ever appended (``XADD``);
the only removal is trimming by age at append time (``MINID`` = now - retention, approximate,
so an entry lives at least ``ops.audit_retention_days``). There is no command that edits or
deletes entries. Arguments never hold a user's platform id: surfaces pass identities
(``tg:123``) and the ops core replaces them with the account id before auditing.

Redis down: ``append`` does not raise; the entry is written to the log instead
(``ops_audit_unavailable``) so the attempt is still on record, and the caller's command goes on
(a refusal is still a refusal).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.core.logs import log_event
from bot.core.store import K, REDIS_ERRORS, redis_guard

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["AuditEntry", "AuditLog"]

FIELDS = ("at", "who", "surface", "channel", "command", "args", "result", "detail")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: str
    at: int  # ms
    who: str
    surface: str
    channel: str
    command: str
    args: str
    result: str
    detail: str = ""


class AuditLog:
    def __init__(self, core: Core) -> None:
        self._core = core

    async def append(self, *, who: str, surface: str, channel: str, command: str, args: str, result: str,
                     detail: str = "") -> str | None:
        """Append one entry; returns its stream id, or None when Redis is down (logged instead)."""
        core = self._core
        now = core.clock.now_ms()
        fields: dict[str, Any] = {"at": str(now), "who": who, "surface": surface, "channel": channel, "command": command,
                  "args": args[:500], "result": result[:200], "detail": detail[:500]}
        keep_ms = core.settings.product.ops.audit_retention_days * 86_400_000
        try:
            entry_id = await core.store.redis.xadd(K.ops_audit(), fields, minid=max(0, now - keep_ms),
                                                   approximate=True)
        except REDIS_ERRORS as exc:
            log_event("ops_audit_unavailable", level=logging.ERROR, error=type(exc).__name__, **fields)
            return None
        return str(entry_id)

    async def recent(self, n: int = 20) -> list[AuditEntry]:
        """The newest ``n`` entries, newest first. Redis down: ``ServiceUnavailable``."""
        async with redis_guard("ops.audit.recent"):
            rows = await self._core.store.redis.xrevrange(K.ops_audit(), count=max(1, n))
        return [AuditEntry(id=str(eid), at=int(f.get("at", 0)), who=f.get("who", ""), surface=f.get("surface", ""),
                           channel=f.get("channel", ""), command=f.get("command", ""), args=f.get("args", ""),
                           result=f.get("result", ""), detail=f.get("detail", "")) for eid, f in rows]
