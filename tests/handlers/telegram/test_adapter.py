"""The Telegram adapter end to end: real PTB ↔ fake Bot API server, real Core on real Redis."""

from __future__ import annotations

import asyncio
import logging
import random
import re

import pytest

from bot.core.reply import Button, Image, Reply
from bot.handlers.telegram.render import split_text, utf16_len
from tests.handlers.telegram.conftest import TG
from tests.support.factory import account_of, onboard

USER = 4242
GROUP = -1001234


def needs_command(tg: TG, name: str, who: str) -> None:
    if name not in tg.core.router.commands:
        pytest.skip(f"/{name} is not registered yet ({who} is building it); this test runs once it is")


async def test_start_sets_commands_username_and_sender(tg: TG) -> None:
    api = tg.api
    assert tg.core.bot_username("tg") == api.username and tg.core.platforms["tg"].health is not None
    default, ko, en = api.commands[("default", "")], api.commands[("default", "ko")], api.commands[("default", "en")]
    assert default == ko
    names = [c["command"] for c in en]
    assert {"start", "help", "credits", "buy", "profile"} <= set(names)
    assert "setup" not in names  # no help entry: hidden
    by_name = {c["command"]: c["description"] for c in en}
    assert by_name["credits"] == "balance and prices"  # "/credits — " prefix stripped
    assert "잔액" in {c["command"]: c["description"] for c in ko}["credits"]
    assert "tg" in tg.core.senders
    assert api.calls_to("deleteWebhook")  # polling bootstrap
    await api.wait_for("getUpdates")


async def test_onboarding_by_buttons(tg: TG) -> None:
    await tg.say(USER, "/start")
    [first] = await tg.replies(USER, 1)
    assert [b["callback_data"] for b in first.buttons] == ["/setup lang ko", "/setup lang en"]
    steps = ["/setup lang ko", "/setup terms yes", "/setup share yes"]
    for i, data in enumerate(steps, start=2):
        await tg.press(USER, data)
        await tg.replies(USER, i)
    assert "YYYY-MM-DD" in tg.last_text(USER) or "생년월일" in tg.last_text(USER)
    await tg.say(USER, "1990-05-17")  # birth date is typed
    [*_, time_prompt] = await tg.replies(USER, 5)
    skip = [b["callback_data"] for b in time_prompt.buttons]
    assert skip == ["/setup time skip"]
    await tg.press(USER, skip[0])
    [*_, tz_prompt] = await tg.replies(USER, 6)
    await tg.press(USER, tz_prompt.buttons[0]["callback_data"])
    await tg.replies(USER, 7)
    profile = await tg.core.profiles.get(await account_of(tg.core, f"tg:{USER}"))
    assert profile is not None and profile.onboarded and profile.lang == "ko"
    assert await tg.core.ledger.balance(await account_of(tg.core, f"tg:{USER}")) == 3  # welcome bonus
    assert len(tg.api.answered_callbacks) == 5  # every press answered
    assert profile.display_name == "Tester"


async def test_onboarding_by_text_in_english(tg: TG) -> None:
    for i, text in enumerate(["/start", "/setup lang en", "/setup terms yes", "/setup share no",
                              "1991-02-03", "07:30", "Asia/Seoul"], start=1):
        await tg.api.deliver(tg.api.message_update(USER, text, language_code="en-US"))
        await tg.replies(USER, i)
    profile = await tg.core.profiles.get(await account_of(tg.core, f"tg:{USER}"))
    assert profile is not None and profile.onboarded and profile.lang == "en"
    assert profile.birth_time is not None


async def test_credits_with_buy_button(tg: TG) -> None:
    await onboard(tg.core, f"tg:{USER}")
    await tg.say(USER, "/credits")
    [call] = await tg.replies(USER, 1)
    assert "3" in call["text"] and "복채" in call["text"]
    assert call.buttons == [{"text": "복채 충전하기", "callback_data": "/buy"}]
    assert call["link_preview_options"] == {"is_disabled": True}
    assert "parse_mode" not in call.params  # plain text: nothing the core writes is read as markup


async def test_profile_and_command_needing_profile_starts_onboarding(tg: TG) -> None:
    await tg.say(USER, "/credits")
    calls = await tg.replies(USER, 2)
    assert calls[-1].buttons[0]["callback_data"] == "/setup lang ko"
    await onboard(tg.core, f"tg:{USER + 1}")
    await tg.say(USER + 1, "/profile")
    [call] = await tg.replies(USER + 1, 1)
    assert "1990-05-17" in call["text"]


async def test_fortune(tg: TG) -> None:
    needs_command(tg, "fortune", "the lead")
    await onboard(tg.core, f"tg:{USER}")
    await tg.say(USER, "/fortune")
    calls = await tg.replies(USER, 1)
    assert re.search(r"\d{2,3}", calls[0]["text"])


