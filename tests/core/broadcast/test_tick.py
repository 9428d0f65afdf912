"""The tick: idempotent across instances, per-day markers, catch-up, time zones, pause."""

from __future__ import annotations

import pytest

import asyncio
from pathlib import Path

from bot.core.broadcast.marks import read_marks
from bot.core.broadcast import Subscriptions, pause_broadcast, resume_broadcast, tick
from bot.core.clock import FixedClock
from bot.core.service import Core
from bot.core.store import K
from tests.core.broadcast.conftest import utc
from tests.support.factory import make_core, onboard_account as onboard


pytestmark = pytest.mark.both_backends

async def entries(core: Core, platform: str = "tg") -> list[tuple[str, str]]:
    raw = await core.store.redis.xrange(K.broadcast_stream(platform))
    return [(f["u"], f["d"]) for _, f in raw]


async def setup(core: Core, users: list[tuple[str, str, str]]) -> None:
    subs = Subscriptions(core)
    for uid, hhmm, tz in users:
        await onboard(core, uid, tz=tz, bonus=False)
        await subs.subscribe(uid, hhmm, tz, platform="tg")


async def test_ticks_on_three_instances_queue_each_user_once(redis_url: str, tmp_path: Path) -> None:
    clock = FixedClock(utc(2025, 6, 14, 22, 59, 30))  # 07:59:30 KST
    cores = [make_core(redis_url, tmp_path, clock=clock) for _ in range(3)]
    try:
        users = [(f"tg:{i}", "08:00", "Asia/Seoul") for i in range(1, 301)]
        await setup(cores[0], users)
        assert (await tick(cores[0])).queued == 0  # not yet due
        clock.advance(30)
        results = await asyncio.gather(*(tick(c) for c in cores for _ in range(2)))  # 6 ticks at once
        assert sum(r.queued for r in results) == 300
        assert sorted(await entries(cores[0])) == sorted((u, "2025-06-15") for u, _, _ in users)
        marks = await read_marks(cores[0])
        assert set(marks.values()) == {"2025-06-15:q"}
        # Every subscriber was re-indexed to tomorrow's 08:00.
        scores = {s for _, s in await cores[0].store.redis.zrange(K.broadcast_due(), 0, -1, withscores=True)}
        assert scores == {utc(2025, 6, 15, 23, 0)}
        clock.advance(3600)
        assert (await tick(cores[1])).queued == 0
        assert len(await entries(cores[0])) == 300
    finally:
        for c in cores:
            await c.store.close()


async def test_tick_for_an_already_sent_day_sends_nothing(redis_url: str, tmp_path: Path) -> None:
    clock = FixedClock(utc(2025, 6, 14, 22, 59))
    core = make_core(redis_url, tmp_path, clock=clock)
    try:
        await setup(core, [("tg:1", "08:00", "Asia/Seoul")])
        clock.advance(60)
        assert (await tick(core)).queued == 1
        r = core.store.redis
        await r.hset(K.broadcast_marks(), "tg:1", "2025-06-15:S")
        # The user moves their time later the same day, so the index says "due" again today.
        await Subscriptions(core).subscribe("tg:1", "10:00", "Asia/Seoul", platform="tg")
        clock.advance(2 * 3600)
        res = await tick(core)
        assert (res.queued, res.already) == (0, 1)
        assert len(await entries(core)) == 1
        assert await r.zscore(K.broadcast_due(), "tg:1") == utc(2025, 6, 16, 1, 0)  # tomorrow 10:00 KST
    finally:
        await core.store.close()


async def test_catch_up_same_local_day_but_never_yesterday(redis_url: str, tmp_path: Path) -> None:
    clock = FixedClock(utc(2025, 6, 14, 22, 0))  # 07:00 KST on 06-15
    core = make_core(redis_url, tmp_path, clock=clock)
    try:
        await setup(core, [("tg:1", "08:00", "Asia/Seoul"), ("tg:2", "23:30", "Asia/Seoul")])
        # Outage: every instance was down from 07:00 to 23:45 KST. The 08:00 user still gets
        # today's fortune (same local day); the 23:30 one too.
        clock.set(utc(2025, 6, 15, 14, 45))
        res = await tick(core)
        assert res.queued == 2
        assert sorted(await entries(core)) == [("tg:1", "2025-06-15"), ("tg:2", "2025-06-15")]
        # Down again from 23:45 on 06-15 to 07:00 on 06-17: 06-16 is gone, 06-17's 08:00 not yet here.
        clock.set(utc(2025, 6, 16, 22, 0))
        res = await tick(core)
        assert (res.queued, res.reindexed) == (0, 2)
        r = core.store.redis
        assert await r.zscore(K.broadcast_due(), "tg:1") == utc(2025, 6, 16, 23, 0)  # today 08:00
        assert await r.zscore(K.broadcast_due(), "tg:2") == utc(2025, 6, 17, 14, 30)  # today 23:30
        assert len(await entries(core)) == 2  # nothing for 06-16
        clock.set(utc(2025, 6, 16, 23, 0))
        assert (await tick(core)).queued == 1
        assert (await entries(core))[-1] == ("tg:1", "2025-06-17")
    finally:
        await core.store.close()


