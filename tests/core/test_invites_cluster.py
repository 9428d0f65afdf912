"""Invites, pairing, rewards and the leaderboard on a real 3-master Redis Cluster, end to end
through the router: every step is one hash slot (the v1 accept script touched nine keys in
several slots and failed with CROSSSLOT here), and /delete of one partner leaves nothing that
links it to the other."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from redis.crc import key_slot

from bot.core.clock import FixedClock
from bot.core.errors import ErrorCode
from bot.core.invites import Invites
from bot.core.reply import Reply
from bot.core.router import Event
from bot.core.service import Core
from bot.core.store import K
from tests.support.factory import make_core, onboard
from tests.support.redis_cluster import RedisCluster3
from tests.support.scan import mentions

T0 = datetime(2025, 1, 6, 1, 0, tzinfo=UTC).timestamp()  # Monday 10:00 KST
CODE_RE = re.compile(r"/join ([A-Za-z0-9_-]+)")
#: What erasure keeps of an account on purpose: its anonymous accounting (credits, ledger,
#: checkpoint, idempotency records, and the index reconcile walks), under the opaque id nothing
#: maps to any more (bot.core.erasure).
ACCOUNTING = ("credits:", "ledger:", "idem:", "accounts:all")


@pytest.fixture
async def ccore(redis_cluster: RedisCluster3, tmp_path: Path) -> AsyncIterator[Core]:
    redis_cluster.flushall()
    core = make_core(redis_cluster.url, tmp_path, clock=FixedClock(T0))
    await core.store.redis.initialize()  # reads the slot map now
    yield core
    await core.store.close()


class Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Reply]] = []

    async def __call__(self, user_id: str, reply: Reply) -> None:
        self.sent.append((user_id, reply))


async def user(core: Core, identity: str, **kw: Any) -> str:
    aid = await core.accounts.resolve(identity)
    await onboard(core, aid, bonus=False, **kw)
    return aid


async def say(core: Core, identity: str, text: str) -> Reply:
    platform, _, user_id = identity.partition(":")
    replies = await core.router.handle(Event(platform, user_id, text, chat_id=user_id))
    assert len(replies) == 1, replies
    return replies[0]


def token_in(reply: Reply) -> str:
    m = CODE_RE.search(reply.text)
    assert m, reply.text
    return m.group(1)


async def test_pairing_end_to_end_on_a_cluster_then_one_partner_is_erased(ccore: Core) -> None:
    outbox = Outbox()
    ccore.register_sender("tg", outbox)
    a1 = await user(ccore, "tg:1", lang="en")
    a2 = await user(ccore, "tg:2")
    invites: Invites = ccore.invites

    first = await say(ccore, "tg:1", "/invite")
    assert first.error is None
    renewed = await say(ccore, "tg:1", "/invite new")  # the reissue path: revoke in its own slot
    assert renewed.error is None and "no longer works" in renewed.text
    token = token_in(renewed)
    stale = await say(ccore, "tg:2", f"/join {token_in(first)}")
    assert stale.error is ErrorCode.NOT_FOUND

    # the keys of one pairing really are spread over slots: one script over all would be CROSSSLOT
    invite_id = invites.codec.parse(token).invite_id
    slots = {key_slot(k.encode()) for k in (K.invite(invite_id), K.pair_decision(invite_id),
                                            K.pairs_of(a1), K.pairs_of(a2))}
    assert len(slots) == 4

    joined = await say(ccore, "tg:2", f"/join {token}")
    assert joined.error is None and "궁합 점수" in joined.text and "복채 3개" in joined.text
    [(to, note)] = outbox.sent
    assert to == "1" and "accepted your invite" in note.text and "5 credits" in note.text
    assert await ccore.ledger.balance(a1) == 5 and await ccore.ledger.balance(a2) == 3
    assert await invites.is_paired(a1, a2) and await invites.is_paired(a2, a1)
    assert await ccore.store.redis.zscore(K.leaderboard_all(), invites.leaderboard.member(a1)) == 1
    again = await say(ccore, "tg:2", f"/join {token}")
    assert again.error is None and "이미" in again.text and len(outbox.sent) == 1
    assert await ccore.ledger.balance(a2) == 3

    top = await say(ccore, "tg:1", "/top")
    assert top.error is None and "1." in top.text
    daily = await say(ccore, "tg:1", "/daily")
    assert daily.error is None
    status = await say(ccore, "tg:1", "/invite status")
    assert status.error is None and "Compatibility friends: 1" in status.text
    for uid in (a1, a2):
        assert (await ccore.ledger.reconcile(uid)).ok

    # the inviter deletes everything: nothing may link the account to its partner any more
    await say(ccore, "tg:1", "/delete")
    done = await say(ccore, "tg:1", "/delete confirm")
    assert done.error is None
    r = ccore.store.redis
    assert await r.zcard(K.pairs_of(a2)) == 0 and not await invites.is_paired(a2, a1)
    assert await r.zcard(K.leaderboard_all()) == 0
    left = await mentions(ccore, a1)
    assert [k for k in left if not k.startswith(ACCOUNTING)] == [], left
    # the partner's side names nothing of a1: their pairs, registry, and every {pairs} key
    pairs_family = [k async for k in r.scan_iter(match="*{pairs}*")]
    assert pairs_family  # the keyed markers stay (pair counted, invitee rewarded, day cap)
    assert not {*pairs_family, K.pairs_of(a2), K.account_registry(a2)} & set(left)
    # the two ledgers share no identifier: each side's reward key is its own
    idem1 = {k.rsplit(":", 1)[1] async for k in r.scan_iter(match=f"idem:{{{a1}}}:pair-reward:*")}
    idem2 = {k.rsplit(":", 1)[1] async for k in r.scan_iter(match=f"idem:{{{a2}}}:pair-reward:*")}
    assert len(idem1) == len(idem2) == 1 and not idem1 & idem2
