"""A Slack-serving bot in this process: a real Core, the bot's HttpServer with the Slack adapter
mounted, and the fake Slack (Web API, response URLs, signed requests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.core.service import Core
from bot.handlers.http import HttpServer
from bot.handlers.slack.adapter import EVENTS_PATH, SlackAdapter
from tests.fakes.slack_api import FakeSlack, SignedRequest
from tests.support.factory import make_core

ADMIN = "UADMIN1"
ADMIN2 = "UADMIN2"
STRANGER = "USTRANGER"
OPS_CHANNEL = "COPS"
OTHER_CHANNEL = "CGENERAL"


@dataclass
class SlackBot:
    core: Core
    adapter: SlackAdapter
    http: HttpServer
    slack: FakeSlack

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.port}{EVENTS_PATH}"

    async def deliver(self, req: SignedRequest, **kw: Any) -> tuple[int, str, float]:
        """POST a signed request the way Slack does; returns once the HTTP answer (the ack) came."""
        return await self.slack.deliver(self.url, req, **kw)

    async def command(self, text: str, user: str = ADMIN, channel: str = OPS_CHANNEL) -> tuple[SignedRequest, int]:
        """``/ops <text>``, acked, and its answers posted (the adapter is idle again)."""
        req = self.slack.slash_command(text, user=user, channel=channel)
        status, _, _ = await self.deliver(req)
        await self.adapter.idle()
        return req, status

    async def press(self, button: dict[str, Any], user: str = ADMIN, channel: str = OPS_CHANNEL,
                    message: dict[str, Any] | None = None) -> tuple[SignedRequest, int]:
        req = self.slack.block_action(button, user=user, channel=channel, message=message)
        status, _, _ = await self.deliver(req)
        await self.adapter.idle()
        return req, status

    async def close(self) -> None:
        await self.adapter.stop()
        await self.http.stop()
        await self.core.store.close()


def slack_env(slack: FakeSlack, **env: Any) -> dict[str, Any]:
    base = {"OPS_ADMINS": f"slack:{ADMIN},slack:{ADMIN2}", "OPS_CHANNELS": f"slack:{OPS_CHANNEL}",
            "SLACK_BOT_TOKEN": slack.token, "SLACK_SIGNING_SECRET": slack.signing_secret,
            "SLACK_API_BASE_URL": slack.api_url}
    base.update(env)
    return base


async def start_slack_bot(redis_url: str, data_dir: Path, slack: FakeSlack, **env: Any) -> SlackBot:
    """What ``bot.app.run`` does for Slack: mount the route before the server starts, then start."""
    core = make_core(redis_url, data_dir, **slack_env(slack, **env))
    http = HttpServer(core, host="127.0.0.1", port=0)
    adapter = SlackAdapter(core)
    adapter.mount(http.app)
    await http.start()
    await adapter.start()
    return SlackBot(core, adapter, http, slack)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def slack_bots(redis_url: str, tmp_path: Path, slack: FakeSlack) -> AsyncIterator[Callable[..., Awaitable[SlackBot]]]:
    """Start one or more Slack-serving bots on the same Redis (each like its own process)."""
    started: list[SlackBot] = []

    async def start(**env: Any) -> SlackBot:
        bot = await start_slack_bot(redis_url, tmp_path / f"bot{len(started)}", slack, **env)
        started.append(bot)
        return bot

    yield start
    for bot in reversed(started):
        await bot.close()


@pytest.fixture
async def slack_bot(slack_bots: Callable[..., Awaitable[SlackBot]]) -> SlackBot:
    return await slack_bots()
