"""Credit purchases paid with Telegram Stars: validation, the once-only grant, refunds.

Platform-neutral rules; the Telegram adapter only translates its updates into these calls.

- ``validate_purchase`` is pure: (payload, currency, amount, payer) against configuration
  → the pack, or the reason to refuse. Prices never come from the user: the payload names
  only the pack and the buyer (``credits_cmd.invoice_payload``).
- ``record_purchase`` grants the pack once per platform charge id
  (``idem_key=f"tgpay:{charge_id}"``, kept forever) and records the payment under
  ``K.payment(charge_id)``. A replayed payment grants nothing.
- ``refund`` reverses the grant through the ledger (idempotent); it refuses when the
  user's balance no longer covers the credits bought. The platform refund call itself is the
  adapter's job (``TelegramAdapter.refund_payment``), which then calls ``mark_refunded``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, UTC
from typing import TYPE_CHECKING

from bot.core.errors import BotError, ErrorCode
from bot.core.features.credits_cmd import parse_invoice_payload
from bot.core.logs import log_event
from bot.core.store import K, redis_guard

if TYPE_CHECKING:
    from bot.core.service import Core
    from bot.core.settings import CreditsConfig, Pack

__all__ = ["CURRENCY", "Rejection", "validate_purchase", "PurchaseResult", "record_purchase",
           "RefundResult", "refund", "mark_refunded", "payment_info"]

CURRENCY = "XTR"


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a purchase is refused: a machine reason and the i18n key shown to the payer."""

    reason: str  # "bad_payload" | "unknown_pack" | "wrong_user" | "wrong_currency" | "wrong_amount"
    key: str


def validate_purchase(credits: CreditsConfig, payload: str, currency: str, amount: int,
                      payer_uid: str) -> Pack | Rejection:
    """Check a checkout against configuration. Pure: no I/O, no clock."""
    parsed = parse_invoice_payload(payload or "")
    if parsed is None:
        return Rejection("bad_payload", "payments.rejected")
    pack_id, uid = parsed
    pack = credits.pack(pack_id)
    if pack is None:
        return Rejection("unknown_pack", "payments.rejected_pack")
    if uid != payer_uid:
        return Rejection("wrong_user", "payments.rejected_user")
    if currency != CURRENCY:
        return Rejection("wrong_currency", "payments.rejected")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount != pack.stars:
        return Rejection("wrong_amount", "payments.rejected_price")
    return pack


@dataclass(frozen=True, slots=True)
class PurchaseResult:
    status: str  # "granted" | "replay" | "rejected"
    credits: int = 0
    balance: int = 0
    pack_id: str = ""
    reason: str = ""


def _day(core: Core) -> str:
    return datetime.fromtimestamp(core.clock.now(), UTC).strftime("%Y-%m-%d")


async def _record(core: Core, charge_id: str, fields: dict[str, str], credits: int, stars: int) -> bool:
    """Write the payment record and the day's sales once (``payment_record.lua``); True if now."""
    fields = {**fields, "credits": str(credits)}
    async with redis_guard("payments.record"):
        first = bool(await core.store.scripts["payment_record"](
            keys=[K.payment(charge_id), K.payments_index(), K.sales_day(_day(core))],
            args=[charge_id, core.clock.now_ms(), credits, stars, *[x for kv in fields.items() for x in kv]],
        ))
    if first:
        core.metrics.credits_sold.inc(credits)
    return first


async def record_purchase(core: Core, payer_uid: str, charge_id: str, payload: str, currency: str,
                          amount: int, provider_charge_id: str = "") -> PurchaseResult:
    """Grant the credits of one successful payment, once per ``charge_id``.

    The money has already moved, so a payment that no longer validates (a pack removed, a
    price changed since the pre-checkout) is recorded as ``rejected`` for an operator to
    refund, and logged as an error.
    """
    if not charge_id:
        raise ValueError("charge id required")
    pay_key = K.payment(charge_id)
    idem_key = f"tgpay:{charge_id}"
    async with redis_guard("payments.record"):
        info = await core.store.redis.hgetall(pay_key)
    if info.get("status") in ("paid", "refunding", "refunded"):
        # Delivered again (webhook retry, second process): answered from the record, never
        # re-validated against a configuration that may have changed since.
        log_event("payment_replayed", user=payer_uid, charge=charge_id, status=info["status"])
        return PurchaseResult("replay", int(info.get("credits", 0)), await core.ledger.balance(payer_uid),
                              info.get("pack", ""))
    checked = validate_purchase(core.settings.product.credits, payload, currency, amount, payer_uid)
    base = {"uid": payer_uid, "currency": currency, "amount": str(amount), "payload": payload[:128],
            "provider_charge_id": provider_charge_id[:128], "ts": str(core.clock.now_ms())}
    if isinstance(checked, Rejection):
        prior = await core.ledger.first_result(payer_uid, idem_key)
        if prior is not None:
            # Granted by an earlier attempt that never got to record it: record it now.
            pack_id = payload.partition("|")[0]
            await _record(core, charge_id, {**base, "pack": pack_id, "entry_id": prior.id},
                          prior.amount, amount)
            return PurchaseResult("replay", prior.amount, await core.ledger.balance(payer_uid), pack_id)
        async with redis_guard("payments.record"):
            if await core.store.redis.hsetnx(pay_key, "status", "rejected"):
                await core.store.redis.hset(pay_key, mapping={**base, "reason": checked.reason})
                await core.store.redis.zadd(K.payments_index(), {charge_id: core.clock.now_ms()})
        log_event("payment_unmatched", level=logging.ERROR, user=payer_uid, charge=charge_id,
                  reason=checked.reason, amount=amount, currency=currency)
        return PurchaseResult("rejected", reason=checked.reason)
    pack = checked
    res = await core.ledger.grant(payer_uid, pack.total, f"purchase {pack.id} ({amount} {currency})",
                                  idem_key=f"tgpay:{charge_id}", kind="purchase", keep_forever=True)
    # The record is written once, gated on its status field, on the first grant *or* on a
    # replay whose first attempt granted but never got to record (Redis dropped in between).
    first_record = await _record(core, charge_id, {**base, "pack": pack.id, "entry_id": res.entry_id},
                                 pack.total, amount)
    if res.replayed:
        log_event("payment_replayed", user=payer_uid, charge=charge_id, pack=pack.id, recorded_now=first_record)
        return PurchaseResult("replay", pack.total, res.balance, pack.id)
    log_event("payment_granted", user=payer_uid, charge=charge_id, pack=pack.id, credits=pack.total,
              stars=amount)
    return PurchaseResult("granted", pack.total, res.balance, pack.id)


