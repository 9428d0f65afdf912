"""Charged only when delivered, nothing received lost: the real adapter against the fake Bot
API and fake AI servers, real Redis, with chosen sends failing (500 / 429 / 403)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from collections.abc import AsyncIterator

import pytest

from bot.core.payments import invoice_payload
from bot.handlers.telegram import TelegramAdapter
from tests.fakes.ai_servers import FakeAI, answer, hang
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.handlers.telegram.conftest import TG, tg_core
from tests.support.factory import config_with, onboard
from tests.support.redis_proc import RedisProcess

USER = 5151
UID = f"tg:{USER}"
GROUP = -100777


@pytest.fixture
async def oa() -> AsyncIterator[FakeAI]:
    async with FakeAI("openai", "별빛 같은 답변이에요") as server:
        yield server


@pytest.fixture
async def ai_tg(redis_url: str, tmp_path: Path, tg_api: FakeTelegramAPI, oa: FakeAI) -> AsyncIterator[TG]:
    """Polling Telegram with OpenAI configured; transient send failures retried for 3 s."""
    cfg = config_with(tmp_path, delivery={"retry_seconds": 3.0, "backoff_base_seconds": 0.3},
                      ai={"total_budget_seconds": 2.0, "answer_timeout_seconds": 1.5})
    core = tg_core(redis_url, tmp_path, tg_api, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=oa.base_url,
                   CONFIG_FILE=str(cfg))
    adapter = TelegramAdapter(core, poll_timeout=1)
    await adapter.start()
    try:
        yield TG(tg_api, core, adapter)
    finally:
        await adapter.stop(drain_seconds=1)
        if core.ai is not None:  # built on first use
            await core.ai.aclose()
        await core.store.close()


async def account(tg: TG) -> str:
    """The account the router resolves the test user to (paid answers are charged there)."""
    return await tg.core.accounts.resolve(UID)


async def settled(tg: TG, uid: str | None = None) -> dict[str, int]:
    """Wait for the outbox to finish, then the account (balance, held) after reconciling."""
    assert await tg.core.outbox.drain(15)
    uid = uid or await account(tg)
    rec = await tg.core.ledger.reconcile(uid)
    assert rec.ok, rec
    return await tg.core.ledger.account(uid)


def answers(tg: TG, chat: int) -> list[str]:
    return [t for t in tg.api.texts(chat) if "별빛 같은 답변" in t]


async def test_group_ask_is_answered_privately_and_charged_once(ai_tg: TG) -> None:
    tg = ai_tg
    await onboard(tg.core, await account(tg))
    await tg.say(USER, f"/ask@{tg.api.username} 요즘 마음이 복잡해요", chat_id=GROUP)
    [note] = await tg.replies(GROUP, 1)
    assert "1:1 대화로" in note["text"]
    await tg.api.wait_for("sendMessage", 1, timeout=10, chat_id=USER, where=lambda c: "별빛" in c["text"])
    acct = await settled(tg)
    assert acct["balance"] == 2 and acct["held"] == 0
    assert len(answers(tg, USER)) == 1 and answers(tg, GROUP) == []


async def test_group_ask_from_a_user_who_never_started_the_bot_costs_nothing(ai_tg: TG) -> None:
    tg = ai_tg
    await onboard(tg.core, await account(tg))
    tg.api.block_chat(USER)  # Telegram: 403, the bot cannot start a conversation
    await tg.say(USER, f"/ask@{tg.api.username} 질문이 있어요", chat_id=GROUP)
    _, pointer = await tg.replies(GROUP, 2, timeout=10)
    assert "1:1 대화를 먼저" in pointer["text"] and pointer.buttons[0]["url"].startswith("https://t.me/")
    acct = await settled(tg)
    assert acct["balance"] == 3 and acct["held"] == 0


async def test_a_500_after_the_answer_is_ready_is_retried_and_charged_once(ai_tg: TG, oa: FakeAI) -> None:
    tg = ai_tg
    await onboard(tg.core, await account(tg))
    oa.always(answer("별빛 같은 답변이에요", delay=0.5))
    await tg.say(USER, "/ask 오늘 어떨까요")
    [working] = await tg.replies(USER, 1)
    assert "🔮" in working["text"]
    tg.api.fail_next("sendMessage", times=1, code=500, description="Internal Server Error", chat_id=USER)
    await tg.api.wait_for("sendMessage", 1, timeout=10, chat_id=USER, where=lambda c: "별빛" in c["text"])
    acct = await settled(tg)
    assert acct["balance"] == 2 and acct["held"] == 0
    assert len(answers(tg, USER)) == 1
    assert [c.status for c in tg.api.calls_to("sendMessage", ok_only=False, chat_id=USER)].count(500) == 1


async def test_429_past_the_retry_window_releases_and_keeps_the_answer_free(ai_tg: TG, oa: FakeAI) -> None:
    tg = ai_tg
    await onboard(tg.core, await account(tg))
    oa.always(answer("별빛 같은 답변이에요", delay=0.5))
    await tg.say(USER, "/ask 오늘 어떨까요")
    await tg.replies(USER, 1)
    tg.api.fail_next("sendMessage", times=20, code=429, retry_after=1, chat_id=USER)
    acct = await settled(tg)
    assert acct["balance"] == 3 and acct["held"] == 0  # never delivered: never charged
    assert answers(tg, USER) == []
    tg.api.clear_failures()  # Telegram is well again
    await tg.say(USER, "/ask last")
    await tg.api.wait_for("sendMessage", 1, timeout=10, chat_id=USER, where=lambda c: "별빛" in c["text"])
    assert (await tg.core.ledger.account(await account(tg)))["balance"] == 3  # reading it again is free


async def test_403_on_the_paid_answer_charges_nothing(ai_tg: TG, oa: FakeAI) -> None:
    tg = ai_tg
    await onboard(tg.core, await account(tg))
    oa.always(answer("별빛 같은 답변이에요", delay=0.5))
    await tg.say(USER, "/ask 오늘 어떨까요")
    await tg.replies(USER, 1)
    tg.api.block_chat(USER)
    acct = await settled(tg)
    assert acct["balance"] == 3 and acct["held"] == 0 and answers(tg, USER) == []
    outcomes = [c for c in tg.api.calls_to("sendMessage", ok_only=False, chat_id=USER) if c.status == 403]
    assert len(outcomes) == 1  # permanent: not retried


async def test_ai_hanging_does_not_block_credits_and_ends_in_the_free_fallback(ai_tg: TG, oa: FakeAI) -> None:
    tg = ai_tg
    await onboard(tg.core, await account(tg))
    oa.always(hang())
    await tg.say(USER, "/ask 답해 줄 수 있나요")
    await tg.say(USER, "/credits")
    working, credits = await tg.replies(USER, 2, timeout=5)
    assert "🔮" in working["text"]  # at once: the user knows the answer is coming
    assert "복채" in credits["text"] and "2" in credits["text"]  # answered while the AI thinks (2 held)
    assert not answers(tg, USER) and "차감되지 않았어요" not in credits["text"]  # the AI is still thinking
    _, _, fallback = await tg.replies(USER, 3, timeout=10)
    assert "차감되지 않았어요" in fallback["text"]
    acct = await settled(tg)
    assert acct["balance"] == 3 and acct["held"] == 0


async def test_redis_down_while_polling_loses_nothing(tmp_path: Path, tg_api: FakeTelegramAPI) -> None:
    server = RedisProcess(appendonly=True).start()
    core = tg_core(server.url, tmp_path, tg_api)
    adapter = TelegramAdapter(core, poll_timeout=1)
    await adapter.start()
    try:
        uid = (await onboard(core, UID)).uid
        server.stop()  # Redis goes away
        pay = tg_api.payment_update(USER, invoice_payload("credit_10", uid), 50, charge_id="stxREDISDOWN")
        await tg_api.deliver(pay)
        await tg_api.deliver(tg_api.message_update(USER, "/credits"))
        await asyncio.sleep(2.0)
        assert tg_api.texts(USER) == []  # nothing could be kept, so nothing was confirmed or answered
        polls = tg_api.calls_to("getUpdates")
        server.start()  # back, with its data (append-only file)
        [confirm] = await tg_api.wait_for("sendMessage", 1, timeout=40, chat_id=USER,
                                          where=lambda c: "결제가 완료" in c["text"])
        assert "13" in confirm["text"]
        await tg_api.wait_for("sendMessage", 2, timeout=40, chat_id=USER)
        assert await core.ledger.balance(uid) == 13 and (await core.ledger.reconcile(uid)).ok
        assert len(polls) >= 1
    finally:
        await adapter.stop(drain_seconds=1)
        await core.store.close()
        server.cleanup()



async def test_a_flood_gets_one_note_per_window_and_service_returns(redis_url: str, tmp_path: Path,
                                                                      tg_api: FakeTelegramAPI) -> None:
    cfg = config_with(tmp_path, **{"limits.command": {"limit": 3, "window_seconds": 8}})
    core = tg_core(redis_url, tmp_path, tg_api, CONFIG_FILE=str(cfg))
    adapter = TelegramAdapter(core, poll_timeout=1)
    await adapter.start()
    try:
        await onboard(core, UID)
        for _ in range(200):
            await tg_api.deliver(tg_api.message_update(USER, "/help"))
        await tg_api.wait_for("sendMessage", 4, timeout=15, chat_id=USER)
        while await adapter.inbox.pending():  # noqa: ASYNC110 - the backlog drains without sending
            await asyncio.sleep(0.05)
        texts = tg_api.texts(USER)
        notes = [t for t in texts if "잠시" in t]
        assert len(texts) == 4 and len(notes) == 1, texts  # 3 answers, 1 note, 196 dropped quietly
        assert core.metrics.discarded.labels("tg", "rate_limited")._value.get() == 196
        ready = float(notes[0].split("초")[0].split()[-1])  # "… N초 뒤에 다시 …"
        await asyncio.sleep(ready + 0.5)  # the window passes: service is back at once
        await tg_api.deliver(tg_api.message_update(USER, "/help"))
        await tg_api.wait_for("sendMessage", 5, timeout=10, chat_id=USER)
    finally:
        await adapter.stop(drain_seconds=1)
        await core.store.close()


async def _oom(core, on: bool) -> None:  # type: ignore[no-untyped-def]
    """Redis refuses writes (maxmemory reached with noeviction) — reachable, but no writes."""
    r = core.store.redis
    if on:
        await r.config_set("maxmemory-policy", "noeviction")
        await r.config_set("maxmemory", "1")
    else:
        await r.config_set("maxmemory", "0")


async def test_a_payment_handled_while_redis_refuses_writes_is_retried_not_dropped(
        redis_url: str, tmp_path: Path, tg_api: FakeTelegramAPI) -> None:
    core = tg_core(redis_url, tmp_path, tg_api)
    adapter = TelegramAdapter(core, poll_timeout=1)
    uid = (await onboard(core, UID)).uid
    pay = tg_api.payment_update(USER, invoice_payload("credit_10", uid), 50, charge_id="stxOOM1")
    await adapter.inbox.put([(f"{tg_api.bot_id}:{pay['update_id']}", str(USER), pay)])  # received, kept
    await _oom(core, True)
    await adapter.start()  # the consumer takes the entry while Redis refuses every write
    try:
        await asyncio.sleep(1.5)
        assert await core.ledger.balance(uid) == 3 and tg_api.texts(USER) == []
        assert await adapter.inbox.pending() == 1  # kept, not deleted, not answered with an error
        await _oom(core, False)
        [confirm] = await tg_api.wait_for("sendMessage", 1, timeout=20, chat_id=USER)
        assert "결제가 완료" in confirm["text"] and await core.ledger.balance(uid) == 13
        assert (await core.ledger.reconcile(uid)).ok
    finally:
        await _oom(core, False)
        await adapter.stop(drain_seconds=1)
        await core.store.close()


async def test_polling_survives_redis_refusing_writes(ai_tg: TG) -> None:
    tg = ai_tg
    await onboard(tg.core, UID)
    await _oom(tg.core, True)
    try:
        await tg.say(USER, "/help")
        await asyncio.sleep(1.5)
        assert tg.api.texts(USER) == []  # not kept, so not confirmed: Telegram holds it
    finally:
        await _oom(tg.core, False)
    await tg.replies(USER, 1, timeout=15)  # the poller is alive and delivers it now
    assert tg.adapter._poller is not None and not tg.adapter._poller.done()


async def test_a_long_backlog_of_one_chat_loses_nothing_and_the_payment_is_granted(
        redis_url: str, tmp_path: Path, tg_api: FakeTelegramAPI) -> None:
    cfg = config_with(tmp_path, **{"limits.command": {"limit": 3, "window_seconds": 60}})
    core = tg_core(redis_url, tmp_path, tg_api, CONFIG_FILE=str(cfg))
    adapter = TelegramAdapter(core, poll_timeout=1)
    uid = (await onboard(core, UID)).uid
    items = []
    for _ in range(80):  # e.g. after an outage: many button presses queued, then the payment
        u = tg_api.callback_update(USER, "/help")
        items.append((f"{tg_api.bot_id}:{u['update_id']}", str(USER), u))
    pay = tg_api.payment_update(USER, invoice_payload("credit_10", uid), 50, charge_id="stxBACKLOG")
    items.append((f"{tg_api.bot_id}:{pay['update_id']}", str(USER), pay))
    await adapter.inbox.put(items)
    await adapter.start()
    try:
        await tg_api.wait_for("sendMessage", 1, timeout=30, chat_id=USER, where=lambda c: "결제가 완료" in c["text"])
        assert await core.ledger.balance(uid) == 13
        assert core.metrics.discarded.labels("tg", "rate_limited")._value.get() == 80 - 4  # 3 answers, 1 note
        while await adapter.inbox.pending():  # noqa: ASYNC110 - everything is handled, none dropped
            await asyncio.sleep(0.05)
    finally:
        await adapter.stop(drain_seconds=1)
        await core.store.close()
