"""Invisible-only text never reaches /ask: the router refuses it before any hold (real Core,
real Redis, fake AI servers that would answer — and charge — if anything got through)."""

from __future__ import annotations

import uuid

import pytest

from bot.core.errors import ErrorCode
from bot.core.router import Event
from bot.core.service import Core
from tests.fakes.ai_servers import FakeAI
from tests.support.factory import onboard
from tests.support.platform import handle_delivered

UID = "tg:710"
INVISIBLE = [
    "\u200b",                      # zero-width space
    "\u200b\u200c\u200d\u2060",    # zero-width space, non-joiner, joiner, word joiner
    "\ufeff \u202e\u2066\u200f",   # BOM, bidi overrides and marks
    "\u3164",                      # Hangul filler (looks empty)
    " \t\u00a0\u3000 ",            # only whitespace
    "\x00\x07\x1b",                # control characters
    "\ufe0f",                      # a lone variation selector
]


async def _say(core: Core, text: str) -> list:
    return await handle_delivered(core, Event("tg", UID.partition(":")[2], text, chat_id="710"))


async def _open_ask_session(core: Core, uid: str) -> dict:
    """Open an /ask dialogue the way ai_cmd does (session:{<account>}:ask, idle expiry)."""
    now = core.clock.now()
    session = {"id": uuid.uuid4().hex[:12], "started": now, "last": now,
               "turns": [{"q": "첫 질문", "a": "첫 답"}]}
    await core.sessions.put(uid, "ask", session, core.settings.product.sessions.ask_idle_seconds)
    return session


@pytest.mark.parametrize("text", INVISIBLE)
async def test_invisible_text_in_an_open_ask_costs_nothing_and_stores_no_turn(
        ai_core: Core, oa: FakeAI, an: FakeAI, text: str) -> None:
    uid = (await onboard(ai_core, UID)).uid
    session = await _open_ask_session(ai_core, uid)
    balance, history = await ai_core.ledger.balance(uid), await ai_core.ledger.history(uid, 20)
    [reply] = await _say(ai_core, text)
    assert "다시 한 번 말씀해 주시겠어요" in reply.text
    assert oa.hits == 0 and an.hits == 0
    assert await ai_core.ledger.balance(uid) == balance
    assert await ai_core.ledger.history(uid, 20) == history  # no hold, no release
    assert await ai_core.sessions.get(uid, "ask") == session  # no empty turn stored
    # a real question afterwards continues the same dialogue as usual
    [answer] = await _say(ai_core, "그럼 이번 주는 어떨까요?")
    assert answer.error is None and oa.hits == 1
    stored = await ai_core.sessions.get(uid, "ask")
    assert stored is not None and [t["q"] for t in stored["turns"]] == ["첫 질문", "그럼 이번 주는 어떨까요?"]


@pytest.mark.parametrize("text", ["/ask \u200b", "/ask \u200b\u200d\u200b", "/ask \u3164", "/ask\u200b",
                                  "/상담 \u202e\u202c"])
async def test_ask_with_invisible_arguments_gets_its_usage(ai_core: Core, oa: FakeAI, text: str) -> None:
    uid = (await onboard(ai_core, UID)).uid
    balance = await ai_core.ledger.balance(uid)
    [reply] = await _say(ai_core, text)
    assert reply.error is ErrorCode.VALIDATION_ERROR
    assert "/ask" in reply.text
    assert oa.hits == 0 and await ai_core.ledger.balance(uid) == balance
    assert await ai_core.sessions.get(uid, "ask") is None


async def test_invisible_characters_are_removed_from_a_real_question(ai_core: Core, oa: FakeAI) -> None:
    await onboard(ai_core, UID)
    [reply] = await _say(ai_core, "/ask \u202e오늘\u200b 운세가\u2066 궁금해요\u200f")
    assert reply.error is None and oa.hits == 1
    sent = oa.requests[-1].body["messages"][-1]["content"]
    assert "오늘 운세가 궁금해요" in sent
    assert not any(ch in sent for ch in "\u202e\u200b\u2066\u200f")
