"""Credit purchases: validation, the once-only grant, refunds — for every payment provider.

Platform-neutral rules; adapters only translate their updates into these calls.

Providers: a ``ProviderSpec`` (``PROVIDERS``) is configuration — which platform sells through
it, its currency, and the namespace of its records and idempotency keys (Telegram Stars:
``"stars"`` on ``tg``, currency ``XTR``, namespace ``tg``: ``payment:{pay}:tg:<charge>``,
``tgpay:<charge>``). The network half, a ``PaymentProvider`` (refunds), is registered by the
composition root in ``core.payment_providers`` from credentials alone, so any process
holding them — not only the one running the platform's adapter — can refund. A platform
without a provider (Discord) sells nothing: ``/buy`` there explains how to top up.

- ``validate_purchase`` is pure: (payload, currency, amount, payer) against configuration
  → the pack, or the reason to refuse. Prices never come from the user: the payload names
  only the pack and the buyer (``credits_cmd.invoice_payload``).
- ``record_purchase`` grants the pack once per platform charge id
  (``idem_key=f"<ns>pay:{charge_id}"`` in the account's slot, kept forever) and records the
  payment under ``K.payment(charge_id, ns)`` (the ``{pay}`` family: record, index and day sums
  change in one script). The record names the account by its opaque id only — no platform id,
  no name. A replayed payment grants nothing.
- ``refund`` reverses the grant through the ledger (idempotent); it refuses when the
  user's balance no longer covers the credits bought, or when the grant belongs to an account
  /delete detached. ``refund_payment`` runs the whole refund: the reversal, then the
  provider's refund through ``retry_refund`` (records attempts / last_error; refund_failed
  until it succeeds), then a notice to the buyer through the outbox.
  ``close_refund`` lets an operator close a refund stuck on the platform side (with a reason).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, UTC
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from redis.exceptions import LockError

from typing import Protocol

from bot.core.errors import BotError, ErrorCode, ServiceUnavailable
from bot.core.logs import log_event
from bot.core.store import K, REDIS_ERRORS, redis_guard

if TYPE_CHECKING:
    from bot.core.service import Core
    from bot.core.settings import CreditsConfig, Pack

__all__ = ["CURRENCY", "ProviderSpec", "PROVIDERS", "PaymentProvider", "provider_for_platform", "spec",
           "invoice_payload", "parse_invoice_payload", "refund_payment", "Rejection", "validate_purchase", "PurchaseResult", "record_purchase",
           "RefundResult", "refund", "retry_refund", "close_refund", "mark_refunded", "payment_info",
           "PlatformRefund", "PlatformAlreadyRefunded", "PAID", "REFUNDING", "REFUNDED", "REFUND_FAILED",
           "REFUND_CLOSED", "REFUND_OPEN"]

CURRENCY = "XTR"


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """A payment provider as configuration: no network, no credentials."""

    name: str  # "stars"
    platform: str  # the platform whose users pay through it ("tg")
    currency: str  # "XTR"
    ns: str  # namespace of its records and idempotency keys (kept stable: data depends on it)


PROVIDERS: dict[str, ProviderSpec] = {
    "stars": ProviderSpec("stars", "tg", CURRENCY, "tg"),
}


def spec(provider: str) -> ProviderSpec:
    try:
        return PROVIDERS[provider]
    except KeyError:
        raise ValueError(f"unknown payment provider {provider!r}") from None


def provider_for_platform(platform: str) -> ProviderSpec | None:
    """The provider users on ``platform`` pay through, or None (that platform sells nothing)."""
    return next((s for s in PROVIDERS.values() if s.platform == platform), None)


class PaymentProvider(Protocol):
    """The network half of a provider, registered in ``core.payment_providers[name]``."""

    name: str

    async def refund(self, user_id: str, charge_id: str) -> None:
        """Give the payment back to platform user ``user_id``; raises on failure, or
        ``PlatformAlreadyRefunded`` when the platform had refunded it before."""


def invoice_payload(pack_id: str, aid: str) -> str:
    """What the platform echoes back at checkout: the pack and the buyer's account, no price."""
    return f"{pack_id}|{aid}"


