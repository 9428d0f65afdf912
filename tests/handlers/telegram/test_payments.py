"""Telegram Stars: invoice, pre-checkout validation, once-only grant, replay, refund."""

from __future__ import annotations

import asyncio

from bot.core import payments
from bot.core.payments import invoice_payload
from bot.core.store import K
from tests.handlers.telegram.conftest import TG
from tests.support.factory import onboard

USER = 5151
UID = f"tg:{USER}"


async def _precheckout(tg: TG, payload: str, amount: int, currency: str = "XTR", user: int = USER) -> dict:
    update = tg.api.pre_checkout_update(user, payload, amount, currency)
    await tg.api.deliver(update)
    qid = update["pre_checkout_query"]["id"]
    await tg.api.wait_for("answerPreCheckoutQuery", pre_checkout_query_id=qid)
    return tg.api.pre_checkout_answers[qid]


async def test_buy_sends_xtr_invoice(tg: TG) -> None:
    uid = (await onboard(tg.core, UID)).uid
    await tg.say(USER, "/buy credit_50")
    [inv] = await tg.api.wait_for("sendInvoice", chat_id=USER)
    pack = tg.core.settings.product.credits.pack("credit_50")
    assert pack is not None
    assert inv["currency"] == "XTR" and inv["provider_token"] == ""
    assert inv["prices"] == [{"label": inv["title"], "amount": pack.stars}]
    assert inv["payload"] == invoice_payload("credit_50", uid)


async def test_purchase_grants_once_and_replay_grants_nothing(tg: TG) -> None:
    uid = (await onboard(tg.core, UID)).uid
    payload = invoice_payload("credit_50", uid)
    answer = await _precheckout(tg, payload, 225)
    assert answer == {"ok": True, "error_message": None}
    pay = tg.api.payment_update(USER, payload, 225, charge_id="stxABC123")
    await tg.api.deliver(pay)
    [msg] = await tg.replies(USER, 1)
    assert "55" in msg["text"] and "58" in msg["text"]  # 50 + 5 bonus; balance 3 + 55
    assert await tg.core.ledger.balance(uid) == 58
    # Telegram (or a second process) delivers the same payment again under a new update id
    again = tg.api.payment_update(USER, payload, 225, charge_id="stxABC123")
    await tg.api.deliver(again)
    while await tg.adapter.inbox.pending():  # noqa: ASYNC110 - wait until the replay is handled
        await asyncio.sleep(0.02)
    assert await tg.core.outbox.drain(5)
    assert len(tg.api.texts(USER)) == 1  # granted once, confirmed once
    assert await tg.core.ledger.balance(uid) == 58
    info = await payments.payment_info(tg.core, "stxABC123")
    assert info["status"] == "paid" and info["account"] == uid and info["pack"] == "credit_50"
    assert tg.core.metrics.credits_sold._value.get() == 55
    assert (await tg.core.ledger.reconcile(uid)).ok


async def test_bad_pre_checkouts_are_refused_with_reasons(tg: TG) -> None:
    uid = (await onboard(tg.core, UID)).uid
    payload = invoice_payload("credit_10", uid)
    wrong_amount = await _precheckout(tg, payload, 1)
    assert wrong_amount["ok"] is False and "가격" in wrong_amount["error_message"]
    wrong_currency = await _precheckout(tg, payload, 50, currency="USD")
    assert wrong_currency["ok"] is False
    someone_else = await _precheckout(tg, invoice_payload("credit_10", "tg:999"), 50)
    assert someone_else["ok"] is False and "다른 분" in someone_else["error_message"]
    unknown = await _precheckout(tg, invoice_payload("credit_9999", uid), 50)
    assert unknown["ok"] is False
    garbage = await _precheckout(tg, "not-a-payload", 50)
    assert garbage["ok"] is False
    assert await tg.core.ledger.balance(uid) == 3


def test_validate_purchase_is_pure() -> None:
    from bot.core.settings import load_settings

    credits = load_settings({"APP_ENV": "test"}).product.credits
    pack = payments.validate_purchase(credits, "credit_150|tg:1", "XTR", 600, "tg:1")
    assert not isinstance(pack, payments.Rejection) and pack.total == 170
    assert payments.validate_purchase(credits, "credit_150|tg:1", "XTR", 599, "tg:1") == \
        payments.Rejection("wrong_amount", "payments.rejected_price")
    assert isinstance(payments.validate_purchase(credits, "credit_150|tg:1", "XTR", True, "tg:1"),
                      payments.Rejection)


async def test_refund_reverses_once_and_refuses_when_spent(tg: TG) -> None:
    uid = (await onboard(tg.core, UID)).uid
    payload = invoice_payload("credit_10", uid)
    for charge in ("stxR1", "stxR2"):
        await tg.api.deliver(tg.api.payment_update(USER, payload, 50, charge_id=charge))
    await tg.replies(USER, 2)
    assert await tg.core.ledger.balance(uid) == 23
    result = await tg.adapter.refund_payment("stxR1")
    assert result.status == "reversed" and result.credits == 10
    [refund] = tg.api.calls_to("refundStarPayment")
    assert refund["user_id"] == USER and refund["telegram_payment_charge_id"] == "stxR1"
    assert await tg.core.ledger.balance(uid) == 13
    assert (await payments.payment_info(tg.core, "stxR1"))["status"] == "refunded"
    again = await tg.adapter.refund_payment("stxR1")
    assert again.status == "already_refunded" and len(tg.api.calls_to("refundStarPayment")) == 1
    await tg.core.ledger.spend(uid, 10, "test spend", idem_key="spend-1")
    refused = await tg.adapter.refund_payment("stxR2")
    assert refused.status == "refused" and refused.reason == "insufficient_balance"
    assert await tg.core.ledger.balance(uid) == 3
    unknown = await payments.refund(tg.core, "nope")
    assert unknown.reason == "unknown_payment"
    assert tg.core.payment_providers["stars"].bot is tg.adapter.bot  # the adapter's own Bot refunds
    assert (await tg.core.ledger.reconcile(uid)).ok
    await asyncio.sleep(0)
    assert await tg.core.store.redis.zscore(K.payments_index(), "stxR1") is not None


async def test_a_grant_whose_record_was_lost_is_recorded_on_replay(tg: TG) -> None:
    """The first attempt granted, then the process died before recording the payment."""
    uid = (await onboard(tg.core, UID)).uid
    payload = invoice_payload("credit_10", uid)
    await tg.core.ledger.grant(uid, 10, "purchase credit_10 (50 XTR)", idem_key="tgpay:stxLOST1",
                               kind="purchase", keep_forever=True)
    assert await payments.payment_info(tg.core, "stxLOST1") == {}
    again = await payments.record_purchase(tg.core, uid, "stxLOST1", payload, "XTR", 50)
    assert again.status == "replay" and await tg.core.ledger.balance(uid) == 13
    info = await payments.payment_info(tg.core, "stxLOST1")
    assert info["status"] == "paid" and info["credits"] == "10" and info["account"] == uid
    third = await payments.record_purchase(tg.core, uid, "stxLOST1", payload, "XTR", 50)
    assert third.status == "replay" and await tg.core.ledger.balance(uid) == 13
    assert tg.core.metrics.credits_sold._value.get() == 10  # counted once
    refund = await payments.refund(tg.core, "stxLOST1")
    assert refund.status == "reversed" and await tg.core.ledger.balance(uid) == 3
    assert (await tg.core.ledger.reconcile(uid)).ok
