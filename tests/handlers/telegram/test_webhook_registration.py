"""Webhook registration: N processes with one configured URL call ``setWebhook`` once, and
again only when Telegram's webhook or our configuration (URL, secret, update types) changed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.core.service import Core
from bot.core.store import K
from bot.handlers.telegram import TelegramAdapter
from bot.handlers.telegram.adapter import ALLOWED_UPDATES
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.handlers.telegram.conftest import tg_core

URL = "https://bot.example/tg/hook"


def hook_core(redis_url: str, tmp_path: Path, api: FakeTelegramAPI, secret: str = "hook_secret-1",
              **env: Any) -> Core:
    return tg_core(redis_url, tmp_path, api, TELEGRAM_WEBHOOK_URL=URL, TELEGRAM_WEBHOOK_SECRET=secret, **env)


async def start_processes(cores: list[Core]) -> list[TelegramAdapter]:
    adapters = [TelegramAdapter(core) for core in cores]
    await asyncio.gather(*(a.start() for a in adapters))
    return adapters


async def stop_processes(adapters: list[TelegramAdapter]) -> None:
    for a in adapters:
        await a.stop(0.5)
        await a.core.store.close()


async def test_three_processes_started_together_register_once(redis_url: str, tmp_path: Path,
                                                              tg_api: FakeTelegramAPI) -> None:
    cores = [hook_core(redis_url, tmp_path, tg_api) for _ in range(3)]
    adapters = await start_processes(cores)
    try:
        assert len(tg_api.calls_to("setWebhook")) == 1
        assert len(tg_api.calls_to("getWebhookInfo")) == 3
        assert tg_api.webhook is not None
        assert tg_api.webhook["url"] == URL  # the configured public URL, nothing process-local
        assert tg_api.webhook["secret_token"] == "hook_secret-1"
        assert set(tg_api.webhook["allowed_updates"]) == set(ALLOWED_UPDATES)
        stored = await cores[0].store.redis.get(K.webhook_registered("tg"))
        assert stored == adapters[0].webhook_fingerprint()
        assert "hook_secret-1" not in stored and "bot.example" not in stored
        assert not await cores[0].store.redis.exists(K.webhook_lock("tg"))  # released
    finally:
        await stop_processes(adapters)
    # A restart of the whole fleet with the same configuration registers nothing.
    again = await start_processes([hook_core(redis_url, tmp_path, tg_api) for _ in range(3)])
    await stop_processes(again)
    assert len(tg_api.calls_to("setWebhook")) == 1


async def test_a_changed_secret_is_registered_once(redis_url: str, tmp_path: Path,
                                                   tg_api: FakeTelegramAPI) -> None:
    first = await start_processes([hook_core(redis_url, tmp_path, tg_api)])
    await stop_processes(first)
    # getWebhookInfo shows the same URL and update types, but never the secret: the stored
    # fingerprint is what tells the new secret apart.
    rotated = await start_processes([hook_core(redis_url, tmp_path, tg_api, secret="hook_secret-2")
                                     for _ in range(2)])
    await stop_processes(rotated)
    calls = tg_api.calls_to("setWebhook")
    assert [c["secret_token"] for c in calls] == ["hook_secret-1", "hook_secret-2"]
    assert tg_api.webhook is not None and tg_api.webhook["secret_token"] == "hook_secret-2"


async def test_a_webhook_changed_at_telegram_is_registered_again(redis_url: str, tmp_path: Path,
                                                                  tg_api: FakeTelegramAPI) -> None:
    first = await start_processes([hook_core(redis_url, tmp_path, tg_api)])
    await stop_processes(first)
    # Someone deleted the webhook (e.g. a polling run with the same token) ...
    tg_api.webhook = None
    second = await start_processes([hook_core(redis_url, tmp_path, tg_api)])
    await stop_processes(second)
    assert len(tg_api.calls_to("setWebhook")) == 2
    # ... or set it with other update types: registered again, with ours.
    assert tg_api.webhook is not None
    tg_api.webhook["allowed_updates"] = ["message"]
    third = await start_processes([hook_core(redis_url, tmp_path, tg_api)])
    await stop_processes(third)
    assert len(tg_api.calls_to("setWebhook")) == 3
    assert set(tg_api.webhook["allowed_updates"]) == set(ALLOWED_UPDATES)
    # ... or pointed it elsewhere.
    tg_api.webhook["url"] = "https://elsewhere.example/hook"
    fourth = await start_processes([hook_core(redis_url, tmp_path, tg_api)])
    await stop_processes(fourth)
    assert len(tg_api.calls_to("setWebhook")) == 4 and tg_api.webhook["url"] == URL


async def test_a_lock_left_by_a_dead_process_only_delays_the_check(redis_url: str, tmp_path: Path,
                                                                   tg_api: FakeTelegramAPI) -> None:
    core = hook_core(redis_url, tmp_path, tg_api)
    # A process died holding the lock; it expires on its own (shortened here to 0.5 s).
    await core.store.redis.set(K.webhook_lock("tg"), "dead-process-token", px=500)
    adapters = await start_processes([core])
    try:
        assert len(tg_api.calls_to("setWebhook")) == 1
    finally:
        await stop_processes(adapters)
