"""Daily broadcast throughput against Telegram's limits, and Redis memory per subscriber.

Run by hand: ``.venv/bin/python bench/bench_broadcast.py [--subscribers 10000] [--instances 3]``.

Starts its own redis-server and a fake Bot API server (tests/fakes) that *enforces* Telegram's
limits (30 messages/s overall, 1/s per chat; over the limit it answers 429 retry_after=1).
``--instances`` bot instances (Cores sharing the Redis, each with the real Telegram adapter
sender, the shared Redis outbound limiter at ``config/defaults.toml``'s 30/s, and its own
broadcast workers) deliver to N subscribers all due in the same minute.

Reports:
- achieved messages/s as a fraction of the 30/s limit (first to last delivered message);
- the share of sendMessage calls answered 429;
- Redis memory per subscriber: ``INFO memory`` used_memory deltas (subscribed; after the
  day's broadcast, with markers, stream entries and counters) and ``MEMORY USAGE`` per key.

10,000 subscribers at 30/s take ≈ 5.5 minutes; use ``--subscribers 2000`` for a quick look.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
import warnings
from datetime import date, datetime, UTC
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis.asyncio as aioredis  # noqa: E402

from bot.core.broadcast import BroadcastOptions, BroadcastRunner, Subscriptions, broadcast_status, tick  # noqa: E402
from bot.core.clock import FixedClock  # noqa: E402
from bot.handlers.telegram import TelegramAdapter  # noqa: E402
from bot.handlers.telegram_delivery import install  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramAPI  # noqa: E402
from tests.support.factory import make_core, onboard  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402

GLOBAL_LIMIT = 30
DEBUG = "--debug" in sys.argv
FIRST_ID = 10_000_000


async def used_memory(r: Any) -> int:
    """The dataset's size (used_memory minus client buffers, script cache and other overhead)."""
    await asyncio.sleep(4)  # let outbound windows (PEXPIRE ≤ 3 s) and other transients expire
    info = await r.info("memory")
    if DEBUG:
        stats = await r.memory_stats()
        print({k: v for k, v in stats.items() if k in ("total.allocated", "overhead.total", "dataset.bytes",
                                                       "keys.count", "lua.caches", "clients.normal") or
               isinstance(v, dict)})
        print({k: v for k, v in info.items() if "lua" in k or "script" in k or "vm" in k})
    return int(info["used_memory_dataset"])


