"""The Discord adapter end to end: the real discord.py against the fake Discord, real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.errors import ServiceUnavailable
from tests.fakes.ai_servers import FakeAI
from tests.fakes.discord_api import FakeDiscord
from tests.handlers.discord.conftest import DC, dc_core, running
from tests.support.factory import config_with, onboard

pytestmark = pytest.mark.both_backends

EPHEMERAL = 64


def buttons(msg: dict[str, Any]) -> dict[str, str]:
    """custom_id -> label of a message's buttons."""
    return {c.get("custom_id") or c.get("url", ""): c["label"] for row in msg.get("components") or []
            for c in row["components"]}


async def account(dc: DC, user: int) -> str:
    return await dc.core.accounts.resolve(f"dc:{user}")


async def test_fortune_is_deferred_then_answered_ephemerally_in_a_guild(dc: DC) -> None:
    user = dc.fake.user().id
    await onboard(dc.core, f"dc:{user}")
    inter = await dc.slash("fortune", user=user, guild=True)
    [msg] = await dc.fake.wait_messages(inter.id, 1)
    assert inter.response == {"type": 5, "data": {"flags": EPHEMERAL}}  # the first answer: a private defer
    assert msg["flags"] & EPHEMERAL and msg["content"]
    assert {"sl:/fortune details", "sl:/reading fortune", "sl:/tarot single"} <= set(buttons(msg))
    [callback] = dc.fake.interaction_responses(inter.id)
    assert callback.status == 200  # answered once, no 40060
    assert len(dc.fake.followup_requests(inter.id)) == 1


async def test_fortune_in_a_dm_is_a_normal_message(dc: DC) -> None:
    user = dc.fake.user().id
    await onboard(dc.core, f"dc:{user}")
    inter = await dc.slash("fortune", user=user)
    [msg] = await dc.fake.wait_messages(inter.id, 1)
    assert inter.response is not None and not (inter.response.get("data") or {}).get("flags", 0) & EPHEMERAL
    assert not msg["flags"] & EPHEMERAL


async def test_paid_details_button_is_charged_once_and_arrives_by_dm(dc: DC) -> None:
    user = dc.fake.user().id
    await onboard(dc.core, f"dc:{user}")
    aid = await account(dc, user)
    before = (await dc.core.ledger.account(aid))["balance"]
    inter = await dc.slash("fortune", user=user)
    [msg] = await dc.fake.wait_messages(inter.id, 1)
    press = await dc.press(msg, "/fortune details", user=user)
    await dc.fake.wait_response(press.id)
    # The answer comes through the outbox as a DM (charged once delivered); the loading message goes.
    dms = await dc.fake.wait_until(lambda: [m for m in dc.fake.dms_to(user) if "복채" in m["content"]],
                                   timeout=10, what="the paid details by DM")
    assert await dc.core.outbox.drain(10)
    cost = dc.core.ledger.cost("fortune_details")
    assert (await dc.core.ledger.account(aid))["balance"] == before - cost
    assert len(dms) == 1
    await dc.fake.wait_until(lambda: press.original is None or not press.messages, what="loading message removed")
    again = await dc.press(msg, "/fortune details", user=user)  # already unlocked: shown, not charged
    [shown] = await dc.fake.wait_messages(again.id, 1)
    assert shown["content"] and (await dc.core.ledger.account(aid))["balance"] == before - cost
    assert (await dc.core.ledger.reconcile(aid)).ok


async def test_tarot_three_has_its_picture_attached_after_the_defer(dc: DC) -> None:
    user = dc.fake.user().id
    await onboard(dc.core, f"dc:{user}")
    inter = await dc.slash("tarot", {"spread": "three", "question": "올해 연애운?"}, user=user, guild=True)
    [msg] = await dc.fake.wait_messages(inter.id, 1, timeout=10)
    assert inter.response_type == 5  # deferred first (the picture takes a moment)
    [first] = dc.fake.followup_requests(inter.id)[:1]
    assert [f.filename for f in first.files] == ["tarot-three.png"] and first.files[0].data.startswith(b"\x89PNG")
    assert msg["attachments"][0]["filename"] == "tarot-three.png"
    assert not msg["flags"] & EPHEMERAL  # a tarot draw is not personal: public in the channel
    assert "sl:/reading tarot" in buttons(msg)


