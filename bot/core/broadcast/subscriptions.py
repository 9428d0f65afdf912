"""Daily-broadcast subscriptions in Redis (every key in the ``{b}`` family: one hash slot).

Two structures, both one entry per subscriber (cheap at a million subscribers):

* ``bcast:{b}:subs`` hash account id -> ``"HH:MM|<platform>"``: the local send time and the
  platform the user subscribed on (the runner reaches the account's identity on that
  platform, ``core.accounts.target``);
* ``bcast:{b}:due`` sorted set account id -> next due instant (epoch s, UTC minute), so "who
  is due" is a ``ZRANGEBYSCORE -inf now``.

The user's time zone is read from their profile whenever a due time is computed, so a
``/timezone`` change takes effect at the next tick (see ``schedule.plan``). Every write here
is one MULTI on keys of the ``{b}`` slot (atomic on Redis Cluster too); Redis down:
``ServiceUnavailable``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, UTC
from typing import TYPE_CHECKING

from bot.core.broadcast.marks import recent_days
from bot.core.broadcast.schedule import next_due, zone
from bot.core.store import K, redis_guard

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["Subscription", "Subscriptions", "sub_value", "split_sub"]


def sub_value(hhmm: str, platform: str) -> str:
    """The stored subscription: ``"08:00|tg"``."""
    return f"{hhmm}|{platform}"


def split_sub(value: str | None) -> tuple[str, str]:
    """``"08:00|tg"`` -> ``("08:00", "tg")``; no value -> ``("", "")``. A value without a
    platform (written before layout v2) gives ``""`` as the platform: the caller reaches the
    account on any platform it is linked on."""
    if not value:
        return "", ""
    hhmm, _, platform = value.partition("|")
    return hhmm, platform


@dataclass(frozen=True, slots=True)
class Subscription:
    uid: str  # the account id
    hhmm: str
    tz: str
    next_due: int  # epoch s
    next_day: date  # local day of next_due
    platform: str = ""

    def next_local(self) -> datetime:
        return datetime.fromtimestamp(self.next_due, zone(self.tz))


class Subscriptions:
    def __init__(self, core: Core) -> None:
        self.core = core
        self._r = core.store.redis

    async def subscribe(self, aid: str, hhmm: str, tz: str, *, platform: str) -> Subscription:
        """Subscribe account ``aid`` (or change the time), to be reached on ``platform``. The
        first send is the next ``hhmm`` local time. Atomic (one MULTI in ``{b}``), idempotent."""
        due, day = next_due(hhmm, tz, self.core.clock.now())
        async with redis_guard("broadcast.subscribe"):
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hset(K.broadcast_subs(), aid, sub_value(hhmm, platform))
                pipe.zadd(K.broadcast_due(), {aid: due})
                await pipe.execute()
        return Subscription(aid, hhmm, tz, due, day, platform)

    async def get(self, aid: str, tz: str) -> Subscription | None:
        async with redis_guard("broadcast.get"):
            async with self._r.pipeline(transaction=False) as pipe:
                pipe.hget(K.broadcast_subs(), aid)
                pipe.zscore(K.broadcast_due(), aid)
                value, score = await pipe.execute()
        hhmm, platform = split_sub(value)
        if not hhmm:
            return None
        if score is None:
            due, day = next_due(hhmm, tz, self.core.clock.now())
        else:
            due = int(score)
            day = datetime.fromtimestamp(due, zone(tz)).date()
        return Subscription(aid, hhmm, tz, due, day, platform)

    async def unsubscribe(self, aid: str, tz: str) -> bool:
        """Stop the daily push. Returns False when the user was not subscribed.

        Today's delivery marker stays (so re-subscribing today cannot bring a second fortune
        today); markers are per-day buckets that expire on their own (``marks``). A marker in
        the legacy hash older than today protects nothing any more and is removed.
        """
        async with redis_guard("broadcast.unsubscribe"):
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hdel(K.broadcast_subs(), aid)
                pipe.zrem(K.broadcast_due(), aid)
                pipe.hget(K.broadcast_marks(), aid)
                removed, _, mark = await pipe.execute()
            today = datetime.fromtimestamp(self.core.clock.now(), zone(tz)).date().isoformat()
            if mark and mark[:10] < today:
                # Not atomic with the read: if the user re-subscribed and was queued for today
                # in between, the new marker is in today's bucket (and the queue step dropped
                # this legacy field itself): nothing is lost or doubled.
                await self._r.hdel(K.broadcast_marks(), aid)
        return bool(removed)

    async def erase(self, aid: str) -> None:
        """``/delete``: forget the subscription and the delivery markers of account ``aid``
        (every day whose buckets may still exist, and the legacy hash). One Lua step in ``{b}``
        (``broadcast_forget.lua``): atomic and idempotent (a second run removes nothing).
        Stream entries and retries still naming the account are acknowledged as ``gone`` when
        a worker reaches them (``broadcast_claim.lua``: no marker), never sent."""
        days = recent_days(datetime.fromtimestamp(self.core.clock.now(), UTC).date())
        async with redis_guard("broadcast.erase"):
            await self.core.store.scripts["broadcast_forget"](
                keys=[K.broadcast_subs(), K.broadcast_due(), K.broadcast_marks()],
                args=[aid, K.broadcast_mark_prefix(), *days])
