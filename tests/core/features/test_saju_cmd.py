"""/saju, /newyear (free summary, paid detail through hold → outbox → capture), /reading saju,
/profile birthtz and the December pointer in the daily push — through the router, real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.core.profiles import STORED
from bot.core.clock import FixedClock
from bot.core.errors import ErrorCode
from bot.core.router import Event
from bot.core.service import Core
from bot.core.store import K
from tests.core.ai.conftest import an, make_ai_core, oa  # noqa: F401  (fixtures)
from tests.fakes.ai_servers import FakeAI
from tests.support.factory import account_of, make_core, onboard
from tests.support.platform import RecordingPlatform

pytestmark = pytest.mark.both_backends

#: 2026-12-10 03:00 UTC = 12:00 in Seoul: December, so /newyear is about 2027 (정미년)
DEC = datetime(2026, 12, 10, 3, 0, tzinfo=UTC).timestamp()
#: 2027-03-10 12:00 KST: /newyear is about the current year
MARCH = datetime(2027, 3, 10, 3, 0, tzinfo=UTC).timestamp()


def ev(text: str, user: str = "700") -> Event:
    return Event("tg", user, text, chat_id=user)


@pytest.fixture
async def dcore(redis_url: str, tmp_path: Path) -> AsyncIterator[Core]:
    c = make_core(redis_url, tmp_path, clock=FixedClock(DEC))
    yield c
    await c.store.close()


async def with_time(core: Core, uid: str, hhmm: str | None) -> None:
    p = await core.profiles.get(await account_of(core, uid))
    assert p is not None
    await core.profiles.update(p, birth_time=hhmm)


# ---------------------------------------------------------------- /saju


async def test_saju_shows_the_picture_and_four_pillars(dcore: Core) -> None:
    await onboard(dcore, "tg:700")
    await with_time(dcore, "tg:700", "07:30")
    [r] = await dcore.router.handle(ev("/saju"))
    assert r.error is None and r.private and r.image is not None and r.image.png.startswith(b"\x89PNG")
    # 1990-05-17 07:30 Seoul = 庚午 辛巳 壬午 甲辰 (tests/core/saju/test_derive.py)
    assert "경오(庚午)" in r.text and "갑진(甲辰)" in r.text and "임수(壬水)" in r.text
    assert "1990" not in r.text and "05-17" not in r.text
    assert "세 기둥" not in r.text and "Asia/Seoul" in r.text
    assert [b.command for b in r.all_buttons()] == ["/reading saju", "/newyear"]
    assert "2027" in r.all_buttons()[1].label
    assert await dcore.ledger.balance(await account_of(dcore, "tg:700")) == 3  # free


async def test_saju_without_birth_time_says_three_pillars(dcore: Core) -> None:
    await onboard(dcore, "tg:700", lang="en")
    [r] = await dcore.router.handle(ev("/saju"))
    assert "Hour unknown" in r.text and "three pillars" in r.text and "/setup time" in r.text


async def test_saju_birth_time_zone_changes_the_chart(dcore: Core) -> None:
    """04:00 on 2024-02-04: 癸卯 in Seoul, 甲辰 in New York (test_chart.py)."""
    await onboard(dcore, "tg:700", birth=date(2024, 2, 4))
    await with_time(dcore, "tg:700", "04:00")
    [r] = await dcore.router.handle(ev("/saju"))
    assert "년주 계묘(癸卯)" in r.text
    [ok] = await dcore.router.handle(ev("/profile birthtz America/New_York"))
    assert ok.error is None and "America/New_York" in ok.text
    [r] = await dcore.router.handle(ev("/saju"))
    assert "년주 갑진(甲辰)" in r.text and "America/New_York" in r.text
    [prof] = await dcore.router.handle(ev("/profile"))
    assert "America/New_York" in prof.text
    await dcore.router.handle(ev("/profile birthtz off"))
    [r] = await dcore.router.handle(ev("/saju"))
    assert "년주 계묘(癸卯)" in r.text


async def test_birth_tz_is_stored_encrypted(dcore: Core) -> None:
    await onboard(dcore, "tg:700")
    await dcore.router.handle(ev("/profile birthtz Asia/Tokyo"))
    raw = await dcore.store.redis.hget(K.profile(await account_of(dcore, "tg:700")), STORED["birth_tz"])
    assert raw and "Tokyo" not in raw
    p = await dcore.profiles.get(await account_of(dcore, "tg:700"))
    assert p is not None and p.birth_tz == "Asia/Tokyo"


async def test_bad_birth_tz_is_refused_kindly_and_changes_nothing(dcore: Core) -> None:
    await onboard(dcore, "tg:700")
    [r] = await dcore.router.handle(ev("/profile birthtz Mars/Olympus"))
    assert r.error == ErrorCode.VALIDATION_ERROR
    [u] = await dcore.router.handle(ev("/profile whatever"))
    assert u.error == ErrorCode.VALIDATION_ERROR and "birthtz" in u.text
    p = await dcore.profiles.get(await account_of(dcore, "tg:700"))
    assert p is not None and p.birth_tz is None


# ---------------------------------------------------------------- /newyear


async def test_newyear_in_december_is_the_coming_year_and_deterministic(dcore: Core) -> None:
    await onboard(dcore, "tg:700")
    [a] = await dcore.router.handle(ev("/newyear"))
    [b] = await dcore.router.handle(ev("/신년운세"))
    assert a.error is None and a.text == b.text
    assert "2027년 정미(丁未)년 신년운세" in a.text and "붉은 양의 해" in a.text
    assert "세 기둥" in a.text  # no birth time
    assert [x.command for x in a.all_buttons()] == ["/newyear detailed"] and "복채 3" in a.all_buttons()[0].label
    await onboard(dcore, "tg:701", lang="en")
    [en] = await dcore.router.handle(ev("/newyear", "701"))
    assert "Your 2027 outlook" in en.text and "Red Goat" in en.text


async def test_newyear_outside_december_is_this_year(redis_url: str, tmp_path: Path) -> None:
    core = make_core(redis_url, tmp_path, clock=FixedClock(MARCH))
    try:
        await onboard(core, "tg:700")
        [r] = await core.router.handle(ev("/newyear"))
        assert "2027년 정미(丁未)년" in r.text
    finally:
        await core.store.close()


async def test_newyear_detail_is_charged_once_on_delivery_then_free(dcore: Core) -> None:
    platform = RecordingPlatform.install(dcore)
    await onboard(dcore, "tg:700")
    aid = await account_of(dcore, "tg:700")
    assert await dcore.router.handle(ev("/newyear detailed")) == []  # through the outbox
    assert await dcore.outbox.drain(5)
    [paid] = platform.take("700")
    assert "2027년 신년운세 자세히 보기" in paid.text and "💰 재물" in paid.text and "남은 복채: 0" in paid.text
    assert paid.text.count("월:") >= 12 or paid.text.count("일부터") == 12
    assert await dcore.ledger.balance(aid) == 0 and (await dcore.ledger.reconcile(aid)).ok
    [again] = await dcore.router.handle(ev("/newyear 상세"))
    assert paid.text.startswith(again.text)  # unlocked for the year: free, at once
    [summary] = await dcore.router.handle(ev("/newyear"))
    assert "복채" not in summary.all_buttons()[0].label
    assert await dcore.ledger.balance(aid) == 0


async def test_newyear_detail_undelivered_costs_nothing(dcore: Core) -> None:
    from bot.core.delivery import DeliveryBlocked

    platform = RecordingPlatform.install(dcore)
    await onboard(dcore, "tg:700")
    aid = await account_of(dcore, "tg:700")
    platform.fail(DeliveryBlocked("Forbidden: bot was blocked by the user"))
    await dcore.router.handle(ev("/newyear detailed"))
    assert await dcore.outbox.drain(5)
    assert await dcore.ledger.balance(aid) == 3
    acct = await dcore.ledger.account(aid)
    assert acct["held"] == 0 and (await dcore.ledger.reconcile(aid)).ok
    assert not await dcore.store.redis.exists(K.unlock(aid, "newyear", "2027"))


async def test_newyear_detail_without_credits(dcore: Core) -> None:
    await onboard(dcore, "tg:700", bonus=False)
    [r] = await dcore.router.handle(ev("/newyear detailed"))
    assert r.error == ErrorCode.INSUFFICIENT_CREDITS and "/buy" in r.text


async def test_newyear_bad_argument(dcore: Core) -> None:
    await onboard(dcore, "tg:700")
    [r] = await dcore.router.handle(ev("/newyear 2099"))
    assert r.error == ErrorCode.VALIDATION_ERROR and "/newyear detailed" in r.text


# ---------------------------------------------------------------- the December pointer


async def test_december_push_points_to_newyear_once(dcore: Core) -> None:
    from bot.core.broadcast.message import daily_message

    p = await onboard(dcore, "tg:700")
    day = date(2026, 12, 10)
    first = await daily_message(dcore, p, day, "08:00")
    second = await daily_message(dcore, p, date(2026, 12, 11), "08:00")
    assert "2027년 신년운세가 준비됐어요" in first.text and "/newyear" in first.text
    assert "신년운세" not in second.text
    november = await daily_message(dcore, p, date(2026, 11, 30), "08:00")
    assert "신년운세" not in november.text
    # the marker is in the account's erasure registry
    from bot.core.erasure import erase_account

    await erase_account(dcore, p.uid)
    assert not await dcore.store.redis.exists(K.newyear_hint(p.uid, 2027))


async def test_daily_push_carries_the_days_pillar(dcore: Core) -> None:
    from bot.core.broadcast.message import daily_message

    p = await onboard(dcore, "tg:700")
    msg = await daily_message(dcore, p, date(2026, 11, 30), "08:00")
    assert "오늘의 일진" in msg.text
    [f] = await dcore.router.handle(ev("/fortune"))
    assert "오늘의 일진" in f.text


# ---------------------------------------------------------------- /reading saju


async def test_reading_saju_gives_the_ai_the_chart_not_the_birth_date(
        make_ai_core: Callable[..., Core], oa: FakeAI) -> None:  # noqa: F811
    core = make_ai_core(clock=FixedClock(DEC))
    rec = RecordingPlatform.install(core)
    await onboard(core, "tg:700")
    await with_time(core, "tg:700", "07:30")
    aid = await account_of(core, "tg:700")
    replies = await core.router.handle(ev("/reading saju"))
    assert len(replies) == 1 and replies[0].error is None
    assert await core.outbox.drain(10)
    [answer] = rec.take("700")
    assert answer.text.startswith("🀄 사주 AI 풀이") and "OpenAI 상담 답변" in answer.text
    assert await core.ledger.balance(aid) == 0  # saju_reading = 3, a real answer is charged
    system = oa.requests[0].body["messages"][0]["content"]
    assert "경오(庚午)" in system and "임수(壬水)" in system
    assert "1990" not in system and "05-17" not in system and "07:30" not in system


async def test_reading_saju_fallback_is_free(make_ai_core: Callable[..., Core]) -> None:  # noqa: F811
    core = make_ai_core(openai=False, anthropic=False, clock=FixedClock(DEC))
    rec = RecordingPlatform.install(core)
    await onboard(core, "tg:700")
    aid = await account_of(core, "tg:700")
    await core.router.handle(ev("/reading saju"))
    assert await core.outbox.drain(10)
    [answer] = rec.take("700")
    assert "나의 사주팔자" in answer.text
    assert await core.ledger.balance(aid) == 3 and (await core.ledger.reconcile(aid)).ok
