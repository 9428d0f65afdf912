"""Broadcast figures and the pause switch, shared by ``python -m bot broadcast`` and ``/ops broadcast``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from redis.exceptions import ResponseError

from bot.core.broadcast.options import GROUP
from bot.core.broadcast.runner import RATE_BUCKET_SECONDS
from bot.core.broadcast.tick import utc_day
from bot.core.clock import iso_now
from bot.core.logs import log_event
from bot.core.store import K, redis_guard

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["broadcast_status", "recent_dead_letters", "pause_broadcast", "resume_broadcast", "KNOWN_PLATFORMS"]

#: Platforms whose streams are always reported (plus any with a sender in this process).
KNOWN_PLATFORMS = ("tg", "dc")
RATE_WINDOW_SECONDS = 60
COUNTERS = ("queued", "sent", "unknown", "failed", "blocked", "unreachable", "expired", "retried")


async def broadcast_status(core: Core) -> dict[str, Any]:
    """The operators' figures.

    * ``due`` — subscribers whose send time has come but who are not queued yet (a tick moves them);
    * ``queued`` / ``sent`` / ``unknown`` / ``failed`` / ``blocked`` / ``unreachable`` (no identity
      on the platform any more: unsubscribed) / ``expired`` / ``retried`` — counters of the
      current UTC day (``day_utc``);
    * ``pending`` — queued entries not yet finished (in a worker's hands, or not read yet),
      with ``retrying`` (waiting out a backoff) and ``dead_letter`` (given up, kept for operators);
    * ``rate_per_second`` — confirmed sends per second over the last minute, all processes.
    """
    r = core.store.redis
    now = core.clock.now()
    day = utc_day(now)
    platforms = sorted(set(KNOWN_PLATFORMS) | set(core.user_platforms()))
    bucket = int(time.time()) // RATE_BUCKET_SECONDS
    n_buckets = RATE_WINDOW_SECONDS // RATE_BUCKET_SECONDS
    rate_keys = [K.broadcast_rate(bucket - i) for i in range(1, n_buckets + 1)]
    async with redis_guard("broadcast.status"):
        async with r.pipeline(transaction=False) as pipe:
            pipe.zcount(K.broadcast_due(), "-inf", now)
            pipe.hlen(K.broadcast_subs())
            pipe.hgetall(K.broadcast_stats(day))
            pipe.get(K.broadcast_paused())
            pipe.xlen(K.broadcast_dead())
            for key in rate_keys:  # GETs, not MGET: a cluster pipeline refuses multi-key commands
                pipe.get(key)
            for p in platforms:
                pipe.zcard(K.broadcast_retry(p))
            due, subscribers, stats, paused, dead, *rest = await pipe.execute()
        rates, retrying = rest[:len(rate_keys)], rest[len(rate_keys):]
        pending: dict[str, int] = {}
        for p in platforms:
            try:
                groups = await r.xinfo_groups(K.broadcast_stream(p))
            except ResponseError:  # no such stream yet
                groups = []
            for g in groups:
                if g.get("name") == GROUP:
                    lag = g.get("lag")
                    pending[p] = int(g.get("pending") or 0) + int(lag or 0)
    out: dict[str, Any] = {
        "at": iso_now(core.clock),
        "day_utc": day,
        "paused": paused is not None,
        "paused_by": paused or "",
        "subscribers": int(subscribers),
        "due": int(due),
    }
    for name in COUNTERS:
        out[name] = int(stats.get(name, 0))
    out["pending"] = sum(pending.values())
    out["pending_by_platform"] = pending
    out["retrying"] = sum(int(x) for x in retrying)
    out["dead_letter"] = int(dead)
    out["rate_per_second"] = round(sum(int(x or 0) for x in rates) / RATE_WINDOW_SECONDS, 2)
    return out


async def recent_dead_letters(core: Core, count: int = 20) -> list[dict[str, Any]]:
    """The newest dead letters (sends given up after repeated failures), newest first."""
    async with redis_guard("broadcast.dead_letters"):
        raw = await core.store.redis.xrevrange(K.broadcast_dead(), count=count)
    return [{"id": entry_id, "uid": f.get("u", ""), "day": f.get("d", ""), "attempts": int(f.get("a", 0)),
             "reason": f.get("reason", ""), "at": int(f.get("at", 0))} for entry_id, f in raw]


async def pause_broadcast(core: Core, by: str = "operator") -> None:
    """Stop ticks and workers everywhere (entries wait; nothing is lost). Idempotent."""
    async with redis_guard("broadcast.pause"):
        await core.store.redis.set(K.broadcast_paused(), f"{by} {iso_now(core.clock)}")
    log_event("broadcast_paused", by=by)


async def resume_broadcast(core: Core, by: str = "operator") -> None:
    async with redis_guard("broadcast.resume"):
        await core.store.redis.delete(K.broadcast_paused())
    log_event("broadcast_resumed", by=by)