async def test_a_slash_question_without_a_spread_uses_the_default_spread(dc: DC) -> None:
    user = dc.fake.user().id
    await onboard(dc.core, f"dc:{user}", lang="en")
    inter = await dc.slash("tarot", {"question": "Will it rain"}, user=user)
    [msg] = await dc.fake.wait_messages(inter.id, 1, timeout=10)
    assert msg["attachments"][0]["filename"] == "tarot-three.png"


async def test_onboarding_through_buttons_and_the_modal(dc: DC) -> None:
    user = dc.fake.user(locale="ko").id
    start = await dc.slash("start", user=user, guild=True)
    [welcome] = await dc.fake.wait_messages(start.id, 1)
    assert welcome["flags"] & EPHEMERAL and "sl:/setup lang ko" in buttons(welcome)
    msg = welcome
    for command in ("/setup lang ko", "/setup terms yes", "/setup share yes"):
        press = await dc.press(msg, command, user=user, guild=True)
        [msg] = await dc.fake.wait_messages(press.id, 1)
    assert "sl:/setup form birth ko" in buttons(msg)  # the birth step offers the form
    opened = await dc.press(msg, "/setup form birth ko", user=user, guild=True)
    await dc.fake.wait_response(opened.id)
    assert opened.response_type == 9 and opened.modal is not None  # the modal was the first answer
    assert [c["components"][0]["custom_id"] for c in opened.modal["components"]] == ["birth", "time", "tz"]
    # A refused value re-asks kindly: the error, then the form again; nothing else changed.
    bad = await dc.fake.interact(dc.fake.modal_submit_for(opened.id, {"birth": "1990-13-45"}))
    err, again = await dc.fake.wait_messages(bad.id, 2)
    assert "생년월일" in err["content"] and "sl:/setup form birth ko" in buttons(again)
    reopened = await dc.press(again, "/setup form birth ko", user=user, guild=True)
    await dc.fake.wait_response(reopened.id)
    done = await dc.fake.interact(dc.fake.modal_submit_for(reopened.id, {"birth": "1990-05-17", "time": "07:30"}))
    [finished] = await dc.fake.wait_messages(done.id, 1)
    assert "준비가 끝났어요" in finished["content"] and finished["flags"] & EPHEMERAL
    profile = await dc.core.profiles.get(await account(dc, user))
    assert profile is not None and profile.onboarded and profile.birth is not None
    assert profile.birth.isoformat() == "1990-05-17" and profile.birth_time == "07:30" and profile.tz == "Asia/Seoul"


async def test_plain_text_in_a_dm_answers_the_onboarding_step(dc: DC) -> None:
    user = dc.fake.user(locale="en-US").id
    for command in ("/start", "/setup lang en", "/setup terms yes", "/setup share no"):
        await dc.fake.wait_messages((await dc.slash(command.split()[0][1:], user=user)).id, 1) \
            if command == "/start" else await _press_raw(dc, command, user)
    await dc.fake.dispatch("MESSAGE_CREATE", dc.fake.dm_message(user, "1991-02-03"))
    msgs = await dc.fake.wait_until(lambda: [m for m in dc.fake.dms_to(user) if "HH:MM" in m["content"]],
                                    timeout=10, what="the birth time question in the DM")
    assert "sl:/setup time skip" in buttons(msgs[-1])
    profile = await dc.core.profiles.get(await account(dc, user))
    assert profile is not None and profile.birth is not None and profile.birth.isoformat() == "1991-02-03"


async def _press_raw(dc: DC, command: str, user: int) -> None:
    press = await dc.fake.interact(dc.fake.component(f"sl:{command}", user_id=user))
    await dc.fake.wait_messages(press.id, 1)


async def test_a_personal_answer_to_a_public_command_in_a_guild_stays_private(redis_url: str, tmp_path: Path,
                                                                              fake: FakeDiscord) -> None:
    from bot.core.reply import Reply
    from bot.core.router import Ctx

    core = dc_core(redis_url, tmp_path, fake)
    guild = fake.add_guild()

    @core.router.command("peek", needs_profile=False, description_key="cmd.help")
    async def peek(ctx: Ctx) -> list[Reply]:  # public command; its second answer is personal
        return [Reply("모두에게"), Reply("나에게만", private=True)]

    try:
        async with running(core):
            inter = await fake.interact(fake.slash_command("peek", user_id=fake.user().id, guild=guild))
            public, private = await fake.wait_messages(inter.id, 2)
            assert not public["flags"] & EPHEMERAL and public["content"] == "모두에게"
            assert private["flags"] & EPHEMERAL and private["content"] == "나에게만"
            first = await fake.interact(fake.slash_command("peek", user_id=fake.user().id, guild=guild))
            await fake.wait_messages(first.id, 2)
        core.router.commands.pop("peek")
    finally:
        await core.store.close()