def parse_invoice_payload(payload: str) -> tuple[str, str] | None:
    pack_id, sep, aid = payload.partition("|")
    return (pack_id, aid) if sep and pack_id and aid else None


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a purchase is refused: a machine reason and the i18n key shown to the payer."""

    reason: str  # "bad_payload" | "unknown_pack" | "wrong_user" | "wrong_currency" | "wrong_amount"
    key: str


def validate_purchase(credits: CreditsConfig, payload: str, currency: str, amount: int,
                      payer_uid: str, provider: str = "stars") -> Pack | Rejection:
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
    if currency != spec(provider).currency:
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


async def _record(core: Core, ns: str, charge_id: str, fields: dict[str, str], credits: int,
                  stars: int) -> bool:
    """Write the payment record and the day's sales once (``payment_record.lua``); True if now."""
    fields = {**fields, "credits": str(credits)}
    async with redis_guard("payments.record"):
        first = bool(await core.store.scripts["payment_record"](
            keys=[K.payment(charge_id, ns), K.payments_index(ns), K.sales_day(_day(core))],
            args=[charge_id, core.clock.now_ms(), credits, stars, *[x for kv in fields.items() for x in kv]],
        ))
    if first:
        core.metrics.credits_sold.inc(credits)
    return first


async def _replicated(core: Core, ns: str, account: str, charge_id: str) -> None:
    """The grant (the account's slot) and the record ({pay}) are on a replica of their primaries
    before the update that carried the payment is let go (``Store.wait_replicated``).

    At intake the inbox already waited for the update itself; on a cluster the account's slot
    and the record may live on other primaries than the inbox partition, and a failover there
    could lose the grant while the inbox entry is already gone. Waiting here closes that gap:
    a timeout raises ``ServiceUnavailable``, the inbox keeps the update and handles it again
    (the grant replays, nothing is granted twice). Without replicas this returns at once."""
    wait_ms = core.settings.product.delivery.replica_wait_ms
    for key in (K.account(account), K.payment(charge_id, ns)):
        async with redis_guard("payments.replicate"):
            ok = await core.store.wait_replicated(key, wait_ms)
        if not ok:
            log_event("payment_replica_wait_timeout", level=logging.WARNING, user=account, charge=charge_id)
            raise ServiceUnavailable("replica")


