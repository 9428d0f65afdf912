"""/link, /unlink, /buy off Telegram and invites across platforms, end to end through the router
with "tg" and "dc" events (exactly what the adapters produce); real Redis, fixed clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from collections.abc import AsyncIterator

import pytest

from bot.core.clock import FixedClock
from bot.core.errors import ErrorCode
from bot.core.payments import invoice_payload, record_purchase
from bot.core.reply import Reply
from bot.core.router import Event
from bot.core.service import Core
from bot.core.store import K
from tests.support.factory import make_core, onboard
from tests.support.platform import RecordingPlatform, handle_delivered

pytestmark = pytest.mark.both_backends

T0 = datetime(2025, 1, 6, 1, 0, tzinfo=UTC).timestamp()  # Monday 10:00 KST
CODE_RE = re.compile(r"(\d{4}) (\d{4})")


@pytest.fixture
async def fcore(redis_url: str, tmp_path: Path) -> AsyncIterator[Core]:
    c = make_core(redis_url, tmp_path, clock=FixedClock(T0))
    yield c
    await c.store.close()


async def say(core: Core, identity: str, text: str) -> list[Reply]:
    platform, _, user_id = identity.partition(":")
    return await core.router.handle(Event(platform, user_id, text, chat_id=user_id))


async def code_of(core: Core, identity: str) -> str:
    replies = await say(core, identity, "/link")
    m = CODE_RE.search(replies[0].text)
    assert m, replies[0].text
    assert replies[0].private
    return f"{m.group(1)} {m.group(2)}"


async def test_credits_bought_on_telegram_are_spendable_on_discord(fcore: Core) -> None:
    tg = await onboard(fcore, "tg:100")
    pack = fcore.settings.product.credits.pack("credit_10")
    assert pack is not None
    res = await record_purchase(fcore, tg.uid, "charge-link-1", invoice_payload(pack.id, tg.uid), "XTR",
                                pack.stars)
    assert res.status == "granted"
    bought = await fcore.ledger.balance(tg.uid)
    assert bought == pack.total + fcore.settings.product.credits.welcome_bonus

    code = await code_of(fcore, "tg:100")
    # A Discord identity that was never onboarded is attached at once (nothing to give up).
    done = await say(fcore, "dc:456", f"/link {code}")
    assert done[0].error is None, done[0].text
    assert str(bought) in done[0].text
    assert await fcore.accounts.resolve("dc:456") == tg.uid
    assert await fcore.accounts.identities(tg.uid) == {"tg": "100", "dc": "456"}

    # Spend on Discord: the paid details of /fortune, delivered on Discord, charged on the account.
    replies = await handle_delivered(fcore, Event("dc", "456", "/fortune details", chat_id="456"))
    assert any(r.error is None for r in replies)
    cost = fcore.ledger.cost("fortune_details")
    assert await fcore.ledger.balance(tg.uid) == bought - cost
    assert (await fcore.ledger.reconcile(tg.uid)).ok


async def test_onboarded_discord_identity_is_told_what_it_gives_up_then_confirms(fcore: Core) -> None:
    tg = await onboard(fcore, "tg:1")
    dc = await onboard(fcore, "dc:2")  # with its welcome bonus
    assert dc.uid != tg.uid
    bonus = fcore.settings.product.credits.welcome_bonus
    before = await fcore.ledger.balance(tg.uid)
    code = await code_of(fcore, "tg:1")

    ask = await say(fcore, "dc:2", f"/link {code.replace(' ', '-')}")
    assert ask[0].error is None
    assert f"{bonus}" in ask[0].text and "환영 보너스" in ask[0].text
    commands = [b.command for row in ask[0].buttons for b in row]
    assert commands == ["/link confirm", "/link cancel"]
    # Nothing changed before the confirmation.
    assert await fcore.accounts.resolve("dc:2") == dc.uid

    done = await say(fcore, "dc:2", "/link confirm")
    assert done[0].error is None, done[0].text
    assert await fcore.accounts.resolve("dc:2") == tg.uid
    assert await fcore.ledger.balance(tg.uid) == before  # the Discord bonus was forfeited
    # The old Discord account is erased: no profile, no meta, no mapping to it.
    r = fcore.store.redis
    assert not await r.exists(K.profile(dc.uid), K.account_meta(dc.uid))
    # The welcome marker keeps refusing a second bonus to the Discord identity.
    assert await fcore.ledger.welcome_bonus(tg.uid, "dc:2") is None
    # The code was single use.
    again = await say(fcore, "dc:3", f"/link {code}")
    assert again[0].error is ErrorCode.NOT_FOUND


async def test_streak_and_profile_are_shared_after_link(fcore: Core) -> None:
    tg = await onboard(fcore, "tg:1")
    await say(fcore, "tg:1", "/daily")
    code = await code_of(fcore, "tg:1")
    await say(fcore, "dc:9", f"/link {code}")

    again = await say(fcore, "dc:9", "/daily")  # the same local day, the same streak
    assert "이미 출석" in again[0].text
    assert await fcore.store.redis.hget(K.streak(tg.uid), "total") == "1"
    profile = await say(fcore, "dc:9", "/profile")
    assert "1990-05-17" in profile[0].text
    await say(fcore, "dc:9", "/language en")
    assert (await fcore.profiles.get(tg.uid)).lang == "en"  # type: ignore[union-attr]


async def test_refusals_change_nothing(fcore: Core) -> None:
    tg = await onboard(fcore, "tg:1")
    code = await code_of(fcore, "tg:1")

    bad = await say(fcore, "dc:5", "/link 12ab")
    assert bad[0].error is ErrorCode.VALIDATION_ERROR
    assert "8" in bad[0].text

    # A Discord account that already bought or spent cannot be merged away.
    busy = await onboard(fcore, "dc:6")
    await fcore.ledger.grant(busy.uid, 5, "test grant", "g1")
    refused = await say(fcore, "dc:6", f"/link {code}")
    assert refused[0].error is ErrorCode.FORBIDDEN
    assert await fcore.accounts.resolve("dc:6") == busy.uid

    # One identity per platform: a second Discord identity is refused kindly.
    await say(fcore, "dc:7", f"/link {code}")
    assert await fcore.accounts.resolve("dc:7") == tg.uid
    code2 = await code_of(fcore, "tg:1")
    second = await say(fcore, "dc:8", f"/link {code2}")
    assert second[0].error is ErrorCode.CONFLICT
    assert await fcore.accounts.resolve("dc:8") != tg.uid
    same = await say(fcore, "dc:7", f"/link {code2}")
    assert same[0].error is ErrorCode.CONFLICT


async def test_wrong_guesses_are_rate_limited_per_account(fcore: Core) -> None:
    await onboard(fcore, "tg:1")
    code = await code_of(fcore, "tg:1")
    wrong = "0000 0000" if code != "0000 0000" else "1111 1111"
    limit = fcore.settings.limit("link_guess").limit
    for _ in range(limit):
        out = await say(fcore, "dc:66", f"/link {wrong}")
        assert out[0].error is ErrorCode.NOT_FOUND
    blocked = await say(fcore, "dc:66", f"/link {code}")  # even the right code, now
    assert blocked[0].error is ErrorCode.RATE_LIMITED
    assert await fcore.accounts.resolve("dc:66") != await fcore.accounts.resolve("tg:1")


async def test_unlink_detaches_and_the_identity_starts_fresh_without_a_bonus(
        fcore: Core, redis_url: str, tmp_path: Path) -> None:
    tg = await onboard(fcore, "tg:1")
    other = make_core(redis_url, tmp_path / "p2", clock=FixedClock(T0))  # a second process
    try:
        code = await code_of(fcore, "tg:1")
        await say(fcore, "dc:2", f"/link {code}")
        assert (await say(other, "dc:2", "/credits"))[0].error is None  # caches dc:2 -> tg's account
        assert await other.accounts.lookup("dc:2") == tg.uid

        listing = await say(fcore, "tg:1", "/unlink")
        assert [b.command for row in listing[0].buttons for b in row] == ["/unlink dc", "/unlink tg"]
        typed = await say(fcore, "tg:1", "/unlink dc confirm")  # never without being asked
        assert "확인할 요청" in typed[0].text
        ask = await say(fcore, "tg:1", "/unlink discord")
        assert [b.command for row in ask[0].buttons for b in row] == ["/unlink dc confirm", "/unlink cancel"]
        done = await say(fcore, "tg:1", "/unlink dc confirm")
        assert done[0].error is None, done[0].text
        assert await fcore.accounts.identities(tg.uid) == {"tg": "1"}

        # The other process notices (the meta no longer lists dc:2) and starts it fresh.
        fresh = await say(other, "dc:2", "/credits")
        new_aid = await other.accounts.resolve("dc:2")
        assert new_aid != tg.uid
        assert fresh[0].error is None  # onboarding prompt, not the linked account's balance
        for step in ("/setup lang ko", "/setup terms yes", "/setup share no", "/setup birth 1991-02-03",
                     "/setup time skip"):
            await say(other, "dc:2", step)
        finished = await say(other, "dc:2", "/setup tz Asia/Seoul")
        assert "준비가 끝났어요" in finished[0].text
        assert await other.ledger.balance(new_aid) == 0  # no second welcome bonus

        last = await say(fcore, "tg:1", "/unlink tg")
        assert last[0].error is ErrorCode.FORBIDDEN  # never the last identity
    finally:
        await other.store.close()


async def test_delete_of_a_linked_account_removes_every_identity_mapping(fcore: Core) -> None:
    tg = await onboard(fcore, "tg:1")
    code = await code_of(fcore, "tg:1")
    await say(fcore, "dc:2", f"/link {code}")
    ask = await say(fcore, "dc:2", "/delete")
    assert "디스코드" in ask[0].text and "텔레그램" in ask[0].text
    await say(fcore, "dc:2", "/delete confirm")
    r = fcore.store.redis
    for identity in ("tg:1", "dc:2"):
        assert not await r.exists(K.identity(fcore.accounts.identity_digest(identity)))
    assert not await r.exists(K.account_meta(tg.uid), K.profile(tg.uid))


async def test_invite_made_on_discord_joined_from_telegram(fcore: Core) -> None:
    RecordingPlatform.install(fcore, "tg", username="SoulLabBot")
    inviter = await onboard(fcore, "dc:10", bonus=False)
    invitee = await onboard(fcore, "tg:20", bonus=False)
    out = await say(fcore, "dc:10", "/invite")
    text = out[0].text
    token = re.search(r"/join ([A-Za-z0-9_-]+)", text)
    link = re.search(r"https://t\.me/SoulLabBot\?start=([A-Za-z0-9_-]+)", text)
    assert token and link and token.group(1) == link.group(1)

    paired = await say(fcore, "tg:20", f"/start {link.group(1)}")  # the deep link on Telegram
    assert paired[0].error is None, paired[0].text
    cfg = fcore.settings.product.invites
    assert await fcore.ledger.balance(inviter.uid) == cfg.inviter_reward
    assert await fcore.ledger.balance(invitee.uid) == cfg.invitee_reward
    assert await fcore.store.redis.zscore(K.pairs_of(inviter.uid), invitee.uid) is not None
    assert await fcore.store.redis.zscore(K.pairs_of(invitee.uid), inviter.uid) is not None


async def test_buy_on_discord_says_how_to_top_up(fcore: Core) -> None:
    await onboard(fcore, "dc:30")
    out = await say(fcore, "dc:30", "/buy")
    assert out[0].invoice is None and not out[0].buttons
    assert "/link" in out[0].text and "텔레그램" in out[0].text
    pick = await say(fcore, "dc:30", "/buy credit_10")  # never an invoice off Telegram
    assert pick[0].invoice is None

    tg = await onboard(fcore, "tg:31")
    code = await code_of(fcore, "tg:31")
    await say(fcore, "dc:32", f"/link {code}")
    linked = await say(fcore, "dc:32", "/buy")
    assert linked[0].invoice is None
    assert "텔레그램과 연결되어 있어요" in linked[0].text
    assert (await say(fcore, "tg:31", "/buy credit_10"))[0].invoice is not None
    assert await fcore.accounts.resolve("dc:32") == tg.uid
