"""Stars payments in the core: redelivery after a price change, late records, refunds after /delete."""

from __future__ import annotations

from pathlib import Path

from bot.core import payments
from bot.core.features.credits_cmd import invoice_payload
from bot.core.router import Event
from bot.core.service import Core
from tests.support.factory import make_core, onboard

UID = "tg:880"
ROOT = Path(__file__).resolve().parents[2]


def core_with_price(redis_url: str, tmp_path: Path, stars: int) -> Core:
    """A second process whose config prices credit_10 differently (an operator changed it)."""
    cfg = tmp_path / f"price-{stars}.toml"
    source = (ROOT / "config" / "defaults.toml").read_text()
    cfg.write_text(source.replace("stars = 50\n", f"stars = {stars}\n", 1))
    return make_core(redis_url, tmp_path, CONFIG_FILE=str(cfg))


async def test_redelivery_after_a_price_change_is_a_replay_not_a_rejection(core: Core, redis_url: str,
                                                                           tmp_path: Path) -> None:
    await onboard(core, UID)
    payload = invoice_payload("credit_10", UID)
    first = await payments.record_purchase(core, UID, "chA", payload, "XTR", 50)
    assert first.status == "granted" and await core.ledger.balance(UID) == 13
    changed = core_with_price(redis_url, tmp_path, 60)
    try:
        again = await payments.record_purchase(changed, UID, "chA", payload, "XTR", 50)
        assert again.status == "replay" and await changed.ledger.balance(UID) == 13
        info = await payments.payment_info(changed, "chA")
        assert info["status"] == "paid" and "reason" not in info
    finally:
        await changed.store.close()


async def test_a_rejected_payment_is_granted_once_the_price_matches_again(core: Core, redis_url: str,
                                                                          tmp_path: Path) -> None:
    await onboard(core, UID)
    payload = invoice_payload("credit_10", UID)
    changed = core_with_price(redis_url, tmp_path, 60)
    try:
        rejected = await payments.record_purchase(changed, UID, "chB", payload, "XTR", 50)
        assert rejected.status == "rejected" and await core.ledger.balance(UID) == 3
        assert (await payments.payment_info(core, "chB"))["status"] == "rejected"
    finally:
        await changed.store.close()
    granted = await payments.record_purchase(core, UID, "chB", payload, "XTR", 50)
    assert granted.status == "granted" and await core.ledger.balance(UID) == 13
    info = await payments.payment_info(core, "chB")
    assert info["status"] == "paid" and "reason" not in info
    assert (await payments.refund(core, "chB")).status == "reversed"
    assert await core.ledger.balance(UID) == 3


async def test_granted_but_unrecorded_then_price_changed_is_recorded_as_paid(core: Core, redis_url: str,
                                                                             tmp_path: Path) -> None:
    await onboard(core, UID)
    await core.ledger.grant(UID, 10, "purchase credit_10", idem_key="tgpay:chC", kind="purchase",
                            keep_forever=True)  # the first attempt died before recording
    changed = core_with_price(redis_url, tmp_path, 60)
    try:
        res = await payments.record_purchase(changed, UID, "chC", invoice_payload("credit_10", UID), "XTR", 50)
        assert res.status == "replay" and res.credits == 10
        info = await payments.payment_info(changed, "chC")
        assert info["status"] == "paid" and info["credits"] == "10" and info["pack"] == "credit_10"
        assert await changed.ledger.balance(UID) == 13
    finally:
        await changed.store.close()


async def test_refund_after_delete_is_refused_and_never_touches_a_new_account(core: Core) -> None:
    await onboard(core, UID)
    payload = invoice_payload("credit_10", UID)
    await payments.record_purchase(core, UID, "chOld", payload, "XTR", 50)
    ev = Event("tg", "880", "/delete", chat_id="880")
    await core.router.handle(ev)
    await core.router.handle(Event("tg", "880", "/delete confirm", chat_id="880"))
    assert (await payments.refund(core, "chOld")).reason == "account_deleted"
    await onboard(core, UID, bonus=False)  # the same person comes back and buys again
    await payments.record_purchase(core, UID, "chNew", payload, "XTR", 50)
    assert await core.ledger.balance(UID) == 10
    refused = await payments.refund(core, "chOld")
    assert refused.status == "refused" and refused.reason == "account_deleted"
    assert await core.ledger.balance(UID) == 10
    assert (await payments.refund(core, "chNew")).status == "reversed"
    assert await core.ledger.balance(UID) == 0
    assert await core.ledger.reconcile_all() == []