async def record_purchase(core: Core, payer_uid: str, charge_id: str, payload: str, currency: str,
                          amount: int, provider_charge_id: str = "", *, provider: str = "stars") -> PurchaseResult:
    """Grant the credits of one successful payment, once per ``charge_id``. ``payer_uid`` is
    the payer's account id.

    Steps: 1. the record is created ``pending`` with the account and pack (``HSETNX status``:
    the first delivery decides the account that is credited); 2. the grant, idempotent under
    ``tgpay:<charge>`` in that account's slot; 3. ``payment_record.lua``: ``paid`` + index +
    day sums ({pay} slot, once). Crash after 1: the redelivered update finds ``pending`` and
    grants to the recorded account (never to a different one). Crash after 2: the grant
    replays (nothing new) and the record is completed. Redis down: ``ServiceUnavailable`` and
    the platform redelivers (the inbox keeps the update).

    The money has already moved, so a payment that no longer validates (a pack removed, a
    price changed since the pre-checkout) is recorded as ``rejected`` for an operator to
    refund, and logged as an error.
    """
    if not charge_id:
        raise ValueError("charge id required")
    ns = spec(provider).ns
    pay_key = K.payment(charge_id, ns)
    idem_key = f"{ns}pay:{charge_id}"
    async with redis_guard("payments.record"):
        info = await core.store.redis.hgetall(pay_key)
    if info.get("status") in (PAID, *REFUND_OPEN, REFUNDED, REFUND_CLOSED):
        # Delivered again (webhook retry, second process): answered from the record, never
        # re-validated against a configuration that may have changed since.
        account = info.get("account", payer_uid)
        log_event("payment_replayed", user=account, charge=charge_id, status=info["status"])
        return PurchaseResult("replay", int(info.get("credits", 0)), await core.ledger.balance(account),
                              info.get("pack", ""))
    base = {"account": payer_uid, "currency": currency, "amount": str(amount), "payload": payload[:128],
            "provider_charge_id": provider_charge_id[:128], "ts": str(core.clock.now_ms())}
    checked: Pack | Rejection
    begun = core.settings.product.credits.pack(info.get("pack", "")) if info.get("status") == PENDING else None
    if begun is not None:
        # Validated and begun by an earlier delivery: finish it for the account it recorded.
        payer_uid = info.get("account", payer_uid)
        checked = begun
        base["account"] = payer_uid
    else:
        checked = validate_purchase(core.settings.product.credits, payload, currency, amount, payer_uid,
                                    provider)
        if not isinstance(checked, Rejection):
            # Begin: from no record, or from "rejected" (the price matches again). Losing this
            # race to a concurrent delivery: follow the record it made (now pending or paid).
            if info.get("status") == "rejected":
                began, _ = await _transition(core, ns, charge_id, ("rejected",), status=PENDING)
            else:
                async with redis_guard("payments.record"):
                    began = bool(await core.store.redis.hsetnx(pay_key, "status", PENDING))
            if not began:
                return await record_purchase(core, payer_uid, charge_id, payload, currency, amount,
                                             provider_charge_id, provider=provider)
            async with redis_guard("payments.record"):
                await core.store.redis.hset(pay_key, mapping={**base, "pack": checked.id})
    if isinstance(checked, Rejection):
        prior = await core.ledger.first_result(payer_uid, idem_key)
        if prior is not None:
            # Granted by an earlier attempt that never got to record it: record it now.
            pack_id = payload.partition("|")[0]
            await _record(core, ns, charge_id, {**base, "pack": pack_id, "entry_id": prior.id},
                          prior.amount, amount)
            return PurchaseResult("replay", prior.amount, await core.ledger.balance(payer_uid), pack_id)
        async with redis_guard("payments.record"):
            if await core.store.redis.hsetnx(pay_key, "status", "rejected"):
                await core.store.redis.hset(pay_key, mapping={**base, "reason": checked.reason})
                await core.store.redis.zadd(K.payments_index(ns), {charge_id: core.clock.now_ms()})
        log_event("payment_unmatched", level=logging.ERROR, user=payer_uid, charge=charge_id,
                  reason=checked.reason, amount=amount, currency=currency)
        return PurchaseResult("rejected", reason=checked.reason)
    pack = checked
    res = await core.ledger.grant(payer_uid, pack.total, f"purchase {pack.id} ({amount} {currency})",
                                  idem_key=idem_key, kind="purchase", keep_forever=True)
    # The record is written once, gated on its status field, on the first grant *or* on a
    # replay whose first attempt granted but never got to record (Redis dropped in between).
    first_record = await _record(core, ns, charge_id, {**base, "pack": pack.id, "entry_id": res.entry_id},
                                 pack.total, amount)
    await _replicated(core, ns, payer_uid, charge_id)
    if res.replayed:
        log_event("payment_replayed", user=payer_uid, charge=charge_id, pack=pack.id, recorded_now=first_record)
        return PurchaseResult("replay", pack.total, res.balance, pack.id)
    log_event("payment_granted", user=payer_uid, charge=charge_id, pack=pack.id, credits=pack.total,
              stars=amount)
    return PurchaseResult("granted", pack.total, res.balance, pack.id)


