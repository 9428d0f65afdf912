"""Crisis words reach a fixed, caring reply in the router: before limits, holds and Redis."""

from __future__ import annotations

import logging
from pathlib import Path
from collections.abc import Callable

import pytest

from bot.core.reply import Reply
from bot.core.router import Event
from bot.core.service import Core
from bot.core.store import K
from tests.fakes.ai_servers import FakeAI, status
from tests.support.platform import handle_delivered
from tests.support.factory import make_core, onboard
from tests.support.redis_proc import RedisProcess

UID = "tg:900"


def ev(text: str, lang_hint: str | None = None, user: str = "900") -> Event:
    return Event("tg", user, text, chat_id=user, lang_hint=lang_hint)


async def one(core: Core, event: Event) -> Reply:
    replies = await handle_delivered(core, event)
    assert len(replies) == 1, replies
    return replies[0]


def assert_ko_crisis(r: Reply) -> None:
    assert r.error is None and not r.buttons and not r.private and r.invoice is None
    assert "109" in r.text and "1577-0199" in r.text and "112" in r.text and "119" in r.text
    assert "/buy" not in r.text and "복채" not in r.text and "충전" not in r.text


def assert_en_crisis(r: Reply) -> None:
    assert r.error is None and not r.buttons and r.invoice is None
    assert "988" in r.text and "116 123" in r.text and "emergency number" in r.text
    assert "/buy" not in r.text and "credit" not in r.text.lower()


async def test_zero_credits_ask_gets_help_lines_not_a_sales_prompt(ai_core: Core, oa: FakeAI, an: FakeAI,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    uid = (await onboard(ai_core, UID, bonus=False)).uid
    assert await ai_core.ledger.balance(uid) == 0
    with caplog.at_level(logging.INFO, logger="soul_lab"):
        r = await one(ai_core, ev("/ask 죽고 싶어요"))
    assert_ko_crisis(r)
    assert oa.hits == 0 and an.hits == 0  # never an AI improvisation
    rec = await ai_core.ledger.reconcile(uid)
    assert rec.ok and rec.held == 0 and await ai_core.ledger.balance(uid) == 0
    assert await ai_core.sessions.get(uid, "ask") is None
    crisis = [r for r in caplog.records if getattr(r, "event", "") == "ai_crisis_reply"]
    assert len(crisis) == 1 and crisis[0].fields["rule"] == "ko_want_to_die" and crisis[0].fields["command"] == "ask"
    for rec_ in caplog.records:  # the words are never logged
        assert "죽고" not in str(getattr(rec_, "fields", "")) and "죽고" not in rec_.getMessage()
    assert b'soul_lab_ai_crisis_replies_total{lang="ko"} 1.0' in ai_core.metrics.render()


async def test_ai_down_still_the_crisis_reply_not_a_fortune_line(ai_core: Core, oa: FakeAI, an: FakeAI) -> None:
    uid = (await onboard(ai_core, UID)).uid
    oa.always(status(503))
    an.always(status(503))
    r = await one(ai_core, ev("/ask 요즘 너무 힘들어서 살기 싫어요"))
    assert_ko_crisis(r)
    assert oa.hits == 0 and await ai_core.ledger.balance(uid) == 3


@pytest.mark.parametrize("text", ["/tarot 죽고 싶어", "/reading tarot three 자살", "/report 사라지고 싶어",
                                  "그냥 없어지고 싶다", "/죽고싶어", "/ask@SoulLabBot 목숨을 끊고 싶어요"])
async def test_commands_with_text_and_plain_text_are_screened(ai_core: Core, oa: FakeAI, text: str) -> None:
    uid = (await onboard(ai_core, UID)).uid
    assert_ko_crisis(await one(ai_core, ev(text)))
    assert oa.hits == 0 and await ai_core.ledger.balance(uid) == 3


async def test_idioms_go_through_as_usual(ai_core: Core, oa: FakeAI) -> None:
    uid = (await onboard(ai_core, UID)).uid
    r = await one(ai_core, ev("/ask 배고파 죽겠어요, 오늘 저녁 운은?"))
    assert "OpenAI 상담 답변" in r.text and oa.hits == 1
    assert await ai_core.ledger.balance(uid) == 2


async def test_not_onboarded_user_gets_english_from_the_hint_and_nothing_is_stored(core: Core) -> None:
    r = await one(core, ev("I want to kill myself", lang_hint="en-US"))
    assert_en_crisis(r)
    assert await core.profiles.get(UID) is None
    assert await core.store.redis.get(K.session(UID, "pending")) is None
    assert not await core.store.redis.keys(f"*{UID}*")
    # Without a hint the default language is Korean.
    assert_ko_crisis(await one(core, ev("/start 자살하고 싶어")))


async def test_profile_language_wins_over_the_hint(core: Core) -> None:
    await onboard(core, UID, lang="en")
    assert_en_crisis(await one(core, ev("/ask 죽고 싶어", lang_hint="ko")))


async def test_rate_limited_user_still_gets_the_crisis_reply(core: Core) -> None:
    await onboard(core, UID)
    await core.limiter.set_limit("command", 1, 60)
    assert (await one(core, ev("/help"))).error is None
    assert (await one(core, ev("/help"))).error is not None  # limited now
    assert_ko_crisis(await one(core, ev("살기 싫어")))


async def test_works_with_redis_down(tmp_path: Path) -> None:
    server = RedisProcess().start()
    core = make_core(server.url, tmp_path)
    try:
        server.stop()
        assert_en_crisis(await one(core, ev("i just want to die", lang_hint="en")))
        assert_ko_crisis(await one(core, ev("/ask 죽고 싶어요")))
        # The same user's ordinary request shows Redis really is down.
        down = await one(core, ev("/ask 오늘 운세 어때요?"))
        assert down.error is not None and down.error.value == "SERVICE_UNAVAILABLE"
    finally:
        await core.store.close()
        server.cleanup()


async def test_group_chat_reply_is_public_help_not_a_redirect(make_ai_core: Callable[..., Core]) -> None:
    core = make_ai_core()
    r = await one(core, Event("tg", "900", "/ask 자해하고 싶어", chat_id="-100123", chat_kind="group"))
    assert_ko_crisis(r)  # not private: a group chat still shows the help lines
