"""The ledger against a real Redis: atomicity, idempotency, holds, reconciliation."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.core.clock import FixedClock
from bot.core.credits import AmountError
from bot.core.errors import BotError, ErrorCode
from bot.core.service import Core
from bot.core.store import K
from tests.support.factory import make_core

UID = "tg:1001"


async def test_200_concurrent_spends_on_50_exactly_50_succeed(core: Core) -> None:
    await core.ledger.grant(UID, 50, "seed", "seed-1")

    async def spend(i: int) -> bool:
        try:
            await core.ledger.spend(UID, 1, "concurrent", f"spend-{i}")
            return True
        except BotError as err:
            assert err.code is ErrorCode.INSUFFICIENT_CREDITS
            return False

    results = await asyncio.gather(*(spend(i) for i in range(200)))
    assert sum(results) == 50
    assert await core.ledger.balance(UID) == 0
    rec = await core.ledger.reconcile(UID)
    assert rec.ok and rec.ledger_sum == 0 and rec.balance == 0


async def test_concurrent_spends_from_separate_clients(redis_url: str, tmp_path: Path) -> None:
    cores = [make_core(redis_url, tmp_path) for _ in range(4)]
    try:
        await cores[0].ledger.grant(UID, 30, "seed", "seed")
        outcomes = await asyncio.gather(
            *(c.ledger.spend(UID, 1, "x", f"k{i}-{j}") for j, c in enumerate(cores) for i in range(20)),
            return_exceptions=True,
        )
        ok = [o for o in outcomes if not isinstance(o, BaseException)]
        assert len(ok) == 30
        assert await cores[1].ledger.balance(UID) == 0
        assert (await cores[2].ledger.reconcile(UID)).ok
    finally:
        for c in cores:
            await c.store.close()


async def test_replaying_an_idempotency_key_changes_nothing(core: Core) -> None:
    first = await core.ledger.grant(UID, 10, "pack", "pay-1")
    again = await core.ledger.grant(UID, 10, "pack", "pay-1")
    assert first.status == "ok" and again.replayed
    assert again.entry_id == first.entry_id and again.balance == first.balance == 10
    spent = await core.ledger.spend(UID, 3, "details", "spend-1")
    replay = await core.ledger.spend(UID, 3, "details", "spend-1")
    assert replay.replayed and replay.entry_id == spent.entry_id
    assert await core.ledger.balance(UID) == 7
    assert len(await core.ledger.history(UID, 50)) == 2


async def test_hold_then_release_restores_the_balance(core: Core) -> None:
    await core.ledger.grant(UID, 5, "seed", "seed")
    hold = await core.ledger.hold(UID, 2, "tarot ai", "hold-1")
    assert await core.ledger.balance(UID) == 3
    assert (await core.ledger.account(UID))["held"] == 2
    assert await core.ledger.release(hold) == "released"
    assert await core.ledger.release(hold) == "released"  # settled already: reports, changes nothing
    assert await core.ledger.balance(UID) == 5
    assert (await core.ledger.account(UID))["held"] == 0
    assert await core.ledger.capture(hold) == "released"  # already settled: no change
    assert await core.ledger.balance(UID) == 5
    assert (await core.ledger.reconcile(UID)).ok


async def test_hold_then_capture_charges_once(core: Core) -> None:
    await core.ledger.grant(UID, 5, "seed", "seed")
    hold = await core.ledger.hold(UID, 2, "ask", "hold-2")
    assert await core.ledger.capture(hold) == "captured"
    assert await core.ledger.capture(hold) == "captured"
    assert await core.ledger.release(hold) == "captured"
    acct = await core.ledger.account(UID)
    assert acct["balance"] == 3 and acct["held"] == 0 and acct["spent"] == 2
    replay = await core.ledger.hold(UID, 2, "ask", "hold-2")
    assert replay.replayed and replay.hold_id == hold.hold_id and replay.status == "captured"
    assert await core.ledger.balance(UID) == 3
    assert (await core.ledger.reconcile(UID)).ok


async def test_hold_without_enough_credits_is_refused_with_cost_and_balance(core: Core) -> None:
    await core.ledger.grant(UID, 1, "seed", "seed")
    with pytest.raises(BotError) as info:
        await core.ledger.hold(UID, 3, "synastry", "hold-3")
    assert info.value.code is ErrorCode.INSUFFICIENT_CREDITS
    assert info.value.params == {"cost": 3, "balance": 1}
    assert await core.ledger.balance(UID) == 1


@pytest.mark.parametrize("amount", [0, -1, -50, 10**9, 1.5, True, "3", None])
async def test_bad_amounts_are_rejected_and_change_nothing(core: Core, amount: object) -> None:
    await core.ledger.grant(UID, 5, "seed", "seed")
    for op in (core.ledger.grant, core.ledger.spend, core.ledger.hold):
        with pytest.raises(AmountError):
            await op(UID, amount, "bad", f"bad-{op.__name__}")  # type: ignore[operator]
    assert await core.ledger.balance(UID) == 5
    assert len(await core.ledger.history(UID, 10)) == 1


async def test_the_lua_script_refuses_bad_amounts_too(core: Core) -> None:
    """Defence in depth: even a caller bypassing Python validation cannot write 0 or 1.5."""
    from redis.exceptions import ResponseError

    for amount in ("0", "1.5", "abc"):
        with pytest.raises(ResponseError):
            await core.store.scripts["ledger_apply"](
                keys=[K.account(UID), K.ledger(UID), K.idempotency(UID, amount), K.accounts_index()],
                args=[amount, "grant", "x", 0, "e", 0, UID],
            )
    assert await core.ledger.balance(UID) == 0


async def test_welcome_bonus_is_granted_once_even_after_delete(core: Core) -> None:
    first = await core.ledger.welcome_bonus(UID)
    assert first is not None and first.balance == 3
    assert await core.ledger.welcome_bonus(UID) is None
    anon = await core.ledger.anonymise(UID)
    assert await core.ledger.balance(UID) == 0
    assert await core.ledger.welcome_bonus(UID) is None
    # The anonymised ledger is kept and still reconciles.
    rec = await core.ledger.reconcile(anon)
    assert rec.ok and rec.balance == 3
    assert anon in await core.store.redis.smembers(K.accounts_index())
    assert UID not in await core.store.redis.smembers(K.accounts_index())


async def test_a_crashed_hold_is_released_after_its_deadline(redis_url: str, tmp_path: Path) -> None:
    clock = FixedClock(1_800_000_000)
    core = make_core(redis_url, tmp_path, clock=clock)
    try:
        await core.ledger.grant(UID, 4, "seed", "seed")
        await core.ledger.hold(UID, 2, "ai", "crash-1")  # the process "dies" here
        assert await core.ledger.release_expired() == 0  # not yet due
        clock.advance(core.settings.product.credits.hold_deadline_seconds + 1)
        assert await core.ledger.release_expired() == 1
        assert await core.ledger.release_expired() == 0
        assert await core.ledger.balance(UID) == 4
        assert (await core.ledger.reconcile(UID)).ok
    finally:
        await core.store.close()


async def test_reconcile_all_finds_a_tampered_account(core: Core) -> None:
    await core.ledger.grant("tg:1", 5, "seed", "a")
    await core.ledger.grant("tg:2", 5, "seed", "b")
    assert await core.ledger.reconcile_all() == []
    await core.store.redis.hincrby(K.account("tg:2"), "balance", 7)  # corruption outside the ledger
    bad = await core.ledger.reconcile_all()
    assert [r.account for r in bad] == ["tg:2"]
    assert bad[0].balance == 12 and bad[0].ledger_sum == 5


async def test_ledger_entries_are_json_with_running_balance(core: Core) -> None:
    await core.ledger.grant(UID, 5, "seed", "a")
    await core.ledger.spend(UID, 2, "details", "b")
    rows = [json.loads(r) for r in await core.store.redis.lrange(K.ledger(UID), 0, -1)]
    assert [(r["kind"], r["amount"], r["balance"]) for r in rows] == [("spend", -2, 3), ("grant", 5, 5)]
