"""Fixtures: a fake Bot API server, a real Core on real Redis, and a running Telegram adapter."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator

import pytest

from bot.core.service import Core
from bot.handlers.http import HttpServer
from bot.handlers.telegram import TelegramAdapter
from tests.fakes.telegram_api import Call, FakeTelegramAPI
from tests.support.factory import make_core


@dataclass
class TG:
    api: FakeTelegramAPI
    core: Core
    adapter: TelegramAdapter

    async def say(self, user_id: int, text: str, **kw: Any) -> dict[str, Any]:
        update = self.api.message_update(user_id, text, **kw)
        await self.api.deliver(update)
        return update

    async def press(self, user_id: int, data: str, **kw: Any) -> dict[str, Any]:
        update = self.api.callback_update(user_id, data, **kw)
        await self.api.deliver(update)
        return update

    async def replies(self, chat_id: int, count: int, method: str = "sendMessage",
                      timeout: float = 5.0) -> list[Call]:
        return await self.api.wait_for(method, count, timeout=timeout, chat_id=chat_id)

    def last_text(self, chat_id: int) -> str:
        return self.api.texts(chat_id)[-1]


@pytest.fixture
async def tg_api() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI() as api:
        yield api


def tg_core(redis_url: str, tmp_path: Path, api: FakeTelegramAPI, **env: Any) -> Core:
    return make_core(redis_url, tmp_path, TELEGRAM_BOT_TOKEN=api.token, TELEGRAM_API_BASE_URL=api.url, **env)


@pytest.fixture
async def tg(redis_url: str, tmp_path: Path, tg_api: FakeTelegramAPI) -> AsyncIterator[TG]:
    """Polling mode (the default)."""
    core = tg_core(redis_url, tmp_path, tg_api)
    adapter = TelegramAdapter(core, poll_timeout=1)
    await adapter.start()
    try:
        yield TG(tg_api, core, adapter)
    finally:
        await adapter.stop()
        await core.store.close()


@pytest.fixture
async def tg_webhook(redis_url: str, tmp_path: Path, tg_api: FakeTelegramAPI) -> AsyncIterator[TG]:
    """Webhook mode, served by the bot's own aiohttp server on a free port."""
    core = tg_core(redis_url, tmp_path, tg_api, TELEGRAM_WEBHOOK_URL="https://bot.example/tg/hook",
                   TELEGRAM_WEBHOOK_SECRET="s3cret-token_OK")
    http = HttpServer(core, host="127.0.0.1", port=0)
    adapter = TelegramAdapter(core)
    adapter.mount(http.app)  # route path from TELEGRAM_WEBHOOK_URL
    port = await http.start()
    adapter.webhook_url = f"http://127.0.0.1:{port}/tg/hook"  # where the fake posts (a proxy in production)
    await adapter.start()
    try:
        yield TG(tg_api, core, adapter)
    finally:
        await adapter.stop()
        await http.stop()
        await core.store.close()