async def test_an_error_after_the_defer_is_still_answered_with_a_reference(dc: DC) -> None:
    user = dc.fake.user().id
    await onboard(dc.core, f"dc:{user}")
    inter_payload = dc.fake.slash_command("fortune", user_id=user, guild=dc.guild)
    token = inter_payload["token"]
    # Discord refuses the first follow-up (e.g. a component it does not accept): the user still
    # gets an answer, the localised error with its reference id.
    dc.fake.fail_next("POST", f"/webhooks/{dc.fake.app_id}/{token}", status=400, code=50035,
                      message="Invalid Form Body")
    inter = await dc.fake.interact(inter_payload)
    [msg] = await dc.fake.wait_messages(inter.id, 1)
    assert "참조 번호" in msg["content"] and msg["flags"] & EPHEMERAL
    sample = dc.core.metrics.interactions.labels("dc", "failed")._value.get()
    assert sample == 1


async def test_an_expired_interaction_is_counted_not_raised(dc: DC) -> None:
    user = dc.fake.user().id
    dc.fake.ack_deadline = 0.0  # every first answer arrives after Discord's deadline: 10062
    inter = await dc.fake.interact(dc.fake.slash_command("fortune", user_id=user))
    await dc.fake.wait_until(lambda: dc.fake.interaction_responses(inter.id), what="the refused defer")
    await dc.fake.wait_until(lambda: dc.core.metrics.interactions.labels("dc", "unknown")._value.get() == 1,
                             what="the 10062 metric")
    assert dc.fake.interaction_responses(inter.id)[0].code == 10062
    assert dc.fake.followup_requests(inter.id) == [] and await dc.adapter.inbox.pending() == 0


async def test_redis_down_after_the_defer_answers_service_unavailable(dc: DC, monkeypatch: pytest.MonkeyPatch) -> None:
    user = dc.fake.user().id

    async def down(*a: Any, **kw: Any) -> list[bool]:
        raise ServiceUnavailable("redis")

    monkeypatch.setattr(dc.adapter.inbox, "put", down)
    inter = await dc.slash("fortune", user=user, guild=True)
    [msg] = await dc.fake.wait_messages(inter.id, 1)
    assert "잠시 쉬고" in msg["content"] and inter.response_type == 5


async def test_a_button_on_an_old_message_works_after_a_restart(redis_url: str, tmp_path: Path,
                                                                fake: FakeDiscord) -> None:
    user = fake.user().id
    core = dc_core(redis_url, tmp_path, fake)
    try:
        await onboard(core, f"dc:{user}")
        async with running(core):
            inter = await fake.interact(fake.slash_command("fortune", user_id=user))
            [msg] = await fake.wait_messages(inter.id, 1)
        async with running(core):  # a new process: nothing in memory about that message
            press = await fake.interact(fake.component("sl:/tarot single", user_id=user, message=msg))
            [drawn] = await fake.wait_messages(press.id, 1, timeout=10)
        assert drawn["attachments"][0]["filename"] == "tarot-single.png"
    finally:
        await core.store.close()


@pytest.fixture
async def oa() -> AsyncIterator[FakeAI]:
    async with FakeAI("openai", "별빛 같은 답변이에요") as server:
        yield server


