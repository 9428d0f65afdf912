"""Redis bytes per onboarded user and per daily-broadcast subscriber (the byte budget in
docs/ARCHITECTURE.md, "Redis byte budget").

Run by hand: ``.venv/bin/python bench/bench_memory.py [--users 2000] [--rounds 3]``.
Starts its own redis-server on a free loopback port; every round starts from an empty
database and uses only the real services (no key is written by hand):

- *onboarded user*: the identity resolved to an account (``accounts.resolve``), the profile
  created and completed (``profiles``), the welcome bonus granted (``ledger.welcome_bonus``);
- *subscriber*: ``/subscribe`` (``Subscriptions.subscribe``) for each of those users, then the
  day's broadcast run to the end (tick + the real broadcast workers, sending through a
  recording platform sender, paced at a high test rate so a round takes seconds); then the
  next day's too, while the first day's delivery markers still exist (the most kept at once).

Bytes are ``MEMORY USAGE <key> SAMPLES 0`` summed over every key in the database (shared keys
such as ``accounts:all`` or the broadcast's due set count with their whole size), before minus
after, divided by the number of users; keys that expire within a day (rate-limit windows,
pacing, send-rate buckets) are left out and reported apart. ``INFO`` ``used_memory_dataset``
deltas are printed next to them as a cross-check (they include allocator rounding).
Prints min / median / max over the rounds and the biggest key families of the last round.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import statistics
import sys
import tempfile
import warnings
from datetime import date, datetime, UTC
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis.asyncio as aioredis  # noqa: E402

from bot.core.broadcast import BroadcastOptions, BroadcastRunner, Subscriptions, broadcast_status, tick  # noqa: E402
from bot.core.clock import FixedClock  # noqa: E402
from tests.support.factory import config_with, make_core, onboard  # noqa: E402
from tests.support.platform import RecordingPlatform  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402

DAY = 86400
FAST = BroadcastOptions(workers=8, read_block_ms=100, claim_min_idle_ms=500, claim_interval_s=0.2,
                        retry_interval_s=0.05, max_attempts=3, backoff_base_s=0.05, backoff_max_s=0.2,
                        pause_poll_s=0.05)


def spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def family(key: str) -> str:
    """``profile:{a1b2…}`` -> ``profile:{aid}``; ``welcome:9f…`` -> ``welcome:*``."""
    head, _, rest = key.partition(":")
    if rest.startswith("{a") and "}" in rest:
        tail = rest.split("}", 1)[1]
        return f"{head}:{{aid}}{tail.split(':')[0] + (':…' if tail.count(':') > 1 else '')}"
    if rest.startswith("{"):
        tag, _, tail = rest.partition("}")
        tail = re.sub(r":\d{4}-\d\d-\d\d:\w+$", ":<day>:*", tail)  # per-day buckets: one family
        return f"{head}:{tag}}}{tail}"
    return f"{head}:*" if rest else head


async def usage(r: Any) -> tuple[dict[str, int], int]:
    """(long-lived bytes per key family, bytes in keys expiring within a day)."""
    fams: dict[str, int] = {}
    transient = 0
    keys = [k async for k in r.scan_iter(count=1000)]
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        async with r.pipeline(transaction=False) as pipe:
            for k in chunk:
                pipe.memory_usage(k, samples=0)
                pipe.ttl(k)
            res = await pipe.execute()
        for j, k in enumerate(chunk):
            size, ttl = int(res[2 * j] or 0), int(res[2 * j + 1])
            if 0 <= ttl < DAY:
                transient += size
            else:
                fams[family(k)] = fams.get(family(k), 0) + size
    return fams, transient


async def dataset(r: Any) -> int:
    return int((await r.info("memory"))["used_memory_dataset"])


async def one_round(server: RedisProcess, n: int, rnd: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-mem-"))
    config = config_with(tmp, **{"outbound.tg": {"global_per_second": 5000}})
    clock = FixedClock(datetime(2025, 6, 15, 0, 0, tzinfo=UTC).timestamp())
    meter = aioredis.Redis.from_url(server.url, decode_responses=True)
    await meter.flushall()
    core = make_core(server.url, tmp, clock=clock, CONFIG_FILE=str(config))
    rec = RecordingPlatform.install(core, "tg")
    try:
        base_fams, _ = await usage(meter)
        base_ds = await dataset(meter)
        sem = asyncio.Semaphore(32)
        accounts: list[str] = []
        first = 10_000_000 + rnd * n

        async def make_user(i: int) -> None:
            async with sem:
                aid = await core.accounts.resolve(f"tg:{i}")
                await onboard(core, aid, birth=date(1990, 5, 17), tz="UTC", bonus=False)
                await core.ledger.welcome_bonus(aid, f"tg:{i}")
                accounts.append(aid)

        await asyncio.gather(*(make_user(i) for i in range(first, first + n)))
        user_fams, user_transient = await usage(meter)
        user_ds = await dataset(meter)

        subs = Subscriptions(core)

        async def sub(aid: str) -> None:
            async with sem:
                await subs.subscribe(aid, "00:01", "UTC", platform="tg")

        await asyncio.gather(*(sub(a) for a in accounts))
        clock.set(datetime(2025, 6, 15, 0, 1, tzinfo=UTC).timestamp())
        runner = BroadcastRunner(core, options=FAST)
        await runner.start(scheduler=False)
        await tick(core, FAST)
        for _ in range(1200):
            st = await broadcast_status(core)
            if st["sent"] + st["blocked"] + st["failed"] + st["unknown"] >= n:
                break
            await asyncio.sleep(0.1)
        await runner.stop()
        st = await broadcast_status(core)
        assert st["sent"] == n == len(rec.sent), (st, len(rec.sent))
        day_fams, day_transient = await usage(meter)
        day_ds = await dataset(meter)
        # The next day's broadcast too: the previous day's markers still exist (they expire at
        # 14:00 UTC the day after), so this is the most markers ever kept at once.
        clock.set(datetime(2025, 6, 16, 0, 1, tzinfo=UTC).timestamp())
        runner = BroadcastRunner(core, options=FAST)
        await runner.start(scheduler=False)
        await tick(core, FAST)
        for _ in range(1200):
            if len(rec.sent) >= 2 * n:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # the last confirm
        await runner.stop()
        assert len(rec.sent) == 2 * n, len(rec.sent)
        day2_fams, _ = await usage(meter)
    finally:
        await core.store.close()
        await meter.aclose()

    def total(f: dict[str, int]) -> int:
        return sum(f.values())

    return {
        "user": (total(user_fams) - total(base_fams)) / n,
        "user_ds": (user_ds - base_ds) / n,
        "user_transient": user_transient / n,
        "sub": (total(day_fams) - total(user_fams)) / n,
        "sub_ds": (day_ds - user_ds) / n,
        "sub_transient": day_transient / n,
        "sub2": (total(day2_fams) - total(user_fams)) / n,
        "user_fams": {k: (v - base_fams.get(k, 0)) / n for k, v in user_fams.items()},
        "sub_fams": {k: (v - user_fams.get(k, 0)) / n for k, v in day_fams.items()},
    }


async def main(n: int, rounds: int) -> None:
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    server = RedisProcess().start()
    try:
        results = [await one_round(server, n, r) for r in range(rounds)]
    finally:
        server.cleanup()
    print(f"{n} users per round, {rounds} rounds; bytes per user, min / median / max")
    for label, key in (("onboarded user (MEMORY USAGE)", "user"), ("  INFO used_memory_dataset", "user_ds"),
                       ("  expiring within a day", "user_transient"),
                       ("subscriber after the day (MEMORY USAGE)", "sub"), ("  INFO used_memory_dataset", "sub_ds"),
                       ("  expiring within a day", "sub_transient"),
                       ("subscriber after the next day too (MEMORY USAGE)", "sub2")):
        print(f"{label:<50} {spread([r[key] for r in results], '{:,.1f}')}")
    last = results[-1]
    for title, fams in (("per onboarded user", last["user_fams"]), ("per subscriber", last["sub_fams"])):
        print(f"key families {title} (last round):")
        for k, v in sorted(fams.items(), key=lambda kv: -abs(kv[1])):
            if abs(v) >= 0.5:
                print(f"  {k:<34} {v:8.1f} B")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    asyncio.run(main(a.users, a.rounds))
