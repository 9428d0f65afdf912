"""The cost of the cross-process metrics (``/ops metrics``, alerts) on the hot path. By hand:

    .venv/bin/python bench/bench_ops_metrics.py [--rounds 5] [--calls 300] [--flush-seconds 1.0]

``/fortune`` through ``core.router.handle`` (onboarded users, 16 at a time, one real
redis-server) with and without the background flush of ``SharedMetrics`` (bot.core.ops.metrics)
running, in interleaved rounds (without, with, without, with, …) so machine noise hits both
alike. The hot path itself is unchanged (requests are counted in the process's Prometheus
registry as before); the flush reads that registry and adds the deltas to Redis every
``--flush-seconds`` (production default: 5 s; 1 s here exaggerates the cost). Target: "with"
at most 5 % slower than "without" (ratio of medians).
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

from bot.core.router import Event  # noqa: E402
from bot.core.service import Core  # noqa: E402
from tests.support.bot_procs import onboard_identity  # noqa: E402
from tests.support.factory import make_core  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402

CONCURRENCY = 16
USERS = 400


async def fortune_rate(core: Core, calls: int) -> float:
    counter = iter(range(calls))
    errors = 0

    async def worker() -> None:
        nonlocal errors
        for i in counter:
            user = 7_000_000 + i % USERS
            replies = await core.router.handle(Event("tg", str(user), "/fortune", chat_id=str(user)))
            if not replies or replies[0].error:
                errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    if errors:
        raise SystemExit(f"{errors} /fortune calls failed")
    return calls / (time.perf_counter() - t0)


async def flusher(core: Core, seconds: float, stop: asyncio.Event) -> int:
    assert core.ops is not None
    flushes = 0
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), seconds)
        except TimeoutError:
            pass
        flushes += int(await core.ops.shared.flush())
    return flushes


def spread(values: list[float]) -> str:
    return f"min {min(values):8,.0f}  median {statistics.median(values):8,.0f}  max {max(values):8,.0f}"


async def main(rounds: int, calls: int, flush_seconds: float) -> int:
    server = RedisProcess().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            core = make_core(server.url, Path(tmp))
            for i in range(0, USERS, 100):
                await asyncio.gather(*(onboard_identity(core, f"tg:{7_000_000 + u}") for u in range(i, i + 100)))
            await fortune_rate(core, calls // 2)  # warm-up (caches, scripts)
            without: list[float] = []
            with_: list[float] = []
            flushes = 0
            for _ in range(rounds):
                without.append(await fortune_rate(core, calls))
                stop = asyncio.Event()
                task = asyncio.create_task(flusher(core, flush_seconds, stop))
                with_.append(await fortune_rate(core, calls))
                stop.set()
                flushes += await task
            await core.store.close()
    finally:
        server.stop()
    ratio = statistics.median(with_) / statistics.median(without)
    print(f"/fortune via router, {CONCURRENCY} at a time, {calls} calls x {rounds} interleaved rounds")
    print(f"  without shared metrics  {spread(without)} /s")
    print(f"  with (flush every {flush_seconds:g}s) {spread(with_)} /s   ({flushes} flushes)")
    print(f"  with / without (medians) = {ratio:.3f}  -> {(1 - ratio) * 100:+.1f} % slower (target <= 5 %)")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=300, help="per variant and round; more exceeds the per-user command limit of the onboarded users")
    ap.add_argument("--flush-seconds", type=float, default=1.0)
    a = ap.parse_args()
    sys.exit(asyncio.run(main(a.rounds, a.calls, a.flush_seconds)))
