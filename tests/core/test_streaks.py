"""Daily check-in streaks against a real Redis with an injected clock (no sleeping)."""

from __future__ import annotations

import asyncio
from datetime import datetime, UTC
from pathlib import Path
from collections.abc import AsyncIterator

import pytest

from bot.core.clock import FixedClock
from bot.core.erasure import erase_account
from bot.core.errors import BotError, ErrorCode
from bot.core.router import Event
from bot.core.service import Core
from bot.core.store import K
from bot.core.streaks import Streaks, next_reward, reward_for
from tests.support.factory import make_core, onboard_account as onboard

# 2025-01-06 09:00 Asia/Seoul
T0 = datetime(2025, 1, 6, 0, 0, tzinfo=UTC).timestamp()
pytestmark = pytest.mark.both_backends

DAY = 86400
UID = "a00000000000001f4"  # an account id (bot.core.accounts), what the router passes

EXPECTED_30 = {3: 1, 6: 1, 7: 3, 9: 1, 12: 1, 14: 5, 15: 1, 18: 1, 21: 10, 24: 1, 27: 1, 30: 20}


@pytest.fixture
async def fcore(redis_url: str, tmp_path: Path) -> AsyncIterator[Core]:
    c = make_core(redis_url, tmp_path, clock=FixedClock(T0))
    await onboard(c, UID, bonus=False)
    yield c
    await c.store.close()


def streaks(core: Core) -> Streaks:
    return core.streaks


def clock(core: Core) -> FixedClock:
    assert isinstance(core.clock, FixedClock)
    return core.clock


async def test_thirty_consecutive_days_pay_exactly_the_schedule(fcore: Core) -> None:
    paid: dict[int, int] = {}
    for day in range(1, 31):
        ci = await streaks(fcore).checkin(UID, "Asia/Seoul")
        assert ci.status == "ok" and ci.count == day
        if ci.reward:
            paid[day] = ci.reward
        clock(fcore).advance(DAY)
    assert paid == EXPECTED_30
    assert sum(paid.values()) == 46
    assert await fcore.ledger.balance(UID) == 46
    history = await fcore.ledger.history(UID, 100)
    assert len(history) == 12 and all(e.kind == "reward" for e in history)
    assert (await fcore.ledger.reconcile(UID)).ok


async def test_reward_schedule_beyond_day_30(fcore: Core) -> None:
    cfg = fcore.settings.product.streaks
    assert [d for d in range(31, 46) if reward_for(d, cfg)] == [33, 36, 39, 42, 45]
    assert all(reward_for(d, cfg) == 1 for d in (33, 36, 60, 63))
    assert reward_for(35, cfg) == 0 and reward_for(37, cfg) == 0  # milestones don't repeat
    assert next_reward(0, cfg) == (3, 1)
    assert next_reward(6, cfg) == (7, 3)
    assert next_reward(27, cfg) == (30, 20)
    assert next_reward(30, cfg) == (33, 1)


async def test_second_checkin_same_day_pays_nothing(fcore: Core) -> None:
    for _ in range(2):
        await streaks(fcore).checkin(UID, "Asia/Seoul")
        clock(fcore).advance(DAY)
    first = await streaks(fcore).checkin(UID, "Asia/Seoul")  # day 3 pays 1
    assert first.status == "ok" and first.reward == 1
    clock(fcore).advance(3600 * 10)  # later the same local day (19:00)
    again = await streaks(fcore).checkin(UID, "Asia/Seoul")
    assert again.status == "already" and again.count == 3 and again.reward == 0
    assert again.paid is not None and again.paid.replayed
    assert await fcore.ledger.balance(UID) == 1
    many = await asyncio.gather(*(streaks(fcore).checkin(UID, "Asia/Seoul") for _ in range(5)))
    assert all(c.status == "already" and c.reward == 0 for c in many)
    assert await fcore.ledger.balance(UID) == 1
    assert (await fcore.ledger.reconcile(UID)).ok


