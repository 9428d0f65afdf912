"""Stars refunds from a process that runs no Telegram adapter (an ops shell, a Discord-only
process): the provider the composition root builds from the token alone does the refund."""

from __future__ import annotations

from pathlib import Path

from bot.app import register_payment_providers
from bot.core import payments
from bot.core.payments import invoice_payload
from bot.core.store import K
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.handlers.telegram.conftest import tg_core
from tests.support.factory import onboard
from tests.support.platform import RecordingPlatform

USER = 5150


async def test_a_process_without_the_adapter_refunds_stars(redis_url: str, tmp_path: Path,
                                                           tg_api: FakeTelegramAPI) -> None:
    core = tg_core(redis_url, tmp_path, tg_api)
    register_payment_providers(core)
    assert "tg" not in core.platforms and "stars" in core.payment_providers
    sent = RecordingPlatform.install(core, "tg")  # the buyer's notice goes through the outbox
    aid = (await onboard(core, f"tg:{USER}")).uid
    tg_api.charges["stxNOADAPTER"] = USER  # the fake knows the charge, as Telegram would
    bought = await payments.record_purchase(core, aid, "stxNOADAPTER", invoice_payload("credit_10", aid), "XTR", 50)
    assert bought.status == "granted"
    before = await core.ledger.balance(aid)
    result = await payments.refund_payment(core, "stxNOADAPTER", "stars")
    assert result.status == "reversed" and result.credits == bought.credits
    [call] = tg_api.calls_to("refundStarPayment")
    assert call["user_id"] == USER and call["telegram_payment_charge_id"] == "stxNOADAPTER"
    assert await core.ledger.balance(aid) == before - bought.credits
    assert (await payments.payment_info(core, "stxNOADAPTER"))["status"] == "refunded"
    # Once only: a second call answers from the record and neither refunds nor notifies again.
    again = await payments.refund_payment(core, "stxNOADAPTER", "stars")
    assert again.status == "already_refunded" and len(tg_api.calls_to("refundStarPayment")) == 1
    await core.outbox.start()
    try:
        await core.outbox.drain(5)
    finally:
        await core.outbox.stop()
    notices = sent.to(str(USER))
    assert len(notices) == 1 and str(bought.credits) in notices[0].text
    assert await core.store.redis.zscore(K.payments_index("tg"), "stxNOADAPTER") is not None
    assert (await core.ledger.reconcile(aid)).ok


async def test_without_a_provider_the_refund_waits_reversed(redis_url: str, tmp_path: Path,
                                                            tg_api: FakeTelegramAPI) -> None:
    # No token in this process: the credits are taken back, the payment stays open
    # (refund_failed, "no provider") for a process that can call Telegram.
    core = tg_core(redis_url, tmp_path, tg_api)
    aid = (await onboard(core, f"tg:{USER}")).uid
    await payments.record_purchase(core, aid, "stxLATER", invoice_payload("credit_10", aid), "XTR", 50)
    result = await payments.refund_payment(core, "stxLATER")
    assert result.status == "failed" and "no stars provider" in result.error
    assert (await payments.payment_info(core, "stxLATER"))["status"] == payments.REFUND_FAILED
    tg_api.charges["stxLATER"] = USER
    register_payment_providers(core)
    done = await payments.refund_payment(core, "stxLATER")
    assert done.status == "reversed" and len(tg_api.calls_to("refundStarPayment")) == 1
