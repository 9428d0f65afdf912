"""Paid answers asked in a Discord server come back where they were asked, ephemerally (the
interaction's follow-up, ``Event.reply_to``), and are never charged when not delivered."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.core.reply import Reply
from tests.handlers.discord.conftest import DC
from tests.support.factory import onboard

pytestmark = pytest.mark.both_backends

EPHEMERAL = 64


async def _paid_job(dc: DC, user: int, *, reply_to: str, job: str) -> tuple[str, int]:
    """A paid answer waiting in the outbox for ``reply_to`` (the way /fortune details makes one);
    returns (account id, balance before)."""
    aid = await dc.core.accounts.resolve(f"dc:{user}")
    before = (await dc.core.ledger.account(aid))["balance"]
    hold = await dc.core.ledger.hold(aid, 3, "test paid answer", f"test:{job}")
    await dc.core.outbox.enqueue(job, "details", aid, platform="dc", lang="ko", hold=hold,
                                 reply=Reply("오늘의 상세 운세예요", private=True), data={"day": "2026-01-01"},
                                 origin=str(dc.guild.channel_id), reply_to=reply_to)
    return aid, before


async def _answered_in_guild(dc: DC, user: int) -> tuple[int, str, int]:
    """A guild interaction that was deferred privately and answered: (its id, its token, the
    number of messages its answer took — a long fortune is split in two)."""
    inter = await dc.slash("fortune", user=user, guild=True)
    await dc.fake.wait_messages(inter.id, 1)
    # The interaction is finished only once its inbox entry is gone: until then the adapter may
    # still be sending, and a failure the test injects next could hit its send instead.
    deadline = time.monotonic() + 10
    while await dc.core.inboxes["dc"].pending() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    return inter.id, inter.token, len(dc.fake.interaction_messages(inter.id))


async def test_paid_details_pressed_in_a_guild_arrive_privately_there_charged_once(dc: DC) -> None:
    user = dc.fake.user().id
    await onboard(dc.core, f"dc:{user}")
    aid = await dc.core.accounts.resolve(f"dc:{user}")
    before = (await dc.core.ledger.account(aid))["balance"]
    inter = await dc.slash("fortune", user=user, guild=True)
    [msg] = await dc.fake.wait_messages(inter.id, 1)
    press = await dc.press(msg, "/fortune details", user=user, guild=True)
    note, details = await dc.fake.wait_messages(press.id, 2, timeout=10)
    assert press.response == {"type": 5, "data": {"flags": EPHEMERAL}}
    assert "본인만" in note["content"] and note["flags"] & EPHEMERAL
    assert "복채" in details["content"] and details["flags"] & EPHEMERAL
    assert await dc.core.outbox.drain(30)
    assert (await dc.core.ledger.account(aid))["balance"] == before - dc.core.ledger.cost("fortune_details")
    assert dc.fake.dms_to(user) == [] and dc.fake.messages_to(dc.guild.channel_id) == []
    assert (await dc.core.ledger.reconcile(aid)).ok


async def test_a_rejected_followup_is_not_charged(dc: DC) -> None:
    user = dc.fake.user().id
    await onboard(dc.core, f"dc:{user}")
    iid, token, answered = await _answered_in_guild(dc, user)
    dc.fake.fail_next("POST", f"/webhooks/{dc.fake.app_id}/{token}", status=400, code=50035,
                      message="Invalid Form Body")
    aid, before = await _paid_job(dc, user, reply_to=f"ix:{dc.fake.app_id}:{int(time.time() * 1000)}:{token}",
                                  job="rejected")
    assert await dc.core.outbox.drain(30)
    assert await dc.core.outbox.state("rejected") == "failed"
    account = await dc.core.ledger.account(aid)
    assert account["balance"] == before and account["held"] == 0  # never charged
    assert len(dc.fake.interaction_messages(iid)) == answered and dc.fake.dms_to(user) == []


async def test_an_expired_interaction_answer_goes_by_dm_and_is_charged_once(dc: DC) -> None:
    user = dc.fake.user().id
    await onboard(dc.core, f"dc:{user}")
    iid, token, _answered = await _answered_in_guild(dc, user)
    dc.fake.expire_interaction(iid)  # Discord forgot the token: the follow-up gets 10015
    aid, before = await _paid_job(dc, user, reply_to=f"ix:{dc.fake.app_id}:{int(time.time() * 1000)}:{token}",
                                  job="expired")
    assert await dc.core.outbox.drain(30)
    assert await dc.core.outbox.state("expired") == "delivered"
    assert [m["content"] for m in dc.fake.dms_to(user)] == ["오늘의 상세 운세예요"]
    assert (await dc.core.ledger.account(aid))["balance"] == before - 3
    assert (await dc.core.ledger.reconcile(aid)).ok


async def test_a_token_past_its_lifetime_with_dms_closed_releases_the_hold(dc: DC) -> None:
    user = dc.fake.user().id
    await onboard(dc.core, f"dc:{user}")
    iid, token, answered = await _answered_in_guild(dc, user)
    dc.fake.close_dms(user)
    issued = int((time.time() - 15 * 60) * 1000)  # older than the 15 minutes Discord keeps a token
    aid, before = await _paid_job(dc, user, reply_to=f"ix:{dc.fake.app_id}:{issued}:{token}", job="closed")
    assert await dc.core.outbox.drain(30)
    assert await dc.core.outbox.state("closed") == "failed"
    account = await dc.core.ledger.account(aid)
    assert account["balance"] == before and account["held"] == 0  # not delivered: not charged
    assert len(dc.fake.interaction_messages(iid)) == answered  # the old token was not used
    # Told kindly in the channel where it was asked (no credits used).
    [pointer] = await dc.fake.wait_channel_messages(dc.guild.channel_id, 1)
    assert "복채는 차감되지 않았어요" in pointer["content"]
