"""Stars payments in the core: redelivery after a price change, late records, refunds after /delete,
refunds whose platform call fails (retry, operator close), refunds of compacted purchases."""

from __future__ import annotations

import pytest

import asyncio
import json
from pathlib import Path

from bot.core import payments
from bot.core.payments import invoice_payload
from bot.core.router import Event
from bot.core.service import Core
from bot.core.store import K
from tests.support.factory import make_core, onboard
from tests.support.redis_cluster import RedisSentinelSet

pytestmark = pytest.mark.both_backends

ROOT = Path(__file__).resolve().parents[2]


def core_with_price(redis_url: str, tmp_path: Path, stars: int) -> Core:
    """A second process whose config prices credit_10 differently (an operator changed it)."""
    cfg = tmp_path / f"price-{stars}.toml"
    source = (ROOT / "config" / "defaults.toml").read_text()
    cfg.write_text(source.replace("stars = 50\n", f"stars = {stars}\n", 1))
    return make_core(redis_url, tmp_path, CONFIG_FILE=str(cfg))


async def test_redelivery_after_a_price_change_is_a_replay_not_a_rejection(core: Core, redis_url: str,
                                                                           tmp_path: Path) -> None:
    uid = (await onboard(core, "tg:880")).uid
    payload = invoice_payload("credit_10", uid)
    first = await payments.record_purchase(core, uid, "chA", payload, "XTR", 50)
    assert first.status == "granted" and await core.ledger.balance(uid) == 13
    changed = core_with_price(redis_url, tmp_path, 60)
    try:
        again = await payments.record_purchase(changed, uid, "chA", payload, "XTR", 50)
        assert again.status == "replay" and await changed.ledger.balance(uid) == 13
        info = await payments.payment_info(changed, "chA")
        assert info["status"] == "paid" and "reason" not in info
    finally:
        await changed.store.close()


async def test_a_rejected_payment_is_granted_once_the_price_matches_again(core: Core, redis_url: str,
                                                                          tmp_path: Path) -> None:
    uid = (await onboard(core, "tg:880")).uid
    payload = invoice_payload("credit_10", uid)
    changed = core_with_price(redis_url, tmp_path, 60)
    try:
        rejected = await payments.record_purchase(changed, uid, "chB", payload, "XTR", 50)
        assert rejected.status == "rejected" and await core.ledger.balance(uid) == 3
        assert (await payments.payment_info(core, "chB"))["status"] == "rejected"
    finally:
        await changed.store.close()
    granted = await payments.record_purchase(core, uid, "chB", payload, "XTR", 50)
    assert granted.status == "granted" and await core.ledger.balance(uid) == 13
    info = await payments.payment_info(core, "chB")
    assert info["status"] == "paid" and "reason" not in info
    assert (await payments.refund(core, "chB")).status == "reversed"
    assert await core.ledger.balance(uid) == 3


async def test_granted_but_unrecorded_then_price_changed_is_recorded_as_paid(core: Core, redis_url: str,
                                                                             tmp_path: Path) -> None:
    uid = (await onboard(core, "tg:880")).uid
    await core.ledger.grant(uid, 10, "purchase credit_10", idem_key="tgpay:chC", kind="purchase",
                            keep_forever=True)  # the first attempt died before recording
    changed = core_with_price(redis_url, tmp_path, 60)
    try:
        res = await payments.record_purchase(changed, uid, "chC", invoice_payload("credit_10", uid), "XTR", 50)
        assert res.status == "replay" and res.credits == 10
        info = await payments.payment_info(changed, "chC")
        assert info["status"] == "paid" and info["credits"] == "10" and info["pack"] == "credit_10"
        assert await changed.ledger.balance(uid) == 13
    finally:
        await changed.store.close()


async def test_refund_after_delete_is_refused_and_never_touches_a_new_account(core: Core) -> None:
    old = (await onboard(core, "tg:7319880")).uid
    await payments.record_purchase(core, old, "chOld", invoice_payload("credit_10", old), "XTR", 50)
    ev = Event("tg", "7319880", "/delete", chat_id="7319880")
    await core.router.handle(ev)
    await core.router.handle(Event("tg", "7319880", "/delete confirm", chat_id="7319880"))
    assert (await payments.refund(core, "chOld")).reason == "account_deleted"
    new = (await onboard(core, "tg:7319880", bonus=False)).uid  # the same person comes back and buys again
    assert new != old
    await payments.record_purchase(core, new, "chNew", invoice_payload("credit_10", new), "XTR", 50)
    assert await core.ledger.balance(new) == 10
    refused = await payments.refund(core, "chOld")
    assert refused.status == "refused" and refused.reason == "account_deleted"
    assert await core.ledger.balance(new) == 10 and await core.ledger.balance(old) == 13
    assert (await payments.refund(core, "chNew")).status == "reversed"
    assert await core.ledger.balance(new) == 0
    assert await core.ledger.reconcile_all() == []
    # The record names the (opaque) account only: no platform id, no payload naming the user.
    info = await payments.payment_info(core, "chOld")
    assert info["account"] == old and "7319880" not in json.dumps(info)


