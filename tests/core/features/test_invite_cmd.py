"""/invite, /join, /daily and /top end to end through the router (real Redis, fixed clock)."""

from __future__ import annotations

import re
from datetime import date, datetime, UTC
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator

import pytest

from bot.core.clock import FixedClock
from bot.core.errors import ErrorCode
from bot.core.platforms import PlatformLink
from bot.core.reply import Reply
from bot.core.router import Event
from bot.core.service import Core
from bot.core.store import K
from tests.support.factory import make_core, onboard

T0 = datetime(2025, 1, 6, 1, 0, tzinfo=UTC).timestamp()  # Monday 10:00 KST
LINK_RE = re.compile(r"https://t\.me/SoulLabBot\?start=([A-Za-z0-9_-]{1,64})")
CODE_RE = re.compile(r"/join ([A-Za-z0-9_-]+)")


@pytest.fixture
async def fcore(redis_url: str, tmp_path: Path) -> AsyncIterator[Core]:
    c = make_core(redis_url, tmp_path, clock=FixedClock(T0))
    yield c
    await c.store.close()


class Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Reply]] = []

    async def __call__(self, user_id: str, reply: Reply) -> None:
        self.sent.append((user_id, reply))


async def say(core: Core, uid: str, text: str, lang: str | None = None) -> list[Reply]:
    platform, _, user_id = uid.partition(":")
    return await core.router.handle(Event(platform, user_id, text, chat_id=user_id, lang_hint=lang,
                                          display_name=f"name-{user_id}"))


async def user(core: Core, identity: str, *, bonus: bool = False, **kw: Any) -> str:
    """The account of ``identity`` (as the router resolves it), onboarded through the services."""
    aid = await core.accounts.resolve(identity)
    await onboard(core, aid, bonus=False, **kw)
    if bonus:
        await core.ledger.welcome_bonus(aid, identity)
    return aid


async def balance(core: Core, identity: str) -> int:
    return await core.ledger.balance(await core.accounts.resolve(identity))


def token_of(replies: list[Reply]) -> str:
    text = "\n".join(r.text for r in replies)
    m = LINK_RE.search(text) or CODE_RE.search(text)
    assert m, text
    return m.group(1)


async def test_invite_and_join_end_to_end(fcore: Core) -> None:
    outbox = Outbox()
    fcore.register_platform(PlatformLink("tg", outbox, username="SoulLabBot"))
    a1 = await user(fcore, "tg:1", lang="en", birth=date(1990, 5, 17))
    a2 = await user(fcore, "tg:2", lang="ko", birth=date(1992, 8, 1))
    await user(fcore, "tg:3")

    [inv] = await say(fcore, "tg:1", "/invite")
    assert inv.error is None
    token = token_of([inv])
    assert f"https://t.me/SoulLabBot?start={token}" in inv.text
    assert f"/join {token}" in inv.text
    assert any(b.url and b.url.startswith("https://t.me/share/url?") for b in inv.all_buttons())

    [joined] = await say(fcore, "tg:2", f"/join {token}")
    assert joined.error is None and joined.private
    assert "궁합 점수" in joined.text and "복채 3개" in joined.text
    assert [b.command for b in joined.all_buttons()] == [f"/reading pair {a1}"]
    # the inviter is told on their own platform, in their own language
    [(to, note)] = outbox.sent
    assert to == "1" and "accepted your invite" in note.text and "5 credits" in note.text
    assert [b.command for b in note.all_buttons()] == [f"/reading pair {a2}"]
    assert await balance(fcore, "tg:1") == 5 and await balance(fcore, "tg:2") == 3
    assert await fcore.invites.is_paired(a1, a2) and await fcore.invites.is_paired(a2, a1)

    # repeated taps: told they are already paired, nothing paid twice, no second notification
    [again] = await say(fcore, "tg:2", f"/join {token}")
    assert again.error is None and "이미" in again.text
    assert await balance(fcore, "tg:2") == 3 and len(outbox.sent) == 1

    # a third person
    [third] = await say(fcore, "tg:3", f"/join {token}")
    assert third.error is ErrorCode.CONFLICT and "이미" in third.text

    # the deep link of an onboarded user goes straight to /join
    [self_] = await say(fcore, "tg:1", f"/start {token}")
    assert self_.error is None and "own invite" in self_.text

    [status] = await say(fcore, "tg:1", "/invite status")
    assert "paired with" in status.text and "Compatibility friends: 1" in status.text
    assert "tg:2" not in status.text and a2 not in status.text


