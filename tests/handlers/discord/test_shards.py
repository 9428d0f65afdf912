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