# --- refunds stuck on the platform side: retry, close ------------------------------------------

class FakePlatform:
    """The platform refund call (the network edge): fails ``failures`` times, then succeeds."""

    def __init__(self, failures: int = 0, already: bool = False) -> None:
        self.failures = failures
        self.already = already
        self.calls: list[tuple[str, str]] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def __call__(self, uid: str, charge_id: str) -> None:
        self.calls.append((uid, charge_id))
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if len(self.calls) <= self.failures:
            raise ConnectionError("502 Bad Gateway")
        if self.already:
            raise payments.PlatformAlreadyRefunded("Bad Request: CHARGE_ALREADY_REFUNDED")


async def _bought_and_reversed(core: Core, charge: str) -> str:
    uid = (await onboard(core, "tg:880")).uid
    await payments.record_purchase(core, uid, charge, invoice_payload("credit_10", uid), "XTR", 50)
    assert (await payments.refund(core, charge)).status == "reversed"
    assert (await payments.payment_info(core, charge))["status"] == "refunding"
    assert await core.ledger.balance(uid) == 3
    return uid


async def test_a_refund_whose_platform_call_fails_is_retried_until_it_succeeds(core: Core) -> None:
    uid = await _bought_and_reversed(core, "chR")
    platform = FakePlatform(failures=2)
    for attempt in (1, 2):
        failed = await payments.retry_refund(core, "chR", platform)
        assert failed.status == "failed" and failed.reason == "platform_error" and failed.attempts == attempt
        info = await payments.payment_info(core, "chR")
        assert info["status"] == "refund_failed" and info["attempts"] == str(attempt)
        assert info["last_error"] == "ConnectionError: 502 Bad Gateway"
    # The adapter's refund path replays the reversal (nothing taken twice) and may retry too.
    again = await payments.refund(core, "chR")
    assert again.status == "reversed" and again.balance == 3
    done = await payments.retry_refund(core, "chR", platform)
    assert done.status == "refunded" and done.attempts == 3 and done.credits == 10
    assert platform.calls == [(uid, "chR")] * 3
    info = await payments.payment_info(core, "chR")
    assert info["status"] == "refunded" and "refunded_at" in info
    assert (await payments.retry_refund(core, "chR", platform)).status == "already_refunded"
    assert (await payments.refund(core, "chR")).status == "already_refunded"
    assert len(platform.calls) == 3
    assert await core.ledger.balance(uid) == 3 and await core.ledger.reconcile_all() == []


async def test_already_refunded_on_the_platform_counts_as_refunded(core: Core) -> None:
    await _bought_and_reversed(core, "chA2")
    res = await payments.retry_refund(core, "chA2", FakePlatform(already=True))
    assert res.status == "refunded" and res.reason == "already_refunded_on_platform"
    assert (await payments.payment_info(core, "chA2"))["status"] == "refunded"


async def test_an_operator_closes_a_refund_the_platform_keeps_refusing(core: Core) -> None:
    uid = await _bought_and_reversed(core, "chX")
    platform = FakePlatform(failures=99)
    assert (await payments.retry_refund(core, "chX", platform)).status == "failed"
    for operator, reason in (("", "refunded by hand"), ("ops:kim", "   "), ("ops:kim", "")):
        refused = await payments.close_refund(core, "chX", operator, reason)
        assert refused.status == "refused" and refused.reason == "reason_required"
    assert (await payments.payment_info(core, "chX"))["status"] == "refund_failed"
    closed = await payments.close_refund(core, "chX", "ops:kim", "Stars returned by hand\n(ticket 12)")
    assert closed.status == "closed" and closed.ok
    info = await payments.payment_info(core, "chX")
    assert info["status"] == "refund_closed" and info["closed_by"] == "ops:kim"
    assert info["closed_reason"] == "Stars returned by hand (ticket 12)" and "closed_at" in info
    again = await payments.close_refund(core, "chX", "ops:lee", "again")
    assert again.status == "closed" and again.reason == "Stars returned by hand (ticket 12)"
    assert (await payments.payment_info(core, "chX"))["closed_by"] == "ops:kim"
    # Closed is final: no more platform calls, and the ledger reversal stays.
    assert (await payments.retry_refund(core, "chX", platform)).reason == "closed"
    assert (await payments.refund(core, "chX")).reason == "closed"
    assert len(platform.calls) == 1
    assert await core.ledger.balance(uid) == 3 and await core.ledger.reconcile_all() == []
    # A redelivered payment update for it is answered from the record.
    redelivered = await payments.record_purchase(core, uid, "chX", invoice_payload("credit_10", uid), "XTR", 50)
    assert redelivered.status == "replay" and await core.ledger.balance(uid) == 3


