"""Money across a Sentinel failover: concurrent spends, the primary killed mid-way, every spend
retried with its own idempotency key until it succeeds — each applied exactly once.

Runs on a Sentinel set of its own (``fresh_sentinel``): the session's ``redis_sentinel`` may
already have been failed over by another test, and only one kill per set is possible.

Replication is asynchronous, so the kill can lose the last writes the old primary had
acknowledged but not yet sent to the replica. A lost spend lost its idempotency record with
it (one script wrote both), so running it again with the same key applies it (once) instead of
replaying. In the bot that second run is not optional: the inbox entry that caused the spend
is deleted only after it was handled, and that ``XDEL`` comes later in the same replication
stream, so it is lost as well and the update is handled again. The test does the same: after
the failover it re-runs every spend with its key, then checks the final state is exactly-once.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot.core.credits import LedgerResult
from bot.core.errors import ServiceUnavailable
from tests.support.factory import make_core
from tests.support.redis_cluster import RedisSentinelSet

# Account ids as the new key layout uses them (ledger keys may be derived from them).
ACCOUNTS = [f"a{n:016d}" for n in range(1, 5)]
GRANT = 10_000
WORKERS_PER_ACCOUNT = 3
SPENDS_PER_WORKER = 25
TOTAL = len(ACCOUNTS) * WORKERS_PER_ACCOUNT * SPENDS_PER_WORKER
RECOVERY_LIMIT_S = 30.0


def _amount(worker: int, i: int) -> int:
    return 1 + (worker * 7 + i) % 5


async def test_spends_apply_exactly_once_across_a_failover(fresh_sentinel: RedisSentinelSet, tmp_path: Path) -> None:
    core = make_core(fresh_sentinel.url, tmp_path)
    try:
        for uid in ACCOUNTS:
            await core.ledger.grant(uid, GRANT, "seed", f"seed-{uid}")
        assert await core.store.wait_replicated("seed", 2000)  # the grants are on the replica

        plan = {(uid, f"spend-{uid}-{w}-{i}"): _amount(w, i)
                for uid in ACCOUNTS for w in range(WORKERS_PER_ACCOUNT) for i in range(SPENDS_PER_WORKER)}
        acked: dict[str, LedgerResult] = {}
        killed_at: list[float] = []
        back_at: list[float] = []
        refusals = 0

        first_refusal: list[float] = []

        async def spend_until_applied(uid: str, key: str, amount: int) -> LedgerResult:
            nonlocal refusals
            while True:
                started = time.monotonic()
                try:
                    result = await core.ledger.spend(uid, amount, "failover test", key)
                except ServiceUnavailable:  # failing over: the same key again, a little later
                    refusals += 1
                    first_refusal[:] = first_refusal or [time.monotonic()]
                    assert killed_at and time.monotonic() - killed_at[0] < RECOVERY_LIMIT_S, \
                        "no primary within the recovery limit"
                    await asyncio.sleep(0.05)
                    continue
                # Service is back with the first success of a call made after a refusal (calls
                # answered just before the kill do not count).
                if first_refusal and started > first_refusal[0] and not back_at:
                    back_at.append(time.monotonic())
                return result

        async def worker(uid: str, w: int) -> None:
            for i in range(SPENDS_PER_WORKER):
                key = f"spend-{uid}-{w}-{i}"
                acked[key] = await spend_until_applied(uid, key, plan[(uid, key)])
                if len(acked) == TOTAL // 3 and not killed_at:  # a third of the way: the primary dies
                    killed_at.append(time.monotonic())
                    old = fresh_sentinel.kill_primary()
                    assert old != fresh_sentinel.replica_port

        await asyncio.gather(*(worker(uid, w) for uid in ACCOUNTS for w in range(WORKERS_PER_ACCOUNT)))
        assert len(acked) == TOTAL and killed_at and back_at and refusals > 0
        unavailable = back_at[0] - killed_at[0]
        assert fresh_sentinel.primary_address()[1] == fresh_sentinel.replica_port  # the replica took over

        # Which acknowledged spends did the failover lose? Their idempotency record is gone too.
        lost = {key for (uid, key) in plan if await core.ledger.first_result(uid, key) is None}
        # Handle everything again with the same keys, as the inbox would: a survivor replays,
        # a lost one is applied now, once.
        again = {key: await spend_until_applied(uid, key, amount) for (uid, key), amount in plan.items()}
        assert {key for key, r in again.items() if not r.replayed} == lost
        assert all(again[key].entry_id == acked[key].entry_id for key in again if key not in lost)

        for uid in ACCOUNTS:
            spent = sum(amount for (u, _), amount in plan.items() if u == uid)
            assert await core.ledger.balance(uid) == GRANT - spent
            rec = await core.ledger.reconcile(uid)
            assert rec.ok, rec
            assert rec.entries == 1 + WORKERS_PER_ACCOUNT * SPENDS_PER_WORKER  # no spend twice, none missing
        print(f"\nsentinel failover: service unavailable for {unavailable:.2f} s "
              f"({refusals} refused attempts); {len(lost)} acknowledged spend(s) lost by the failover "
              "and re-applied by the retry with the same key")
        assert unavailable < RECOVERY_LIMIT_S
    finally:
        await core.store.close()


async def test_spends_a_failover_really_lost_are_applied_by_the_retry(fresh_sentinel: RedisSentinelSet,
                                                                      tmp_path: Path) -> None:
    """Make the loss certain: the replica is cut off (paused, its link closed by the primary)
    while spends are acknowledged, then the primary dies and the stale replica is promoted."""
    import redis as sync_redis

    core = make_core(fresh_sentinel.url, tmp_path)
    uid = ACCOUNTS[0]
    try:
        await core.ledger.grant(uid, GRANT, "seed", f"seed-{uid}")
        await core.ledger.spend(uid, 3, "before", "before-1")
        assert await core.store.wait_replicated("seed", 2000)
        fresh_sentinel.pause_replica()
        host, port = fresh_sentinel.primary_address()
        primary = sync_redis.Redis(host=host, port=port)
        primary.client_kill_filter(_type="replica")  # nothing more reaches the replica
        primary.close()
        cut_off = {f"cut-{i}": 1 + i % 4 for i in range(10)}
        for key, amount in cut_off.items():  # acknowledged by the primary only
            await core.ledger.spend(uid, amount, "cut off", key)
        fresh_sentinel.kill_primary()
        fresh_sentinel.resume_replica()

        deadline = time.monotonic() + RECOVERY_LIMIT_S
        while True:  # the inbox's redelivery: every spend again, with its own key
            try:
                results = {key: await core.ledger.spend(uid, amount, "cut off", key)
                           for key, amount in {"before-1": 3, **cut_off}.items()}
                break
            except ServiceUnavailable:
                assert time.monotonic() < deadline, "no primary within the recovery limit"
                await asyncio.sleep(0.1)
        assert fresh_sentinel.primary_address()[1] == fresh_sentinel.replica_port
        assert results["before-1"].replayed  # replicated before the cut: kept
        assert not any(results[key].replayed for key in cut_off)  # all ten were lost, and applied now
        assert await core.ledger.balance(uid) == GRANT - 3 - sum(cut_off.values())
        rec = await core.ledger.reconcile(uid)
        assert rec.ok and rec.entries == 2 + len(cut_off)
    finally:
        await core.store.close()
