"""``/fortune`` through the durable inbox vs the direct path, side by side in one run.

Run by hand: ``.venv/bin/python bench/bench_inbox.py [--burst 1000] [--rate 100] [--seconds 5] [--rounds 3]``.

Both bots are the real ``TelegramAdapter`` + Core on one redis-server (started here), long-
polling a fresh fake Bot API through real python-telegram-bot, with onboarded users and one
chat per update. The fake runs in its own process (``tests/fakes/telegram_server.py``; updates
go in and reply times come out through its control routes), so the bot's process is measured
alone; ``--fake-in-process`` puts it back in this process, as ``bench_telegram.py`` does:

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
import contextlib
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telegram import Update  # noqa: E402

from bench.bench_telegram import ROOT, measure, pct  # noqa: E402
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


class RemoteFake:
    """The fake Bot API in a child process, driven through its control routes."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self.url = self.token = ""
        self.http: aiohttp.ClientSession | None = None
        self._since = 0

    async def __aenter__(self) -> RemoteFake:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.fakes.telegram_server", cwd=str(ROOT), stdout=asyncio.subprocess.PIPE)
        assert self.proc.stdout is not None
        self.url, self.token = (await self.proc.stdout.readline()).decode().split()
        self.http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.http is not None:
            await self.http.close()
        if self.proc is not None:
            self.proc.kill()
            await self.proc.wait()

    async def measure(self, chats: list[int], text: str, rate: float | None,
                      timeout: float = 120.0) -> tuple[float, list[float]]:
        """Deliver one update per chat (all at once, or at ``rate``/s); wait for every reply."""
        assert self.http is not None
        sent: dict[int, float] = {}
        t0 = time.monotonic()
        if rate is None:
            for c in chats:
                sent[c] = time.monotonic()
            async with self.http.post(f"{self.url}/_control/messages", json={"items": [[c, text] for c in chats]}):
                pass
        else:
            for i, c in enumerate(chats):
                delay = t0 + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent[c] = time.monotonic()
                async with self.http.post(f"{self.url}/_control/messages", json={"items": [[c, text]]}):
                    pass
        want, got = set(chats), {}
        deadline = time.monotonic() + timeout
        while len(got) < len(want):
            async with self.http.get(f"{self.url}/_control/sends", params={"since": self._since}) as r:
                body = await r.json()
            self._since = body["next"]
            for chat, at in body["sends"]:
                if chat in want and chat not in got:
                    got[chat] = at
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(got)}/{len(want)} replies after {timeout} s")
            await asyncio.sleep(0.005)
        return len(chats) / (max(got.values()) - t0), [(got[c] - sent[c]) * 1000 for c in chats]


async def run_mode(mode: str, redis_url: str, tmp: Path, config: Path, burst: list[int], paced: list[int],
                   rate: float, in_process: bool) -> dict[str, Any]:
    async with contextlib.AsyncExitStack() as stack:
        if in_process:
            api: Any = await stack.enter_async_context(FakeTelegramAPI())
            url, token = api.url, api.token

            async def go(chats: list[int], r: float | None) -> tuple[float, list[float]]:
                return await measure(api, chats, "/fortune", r)
        else:
            remote = await stack.enter_async_context(RemoteFake())
            url, token = remote.url, remote.token

            async def go(chats: list[int], r: float | None) -> tuple[float, list[float]]:
                return await remote.measure(chats, "/fortune", r)

        core = make_core(redis_url, tmp, TELEGRAM_BOT_TOKEN=token, TELEGRAM_API_BASE_URL=url, CONFIG_FILE=str(config))
        await core.store.redis.flushall()
        users = [*burst, *paced, *(c + 10_000_000 for c in burst[:50])]
        for i in range(0, len(users), 200):
            await asyncio.gather(*(onboard(core, f"tg:{u}") for u in users[i:i + 200]))
        cls = DirectAdapter if mode == "direct" else TelegramAdapter
        adapter = cls(core, poll_timeout=1)
        await adapter.start()
        try:
            await go([c + 10_000_000 for c in burst[:50]], None)  # warm-up
            tput, _ = await go(burst, None)
            _, lat = await go(paced, rate)
        finally:
            await adapter.stop(drain_seconds=2)
            await core.store.close()
    return {"burst_ups": tput, "p50": pct(lat, 0.5), "p99": pct(lat, 0.99)}


def mmm(values: list[float]) -> str:
    return f"{min(values):>8,.1f} {statistics.median(values):>8,.1f} {max(values):>8,.1f}"


async def main(burst_n: int, rate: float, seconds: float, rounds: int, in_process: bool) -> None:
    logging.disable(logging.WARNING)
    server = RedisProcess().start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-inbox-"))
    # Measure the code, not Telegram's 30 msg/s policy (per-chat pacing stays on).
    config = config_with(tmp, **{"outbound.tg": {"global_per_second": 100000}})
    burst = list(range(1, burst_n + 1))
    paced = list(range(burst_n + 1, burst_n + int(rate * seconds) + 1))
    results: dict[str, list[dict[str, Any]]] = {"direct": [], "inbox": []}
    try:
        for r in range(rounds):
            order = ["direct", "inbox"] if r % 2 == 0 else ["inbox", "direct"]
            for mode in order:
                res = await run_mode(mode, server.url, tmp, config, burst, paced, rate, in_process)
                results[mode].append(res)
                print(f"round {r + 1} {mode:<7} burst {res['burst_ups']:>7,.0f} upd/s   "
                      f"p50 {res['p50']:>6.1f} ms   p99 {res['p99']:>6.1f} ms", flush=True)
    finally:
        server.cleanup()
    where = "in this process" if in_process else "in its own process"
    print(f"\n{rounds} interleaved rounds, fake Bot API {where}; burst of {burst_n} updates, "
          f"then {rate:.0f} upd/s for {seconds:.0f} s"
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
    ap.add_argument("--fake-in-process", action="store_true", help="run the fake Bot API in this process")
    a = ap.parse_args()
    asyncio.run(main(a.burst, a.rate, a.seconds, a.rounds, a.fake_in_process))
