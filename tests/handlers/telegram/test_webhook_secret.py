"""Webhook mode never runs without a secret, and the derived secret comes from the Core's
signing secret — a forged ``successful_payment`` signed with any public value is refused."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import sys
from pathlib import Path

import pytest

from bot.core.payments import invoice_payload
from bot.core.service import Core
from bot.core.settings import SettingsError
from bot.core.store import Store
from bot.core.store.connection import connect
from bot.handlers.http import HttpServer
from bot.handlers.telegram import TelegramAdapter
from bot.handlers.telegram.webhook import webhook_secret
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.handlers.telegram.conftest import tg_core
from tests.support.factory import onboard
from tests.support.factory import test_settings as settings_for

USER = 7272
ROOT = Path(__file__).resolve().parents[3]


async def test_webhook_start_refuses_without_a_secret(redis_url: str, tmp_path: Path,
                                                      tg_api: FakeTelegramAPI) -> None:
    # Development, no SIGNING_SECRET: the Core has its random Redis-shared secret, but that is
    # never enough for webhook mode (load_settings refuses TELEGRAM_WEBHOOK_URL without one; an
    # adapter given a webhook URL directly refuses at mount, before any route or setWebhook).
    settings = settings_for(redis_url, tmp_path, APP_ENV="development", SIGNING_SECRET="",
                            TELEGRAM_BOT_TOKEN=tg_api.token, TELEGRAM_API_BASE_URL=tg_api.url)
    core = await Core.create(settings, Store(connect(redis_url), "url"))
    http = HttpServer(core, host="127.0.0.1", port=0)
    try:
        adapter = TelegramAdapter(core, webhook_url="https://bot.example/tg/hook")
        routes_before = len(http.app.router.routes())
        with pytest.raises(SettingsError) as info:
            adapter.mount(http.app)
        assert "TELEGRAM_WEBHOOK_SECRET" in str(info.value)
        assert len(http.app.router.routes()) == routes_before
        with pytest.raises(SettingsError):
            webhook_secret(core.settings)
        assert not tg_api.calls_to("setWebhook")
    finally:
        await core.store.close()


async def test_derived_webhook_secret_refuses_a_forged_payment(redis_url: str, tmp_path: Path,
                                                               tg_api: FakeTelegramAPI) -> None:
    core = tg_core(redis_url, tmp_path, tg_api, TELEGRAM_WEBHOOK_URL="https://bot.example/tg/hook",
                   SIGNING_SECRET="a-real-operator-secret")
    http = HttpServer(core, host="127.0.0.1", port=0)
    adapter = TelegramAdapter(core)
    adapter.mount(http.app)
    port = await http.start()
    adapter.webhook_url = f"http://127.0.0.1:{port}/tg/hook"
    await adapter.start()
    try:
        derived = hmac.new(core.signing_secret, b"telegram-webhook-secret", hashlib.sha256).hexdigest()
        assert tg_api.webhook is not None and tg_api.webhook["secret_token"] == derived
        uid = f"tg:{USER}"
        await onboard(core, uid, bonus=False)
        forged = tg_api.payment_update(USER, invoice_payload("credit_500", uid), 1750, charge_id="stxFORGED")
        old_public = hmac.new(b"soul-lab-" + b"dev", b"telegram-webhook-secret", hashlib.sha256).hexdigest()
        for secret in (old_public, None, "", derived[:-1]):
            assert await tg_api.post_webhook(forged, secret=secret) == 401
        assert await core.ledger.balance(uid) == 0
        assert await core.ledger.history(uid) == []
    finally:
        await adapter.stop()
        await http.stop()
        await core.store.close()


async def test_the_bot_process_refuses_webhook_mode_without_a_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TELEGRAM_", "DISCORD_", "SIGNING_", "APP_ENV", "REDIS_URL"))}
    env.update({"APP_ENV": "development", "DATA_DIR": str(tmp_path), "PORT": "0",
                "TELEGRAM_BOT_TOKEN": "123:abc", "TELEGRAM_WEBHOOK_URL": "https://bot.example/tg/hook"})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", cwd=ROOT, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 2
    assert b"TELEGRAM_WEBHOOK_SECRET" in out and b"SIGNING_SECRET" in out
