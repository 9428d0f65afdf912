"""Account and input rules through the router (real Core, real Redis): time zones, clock
times, display names, and the payment pages /terms and /paysupport."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from collections.abc import AsyncIterator

import pytest

from bot.core.profiles import STORED, field_of
from bot.core.clock import FixedClock
from bot.core.errors import ErrorCode
from bot.core.payments import invoice_payload
from bot.core.payments import record_purchase
from bot.core.reply import Reply
from bot.core.router import Event
from bot.core.service import Core
from bot.core.store import K
from tests.support.factory import account_of, make_core, onboard

T0 = datetime(2025, 1, 6, 1, 0, tzinfo=UTC).timestamp()  # Monday 10:00 KST


@pytest.fixture
async def fcore(redis_url: str, tmp_path: Path) -> AsyncIterator[Core]:
    c = make_core(redis_url, tmp_path, clock=FixedClock(T0))
    yield c
    await c.store.close()


async def say(core: Core, uid: str, text: str, lang: str | None = "ko", name: str | None = None) -> list[Reply]:
    platform, _, user_id = uid.partition(":")
    return await core.router.handle(Event(platform, user_id, text, chat_id=user_id, lang_hint=lang,
                                          display_name=name))


async def one(core: Core, uid: str, text: str, **kw: str | None) -> Reply:
    replies = await say(core, uid, text, **kw)
    assert len(replies) == 1, replies
    return replies[0]


# --- time zones ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["localtime", "posixrules", "Factory", "right/UTC", "posix/Asia/Seoul",
                                  "/etc/localtime"])
async def test_timezone_refuses_server_files_and_changes_nothing(fcore: Core, name: str) -> None:
    await onboard(fcore, "tg:1", tz="Asia/Tokyo")
    r = await one(fcore, "tg:1", f"/timezone {name}")
    assert r.error is ErrorCode.VALIDATION_ERROR and "IANA" in r.text
    assert await fcore.store.redis.hget(K.profile(await account_of(fcore, "tg:1")), STORED["tz"]) == "Asia/Tokyo"


@pytest.mark.parametrize("typed,stored", [("Asia/Calcutta", "Asia/Kolkata"), ("US/Eastern", "America/New_York"),
                                          ("asia/seoul", "Asia/Seoul"), ("Zulu", "UTC")])
async def test_timezone_links_are_stored_canonical(fcore: Core, typed: str, stored: str) -> None:
    await onboard(fcore, "tg:1", lang="en")
    r = await one(fcore, "tg:1", f"/timezone {typed}")
    assert r.error is None and stored in r.text
    assert await fcore.store.redis.hget(K.profile(await account_of(fcore, "tg:1")), STORED["tz"]) == stored


async def test_stored_zones_are_normalised_when_read(fcore: Core) -> None:
    await onboard(fcore, "tg:1")
    await onboard(fcore, "tg:2")
    # profiles written before these rules existed
    await fcore.store.redis.hset(K.profile(await account_of(fcore, "tg:1")), "tz", "US/Eastern")
    await fcore.store.redis.hset(K.profile(await account_of(fcore, "tg:2")), "tz", "localtime")
    p1, p2 = await fcore.profiles.get(await account_of(fcore, "tg:1")), await fcore.profiles.get(await account_of(fcore, "tg:2"))
    assert p1 is not None and p1.tz == "America/New_York"
    assert p2 is not None and p2.tz == "Asia/Seoul"  # not the server's zone: the default
    r = await one(fcore, "tg:2", "/timezone")
    assert "Asia/Seoul" in r.text


async def test_onboarding_time_zone_step_uses_the_same_rules(fcore: Core) -> None:
    for line in ["/start", "/setup lang en", "/setup terms yes", "/setup share no", "1991-03-21",
                 "/setup time skip"]:
        await say(fcore, "tg:9", line, lang="en")
    bad = await one(fcore, "tg:9", "right/Asia/Seoul", lang="en")
    assert bad.error is ErrorCode.VALIDATION_ERROR
    assert await fcore.store.redis.hget(K.profile(await account_of(fcore, "tg:9")), STORED["step"]) == "tz"
    done = await say(fcore, "tg:9", "Asia/Calcutta", lang="en")
    assert done[0].error is None
    profile = await fcore.profiles.get(await account_of(fcore, "tg:9"))
    assert profile is not None and profile.onboarded and profile.tz == "Asia/Kolkata"


# --- clock times -----------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["240", "0240", "0730", "7"])
async def test_subscribe_needs_a_colon(fcore: Core, value: str) -> None:
    await onboard(fcore, "tg:1")
    r = await one(fcore, "tg:1", f"/subscribe {value}")
    assert r.error is ErrorCode.VALIDATION_ERROR and "콜론(:)" in r.text
    assert await fcore.store.redis.hget(K.broadcast_subs(), await account_of(fcore, "tg:1")) is None
    ok = await one(fcore, "tg:1", "/subscribe 02:40")
    assert ok.error is None and await fcore.store.redis.hget(K.broadcast_subs(), await account_of(fcore, "tg:1")) == "02:40|tg"


async def test_subscribe_error_in_english(fcore: Core) -> None:
    await onboard(fcore, "tg:1", lang="en")
    r = await one(fcore, "tg:1", "/subscribe 240")
    assert r.error is ErrorCode.VALIDATION_ERROR and "with a colon" in r.text


@pytest.mark.parametrize("value", ["0730", "240", "7:3"])
async def test_birth_time_needs_a_colon(fcore: Core, value: str) -> None:
    for line in ["/start", "/setup lang ko", "/setup terms yes", "/setup share no", "1991-03-21"]:
        await say(fcore, "tg:9", line)
    bad = await one(fcore, "tg:9", value)
    assert bad.error is ErrorCode.VALIDATION_ERROR and "콜론(:)" in bad.text
    raw = await fcore.store.redis.hgetall(K.profile(await account_of(fcore, "tg:9")))
    assert field_of(raw, "step") == "time" and not field_of(raw, "birth_time")
    await say(fcore, "tg:9", "07:30")
    profile = await fcore.profiles.get(await account_of(fcore, "tg:9"))
    assert profile is not None and profile.birth_time == "07:30" and profile.step == "tz"


# --- display names ----------------------------------------------------------------------------

async def test_display_names_are_cleaned_when_stored_and_when_shown(fcore: Core) -> None:
    outbox: list[tuple[str, Reply]] = []

    async def sender(user_id: str, reply: Reply) -> None:
        outbox.append((user_id, reply))

    fcore.register_sender("tg", sender)
    evil = "\u202eevil\u202c\u200b " + "긴이름" * 20
    await say(fcore, "tg:1", "/start", name=evil)
    stored = await fcore.store.redis.hget(K.profile(await account_of(fcore, "tg:1")), STORED["name"])
    assert stored is not None and "\u202e" not in stored and "\u200b" not in stored and len(stored) <= 32
    assert stored.startswith("evil 긴이름")
    # a name stored before these rules is cleaned when read
    await onboard(fcore, "tg:2", lang="en")
    await onboard(fcore, "tg:3", lang="en")
    await fcore.store.redis.hset(K.profile(await account_of(fcore, "tg:2")), "name", "Min\u202ejI\u2066\u200f\x1b[31m")
    profile = await fcore.profiles.get(await account_of(fcore, "tg:2"))
    assert profile is not None and profile.display_name == "MinjI[31m"
    # and the partner sees only the clean name
    [link] = await say(fcore, "tg:2", "/invite", lang="en")
    token = link.text.split("/join ")[1].split()[0]
    [joined] = await say(fcore, "tg:3", f"/join {token}", lang="en")
    assert "MinjI[31m" in joined.text
    assert not any(ch in joined.text for ch in "\u202e\u2066\u200f\x1b")


# --- /terms and /paysupport -----------------------------------------------------------------

@pytest.mark.parametrize("lang,terms_words,support_words", [
    ("ko", ["이 봇의 기능에만", "재미와 성찰", "전문적인 조언을 대신하지", "/paysupport"],
     ["거래 번호", "운영팀이 확인한 뒤", "환불"]),
    ("en", ["this bot's features", "entertainment", "not medical, legal, financial", "/paysupport"],
     ["transaction ID", "operators", "Refunds aren't automatic"]),
])
async def test_terms_and_paysupport_answer_without_a_profile(fcore: Core, lang: str, terms_words: list[str],
                                                             support_words: list[str]) -> None:
    terms = await one(fcore, "tg:5", "/terms", lang=lang)
    support = await one(fcore, "tg:5", "/paysupport", lang=lang)
    assert terms.error is None and support.error is None
    for w in terms_words:
        assert w in terms.text
    for w in support_words:
        assert w in support.text
    assert await fcore.profiles.get(await account_of(fcore, "tg:5")) is None  # no onboarding, nothing stored
    assert await fcore.ledger.balance(await account_of(fcore, "tg:5")) == 0
    help_ = await one(fcore, "tg:5", "/help", lang=lang)
    assert "/terms" in help_.text and "/paysupport" in help_.text


async def test_paysupport_looks_up_only_the_callers_payment(fcore: Core) -> None:
    await onboard(fcore, "tg:1", lang="en")
    await onboard(fcore, "tg:2", lang="en")
    res = await record_purchase(fcore, await account_of(fcore, "tg:1"), "stxREF123abc", invoice_payload("credit_10", await account_of(fcore, "tg:1")), "XTR", 50)
    assert res.status == "granted"
    mine = await one(fcore, "tg:1", "/paysupport stxREF123abc")
    assert mine.error is None and "added 10 credits" in mine.text and "logged your request" in mine.text
    theirs = await one(fcore, "tg:2", "/paysupport stxREF123abc")
    assert "couldn't find a payment" in theirs.text and "10 credits" not in theirs.text
    unknown = await one(fcore, "tg:2", "/paysupport stxNOPE000")
    assert "couldn't find a payment" in unknown.text
    bad = await one(fcore, "tg:2", "/paysupport <script>")
    assert bad.error is ErrorCode.VALIDATION_ERROR and "transaction ID" in bad.text
    # read-only: the ledger is untouched
    assert await fcore.ledger.balance(await account_of(fcore, "tg:1")) == 13 and await fcore.ledger.balance(await account_of(fcore, "tg:2")) == 3
