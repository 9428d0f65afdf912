"""Ledger spends per second and latency against a local redis-server, single process, plus
reconciliation of an old (long) account.

Run by hand: ``.venv/bin/python bench/bench_ledger.py [--spends 20000] [--concurrency 16]
[--repeat 5] [--old-entries 5000]``. Starts its own redis-server on a free loopback port.

Prints, over ``--repeat`` rounds (min / median / max):
- concurrent spends per second and p50/p99 latency (16 accounts, one spend per call);
- the anchor: a bare redis-py client (``redis.asyncio``, its own connection pool, no project
  code) running a minimal debit script (``HGET`` balance, refuse if short, ``HINCRBY``) on the
  same server with the same concurrency, in rounds interleaved with the ledger's (the order
  alternates each round), and the ratio ledger / anchor per round;
- CPU time of this (client) process per spend, ledger and anchor, and their ratio per round
  (anchor CPU / ledger CPU): steadier than rates on a shared machine, as it does not count
  time spent waiting for the CPU;
- sequential single-client spends per second;
- Redis CPU time in scripts per spend (``INFO commandstats``; includes compaction);
- ``reconcile`` of one account that has written ``--old-entries`` entries (with compaction
  the list holds ``credits.ledger_keep_entries`` of them and the rest is in the checkpoint;
  without it reconcile reads every entry);
- ``reconcile_all`` over every account.
Only public ledger calls are used, so the same file measures the code before and after a change.

``--profile N``: instead, run one round of concurrent spends under cProfile and print the N
functions with the most own time and the N with the most cumulative time (where a spend's
Python time goes: argument building, the client, replies, logging).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis.asyncio as aioredis  # noqa: E402

from bot.core.service import Core  # noqa: E402
from bot.core.store import K  # noqa: E402
from tests.support.factory import make_core  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402


def spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


async def timed(fn: Callable[[], Awaitable[object]]) -> float:
    t0 = time.perf_counter()
    await fn()
    return time.perf_counter() - t0


class CpuClock:
    """CPU seconds this process used between ``start`` and ``stop``."""

    def start(self) -> None:
        self.t0 = time.process_time()

    def stop(self) -> float:
        return time.process_time() - self.t0


async def spend_round(core: Core, users: list[str], per_worker: int, tag: str) -> tuple[float, float, float]:
    """One round of concurrent spends: (spends/s, p50 ms, p99 ms)."""
    latencies: list[float] = []

    async def worker(uid: str) -> None:
        for i in range(per_worker):
            t0 = time.perf_counter()
            await core.ledger.spend(uid, 1, "bench", f"{tag}-{i}")
            latencies.append(time.perf_counter() - t0)

    elapsed = await timed(lambda: asyncio.gather(*(worker(u) for u in users)))
    latencies.sort()
    n = len(latencies)
    return n / elapsed, latencies[n // 2] * 1000, latencies[int(n * 0.99)] * 1000


#: The anchor's script: the least a debit can do (no ledger entry, no idempotency record).
MINIMAL_DEBIT = """
local b = tonumber(redis.call('HGET', KEYS[1], 'balance') or '0')
local n = tonumber(ARGV[1])
if b < n then return -1 end
return redis.call('HINCRBY', KEYS[1], 'balance', -n)
"""


async def script_usec(core: Core) -> int:
    """Redis CPU time spent in scripts so far (``INFO commandstats``)."""
    stats = await core.store.redis.info("commandstats")
    return sum(int(v["usec"]) for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))


async def anchor_round(client: aioredis.Redis, debit: Any, keys: list[str], per_worker: int) -> float:
    """One round of the bare-client anchor: spends/s at the same concurrency."""

    async def worker(key: str) -> None:
        for _ in range(per_worker):
            if int(await debit(keys=[key], args=[1])) < 0:
                raise RuntimeError("anchor balance ran out")

    elapsed = await timed(lambda: asyncio.gather(*(worker(k) for k in keys)))
    return per_worker * len(keys) / elapsed


async def profile(spends: int, concurrency: int, top: int) -> None:
    """One round of concurrent ledger spends under cProfile (see the module docstring)."""
    server = RedisProcess().start()
    core = make_core(server.url, Path(tempfile.mkdtemp()))
    try:
        users = [f"tg:{i}" for i in range(concurrency)]
        per_worker = spends // concurrency
        for u in users:
            await core.ledger.grant(u, per_worker + 10, "bench seed", "seed")
        await asyncio.gather(*(core.ledger.spend(u, 1, "warm", "warm") for u in users))
        prof = cProfile.Profile()
        prof.enable()
        rate, _, _ = await spend_round(core, users, per_worker, "prof")
        prof.disable()
        print(f"{per_worker * concurrency} spends under cProfile: {rate:,.0f}/s (slowed by the profiler)")
        stats = pstats.Stats(prof)
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
    finally:
        await core.store.close()
        server.cleanup()


async def main(spends: int, concurrency: int, repeat: int, old_entries: int) -> None:
    server = RedisProcess().start()
    core = make_core(server.url, Path(tempfile.mkdtemp()))
    try:
        users = [f"tg:{i}" for i in range(concurrency)]
        per_worker = spends // concurrency
        for u in users:
            await core.ledger.grant(u, (per_worker + 2000) * repeat + 10, "bench seed", "seed")
        # warm-up (script load, connections)
        await asyncio.gather(*(core.ledger.spend(u, 1, "warm", "warm") for u in users))

        bare = aioredis.Redis.from_url(server.url)
        debit = bare.register_script(MINIMAL_DEBIT)
        anchor_keys = [f"anchor:{i}" for i in range(concurrency)]
        for k in anchor_keys:
            await bare.hset(k, "balance", (per_worker + 10) * (repeat + 1))
        await anchor_round(bare, debit, anchor_keys, 10)  # warm-up (script load, connections)

        await core.store.redis.config_resetstat()
        rate: list[float] = []
        p50: list[float] = []
        p99: list[float] = []
        seq_rate: list[float] = []
        anchor: list[float] = []
        ratio: list[float] = []
        cpu_ledger: list[float] = []
        cpu_anchor: list[float] = []
        cpu = CpuClock()
        n_round = per_worker * concurrency
        ledger_usec = 0
        for r in range(repeat):
            if r % 2:  # alternate the order: anchor first on odd rounds
                cpu.start()
                anchor.append(await anchor_round(bare, debit, anchor_keys, per_worker))
                cpu_anchor.append(cpu.stop() / n_round * 1e6)
            u0 = await script_usec(core)
            cpu.start()
            a, b, c = await spend_round(core, users, per_worker, f"r{r}")
            cpu_ledger.append(cpu.stop() / n_round * 1e6)
            ledger_usec += await script_usec(core) - u0
            if not r % 2:
                cpu.start()
                anchor.append(await anchor_round(bare, debit, anchor_keys, per_worker))
                cpu_anchor.append(cpu.stop() / n_round * 1e6)
            rate.append(a)
            p50.append(b)
            p99.append(c)
            ratio.append(a / anchor[-1])
            u0 = await script_usec(core)
            seq = [await timed(lambda k=f"s{r}-{i}": core.ledger.spend(users[0], 1, "seq", k)) for i in range(2000)]
            ledger_usec += await script_usec(core) - u0
            seq_rate.append(2000 / sum(seq))
        print(f"concurrent spends/s ({per_worker * concurrency} per round, concurrency {concurrency}, "
              f"{repeat} rounds), min / median / max:")
        print(f"  rate  {spread(rate)}")
        print(f"  p50   {spread(p50, '{:.2f}')} ms")
        print(f"  p99   {spread(p99, '{:.2f}')} ms")
        print(f"sequential spends/s: {spread(seq_rate)}")
        print("anchor: bare redis-py client, minimal debit script, same server and concurrency, "
              "interleaved rounds:")
        print(f"  rate  {spread(anchor)}")
        print(f"  ledger / anchor per round  {spread(ratio, '{:.2f}')}")
        print("client CPU per spend (this process), us:")
        print(f"  ledger {spread(cpu_ledger)}   anchor {spread(cpu_anchor)}")
        cpu_ratio = [x / y for x, y in zip(cpu_anchor, cpu_ledger, strict=True)]
        print(f"  anchor CPU / ledger CPU per round  {spread(cpu_ratio, '{:.2f}')}")
        await bare.aclose()
        # Redis CPU time spent in scripts (spends plus any compaction), per spend: far less
        # sensitive to a busy machine than wall-clock rates.
        total_spends = (per_worker * concurrency + 2000) * repeat
        print(f"redis script time per spend (incl. compaction): {ledger_usec / total_spends:.1f} us")

        old = "tg:old"
        await core.ledger.grant(old, old_entries + 10, "bench seed", "old-seed")
        for i in range(old_entries - 1):
            await core.ledger.spend(old, 1, "old", f"old-{i}")
        rec = await core.ledger.reconcile(old)
        kept = await core.store.redis.llen(K.ledger(old))
        rec_ms = [await timed(lambda: core.ledger.reconcile(old)) * 1000 for _ in range(max(20, repeat * 10))]
        print(f"reconcile of an account with {old_entries} entries ({kept} in the list): "
              f"{'ok' if rec.ok else 'OFF'}, ms min / median / max: {spread(rec_ms, '{:.2f}')}")
        all_ms: list[float] = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            bad = await core.ledger.reconcile_all()
            all_ms.append((time.perf_counter() - t0) * 1000)
        print(f"reconcile_all ({len(users) + 1} accounts): {'ok' if not bad else f'{len(bad)} accounts off'}, "
              f"ms min / median / max: {spread(all_ms, '{:.1f}')}")
    finally:
        await core.store.close()
        server.cleanup()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--spends", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--old-entries", type=int, default=5000)
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="profile one round of ledger spends and print the top N functions instead")
    a = ap.parse_args()
    if a.profile:
        asyncio.run(profile(a.spends, a.concurrency, a.profile))
    else:
        asyncio.run(main(a.spends, a.concurrency, a.repeat, a.old_entries))
