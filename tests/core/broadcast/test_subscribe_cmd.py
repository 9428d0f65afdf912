"""/subscribe and /unsubscribe through the router; /delete erases the subscription."""

from __future__ import annotations

import pytest

from pathlib import Path

from bot.core.clock import FixedClock
from bot.core.errors import ErrorCode
from bot.core.router import Event
from bot.core.service import Core
from bot.core.store import K
from tests.core.broadcast.conftest import utc
from tests.support.factory import make_core, onboard

pytestmark = pytest.mark.both_backends

IDENTITY = "tg:501"


async def account(core: Core) -> str:
    """The account the router resolves user 501 to."""
    return await core.accounts.resolve(IDENTITY)


async def say(core: Core, text: str, user: str = "501") -> str:
    [reply] = await core.router.handle(Event("tg", user, text))
    assert reply.error is None, reply.text
    return reply.text


async def state(core: Core) -> tuple[str | None, float | None]:
    r, uid = core.store.redis, await account(core)
    return await r.hget(K.broadcast_subs(), uid), await r.zscore(K.broadcast_due(), uid)


async def test_subscribe_default_custom_and_unsubscribe(redis_url: str, tmp_path: Path) -> None:
    clock = FixedClock(utc(2025, 6, 14, 22, 0))  # 07:00 in Seoul
    core = make_core(redis_url, tmp_path, clock=clock)
    try:
        await onboard(core, await account(core))
        text = await say(core, "/subscribe")
        assert "08:00" in text and "Asia/Seoul" in text and "오늘 08:00" in text
        assert await state(core) == ("08:00|tg", utc(2025, 6, 14, 23, 0))
        text = await say(core, "/subscribe")  # already subscribed: keep the chosen time
        assert "이미" in text
        text = await say(core, "/subscribe 6:30")  # earlier than now: first one tomorrow
        assert "내일 06:30" in text
        assert await state(core) == ("06:30|tg", utc(2025, 6, 15, 21, 30))
        assert "/unsubscribe" in [b.command for b in (await core.router.handle(Event("tg", "501", "/subscribe")))[0].all_buttons()]
        assert "멈췄어요" in await say(core, "/unsubscribe")
        assert await state(core) == (None, None)
        assert "받고 있지 않아요" in await say(core, "/unsubscribe")
    finally:
        await core.store.close()


async def test_bad_time_is_a_validation_error_and_changes_nothing(redis_url: str, tmp_path: Path) -> None:
    core = make_core(redis_url, tmp_path, clock=FixedClock(utc(2025, 6, 14, 22, 0)))
    try:
        await onboard(core, await account(core), lang="en")
        await say(core, "/subscribe 07:15")
        before = await state(core)
        for bad in ("/subscribe 25:00", "/subscribe 7:61", "/subscribe tomorrow", "/subscribe 07:15:00"):
            [reply] = await core.router.handle(Event("tg", "501", bad))
            assert reply.error is ErrorCode.VALIDATION_ERROR
            assert "HH:MM" in reply.text and "Usage" in reply.text
        assert await state(core) == before
    finally:
        await core.store.close()


async def test_unsubscribe_without_profile_and_delete_erases(redis_url: str, tmp_path: Path) -> None:
    core = make_core(redis_url, tmp_path, clock=FixedClock(utc(2025, 6, 14, 22, 0)))
    try:
        # No profile: /unsubscribe answers without sending the user through onboarding.
        assert "not subscribed" in (await core.router.handle(Event("tg", "999", "/unsubscribe", lang_hint="en")))[0].text
        await onboard(core, await account(core))
        await say(core, "/subscribe 09:00")
        await core.store.redis.hset(K.broadcast_marks(), await account(core), "2025-06-15:S")
        await say(core, "/delete")
        await say(core, "/delete confirm")
        assert await state(core) == (None, None)
        assert await core.store.redis.hget(K.broadcast_marks(), await account(core)) is None
    finally:
        await core.store.close()


async def test_unsubscribe_keeps_todays_marker_only(redis_url: str, tmp_path: Path) -> None:
    core = make_core(redis_url, tmp_path, clock=FixedClock(utc(2025, 6, 15, 0, 0)))  # 09:00 KST 06-15
    try:
        await onboard(core, await account(core))
        r = core.store.redis
        await say(core, "/subscribe 08:00")
        await r.hset(K.broadcast_marks(), await account(core), "2025-06-15:S")  # today's fortune already went out
        await say(core, "/unsubscribe")
        assert await r.hget(K.broadcast_marks(), await account(core)) == "2025-06-15:S"  # so re-subscribing can't double it
        await say(core, "/subscribe 08:00")
        await r.hset(K.broadcast_marks(), await account(core), "2025-06-14:S")
        await say(core, "/unsubscribe")
        assert await r.hget(K.broadcast_marks(), await account(core)) is None
    finally:
        await core.store.close()


async def test_help_lists_the_commands(core: Core) -> None:
    [reply] = await core.router.handle(Event("tg", "1", "/help", lang_hint="en"))
    assert "/subscribe [HH:MM]" in reply.text and "/unsubscribe" in reply.text
