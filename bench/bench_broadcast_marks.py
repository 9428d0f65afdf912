"""Bytes per subscriber-day of the broadcast's delivery markers at several scales (the byte
budget in docs/ARCHITECTURE.md).

Run by hand: ``.venv/bin/python bench/bench_broadcast_marks.py 2000 100000 1000000``. Starts its
own redis-server; for each size, a synthetic due index of random account ids is queued for one
day through the real ``broadcast_queue.lua`` (no profiles, no sends), then ``MEMORY USAGE`` of
the day's marker keys is summed and the buckets' encodings counted.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis.asyncio as aioredis  # noqa: E402
from bot.core.broadcast.marks import PER_BUCKET, later_days  # noqa: E402
from bot.core.store import K  # noqa: E402
from bot.core.store.scripts import lua_source  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402

DAY = "2025-06-15"

async def one(r: Any, n: int) -> None:
    await r.flushall()
    aids = ["a" + secrets.token_hex(8) for _ in range(n)]
    for i in range(0, n, 10000):
        await r.zadd(K.broadcast_due(), {a: 100 for a in aids[i:i + 10000]})
    script = r.register_script(lua_source("broadcast_queue"))
    for i in range(0, n, 2000):
        args = []
        for a in aids[i:i + 2000]:
            args += [a, "100", "200", DAY, *later_days(DAY), "s"]
        await script(keys=[K.broadcast_due(), K.broadcast_marks(), K.broadcast_stream("tg"), K.broadcast_stats(DAY)],
                     args=[86400, 86400, K.broadcast_mark_prefix(), PER_BUCKET, 1749945660, *args])
    nb = int(await r.get(K.broadcast_mark_count(DAY)))
    total = await r.memory_usage(K.broadcast_mark_count(DAY), samples=0)
    enc: dict[str, int] = {}
    for b in range(nb):
        k = K.broadcast_mark_bucket(DAY, b)
        total += await r.memory_usage(k, samples=0)
        e = await r.object("encoding", k)
        enc[e] = enc.get(e, 0) + 1
    due = await r.memory_usage(K.broadcast_due(), samples=0)
    print(f"{n:>9,} subscribers: {nb:>6,} buckets {enc}, markers {total / n:5.1f} B per subscriber-day "
          f"(due index {due / n:.1f} B)")

async def main() -> None:
    srv = RedisProcess().start()
    r = aioredis.Redis.from_url(srv.url, decode_responses=True)
    try:
        for n in [int(a) for a in sys.argv[1:]]:
            await one(r, n)
    finally:
        await r.aclose()
        srv.cleanup()
if __name__ == "__main__":
    asyncio.run(main())
