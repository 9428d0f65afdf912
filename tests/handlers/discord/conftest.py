"""Fixtures: the fake Discord (tests/fakes/discord_api.py), a real Core on real Redis, and the
real adapter (discord.py 2.x) pointed at the fake through DISCORD_API_BASE_URL and
DISCORD_GATEWAY_URL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import pytest
from discord.gateway import DiscordWebSocket

from bot.core.service import Core
from bot.handlers.discord.adapter import DiscordAdapter
from tests.fakes.discord_api import FakeDiscord, FakeGuild, FakeInteraction
from tests.support.factory import make_core

#: Fast client options for tests (on_ready otherwise waits 2 s after the last GUILD_CREATE).
FAST = {"guild_ready_timeout": 0.05}


def dc_env(fake: FakeDiscord, **env: Any) -> dict[str, Any]:
    return {"DISCORD_BOT_TOKEN": fake.token, "DISCORD_API_BASE_URL": fake.api_url,
            "DISCORD_GATEWAY_URL": fake.gateway_url, **env}


def dc_core(redis_url: str, tmp_path: Path, fake: FakeDiscord, **env: Any) -> Core:
    return make_core(redis_url, tmp_path, **dc_env(fake, **env))


@asynccontextmanager
async def running(core: Core, **kw: Any) -> AsyncIterator[DiscordAdapter]:
    """A started adapter (gateway ready), stopped cleanly afterwards."""
    kw.setdefault("identify_delay", 0.0)
    kw.setdefault("client_options", FAST)
    adapter = DiscordAdapter(core, **kw)
    await adapter.start()
    try:
        if adapter.shard_ids:
            await asyncio.wait_for(adapter.ready.wait(), 10)
        yield adapter
    finally:
        await adapter.stop(drain_seconds=2)


@dataclass
class DC:
    fake: FakeDiscord
    core: Core
    adapter: DiscordAdapter
    guild: FakeGuild

    async def slash(self, name: str, options: dict[str, Any] | None = None, *, user: int,
                    guild: bool = False, locale: str | None = None) -> FakeInteraction:
        payload = self.fake.slash_command(name, options, user_id=user, guild=self.guild if guild else None,
                                          locale=locale)
        return await self.fake.interact(payload)

    async def press(self, message: dict[str, Any], command: str, *, user: int, guild: bool = False
                    ) -> FakeInteraction:
        return await self.fake.interact(self.fake.component(f"sl:{command}", user_id=user, message=message,
                                                            guild=self.guild if guild else None))

    async def texts(self, inter: FakeInteraction, count: int = 1, timeout: float = 10.0) -> list[str]:
        msgs = await self.fake.wait_messages(inter.id, count, timeout=timeout)
        return [m["content"] for m in msgs]


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    # The adapter sets these class attributes from its settings; restore them afterwards.
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", DiscordWebSocket.DEFAULT_GATEWAY)
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
async def dc(redis_url: str, tmp_path: Path, fake: FakeDiscord) -> AsyncIterator[DC]:
    guild = fake.add_guild()
    core = dc_core(redis_url, tmp_path, fake)
    try:
        async with running(core) as adapter:
            yield DC(fake, core, adapter, guild)
    finally:
        await core.store.close()
