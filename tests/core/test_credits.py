"""The ledger against a real Redis: atomicity, idempotency, holds, reconciliation."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from redis.exceptions import RedisClusterException

from bot.core.clock import FixedClock
from bot.core.credits import AmountError, Entry, Grant, Hold
from bot.core.errors import BotError, ErrorCode
from bot.core.service import Core
from bot.core.store import K
from tests.support.factory import make_core

pytestmark = pytest.mark.both_backends

UID = "tg:1001"
ROOT = Path(__file__).resolve().parents[2]


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

    for amount in ("0", "1.5", "abc", ""):
        with pytest.raises(ResponseError):
            await core.store.scripts["ledger_apply"](
                keys=[K.account(UID), K.ledger(UID), K.idempotency(UID, amount)],
                args=[f"{amount}|grant|0|e|0||x"],
            )
    for malformed in ([], ["5|grant|0"], [5, "grant", "x", 0, "e", 0]):  # not the packed argument
        with pytest.raises(ResponseError):
            await core.store.scripts["ledger_apply"](
                keys=[K.account(UID), K.ledger(UID), K.idempotency(UID, "m")], args=malformed)
    assert await core.ledger.balance(UID) == 0


async def test_welcome_bonus_is_granted_once_even_after_delete(core: Core) -> None:
    from bot.core.erasure import erase_account

    aid = await core.accounts.resolve("tg:1001")
    first = await core.ledger.welcome_bonus(aid, "tg:1001")
    assert first is not None and first.balance == 3
    assert await core.ledger.welcome_bonus(aid, "tg:1001") is None  # replay: nothing new
    assert await core.ledger.balance(aid) == 3
    await erase_account(core, aid)
    again = await core.accounts.resolve("tg:1001")
    assert again != aid
    assert await core.ledger.welcome_bonus(again, "tg:1001") is None
    assert await core.ledger.balance(again) == 0
    # The erased account's ledger is kept, anonymous, and still reconciles.
    rec = await core.ledger.reconcile(aid)
    assert rec.ok and rec.balance == 3
    assert {aid, again} <= await core.store.redis.smembers(K.accounts_index())


async def test_a_crash_between_the_welcome_claim_and_the_grant_is_repaired(core: Core) -> None:
    aid = await core.accounts.resolve("tg:1002")
    # Step 1 happened (the marker names this account), the process died before the grant.
    await core.store.redis.set(K.welcome_marker(core.ledger.person_marker("tg:1002")), aid)
    res = await core.ledger.welcome_bonus(aid, "tg:1002")
    assert res is not None and res.balance == 3
    assert await core.ledger.welcome_bonus(aid, "tg:1002") is None
    assert await core.ledger.balance(aid) == 3


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


async def test_ledger_entries_are_compact_text_with_running_balance(core: Core) -> None:
    """The first entry lives in the account hash ("e0", id "=" = the account's generation), the
    rest in the list as ``kind|amount|balance|ts|id|hold|captured|reason``."""
    r = core.store.redis
    await core.ledger.grant(UID, 5, "seed", "a")
    await core.ledger.spend(UID, 2, "details | with a bar", "b")
    gen, e0 = await r.hmget(K.account(UID), ["gen", "e0"])
    assert e0.startswith("grant|5|5|") and e0.endswith("|=|||seed")
    [row] = await r.lrange(K.ledger(UID), 0, -1)
    assert row.startswith("spend|-2|3|") and row.endswith("|||details | with a bar")
    history = await core.ledger.history(UID, 10)
    assert [(e.kind, e.amount, e.balance, e.reason) for e in history] == [
        ("spend", -2, 3, "details | with a bar"), ("grant", 5, 5, "seed")]
    assert history[1].id == gen and {e.gen for e in history} == {gen}
    assert [e.kind for e in await core.ledger.history(UID, 1)] == ["spend"]


async def test_entries_in_the_old_json_format_are_read_everywhere(core: Core) -> None:
    """Ledgers written before the compact format (JSON entries) keep working: history,
    reconcile, compaction and new writes on top of them."""
    r = core.store.redis
    gen = "0123456789abcdef"
    await r.hset(K.account(UID), mapping={"gen": gen, "balance": 4, "earned": 6, "spent": 2})
    for d in ({"id": gen, "ts": 1, "kind": "grant", "amount": 6, "balance": 6, "reason": "old", "gen": gen},
              {"id": "e2", "ts": 2, "kind": "spend", "amount": -2, "balance": 4, "reason": "x", "gen": gen}):
        await r.lpush(K.ledger(UID), json.dumps(d))
    await core.ledger.spend(UID, 1, "new", "n1")
    assert [(e.id, e.kind, e.amount, e.balance, e.reason, e.gen) for e in await core.ledger.history(UID, 5)][1:] == [
        ("e2", "spend", -2, 4, "x", gen), (gen, "grant", 6, 6, "old", gen)]
    assert (await core.ledger.reconcile(UID)).ok


# --- a hold settles only on its own account ------------------------------------------------

async def _snapshot(core: Core, uid: str) -> tuple[dict[str, int], list[str]]:
    return await core.ledger.account(uid), await core.store.redis.lrange(K.ledger(uid), 0, -1)


async def test_settling_a_hold_with_a_forged_account_changes_nothing_on_either_account(core: Core) -> None:
    owner, other = "tg:7001", "tg:7002"
    await core.ledger.grant(owner, 5, "seed", "seed")
    await core.ledger.grant(other, 5, "seed", "seed")
    hold = await core.ledger.hold(owner, 2, "ask", "hold-forged")
    before = [await _snapshot(core, owner), await _snapshot(core, other)]
    forged = Hold(other, hold.hold_id, 2)
    assert await core.ledger.release(forged) == "mismatch"
    assert await core.ledger.capture(forged) == "mismatch"
    # Bypassing Python: the script itself refuses keys or an account id that are not the hold's.
    script = core.store.scripts["hold_settle"]
    for account_id, acct_uid, ledger_uid in ((other, other, other), (owner, other, other),
                                             (owner, owner, other), (other, owner, owner)):
        keys = [K.hold(hold.hold_id), K.account(acct_uid), K.ledger(ledger_uid)]
        try:
            raw = await script(keys=keys, args=["release", 0, "e-forged", hold.hold_id, "forged", 60, account_id])
        except RedisClusterException:  # a cluster refuses keys of two accounts before running
            assert core.store.topology == "cluster" and len({acct_uid, ledger_uid, owner}) > 1
            continue
        assert raw[0] == "mismatch"
    assert [await _snapshot(core, owner), await _snapshot(core, other)] == before
    assert (await core.store.redis.hget(K.hold(hold.hold_id), "status")) == "held"
    # The real owner still settles it, once.
    assert await core.ledger.release(hold) == "released"
    assert await core.ledger.balance(owner) == 5 and await core.ledger.balance(other) == 5
    assert (await core.ledger.reconcile(owner)).ok and (await core.ledger.reconcile(other)).ok


async def test_an_unknown_settle_action_changes_nothing(core: Core) -> None:
    from redis.exceptions import ResponseError

    await core.ledger.grant(UID, 5, "seed", "seed")
    hold = await core.ledger.hold(UID, 2, "ask", "hold-x")
    with pytest.raises(ResponseError):
        await core.store.scripts["hold_settle"](
            keys=[K.hold(hold.hold_id), K.account(UID), K.ledger(UID)],
            args=["steal", 0, "e", hold.hold_id, "x", 60, UID])
    assert (await core.ledger.account(UID))["held"] == 2
    assert (await core.ledger.reconcile(UID)).ok


# --- compaction ---------------------------------------------------------------------------

def core_keeping(redis_url: str, tmp_path: Path, keep: int, clock: FixedClock | None = None) -> Core:
    """A Core whose configuration keeps only ``keep`` ledger entries per account."""
    cfg = tmp_path / f"keep-{keep}.toml"
    source = (ROOT / "config" / "defaults.toml").read_text()
    assert "ledger_keep_entries = 200\n" in source
    cfg.write_text(source.replace("ledger_keep_entries = 200\n", f"ledger_keep_entries = {keep}\n", 1))
    return make_core(redis_url, tmp_path, clock=clock, CONFIG_FILE=str(cfg))


async def _spend_many(core: Core, uid: str, n: int, tag: str, width: int = 50) -> None:
    for start in range(0, n, width):
        await asyncio.gather(*(core.ledger.spend(uid, 1, "many", f"{tag}-{i}")
                               for i in range(start, min(n, start + width))))


async def test_an_account_with_5000_entries_reconciles_exactly_after_compaction(core: Core) -> None:
    keep = core.settings.product.credits.ledger_keep_entries
    await core.ledger.grant(UID, 6000, "seed", "seed")
    early = await core.ledger.hold(UID, 7, "ai", "early-hold")  # stays open while it is folded
    settled_early = await core.ledger.hold(UID, 3, "ai", "settled-early")
    await core.ledger.capture(settled_early)
    await _spend_many(core, UID, 4996, "old")  # 5,000 entries in all
    llen = await core.store.redis.llen(K.ledger(UID))
    assert keep <= llen <= keep + max(16, keep // 4)
    ckpt = await core.ledger.checkpoint(UID)
    assert ckpt.count + llen == 5000 and ckpt.open_holds == {early.hold_id: 7}
    rec = await core.ledger.reconcile(UID)
    assert rec.ok and rec.entries == 5000
    assert rec.balance == 6000 - 7 - 3 - 4996 == rec.ledger_sum and rec.held == rec.open_holds == 7
    # The newest entries are still there for /credits.
    newest = await core.ledger.history(UID, 3)
    assert [e.kind for e in newest] == ["spend"] * 3 and newest[0].balance == rec.balance
    # Releasing the folded hold is exact too, before and after its release entry is folded.
    assert await core.ledger.release(early) == "released"
    rec = await core.ledger.reconcile(UID)
    assert rec.ok and rec.held == rec.open_holds == 0 and rec.balance == 6000 - 3 - 4996
    await core.ledger.compact(UID)
    await _spend_many(core, UID, keep + 60, "later")
    assert (await core.ledger.checkpoint(UID)).open_holds == {}
    rec = await core.ledger.reconcile(UID)
    assert rec.ok and rec.entries == 5001 + keep + 60 and rec.balance == 6000 - 3 - 4996 - keep - 60


async def test_compaction_is_idempotent_and_keeps_the_newest(redis_url: str, tmp_path: Path) -> None:
    core = core_keeping(redis_url, tmp_path, 10)
    try:
        await core.ledger.grant(UID, 100, "seed", "seed")
        for i in range(20):  # below the automatic threshold (10 + 16)
            await core.ledger.spend(UID, 1, "x", f"s{i}")
        assert await core.store.redis.llen(K.ledger(UID)) == 20  # + the first entry in the account hash
        before = await core.store.redis.lrange(K.ledger(UID), 0, 9)
        assert await core.ledger.compact(UID) == 11
        assert await core.ledger.compact(UID) == 0
        assert await core.store.redis.lrange(K.ledger(UID), 0, -1) == before
        ckpt = await core.ledger.checkpoint(UID)
        assert (ckpt.count, ckpt.sum, ckpt.balance_at) == (11, 100 - 10, 90)
        assert (await core.ledger.reconcile(UID)).ok
    finally:
        await core.store.close()


async def test_compaction_concurrent_with_spends_and_holds_keeps_reconcile_exact(redis_url: str,
                                                                                tmp_path: Path) -> None:
    cores = [core_keeping(redis_url, tmp_path, 10) for _ in range(3)]
    a, b, c = cores
    try:
        await a.ledger.grant(UID, 1000, "seed", "seed")
        reconciled: list[bool] = []

        async def spender(core: Core, n: int, tag: str) -> None:
            for i in range(n):
                await core.ledger.spend(UID, 1, "x", f"{tag}-{i}")

        async def holder(core: Core, n: int) -> None:
            for i in range(n):
                hold = await core.ledger.hold(UID, 2, "ai", f"h-{i}")
                await asyncio.sleep(0)
                await (core.ledger.capture(hold) if i % 2 else core.ledger.release(hold))

        async def compactor(core: Core, n: int) -> None:
            for _ in range(n):
                await core.ledger.compact(UID)
                reconciled.append((await core.ledger.reconcile(UID)).ok)
                await asyncio.sleep(0)

        await asyncio.gather(spender(a, 150, "a"), spender(b, 150, "b"), holder(c, 60),
                             compactor(a, 40), compactor(b, 40), compactor(c, 40))
        assert reconciled and all(reconciled)
        rec = await c.ledger.reconcile(UID)
        # seed + 300 spends + 60 holds + 60 settles
        assert rec.ok and rec.entries == 1 + 300 + 120
        assert rec.balance == 1000 - 300 - 2 * 30 and rec.held == 0
        assert await c.store.redis.llen(K.ledger(UID)) <= 10 + 16
        assert await a.ledger.reconcile_all() == []
    finally:
        for core in cores:
            await core.store.close()


async def test_compaction_runs_by_itself_and_compact_all_catches_up_old_ledgers(redis_url: str,
                                                                              tmp_path: Path) -> None:
    small = core_keeping(redis_url, tmp_path, 10)
    try:
        await small.ledger.grant("tg:1", 100, "seed", "seed")
        for i in range(60):
            await small.ledger.spend("tg:1", 1, "x", f"s{i}")
        assert await small.store.redis.llen(K.ledger("tg:1")) <= 26  # compacted along the way
        # A ledger written by a core keeping more (or before compaction existed) ...
        wide = core_keeping(redis_url, tmp_path, 1000)
        try:
            await wide.ledger.grant("tg:2", 100, "seed", "seed")
            for i in range(40):
                await wide.ledger.spend("tg:2", 1, "x", f"s{i}")
        finally:
            await wide.store.close()
        assert await small.store.redis.llen(K.ledger("tg:2")) == 40  # + the first entry ("e0")
        over = max(0, await small.store.redis.llen(K.ledger("tg:1")) - 10)
        assert await small.ledger.compact_all() == 31 + over
        assert await small.ledger.compact_all() == 0
        assert await small.store.redis.llen(K.ledger("tg:2")) == 10
        assert await small.ledger.reconcile_all() == []
    finally:
        await small.store.close()


async def test_a_grant_folded_into_the_checkpoint_is_still_owned(redis_url: str, tmp_path: Path) -> None:
    core = core_keeping(redis_url, tmp_path, 10)
    try:
        await core.ledger.grant(UID, 50, "purchase", "tgpay:ch1", kind="purchase", keep_forever=True)
        for i in range(40):
            await core.ledger.spend(UID, 1, "x", f"s{i}")
        await core.ledger.compact(UID)
        rows = await core.store.redis.lrange(K.ledger(UID), 0, -1)
        owned = await core.ledger.owned_entry(UID, "tgpay:ch1")
        assert owned is not None and owned.amount == 50 and owned.kind == "purchase"
        assert owned.id not in [Entry.parse(r, owned.gen).id for r in rows]  # really folded
        assert await core.store.redis.hget(K.account(UID), "e0") is None  # the first entry too
        assert await core.ledger.owned_entry(UID, "tgpay:never") is None
        assert (await core.ledger.reconcile(UID)).ok
    finally:
        await core.store.close()


async def test_erasure_keeps_the_compacted_ledger_anonymous_and_reconcilable(redis_url: str,
                                                                            tmp_path: Path) -> None:
    from bot.core.erasure import erase_account

    core = core_keeping(redis_url, tmp_path, 10)
    try:
        aid = await core.accounts.resolve("tg:5005")
        await core.ledger.grant(aid, 100, "seed", "seed")
        for i in range(40):
            await core.ledger.spend(aid, 1, "x", f"s{i}")
        await core.ledger.compact(aid)
        ckpt = await core.ledger.checkpoint(aid)
        assert ckpt.count == 31
        await erase_account(core, aid)
        assert await core.accounts.lookup("tg:5005") is None
        assert await core.ledger.checkpoint(aid) == ckpt
        rec = await core.ledger.reconcile(aid)
        assert rec.ok and rec.balance == 60 and rec.entries == 41
        # The person's next account starts from nothing and reconciles on its own.
        again = await core.accounts.resolve("tg:5005")
        await core.ledger.grant(again, 3, "again", "again")
        rec = await core.ledger.reconcile(again)
        assert rec.ok and rec.entries == 1 and rec.balance == 3
    finally:
        await core.store.close()


async def _make_legacy(core: Core, uid: str) -> None:
    """Rewrite an account as the ledger wrote it before account generations existed."""
    r = core.store.redis
    gen, e0 = await r.hmget(K.account(uid), ["gen", "e0"])
    await r.hdel(K.account(uid), "gen", "e0")
    rows = await r.lrange(K.ledger(uid), 0, -1) + ([e0] if e0 else [])
    await r.delete(K.ledger(uid))
    for raw in reversed(rows):
        e = Entry.parse(raw, gen)
        d = {"id": e.id, "ts": e.ts, "kind": e.kind, "amount": e.amount, "balance": e.balance, "reason": e.reason}
        await r.lpush(K.ledger(uid), json.dumps(d))
    # Records of that time were the whole first result as JSON, entry without "gen".
    entries = {json.loads(raw)["id"]: json.loads(raw) for raw in await r.lrange(K.ledger(uid), 0, -1)}
    async for key in r.scan_iter(match=K.idempotency(uid, "*")):
        entry_id = (await r.get(key)).split("|")[1]
        await r.set(key, json.dumps({"status": "ok", "balance": entries[entry_id]["balance"],
                                     "entry": entries[entry_id]}))


async def test_legacy_accounts_keep_refundable_purchases_through_compaction(redis_url: str,
                                                                          tmp_path: Path) -> None:
    core = core_keeping(redis_url, tmp_path, 10)
    try:
        await core.ledger.grant(UID, 50, "purchase", "tgpay:old", kind="purchase", keep_forever=True)
        await core.ledger.grant(UID, 5, "bonus", "bonus")
        await _make_legacy(core, UID)
        first = await core.ledger.owned_entry(UID, "tgpay:old")
        assert first is not None and first.gen == "legacy"
        for i in range(40):
            await core.ledger.spend(UID, 1, "x", f"s{i}")
        await core.ledger.compact(UID)
        assert first.id in (await core.ledger.checkpoint(UID)).legacy_purchases
        assert await core.ledger.owned_entry(UID, "tgpay:old") == first
        assert (await core.ledger.reconcile(UID)).ok
    finally:
        await core.store.close()


# --- compact idempotency records ----------------------------------------------------------

async def test_idempotency_records_are_a_few_bytes_and_replay_the_first_result(core: Core) -> None:
    r = core.store.redis
    aid = await core.accounts.resolve("tg:7001")
    bonus = await core.ledger.welcome_bonus(aid, "tg:7001")
    assert bonus is not None
    grant = await core.ledger.grant(aid, 7, "a long reason " * 8, "g1")
    hold = await core.ledger.hold(aid, 2, "ask", "h1")
    for key in ("g1", "h1"):
        raw = await r.get(K.idempotency(aid, key))
        assert raw.startswith("~") and len(raw) <= 72, raw  # not a copy of the entry
        assert "long reason" not in raw
    # The welcome bonus's record is a field of the account hash, not a key of its own, and its
    # entry id is the account's generation ("=").
    assert await r.exists(K.idempotency(aid, "welcome")) == 0
    assert await r.hget(K.account(aid), "i:welcome") == "~bonus|=|3|3|="
    await core.ledger.spend(aid, 1, "later", "s1")
    again = await core.ledger.grant(aid, 7, "other", "g1")
    assert again.replayed and (again.balance, again.entry_id) == (grant.balance, grant.entry_id)
    hold_again = await core.ledger.hold(aid, 2, "ask", "h1")
    assert hold_again.replayed and hold_again.hold_id == hold.hold_id and hold_again.status == "held"
    first = await core.ledger.first_result(aid, "welcome")
    [welcome_entry] = [e for e in await core.ledger.history(aid, 10) if e.id == bonus.entry_id]
    assert first is not None and (first.id, first.kind, first.amount, first.balance, first.gen) == (
        welcome_entry.id, "bonus", 3, 3, welcome_entry.gen)
    assert first.gen == first.id  # the account's first entry names its own generation
    owned = await core.ledger.owned_entry(aid, "g1")
    assert owned is not None and owned.id == grant.entry_id and owned.gen == welcome_entry.gen


async def test_records_in_the_old_json_format_still_replay(core: Core) -> None:
    """Records written before the compact format (the whole first result as JSON) are read as
    they are: replays, holds, first_result and owned_entry keep working without a migration."""
    r = core.store.redis
    await core.ledger.grant(UID, 10, "seed", "seed")
    gen = await r.hget(K.account(UID), "gen")
    old_entry = {"id": "0123456789abcdef", "ts": 1700000000000, "kind": "purchase", "amount": 55,
                 "balance": 65, "reason": "purchase credit_50", "gen": gen}
    await r.set(K.idempotency(UID, "tgpay:old"), json.dumps({"status": "ok", "balance": 65, "entry": old_entry}))
    hold_id = K.hold_id_of(UID, "f" * 32)
    await r.hset(K.hold(hold_id), mapping={"account": UID, "amount": 2, "status": "captured"})
    await r.set(K.idempotency(UID, "ask:old"), json.dumps(
        {"status": "ok", "balance": 8, "hold": hold_id,
         "entry": {"id": "fedcba9876543210", "ts": 1, "kind": "hold", "amount": -2, "balance": 8,
                   "reason": "ask", "hold": hold_id, "gen": gen}}))
    replay = await core.ledger.grant(UID, 55, "purchase credit_50", "tgpay:old", kind="purchase",
                                     keep_forever=True)
    assert replay.replayed and (replay.balance, replay.entry_id) == (65, "0123456789abcdef")
    assert await core.ledger.balance(UID) == 10  # nothing changed
    first = await core.ledger.first_result(UID, "tgpay:old")
    assert first is not None and first.reason == "purchase credit_50" and first.amount == 55
    assert await core.ledger.owned_entry(UID, "tgpay:old") == first
    held = await core.ledger.hold(UID, 2, "ask", "ask:old")
    assert held.replayed and held.hold_id == hold_id and held.status == "captured"


async def test_the_welcome_record_in_the_account_hash_replays_and_an_old_welcome_key_still_counts(
        core: Core) -> None:
    r = core.store.redis
    new = await core.accounts.resolve("tg:7101")
    first = await core.ledger.welcome_bonus(new, "tg:7101")
    assert first is not None and first.status == "ok"
    again = await core.ledger._apply(new, 3, "bonus", "welcome bonus", "welcome", 0, field="i:welcome")
    assert again == ("replay", first.balance, first.entry_id, 0)
    assert await core.ledger.balance(new) == 3 and (await core.ledger.reconcile(new)).ok
    # An account whose welcome record was written as a key of its own (before this format).
    old = await core.accounts.resolve("tg:7102")
    gen = "00000000000000aa"
    await r.hset(K.account(old), mapping={"gen": gen, "balance": 3, "earned": 3})
    await r.lpush(K.ledger(old), json.dumps({"id": gen, "ts": 1, "kind": "bonus", "amount": 3, "balance": 3,
                                             "reason": "welcome bonus", "gen": gen}))
    await r.set(K.idempotency(old, "welcome"), "~bonus|00000000000000aa|3|3|=")
    assert await core.ledger.welcome_bonus(old, "tg:7102") is None  # a replay: nothing new
    assert await core.ledger.balance(old) == 3 and await r.hget(K.account(old), "i:welcome") is None
    entry = await core.ledger.first_result(old, "welcome")
    assert entry is not None and (entry.id, entry.gen, entry.amount) == (gen, gen, 3)


async def test_a_welcome_only_account_has_no_list_and_folds_its_first_entry_exactly(redis_url: str,
                                                                                   tmp_path: Path) -> None:
    core = core_keeping(redis_url, tmp_path, 10)
    try:
        r = core.store.redis
        aid = await core.accounts.resolve("tg:7201")
        bonus = await core.ledger.welcome_bonus(aid, "tg:7201")
        assert bonus is not None
        assert await r.exists(K.ledger(aid)) == 0 and await r.exists(K.idempotency(aid, "welcome")) == 0
        [entry] = await core.ledger.history(aid, 5)
        assert (entry.id, entry.kind, entry.amount, entry.reason, entry.gen) == (
            bonus.entry_id, "bonus", 3, "welcome bonus", bonus.entry_id)
        await core.ledger.grant(aid, 40, "seed", "seed")
        hold = await core.ledger.hold(aid, 2, "ask", "h-early")
        for i in range(30):
            await core.ledger.spend(aid, 1, "x", f"s{i}")
        assert await r.hget(K.account(aid), "e0") is None  # folded with the oldest entries
        await core.ledger.compact(aid)
        ckpt = await core.ledger.checkpoint(aid)
        assert ckpt.count == 33 - 10 and ckpt.open_holds == {hold.hold_id: 2}
        rec = await core.ledger.reconcile(aid)
        assert rec.ok and rec.entries == 33 and rec.held == 2 and rec.balance == 3 + 40 - 2 - 30
        assert await core.ledger.release(hold) == "released"
        assert (await core.ledger.reconcile(aid)).ok
        welcome = await core.ledger.first_result(aid, "welcome")
        assert welcome is not None and welcome.id == bonus.entry_id  # the record outlives the entry
        assert await core.ledger.welcome_bonus(aid, "tg:7201") is None
    finally:
        await core.store.close()


def test_the_keys_of_a_ledger_change_are_the_account_ledger_and_record_keys() -> None:
    aid = "a0123456789abcdef"
    assert K.ledger_change(aid, "tg:1:2") == [K.account(aid), K.ledger(aid), K.idempotency(aid, "tg:1:2")]


async def test_a_kind_that_would_break_the_packed_argument_is_refused(core: Core) -> None:
    with pytest.raises(ValueError):
        await core.ledger.grant(UID, 1, "x", "k1", kind="grant|x")
    assert await core.ledger.balance(UID) == 0 and await core.ledger.history(UID) == []


async def test_grant_each_pays_each_once_and_a_retry_pays_only_what_is_missing(core: Core) -> None:
    """``grant_each``: several independent grants in one batch. A crash after some of them (the
    second grant was applied before, as if the first attempt died between the two) is completed
    by the retry with the same keys: nothing is paid twice, and the accounts get indexed."""
    a, b = "tg:2001", "tg:2002"
    early = await core.ledger.grant(b, 3, "reward", "pair-reward:b", kind="reward", keep_forever=True)
    assert early.status == "ok"
    grants = [Grant(a, 5, "reward", "pair-reward:a", kind="reward", keep_forever=True),
              Grant(b, 3, "reward", "pair-reward:b", kind="reward", keep_forever=True)]
    first, second = await core.ledger.grant_each(grants)
    assert (first.status, first.balance) == ("ok", 5)
    assert (second.status, second.balance, second.entry_id) == ("replay", 3, early.entry_id)
    again = await core.ledger.grant_each(grants)
    assert [r.status for r in again] == ["replay", "replay"]
    assert (await core.ledger.balance(a), await core.ledger.balance(b)) == (5, 3)
    assert await core.ledger.grant_each([]) == []
    with pytest.raises(AmountError):  # checked before anything is sent: nothing changes
        await core.ledger.grant_each([Grant(a, 7, "x", "k-ok"), Grant(b, 0, "x", "k-bad")])
    assert (await core.ledger.balance(a), await core.ledger.balance(b)) == (5, 3)
    assert await core.store.redis.sismember(K.accounts_index(), a)
    assert not await core.ledger.reconcile_all()
