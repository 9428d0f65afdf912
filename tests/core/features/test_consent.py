"""/consent end to end through the router: giving, withdrawing, and what a withdrawal stops
(pair readings, the partner's compatibility and name, joining the withdrawn user's invite)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.core.clock import FixedClock
from bot.core.errors import ErrorCode
from bot.core.invites import partner_shares
from bot.core.reply import Reply
from bot.core.router import Event
from bot.core.service import Core
from tests.support.factory import make_core, onboard

T0 = datetime(2025, 1, 6, 1, 0, tzinfo=UTC).timestamp()  # Monday 10:00 KST
CODE_RE = re.compile(r"/join ([A-Za-z0-9_-]+)")


@pytest.fixture
async def fcore(redis_url: str, tmp_path: Path) -> AsyncIterator[Core]:
    c = make_core(redis_url, tmp_path, clock=FixedClock(T0))
    yield c
    await c.store.close()


async def say(core: Core, uid: str, text: str) -> Reply:
    platform, _, user_id = uid.partition(":")
    replies = await core.router.handle(Event(platform, user_id, text, chat_id=user_id))
    assert len(replies) == 1, replies
    return replies[0]


async def user(core: Core, identity: str, *, bonus: bool = False, **kw: Any) -> str:
    """The account of ``identity`` (as the router resolves it), onboarded through the services."""
    aid = await core.accounts.resolve(identity)
    await onboard(core, aid, bonus=False, **kw)
    if bonus:
        await core.ledger.welcome_bonus(aid, identity)
    return aid


async def paired(core: Core, inviter: str, invitee: str) -> None:
    """Pair two onboarded users (platform identities) through the real /invite and /join."""
    invite = await say(core, inviter, "/invite")
    m = CODE_RE.search(invite.text)
    assert m, invite.text
    joined = await say(core, invitee, f"/join {m.group(1)}")
    a, b = [await core.accounts.resolve(u) for u in (inviter, invitee)]
    assert joined.error is None and await core.invites.is_paired(a, b)


async def test_consent_can_be_withdrawn_shown_and_given_again(fcore: Core) -> None:
    await user(fcore, "tg:1")
    await user(fcore, "tg:2", lang="en")
    status = await say(fcore, "tg:1", "/consent")
    assert "동의한 상태" in status.text and [b.command for b in status.all_buttons()] == ["/consent off"]
    off = await say(fcore, "tg:1", "/consent off")
    assert off.error is None and "철회했어요" in off.text and "/consent share" in off.text
    a1 = await fcore.accounts.resolve("tg:1")
    assert not await partner_shares(fcore, a1)
    again = await say(fcore, "tg:1", "/consent 철회")  # the Korean word does the same
    assert again.error is None and "꺼져 있어요" in again.text
    status = await say(fcore, "tg:1", "/consent")
    assert [b.command for b in status.all_buttons()] == ["/consent share"]
    profile_view = await say(fcore, "tg:1", "/profile")
    assert [b.command for b in profile_view.all_buttons()] == ["/consent share"]
    given = await say(fcore, "tg:1", "/consent share")
    assert given.error is None and await partner_shares(fcore, a1)
    profile_view = await say(fcore, "tg:1", "/profile")
    assert [b.command for b in profile_view.all_buttons()] == ["/consent off"]
    # English, and bad input: a clear usage message, nothing changed.
    off_en = await say(fcore, "tg:2", "/consent off")
    assert "withdrawn your sharing consent" in off_en.text
    bad = await say(fcore, "tg:2", "/consent maybe")
    assert bad.error is ErrorCode.VALIDATION_ERROR and "/consent off" in bad.text
    assert not await partner_shares(fcore, await fcore.accounts.resolve("tg:2")) and await partner_shares(fcore, a1)
    assert not await partner_shares(fcore, "tg:404")  # nobody: shares nothing


async def test_a_partner_who_withdrew_stops_pair_readings_before_any_charge(fcore: Core) -> None:
    a1 = await user(fcore, "tg:1", bonus=True)
    a2 = await user(fcore, "tg:2", bonus=True)
    await paired(fcore, "tg:1", "tg:2")
    await say(fcore, "tg:2", "/consent off")
    balance = await fcore.ledger.balance(a1)
    history = await fcore.ledger.history(a1, 50)
    refused = await say(fcore, "tg:1", f"/reading pair {a2}")  # the pairing reply's button
    assert refused.error is ErrorCode.FORBIDDEN and "공유를 쉬고" in refused.text
    assert await fcore.ledger.balance(a1) == balance
    assert await fcore.ledger.history(a1, 50) == history  # no hold was even taken
    assert (await fcore.ledger.account(a1))["held"] == 0
    # The one who withdrew may still read their partner (who still shares).
    mine = await say(fcore, "tg:2", f"/reading pair {a1}")
    assert mine.error is None
    # Consent given again: the partner's readings work again.
    await say(fcore, "tg:2", "/consent share")
    back = await say(fcore, "tg:1", f"/reading pair {a2}")
    assert back.error is None
    assert await fcore.ledger.reconcile_all() == []


async def test_a_withdrawn_user_shows_no_name_or_compatibility_and_their_invites_wait(fcore: Core) -> None:
    a1 = await user(fcore, "tg:1")
    a2 = await user(fcore, "tg:2")
    a3 = await user(fcore, "tg:3")
    for n, aid in ((1, a1), (2, a2)):
        profile = await fcore.profiles.get(aid)
        assert profile is not None
        await fcore.profiles.update(profile, display_name=f"Star{n}")
    await paired(fcore, "tg:1", "tg:2")
    status = await say(fcore, "tg:1", "/invite status")
    assert "Star2" in status.text
    await say(fcore, "tg:2", "/consent off")
    status = await say(fcore, "tg:1", "/invite status")
    assert "Star2" not in status.text
    # The inviter withdraws with an invite still out: nobody can join it meanwhile.
    invite = await say(fcore, "tg:1", "/invite")
    m = CODE_RE.search(invite.text)
    assert m
    await say(fcore, "tg:1", "/consent off")
    refused = await say(fcore, "tg:3", f"/join {m.group(1)}")
    assert refused.error is ErrorCode.FORBIDDEN and "공유를 쉬고" in refused.text
    assert not await fcore.invites.is_paired(a1, a3)
    assert await fcore.ledger.balance(a3) == 0 and await fcore.ledger.balance(a1) == 5
    # Sharing back on: the invite (still within its day) works, and shows the compatibility.
    await say(fcore, "tg:1", "/consent share")
    joined = await say(fcore, "tg:3", f"/join {m.group(1)}")
    assert joined.error is None and "궁합 점수" in joined.text and "Star1" in joined.text