async def test_time_zone_edges_get_their_own_local_day(redis_url: str, tmp_path: Path) -> None:
    clock = FixedClock(utc(2025, 6, 15, 11, 0))
    core = make_core(redis_url, tmp_path, clock=clock)
    try:
        await setup(core, [("tg:10", "01:00", "Pacific/Honolulu"), ("tg:14", "01:00", "Pacific/Kiritimati")])
        due = await core.store.redis.zrange(K.broadcast_due(), 0, -1, withscores=True)
        assert due == [("tg:10", utc(2025, 6, 16, 11, 0)), ("tg:14", utc(2025, 6, 16, 11, 0))]
        # Subscribed exactly at 01:00 local: the first push is the next day's, for both.
        clock.set(utc(2025, 6, 16, 11, 0))
        assert (await tick(core)).queued == 2
        assert sorted(await entries(core)) == [("tg:10", "2025-06-16"), ("tg:14", "2025-06-17")]
    finally:
        await core.store.close()


async def test_time_zone_change_and_unsubscribed_and_deleted(redis_url: str, tmp_path: Path) -> None:
    clock = FixedClock(utc(2025, 6, 14, 22, 0))  # 07:00 KST
    core = make_core(redis_url, tmp_path, clock=clock)
    try:
        await setup(core, [("tg:1", "08:00", "Asia/Seoul"), ("tg:2", "08:00", "Asia/Seoul"),
                           ("tg:3", "08:00", "Asia/Seoul")])
        r = core.store.redis
        # tg:1 moves to London: due at 08:00 London, not 08:00 Seoul.
        p = await core.profiles.get("tg:1")
        assert p is not None
        await core.profiles.update(p, tz="Europe/London")
        await r.hdel(K.broadcast_subs(), "tg:2")  # a racing unsubscribe left the index entry
        await core.profiles.delete("tg:3")
        clock.set(utc(2025, 6, 14, 23, 0))
        res = await tick(core)
        assert (res.queued, res.reindexed, res.dropped) == (0, 1, 2)
        assert await r.zscore(K.broadcast_due(), "tg:1") == utc(2025, 6, 15, 7, 0)  # 08:00 BST
        assert await r.zcard(K.broadcast_due()) == 1
    finally:
        await core.store.close()


async def test_pause_stops_ticks_and_resume_catches_up(redis_url: str, tmp_path: Path) -> None:
    clock = FixedClock(utc(2025, 6, 14, 22, 59))
    core = make_core(redis_url, tmp_path, clock=clock)
    try:
        await setup(core, [("tg:1", "08:00", "Asia/Seoul")])
        clock.advance(60)
        await pause_broadcast(core, by="tg:admin")
        assert (await tick(core)).paused
        assert await entries(core) == []
        await resume_broadcast(core)
        clock.advance(600)
        assert (await tick(core)).queued == 1
    finally:
        await core.store.close()


async def test_the_stream_is_the_platform_subscribed_on_not_anything_in_the_id(redis_url: str,
                                                                              tmp_path: Path) -> None:
    clock = FixedClock(utc(2025, 6, 14, 22, 59))
    core = make_core(redis_url, tmp_path, clock=clock)
    try:
        tg_account = await core.accounts.resolve("tg:71")
        dc_account = await core.accounts.resolve("dc:72")
        subs = Subscriptions(core)
        for aid, platform in ((tg_account, "tg"), (dc_account, "dc")):
            await onboard(core, aid, tz="Asia/Seoul", bonus=False)
            await subs.subscribe(aid, "08:00", "Asia/Seoul", platform=platform)
        assert await core.store.redis.hget(K.broadcast_subs(), dc_account) == "08:00|dc"
        sub = await subs.get(dc_account, "Asia/Seoul")
        assert sub is not None and (sub.hhmm, sub.platform) == ("08:00", "dc")
        # A value stored before layout v2 (no platform) goes to the account's linked platform;
        # one whose account has no identity left leaves the index.
        legacy = await core.accounts.resolve("tg:73")
        await onboard(core, legacy, tz="Asia/Seoul", bonus=False)
        await subs.subscribe(legacy, "08:00", "Asia/Seoul", platform="tg")
        await core.store.redis.hset(K.broadcast_subs(), mapping={legacy: "08:00", "a0000000000000000": "08:00"})
        await onboard(core, "a0000000000000000", tz="Asia/Seoul", bonus=False)
        await core.store.redis.zadd(K.broadcast_due(), {"a0000000000000000": utc(2025, 6, 14, 23, 0)})
        clock.advance(60)
        res = await tick(core)
        assert (res.queued, res.dropped) == (3, 1) and res.by_platform == {"tg": 2, "dc": 1}
        assert sorted(u for u, _ in await entries(core, "tg")) == sorted([tg_account, legacy])
        assert [u for u, _ in await entries(core, "dc")] == [dc_account]
    finally:
        await core.store.close()
