"""Ledger spends per second and latency against a local redis-server, single process.

Run by hand: ``.venv/bin/python bench/bench_ledger.py [--spends 20000] [--concurrency 32]``.
Starts its own redis-server on a free loopback port; prints throughput and p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.factory import make_core  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402


async def main(spends: int, concurrency: int) -> None:
    server = RedisProcess().start()
    core = make_core(server.url, Path(tempfile.mkdtemp()))
    try:
        users = [f"tg:{i}" for i in range(concurrency)]
        for u in users:
            await core.ledger.grant(u, spends, "bench seed", "seed")
        latencies: list[float] = []
        per_worker = spends // concurrency

        async def worker(uid: str) -> None:
            for i in range(per_worker):
                t0 = time.perf_counter()
                await core.ledger.spend(uid, 1, "bench", f"b-{i}")
                latencies.append(time.perf_counter() - t0)

        # warm-up (script load, connections)
        await asyncio.gather(*(core.ledger.spend(u, 1, "warm", "warm") for u in users))
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(u) for u in users))
        elapsed = time.perf_counter() - t0
        latencies.sort()
        n = len(latencies)
        print(f"ledger spends: {n} in {elapsed:.2f} s -> {n / elapsed:,.0f} spends/s "
              f"(concurrency {concurrency})")
        print(f"latency p50 {latencies[n // 2] * 1000:.2f} ms  p99 {latencies[int(n * 0.99)] * 1000:.2f} ms  "
              f"mean {statistics.fmean(latencies) * 1000:.2f} ms")
        bad = await core.ledger.reconcile_all()
        print(f"reconcile: {'ok' if not bad else f'{len(bad)} accounts off'}")
        # sequential single-client latency (no queueing)
        seq: list[float] = []
        for i in range(2000):
            t1 = time.perf_counter()
            await core.ledger.spend(users[0], 1, "seq", f"s-{i}")
            seq.append(time.perf_counter() - t1)
        seq.sort()
        print(f"sequential: {2000 / sum(seq):,.0f} spends/s  p50 {seq[1000] * 1000:.2f} ms  "
              f"p99 {seq[1980] * 1000:.2f} ms")
    finally:
        await core.store.close()
        server.cleanup()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--spends", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=16)
    a = ap.parse_args()
    asyncio.run(main(a.spends, a.concurrency))
