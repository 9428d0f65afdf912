"""Telegram Stars: pre-checkout answers and ``successful_payment`` grants, translated to the
core rules in ``bot.core.payments`` (validation, the once-only grant, refunds)."""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING


from bot.core import payments as core_payments
from bot.core.errors import ServiceUnavailable
from bot.core.i18n import Lang, normalize_lang, t
from bot.core.logs import log_event
from bot.core.reply import Reply
from bot.core.store import REDIS_ERRORS

if TYPE_CHECKING:
    from telegram import Message, PreCheckoutQuery

    from bot.handlers.telegram.adapter import TelegramAdapter

__all__ = ["TelegramPayments"]


class TelegramPayments:
    def __init__(self, adapter: TelegramAdapter) -> None:
        self.adapter = adapter
        self.core = adapter.core

    async def pre_checkout(self, query: PreCheckoutQuery) -> None:
        """Answer ok only for a payload, currency and amount matching the configured pack."""
        uid = f"tg:{query.from_user.id}"
        hint = query.from_user.language_code
        try:  # the payer's account (the payload names it); also: the grant needs Redis
            aid = await self.core.accounts.resolve(uid)
        except ServiceUnavailable:
            lang = normalize_lang(hint)
            log_event("payment_precheckout_rejected", level=logging.WARNING, user=uid, reason="redis_down")
            await query.answer(ok=False, error_message=t(lang, "payments.unavailable"))
            return
        checked = core_payments.validate_purchase(self.core.settings.product.credits, query.invoice_payload,
                                                  query.currency, query.total_amount, aid)
        if isinstance(checked, core_payments.Rejection):
            lang = await self.adapter.user_lang(uid, hint)
            log_event("payment_precheckout_rejected", level=logging.WARNING, user=uid, reason=checked.reason,
                      currency=query.currency, amount=query.total_amount)
            await query.answer(ok=False, error_message=t(lang, checked.key))
            return
        try:  # the grant needs Redis: refuse now rather than take money we cannot credit
            await self.core.store.ping()
        except REDIS_ERRORS:
            lang = await self.adapter.user_lang(uid, hint)
            log_event("payment_precheckout_rejected", level=logging.WARNING, user=uid, reason="redis_down")
            await query.answer(ok=False, error_message=t(lang, "payments.unavailable"))
            return
        await query.answer(ok=True)
        log_event("payment_precheckout_ok", user=uid, pack=checked.id, amount=query.total_amount)

    async def successful_payment(self, message: Message) -> None:
        """Grant once per charge id, then confirm through the outbox (one message, retried).

        Runs from the durable inbox. Redis down: ``ServiceUnavailable`` propagates and the
        inbox keeps the update and tries again — a payment is never dropped. A replay (the
        update handled again, or by a second process) grants nothing and, since the
        confirmation's job id is derived from the charge id, sends no second message.
        """
        sp = message.successful_payment
        assert sp is not None and message.from_user is not None
        uid = f"tg:{message.from_user.id}"
        charge = sp.telegram_payment_charge_id
        aid = await self.core.accounts.resolve(uid)
        result = await core_payments.record_purchase(
            self.core, aid, charge, sp.invoice_payload, sp.currency, sp.total_amount,
            sp.provider_payment_charge_id or "")
        lang: Lang = await self.adapter.user_lang(uid, message.from_user.language_code)
        if result.status in ("granted", "replay"):
            text = t(lang, "payments.granted", credits=result.credits, balance=result.balance)
        else:
            text = t(lang, "payments.needs_review", ref=charge[:16])
        job_id = "pay-" + hashlib.sha256(f"tg:{charge}".encode()).hexdigest()[:24]
        await self.core.outbox.enqueue(job_id, "notice", aid, platform="tg", lang=lang, reply=Reply(text))

    async def refund(self, charge_id: str) -> core_payments.RefundResult:
        """The whole Stars refund (``bot.core.payments.refund_payment``)."""
        return await core_payments.refund_payment(self.core, charge_id, "stars")
