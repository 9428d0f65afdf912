"""Telegram adapter throughput and latency, end to end, against the fake Bot API server.

Run by hand: ``.venv/bin/python bench/bench_telegram.py [--burst 2000] [--rate 100] [--seconds 5]``.

Starts its own redis-server and, per bot, a fresh fake Bot API server (tests/fakes) in this
process. Both bots long-poll the fake through real python-telegram-bot:

- **soul**: the real ``TelegramAdapter`` + Core (onboarded users, ``/fortune`` — or ``/credits``
  when /fortune is not registered), with the shared Redis outbound limiter on and the update-id
  dedup in Redis. The outbound *global* budget is raised (``[outbound.tg] global_per_second``) so the
  bench measures the code, not Telegram's 30 msg/s policy; per-chat pacing stays on (every update
  comes from its own chat).
- **echo**: a minimal PTB echo bot (``MessageHandler`` → ``reply_text``, concurrent updates).

``--adapter-only`` replaces the router with a fixed one-line reply, isolating the adapter's own
cost (transport, dispatch, Redis outbound limiter) from the core command's.

Phases per bot: a burst of ``--burst`` updates at once (updates/s until every reply arrived),
then ``--rate`` updates/s for ``--seconds`` (p50/p99 latency from update delivery to the
reply reaching the fake server).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from collections.abc import Awaitable, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telegram import Update  # noqa: E402
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters  # noqa: E402

from bot.handlers.telegram import TelegramAdapter  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramAPI  # noqa: E402
from tests.support.factory import make_core, onboard  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))] if s else float("nan")


async def start_echo(api: FakeTelegramAPI) -> Callable[[], Awaitable[None]]:
    async def echo(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(update.message.text or "")

    app = (ApplicationBuilder().token(api.token).base_url(f"{api.url}/bot").base_file_url(f"{api.url}/file/bot")
           .concurrent_updates(256).pool_timeout(30.0).build())  # PTB defaults otherwise
    app.add_handler(MessageHandler(filters.TEXT, echo))
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(timeout=1)

    async def stop() -> None:
        assert app.updater is not None
        await app.updater.stop()
        await app.stop()
        await app.shutdown()

    return stop


async def measure(api: FakeTelegramAPI, chats: list[int], text: str, rate: float | None,
                  timeout: float = 120.0) -> tuple[float, list[float]]:
    """Deliver one update per chat (all at once, or at ``rate``/s); wait for every reply."""
    sent: dict[int, float] = {}
    first_call = len(api.calls)
    t0 = time.monotonic()
    for i, chat in enumerate(chats):
        if rate:
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        sent[chat] = time.monotonic()
        await api.deliver(api.message_update(chat, text))
    want = set(chats)
    got: dict[int, float] = {}
    scanned = first_call
    deadline = time.monotonic() + timeout
    while len(got) < len(want):
        calls = api.calls
        for c in calls[scanned:]:
            cid = c.params.get("chat_id")
            if c.ok and c.method == "sendMessage" and cid in want and cid not in got:
                got[cid] = c.at
        scanned = len(calls)
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(got)}/{len(want)} replies after {timeout} s")
        await asyncio.sleep(0.002)
    elapsed = max(got.values()) - t0
    latencies = [(got[c] - sent[c]) * 1000 for c in chats]
    return len(chats) / elapsed, latencies


async def run_bot(kind: str, start: Callable[[FakeTelegramAPI], Awaitable[Callable[[], Awaitable[None]]]],
                  burst: list[int], paced: list[int], text: str, rate: float) -> dict[str, Any]:
    async with FakeTelegramAPI() as api:
        stop = await start(api)
        try:
            await measure(api, [c + 10_000_000 for c in burst[:50]], text, None)  # warm-up
            tput, burst_lat = await measure(api, burst, text, None)
            paced_tput, lat = await measure(api, paced, text, rate)
        finally:
            await stop()
    return {"bot": kind, "burst_ups": tput, "burst_p50": pct(burst_lat, 0.5), "burst_p99": pct(burst_lat, 0.99),
            "paced_ups": paced_tput, "p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "max": max(lat),
            "mean": statistics.fmean(lat)}


async def main(burst_n: int, rate: float, seconds: float, adapter_only: bool = False) -> None:
    logging.disable(logging.WARNING)
    if adapter_only:
        from bot.core.reply import Reply
        from bot.core.router import Router

        async def fixed(self: Router, event: Any) -> list[Reply]:
            return [Reply("hello")]

        Router.handle = fixed  # type: ignore[method-assign]
    server = RedisProcess().start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-tg-"))
    config = tmp / "bench.toml"
    config.write_text((ROOT / "config" / "defaults.toml").read_text(encoding="utf-8").replace(
        "global_per_second = 30", "global_per_second = 100000"), encoding="utf-8")
    paced_n = int(rate * seconds)
    burst = list(range(1, burst_n + 1))
    paced = list(range(burst_n + 1, burst_n + paced_n + 1))
    results = []
    try:
        # echo first, then the adapter; each with its own fake server and fresh chats
        results.append(await run_bot("ptb echo", start_echo, burst, paced, "hello", rate))

        cores: list[Any] = []

        async def start_soul(api: FakeTelegramAPI) -> Callable[[], Awaitable[None]]:
            core = make_core(server.url, tmp, TELEGRAM_BOT_TOKEN=api.token, TELEGRAM_API_BASE_URL=api.url,
                             CONFIG_FILE=str(config))
            cores.append(core)
            await core.store.redis.flushall()
            users = [*burst, *paced, *(c + 10_000_000 for c in burst[:50])]
            for i in range(0, len(users), 200):
                await asyncio.gather(*(onboard(core, f"tg:{u}") for u in users[i:i + 200]))
            adapter = TelegramAdapter(core, poll_timeout=1)
            await adapter.start()

            async def stop() -> None:
                await adapter.stop()
                await core.store.close()

            return stop

        probe = make_core(server.url, tmp)
        command = "/fortune" if "fortune" in probe.router.commands else "/credits"
        if adapter_only:
            command = "/fixed-reply"
        await probe.store.close()
        results.append(await run_bot(f"soul lab {command}", start_soul, burst, paced, command, rate))
    finally:
        server.cleanup()

    print(f"\nburst of {burst_n} updates (one per chat); then {rate:.0f} updates/s for {seconds:.0f} s\n")
    print(f"{'bot':<22}{'burst upd/s':>12}{'burst p50':>11}{'burst p99':>11}"
          f"{'paced upd/s':>13}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for r in results:
        print(f"{r['bot']:<22}{r['burst_ups']:>12,.0f}{r['burst_p50']:>11.1f}{r['burst_p99']:>11.1f}"
              f"{r['paced_ups']:>13,.1f}{r['p50']:>9.1f}{r['p99']:>9.1f}{r['max']:>9.1f}")
    echo, soul = results
    ratio = soul["burst_ups"] / echo["burst_ups"]
    print(f"\nthroughput ratio soul/echo: {ratio:.2f} (target ≥ 0.80) "
          f"{'OK' if ratio >= 0.8 else 'BELOW TARGET'}")
    print(f"p99 at {rate:.0f}/s: {soul['p99']:.1f} ms (target < 50 ms) {'OK' if soul['p99'] < 50 else 'ABOVE TARGET'}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--burst", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--adapter-only", action="store_true", help="fixed reply instead of the core command")
    a = ap.parse_args()
    asyncio.run(main(a.burst, a.rate, a.seconds, a.adapter_only))