#: Payment statuses. A refund goes paid -> refunding (credits taken back) -> refunded (the
#: platform confirmed); a failed platform call makes it refund_failed (retry with
#: ``retry_refund``); an operator may close a refunding/refund_failed payment (refund_closed,
#: e.g. the Stars were returned by hand) -- the ledger reversal stays either way.
PAID, REFUNDING, REFUNDED, REFUND_FAILED, REFUND_CLOSED = (
    "paid", "refunding", "refunded", "refund_failed", "refund_closed")
#: Validated and begun (the account to credit is recorded); the grant may not be made yet.
PENDING = "pending"
#: Statuses of a refund whose credits are reversed but whose platform refund is not confirmed.
REFUND_OPEN = (REFUNDING, REFUND_FAILED)
#: A platform refund attempt (or an operator close) holds this lock; a crashed attempt frees it.
REFUND_LOCK_SECONDS = 120

#: The adapter's platform refund: ``await call(account_id, charge_id)``; raises on failure
#: (the adapter finds the account's platform identity: ``core.accounts.target``).
PlatformRefund = Callable[[str, str], Awaitable[None]]


class PlatformAlreadyRefunded(Exception):
    """Raised by a ``PlatformRefund`` when the platform says the charge was refunded before
    (an earlier attempt succeeded but its confirmation was never recorded)."""


@dataclass(frozen=True, slots=True)
class RefundResult:
    # "reversed" credits taken back, platform refund pending | "refunded" platform confirmed now
    # | "already_refunded" | "failed" platform call failed (refund_failed) | "closed" by an operator
    # | "refused" (see reason)
    status: str
    # refused: unknown_payment | not_paid | insufficient_balance | account_deleted | grant_not_found
    #          | not_refunding | closed | in_progress | reason_required;   failed: platform_error
    reason: str = ""
    uid: str = ""
    credits: int = 0
    balance: int = 0
    attempts: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("reversed", "refunded", "already_refunded", "closed")



async def payment_info(core: Core, charge_id: str, provider: str = "stars") -> dict[str, str]:
    async with redis_guard("payments.info"):
        raw = await core.store.redis.hgetall(K.payment(charge_id, spec(provider).ns))
    return dict(raw)


async def _transition(core: Core, ns: str, charge_id: str, allowed: tuple[str, ...], counter: str = "",
                      **fields: str) -> tuple[bool, str]:
    """Set ``fields`` only if the payment's status is one of ``allowed`` (``payment_transition.lua``,
    atomic). Returns (applied, status before)."""
    async with redis_guard("payments.refund"):
        applied, before = await core.store.scripts["payment_transition"](
            keys=[K.payment(charge_id, ns)],
            args=[" ".join(allowed), counter, *[x for kv in fields.items() for x in kv]])
    return bool(int(applied)), str(before)


def _closed_state(status: str, uid: str, credits: int) -> RefundResult | None:
    """The answer for a payment whose refund cannot move on from ``status``, else None."""
    if status == REFUNDED:
        return RefundResult("already_refunded", uid=uid, credits=credits)
    if status == REFUND_CLOSED:
        return RefundResult("refused", "closed", uid=uid, credits=credits)
    if status == PAID:
        return RefundResult("refused", "not_refunding", uid=uid, credits=credits)
    if status not in REFUND_OPEN:
        return RefundResult("refused", "not_paid", uid=uid, credits=credits)
    return None


