"""The daily broadcast on a real Redis Cluster: subscribe through the router, tick, workers
send through the platform sender. Every broadcast script touches keys of the ``{b}`` family
only (one slot); on the v1 layout (``bcast:subs``, ``bcast:due``, ...) the first multi-key
step failed with CROSSSLOT."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.crc import key_slot

from bot.core.broadcast.marks import read_marks
from bot.core.broadcast import BroadcastRunner, Subscriptions, broadcast_status, tick
from bot.core.clock import FixedClock
from bot.core.router import Event
from bot.core.service import Core
from bot.core.store import K
from tests.core.broadcast.conftest import FAST, utc
from tests.support.factory import make_core, onboard
from tests.support.platform import RecordingPlatform
from tests.support.redis_cluster import RedisCluster3


@pytest.fixture
async def cluster_core(redis_cluster: RedisCluster3, tmp_path: Path) -> AsyncIterator[Core]:
    redis_cluster.flushall()
    c = make_core(redis_cluster.url, tmp_path, clock=FixedClock(utc(2025, 6, 15, 0, 0)))
    yield c
    await c.store.close()


def test_every_broadcast_key_is_in_one_slot() -> None:
    keys = [K.broadcast_subs(), K.broadcast_due(), K.broadcast_marks(), K.broadcast_stream("tg"),
            K.broadcast_retry("tg"), K.broadcast_dead(), K.broadcast_stats("2025-06-15"), K.broadcast_rate(1),
            K.broadcast_pace("tg"), K.broadcast_paused(), K.broadcast_mark_bucket("2025-06-15", 7),
            K.broadcast_mark_count("2025-06-15")]
    assert len({key_slot(k.encode()) for k in keys}) == 1


async def test_subscribe_tick_and_send_on_a_cluster(cluster_core: Core) -> None:
    core = cluster_core
    assert isinstance(core.clock, FixedClock)
    rec = RecordingPlatform.install(core)
    users = (801, 802, 803)
    accounts = {u: await core.accounts.resolve(f"tg:{u}") for u in users}
    for u, aid in accounts.items():
        await onboard(core, aid, tz="UTC", bonus=False)
        [reply] = await core.router.handle(Event("tg", str(u), "/subscribe 00:01"))
        assert reply.error is None, reply.text
    assert await core.store.redis.hget(K.broadcast_subs(), accounts[801]) == "00:01|tg"
    [reply] = await core.router.handle(Event("tg", "803", "/unsubscribe"))
    assert reply.error is None
    core.clock.set(utc(2025, 6, 15, 0, 1))
    result = await tick(core, FAST)
    assert (result.queued, result.dropped) == (2, 0) and result.by_platform == {"tg": 2}
    runner = BroadcastRunner(core, options=FAST, pacers={})
    await runner.start(scheduler=False)
    try:
        deadline = time.monotonic() + 20
        while len(rec.sent) < 2:
            assert time.monotonic() < deadline, rec.sent
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # the confirm of the last send
    finally:
        await runner.stop(drain_seconds=2)
    assert sorted(target for target, _ in rec.sent) == ["801", "802"]  # each once, by platform id
    assert all("/unsubscribe" in [b.command for b in r.all_buttons()] for _, r in rec.sent)
    marks = await read_marks(core)
    assert marks == {accounts[801]: "2025-06-15:S", accounts[802]: "2025-06-15:S"}
    status = await broadcast_status(core)
    assert (status["queued"], status["sent"], status["pending"], status["subscribers"]) == (2, 2, 0, 2)
    assert (await tick(core, FAST)).queued == 0  # a second tick the same day sends nothing
    # /delete's eraser: one MULTI in {b}, idempotent.
    subs = core.subscriptions
    assert isinstance(subs, Subscriptions)
    for _ in range(2):
        await subs.erase(accounts[801])
    r = core.store.redis
    assert await r.hget(K.broadcast_subs(), accounts[801]) is None
    assert await r.zscore(K.broadcast_due(), accounts[801]) is None
    assert await r.hget(K.broadcast_marks(), accounts[801]) is None
    assert accounts[801] not in await read_marks(core)
    assert await r.hget(K.broadcast_subs(), accounts[802]) == "00:01|tg"