async def test_join_through_onboarding_then_pairs(fcore: Core) -> None:
    await user(fcore, "tg:1")
    token = token_of(await say(fcore, "tg:1", "/invite"))
    newcomer = "tg:9"
    replies = await say(fcore, newcomer, f"/start {token}", lang="ko")
    assert any(b.command == "/setup lang ko" for r in replies for b in r.all_buttons())
    for step in ("/setup lang ko", "/setup terms yes", "/setup share yes", "1995-04-17", "/setup time skip"):
        await say(fcore, newcomer, step)
    done = await say(fcore, newcomer, "/setup tz Asia/Seoul")
    text = "\n".join(r.text for r in done)
    assert "궁합 점수" in text, text
    assert await balance(fcore, newcomer) == 3 + fcore.settings.product.credits.welcome_bonus
    assert await balance(fcore, "tg:1") == 5
    [status] = await say(fcore, "tg:1", "/invite status")
    assert "연결됨: name-9님" in status.text  # the display name the friend agreed to share


async def test_join_without_consent_asks_and_keeps_the_join(fcore: Core) -> None:
    await user(fcore, "tg:1")
    await user(fcore, "tg:2", share=False)
    token = token_of(await say(fcore, "tg:1", "/invite"))
    [ask] = await say(fcore, "tg:2", f"/join {token}")
    assert ask.error is None
    [button] = ask.all_buttons()
    assert button.command == f"/join {token} share"
    assert await balance(fcore, "tg:2") == 0
    # giving consent elsewhere and sending a bare /join continues the remembered invite
    await say(fcore, "tg:2", "/consent share")
    [joined] = await say(fcore, "tg:2", "/join")
    assert "궁합 점수" in joined.text
    [tap] = await say(fcore, "tg:2", button.command)  # a late tap of the old button pays nothing
    assert "이미" in tap.text and await balance(fcore, "tg:2") == 3


async def test_consent_button_gives_consent_and_joins(fcore: Core) -> None:
    await user(fcore, "tg:1")
    await user(fcore, "tg:2", share=False)
    token = token_of(await say(fcore, "tg:1", "/invite"))
    [ask] = await say(fcore, "tg:2", f"/join {token}")
    [joined] = await say(fcore, "tg:2", ask.all_buttons()[0].command)
    assert "궁합 점수" in joined.text
    profile = await fcore.profiles.get(await fcore.accounts.resolve("tg:2"))
    assert profile is not None and profile.can_share


async def test_invite_needs_sharing_consent(fcore: Core) -> None:
    a1 = await user(fcore, "tg:1", share=False)
    [reply] = await say(fcore, "tg:1", "/invite")
    assert [b.command for b in reply.all_buttons()] == ["/consent share"]
    assert await fcore.store.redis.exists(K.invites_of(a1)) == 0


async def test_console_and_missing_username_show_the_code(fcore: Core) -> None:
    await user(fcore, "cli:local")
    await user(fcore, "tg:1")
    for uid in ("cli:local", "tg:1"):  # no telegram_username registered
        [reply] = await say(fcore, uid, "/invite")
        assert "t.me" not in reply.text
        assert CODE_RE.search(reply.text)