async def refund(core: Core, charge_id: str, provider: str = "stars") -> RefundResult:
    """Take back the credits of one payment (idempotent). Refuses with a clear reason.

    ``paid`` -> ``refunding``: the ledger reversal (kept-forever idempotency key
    ``<ns>refund:<charge>``) and then the status, gated on ``paid``. A crash in between leaves
    the payment ``paid`` with the credits reversed; calling ``refund`` again replays the
    reversal (nothing is taken twice) and moves the status on. For a payment already
    ``refunding``/``refund_failed`` it replays and answers "reversed", so the adapter's refund
    retries the platform call (``retry_refund``). Redis down: ``ServiceUnavailable``, safe to retry.
    """
    ns = spec(provider).ns
    info = await payment_info(core, charge_id, provider)
    if not info:
        return RefundResult("refused", "unknown_payment")
    uid = info.get("account", "")
    status = info.get("status", "")
    credits = int(info.get("credits", 0))
    if status == REFUNDED:
        return RefundResult("already_refunded", uid=uid, credits=credits)
    if status == REFUND_CLOSED:
        return RefundResult("refused", "closed", uid=uid, credits=credits)
    if status not in (PAID, *REFUND_OPEN):
        return RefundResult("refused", "not_paid", uid=uid)
    reversed_before = await core.ledger.first_result(uid, f"{ns}refund:{charge_id}")
    if status == PAID and reversed_before is not None:
        # The credits were already taken back, then the process stopped before the status
        # moved on (and the account may have been deleted since): finish the transition only.
        await _transition(core, ns, charge_id, (PAID,), status=REFUNDING, refund_entry_id=reversed_before.id,
                          refund_started_at=str(core.clock.now_ms()))
        log_event("payment_refund_reversed", user=uid, charge=charge_id, credits=credits, replay=True)
        return RefundResult("reversed", uid=uid, credits=credits)
    if status == PAID and not await core.accounts.identities(uid):
        # /delete erased the account: nobody can be refunded on the platform, and the credits
        # stay in its anonymous ledger (an operator may refund by hand and close the record).
        log_event("payment_refund_refused", user=uid, charge=charge_id, reason="account_deleted")
        return RefundResult("refused", "account_deleted", uid=uid, credits=credits)
    if status == PAID and await core.ledger.owned_entry(uid, f"{ns}pay:{charge_id}") is None:
        # The grant is not this account's (any more): /delete detached it, and a new account
        # under the same id must not pay for an old purchase. Found through the grant's
        # idempotency record, so it works however old (compacted) the ledger is.
        reason = ("account_deleted" if await core.ledger.first_result(uid, f"{ns}pay:{charge_id}")
                  else "grant_not_found")
        log_event("payment_refund_refused", user=uid, charge=charge_id, reason=reason)
        return RefundResult("refused", reason, uid=uid, credits=credits)
    try:
        # Kept forever: retrying a refund whose platform call failed must never take twice.
        res = await core.ledger.spend(uid, credits, f"refund {info.get('pack', '')} ({charge_id[:24]})",
                                      idem_key=f"{ns}refund:{charge_id}", kind="refund", keep_forever=True)
    except BotError as err:
        if err.code is ErrorCode.INSUFFICIENT_CREDITS:
            log_event("payment_refund_refused", user=uid, charge=charge_id, reason="insufficient_balance",
                      credits=credits, balance=err.params.get("balance"))
            return RefundResult("refused", "insufficient_balance", uid=uid, credits=credits,
                                balance=int(str(err.params.get("balance", 0))))
        raise
    await _transition(core, ns, charge_id, (PAID,), status=REFUNDING, refund_entry_id=res.entry_id,
                      refund_started_at=str(core.clock.now_ms()))
    log_event("payment_refund_reversed", user=uid, charge=charge_id, credits=credits, replay=res.replayed)
    return RefundResult("reversed", uid=uid, credits=credits, balance=res.balance)


@contextlib.asynccontextmanager
async def _refund_lock(core: Core, ns: str, charge_id: str) -> AsyncIterator[bool]:
    """One refund attempt or operator close at a time per payment; yields whether we hold it.
    Freed after ``REFUND_LOCK_SECONDS`` if the process dies; Redis down: ``ServiceUnavailable``."""
    lock = core.store.redis.lock(K.payment_refund_lock(charge_id, ns), timeout=REFUND_LOCK_SECONDS, blocking=False)
    async with redis_guard("payments.refund"):
        held = bool(await lock.acquire())
    try:
        yield held
    finally:
        if held:
            with contextlib.suppress(LockError, *REDIS_ERRORS):
                await lock.release()


