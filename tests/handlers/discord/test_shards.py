"""Shards: one owner per shard (a Redis lease), and real bot processes splitting the shards."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.service import Core
from bot.handlers.discord.shards import ShardLeases
from tests.fakes.discord_api import FakeDiscord
from tests.handlers.discord.conftest import dc_core, running

pytestmark = pytest.mark.both_backends


async def test_a_shard_lease_refuses_a_second_owner_until_released(core: Core) -> None:
    one = ShardLeases(core.store, "app", 2, lease_seconds=5, owner="one")
    two = ShardLeases(core.store, "app", 2, lease_seconds=5, owner="two")
    assert await one.acquire([0, 1]) == [0, 1]
    assert await two.acquire([0, 1]) == []  # refused (and logged)
    assert await one.renew() == []
    await one.release()
    assert await two.acquire([1]) == [1]
    await core.store.redis.set(two.key(1), "someone-else")  # taken over behind its back
    assert await two.renew() == [1] and two.owned == set()


async def test_a_second_process_on_the_same_shards_stays_off_the_gateway(redis_url: str, tmp_path: Path,
                                                                         fake: FakeDiscord) -> None:
    first_core = dc_core(redis_url, tmp_path, fake)
    second_core = dc_core(redis_url, tmp_path, fake)
    try:
        async with running(first_core) as first, running(second_core) as second:
            assert first.shard_ids == [0] and second.shard_ids == []
            assert len(fake.live_sessions(0)) == 1
            assert (await second.health())["status"] == "standby" and (await first.health())["status"] == "ok"
            user = fake.user().id
            inter = await fake.interact(fake.slash_command("help", user_id=user))
            await fake.wait_messages(inter.id, 1)
            assert [r.status for r in fake.interaction_responses(inter.id)] == [200]  # never a 40060
    finally:
        await first_core.store.close()
        await second_core.store.close()


async def test_a_process_with_some_of_its_shards_takes_the_rest_once_their_owner_stops(
        redis_url: str, tmp_path: Path, fake: FakeDiscord) -> None:
    g1 = fake.add_guild("one", on_shard=(1, 2))
    user = fake.user().id
    both = dc_core(redis_url, tmp_path, fake, DISCORD_SHARD_COUNT="2")
    other = dc_core(redis_url, tmp_path, fake, DISCORD_SHARD_COUNT="2", DISCORD_SHARD_IDS="1")
    try:
        async with running(other, lease_seconds=1.5) as owner_of_1:
            async with running(both, lease_seconds=1.5) as wants_both:
                assert owner_of_1.shard_ids == [1] and wants_both.shard_ids == [0]  # shard 1 was taken
                await owner_of_1.stop(drain_seconds=1)  # its owner stops: the lease is given back
                await fake.wait_until(lambda: wants_both.shard_ids == [0, 1] and len(fake.live_sessions(1)) == 1,
                                      timeout=10, what="shard 1 taken over")
                assert [s.shard for s in fake.live_sessions(0)] == [(0, 2)]  # shard 0 untouched
                inter = await fake.interact(fake.slash_command("help", user_id=user, guild=g1))
                await fake.wait_messages(inter.id, 1, timeout=10)
                assert inter.deliveries == 1 and [r.status for r in fake.interaction_responses(inter.id)] == [200]
                assert (await wants_both.health())["shards"] == [0, 1]
    finally:
        await both.store.close()
        await other.store.close()