async def test_ask_in_a_guild_is_answered_ephemerally_where_asked_and_charged_once(redis_url: str, tmp_path: Path,
                                                                                   fake: FakeDiscord,
                                                                                   oa: FakeAI) -> None:
    cfg = config_with(tmp_path, ai={"total_budget_seconds": 2.0, "answer_timeout_seconds": 1.5})
    core = dc_core(redis_url, tmp_path, fake, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=oa.base_url,
                   CONFIG_FILE=str(cfg))
    guild = fake.add_guild()
    user = fake.user().id
    try:
        await onboard(core, f"dc:{user}")
        aid = await core.accounts.resolve(f"dc:{user}")
        before = (await core.ledger.account(aid))["balance"]
        async with running(core):
            inters = []
            for _ in range(2):
                inter = await fake.interact(fake.slash_command("ask", {"question": "요즘 마음이 복잡해요"},
                                                               user_id=user, guild=guild))
                # The note replaces the private loading message, then the answer follows, both private.
                note, answer = await fake.wait_messages(inter.id, 2, timeout=10)
                assert inter.response == {"type": 5, "data": {"flags": EPHEMERAL}}
                assert "본인만" in note["content"] and note["flags"] & EPHEMERAL
                assert "별빛" in answer["content"] and answer["flags"] & EPHEMERAL
                assert await core.outbox.drain(10)
                inters.append(inter)
        after = await core.ledger.account(aid)
        assert after["held"] == 0 and (await core.ledger.reconcile(aid)).ok
        assert after["balance"] == before - 2 * core.ledger.cost("ai_chat")  # two answers, each charged once
        assert fake.dms_to(user) == [] and fake.messages_to(guild.channel_id) == []  # nothing public, no DM
        assert len(oa.requests) == 2
        assert all(len(fake.followup_requests(i.id)) == 2 for i in inters)
    finally:
        if core.ai is not None:
            await core.ai.aclose()
        await core.store.close()


async def test_ask_in_a_dm_is_answered_in_the_dm(redis_url: str, tmp_path: Path, fake: FakeDiscord,
                                                 oa: FakeAI) -> None:
    cfg = config_with(tmp_path, ai={"total_budget_seconds": 2.0, "answer_timeout_seconds": 1.5})
    core = dc_core(redis_url, tmp_path, fake, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=oa.base_url,
                   CONFIG_FILE=str(cfg))
    user = fake.user().id
    try:
        await onboard(core, f"dc:{user}")
        aid = await core.accounts.resolve(f"dc:{user}")
        before = (await core.ledger.account(aid))["balance"]
        async with running(core):
            inter = await fake.interact(fake.slash_command("ask", {"question": "요즘 마음이 복잡해요"}, user_id=user))
            await fake.wait_messages(inter.id, 1, timeout=10)
            await fake.wait_until(lambda: [m for m in fake.dms_to(user) if "별빛" in m["content"]], timeout=10,
                                  what="the AI answer by DM")
            assert await core.outbox.drain(10)
        assert (await core.ledger.account(aid))["balance"] == before - core.ledger.cost("ai_chat")
    finally:
        if core.ai is not None:
            await core.ai.aclose()
        await core.store.close()


async def test_interaction_handled_twice_is_charged_once(dc: DC) -> None:
    """A re-handled interaction (another process took the inbox entry over) replays its hold."""
    user = dc.fake.user().id
    await onboard(dc.core, f"dc:{user}")
    aid = await account(dc, user)
    before = (await dc.core.ledger.account(aid))["balance"]
    inter = await dc.slash("fortune", {"part": "details"}, user=user)
    await dc.fake.wait_response(inter.id)
    await dc.fake.wait_until(lambda: dc.fake.dms_to(user), timeout=10, what="the details")
    assert await dc.core.outbox.drain(10)
    from dataclasses import asdict

    from bot.core.router import Event

    event = Event("dc", str(user), "/fortune details", chat_id=str(user), request_id=f"dc-{inter.id}")
    item = {"k": "i", "app": str(dc.fake.app_id), "tok": inter.token, "id": str(inter.id), "eph": False,
            "ev": asdict(event)}
    await dc.adapter._finish_interaction(item, event)  # the same entry once more
    await asyncio.sleep(0.2)
    assert await dc.core.outbox.drain(10)
    assert (await dc.core.ledger.account(aid))["balance"] == before - dc.core.ledger.cost("fortune_details")


async def test_guild_text_is_not_read_and_dm_text_from_bots_is_ignored(dc: DC) -> None:
    user = dc.fake.user().id
    await dc.fake.dispatch("MESSAGE_CREATE", dc.fake.guild_message(dc.guild, user, "hello"))
    await asyncio.sleep(0.2)
    assert dc.fake.messages_to(dc.guild.channel_id) == [] and await dc.adapter.inbox.pending() == 0

