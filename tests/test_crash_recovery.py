"""Real bot processes (`python -m bot run`) killed or stopped with work in flight.

Fake Bot API and fake OpenAI at the network edge, a real Redis shared by every process.
Each test checks that every update is answered after the restart or takeover, every /ask
gets exactly one answer, and the money reconciles (charged once, nothing left held).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from bot.core.service import Core
from tests.fakes.ai_servers import FakeAI, answer
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.support.bot_procs import bot_env, onboard_identity, post_update, start_bot, stop_bot, wait_ready, wait_until
from tests.support.factory import make_core
from tests.support.redis_proc import free_port

ANSWER = "새벽 별자리의 답"
SECRET = "hook-secret_OK"


def answers(api: FakeTelegramAPI, user: int) -> list[str]:
    return [t for t in api.texts(user) if ANSWER in t]


async def check_money(core: Core, users: list[int], charged: int = 1) -> None:
    for u in users:
        uid = await core.accounts.resolve(f"tg:{u}")
        rec = await core.ledger.reconcile(uid)
        acct = await core.ledger.account(uid)
        assert rec.ok and acct["held"] == 0, (uid, rec, acct)
        assert acct["balance"] == 3 - charged, (uid, acct)


async def test_kill_9_polling_process_with_answers_in_flight(redis_url: str, tmp_path: Path) -> None:
    users = [7001 + i for i in range(5)]
    core = make_core(redis_url, tmp_path)  # the processes use the suite's signing secret: same accounts
    async with FakeTelegramAPI() as api, FakeAI("openai", ANSWER) as oa:
        for u in users:
            await onboard_identity(core, f"tg:{u}")
        oa.always(answer(ANSWER, delay=0.6))
        env = bot_env(redis_url, tmp_path, api, oa)
        first = await start_bot(env)
        try:
            for u in users:
                for text in ("/ask 요즘 어떤가요", "/help", "/credits"):
                    await api.deliver(api.message_update(u, text))
            await wait_until(lambda: oa.hits >= len(users), 60)  # every AI call in flight
            first.kill()  # kill -9: no goodbye, leases and jobs left behind
            await first.wait()
        finally:
            if first.returncode is None:
                first.kill()
        second = await start_bot(env)
        try:
            await wait_until(lambda: all(answers(api, u) for u in users), 45)
            await asyncio.sleep(1.0)  # a duplicate would show up by now
            for u in users:
                texts = api.texts(u)
                assert len(answers(api, u)) == 1, texts
                assert any("/fortune" in t for t in texts) and any("복채" in t for t in texts), texts
            await check_money(core, users)
        finally:
            err = await stop_bot(second)
            assert b"Traceback" not in err, err.decode()[-3000:]
    await core.store.close()


async def test_kill_9_one_of_two_webhook_processes(redis_url: str, tmp_path: Path) -> None:
    users = [7101 + i for i in range(4)]
    core = make_core(redis_url, tmp_path)  # the processes use the suite's signing secret: same accounts
    async with FakeTelegramAPI() as api, FakeAI("openai", ANSWER) as oa:
        for u in users:
            await onboard_identity(core, f"tg:{u}")
        oa.always(answer(ANSWER, delay=0.6))
        hook = {"TELEGRAM_WEBHOOK_URL": "https://bot.example/tg/hook", "TELEGRAM_WEBHOOK_SECRET": SECRET}
        env_a = bot_env(redis_url, tmp_path, api, oa, **hook)
        env_b = {**env_a, "PORT": str(free_port())}
        a, b = await start_bot(env_a), await start_bot(env_b)
        ports = [int(env_a["PORT"]), int(env_b["PORT"])]
        try:
            async with aiohttp.ClientSession() as http:
                await wait_ready(http, ports[0], a)
                await wait_ready(http, ports[1], b)
                assert len(api.calls_to("setWebhook")) == 1  # one registration for both

                async def post(port: int, update: dict[str, Any]) -> None:
                    assert await post_update(http, port, "/tg/hook", SECRET, update) == 200

                for i, u in enumerate(users):  # a load balancer spreads one user's updates over both
                    await post(ports[i % 2], api.message_update(u, "/ask 오늘은요"))
                    await post(ports[(i + 1) % 2], api.message_update(u, "/credits"))
            await wait_until(lambda: oa.hits >= len(users), 60)
            a.kill()
            await a.wait()
            await wait_until(lambda: all(answers(api, u) for u in users), 45)
            await asyncio.sleep(1.0)
            for u in users:
                assert len(answers(api, u)) == 1, api.texts(u)
                assert any("복채" in t for t in api.texts(u))
            await check_money(core, users)
        finally:
            if a.returncode is None:
                a.kill()
            err = await stop_bot(b)
            assert b"Traceback" not in err, err.decode()[-3000:]
    await core.store.close()


async def test_sigterm_during_a_burst_drops_nothing(redis_url: str, tmp_path: Path) -> None:
    users = [7201 + i for i in range(3)]
    core = make_core(redis_url, tmp_path)  # the processes use the suite's signing secret: same accounts
    async with FakeTelegramAPI() as api, FakeAI("openai", ANSWER) as oa:
        for u in users:
            await onboard_identity(core, f"tg:{u}")
        oa.always(answer(ANSWER, delay=0.6))
        env = bot_env(redis_url, tmp_path, api, oa)
        first = await start_bot(env)
        for u in users:
            for text in ("/ask 이번 주는요", "/help", "/credits"):
                await api.deliver(api.message_update(u, text))
        await wait_until(lambda: oa.hits >= 1, 60)
        err = await stop_bot(first)  # SIGTERM mid-burst
        assert first.returncode == 0 and b"Traceback" not in err, err.decode()[-3000:]
        second = await start_bot(env)
        try:
            await wait_until(lambda: all(answers(api, u) for u in users), 45)
            await wait_until(lambda: all(any("/fortune" in t for t in api.texts(u))
                                         and any("복채" in t for t in api.texts(u)) for u in users), 20)
            await asyncio.sleep(1.0)
            for u in users:
                assert len(answers(api, u)) == 1, api.texts(u)
            await check_money(core, users)
        finally:
            err = await stop_bot(second)
            assert b"Traceback" not in err, err.decode()[-3000:]
    await core.store.close()
