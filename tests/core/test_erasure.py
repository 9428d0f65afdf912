"""/delete leaves no trace: a user who used every feature is erased, then every key and every
value in Redis is read back and searched for their platform id, name and birth data, and for
anything linking the erased account to the friend they paired with. Runs on standalone Redis
and on a 3-master cluster (where each key is read from the node that owns it)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.core import payments
from bot.core.payments import invoice_payload
from bot.core.router import Event
from bot.core.service import Core
from bot.core.store import K
from tests.core.ai.conftest import ai_core, an, make_ai_core, oa  # noqa: F401  (fixtures)
from tests.fakes.ai_servers import FakeAI
from tests.support.platform import RecordingPlatform

pytestmark = pytest.mark.both_backends

USER_ID = "7319466"
NAME = "Zyxwvut Qoph"
BIRTH = ("1987-06-29", "07:45")
FRIEND_ID = "5550199"
# Every way the birth date could be written down.
BIRTH_FORMS = ("1987-06-29", "19870629", "1987/06/29", "1987.06.29", "06-29-1987", "29/06/1987", "07:45")
LINK_RE = re.compile(r"/join ([A-Za-z0-9_-]+)")


async def say(core: Core, user_id: str, text: str, name: str) -> list[Any]:
    return await core.router.handle(Event("tg", user_id, text, chat_id=user_id, display_name=name))


async def onboard_by_text(core: Core, user_id: str, name: str, birth: str, time: str) -> None:
    for line in ["/start", "/setup lang ko", "/setup terms yes", "/setup share yes", birth,
                 f"/setup time {time}", "Asia/Seoul"]:
        await say(core, user_id, line, name)


async def dump(core: Core) -> dict[str, str]:
    """Every key -> its whole value as text (strings, hashes, lists, sets, zsets, streams)."""
    r = core.store.redis
    out: dict[str, str] = {}
    async for key in r.scan_iter(count=1000):
        kind = await r.type(key)
        if kind == "string":
            value: Any = await r.get(key)
        elif kind == "hash":
            value = await r.hgetall(key)
        elif kind == "list":
            value = await r.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(await r.smembers(key))
        elif kind == "zset":
            value = await r.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            value = await r.xrange(key)
        else:
            value = kind
        out[key] = str(value)
    return out


async def test_erasure_after_every_feature_leaves_no_trace(ai_core: Core, oa: FakeAI) -> None:  # noqa: F811
    core = ai_core
    rec = RecordingPlatform.install(core)
    await onboard_by_text(core, USER_ID, NAME, *BIRTH)
    await onboard_by_text(core, FRIEND_ID, "Friend", "1991-02-03", "skip")
    aid = await core.accounts.resolve(f"tg:{USER_ID}")
    friend = await core.accounts.resolve(f"tg:{FRIEND_ID}")
    assert (await core.profiles.get(aid)).onboarded  # type: ignore[union-attr]

    # Pair both ways round: the user invites the friend, and accepts the friend's invite too.
    invite = "\n".join(r.text for r in await say(core, USER_ID, "/invite", NAME))
    token = LINK_RE.search(invite).group(1)  # type: ignore[union-attr]
    joined = await say(core, FRIEND_ID, f"/join {token}", "Friend")
    assert joined[0].error is None, joined
    await say(core, USER_ID, "/invite", NAME)  # one more invite, left pending
    # Buy, ask (paid, answered through the outbox), read fortunes, subscribe, check in.
    pay = await payments.record_purchase(core, aid, "ch-erasure-1", invoice_payload("credit_10", aid), "XTR", 50)
    assert pay.status == "granted"
    for line in ["/fortune", "/tarot three 이직해도 될까요", "/ask 요즘 마음이 복잡해요", "/subscribe 08:30",
                 "/daily", "/credits", "/profile", "/top"]:
        replies = await say(core, USER_ID, line, NAME)
        assert all(r.error is None for r in replies), (line, replies)
    assert await core.outbox.drain(10)
    assert rec.to(USER_ID), "the paid answer was delivered"
    assert await core.ledger.reconcile(aid)

    before = await dump(core)
    assert USER_ID in before[K.account_meta(aid)]  # the identity is stored, in one place
    assert any(aid in v for k, v in before.items() if k.startswith("pairs:")), "paired before erasure"

    ask = await say(core, USER_ID, "/delete", NAME)
    assert USER_ID in ask[0].text  # the confirmation names the identity it erases
    done = await say(core, USER_ID, "/delete confirm", NAME)
    assert done[0].error is None and "지웠어요" in done[0].text

    after = await dump(core)
    needles = (USER_ID, NAME, *BIRTH_FORMS)
    leaks = {k: v[:200] for k, v in after.items() for n in needles if n in k or n in v}
    assert not leaks, leaks
    # Nothing links the erased account to the friend: the only keys still naming the erased
    # account id are its own anonymous accounting and the payment record, and none of them
    # names the friend; nothing of the friend's names the erased account.
    naming = {k for k, v in after.items() if aid in k or aid in v}
    allowed = (K.account(aid), K.ledger(aid), K.ledger_checkpoint(aid), K.accounts_index(),
               K.payment("ch-erasure-1"), K.welcome_marker(core.ledger.person_marker(f"tg:{USER_ID}")))
    stray = {k for k in naming if k not in allowed and not k.startswith((f"idem:{{{aid}}}", f"hold:{{{aid}}}"))}
    assert not stray, {k: after[k][:200] for k in stray}
    linked = {k: after[k][:300] for k in naming - {K.accounts_index()}  # the index of every account
              if friend in after[k] or FRIEND_ID in after[k]}
    assert not linked, linked
    assert all(aid not in v for k, v in after.items() if friend in k), "the friend's data names the erased account"
    # The anonymous ledger still reconciles, and the person can start again from nothing.
    assert (await core.ledger.reconcile(aid)).ok
    assert await core.accounts.lookup(f"tg:{USER_ID}") is None
    again = await say(core, USER_ID, "/credits", NAME)
    assert again and (await core.accounts.lookup(f"tg:{USER_ID}")) not in (None, aid)