async def test_retry_and_close_refuse_payments_that_are_not_being_refunded(core: Core) -> None:
    uid = (await onboard(core, "tg:880")).uid
    await payments.record_purchase(core, uid, "chP", invoice_payload("credit_10", uid), "XTR", 50)
    platform = FakePlatform()
    assert (await payments.retry_refund(core, "chP", platform)).reason == "not_refunding"
    assert (await payments.close_refund(core, "chP", "ops:kim", "why")).reason == "not_refunding"
    assert (await payments.retry_refund(core, "nope", platform)).reason == "unknown_payment"
    assert (await payments.close_refund(core, "nope", "ops:kim", "why")).reason == "unknown_payment"
    assert platform.calls == [] and (await payments.payment_info(core, "chP"))["status"] == "paid"
    assert await core.ledger.balance(uid) == 13


async def test_one_refund_attempt_at_a_time(core: Core) -> None:
    await _bought_and_reversed(core, "chL")
    platform = FakePlatform()
    platform.gate = asyncio.Event()
    first = asyncio.create_task(payments.retry_refund(core, "chL", platform))
    await platform.entered.wait()
    assert (await payments.retry_refund(core, "chL", platform)).reason == "in_progress"
    assert (await payments.close_refund(core, "chL", "ops:kim", "by hand")).reason == "in_progress"
    platform.gate.set()
    assert (await first).status == "refunded"
    assert len(platform.calls) == 1
    assert (await payments.payment_info(core, "chL"))["attempts"] == "1"


async def test_a_purchase_compacted_out_of_the_ledger_list_can_still_be_refunded(redis_url: str,
                                                                               tmp_path: Path) -> None:
    cfg = tmp_path / "keep-10.toml"
    cfg.write_text((ROOT / "config" / "defaults.toml").read_text()
                   .replace("ledger_keep_entries = 200\n", "ledger_keep_entries = 10\n", 1))
    core = make_core(redis_url, tmp_path, CONFIG_FILE=str(cfg))
    try:
        uid = (await onboard(core, "tg:880")).uid
        await payments.record_purchase(core, uid, "chOldest", invoice_payload("credit_10", uid), "XTR", 50)
        await core.ledger.grant(uid, 100, "seed", "seed")
        for i in range(60):
            await core.ledger.spend(uid, 1, "x", f"s{i}")
        assert (await core.ledger.checkpoint(uid)).count > 0
        entry_id = (await payments.payment_info(core, "chOldest"))["entry_id"]
        rows = await core.store.redis.lrange(K.ledger(uid), 0, -1)
        assert entry_id not in [e.id for e in await core.ledger.history(uid, len(rows) + 1)]
        res = await payments.refund(core, "chOldest")
        assert res.status == "reversed" and res.balance == 13 + 100 - 60 - 10
        assert await core.ledger.reconcile_all() == []
    finally:
        await core.store.close()


async def test_a_refund_reversed_before_a_crash_and_a_delete_can_still_be_finished(core: Core) -> None:
    """The credits were taken back, the process stopped before the status moved on, then the
    user deleted the account: the refund still moves on to the platform call."""
    uid = (await onboard(core, "tg:777")).uid
    pack = core.settings.product.credits.packs[0]
    res = await payments.record_purchase(core, uid, "ch-stuck", invoice_payload(pack.id, uid), "XTR", pack.stars)
    assert res.status == "granted"
    await core.ledger.spend(uid, res.credits, "refund", idem_key="tgrefund:ch-stuck", kind="refund",
                            keep_forever=True)  # the reversal landed; then the crash
    from bot.core.erasure import erase_account

    await erase_account(core, uid)  # /delete meanwhile
    again = await payments.refund(core, "ch-stuck")
    assert again.status == "reversed"
    assert (await payments.payment_info(core, "ch-stuck"))["status"] == "refunding"


async def test_a_grant_is_let_go_only_once_a_replica_has_it(fresh_sentinel: RedisSentinelSet,
                                                           tmp_path: Path) -> None:
    """On a cluster the account's slot may live on another primary than the inbox partition, so
    the grant itself waits for a replica: until then ``ServiceUnavailable`` (the inbox keeps the
    update), and the redelivery grants nothing twice."""
    from bot.core.errors import ServiceUnavailable
    from tests.support.factory import config_with

    cfg = config_with(tmp_path, delivery={"replica_wait_ms": 300})
    core = make_core(fresh_sentinel.url, tmp_path, CONFIG_FILE=str(cfg))
    try:
        uid = (await onboard(core, "tg:881")).uid
        payload = invoice_payload("credit_10", uid)
        fresh_sentinel.pause_replica()
        with pytest.raises(ServiceUnavailable) as first:
            await payments.record_purchase(core, uid, "ch-repl", payload, "XTR", 50)
        assert first.value.what == "replica"
        assert await core.ledger.balance(uid) == 13  # granted on the primary, not yet let go
        fresh_sentinel.resume_replica()
        for _ in range(100):  # the inbox handles the update again until it goes through
            try:
                again = await payments.record_purchase(core, uid, "ch-repl", payload, "XTR", 50)
                break
            except ServiceUnavailable:
                await asyncio.sleep(0.1)
        assert again.status == "replay" and await core.ledger.balance(uid) == 13
        assert (await payments.payment_info(core, "ch-repl"))["status"] == "paid"
        assert (await core.ledger.reconcile(uid)).ok
    finally:
        await core.store.close()
