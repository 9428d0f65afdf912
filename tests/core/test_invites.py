"""Invites against a real Redis: tokens, single-use pairing under concurrency, rewards once per
pair ever, expiry, reissue, erasure."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, UTC
from pathlib import Path
from collections.abc import AsyncIterator

import pytest

from bot.core.clock import FixedClock
from bot.core.errors import BotError, ErrorCode
from bot.core.invites import RECORD_RETENTION_SECONDS, TOKEN_LEN, Acceptance, Invites, TokenCodec, accept_from_http, http_landing
from bot.core.service import Core
from bot.core.store import K
from tests.support.factory import make_core, onboard_account as onboard

# Monday 2025-01-06 10:00 Asia/Seoul
T0 = datetime(2025, 1, 6, 1, 0, tzinfo=UTC).timestamp()
pytestmark = pytest.mark.both_backends

INVITER = "tg:100"
FRIEND = "tg:200"


@pytest.fixture
async def fcore(redis_url: str, tmp_path: Path) -> AsyncIterator[Core]:
    c = make_core(redis_url, tmp_path, clock=FixedClock(T0))
    yield c
    await c.store.close()


def svc(core: Core) -> Invites:
    return core.invites


async def _pair_setup(core: Core) -> str:
    await onboard(core, INVITER, bonus=False)
    await onboard(core, FRIEND, bonus=False)
    inv = await svc(core).issue(INVITER)
    return inv.token


# --- tokens --------------------------------------------------------------------------------

def test_token_is_a_valid_telegram_start_payload() -> None:
    codec = TokenCodec(b"secret")
    for _ in range(200):
        token = codec.make(codec.new_id(), int(T0) + 86400)
        assert len(token) == TOKEN_LEN <= 64
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
        parsed = codec.parse(token)
        assert parsed.exp == int(T0) + 86400 and parsed.token == token


def test_every_single_character_change_is_rejected() -> None:
    codec = TokenCodec(b"secret")
    token = codec.make(codec.new_id(), int(T0) + 86400)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for i in range(len(token)):
        for ch in alphabet:
            if ch == token[i]:
                continue
            altered = token[:i] + ch + token[i + 1:]
            with pytest.raises(BotError) as exc:
                codec.parse(altered)
            assert exc.value.code is ErrorCode.VALIDATION_ERROR


@pytest.mark.parametrize("bad", ["", "abc", "x" * TOKEN_LEN, "x" * 200, "한글" * 17, "../../etc/passwd",
                                 "A" * (TOKEN_LEN - 1), "A" * (TOKEN_LEN + 1), "$" * TOKEN_LEN])
def test_garbage_tokens_are_validation_errors(bad: str) -> None:
    with pytest.raises(BotError) as exc:
        TokenCodec(b"secret").parse(bad)
    assert exc.value.code is ErrorCode.VALIDATION_ERROR


def test_token_from_another_secret_is_rejected() -> None:
    other = TokenCodec(b"other-secret")
    token = other.make(other.new_id(), int(T0) + 86400)
    with pytest.raises(BotError):
        TokenCodec(b"secret").parse(token)
    assert len(token[:-1]) == TOKEN_LEN - 1
    with pytest.raises(BotError):  # truncated
        other.parse(token[:-1])


async def test_tampered_token_is_rejected_and_changes_nothing(fcore: Core) -> None:
    token = await _pair_setup(fcore)
    flipped = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    with pytest.raises(BotError) as exc:
        await svc(fcore).accept(FRIEND, flipped)
    assert exc.value.code is ErrorCode.VALIDATION_ERROR
    assert await fcore.ledger.balance(FRIEND) == 0
    assert (await svc(fcore).list_for(INVITER))[0].status == "pending"


# --- pairing -------------------------------------------------------------------------------

async def test_pairing_pays_both_sides_and_records_the_pair(fcore: Core) -> None:
    token = await _pair_setup(fcore)
    acc = await svc(fcore).accept(FRIEND, token)
    assert acc.status == "paired" and acc.counted
    assert acc.paid(INVITER) == 5 and acc.paid(FRIEND) == 3
    assert await fcore.ledger.balance(INVITER) == 5
    assert await fcore.ledger.balance(FRIEND) == 3
    for uid in (INVITER, FRIEND):
        [entry] = await fcore.ledger.history(uid)
        assert entry.kind == "reward"
        assert (await fcore.ledger.reconcile(uid)).ok
    r = fcore.store.redis
    inv_id = svc(fcore).codec.parse(token).invite_id
    invite = await r.hgetall(K.invite(inv_id))
    assert invite["inviter"] == INVITER and invite["invitee"] == FRIEND and invite["status"] == "paired"
    decision = await r.hgetall(K.pair_decision(inv_id))
    assert (decision["counted"], decision["rw_inviter"], decision["rw_invitee"]) == ("1", "1", "1")
    assert "done" in decision and 0 < await r.ttl(K.pair_decision(inv_id))
    assert await svc(fcore).is_paired(FRIEND, INVITER) and await svc(fcore).is_paired(INVITER, FRIEND)
    assert [u for u, _ in await svc(fcore).pairs_of(INVITER)] == [FRIEND]
    assert [u for u, _ in await svc(fcore).pairs_of(FRIEND)] == [INVITER]
    # today's fortune details are unlocked for both, until after the local day
    for uid in (INVITER, FRIEND):
        key = K.unlock(uid, "fortune_details", "2025-01-06")
        assert await r.exists(key)
        ttl = await r.ttl(key)
        assert 0 < ttl <= 15 * 3600  # 10:00 KST -> midnight is 14 h, plus one hour of slack
    # one reward idempotency record per side, kept forever, sharing no identifier
    [inviter_idem] = [k async for k in r.scan_iter(match=f"idem:{{{INVITER}}}:pair-reward:*")]
    [friend_idem] = [k async for k in r.scan_iter(match=f"idem:{{{FRIEND}}}:pair-reward:*")]
    assert await r.ttl(inviter_idem) == -1 and await r.ttl(friend_idem) == -1
    assert inviter_idem.rsplit(":", 1)[1] != friend_idem.rsplit(":", 1)[1]
    for uid, other in ((INVITER, FRIEND), (FRIEND, INVITER)):
        [entry] = await fcore.ledger.history(uid)
        assert other not in entry.reason and inv_id not in entry.reason


async def test_fifty_concurrent_accepts_pair_exactly_one(fcore: Core) -> None:
    await onboard(fcore, INVITER, bonus=False)
    users = [f"tg:{1000 + i}" for i in range(50)]
    await asyncio.gather(*(onboard(fcore, u, bonus=False) for u in users))
    token = (await svc(fcore).issue(INVITER)).token

    async def accept(uid: str) -> Acceptance | BotError:
        try:
            return await svc(fcore).accept(uid, token)
        except BotError as err:
            return err

    results = await asyncio.gather(*(accept(u) for u in users))
    paired = [r for r in results if isinstance(r, Acceptance)]
    refused = [r for r in results if isinstance(r, BotError)]
    assert len(paired) == 1 and paired[0].status == "paired"
    assert len(refused) == 49
    assert all(e.code is ErrorCode.CONFLICT and e.key == "invite.used" for e in refused)
    winner = paired[0].invitee
    assert await fcore.ledger.balance(INVITER) == 5
    for u in users:
        assert await fcore.ledger.balance(u) == (3 if u == winner else 0)
        assert len(await fcore.ledger.history(u, 10)) == (1 if u == winner else 0)
        assert (await fcore.ledger.reconcile(u)).ok
    assert (await fcore.ledger.reconcile(INVITER)).ok
    assert len(await fcore.ledger.history(INVITER, 10)) == 1
    assert await fcore.ledger.reconcile_all() == []
    assert await svc(fcore).pair_count(INVITER) == 1
    assert await fcore.store.redis.zscore(K.leaderboard_all(), svc(fcore).leaderboard.member(INVITER)) == 1


async def test_self_accept_does_nothing(fcore: Core) -> None:
    token = await _pair_setup(fcore)
    acc = await svc(fcore).accept(INVITER, token)
    assert acc.status == "self"
    assert await fcore.ledger.balance(INVITER) == 0
    assert (await svc(fcore).list_for(INVITER))[0].status == "pending"
    assert await svc(fcore).pair_count(INVITER) == 0
    # the invite still works for a friend afterwards
    assert (await svc(fcore).accept(FRIEND, token)).status == "paired"


async def test_replayed_pairing_pays_once(fcore: Core) -> None:
    token = await _pair_setup(fcore)
    first = await svc(fcore).accept(FRIEND, token)
    again = await asyncio.gather(*(svc(fcore).accept(FRIEND, token) for _ in range(5)))
    assert first.status == "paired"
    assert all(a.status == "replay" and a.paid(FRIEND) == 0 and a.paid(INVITER) == 0 for a in again)
    assert await fcore.ledger.balance(INVITER) == 5
    assert await fcore.ledger.balance(FRIEND) == 3
    assert len(await fcore.ledger.history(FRIEND, 10)) == 1
    assert (await fcore.ledger.reconcile(FRIEND)).ok


async def test_a_pair_is_rewarded_once_ever_even_with_new_invites_either_way(fcore: Core) -> None:
    token = await _pair_setup(fcore)
    await svc(fcore).accept(FRIEND, token)
    back = await svc(fcore).issue(FRIEND)  # the friend invites the inviter back
    acc = await svc(fcore).accept(INVITER, back.token)
    assert acc.status == "paired" and not acc.counted
    assert acc.paid(INVITER) == 0 and acc.paid(FRIEND) == 0
    assert await fcore.ledger.balance(INVITER) == 5
    assert await fcore.ledger.balance(FRIEND) == 3
    lb = svc(fcore).leaderboard
    assert await fcore.store.redis.zscore(K.leaderboard_all(), lb.member(FRIEND)) is None


async def test_third_person_gets_already_used(fcore: Core) -> None:
    token = await _pair_setup(fcore)
    await onboard(fcore, "tg:300", bonus=False)
    await svc(fcore).accept(FRIEND, token)
    with pytest.raises(BotError) as exc:
        await svc(fcore).accept("tg:300", token)
    assert exc.value.code is ErrorCode.CONFLICT and exc.value.key == "invite.used"
    assert await fcore.ledger.balance("tg:300") == 0


async def test_invite_expires_after_24h(fcore: Core) -> None:
    token = await _pair_setup(fcore)
    assert isinstance(fcore.clock, FixedClock)
    fcore.clock.advance(86400 + 1)
    with pytest.raises(BotError) as exc:
        await svc(fcore).accept(FRIEND, token)
    assert exc.value.key == "invite.expired"
    assert (await svc(fcore).list_for(INVITER))[0].state(fcore.clock.now_ms()) == "expired"
    assert await fcore.ledger.balance(FRIEND) == 0


async def test_invite_still_valid_just_before_24h(fcore: Core) -> None:
    token = await _pair_setup(fcore)
    fcore.clock.advance(86400 - 1)  # type: ignore[attr-defined]
    assert (await svc(fcore).accept(FRIEND, token)).status == "paired"


async def test_expired_invite_is_told_even_after_its_record_is_gone(fcore: Core) -> None:
    token = await _pair_setup(fcore)
    invite_id = svc(fcore).codec.parse(token).invite_id
    await fcore.store.redis.delete(K.invite(invite_id))
    fcore.clock.advance(86401)  # type: ignore[attr-defined]
    with pytest.raises(BotError) as exc:
        await svc(fcore).accept(FRIEND, token)
    assert exc.value.key == "invite.expired"


async def test_reissue_by_someone_else_is_forbidden(fcore: Core) -> None:
    token = await _pair_setup(fcore)
    with pytest.raises(BotError) as exc:
        await svc(fcore).reissue(FRIEND, token)
    assert exc.value.code is ErrorCode.FORBIDDEN
    assert (await svc(fcore).list_for(INVITER))[0].status == "pending"


async def test_reissue_revokes_the_old_token(fcore: Core) -> None:
    token = await _pair_setup(fcore)
    old, new = await svc(fcore).reissue(INVITER, token)
    assert old.token == token and new.token != token
    with pytest.raises(BotError) as exc:
        await svc(fcore).accept(FRIEND, token)
    assert exc.value.key == "invite.revoked"
    assert (await svc(fcore).accept(FRIEND, new.token)).status == "paired"
    states = [i.status for i in await svc(fcore).list_for(INVITER)]
    assert states == ["paired", "revoked"]


async def test_reissue_without_token_uses_latest_pending_and_only_while_pending(fcore: Core) -> None:
    token = await _pair_setup(fcore)
    with pytest.raises(BotError) as exc:
        await svc(fcore).reissue(FRIEND)
    assert exc.value.code is ErrorCode.NOT_FOUND  # the friend has no invite of their own
    _old, new = await svc(fcore).reissue(INVITER)
    await svc(fcore).accept(FRIEND, new.token)
    with pytest.raises(BotError) as exc:
        await svc(fcore).reissue(INVITER, new.token)
    assert exc.value.code is ErrorCode.CONFLICT
    with pytest.raises(BotError) as exc:
        await svc(fcore).reissue(INVITER, token)  # revoked
    assert exc.value.code is ErrorCode.CONFLICT


async def test_invite_of_a_deleted_inviter_is_not_found(fcore: Core) -> None:
    token = await _pair_setup(fcore)
    for eraser in fcore.erasers:
        await eraser(INVITER)
    await fcore.profiles.delete(INVITER)
    with pytest.raises(BotError) as exc:
        await svc(fcore).accept(FRIEND, token)
    assert exc.value.code is ErrorCode.NOT_FOUND


async def test_erase_removes_invites_pairs_and_board_entries(fcore: Core) -> None:
    token = await _pair_setup(fcore)
    await svc(fcore).accept(FRIEND, token)
    await svc(fcore).issue(INVITER)
    r = fcore.store.redis
    await svc(fcore).erase(INVITER)
    assert await r.exists(K.invites_of(INVITER)) == 0
    assert await r.exists(K.pairs_of(INVITER)) == 0
    assert await svc(fcore).pairs_of(FRIEND) == []
    assert not await svc(fcore).is_paired(FRIEND, INVITER)
    assert await r.exists(K.invite(svc(fcore).codec.parse(token).invite_id)) == 0
    member = svc(fcore).leaderboard.member(INVITER)
    assert await r.zscore(K.leaderboard_all(), member) is None
    keep = ("idem:", "credits:", "ledger:", "profile:", "ratelimit:", "unlock:", "acct:")
    leftovers = [k async for k in r.scan_iter(match="*") if INVITER in k and not k.startswith(keep)]
    assert leftovers == []
    # the friend's registry no longer names the erased account's zset
    assert not [e for e in await fcore.accounts.registry(FRIEND) if INVITER in e]
    # the pair stays "seen" (persons, keyed): a new pairing after deletion is neither paid nor ranked again
    persons = [await svc(fcore).person(u) for u in (INVITER, FRIEND)]
    assert await r.exists(K.pair_seen(svc(fcore).pair_digest(*persons)))


async def test_http_landing_and_accept_are_limited_per_client_address(fcore: Core) -> None:
    token = await _pair_setup(fcore)
    await fcore.limiter.set_limit("invite_ip", 3, 3600)
    assert (await http_landing(fcore, token, "203.0.113.7"))["state"] == "pending"
    assert (await http_landing(fcore, "garbage", "203.0.113.7"))["state"] == "invalid"
    replies = await accept_from_http(fcore, token, "203.0.113.7", FRIEND)
    assert "궁합" in replies[0].text
    with pytest.raises(BotError) as exc:
        await accept_from_http(fcore, token, "203.0.113.7", FRIEND)
    assert exc.value.code is ErrorCode.RATE_LIMITED
    # another address is not affected; the replay pays nothing
    again = await accept_from_http(fcore, token, "198.51.100.1", FRIEND)
    assert again and await fcore.ledger.balance(FRIEND) == 3


async def test_history_forgets_invites_whose_records_expired(fcore: Core) -> None:
    await onboard(fcore, INVITER, bonus=False)
    first = await svc(fcore).issue(INVITER)
    fcore.clock.advance(86400 + RECORD_RETENTION_SECONDS + 1)  # type: ignore[attr-defined]
    second = await svc(fcore).issue(INVITER)
    ids = await fcore.store.redis.zrange(K.invites_of(INVITER), 0, -1)
    assert ids == [second.id] and first.id not in ids


# --- referral reward caps (atomic, in pair_decide.lua) ---------------------------------------

async def test_concurrent_accepts_never_pass_the_inviters_daily_cap(fcore: Core) -> None:
    await onboard(fcore, INVITER, bonus=False)
    friends = [f"tg:{2000 + i}" for i in range(20)]
    await asyncio.gather(*(onboard(fcore, u, bonus=False) for u in friends))
    invites = [await svc(fcore).issue(INVITER) for _ in friends]
    results = await asyncio.gather(*(svc(fcore).accept(u, inv.token) for u, inv in zip(friends, invites)))
    assert all(a.status == "paired" and a.counted for a in results)
    paid = [a for a in results if a.paid(INVITER) == 5]
    capped = [a for a in results if a.inviter_capped]
    assert len(paid) == 5 and len(capped) == 15
    assert all(a.paid(INVITER) == 0 for a in capped)
    assert await fcore.ledger.balance(INVITER) == 25
    assert len(await fcore.ledger.history(INVITER, 50)) == 5
    for u in friends:  # every invitee still gets their own once-ever reward
        assert await fcore.ledger.balance(u) == 3
    assert await fcore.ledger.reconcile_all() == []
    assert await svc(fcore).pair_count(INVITER) == 20
    # a replay repeats the recorded decision: a capped pairing never pays later
    again = await svc(fcore).accept(capped[0].invitee, invites[friends.index(capped[0].invitee)].token)
    assert again.status == "replay" and again.inviter_capped and again.paid(INVITER) == 0
    assert await fcore.ledger.balance(INVITER) == 25


async def test_concurrent_invites_to_one_person_pay_the_invitee_once(fcore: Core) -> None:
    inviters = [f"tg:{3000 + i}" for i in range(10)]
    await asyncio.gather(*(onboard(fcore, u, bonus=False) for u in [*inviters, FRIEND]))
    tokens = [(await svc(fcore).issue(u)).token for u in inviters]
    results = await asyncio.gather(*(svc(fcore).accept(FRIEND, t) for t in tokens))
    assert all(a.status == "paired" for a in results)
    assert sum(a.paid(FRIEND) for a in results) == 3
    assert sum(1 for a in results if a.invitee_rewarded_before) == 9
    assert await fcore.ledger.balance(FRIEND) == 3
    for u in inviters:  # each inviter made a brand-new pair and is paid
        assert await fcore.ledger.balance(u) == 5
    assert await fcore.ledger.reconcile_all() == []


async def test_reward_markers_hold_no_raw_user_ids(fcore: Core) -> None:
    token = await _pair_setup(fcore)
    await svc(fcore).accept(FRIEND, token)
    keys = [k async for k in fcore.store.redis.scan_iter(match="invite:{pairs}:*")]
    markers = [k for k in keys if k.startswith(("invite:{pairs}:inviteepaid:", "invite:{pairs}:rewardday:"))]
    assert len(markers) == 2
    assert all(INVITER not in k and FRIEND not in k for k in keys)
    day_key = next(k for k in markers if k.startswith("invite:{pairs}:rewardday:"))
    assert 0 < await fcore.store.redis.ttl(day_key) <= 2 * 86400
    assert await fcore.store.redis.ttl(next(k for k in markers if k.startswith("invite:{pairs}:inviteepaid:"))) == -1


async def test_a_zero_daily_cap_pays_no_inviter_rewards(redis_url: str, tmp_path: Path) -> None:
    core = make_core(redis_url, tmp_path, clock=FixedClock(T0), REFERRAL_REWARDS_PER_DAY=0)
    try:
        token = await _pair_setup(core)
        acc = await svc(core).accept(FRIEND, token)
        assert acc.status == "paired" and acc.inviter_capped
        assert await core.ledger.balance(INVITER) == 0 and await core.ledger.balance(FRIEND) == 3
    finally:
        await core.store.close()


async def test_changing_time_zone_does_not_open_a_fresh_day_of_rewards(fcore: Core) -> None:
    """The cap's day is the service's day: an inviter hopping time zones earns no more."""
    cap = fcore.settings.product.invites.referral_rewards_per_day
    inviter = "tg:9100"
    await onboard(fcore, inviter, bonus=False)
    paid = 0
    for i, tz in enumerate(["Asia/Seoul", "Pacific/Kiritimati", "Etc/GMT+12"] * 3):
        profile = await fcore.profiles.get(inviter)
        assert profile is not None
        await fcore.profiles.update(profile, tz=tz)
        friend = f"tg:{9200 + i}"
        await onboard(fcore, friend, bonus=False)
        before = await fcore.ledger.balance(inviter)
        token = (await fcore.invites.issue(inviter)).token
        await fcore.invites.accept(friend, token)
        paid += int(await fcore.ledger.balance(inviter) > before)
    assert paid == cap