async def retry_refund(core: Core, charge_id: str, platform_refund: PlatformRefund,
                       provider: str = "stars") -> RefundResult:
    """Ask the platform to refund a reversed payment (again): ``refunding``/``refund_failed``
    -> ``refunded``, or -> ``refund_failed`` with ``last_error`` when the call fails.

    ``platform_refund`` is the adapter's call (the network edge); it raises on failure, or
    ``PlatformAlreadyRefunded`` when the platform had refunded before (counted as success).
    One attempt at a time per payment (a lock, freed after ``REFUND_LOCK_SECONDS`` if the
    process dies); ``attempts`` and ``last_attempt_at`` are recorded before the call, so a
    crash mid-call leaves the payment open for the next retry (which the platform answers
    with already-refunded if the first call went through). Never touches the ledger.
    Redis down: ``ServiceUnavailable``; the payment stays open and the retry is safe.
    """
    ns = spec(provider).ns
    info = await payment_info(core, charge_id, provider)
    if not info:
        return RefundResult("refused", "unknown_payment")
    uid, credits = info.get("account", ""), int(info.get("credits", 0))
    done = _closed_state(info.get("status", ""), uid, credits)
    if done is not None:
        return done
    async with _refund_lock(core, ns, charge_id) as held:
        if not held:
            return RefundResult("refused", "in_progress", uid=uid, credits=credits)
        applied, before = await _transition(core, ns, charge_id, REFUND_OPEN, "attempts",
                                            last_attempt_at=str(core.clock.now_ms()))
        if not applied:  # changed between the read and the lock
            return _closed_state(before, uid, credits) or RefundResult("refused", "not_paid", uid=uid)
        attempts = int((await payment_info(core, charge_id, provider)).get("attempts", 0))
        note = ""
        try:
            await platform_refund(uid, charge_id)
        except PlatformAlreadyRefunded:
            note = "already_refunded_on_platform"
        except Exception as exc:  # the network edge: any failure is recorded, never raised
            error = f"{type(exc).__name__}: {exc}"[:200]
            await _transition(core, ns, charge_id, REFUND_OPEN, status=REFUND_FAILED, last_error=error,
                              failed_at=str(core.clock.now_ms()))
            log_event("payment_refund_failed", level=logging.WARNING, user=uid, charge=charge_id,
                      attempts=attempts, error=error)
            return RefundResult("failed", "platform_error", uid=uid, credits=credits, attempts=attempts,
                                error=error)
        await _transition(core, ns, charge_id, REFUND_OPEN, status=REFUNDED, refunded_at=str(core.clock.now_ms()))
        log_event("payment_refunded", user=uid, charge=charge_id, attempts=attempts, note=note)
        return RefundResult("refunded", note, uid=uid, credits=credits, attempts=attempts)