async def test_one_missed_day_keeps_the_streak_once(fcore: Core) -> None:
    s = streaks(fcore)
    assert (await s.checkin(UID, "Asia/Seoul")).count == 1
    clock(fcore).advance(DAY)
    assert (await s.checkin(UID, "Asia/Seoul")).count == 2
    clock(fcore).advance(2 * DAY)  # one day missed
    ci = await s.checkin(UID, "Asia/Seoul")
    assert ci.count == 3 and ci.grace_now and ci.grace_used and not ci.reset
    assert ci.reward == 1  # day 3 of the streak
    clock(fcore).advance(DAY)
    assert (await s.checkin(UID, "Asia/Seoul")).count == 4
    clock(fcore).advance(2 * DAY)  # a second single missed day in the same streak: grace is used up
    ci = await s.checkin(UID, "Asia/Seoul")
    assert ci.count == 1 and ci.reset and not ci.grace_used
    # the new streak has its own grace again
    clock(fcore).advance(DAY)
    assert (await s.checkin(UID, "Asia/Seoul")).count == 2
    clock(fcore).advance(2 * DAY)
    ci = await s.checkin(UID, "Asia/Seoul")
    assert ci.count == 3 and ci.grace_now


async def test_two_missed_days_reset_the_streak(fcore: Core) -> None:
    s = streaks(fcore)
    for _ in range(5):
        await s.checkin(UID, "Asia/Seoul")
        clock(fcore).advance(DAY)
    clock(fcore).advance(2 * DAY)  # two days missed (the grace was never used)
    ci = await s.checkin(UID, "Asia/Seoul")
    assert ci.count == 1 and ci.reset and ci.best == 5 and ci.total == 6


async def test_the_day_is_the_users_local_day(fcore: Core) -> None:
    s = streaks(fcore)
    # 2025-01-06 00:00 UTC is still 2025-01-05 in New York
    first = await s.checkin(UID, "America/New_York")
    assert first.day.isoformat() == "2025-01-05"
    clock(fcore).advance(4 * 3600)  # 23:00 in New York: same local day
    assert (await s.checkin(UID, "America/New_York")).status == "already"
    clock(fcore).advance(2 * 3600)  # 01:00 next day in New York
    nxt = await s.checkin(UID, "America/New_York")
    assert nxt.status == "ok" and nxt.count == 2 and nxt.day.isoformat() == "2025-01-06"


async def test_moving_the_time_zone_west_cannot_check_in_twice(fcore: Core) -> None:
    s = streaks(fcore)
    assert (await s.checkin(UID, "Asia/Seoul")).day.isoformat() == "2025-01-06"
    ci = await s.checkin(UID, "America/Los_Angeles")  # local day 2025-01-05: before the last one
    assert ci.status == "earlier" and ci.reward == 0 and ci.count == 1


async def test_checkins_are_rate_limited(fcore: Core) -> None:
    await fcore.limiter.set_limit("reward", 2, 600)
    s = streaks(fcore)
    await s.checkin(UID, "Asia/Seoul")
    await s.checkin(UID, "Asia/Seoul")
    with pytest.raises(BotError) as exc:
        await s.checkin(UID, "Asia/Seoul")
    assert exc.value.code is ErrorCode.RATE_LIMITED


async def test_erase_forgets_the_streak(fcore: Core) -> None:
    s = streaks(fcore)
    await s.checkin(UID, "Asia/Seoul")
    assert await fcore.store.redis.exists(K.streak(UID)) and K.streak(UID) == "streak:{" + UID + "}"
    await s.erase(UID)
    assert await s.get(UID) == {}


async def test_daily_through_the_router_keeps_the_streak_under_the_account(fcore: Core) -> None:
    aid = await fcore.accounts.resolve("tg:501")
    await onboard(fcore, aid, bonus=False)
    [reply] = await fcore.router.handle(Event("tg", "501", "/daily", chat_id="501"))
    assert reply.error is None
    assert (await streaks(fcore).get(aid))["count"] == 1
    assert await fcore.store.redis.exists(K.streak("tg:501")) == 0  # never keyed by the platform id
    await erase_account(fcore, aid)
    assert await fcore.store.redis.exists(K.streak(aid)) == 0
