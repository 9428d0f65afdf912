"""The broadcast tick: move due subscribers from the due index into the delivery streams.

Runs every minute on every instance. Safe to run concurrently and repeatedly: each
subscriber is moved by one compare-and-set Lua script (``broadcast_queue.lua``) that
re-indexes them and claims the per-user-per-day "queued" marker (``marks``: per-day buckets)
before adding the stream entry, so a second tick (here or on another instance) finds nothing left to do. Every key
of the script is in the ``{b}`` family (one hash slot on Redis Cluster).

Subscribers are account ids; the platform stream an account goes to is the platform stored
with its subscription (``"HH:MM|<platform>"``), never anything parsed out of the id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, UTC
from typing import TYPE_CHECKING

from bot.core.broadcast.marks import PER_BUCKET, later_days
from bot.core.broadcast.options import BroadcastOptions
from bot.core.broadcast.schedule import plan
from bot.core.broadcast.subscriptions import split_sub
from bot.core.logs import log_event
from bot.core.profiles import pick, stored_fields
from bot.core.store import K
from bot.core.timezones import stored_timezone

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["tick", "TickResult", "utc_day", "is_paused"]

#: The profile fields the tick reads (time zone, onboarding step), in both stored layouts.
PROFILE_FIELDS = stored_fields(("tz", "step"))


@dataclass(slots=True)
class TickResult:
    paused: bool = False
    queued: int = 0  # entries added to a stream
    reindexed: int = 0  # due time moved without sending (day passed, time zone changed)
    dropped: int = 0  # removed from the index (unsubscribed / profile gone)
    raced: int = 0  # another instance moved them first
    already: int = 0  # that local day was already queued/sent
    by_platform: dict[str, int] = field(default_factory=dict)


def utc_day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


async def is_paused(core: Core) -> bool:
    return bool(await core.store.redis.exists(K.broadcast_paused()))


async def tick(core: Core, options: BroadcastOptions | None = None) -> TickResult:
    """Queue every subscriber whose due time has come (by ``core.clock``). Raises on Redis errors."""
    opts = options or BroadcastOptions.from_settings(core.settings)
    r = core.store.redis
    result = TickResult()
    if await is_paused(core):
        result.paused = True
        return result
    now = core.clock.now()
    default_tz = core.settings.product.profile.default_timezone
    stats_key = K.broadcast_stats(utc_day(now))
    script = core.store.scripts["broadcast_queue"]
    deadline = time.monotonic() + opts.tick_budget_s
    while time.monotonic() < deadline:
        batch: list[tuple[str, float]] = await r.zrangebyscore(
            K.broadcast_due(), "-inf", now, start=0, num=opts.tick_batch, withscores=True)
        if not batch:
            break
        uids = [uid for uid, _ in batch]
        async with r.pipeline(transaction=False) as pipe:
            pipe.hmget(K.broadcast_subs(), uids)
            for uid in uids:
                pipe.hmget(K.profile(uid), PROFILE_FIELDS)
            replies = await pipe.execute()
        values, profiles = replies[0], [pick(("tz", "step"), row) for row in replies[1:]]
        groups: dict[str, list[str]] = {}
        for (uid, score), value, (tz, step) in zip(batch, values, profiles):
            expected = str(int(score))
            hhmm, platform = split_sub(value)
            if hhmm and not platform:  # stored before layout v2: the account's first identity
                target = await core.accounts.target(uid)
                platform = target[0] if target is not None else ""
            # Dropped entries go through any platform's script call (they only leave the index).
            args = groups.setdefault(platform or "tg", [])
            if not hhmm or not platform or (tz is None and step is None):
                # unsubscribed, no identity left to reach, or the profile is gone
                args += [uid, expected, "0", "", "", "", "d"]
                continue
            p = plan(hhmm, stored_timezone(tz, default_tz), now)
            day = p.day.isoformat()
            args += [uid, expected, str(p.next_due), day, *later_days(day), "s" if p.send else "r"]
        for platform, args in groups.items():
            q, ri, dr, ra, al = await script(
                keys=[K.broadcast_due(), K.broadcast_marks(), K.broadcast_stream(platform), stats_key],
                args=[opts.stream_retention_s, opts.stats_ttl_s, K.broadcast_mark_prefix(), PER_BUCKET, int(now),
                      *args])
            result.queued += q
            result.reindexed += ri
            result.dropped += dr
            result.raced += ra
            result.already += al
            if q:
                result.by_platform[platform] = result.by_platform.get(platform, 0) + q
    if result.queued or result.reindexed or result.dropped:
        log_event("broadcast_tick", queued=result.queued, reindexed=result.reindexed,
                  dropped=result.dropped, raced=result.raced, already=result.already)
    return result