async def test_bad_tokens_and_forbidden_reissue(fcore: Core) -> None:
    await user(fcore, "tg:1", lang="en")
    await user(fcore, "tg:2")
    token = token_of(await say(fcore, "tg:1", "/invite"))
    for bad in ("/join garbage", f"/join {token[:-3]}", f"/join {token[:-1]}{'A' if token[-1] != 'A' else 'B'}"):
        [r] = await say(fcore, "tg:2", bad)
        assert r.error is ErrorCode.VALIDATION_ERROR and "초대 코드" in r.text
    [forbidden] = await say(fcore, "tg:2", f"/invite new {token}")
    assert forbidden.error is ErrorCode.FORBIDDEN
    [renewed] = await say(fcore, "tg:1", "/invite new")
    assert renewed.error is None and "no longer works" in renewed.text
    new_token = token_of([renewed])
    [old] = await say(fcore, "tg:2", f"/join {token}")
    assert old.error is ErrorCode.NOT_FOUND and "새 링크" in old.text
    [ok] = await say(fcore, "tg:2", f"/join {new_token}")
    assert ok.error is None and "궁합 점수" in ok.text
    [usage] = await say(fcore, "tg:1", "/invite bogus")
    assert usage.error is ErrorCode.VALIDATION_ERROR


async def test_expired_invite_through_the_router(fcore: Core) -> None:
    await user(fcore, "tg:1")
    await user(fcore, "tg:2", lang="en")
    token = token_of(await say(fcore, "tg:1", "/invite"))
    fcore.clock.advance(86401)  # type: ignore[attr-defined]
    [r] = await say(fcore, "tg:2", f"/join {token}")
    assert "expired" in r.text
    [status] = await say(fcore, "tg:1", "/invite status")
    assert "기간이 지났어요" in status.text


async def test_daily_and_top_through_the_router(fcore: Core) -> None:
    await user(fcore, "tg:1")
    await user(fcore, "tg:2", lang="en")
    [first] = await say(fcore, "tg:1", "/daily")
    assert "첫 출석" in first.text and "3일째" in first.text
    [same] = await say(fcore, "tg:1", "/daily")
    assert "이미 출석" in same.text
    token = token_of(await say(fcore, "tg:1", "/invite"))
    await say(fcore, "tg:2", f"/join {token}")
    [top] = await say(fcore, "tg:1", "/top")
    assert "1." in top.text and "← 나" in top.text and "1위" in top.text
    assert "tg:1" not in top.text and "name-1" not in top.text
    assert await fcore.accounts.resolve("tg:1") not in top.text
    [top_en] = await say(fcore, "tg:2", "/top")
    assert "not yet" in top_en.text
    [help_] = await say(fcore, "tg:2", "/help")
    assert "/invite" in help_.text and "/daily" in help_.text and "/top" in help_.text


async def test_delete_erases_invites_streak_and_board(fcore: Core) -> None:
    a1 = await user(fcore, "tg:1")
    a2 = await user(fcore, "tg:2")
    token = token_of(await say(fcore, "tg:1", "/invite"))
    await say(fcore, "tg:2", f"/join {token}")
    await say(fcore, "tg:1", "/daily")
    await say(fcore, "tg:1", "/delete")
    [done] = await say(fcore, "tg:1", "/delete confirm")
    assert done.error is None
    r = fcore.store.redis
    for key in (K.streak(a1), K.invites_of(a1), K.pairs_of(a1), K.account_registry(a1)):
        assert await r.exists(key) == 0, key
    assert await r.zcard(K.leaderboard_all()) == 0
    assert await r.zcard(K.pairs_of(a2)) == 0
    assert not await fcore.invites.is_paired(a2, a1)


# --- referral reward caps --------------------------------------------------------------------

async def _invite_and_join(core: Core, inviter: str, friend: str) -> Reply:
    token = token_of(await say(core, inviter, "/invite"))
    [joined] = await say(core, friend, f"/join {token}")
    assert joined.error is None, joined.text
    return joined


