"""Pushes to Discord users: the daily fortune by DM through the existing broadcast, a closed DM
(50007) unsubscribes and is told next time, 429s are waited out, errors map to the contract."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import discord
import pytest

from bot.core.broadcast.marks import read_marks
from bot.core.broadcast import BroadcastRunner, Subscriptions, tick
from bot.core.clock import FixedClock
from bot.core.delivery import (DeliveryBlocked, DeliveryFailed, DeliveryRejected, DeliveryRetryAfter,
                               DeliveryUnknown)
from bot.core.reply import Button, Reply
from bot.core.store import K
from bot.handlers.discord.errors import map_discord_error
from tests.core.broadcast.conftest import FAST
from tests.fakes.discord_api import FakeDiscord
from tests.handlers.discord.conftest import dc_core, running
from tests.support.factory import onboard

pytestmark = pytest.mark.both_backends


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


async def test_daily_fortune_by_dm_and_a_closed_dm_unsubscribes_and_is_told_next_time(
        redis_url: str, tmp_path: Path, fake: FakeDiscord) -> None:
    clock = FixedClock(utc(2025, 6, 15, 0, 0, 0))
    core = dc_core(redis_url, tmp_path, fake)
    core.clock = clock
    open_user, closed_user = fake.user().id, fake.user().id
    fake.close_dms(closed_user)
    subs = Subscriptions(core)
    aids = {}
    for user in (open_user, closed_user):
        aid = aids[user] = await core.accounts.resolve(f"dc:{user}")
        await onboard(core, aid, tz="UTC", bonus=False)
        await subs.subscribe(aid, "00:01", "UTC", platform="dc")
    try:
        async with running(core):
            runner = BroadcastRunner(core, options=FAST)
            await runner.start(scheduler=False)
            try:
                clock.set(utc(2025, 6, 15, 0, 1))
                assert (await tick(core)).queued == 2
                [dm] = await fake.wait_until(lambda: fake.dms_to(open_user), timeout=10, what="the daily DM")
                marks: dict[str, str] = {}
                for _ in range(200):
                    marks = await read_marks(core)
                    if marks.get(aids[closed_user], "").endswith(":b"):
                        break
                    await asyncio.sleep(0.05)
                assert marks[aids[closed_user]] == "2025-06-15:b"
                assert (await tick(core)).queued == 0  # at most one per local day
            finally:
                await runner.stop(drain_seconds=2)
            assert dm["content"] and fake.dms_to(closed_user) == []
            assert await core.store.redis.hget(K.broadcast_subs(), aids[closed_user]) is None  # unsubscribed
            assert await core.store.redis.hget(K.broadcast_subs(), aids[open_user]) == "00:01|dc"
            # Told the next time they use the bot, once.
            first = await fake.interact(fake.slash_command("help", user_id=closed_user))
            texts = [m["content"] for m in await fake.wait_messages(first.id, 2)]
            assert "DM" in texts[0] and "/subscribe" in texts[0]
            later = await fake.interact(fake.slash_command("help", user_id=closed_user))
            msgs = await fake.wait_messages(later.id, 1)
            await asyncio.sleep(0.1)
            assert len(later.messages) == 1 and "/subscribe" not in msgs[0]["content"].split("\n")[0]
    finally:
        await core.store.close()


async def test_a_429_on_a_channel_message_is_retried_without_loss(redis_url: str, tmp_path: Path,
                                                                  fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    core = dc_core(redis_url, tmp_path, fake)
    path = f"/channels/{guild.channel_id}/messages"
    fake.rate_limit_next("POST", path, retry_after=0.3)
    try:
        async with running(core):
            await core.send("dc", f"chat:{guild.channel_id}", Reply("오늘의 운세", buttons=[[Button("타로", "/tarot")]]))
    finally:
        await core.store.close()
    assert [r.status for r in fake.requests_to("POST", path=path)] == [429, 200]
    [msg] = fake.messages_to(guild.channel_id)
    assert msg["content"] == "오늘의 운세" and msg["components"][0]["components"][0]["custom_id"] == "sl:/tarot"


async def test_sender_to_closed_dms_raises_blocked(redis_url: str, tmp_path: Path, fake: FakeDiscord) -> None:
    user = fake.user().id
    fake.close_dms(user)
    core = dc_core(redis_url, tmp_path, fake)
    try:
        async with running(core):
            with pytest.raises(DeliveryBlocked):
                await core.send("dc", str(user), Reply("안녕하세요"))
            with pytest.raises(DeliveryBlocked):
                await core.send("dc", "chat:424242", Reply("없는 채널"))  # 404 10003
    finally:
        await core.store.close()


class _Resp:
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.reason = "x"
        self.headers = headers or {}


def _http(cls: type[discord.HTTPException], status: int, code: int, headers: dict[str, str] | None = None
          ) -> discord.HTTPException:
    return cls(_Resp(status, headers), {"message": "m", "code": code})  # type: ignore[arg-type]


@pytest.mark.parametrize("exc, kind", [
    (_http(discord.Forbidden, 403, 50007), DeliveryBlocked),
    (_http(discord.NotFound, 404, 10003), DeliveryBlocked),
    (_http(discord.NotFound, 404, 10013), DeliveryBlocked),
    (_http(discord.HTTPException, 400, 50035), DeliveryRejected),
    (_http(discord.DiscordServerError, 502, 0), DeliveryFailed),
    (_http(discord.HTTPException, 429, 0, {"Retry-After": "2.5"}), DeliveryRetryAfter),
    (discord.RateLimited(4.0), DeliveryRetryAfter),
    (TimeoutError(), DeliveryUnknown),
])
def test_discord_errors_map_to_the_delivery_contract(exc: Exception, kind: type) -> None:
    assert isinstance(map_discord_error(exc), kind)


def test_retry_after_seconds_and_unrelated_errors() -> None:
    err = map_discord_error(_http(discord.HTTPException, 429, 0, {"Retry-After": "2.5"}))
    assert isinstance(err, DeliveryRetryAfter) and err.seconds == 2.5
    assert map_discord_error(ValueError("x")) is None
    key: Any = SimpleNamespace(ssl=True, host="127.0.0.1", port=9)
    assert isinstance(map_discord_error(aiohttp.ClientConnectorError(key, OSError(111, "refused"))), DeliveryFailed)
    assert isinstance(map_discord_error(aiohttp.ServerDisconnectedError()), DeliveryUnknown)
