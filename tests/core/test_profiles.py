"""Profiles and onboarding through the router: validation, encryption at rest, /delete."""

from __future__ import annotations

from datetime import date

import pytest

from bot.core.errors import BotError, ErrorCode
from bot.core.profiles import parse_birth_date
from bot.core.router import Event
from bot.core.service import Core
from bot.core.store import K
from tests.support.factory import onboard


def ev(text: str, user: str = "500", lang: str | None = "ko") -> Event:
    return Event("tg", user, text, chat_id=user, lang_hint=lang)


@pytest.mark.parametrize("text,key", [
    ("1990/05/17", "profile.bad_birth_date"), ("1990-02-30", "profile.bad_birth_date"),
    ("90-05-17", "profile.bad_birth_date"), ("", "profile.bad_birth_date"),
    ("1899-12-31", "profile.birth_too_old"), ("2030-01-01", "profile.birth_in_future"),
])
def test_birth_date_validation(text: str, key: str) -> None:
    with pytest.raises(BotError) as info:
        parse_birth_date(text, date(2026, 11, 26))
    assert info.value.code is ErrorCode.VALIDATION_ERROR and info.value.key == key


def test_birth_date_edges_accepted() -> None:
    assert parse_birth_date("1900-01-01", date(2026, 11, 26)) == date(1900, 1, 1)
    assert parse_birth_date("2026-11-26", date(2026, 11, 26)) == date(2026, 11, 26)


async def _onboard_by_text(core: Core, user: str = "500") -> list[str]:
    texts = []
    for line in ["/start", "/setup lang ko", "/setup terms yes", "/setup share no", "1991-03-21",
                 "/setup time skip", "Asia/Seoul"]:
        texts += [r.text for r in await core.router.handle(ev(line, user))]
    return texts


async def test_onboarding_by_text_grants_the_welcome_bonus(core: Core) -> None:
    texts = await _onboard_by_text(core)
    assert "환영 선물로 복채 3개" in texts[-1]
    profile = await core.profiles.get("tg:500")
    assert profile is not None and profile.onboarded and profile.birth == date(1991, 3, 21)
    assert profile.share_at is None and profile.tz == "Asia/Seoul"
    assert await core.ledger.balance("tg:500") == 3


async def test_birth_date_is_encrypted_at_rest(core: Core) -> None:
    await _onboard_by_text(core)
    raw = await core.store.redis.hgetall(K.profile("tg:500"))
    assert raw["birth"].startswith("v1:")
    assert "1991" not in raw["birth"] and "03-21" not in str(raw)
    # A ciphertext copied to another profile does not decrypt there.
    await onboard(core, "tg:501", birth=date(2000, 1, 1))
    await core.store.redis.hset(K.profile("tg:501"), "birth", raw["birth"])
    other = await core.profiles.get("tg:501")
    assert other is not None and other.birth is None


async def test_a_bad_birth_date_is_explained_and_changes_nothing(core: Core) -> None:
    for line in ["/start", "/setup lang en", "/setup terms yes", "/setup share yes"]:
        await core.router.handle(ev(line, lang="en"))
    before = await core.store.redis.hgetall(K.profile("tg:500"))
    reply = (await core.router.handle(ev("2999-01-01", lang="en")))[0]
    assert reply.error is ErrorCode.VALIDATION_ERROR and "hasn't happened yet" in reply.text
    assert await core.store.redis.hgetall(K.profile("tg:500")) == before


async def test_a_command_before_onboarding_is_replayed_after_it(core: Core) -> None:
    first = await core.router.handle(ev("/credits"))
    assert "간단한 설정" in first[0].text
    texts = await _onboard_by_text(core)
    assert any("복채 잔액: 3" in t for t in texts)  # /credits ran once onboarding finished


async def test_language_and_timezone_commands(core: Core) -> None:
    await onboard(core, "tg:500")
    assert "English" in (await core.router.handle(ev("/language en")))[0].text
    bad = (await core.router.handle(ev("/timezone Mars/Olympus")))[0]
    assert bad.error is ErrorCode.VALIDATION_ERROR and "Mars/Olympus" in bad.text
    good = (await core.router.handle(ev("/timezone America/New_York")))[0]
    assert "America/New_York" in good.text
    profile = await core.profiles.get("tg:500")
    assert profile is not None and profile.lang == "en" and profile.tz == "America/New_York"
    assert (await core.router.handle(ev("/language fr")))[0].error is ErrorCode.VALIDATION_ERROR


async def test_delete_asks_first_then_erases_and_anonymises(core: Core) -> None:
    await onboard(core, "tg:500")
    await core.sessions.put("tg:500", "ask", {"turns": []}, 60)
    unconfirmed = (await core.router.handle(ev("/delete confirm")))[0]
    assert "먼저 /delete" in unconfirmed.text
    assert await core.profiles.get("tg:500") is not None
    ask = (await core.router.handle(ev("/delete")))[0]
    assert [b.command for b in ask.all_buttons()] == ["/delete confirm", "/cancel"]
    done = (await core.router.handle(ev("/delete confirm")))[0]
    assert "모든 정보를 지웠어요" in done.text
    assert await core.profiles.get("tg:500") is None
    assert await core.store.redis.keys("session:tg:500:*") == []
    assert await core.store.redis.exists(K.ledger("tg:500")) == 0
    assert await core.ledger.reconcile_all() == []


async def test_unknown_command_and_plain_text_get_a_hint(core: Core) -> None:
    unknown = (await core.router.handle(ev("/horoscope")))[0]
    assert "/help" in unknown.text and unknown.error is None
    text = (await core.router.handle(ev("안녕하세요")))[0]
    assert "/fortune" in text.text
