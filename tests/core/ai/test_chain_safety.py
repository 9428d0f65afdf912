"""The chain's output check, daily spend cap and time budget, through the real SDKs."""

from __future__ import annotations

import logging
import math
import time
from datetime import timedelta
from pathlib import Path
from collections.abc import Callable

import pytest

from bot.core.ai import AIRequest, Message
from bot.core.ai.chain import build_chain
from bot.core.clock import FixedClock
from bot.core.router import Event
from bot.core.service import Core
from bot.core.settings import ModelPrice
from bot.core.store import K
from tests.core.ai.conftest import T0, ai_config, chain_of
from tests.fakes.ai_servers import FakeAI, answer, hang
from tests.support.platform import handle_delivered
from tests.support.factory import make_core, onboard
from tests.support.redis_proc import RedisProcess

UID = "tg:910"
PRICES = {"gpt-4o-mini": ModelPrice(input_per_mtok=0.15, output_per_mtok=0.60),
          "claude-3-5-haiku": ModelPrice(input_per_mtok=0.80, output_per_mtok=4.00)}


def req(text: str = "요즘 시험이 걱정돼요", lang: str = "ko") -> AIRequest:
    return AIRequest("chat", lang, "별자리: 황소자리", (Message("user", text),), "정적 풀이")  # type: ignore[arg-type]


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", "") == name]


async def ask(core: Core, text: str) -> str:
    replies = await handle_delivered(core, Event("tg", "910", text, chat_id="910"))
    assert len(replies) == 1
    return replies[0].text