async def prefixes(r: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    async for key in r.scan_iter(count=1000):
        p = ":".join(key.split(":")[:2])
        out[p] = out.get(p, 0) + 1
    return out


async def bcast_key_usage(r: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    async for key in r.scan_iter(match="bcast:*", count=1000):
        out[key] = int(await r.memory_usage(key, samples=0) or 0)
    return out


async def main(n: int, instances: int, workers: int) -> None:
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    server = RedisProcess().start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-bcast-"))
    clock = FixedClock(datetime(2025, 6, 15, 0, 0, tzinfo=UTC).timestamp())
    meter = aioredis.Redis.from_url(server.url, decode_responses=True)  # one connection: measures only
    try:
        async with FakeTelegramAPI() as api:
            api.enforce_rate(per_chat_per_second=1, global_per_second=GLOBAL_LIMIT, group_per_minute=20,
                             retry_after=1, chat_burst_seconds=1)

            def new_core() -> Any:
                return make_core(server.url, tmp, clock=clock, TELEGRAM_BOT_TOKEN=api.token,
                                 TELEGRAM_API_BASE_URL=api.url)

            # Every memory reading is taken with only the meter connected: each client connection
            # costs Redis a few KB that has nothing to do with subscribers.
            await meter.flushall()
            ids = list(range(FIRST_ID, FIRST_ID + n))
            t0 = time.monotonic()
            sem = asyncio.Semaphore(64)
            setup = new_core()

            accounts: dict[int, str] = {}

            async def make_profile(i: int) -> None:
                async with sem:  # subscribers are accounts, reached through their Telegram identity
                    accounts[i] = await setup.accounts.resolve(f"tg:{i}")
                    await onboard(setup, accounts[i], birth=date(1990, 5, 17), tz="UTC", bonus=False)

            await asyncio.gather(*(make_profile(i) for i in ids))
            await setup.store.close()
            print(f"onboarded {n} users in {time.monotonic() - t0:.1f} s", flush=True)

            mem0 = await used_memory(meter)
            setup = new_core()
            subs = Subscriptions(setup)

            async def sub(i: int) -> None:
                async with sem:
                    await subs.subscribe(accounts[i], "00:01", "UTC", platform="tg")

            await asyncio.gather(*(sub(i) for i in ids))
            await setup.store.close()
            mem1 = await used_memory(meter)
            key_usage = await bcast_key_usage(meter)

            cores = [new_core() for _ in range(instances)]
            adapters = []
            runners = []
            opts = BroadcastOptions(workers=workers)
            for core in cores:
                adapter = TelegramAdapter(core)
                await adapter.app.initialize()
                install(core)
                adapters.append(adapter)
                runners.append(BroadcastRunner(core, options=opts))
            clock.set(datetime(2025, 6, 15, 0, 1, tzinfo=UTC).timestamp())
            for runner in runners:
                await runner.start(scheduler=False)
            t_tick = time.monotonic()
            results = await asyncio.gather(*(tick(c, opts) for c in cores))
            print(f"ticks on {instances} instances queued {sum(x.queued for x in results)} "
                  f"in {time.monotonic() - t_tick:.2f} s", flush=True)
            last_report = time.monotonic()
            while True:
                status = await broadcast_status(cores[0])
                done = status["sent"] + status["blocked"] + status["failed"] + status["unknown"]
                if done >= n:
                    break
                if time.monotonic() - last_report > 15:
                    last_report = time.monotonic()
                    print(f"  {done}/{n} done, rate {status['rate_per_second']}/s", flush=True)
                await asyncio.sleep(0.5)
            for runner in runners:
                await runner.stop()
            final = await broadcast_status(cores[0])
            for adapter in adapters:
                await adapter.app.shutdown()
            for core in cores:
                await core.store.close()
            mem2 = await used_memory(meter)
            if DEBUG:
                print("keys by prefix after the run:",
                      dict(sorted((await prefixes(meter)).items(), key=lambda kv: -kv[1])[:8]))
            key_usage_after = await bcast_key_usage(meter)

            calls = api.calls_to("sendMessage", ok_only=False)
            ok = sorted(c.at for c in calls if c.status == 200)
            n429 = sum(1 for c in calls if c.status == 429)
            per_chat: dict[int, int] = {}
            for c in calls:
                if c.status == 200:
                    per_chat[c["chat_id"]] = per_chat.get(c["chat_id"], 0) + 1
            span = ok[-1] - ok[0] if len(ok) > 1 else float("nan")
            rate = (len(ok) - 1) / span if len(ok) > 1 else float("nan")
            print()
            print(f"subscribers            {n}  (instances {instances}, workers/instance {workers})")
            print(f"delivered              {len(ok)} in {span:.1f} s; max per chat {max(per_chat.values())}")
            print(f"achieved rate          {rate:.2f} msg/s = {rate / GLOBAL_LIMIT:.3f} of {GLOBAL_LIMIT}/s")
            print(f"429 answers            {n429} of {len(calls)} sendMessage calls = {n429 / len(calls):.2%}")
            print(f"status                 sent {final['sent']} unknown {final['unknown']} "
                  f"failed {final['failed']} pending {final['pending']}")
            print(f"memory subscribed      {(mem1 - mem0) / n:.0f} B/subscriber "
                  f"(INFO used_memory_dataset delta; MEMORY USAGE of bcast:* {sum(key_usage.values()) / n:.0f})")
            print(f"memory after the day   {(mem2 - mem0) / n:.0f} B/subscriber "
                  f"(+ markers, stream, counters; MEMORY USAGE of bcast:* {sum(key_usage_after.values()) / n:.0f})")
            for k, v in sorted(key_usage_after.items(), key=lambda kv: -kv[1])[:6]:
                print(f"  MEMORY USAGE {k:<22} {v / n:7.1f} B/subscriber")
    finally:
        await meter.aclose()
        server.cleanup()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=10_000)
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--debug", action="store_true")
    ap.add_argument("--workers", type=int, default=BroadcastOptions().workers, help="workers per instance")
    a = ap.parse_args()
    asyncio.run(main(a.subscribers, a.instances, a.workers))