@dataclass(frozen=True, slots=True)
class RefundResult:
    status: str  # "reversed" | "already_refunded" | "refused"
    reason: str = ""  # "refused": unknown_payment | not_paid | insufficient_balance | account_deleted
    uid: str = ""
    credits: int = 0
    balance: int = 0

    @property
    def ok(self) -> bool:
        return self.status in ("reversed", "already_refunded")

    @property
    def user_id(self) -> str:
        """The platform user id (``123`` of ``tg:123``) the platform refund is addressed to."""
        return self.uid.partition(":")[2]


async def payment_info(core: Core, charge_id: str) -> dict[str, str]:
    async with redis_guard("payments.info"):
        raw = await core.store.redis.hgetall(K.payment(charge_id))
    return dict(raw)


async def refund(core: Core, charge_id: str) -> RefundResult:
    """Take back the credits of one payment (idempotent). Refuses with a clear reason.

    On success the payment is ``refunding`` until the adapter's platform refund succeeds and
    calls ``mark_refunded``; calling ``refund`` again after a failed platform call is safe
    (the ledger reversal replays, nothing is taken twice).
    """
    info = await payment_info(core, charge_id)
    if not info:
        return RefundResult("refused", "unknown_payment")
    uid = info.get("uid", "")
    if info.get("status") == "refunded":
        return RefundResult("already_refunded", uid=uid, credits=int(info.get("credits", 0)))
    if info.get("status") not in ("paid", "refunding"):
        return RefundResult("refused", "not_paid", uid=uid)
    credits = int(info.get("credits", 0))
    entry_id = info.get("entry_id", "")
    if info.get("status") == "paid" and entry_id and not await core.ledger.contains(uid, entry_id):
        # The grant is no longer in this user's ledger: /delete anonymised it (and a new
        # account under the same id must not pay for an old purchase).
        log_event("payment_refund_refused", user=uid, charge=charge_id, reason="account_deleted")
        return RefundResult("refused", "account_deleted", uid=uid, credits=credits)
    try:
        # Kept forever: retrying a refund whose platform call failed must never take twice.
        res = await core.ledger.spend(uid, credits, f"refund {info.get('pack', '')} ({charge_id[:24]})",
                                      idem_key=f"tgrefund:{charge_id}", kind="refund", keep_forever=True)
    except BotError as err:
        if err.code is ErrorCode.INSUFFICIENT_CREDITS:
            log_event("payment_refund_refused", user=uid, charge=charge_id, reason="insufficient_balance",
                      credits=credits, balance=err.params.get("balance"))
            return RefundResult("refused", "insufficient_balance", uid=uid, credits=credits,
                                balance=int(str(err.params.get("balance", 0))))
        raise
    async with redis_guard("payments.refund"):
        await core.store.redis.hset(K.payment(charge_id), mapping={"status": "refunding",
                                                                   "refund_entry_id": res.entry_id})
    log_event("payment_refund_reversed", user=uid, charge=charge_id, credits=credits, replay=res.replayed)
    return RefundResult("reversed", uid=uid, credits=credits, balance=res.balance)


async def mark_refunded(core: Core, charge_id: str) -> None:
    """The platform confirmed the refund: the payment is closed."""
    async with redis_guard("payments.refund"):
        await core.store.redis.hset(K.payment(charge_id), mapping={"status": "refunded",
                                                                   "refunded_at": str(core.clock.now_ms())})
    log_event("payment_refunded", charge=charge_id)