async def test_tarot_three_sends_the_spread_picture(tg: TG) -> None:
    needs_command(tg, "tarot", "the tarot engineer")
    await onboard(tg.core, f"tg:{USER}")
    await tg.say(USER, "/tarot three")
    [photo] = await tg.replies(USER, 1, method="sendPhoto", timeout=15)
    assert photo.files["photo"]["size"] > 1000
    assert photo.files["photo"]["content_type"] in ("image/png", "application/octet-stream")


async def test_invite_deep_link_pairs_two_users(tg: TG) -> None:
    needs_command(tg, "invite", "the invites engineer")
    inviter, friend = USER, USER + 7
    for u in (inviter, friend):
        await onboard(tg.core, await tg.core.accounts.resolve(f"tg:{u}"), bonus=False)
    await tg.say(inviter, "/invite")
    await tg.replies(inviter, 1)
    sent = " ".join([*tg.api.texts(inviter), *(b.get("url", "") for c in tg.api.calls_to("sendMessage", chat_id=inviter)
                                                 for b in c.buttons)])
    m = re.search(rf"t\.me/{tg.api.username}\?start=([A-Za-z0-9_-]{{1,64}})", sent)
    assert m, sent
    await tg.say(friend, f"/start {m.group(1)}")
    await tg.replies(friend, 1)
    await tg.replies(inviter, 2)  # the inviter hears about the pairing through core.notify
    a, b = [await tg.core.accounts.resolve(f"tg:{u}") for u in (inviter, friend)]
    assert await tg.core.invites.is_paired(a, b)


async def test_group_answers_only_addressed_commands_and_keeps_personal_data_private(tg: TG) -> None:
    await onboard(tg.core, f"tg:{USER}")
    await tg.say(USER, "/credits", chat_id=GROUP)  # not addressed to this bot: ignored
    await tg.say(USER, "/credits@OtherBot", chat_id=GROUP)  # someone else's bot: ignored
    await tg.say(USER, "hello everyone", chat_id=GROUP)
    await tg.say(USER, f"/credits@{tg.api.username}", chat_id=GROUP)
    [note] = await tg.replies(GROUP, 1)
    assert "1:1" in note["text"]  # "sent to our private chat"
    assert note.buttons == [{"text": "1:1 대화 열기", "url": f"https://t.me/{tg.api.username}"}]
    [private] = await tg.replies(USER, 1)
    assert "💰" in private["text"]  # the balance went to the user's private chat only
    await tg.say(USER, f"/help@{tg.api.username}", chat_id=GROUP)
    calls = await tg.replies(GROUP, 2)
    assert "/credits" in calls[1]["text"]  # public content is answered in the group
    # a reply to the bot's message counts as addressed
    bot_msg = tg.api.sent[GROUP][-1]
    await tg.say(USER, "/help", chat_id=GROUP, reply_to=bot_msg)
    await tg.replies(GROUP, 3)
    await asyncio.sleep(0.2)
    texts = tg.api.texts(GROUP)
    assert len(texts) == 3 and not any("💰" in t for t in texts)  # no balance view
    assert len(tg.api.texts(USER)) == 1  # only the one personal answer, privately


async def test_personal_reply_in_group_when_the_user_never_started_the_bot(tg: TG) -> None:
    await onboard(tg.core, f"tg:{USER}")
    tg.api.block_chat(USER)  # Telegram: 403, the bot can't initiate a conversation
    await tg.say(USER, f"/credits@{tg.api.username}", chat_id=GROUP)
    [note] = await tg.replies(GROUP, 1)
    assert "1:1 대화에서" in note["text"] and note.buttons[0]["url"] == f"https://t.me/{tg.api.username}"
    await asyncio.sleep(0.1)
    assert not any("💰" in t for t in tg.api.texts(GROUP))


async def test_buy_in_group_sends_the_invoice_privately(tg: TG) -> None:
    await onboard(tg.core, f"tg:{USER}")
    await tg.say(USER, f"/buy@{tg.api.username} credit_10", chat_id=GROUP)
    await tg.replies(GROUP, 1)
    [invoice] = await tg.api.wait_for("sendInvoice", 1)
    assert invoice["chat_id"] == USER
    assert not [c for c in tg.api.calls_to("sendInvoice") if c["chat_id"] == GROUP]


async def test_callback_query_answered_and_routed(tg: TG) -> None:
    await onboard(tg.core, f"tg:{USER}")
    update = await tg.press(USER, "/buy")
    [call] = await tg.replies(USER, 1)
    assert update["callback_query"]["id"] in tg.api.answered_callbacks
    assert [b["callback_data"] for b in call.buttons][:1] == ["/buy credit_10"]


