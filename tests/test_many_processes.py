"""N bot processes behave as one (issue 12, item 6).

Three real ``python -m bot run`` processes in webhook mode on one redis-server, all started
with the same ``TELEGRAM_WEBHOOK_URL`` and secret; each serves its own ``PORT``, and the test
posts updates to the processes' webhook routes directly, spreading one user's updates over
them as a load balancer would. The fake Bot API and fake OpenAI are the network edge; the
outcome is read back through a Core on the same Redis.

- A user's ``/ask`` conversation continues across processes: every paid turn joins ONE ask
  session, in order, the model sees the earlier turns, each turn is answered once and
  charged once, and the ledger reconciles.
- One ``successful_payment`` update delivered to all three processes at once (and again
  later): one grant, one payment record, ONE confirmation message.
- ``setWebhook`` is called once for the three starts (and logged by exactly one process).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp

from bot.core.payments import invoice_payload
from bot.core.service import Core
from bot.core.store import K
from tests.fakes.ai_servers import FakeAI, answer
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.support.bot_procs import (bot_env, bot_log, onboard_identity, post_update, start_bot, stop_bot, wait_ready,
                                     wait_until)
from tests.support.factory import make_core

ANSWER = "별빛 상담의 답"
SECRET = "many-procs_secret-1"
HOOK_URL = "https://bot.example/tg/hook"  # the one public URL (a load balancer in production)
HOOK_PATH = "/tg/hook"
ASKER, PAYER = 8101, 8102
QUESTIONS = ["/ask 요즘 일이 잘 풀릴까요", "그럼 다음 달은 어떨까요", "/ask 마지막으로 건강운도 궁금해요"]


def numbered(body: dict[str, Any]) -> str:
    """The fake model's answer names how many user turns it was shown (history + the new one)."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return f"{ANSWER} #{len(users)}"


def answers(api: FakeTelegramAPI, chat: int) -> list[str]:
    return [t for t in api.texts(chat) if ANSWER in t]


async def ask_turns(core: Core, aid: str) -> list[dict[str, Any]]:
    raw = await core.store.redis.get(K.session(aid, "ask"))
    if not raw:
        return []
    turns = json.loads(raw).get("turns") or []
    return list(turns) if isinstance(turns, list) else []


async def check_fleet_logs(procs: list[asyncio.subprocess.Process]) -> None:
    logs = [bot_log(p).decode() for p in procs]
    registered = [i for i, log in enumerate(logs) if '"telegram_webhook_registered"' in log]
    current = [i for i, log in enumerate(logs) if '"telegram_webhook_current"' in log]
    assert len(registered) == 1 and len(current) == 2, (registered, current)


async def test_three_webhook_processes_behave_as_one(redis_url: str, tmp_path: Path) -> None:
    core = make_core(redis_url, tmp_path)
    async with FakeTelegramAPI() as api, FakeAI("openai", ANSWER) as oa, aiohttp.ClientSession() as http:
        oa.always(answer(reply=numbered))
        asker = await onboard_identity(core, f"tg:{ASKER}")
        await core.ledger.grant(asker, 10, "test credits", "many-procs-seed")
        payer = await onboard_identity(core, f"tg:{PAYER}")
        envs = [bot_env(redis_url, tmp_path, api, oa, LOG_LEVEL="INFO",
                        config={"ai": {"total_budget_seconds": 10.0, "answer_timeout_seconds": 10.0}},
                        TELEGRAM_WEBHOOK_URL=HOOK_URL, TELEGRAM_WEBHOOK_SECRET=SECRET) for _ in range(3)]
        ports = [int(e["PORT"]) for e in envs]
        procs = list(await asyncio.gather(*(start_bot(e) for e in envs)))  # all three start at once
        try:
            await asyncio.gather(*(wait_ready(http, port, p) for port, p in zip(ports, procs)))

            # (c) One registration for the three starts, of the configured URL.
            assert len(api.calls_to("setWebhook", ok_only=False)) == 1
            assert api.webhook is not None and api.webhook["url"] == HOOK_URL
            assert api.webhook["secret_token"] == SECRET
            await check_fleet_logs(procs)

            # (a) One conversation, its turns posted to process 1, 2, 3 in turn. The user reads
            # each answer before writing the next message, as a person would.
            for i, text in enumerate(QUESTIONS):
                update = api.message_update(ASKER, text)
                assert await post_update(http, ports[i], HOOK_PATH, SECRET, update) == 200
                await wait_until(lambda n=i + 1: len(answers(api, ASKER)) >= n, 30)
                turns_now = await ask_turns(core, asker)
                deadline = asyncio.get_running_loop().time() + 10
                while len(turns_now) < i + 1:  # the turn joins the session right after delivery
                    assert asyncio.get_running_loop().time() < deadline, turns_now
                    await asyncio.sleep(0.05)
                    turns_now = await ask_turns(core, asker)

            # (b) One payment, delivered to every process at once, and again later.
            payload = invoice_payload("credit_10", payer)
            paid = api.payment_update(PAYER, payload, 50, charge_id="stxMANYPROCS1")
            statuses = await asyncio.gather(*(post_update(http, port, HOOK_PATH, SECRET, paid) for port in ports))
            assert statuses == [200, 200, 200]
            await wait_until(lambda: api.calls_to("sendMessage", chat_id=PAYER), 30)
            for port in ports:
                assert await post_update(http, port, HOOK_PATH, SECRET, paid) == 200
            await asyncio.sleep(1.5)  # a duplicate grant or message would show up by now

            # --- (a) checked: one session, in order, each turn answered and charged once.
            got = answers(api, ASKER)
            assert [a.split(ANSWER)[1].split()[0] for a in got] == ["#1", "#2", "#3"], got
            assert oa.hits == 3
            turns = await ask_turns(core, asker)
            assert [t["q"] for t in turns] == [q.removeprefix("/ask ") for q in QUESTIONS], turns
            assert [t["a"] for t in turns] == [f"{ANSWER} #{n}" for n in (1, 2, 3)]
            assert len({t["j"] for t in turns}) == 3
            acct = await core.ledger.account(asker)
            assert acct["balance"] == 3 + 10 - 3 and acct["held"] == 0, acct
            kinds = [e.kind for e in await core.ledger.history(asker, 50)]
            assert kinds.count("hold") == 3 and kinds.count("capture") == 3 and "release" not in kinds, kinds
            assert (await core.ledger.reconcile(asker)).ok

            # --- (b) checked: one grant, one record, one confirmation.
            assert len(api.calls_to("sendMessage", ok_only=False, chat_id=PAYER)) == 1
            assert await core.ledger.balance(payer) == 3 + 10
            purchases = [e for e in await core.ledger.history(payer, 50) if e.kind == "purchase"]
            assert len(purchases) == 1 and purchases[0].amount == 10
            record = await core.store.redis.hgetall(K.payment("stxMANYPROCS1"))
            assert record["status"] == "paid" and record["account"] == payer, record
            assert await core.store.redis.zrange(K.payments_index(), 0, -1) == ["stxMANYPROCS1"]
            assert (await core.ledger.reconcile(payer)).ok

            # --- (c) still one registration after all that.
            assert len(api.calls_to("setWebhook", ok_only=False)) == 1
        finally:
            logs = await asyncio.gather(*(stop_bot(p) for p in procs))
            await core.store.close()
        for p, log in zip(procs, logs):
            assert p.returncode == 0 and b"Traceback" not in log, log.decode()[-3000:]
