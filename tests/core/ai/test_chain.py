"""The fallback chain and the breakers, through the real SDKs against the fake servers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest

from bot.core.ai import AIRequest, Message
from bot.core.clock import FixedClock
from bot.core.service import Core
from tests.core.ai.conftest import DEADLINE, T0, chain_of
from tests.fakes.ai_servers import (FakeAI, answer, bad_request, hang, html, overloaded, rate_limited, status,
                                    unauthorized)


def req(text: str = "요즘 마음이 복잡해요", kind: str = "chat", lang: str = "ko") -> AIRequest:
    return AIRequest(kind, lang, "별자리: 황소자리", (Message("user", text),), "정적 풀이")  # type: ignore[arg-type]


async def test_openai_answers_first(ai_core: Core, oa: FakeAI, an: FakeAI) -> None:
    res = await chain_of(ai_core).answer(req())
    assert (res.provider, res.fallback, res.text) == ("openai", False, "OpenAI 상담 답변")
    assert res.model and res.model.startswith("gpt-4o-mini")
    assert res.input_tokens > 0 and res.output_tokens > 0 and res.latency_ms > 0
    assert oa.hits == 1 and an.hits == 0
    body = oa.requests[0].body
    assert body["model"] == "gpt-4o-mini" and body["messages"][0]["role"] == "system"
    assert body["messages"][1] == {"role": "user", "content": "요즘 마음이 복잡해요"}
    assert oa.requests[0].headers["authorization"] == "Bearer sk-test-openai"


async def test_openai_500_then_anthropic(ai_core: Core, oa: FakeAI, an: FakeAI) -> None:
    oa.then(status(500))
    res = await chain_of(ai_core).answer(req())
    assert (res.provider, res.fallback) == ("anthropic", False)
    assert [a.outcome for a in res.attempts] == ["server", "ok"]
    assert oa.hits == 1  # SDK retries are off: exactly one request
    sent = an.requests[0].body
    assert sent["system"] == chain_of(ai_core).system_prompt(req())
    assert sent["messages"] == [{"role": "user", "content": "요즘 마음이 복잡해요"}]
    headers = an.requests[0].headers
    assert "sk-ant-test" in headers.get("x-api-key", headers.get("authorization", ""))
    assert headers.get("x-stainless-retry-count", "0") == "0"


async def test_openai_hangs_anthropic_answers_within_deadline(ai_core: Core, oa: FakeAI, an: FakeAI) -> None:
    oa.then(hang())
    t0 = time.perf_counter()
    res = await chain_of(ai_core).answer(req())
    elapsed = time.perf_counter() - t0
    assert res.provider == "anthropic" and res.attempts[0].outcome == "timeout"
    assert elapsed < DEADLINE + 1.0


@pytest.mark.parametrize("failure", [html(), html(502), overloaded(), rate_limited(), status(408), status(409)],
                         ids=["html200", "html502", "529", "429", "408", "409"])
async def test_provider_errors_go_to_the_next_provider(ai_core: Core, oa: FakeAI, an: FakeAI, failure) -> None:
    oa.then(failure)
    res = await chain_of(ai_core).answer(req())
    assert res.provider == "anthropic" and not res.fallback


async def test_both_down_static_text(ai_core: Core, oa: FakeAI, an: FakeAI, caplog) -> None:
    oa.always(status(503))
    an.always(overloaded())
    with caplog.at_level(logging.INFO, logger="soul_lab"):
        res = await chain_of(ai_core).answer(req())
    assert (res.provider, res.fallback, res.text, res.model) == ("static", True, "정적 풀이", None)
    events = [r.event for r in caplog.records if hasattr(r, "event")]
    assert "ai_fallback" in events and "ai_request" in events and events.count("ai_provider_error") == 2
    for r in caplog.records:  # never the user's text or the prompt in logs
        assert "마음이 복잡" not in str(getattr(r, "fields", "")) and "황소자리" not in str(getattr(r, "fields", ""))


async def test_400_is_our_bug_static_at_once(ai_core: Core, oa: FakeAI, an: FakeAI, caplog) -> None:
    oa.then(bad_request())
    with caplog.at_level(logging.INFO, logger="soul_lab"):
        res = await chain_of(ai_core).answer(req())
    assert res.provider == "static" and an.hits == 0
    assert any(getattr(r, "event", "") == "ai_bad_request" for r in caplog.records)
    assert (await chain_of(ai_core).status())["openai"]["state"] == "closed"


async def test_no_key_is_skipped_not_an_error(make_ai_core: Callable[..., Core], oa: FakeAI, an: FakeAI) -> None:
    core = make_ai_core(openai=False)
    res = await chain_of(core).answer(req())
    assert res.provider == "anthropic" and oa.hits == 0
    assert res.attempts[0].outcome == "skipped:no_key"
    none = make_ai_core(openai=False, anthropic=False)
    res = await chain_of(none).answer(req())
    assert res.provider == "static" and res.fallback and an.hits == 1


async def test_breaker_opens_skips_without_waiting_and_probe_closes(make_ai_core: Callable[..., Core],
                                                                     oa: FakeAI, an: FakeAI, caplog) -> None:
    clock = FixedClock(T0)
    core = make_ai_core(clock=clock)
    chain = chain_of(core)
    cfg = chain.config
    oa.always(status(500))
    with caplog.at_level(logging.INFO, logger="soul_lab"):
        for _ in range(cfg.breaker_min_calls):
            assert (await chain.answer(req())).provider == "anthropic"
            clock.advance(1)
    assert any(getattr(r, "event", "") == "ai_breaker_open" for r in caplog.records)
    assert (await chain.status())["openai"]["state"] == "open"
    hits = oa.hits
    oa.always(hang())  # if the chain still called OpenAI, this would cost the whole deadline
    t0 = time.perf_counter()
    res = await chain.answer(req())
    assert res.provider == "anthropic" and oa.hits == hits
    assert res.attempts[0].outcome == "skipped:breaker_open"
    assert time.perf_counter() - t0 < 0.5
    # After the open period one probe goes through; its success closes the breaker.
    oa.always(answer("다시 살아났어요"))
    clock.advance(cfg.breaker_open_seconds + 1)
    res = await chain.answer(req())
    assert res.provider == "openai" and oa.hits == hits + 1
    assert (await chain.status())["openai"]["state"] == "closed"


async def test_failed_probe_reopens(make_ai_core: Callable[..., Core], oa: FakeAI, an: FakeAI) -> None:
    clock = FixedClock(T0)
    core = make_ai_core(clock=clock)
    chain = chain_of(core)
    await chain.force_open("openai", 10)
    clock.advance(11)
    oa.then(status(502))
    res = await chain.answer(req())
    assert res.provider == "anthropic" and oa.hits == 1
    st = (await chain.status())["openai"]
    assert st["state"] == "open" and st["reason"] == "probe_failed"
    assert st["until_ms"] == clock.now_ms() + chain.config.breaker_open_seconds * 1000


async def test_half_open_lets_exactly_one_probe(make_ai_core: Callable[..., Core]) -> None:
    clock = FixedClock(T0)
    core = make_ai_core(clock=clock)
    breakers = chain_of(core).breakers
    await breakers.force_open("openai", 5)
    assert not (await breakers.acquire("openai")).allowed
    clock.advance(6)
    permits = await asyncio.gather(*(breakers.acquire("openai") for _ in range(20)))
    assert sum(p.probe for p in permits) == 1 and sum(p.allowed for p in permits) == 1
    # A probe whose process died frees up after its lease.
    clock.advance(chain_of(core).config.answer_timeout_seconds + 10)
    assert (await breakers.acquire("openai")).probe


async def test_retry_after_keeps_provider_out_that_long(make_ai_core: Callable[..., Core],
                                                         oa: FakeAI, an: FakeAI) -> None:
    clock = FixedClock(T0)
    core = make_ai_core(clock=clock)
    chain = chain_of(core)
    oa.then(rate_limited(retry_after=120))
    assert (await chain.answer(req())).provider == "anthropic"
    st = (await chain.status())["openai"]
    assert st["state"] == "open" and st["reason"] == "retry_after"
    assert st["until_ms"] == clock.now_ms() + 120_000
    clock.advance(60)
    assert (await chain.answer(req())).provider == "anthropic" and oa.hits == 1
    clock.advance(61)
    assert (await chain.answer(req())).provider == "openai" and oa.hits == 2


async def test_auth_failure_opens_long_and_logs(make_ai_core: Callable[..., Core], oa: FakeAI, an: FakeAI,
                                                caplog) -> None:
    clock = FixedClock(T0)
    core = make_ai_core(clock=clock)
    chain = chain_of(core)
    oa.then(unauthorized())
    with caplog.at_level(logging.INFO, logger="soul_lab"):
        assert (await chain.answer(req())).provider == "anthropic"
    assert any(getattr(r, "event", "") == "ai_provider_auth_error" for r in caplog.records)
    st = (await chain.status())["openai"]
    assert st["state"] == "open" and st["reason"] == "auth"
    assert st["until_ms"] == clock.now_ms() + chain.config.auth_failure_open_seconds * 1000
    clock.advance(600)
    assert (await chain.answer(req())).provider == "anthropic" and oa.hits == 1


async def test_force_open_close_and_status(ai_core: Core, oa: FakeAI, an: FakeAI) -> None:
    chain = chain_of(ai_core)
    await chain.force_open("anthropic", 300)
    await chain.force_open("openai", 300)
    st = await chain.status()
    assert st["openai"]["state"] == st["anthropic"]["state"] == "open"
    assert st["openai"]["configured"] and st["openai"]["model"] == "gpt-4o-mini"
    res = await chain.answer(req())
    assert res.provider == "static" and oa.hits == an.hits == 0
    assert await chain.force_close("openai") == "open"
    assert (await chain.answer(req())).provider == "openai"
    with pytest.raises(ValueError):
        await chain.force_open("gemini", 10)


async def test_breaker_state_is_shared_between_processes(make_ai_core: Callable[..., Core],
                                                         oa: FakeAI, an: FakeAI) -> None:
    one, two = make_ai_core(), make_ai_core()
    await chain_of(one).force_open("openai", 60)
    assert (await chain_of(two).answer(req())).provider == "anthropic" and oa.hits == 0


async def test_history_goes_as_alternating_messages(ai_core: Core, an: FakeAI, oa: FakeAI) -> None:
    msgs = (Message("user", "첫 질문"), Message("assistant", "첫 답"), Message("user", "둘째 질문"))
    r = AIRequest("chat", "ko", "", msgs, "static")
    await chain_of(ai_core).answer(r)
    assert [m["role"] for m in oa.requests[0].body["messages"]] == ["system", "user", "assistant", "user"]
    oa.then(status(500))
    await chain_of(ai_core).answer(r)
    assert an.requests[0].body["messages"] == [{"role": m.role, "content": m.content} for m in msgs]
