"""/fortune and /tarot through the router with a real Redis."""

from __future__ import annotations

from datetime import date

from bot.core.errors import ErrorCode
from bot.core.router import Event
from bot.core.service import Core
from tests.support.factory import account_of, onboard
from tests.support.platform import RecordingPlatform


def ev(text: str, user: str = "700") -> Event:
    return Event("tg", user, text, chat_id=user)


async def test_fortune_is_free_and_the_same_all_day(core: Core) -> None:
    await onboard(core, "tg:700")
    first = (await core.router.handle(ev("/fortune")))[0]
    again = (await core.router.handle(ev("/fortune")))[0]
    assert first.error is None and first.text == again.text and first.private
    assert [b.command for b in first.all_buttons()] == ["/fortune details", "/reading fortune", "/tarot single"]
    assert await core.ledger.balance(await account_of(core, "tg:700")) == 3


async def test_details_cost_one_credit_once_per_day_charged_on_delivery(core: Core) -> None:
    platform = RecordingPlatform.install(core)
    await onboard(core, "tg:700")
    assert await core.router.handle(ev("/fortune details")) == []  # it goes out through the outbox
    assert await core.outbox.drain(5)
    [paid] = platform.take("700")
    assert "남은 복채: 2" in paid.text and paid.private
    again = await core.router.handle(ev("/fortune details"))
    assert len(again) == 1 and paid.text.startswith(again[0].text)  # unlocked: free, at once
    assert await core.ledger.balance(await account_of(core, "tg:700")) == 2
    assert (await core.ledger.reconcile(await account_of(core, "tg:700"))).ok


async def test_details_that_cannot_be_delivered_cost_nothing_and_can_be_bought_again(core: Core) -> None:
    from bot.core.delivery import DeliveryBlocked

    platform = RecordingPlatform.install(core)
    await onboard(core, "tg:700")
    platform.fail(DeliveryBlocked("Forbidden: bot was blocked by the user"))
    await core.router.handle(ev("/fortune details"))
    assert await core.outbox.drain(5)
    assert platform.to("700") == [] and await core.ledger.balance(await account_of(core, "tg:700")) == 3
    acct = await core.ledger.account(await account_of(core, "tg:700"))
    assert acct["held"] == 0 and (await core.ledger.reconcile(await account_of(core, "tg:700"))).ok
    await core.router.handle(ev("/fortune details"))  # the user is back: a new purchase works
    assert await core.outbox.drain(5)
    assert len(platform.to("700")) == 1 and await core.ledger.balance(await account_of(core, "tg:700")) == 2


async def test_details_unlocked_by_a_pairing_are_free(core: Core) -> None:
    from bot.core.clock import local_day
    from bot.core.features.content_cmd import unlock_details

    await onboard(core, "tg:700")
    await unlock_details(core, await account_of(core, "tg:700"), local_day(core.clock, "Asia/Seoul"))
    summary = (await core.router.handle(ev("/fortune")))[0]
    assert summary.all_buttons()[0].label == "상세 풀이 (오늘 무료)"
    await core.router.handle(ev("/fortune details"))
    assert await core.ledger.balance(await account_of(core, "tg:700")) == 3


async def test_details_without_credits_say_cost_balance_and_buy(core: Core) -> None:
    await onboard(core, "tg:700", bonus=False)
    reply = (await core.router.handle(ev("/fortune details")))[0]
    assert reply.error is ErrorCode.INSUFFICIENT_CREDITS
    assert "복채 1개가 필요" in reply.text and "지금은 0개" in reply.text and "/buy" in reply.text
    assert [b.command for b in reply.all_buttons()] == ["/buy"]


async def test_fortune_without_birth_date_goes_through_onboarding(core: Core) -> None:
    reply = await core.router.handle(ev("/fortune"))
    assert reply[0].error is None and "설정" in reply[0].text
    assert reply[1].all_buttons()[0].command == "/setup lang ko"


async def test_tarot_draw_with_picture_and_same_cards_for_same_question(core: Core) -> None:
    await onboard(core, "tg:700", lang="en")
    a = (await core.router.handle(ev("/tarot three where is my work heading?")))[0]
    b = (await core.router.handle(ev("/tarot three   Where is my work heading?  ")))[0]
    assert a.error is None and a.image is not None and a.image.png.startswith(b"\x89PNG")
    cards = lambda r: [line for line in r.text.splitlines() if line[:2] in {"1.", "2.", "3."}]  # noqa: E731
    assert cards(a) == cards(b) and len(cards(a)) == 3
    assert "Where is my work heading?" in b.text  # shown as written, matched case-insensitively
    assert a.all_buttons()[0].command == "/reading tarot"
    last = await core.sessions.get(await account_of(core, "tg:700"), "tarot")
    assert last is not None and last["spread"] == "three"


async def test_tarot_bad_input(core: Core) -> None:
    await onboard(core, "tg:700", lang="en")
    unknown = (await core.router.handle(ev("/tarot pentagram")))[0]
    assert unknown.error is ErrorCode.VALIDATION_ERROR
    assert "single, three, love, career, celtic" in unknown.text
    long = (await core.router.handle(ev("/tarot single " + "x" * 301)))[0]
    assert long.error is ErrorCode.VALIDATION_ERROR and "300" in long.text
    choose = (await core.router.handle(ev("/tarot")))[0]
    assert [b.command for b in choose.all_buttons()] == [
        "/tarot single", "/tarot three", "/tarot love", "/tarot career", "/tarot celtic"]


async def test_canary_fortune_for_the_probe_profile(core: Core) -> None:
    from bot.core.features.content_cmd import canary_fortune

    body = canary_fortune(core)
    assert body["status"] == "ok" and 60 <= body["fortune"]["score"] <= 100
    assert date.fromisoformat(body["fortune"]["day"])