# --- output check --------------------------------------------------------------------------------
async def test_harmful_answer_is_replaced_by_the_static_text(ai_core: Core, oa: FakeAI, an: FakeAI,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    oa.then(answer("걱정 마세요. 이번 시험은 반드시 합격합니다!"))
    with caplog.at_level(logging.INFO, logger="soul_lab"):
        res = await chain_of(ai_core).answer(req())
    assert (res.provider, res.fallback, res.text) == ("static", True, "정적 풀이")
    assert [(a.provider, a.outcome) for a in res.attempts] == [("openai", "blocked")]
    assert oa.hits == 1 and an.hits == 0
    blocked = events(caplog, "ai_output_blocked")
    assert len(blocked) == 1 and blocked[0].fields["reason"] == "guarantees_outcome"
    assert events(caplog, "ai_fallback")[0].fields["reason"] == "output_blocked"
    for r in caplog.records:  # the answer's words are never logged
        assert "합격" not in str(getattr(r, "fields", ""))
    # The provider answered: its breaker counts a success, not a failure.
    st = (await chain_of(ai_core).status())["openai"]
    assert st["state"] == "closed" and st["failures"] == 0 and st["calls"] == 1
    assert b'soul_lab_ai_output_blocked_total{reason="guarantees_outcome"} 1.0' in ai_core.metrics.render()


async def test_blocked_answer_through_ask_is_not_charged(ai_core: Core, oa: FakeAI) -> None:
    uid = (await onboard(ai_core, UID)).uid
    oa.then(answer("You will get seriously ill this winter, I'm afraid."))
    text = await ask(ai_core, "/ask 올겨울 건강운은요?")
    assert "seriously ill" not in text and "차감되지 않았어요" in text
    assert await ai_core.ledger.balance(uid) == 3
    rec = await ai_core.ledger.reconcile(uid)
    assert rec.ok and rec.held == 0
    # A blocked answer is not remembered in the dialogue either.
    assert (await ai_core.sessions.get(uid, "ask") or {}).get("turns", []) == []


# --- spend and the daily cap ---------------------------------------------------------------
async def test_every_real_answer_adds_its_cost_to_the_day(make_ai_core: Callable[..., Core], oa: FakeAI) -> None:
    clock = FixedClock(T0)
    core = make_ai_core(clock=clock, prices=PRICES, daily_spend_cap_usd=0.0)
    chain = chain_of(core)
    res = await chain.answer(req())
    expected = math.ceil(res.input_tokens * 0.15 + res.output_tokens * 0.60)  # micro-dollars
    assert res.provider == "openai" and expected > 0
    key = K.ai_spend("2025-03-10")
    assert int(await core.store.redis.get(key)) == expected
    assert 0 < await core.store.redis.ttl(key) <= 3 * 86400
    assert await chain.spend_today() == pytest.approx(expected / 1_000_000)
    await chain.answer(req())
    assert await chain.spend_today() == pytest.approx(2 * expected / 1_000_000)
    assert not await chain.cap_reached()  # a cap of 0 is no cap
    clock.advance(86400)  # a new UTC day starts from zero
    assert await chain.spend_today() == 0.0
    assert b"soul_lab_ai_spend_usd_total" in core.metrics.render()


async def test_cap_reached_serves_static_uncharged_and_logs_once(make_ai_core: Callable[..., Core], oa: FakeAI,
                                                                 an: FakeAI, caplog: pytest.LogCaptureFixture) -> None:
    clock = FixedClock(T0)
    core = make_ai_core(clock=clock, prices=PRICES, daily_spend_cap_usd=0.000001)  # one micro-dollar
    chain = chain_of(core)
    uid = (await onboard(core, UID)).uid
    with caplog.at_level(logging.INFO, logger="soul_lab"):
        first = await chain.answer(req())  # under the cap before it: a real answer that crosses it
        assert first.provider == "openai" and await chain.cap_reached()
        text = await ask(core, "/ask 오늘 운세 어때요?")
        again = await chain.answer(req())
    assert "차감되지 않았어요" in text and await core.ledger.balance(uid) == 3
    assert (again.provider, again.fallback) == ("static", True)
    assert [a.outcome for a in again.attempts] == ["skipped:spend_cap", "skipped:spend_cap"]
    assert oa.hits == 1 and an.hits == 0  # no provider call once capped
    assert len(events(caplog, "ai_spend_cap_reached")) == 1
    assert {r.fields["reason"] for r in events(caplog, "ai_fallback")} == {"spend_cap"}
    assert await core.store.redis.exists(K.ai_spend_capped("2025-03-10"))
    assert b"soul_lab_ai_spend_capped_total 2.0" in core.metrics.render()
    # Another process (a fresh chain on the same Redis) logs nothing new: once per day.
    other = build_chain(core, chain.config)
    with caplog.at_level(logging.INFO, logger="soul_lab"):
        assert (await other.answer(req())).provider == "static"
    assert len(events(caplog, "ai_spend_cap_reached")) == 1
    await other.aclose()
    # The next UTC day is under the cap again.
    clock.advance(timedelta(days=1).total_seconds())
    assert (await chain.answer(req())).provider == "openai"


async def test_redis_down_cap_check_fails_open(tmp_path: Path, oa: FakeAI, an: FakeAI,
                                               caplog: pytest.LogCaptureFixture) -> None:
    server = RedisProcess().start()
    core = make_core(server.url, tmp_path, clock=FixedClock(T0), OPENAI_API_KEY="sk-test",
                     OPENAI_BASE_URL=oa.base_url)
    chain = build_chain(core, ai_config(core, prices=PRICES, daily_spend_cap_usd=0.000001))
    try:
        server.stop()
        with caplog.at_level(logging.INFO, logger="soul_lab"):
            assert not await chain.cap_reached()
            res = await chain.answer(req())
        assert res.provider == "openai" and not res.fallback
        assert len(events(caplog, "ai_spend_redis_error")) == 1  # once per outage
    finally:
        await chain.aclose()
        await core.store.close()
        server.cleanup()


# --- the chain-wide time budget ------------------------------------------------------------------
async def test_both_hanging_answer_within_the_budget(make_ai_core: Callable[..., Core], oa: FakeAI,
                                                     an: FakeAI) -> None:
    core = make_ai_core(total_budget_seconds=2.5, answer_timeout_seconds=1.5)
    oa.always(hang())
    an.always(hang())
    t0 = time.perf_counter()
    res = await chain_of(core).answer(req())
    elapsed = time.perf_counter() - t0
    assert (res.provider, res.fallback) == ("static", True)
    # OpenAI ran into its own deadline; Anthropic got only what was left and was cut by the budget.
    assert [a.outcome for a in res.attempts] == ["timeout", "timeout"]
    assert res.attempts[1].latency_ms < 1500
    assert elapsed < 2.5 + 2.0
    status = await chain_of(core).status()
    assert status["openai"]["failures"] == 1 and status["anthropic"]["failures"] == 1


async def test_budget_spent_skips_the_next_provider(make_ai_core: Callable[..., Core], oa: FakeAI,
                                                    an: FakeAI, caplog: pytest.LogCaptureFixture) -> None:
    core = make_ai_core(total_budget_seconds=1.2, answer_timeout_seconds=5.0)
    oa.always(hang())
    t0 = time.perf_counter()
    with caplog.at_level(logging.INFO, logger="soul_lab"):
        res = await chain_of(core).answer(req())
    elapsed = time.perf_counter() - t0
    assert res.provider == "static" and elapsed < 1.2 + 2.0
    assert [a.outcome for a in res.attempts] == ["timeout", "skipped:budget"]
    assert an.hits == 0
    assert events(caplog, "ai_fallback")[0].fields["reason"] == "budget_exhausted"
    status = await chain_of(core).status()
    assert status["openai"]["failures"] == 1 and status["anthropic"]["calls"] == 0
