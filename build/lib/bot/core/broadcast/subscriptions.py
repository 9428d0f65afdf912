"""Daily-broadcast subscriptions in Redis.

Two structures, both one entry per subscriber (cheap at a million subscribers):

* ``bcast:subs`` hash uid -> ``"HH:MM"`` (the user's local send time);
* ``bcast:due`` sorted set uid -> next due instant (epoch s, UTC minute), so "who is due" is a
  ``ZRANGEBYSCORE -inf now``.

The user's time zone is read from their profile whenever a due time is computed, so a
``/timezone`` change takes effect at the next tick (see ``schedule.plan``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from bot.core.broadcast.schedule import next_due, zone
from bot.core.store import K, redis_guard

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["Subscription", "Subscriptions"]


@dataclass(frozen=True, slots=True)
class Subscription:
    uid: str
    hhmm: str
    tz: str
    next_due: int  # epoch s
    next_day: date  # local day of next_due

    def next_local(self) -> datetime:
        return datetime.fromtimestamp(self.next_due, zone(self.tz))


class Subscriptions:
    def __init__(self, core: Core) -> None:
        self.core = core
        self._r = core.store.redis

    async def subscribe(self, uid: str, hhmm: str, tz: str) -> Subscription:
        """Subscribe (or change the time). The first send is the next ``hhmm`` local time."""
        due, day = next_due(hhmm, tz, self.core.clock.now())
        async with redis_guard("broadcast.subscribe"):
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hset(K.broadcast_subs(), uid, hhmm)
                pipe.zadd(K.broadcast_due(), {uid: due})
                await pipe.execute()
        return Subscription(uid, hhmm, tz, due, day)

    async def get(self, uid: str, tz: str) -> Subscription | None:
        async with redis_guard("broadcast.get"):
            async with self._r.pipeline(transaction=False) as pipe:
                pipe.hget(K.broadcast_subs(), uid)
                pipe.zscore(K.broadcast_due(), uid)
                hhmm, score = await pipe.execute()
        if not hhmm:
            return None
        if score is None:
            due, day = next_due(hhmm, tz, self.core.clock.now())
        else:
            due = int(score)
            day = datetime.fromtimestamp(due, zone(tz)).date()
        return Subscription(uid, hhmm, tz, due, day)

    async def unsubscribe(self, uid: str, tz: str) -> bool:
        """Stop the daily push. Returns False when the user was not subscribed.

        Today's delivery marker is kept (so re-subscribing today cannot bring a second
        fortune today); an older marker protects nothing any more and is removed.
        """
        async with redis_guard("broadcast.unsubscribe"):
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hdel(K.broadcast_subs(), uid)
                pipe.zrem(K.broadcast_due(), uid)
                pipe.hget(K.broadcast_marks(), uid)
                removed, _, mark = await pipe.execute()
            today = datetime.fromtimestamp(self.core.clock.now(), zone(tz)).date().isoformat()
            if mark and mark[:10] < today:
                # Not atomic with the read: if the user re-subscribed and was queued for today
                # in between, the worst case is that today's push is skipped — never doubled.
                await self._r.hdel(K.broadcast_marks(), uid)
        return bool(removed)

    async def erase(self, uid: str) -> None:
        """``/delete``: forget the subscription and the delivery marker."""
        async with redis_guard("broadcast.erase"):
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hdel(K.broadcast_subs(), uid)
                pipe.zrem(K.broadcast_due(), uid)
                pipe.hdel(K.broadcast_marks(), uid)
                await pipe.execute()