async def close_refund(core: Core, charge_id: str, operator: str, reason: str,
                       provider: str = "stars") -> RefundResult:
    """An operator closes a refund stuck in ``refunding``/``refund_failed`` (e.g. the Stars
    were returned by hand): -> ``refund_closed`` with ``closed_by``, ``closed_reason``,
    ``closed_at``. The ledger reversal stays. Idempotent (closing again answers "closed");
    refused while a platform attempt holds the lock, and without an operator and a reason.
    Redis down: ``ServiceUnavailable``, nothing changed.
    """
    operator = operator.strip()[:64]
    reason = " ".join(reason.split())[:200]
    if not operator or not reason:
        return RefundResult("refused", "reason_required")
    ns = spec(provider).ns
    info = await payment_info(core, charge_id, provider)
    if not info:
        return RefundResult("refused", "unknown_payment")
    uid, credits = info.get("account", ""), int(info.get("credits", 0))
    if info.get("status") == REFUND_CLOSED:
        return RefundResult("closed", info.get("closed_reason", ""), uid=uid, credits=credits)
    done = _closed_state(info.get("status", ""), uid, credits)
    if done is not None:
        return done
    async with _refund_lock(core, ns, charge_id) as held:
        if not held:
            return RefundResult("refused", "in_progress", uid=uid, credits=credits)
        applied, before = await _transition(core, ns, charge_id, REFUND_OPEN, status=REFUND_CLOSED,
                                            closed_by=operator, closed_reason=reason,
                                            closed_at=str(core.clock.now_ms()))
    if not applied:
        return _closed_state(before, uid, credits) or RefundResult("refused", "not_paid", uid=uid)
    log_event("payment_refund_closed", user=uid, charge=charge_id, operator=operator, reason=reason)
    return RefundResult("closed", reason, uid=uid, credits=credits)


async def mark_refunded(core: Core, charge_id: str, provider: str = "stars") -> bool:
    """The platform confirmed the refund: ``refunding``/``refund_failed`` -> ``refunded``.

    Gated on the status (atomic); returns whether it applied. ``retry_refund`` does this
    itself; kept for callers that made the platform call on their own.
    """
    applied, _ = await _transition(core, spec(provider).ns, charge_id, REFUND_OPEN, status=REFUNDED,
                                   refunded_at=str(core.clock.now_ms()))
    if applied:
        log_event("payment_refunded", charge=charge_id)
    return applied


async def refund_payment(core: Core, charge_id: str, provider: str = "stars") -> RefundResult:
    """The whole refund of one payment, from any process holding the provider's credentials:
    reverse the grant (``refund``), give the money back through the provider registered in
    ``core.payment_providers`` (``retry_refund``), then tell the buyer through the outbox.

    Safe to call again at every point: the reversal replays, a payment whose provider call
    failed (``refund_failed``) is tried again, and the notice's job id is derived from the
    charge, so it is sent once. Crash after the reversal: the payment is ``refunding`` and the
    next call retries the provider. Crash after the provider's refund but before ``refunded``
    is recorded: the next call gets "already refunded" from the platform, counted as success.
    Crash before the notice is queued: the next call (answering "already_refunded") does not
    re-send it — the refund stands and the ledger shows it. No provider in this process:
    ``failed`` / ``no_provider``, the payment stays ``refunding`` (credits already reversed)
    for a process that has one. Returns "reversed" once the money is back, else the
    attempt's result. Redis down: ``ServiceUnavailable``.
    """
    from bot.core.i18n import t
    from bot.core.reply import Reply

    ps = spec(provider)
    result = await refund(core, charge_id, provider)
    if result.status != "reversed":
        return result
    impl = core.payment_providers.get(provider)

    async def call(aid: str, charge: str) -> None:
        if impl is None:
            raise LookupError(f"no {provider} provider in this process")
        target = await core.accounts.target(aid, ps.platform)
        if target is None:
            raise LookupError(f"the account has no {ps.platform} identity any more (erased)")
        await impl.refund(target[1], charge)

    attempt = await retry_refund(core, charge_id, call, provider)
    if attempt.status != "refunded":
        return attempt
    profile = await core.profiles.get(result.uid)
    lang = profile.lang if profile is not None else "ko"
    job_id = "refund-" + hashlib.sha256(f"{ps.ns}:{charge_id}".encode()).hexdigest()[:24]
    try:
        await core.outbox.enqueue(job_id, "notice", result.uid, platform=ps.platform, lang=lang,
                                  reply=Reply(t(lang, "payments.refund_done", credits=result.credits)))
    except Exception:  # the refund stands even if the notice cannot be queued
        log_event("payment_refund_notice_failed", level=logging.WARNING, user=result.uid)
    return result