async def test_long_text_is_split_at_line_breaks_and_notify_reaches_users(tg: TG) -> None:
    lines = [f"{i:04d} " + " ".join(["운세"] * 30) for i in range(200)]
    text = "\n".join(lines)
    assert utf16_len(text) > 3 * 4096
    ok = await tg.core.notify(await account_of(tg.core, f"tg:{USER}"), Reply(text, buttons=[[Button("더보기", "/help")]]))
    assert ok
    n = len(split_text(text))
    calls = await tg.replies(USER, n)
    assert n >= 4 and len(calls) == n
    assert all(utf16_len(c["text"]) <= 4096 for c in calls)
    assert "\n".join(c["text"] for c in calls) == text  # cut only at line breaks, nothing lost
    assert [bool(c.buttons) for c in calls] == [False] * (n - 1) + [True]


async def test_image_caption_or_photo_then_text(tg: TG) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 2048
    await tg.adapter.deliver(USER, [Reply("짧은 설명", image=Image(png, "spread.png"),
                                          buttons=[[Button("AI 해석", "/tarot ai")]])])
    [p] = await tg.replies(USER, 1, method="sendPhoto")
    assert p["caption"] == "짧은 설명" and p.buttons[0]["callback_data"] == "/tarot ai"
    assert p.files["photo"]["filename"] == "spread.png" and p.files["photo"]["size"] == len(png)
    long = "가" * 1500
    await tg.adapter.deliver(USER, [Reply(long, image=Image(png))])
    photos = await tg.replies(USER, 2, method="sendPhoto")
    assert "caption" not in photos[1].params
    [m] = await tg.replies(USER, 1)
    assert m["text"] == long


async def test_adapter_failure_gives_reference_and_logs_it(tg: TG, caplog: pytest.LogCaptureFixture,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(event: object) -> list[Reply]:
        raise RuntimeError("adapter-level failure")

    monkeypatch.setattr(tg.core.router, "handle", broken)
    captured: list[dict[str, str]] = []
    monkeypatch.setattr(tg.core, "capture_exception", lambda **tags: captured.append(tags))
    with caplog.at_level(logging.ERROR, logger="soul_lab"):
        update = await tg.say(USER, "/help")
        [call] = await tg.replies(USER, 1)
    ref = re.search(r"참조 번호: ([0-9a-f]{8})", call["text"])
    assert ref, call["text"]
    [record] = [r for r in caplog.records if getattr(r, "event", "") == "telegram_handler_error"]
    assert record.fields["ref"] == ref.group(1)  # type: ignore[attr-defined]
    assert record.fields["update_id"] == update["update_id"]  # type: ignore[attr-defined]
    assert record.exc_info is not None
    assert captured == [{"ref": ref.group(1), "update_id": str(update["update_id"])}]


async def test_one_chat_in_order_many_chats_concurrently(tg: TG, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, list[str]] = {}
    running: dict[str, int] = {}
    peak = {"all": 0, "now": 0}
    real = tg.core.router.handle

    async def slow(event):  # type: ignore[no-untyped-def]
        running[event.chat_id] = running.get(event.chat_id, 0) + 1
        assert running[event.chat_id] == 1, "two updates of one chat ran at once"
        peak["now"] += 1
        peak["all"] = max(peak["all"], peak["now"])
        await asyncio.sleep(random.uniform(0.005, 0.03))
        seen.setdefault(event.chat_id, []).append(event.text)
        peak["now"] -= 1
        running[event.chat_id] -= 1
        return await real(event)

    monkeypatch.setattr(tg.core.router, "handle", slow)
    chats = [USER + i for i in range(4)]
    for n in range(5):
        for chat in chats:
            await tg.api.deliver(tg.api.message_update(chat, f"/help {n}"))
    for chat in chats:
        await tg.replies(chat, 5, timeout=10)
        assert seen[str(chat)] == [f"/help {n}" for n in range(5)]
    assert peak["all"] > 1


async def test_messages_from_bots_channels_and_without_text_are_ignored(tg: TG) -> None:
    """Text messages are routed from the raw update (no PTB objects): the same rules hold."""
    from_bot = tg.api.message_update(USER, "/help")
    from_bot["message"]["from"]["is_bot"] = True
    await tg.api.deliver(from_bot)
    await tg.api.deliver(tg.api.message_update(-100777, "/help", chat_type="channel"))
    no_text = tg.api.message_update(USER, "")
    del no_text["message"]["text"]
    await tg.api.deliver(no_text)
    await tg.say(USER, "/help")
    [answer] = await tg.replies(USER, 1)
    assert "/credits" in answer["text"]
    await asyncio.sleep(0.2)
    assert len(tg.api.texts(USER)) == 1 and not tg.api.texts(-100777)
