"""A Stars payment is acknowledged to Telegram only once a Redis replica has it: the real adapter
on a real Sentinel set (primary + replica) whose replica stops acknowledging, against the fake
Bot API. Webhook: 503 until the replica is back, then 200. Polling: the offset is held."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot.core.payments import invoice_payload
from bot.handlers.http import HttpServer
from bot.handlers.telegram import TelegramAdapter
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.handlers.telegram.conftest import tg_core
from tests.support.factory import config_with, onboard
from tests.support.redis_cluster import RedisSentinelSet

USER = 6262
UID = f"tg:{USER}"


async def test_webhook_answers_503_until_a_replica_has_the_payment(fresh_sentinel: RedisSentinelSet,
                                                                   tmp_path: Path,
                                                                   tg_api: FakeTelegramAPI) -> None:
    cfg = config_with(tmp_path, delivery={"replica_wait_ms": 300})
    core = tg_core(fresh_sentinel.url, tmp_path, tg_api, CONFIG_FILE=str(cfg),
                   TELEGRAM_WEBHOOK_URL="https://bot.example/tg/hook", TELEGRAM_WEBHOOK_SECRET="s3cret-token_OK")
    http = HttpServer(core, host="127.0.0.1", port=0)
    adapter = TelegramAdapter(core)
    adapter.mount(http.app)
    port = await http.start()
    adapter.webhook_url = f"http://127.0.0.1:{port}/tg/hook"
    await adapter.start()
    try:
        uid = (await onboard(core, UID)).uid
        fresh_sentinel.pause_replica()
        t0 = time.monotonic()
        assert await tg_api.deliver(tg_api.message_update(USER, "/help")) == 200  # no money: no wait
        assert time.monotonic() - t0 < 0.3
        pay = tg_api.payment_update(USER, invoice_payload("credit_10", uid), 50, charge_id="stxREPLICA1")
        assert await tg_api.deliver(pay) == 503  # stored on the primary, but on no replica yet
        assert await tg_api.deliver(pay) == 503  # Telegram's redelivery waits again (a duplicate now)
        fresh_sentinel.resume_replica()
        deadline = time.monotonic() + 10
        while await tg_api.deliver(pay) != 200:  # Telegram keeps redelivering; the replica catches up
            assert time.monotonic() < deadline, "still 503 ten seconds after the replica came back"
            await asyncio.sleep(0.1)
        confirm = await tg_api.wait_for("sendMessage", 1, timeout=10, chat_id=USER,
                                        where=lambda c: "결제가 완료" in c["text"])
        assert "13" in confirm[0]["text"]
        assert await core.outbox.drain(5)
        assert await core.ledger.balance(uid) == 13  # granted once for three deliveries
        assert (await core.ledger.reconcile(uid)).ok
        assert tg_api.webhook_responses.count(503) >= 2 and tg_api.webhook_responses[-1] == 200
    finally:
        fresh_sentinel.resume_replica()
        await adapter.stop(drain_seconds=1)
        await http.stop()
        await core.store.close()


async def test_polling_holds_the_offset_until_a_replica_has_the_payment(fresh_sentinel: RedisSentinelSet,
                                                                        tmp_path: Path,
                                                                        tg_api: FakeTelegramAPI) -> None:
    cfg = config_with(tmp_path, delivery={"replica_wait_ms": 200})
    core = tg_core(fresh_sentinel.url, tmp_path, tg_api, CONFIG_FILE=str(cfg))
    adapter = TelegramAdapter(core, poll_timeout=1)
    await adapter.start()
    try:
        uid = (await onboard(core, UID)).uid
        fresh_sentinel.pause_replica()
        pay = tg_api.payment_update(USER, invoice_payload("credit_10", uid), 50, charge_id="stxREPLICA2")
        await tg_api.deliver(pay)
        await asyncio.sleep(1.5)
        offsets = [int(c.params.get("offset") or 0) for c in tg_api.calls_to("getUpdates")]
        assert max(offsets) <= pay["update_id"]  # never confirmed while no replica had it
        assert any(u["update_id"] == pay["update_id"] for u in tg_api.updates)  # Telegram still holds it
        fresh_sentinel.resume_replica()
        await tg_api.wait_for("getUpdates", 1, timeout=15,
                              where=lambda c: int(c.params.get("offset") or 0) > pay["update_id"])
        await tg_api.wait_for("sendMessage", 1, timeout=10, chat_id=USER, where=lambda c: "결제가 완료" in c["text"])
        assert await core.outbox.drain(5)
        assert await core.ledger.balance(uid) == 13 and (await core.ledger.reconcile(uid)).ok
        assert len([t for t in tg_api.texts(USER) if "결제가 완료" in t]) == 1
    finally:
        fresh_sentinel.resume_replica()
        await adapter.stop(drain_seconds=1)
        await core.store.close()
