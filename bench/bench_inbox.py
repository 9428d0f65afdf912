"""``/fortune`` through the durable inbox vs the direct path, side by side in one run.

Run by hand: ``.venv/bin/python bench/bench_inbox.py [--burst 1000] [--rate 100] [--seconds 5] [--rounds 3]``.

Both bots are the real ``TelegramAdapter`` + Core on one redis-server (started here), long-
polling a fresh fake Bot API (tests/fakes, in this process) through real python-telegram-bot,
with onboarded users and one chat per update:

- **inbox**: as shipped — each fetched batch is stored in the Redis inbox (one Lua script per
  update, encrypted payload) before the offset advances; partition owners read it back in
  chat order and delete each entry once handled.
- **direct**: the pre-inbox path — the same adapter with intake replaced by handing each
  update straight to a per-chat dispatcher (nothing kept in Redis first).

Rounds are interleaved and their order alternates (direct/inbox, then inbox/direct, ...).
Per round: a burst of ``--burst`` updates at once (updates/s until every reply arrived), then
``--rate`` updates/s for ``--seconds`` (p50/p99 from delivery to the reply reaching the fake).
Printed: min / median / max over the rounds, and the inbox/direct ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any
from collections.abc import Awaitable, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telegram import Update  # noqa: E402

from bench.bench_telegram import measure, pct  # noqa: E402
from bot.core.dispatch import ChatDispatcher  # noqa: E402
from bot.handlers.telegram import TelegramAdapter  # noqa: E402
from bot.handlers.telegram.adapter import chat_key  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramAPI  # noqa: E402
from tests.support.factory import config_with, make_core, onboard  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402


class DirectAdapter(TelegramAdapter):
    """The adapter without the durable inbox: fetched updates go straight to the dispatcher."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self._direct = ChatDispatcher(256)

    async def intake(self, updates: list[dict[str, Any]]) -> None:
        for data in updates:
            update = Update.de_json(data, self.bot)

            async def job(u: Update = update) -> None:
                await self.process(u)

            self._direct.submit(chat_key(data), job)


async def run_mode(mode: str, redis_url: str, tmp: Path, config: Path, burst: list[int], paced: list[int],
                   rate: float) -> dict[str, Any]:
    async with FakeTelegramAPI() as api:
        core = make_core(redis_url, tmp, TELEGRAM_BOT_TOKEN=api.token, TELEGRAM_API_BASE_URL=api.url,
                         CONFIG_FILE=str(config))
        await core.store.redis.flushall()
        users = [*burst, *paced, *(c + 10_000_000 for c in burst[:50])]
        for i in range(0, len(users), 200):
            await asyncio.gather(*(onboard(core, f"tg:{u}") for u in users[i:i + 200]))
        cls = DirectAdapter if mode == "direct" else TelegramAdapter
        adapter = cls(core, poll_timeout=1)
        await adapter.start()
        try:
            await measure(api, [c + 10_000_000 for c in burst[:50]], "/fortune", None)  # warm-up
            tput, _ = await measure(api, burst, "/fortune", None)
            _, lat = await measure(api, paced, "/fortune", rate)
        finally:
            await adapter.stop(drain_seconds=2)
            await core.store.close()
    return {"burst_ups": tput, "p50": pct(lat, 0.5), "p99": pct(lat, 0.99)}


def mmm(values: list[float]) -> str:
    return f"{min(values):>8,.1f} {statistics.median(values):>8,.1f} {max(values):>8,.1f}"


async def main(burst_n: int, rate: float, seconds: float, rounds: int) -> None:
    logging.disable(logging.WARNING)
    server = RedisProcess().start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-inbox-"))
    # Measure the code, not Telegram's 30 msg/s policy (per-chat pacing stays on).
    config = config_with(tmp, broadcast={"telegram_global_per_second": 100000})
    burst = list(range(1, burst_n + 1))
    paced = list(range(burst_n + 1, burst_n + int(rate * seconds) + 1))
    results: dict[str, list[dict[str, Any]]] = {"direct": [], "inbox": []}
    try:
        for r in range(rounds):
            order = ["direct", "inbox"] if r % 2 == 0 else ["inbox", "direct"]
            for mode in order:
                res = await run_mode(mode, server.url, tmp, config, burst, paced, rate)
                results[mode].append(res)
                print(f"round {r + 1} {mode:<7} burst {res['burst_ups']:>7,.0f} upd/s   "
                      f"p50 {res['p50']:>6.1f} ms   p99 {res['p99']:>6.1f} ms", flush=True)
    finally:
        server.cleanup()
    print(f"\n{rounds} interleaved rounds; burst of {burst_n} updates, then {rate:.0f} upd/s for {seconds:.0f} s"
          "\n                      min   median      max")
    for mode in ("direct", "inbox"):
        rs = results[mode]
        print(f"{mode:<7} burst upd/s {mmm([x['burst_ups'] for x in rs])}")
        print(f"{mode:<7} p99 ms      {mmm([x['p99'] for x in rs])}")
    ratios = [i["burst_ups"] / d["burst_ups"] for d, i in zip(results["direct"], results["inbox"])]
    print(f"inbox/direct throughput per round: {', '.join(f'{x:.2f}' for x in ratios)} "
          f"(median {statistics.median(ratios):.2f}; target >= 0.8)")
    worst = max(x["p99"] for x in results["inbox"])
    print(f"inbox p99 at {rate:.0f} upd/s, worst round: {worst:.1f} ms (target < 50 ms)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--burst", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    asyncio.run(main(a.burst, a.rate, a.seconds, a.rounds))
