"""Daily check-in streaks (``/daily``) and their rewards.

The server decides everything: the day is the user's local calendar day in their profile time
zone (``local_day(core.clock, profile.tz)``), never a value from the user.

Streak rules (one Lua script, ``streak_checkin.lua``, atomic per account; its one key
``streak:{<aid>}`` is in the account's slot, so it is correct on Redis Cluster):

* the first check-in, or a check-in after a streak broke, is day 1;
* checking in on the next calendar day continues the streak (+1);
* **grace**: a gap of up to ``[streaks].grace_days`` missed days (1 by default) is forgiven
  *once per streak* — the streak continues (+1; the missed day itself does not count). The grace
  is then used up for that streak; it becomes available again only when a new streak starts
  (after a reset). So the second gap in the same streak resets it to 1;
* a longer gap resets the streak to 1;
* one check-in per local day: a second one the same day (or a day before the last check-in,
  e.g. after moving the time zone west) changes nothing and pays nothing.

Rewards (``[streaks]``): the milestone days (7 → 3, 14 → 5, 21 → 10, 30 → 20 credits) pay their
amount; every other day that is a multiple of 3 pays ``every_third`` (1). Beyond day 30 the
milestones do not repeat within a streak (a new streak can earn them again) and every 3rd day
keeps paying ``every_third`` (33, 36, ...). A 30-day run pays 46 credits.

Rewards go through the ledger (kind ``reward``) with the idempotency key ``streak:<local day>``
per account (``idem:{<aid>}:streak:<day>``, the account's slot), so a check-in is paid at most
once per account per local day, even if the same day is retried after a crash between the
check-in and the grant (the retry is "already" and re-applies the same key: it pays then if the
first attempt did not, else it is a replay and pays nothing). Redis down: ``ServiceUnavailable``.
``REWARD_LIMIT_PER_USER`` (scope ``reward``) is checked before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from bot.core.clock import local_day
from bot.core.credits import LedgerResult
from bot.core.settings import StreaksConfig
from bot.core.store import K, redis_guard

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["Streaks", "CheckIn", "reward_for", "next_reward", "STREAK_TTL_SECONDS"]

#: A streak record untouched for this long is dropped (the streak would have reset anyway).
STREAK_TTL_SECONDS = 120 * 86400


def reward_for(count: int, cfg: StreaksConfig) -> int:
    """Credits paid for reaching streak day ``count``."""
    if count <= 0:
        return 0
    if count in cfg.milestones:
        return cfg.milestones[count]
    return cfg.every_third if count % 3 == 0 else 0


def next_reward(count: int, cfg: StreaksConfig) -> tuple[int, int] | None:
    """The next streak day after ``count`` that pays, and how much (None if nothing ever does)."""
    for day in range(count + 1, count + 400):
        amount = reward_for(day, cfg)
        if amount > 0:
            return day, amount
    return None


@dataclass(frozen=True, slots=True)
class CheckIn:
    status: str  # "ok" | "already" | "earlier"
    day: date
    count: int
    best: int
    total: int
    grace_used: bool  # the current streak has used its grace
    grace_now: bool  # this check-in used it
    reset: bool  # this check-in started a new streak after a break
    reward: int  # credits due for this check-in (0 if none)
    paid: LedgerResult | None  # ledger result when a reward was (re)applied

    @property
    def fresh(self) -> bool:
        return self.status == "ok"


class Streaks:
    def __init__(self, core: Core) -> None:
        self._core = core
        self._r = core.store.redis
        self.cfg = core.settings.product.streaks

    async def checkin(self, uid: str, tz: str) -> CheckIn:
        core = self._core
        await core.limiter.check("reward", uid)
        today = local_day(core.clock, tz)
        script = core.store.scripts["streak_checkin"]
        async with redis_guard("streaks.checkin"):
            res = await script(keys=[K.streak(uid)],
                               args=[today.toordinal(), self.cfg.grace_days, STREAK_TTL_SECONDS])
        status = str(res[0])
        count, used, best, total, grace_now, reset = (int(x) for x in res[1:7])
        reward = reward_for(count, self.cfg) if status in ("ok", "already") else 0
        paid: LedgerResult | None = None
        if reward > 0:
            # "already" re-applies the same key: a replay normally; pays only if a crash
            # interrupted the first attempt between the check-in and the grant.
            paid = await core.ledger.grant(uid, reward, f"streak day {count}", f"streak:{today.isoformat()}",
                                           kind="reward")
        return CheckIn(status, today, count, best, total, bool(used), bool(grace_now), bool(reset),
                       reward if status == "ok" or (paid is not None and not paid.replayed) else 0, paid)

    async def get(self, uid: str) -> dict[str, int]:
        async with redis_guard("streaks.get"):
            raw = await self._r.hgetall(K.streak(uid))
        return {k: int(v) for k, v in raw.items()}

    async def erase(self, uid: str) -> None:
        """Forget account ``uid``'s streak (``/delete``; one key in its slot). Idempotent."""
        async with redis_guard("streaks.erase"):
            await self._r.delete(K.streak(uid))
