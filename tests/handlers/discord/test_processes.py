"""Real ``python -m bot run`` processes splitting Discord's shards (standalone Redis only: slow)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import aiohttp

from tests.fakes.discord_api import FakeDiscord
from tests.handlers.discord.conftest import dc_core
from tests.support.bot_procs import bot_env, start_bot, stop_bot, wait_ready
from tests.support.factory import onboard


def discord_env(redis_url: str, tmp_path: Path, fake: FakeDiscord, **extra: str) -> dict[str, str]:
    env = bot_env(redis_url, tmp_path, SimpleNamespace(token="", url=""), None, LOG_LEVEL="INFO")  # type: ignore[arg-type]
    for key in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE_URL"):
        env.pop(key, None)
    env.update({"DISCORD_BOT_TOKEN": fake.token, "DISCORD_API_BASE_URL": fake.api_url,
                "DISCORD_GATEWAY_URL": fake.gateway_url, **extra})
    return env


async def test_two_processes_with_disjoint_shard_ids_each_answer_their_guilds(redis_url: str, tmp_path: Path,
                                                                              fake: FakeDiscord) -> None:
    g0, g1 = fake.add_guild("zero", on_shard=(0, 2)), fake.add_guild("one", on_shard=(1, 2))
    core = dc_core(redis_url, tmp_path, fake)
    user = fake.user().id
    await onboard(core, f"dc:{user}")
    envs = [discord_env(redis_url, tmp_path, fake, DISCORD_SHARD_COUNT="2", DISCORD_SHARD_IDS=ids)
            for ids in ("0", "1", "0")]
    procs = []
    try:
        async with aiohttp.ClientSession() as http:
            procs = [await start_bot(env) for env in envs]
            await asyncio.gather(*(wait_ready(http, int(env["PORT"]), proc) for env, proc in zip(envs, procs)))
            await fake.wait_until(lambda: len(fake.live_sessions()) == 2, timeout=20, what="two shards")
            assert sorted(s.shard for s in fake.live_sessions()) == [(0, 2), (1, 2)]
            inters = []
            for guild in (g0, g1):
                inters.append(await fake.interact(fake.slash_command("fortune", user_id=user, guild=guild)))
            for inter in inters:
                await fake.wait_messages(inter.id, 1, timeout=20)
            await asyncio.sleep(0.3)
            for inter in inters:
                assert inter.deliveries == 1  # one session per shard got it
                assert [r.status for r in fake.interaction_responses(inter.id)] == [200]
            assert len(fake.live_sessions(0)) == 1
    finally:
        logs = list(await asyncio.gather(*(stop_bot(p) for p in procs)))
        await core.store.close()
    assert all(b"Traceback" not in log for log in logs), logs[0][-2000:]
