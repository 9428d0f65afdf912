"""Stars-only refund of a payment recorded ``rejected`` after the Stars were taken.

``record_purchase`` records a payment that no longer matched the configuration (a pack removed,
a price changed after the pre-checkout) as ``rejected``: the buyer paid, no credits were
granted. The operator gives the Stars back with ``/ops refund <charge>``; there is nothing to
reverse in the ledger.

Steps, under the payment's refund lock (``K.payment_refund_lock``: one attempt at a time, freed
after 120 s if the process dies): 1. count the attempt on the record (gated on ``rejected``);
2. the provider's refund (``core.payment_providers[...]``); 3. success (or the platform saying
it was refunded before) -> ``refunded`` with ``refund_kind=stars_only``, ``refunded_at``,
``refunded_by``; failure -> stays ``rejected`` with ``stars_refund_error``. Idempotent: a
``refunded`` stars-only payment answers "already". Crash between 2 and 3: the record stays
``rejected`` and the next attempt gets "already refunded" from the platform, recorded as done.
A redelivered payment update after 3 is a replay (``refunded``), never a grant. Redis down:
``ServiceUnavailable`` before the provider is called, or the provider refunded and the record
stays ``rejected`` (the retry records it, as above).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.exceptions import LockError

from bot.core.logs import log_event
from bot.core.payments import REFUND_LOCK_SECONDS, PlatformAlreadyRefunded, payment_info, spec
from bot.core.store import K, REDIS_ERRORS, redis_guard

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["StarsOnlyResult", "refund_rejected"]


@dataclass(frozen=True, slots=True)
class StarsOnlyResult:
    status: str  # "refunded" | "already" | "failed" | "refused"
    reason: str = ""  # refused: not_rejected | in_progress | no_provider | account_deleted
    uid: str = ""
    amount: int = 0
    error: str = ""


async def _transition(core: Core, ns: str, charge_id: str, allowed: str, counter: str, **fields: str) -> bool:
    async with redis_guard("ops.refund_rejected"):
        applied, _ = await core.store.scripts["payment_transition"](
            keys=[K.payment(charge_id, ns)], args=[allowed, counter, *[x for kv in fields.items() for x in kv]])
    return bool(int(applied))


async def refund_rejected(core: Core, charge_id: str, operator: str, provider: str = "stars") -> StarsOnlyResult:
    """Give back the Stars of a ``rejected`` payment (see the module docstring)."""
    ps = spec(provider)
    info = await payment_info(core, charge_id, provider)
    uid, amount = info.get("account", ""), int(info.get("amount", 0) or 0)
    if info.get("status") == "refunded" and info.get("refund_kind") == "stars_only":
        return StarsOnlyResult("already", uid=uid, amount=amount)
    if info.get("status") != "rejected":
        return StarsOnlyResult("refused", "not_rejected", uid=uid, amount=amount)
    impl = core.payment_providers.get(provider)
    if impl is None:
        return StarsOnlyResult("refused", "no_provider", uid=uid, amount=amount)
    target = await core.accounts.target(uid, ps.platform)
    if target is None:
        return StarsOnlyResult("refused", "account_deleted", uid=uid, amount=amount)
    lock = core.store.redis.lock(K.payment_refund_lock(charge_id, ps.ns), timeout=REFUND_LOCK_SECONDS, blocking=False)
    async with redis_guard("ops.refund_rejected"):
        held = bool(await lock.acquire())
    if not held:
        return StarsOnlyResult("refused", "in_progress", uid=uid, amount=amount)
    try:
        now = str(core.clock.now_ms())
        if not await _transition(core, ps.ns, charge_id, "rejected", "stars_refund_attempts",
                                 stars_refund_last_attempt_at=now):
            again = await payment_info(core, charge_id, provider)
            if again.get("status") == "refunded" and again.get("refund_kind") == "stars_only":
                return StarsOnlyResult("already", uid=uid, amount=amount)
            return StarsOnlyResult("refused", "not_rejected", uid=uid, amount=amount)
        note = ""
        try:
            await impl.refund(target[1], charge_id)
        except PlatformAlreadyRefunded:
            note = "already_refunded_on_platform"
        except Exception as exc:  # the network edge: recorded, never raised
            error = f"{type(exc).__name__}: {exc}"[:200]
            await _transition(core, ps.ns, charge_id, "rejected", "", stars_refund_error=error)
            log_event("payment_stars_refund_failed", level=logging.WARNING, user=uid, charge=charge_id, error=error)
            return StarsOnlyResult("failed", "platform_error", uid=uid, amount=amount, error=error)
        await _transition(core, ps.ns, charge_id, "rejected", "", status="refunded", refund_kind="stars_only",
                          refunded_at=str(core.clock.now_ms()), refunded_by=operator[:64])
        log_event("payment_stars_refunded", user=uid, charge=charge_id, note=note)
        return StarsOnlyResult("refunded", note, uid=uid, amount=amount)
    finally:
        with contextlib.suppress(LockError, *REDIS_ERRORS):
            await lock.release()