async def test_sixth_pairing_of_a_day_pays_the_inviter_nothing_and_says_so(fcore: Core) -> None:
    outbox = Outbox()
    fcore.register_sender("tg", outbox)
    await user(fcore, "tg:1", lang="en")
    friends = [f"tg:{10 + i}" for i in range(7)]
    for f in friends:
        await user(fcore, f)
    for f in friends[:5]:
        await _invite_and_join(fcore, "tg:1", f)
    assert await balance(fcore, "tg:1") == 25
    assert all("5 credits" in note.text for _, note in outbox.sent)

    sixth = await _invite_and_join(fcore, "tg:1", friends[5])
    # the pairing itself stands: compatibility for both, the invitee still gets their own reward
    assert "궁합 점수" in sixth.text and "복채 3개" in sixth.text
    a1, a6 = [await fcore.accounts.resolve(u) for u in ("tg:1", friends[5])]
    assert await fcore.invites.is_paired(a1, a6)
    assert await balance(fcore, friends[5]) == 3
    # the inviter is paid nothing and told kindly
    assert await balance(fcore, "tg:1") == 25
    _, note = outbox.sent[-1]
    assert "accepted your invite" in note.text and "compatibility" in note.text.lower()
    assert "today's limit of 5 invite rewards" in note.text and "tomorrow" in note.text
    assert "5 credits" not in note.text
    assert (await fcore.ledger.reconcile(a1)).ok
    # the leaderboard still counts the real pairing
    lb = fcore.leaderboard
    assert await fcore.store.redis.zscore(K.leaderboard_all(), lb.member(a1)) == 6

    # the inviter's next local day pays again
    assert isinstance(fcore.clock, FixedClock)
    fcore.clock.advance(86400)
    await _invite_and_join(fcore, "tg:1", friends[6])
    assert await balance(fcore, "tg:1") == 30
    assert "5 credits" in outbox.sent[-1][1].text


async def test_the_cap_message_in_korean(fcore: Core) -> None:
    outbox = Outbox()
    fcore.register_sender("tg", outbox)
    await user(fcore, "tg:1", lang="ko")
    for i in range(6):
        await user(fcore, f"tg:{20 + i}")
        await _invite_and_join(fcore, "tg:1", f"tg:{20 + i}")
    _, note = outbox.sent[-1]
    assert "오늘은 초대 보상을 이미 5번" in note.text and "내일" in note.text


async def test_an_invitee_is_rewarded_once_ever_whoever_invites_them(fcore: Core) -> None:
    outbox = Outbox()
    fcore.register_sender("tg", outbox)
    for uid in ("tg:1", "tg:2", "tg:3"):
        await user(fcore, uid, lang="en")
    await _invite_and_join(fcore, "tg:1", "tg:3")
    assert await balance(fcore, "tg:3") == 3
    # a second inviter: a new pair, so the inviter is paid; the invitee is not paid again
    second = await _invite_and_join(fcore, "tg:2", "tg:3")
    assert await balance(fcore, "tg:2") == 5
    assert await balance(fcore, "tg:3") == 3
    assert "once per person" in second.text and "compatibility" in second.text
    assert (await fcore.ledger.reconcile(await fcore.accounts.resolve("tg:3"))).ok


async def test_an_invitee_gets_no_second_reward_after_delete_and_onboarding_again(fcore: Core) -> None:
    for uid in ("tg:1", "tg:2", "tg:3"):
        await user(fcore, uid)
    await _invite_and_join(fcore, "tg:1", "tg:3")
    assert await balance(fcore, "tg:3") == 3
    await say(fcore, "tg:3", "/delete")
    [done] = await say(fcore, "tg:3", "/delete confirm")
    assert done.error is None
    assert await balance(fcore, "tg:3") == 0
    await user(fcore, "tg:3")
    again = await _invite_and_join(fcore, "tg:2", "tg:3")
    assert await balance(fcore, "tg:3") == 0
    assert "한 번만" in again.text
    assert await balance(fcore, "tg:2") == 5
    # and the same pair as before (re-paired after the delete) pays neither side again
    await _invite_and_join(fcore, "tg:1", "tg:3")
    assert await balance(fcore, "tg:1") == 5 and await balance(fcore, "tg:3") == 0
