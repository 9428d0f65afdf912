"""Accepting and issuing invites as single-slot steps: a crash between any two steps is
harmless and the retry (the durable inbox delivers the update again) completes the pairing
exactly once; erasure finds everything through the registry and leaves no link between the
partners. Real Redis; the "crash" is the first attempt stopped after a step (the service's own
step methods, in the order ``accept`` runs them) and its process (Core) closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.core.accounts import Accounts
from bot.core.clock import FixedClock
from bot.core.erasure import erase_account
from bot.core.errors import BotError, ErrorCode
from bot.core.invites import RECORD_RETENTION_SECONDS, Invites
from bot.core.leaderboard import week_id
from bot.core.reply import Reply
from bot.core.router import Event
from bot.core.service import Core
from bot.core.store import K
from tests.support.factory import make_core, onboard
from tests.support.scan import mentions

T0 = datetime(2025, 1, 6, 1, 0, tzinfo=UTC).timestamp()  # Monday 10:00 KST
pytestmark = pytest.mark.both_backends

DAY = "2025-01-06"
STEPS = ("a", "b", "c")
ACCOUNTING = ("credits:", "ledger:", "idem:", "accounts:all")


@pytest.fixture
async def fcore(redis_url: str, tmp_path: Path) -> AsyncIterator[Core]:
    c = make_core(redis_url, tmp_path, clock=FixedClock(T0))
    yield c
    await c.store.close()


def svc(core: Core) -> Invites:
    return core.invites


async def user(core: Core, identity: str, **kw: Any) -> str:
    aid = await core.accounts.resolve(identity)
    await onboard(core, aid, bonus=False, **kw)
    return aid


class Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Reply]] = []

    async def __call__(self, user_id: str, reply: Reply) -> None:
        self.sent.append((user_id, reply))


async def first_attempt_until(core: Core, token: str, invitee: str, upto: str) -> None:
    """The first accept of ``token`` by ``invitee``, stopped right after step ``upto``."""
    s = svc(core)
    invite = await s.get(s.codec.parse(token).invite_id)
    assert invite is not None
    status, paired_at, _ = await s._claim(invite, invitee, core.clock.now_ms(), DAY)
    assert status == "claimed"
    if upto == "a":
        return
    inviter_profile = await core.profiles.get(invite.inviter)
    assert inviter_profile is not None
    persons = (await s.person(invite.inviter), await s.person(invitee))
    decision = await s._pair(invite, invitee, paired_at, persons, inviter_profile, await core.profiles.get(invitee))
    assert decision.fresh and decision.counted
    if upto == "b":
        return
    await s._settle(invite.inviter, invitee, (decision.inviter, decision.invitee))


async def assert_paired_exactly_once(core: Core, inviter: str, friend: str, invite_id: str) -> None:
    r = core.store.redis
    s = svc(core)
    assert await s.pairs_of(inviter) == [(friend, int(T0 * 1000))]
    assert await s.pairs_of(friend) == [(inviter, int(T0 * 1000))]
    decision = await r.hgetall(K.pair_decision(invite_id))
    assert (decision["counted"], decision["rw_inviter"], decision["rw_invitee"]) == ("1", "1", "1")
    assert "done" in decision
    member = s.leaderboard.member(inviter)
    assert await r.zscore(K.leaderboard_all(), member) == 1
    assert await r.zscore(K.leaderboard_week(week_id(T0)), member) == 1
    [day_counter] = [k async for k in r.scan_iter(match="invite:{pairs}:rewardday:*")]
    assert await r.get(day_counter) == "1"
    assert len([k async for k in r.scan_iter(match="invite:{pairs}:inviteepaid:*")]) == 1
    assert len([k async for k in r.scan_iter(match="invite:{pairs}:seen:*")]) == 1
    for aid, amount in ((inviter, 5), (friend, 3)):
        assert await core.ledger.balance(aid) == amount
        [entry] = await core.ledger.history(aid, 10)
        assert entry.amount == amount and entry.kind == "reward"
        assert (await core.ledger.reconcile(aid)).ok
        assert await r.exists(K.unlock(aid, "fortune_details", DAY))


@pytest.mark.parametrize("upto", STEPS)
async def test_a_crash_after_any_step_is_completed_exactly_once_by_the_retry(redis_url: str, tmp_path: Path,
                                                                             upto: str) -> None:
    first = make_core(redis_url, tmp_path, clock=FixedClock(T0))
    inviter = await user(first, "tg:1")
    friend = await user(first, "tg:2")
    third = await user(first, "tg:3")
    token = (await svc(first).issue(inviter)).token
    invite_id = svc(first).codec.parse(token).invite_id
    await first_attempt_until(first, token, friend, upto)
    await first.store.close()  # the process died here

    second = make_core(redis_url, tmp_path, clock=FixedClock(T0 + 30))  # another process, a bit later
    try:
        with pytest.raises(BotError) as exc:  # the claimed invite is the friend's, crash or not
            await svc(second).accept(third, token)
        assert exc.value.key == "invite.used"
        acc = await svc(second).accept(friend, token)  # the update delivered again
        # the retry completed the pairing: it is the one that tells the inviter
        assert acc.status == "paired" and acc.counted and acc.day == DAY
        assert acc.paid(inviter) == 5 and acc.paid(friend) == 3
        await assert_paired_exactly_once(second, inviter, friend, invite_id)
        again = await asyncio.gather(*(svc(second).accept(friend, token) for _ in range(3)))
        assert all(a.status == "replay" and a.paid(inviter) == a.paid(friend) == 0 for a in again)
        await assert_paired_exactly_once(second, inviter, friend, invite_id)
        assert await second.ledger.balance(third) == 0
    finally:
        await second.store.close()


async def test_after_a_crash_the_redelivered_join_notifies_the_inviter_once(fcore: Core) -> None:
    outbox = Outbox()
    fcore.register_sender("tg", outbox)
    inviter = await user(fcore, "tg:1", lang="en")
    friend = await user(fcore, "tg:2")
    token = (await svc(fcore).issue(inviter)).token
    await first_attempt_until(fcore, token, friend, "b")  # claimed and decided, then the crash
    assert outbox.sent == []
    for _ in range(2):  # delivered again, then tapped once more
        [reply] = await fcore.router.handle(Event("tg", "2", f"/join {token}", chat_id="2"))
        assert reply.error is None and "궁합 점수" in reply.text
    [(to, note)] = outbox.sent
    assert to == "1" and "5 credits" in note.text
    await assert_paired_exactly_once(fcore, inviter, friend, svc(fcore).codec.parse(token).invite_id)


# --- issuing ---------------------------------------------------------------------------------

async def test_a_retried_reissue_answers_with_the_same_replacement(fcore: Core) -> None:
    inviter = await user(fcore, "tg:1")
    old = await svc(fcore).issue(inviter)
    _, new = await svc(fcore).reissue(inviter, old.token)
    _, again = await svc(fcore).reissue(inviter, old.token)  # the same /invite new, delivered again
    assert again.id == new.id and again.token == new.token
    assert [i.status for i in await svc(fcore).list_for(inviter)] == ["pending", "revoked"]


async def test_a_reissue_whose_old_invite_was_accepted_meanwhile_withdraws_the_new_one(fcore: Core) -> None:
    inviter = await user(fcore, "tg:1")
    friend = await user(fcore, "tg:2")
    old = await svc(fcore).issue(inviter)
    new = await svc(fcore).issue(inviter)  # steps 2-4 of a reissue of ``old`` ...
    await svc(fcore).accept(friend, old.token)  # ... and the old invite is accepted meanwhile
    with pytest.raises(BotError) as exc:
        await svc(fcore)._revoke(inviter, old.id, new.id, fcore.clock.now_ms())  # step 5
    assert exc.value.code is ErrorCode.CONFLICT
    assert await svc(fcore).get(new.id) is None
    assert [i.id for i in await svc(fcore).list_for(inviter)] == [old.id]
    assert (await svc(fcore).get(old.id)).status == "paired"  # type: ignore[union-attr]


async def test_an_issue_that_crashed_before_listing_leaves_an_expiring_orphan_erasure_still_finds(
        fcore: Core) -> None:
    inviter = await user(fcore, "tg:1")
    s = svc(fcore)
    invite_id = s.codec.new_id()
    now = fcore.clock.now_ms()
    exp = now // 1000 + s.cfg.ttl_seconds
    record_ttl = s.cfg.ttl_seconds + RECORD_RETENTION_SECONDS
    # steps 2 and 3 of ``issue``, then the crash
    await fcore.accounts.track(inviter, [Accounts.key_entry(K.invite(invite_id))], now + record_ttl * 1000)
    await fcore.store.scripts["invite_issue"](keys=[K.invite(invite_id)],
                                              args=[inviter, s.codec.make(invite_id, exp), now, exp * 1000,
                                                    record_ttl])
    r = fcore.store.redis
    assert await s.list_for(inviter) == []  # never shown, never listed
    assert 0 < await r.ttl(K.invite(invite_id)) <= record_ttl  # and it expires by itself
    await s.erase(inviter)
    assert await r.exists(K.invite(invite_id)) == 0  # found through the registry, no SCAN


async def test_an_issue_after_redis_lost_its_scripts_is_registered_listed_and_accepted(fcore: Core) -> None:
    inviter = await user(fcore, "tg:1")
    friend = await user(fcore, "tg:2")
    r = fcore.store.redis
    await r.script_flush()  # a restarted Redis: every script of the batch answers NOSCRIPT first
    invite = await svc(fcore).issue(inviter)
    assert [i.id for i in await svc(fcore).list_for(inviter)] == [invite.id]
    expiry = fcore.clock.now_ms() + (svc(fcore).cfg.ttl_seconds + RECORD_RETENTION_SECONDS) * 1000
    assert await r.zscore(K.account_registry(inviter), Accounts.key_entry(K.invite(invite.id))) == expiry
    assert (await svc(fcore).accept(friend, invite.token)).status == "paired"


# --- erasure ---------------------------------------------------------------------------------

async def test_erasing_the_invitee_removes_it_from_the_invite_and_every_partner_key(fcore: Core) -> None:
    inviter = await user(fcore, "tg:1", lang="en")
    friend = await user(fcore, "tg:2")
    invite = await svc(fcore).issue(inviter)
    await svc(fcore).accept(friend, invite.token)
    back = await svc(fcore).issue(friend)  # and the friend invited the inviter back
    await svc(fcore).accept(inviter, back.token)
    await erase_account(fcore, friend)
    r = fcore.store.redis
    record = await r.hgetall(K.invite(invite.id))
    assert record["status"] == "paired" and "invitee" not in record  # the inviter's record stays
    assert await r.exists(K.invite(back.id)) == 0  # the friend's own invite is gone
    assert await svc(fcore).pairs_of(inviter) == []
    left = await mentions(fcore, friend)
    assert [k for k in left if not k.startswith(ACCOUNTING)] == [], left
    assert K.account_registry(inviter) not in left and K.pairs_of(inviter) not in left
    [status] = await fcore.router.handle(Event("tg", "1", "/invite status", chat_id="1"))
    assert "Compatibility friends: 0" in status.text


async def test_a_lost_claim_race_never_lets_erasure_touch_the_winners_invite(fcore: Core) -> None:
    inviter = await user(fcore, "tg:1")
    winner = await user(fcore, "tg:2")
    loser = await user(fcore, "tg:3")
    invite = await svc(fcore).issue(inviter)
    # the loser's registry entry, written before its claim lost the race
    await fcore.accounts.track(loser, [Accounts.field_entry(K.invite(invite.id), "invitee")])
    await svc(fcore).accept(winner, invite.token)
    await erase_account(fcore, loser)
    assert await fcore.store.redis.hget(K.invite(invite.id), "invitee") == winner
    assert (await svc(fcore).accept(winner, invite.token)).status == "replay"


async def test_erasure_is_idempotent_and_needs_no_scan(fcore: Core) -> None:
    inviter = await user(fcore, "tg:1")
    friends = [await user(fcore, f"tg:{10 + i}") for i in range(3)]
    for f in friends:
        await svc(fcore).accept(f, (await svc(fcore).issue(inviter)).token)
    r = fcore.store.redis
    await r.config_resetstat()  # the server counts every command from here
    await erase_account(fcore, inviter)
    await svc(fcore).erase(inviter)  # a second run (after a crash) changes nothing
    stats = await r.info("commandstats")
    assert not any(name.startswith(("cmdstat_scan", "cmdstat_keys")) for name in stats), sorted(stats)
    assert "cmdstat_zrem" in stats
    for f in friends:
        assert await svc(fcore).pairs_of(f) == []
    assert await r.zcard(K.leaderboard_all()) == 0
    left = await mentions(fcore, inviter)
    assert [k for k in left if not k.startswith(ACCOUNTING)] == [], left
