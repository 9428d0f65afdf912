"""Start-up and memory: console time to first reply, idle RSS, full garbage collection time.

Run by hand: ``.venv/bin/python bench/bench_startup.py [--rounds 3]``.

No AI key anywhere; one redis-server for everything (``REDIS_URL`` set, so the console's
private redis-server start is not counted); the fake Bot API in its own process.

- **console → first reply**: ``python -m bot console`` with ``/help`` piped in; seconds from
  spawning the process to the first line it prints (the reply).
- **idle RSS**: ``python -m bot run`` (Telegram only, long polling against the fake), once it
  answered one ``/help`` and then sat idle for 2 s: ``VmRSS`` from ``/proc/<pid>/status``.
- **full collection**: a fresh interpreter does ``bot.app.run``'s start-up steps (build the
  Core, start the Telegram adapter, HTTP server, broadcast, outbox), answers 300 updates
  (``/start``, ``/help``), then times ``gc.collect()`` (the median of 5) and counts the
  objects the collector still walks, in three set-ups: ``ships``
  (then ``calm_gc()``: freeze + thresholds, as ``run`` does), ``no freeze`` (default
  collector), and ``sdks imported`` (``openai`` + ``anthropic`` imported first, the
  behaviour before they were made lazy, default collector).

Rounds are interleaved (each measurement once per round, order alternating); the table
prints min / median / max over rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402

from tests.support.bot_procs import bot_env, start_bot, stop_bot  # noqa: E402
from tests.support.factory import TEST_KEY, TEST_SIGNING_SECRET  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_telegram import FakeProc, burst  # noqa: E402

GC_SCRIPT = r"""
import asyncio, gc, json, sys, time
sys.path.insert(0, sys.argv[1])
mode = sys.argv[2]
if mode == "sdks imported":
    import anthropic, openai  # noqa: F401  (what start-up imported before they were lazy)
from bot.app import _start_broadcast, build_core, calm_gc
from bot.core.settings import load_settings
from bot.handlers.http import HttpServer
from bot.handlers.telegram import start_telegram


async def traffic(api):
    import aiohttp

    chats = list(range(1000, 1300))
    items = [[c, "/start" if c % 2 else "/help"] for c in chats]
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{api}/_control/messages", json={"items": items}) as r:
            assert r.status == 200
        seen, answered = 0, set()
        deadline = time.monotonic() + 60
        while not answered >= set(chats) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            async with http.get(f"{api}/_control/sends", params={"since": str(seen)}) as r:
                body = await r.json()
            seen = body["next"]
            answered.update(c for c, _ in body["sends"])


def full_ms():
    out = []
    for _ in range(5):
        t = time.perf_counter()
        gc.collect()
        out.append((time.perf_counter() - t) * 1000)
    return sorted(out)[2]


async def main():
    settings = load_settings()
    core = await build_core(settings)
    http = HttpServer(core, port=0)
    stop_tg = await start_telegram(core, http)
    await http.start()
    runner = await _start_broadcast(core)
    await core.outbox.start()
    if mode == "ships":
        calm_gc()
    await traffic(settings.env.telegram_api_base_url)  # live objects a running bot has made
    result = {"full_ms": full_ms(), "tracked": len(gc.get_objects()), "frozen": gc.get_freeze_count(),
              "sdks": sorted(m for m in ("openai", "anthropic") if m in sys.modules)}
    await runner.stop()
    await stop_tg()
    await core.outbox.stop()
    await http.stop()
    await core.store.close()
    print(json.dumps(result))


asyncio.run(main())
"""


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("TELEGRAM_", "DISCORD_", "OPENAI_", "ANTHROPIC_", "SLACK_"))}


def console_first_reply(redis_url: str, tmp: Path) -> float:
    env = {**clean_env(), "APP_ENV": "development", "REDIS_URL": redis_url, "DATA_DIR": str(tmp),
           "SIGNING_SECRET": TEST_SIGNING_SECRET, "PROFILE_ENCRYPTION_KEY": TEST_KEY}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bot", "console"], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("/help\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - started
    proc.stdin.close()
    proc.wait(30)
    if not line.strip():
        raise RuntimeError("the console printed nothing")
    return elapsed


async def idle_rss(redis_url: str, tmp: Path) -> float:
    fake = await FakeProc.start()
    try:
        env = bot_env(redis_url, tmp, fake, None, config={}, APP_ENV="development", LOG_LEVEL="WARNING")
        proc = await start_bot(env)
        try:
            async with aiohttp.ClientSession() as http:
                await burst(fake, http, [7], "/help")
            await asyncio.sleep(2.0)
            return rss_mib(proc.pid)
        finally:
            await stop_bot(proc)
    finally:
        await fake.stop()


async def gc_figures(redis_url: str, tmp: Path, mode: str) -> dict[str, float]:
    fake = await FakeProc.start()
    try:
        env = bot_env(redis_url, tmp, fake, None, config={}, APP_ENV="development", LOG_LEVEL="WARNING")
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", GC_SCRIPT, str(ROOT), mode, cwd=ROOT,
                                                    env=env, stdout=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        await fake.stop()
    result: dict[str, float] = json.loads(out.decode().strip().splitlines()[-1])
    return result


def mmm(values: list[float], fmt: str) -> str:
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


async def main(rounds: int) -> None:
    redis = RedisProcess().start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    modes = ["ships", "no freeze", "sdks imported"]
    figures: dict[str, list[float]] = {}
    import redis as redis_py

    flush = redis_py.Redis.from_url(redis.url)
    try:
        for r in range(rounds):
            steps = ["console", "rss", *modes]
            for step in steps if r % 2 == 0 else steps[::-1]:
                # Every fake numbers its updates from 1: the inbox would drop a second run's
                # updates as duplicates of the same bot's.
                flush.flushall()
                if step == "console":
                    figures.setdefault("console → first reply (s)", []).append(console_first_reply(redis.url, tmp))
                elif step == "rss":
                    figures.setdefault("idle RSS, bot run (MiB)", []).append(await idle_rss(redis.url, tmp))
                else:
                    g = await gc_figures(redis.url, tmp, step)
                    figures.setdefault(f"full gc, {step} (ms)", []).append(g["full_ms"])
                    figures.setdefault(f"tracked objects, {step}", []).append(g["tracked"])
                    if r == 0:
                        print(f"{step}: SDKs in sys.modules after start-up: {g['sdks'] or 'none'}; "
                              f"frozen objects: {g['frozen']:,}", flush=True)
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:,.2f}" for k, v in figures.items()), flush=True)
    finally:
        redis.cleanup()
    print(f"\n{rounds} interleaved rounds (order alternating), min / median / max\n")
    for name, values in figures.items():
        fmt = "{:,.0f}" if name.startswith("tracked") else "{:.2f}" if "(s)" in name else "{:.1f}"
        print(f"{name:<36}{mmm(values, fmt):>30}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(ap.parse_args().rounds))
