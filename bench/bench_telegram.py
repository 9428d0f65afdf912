"""Telegram: CPU per update, throughput and tail latency — every bot in its own process.

Run by hand: ``.venv/bin/python bench/bench_telegram.py [--rounds 3] [--burst 2000] [--rate 100]
[--seconds 5] [--bots floor,ptb-httpx,ptb-aiohttp,soul-aiohttp,soul-httpx] [--base DIR]
[--profile DIR]``.
With ``--base DIR`` and ``soul-base`` in ``--bots``, the bot from another tree (e.g.
``git archive <commit> | tar -x -C DIR``) runs in the same interleaved rounds: before/after
(its users are onboarded by that tree's own code, so storage formats match).

What runs (nothing shares a process or an event loop with the bot under test):
- a redis-server, and per bot run a fresh fake Bot API in its own process
  (``tests/fakes/telegram_server.py``; updates in through ``/_control/messages``, replies read
  from ``/_control/sends``);
- the bots, each a process of its own (``bench/tg_echo.py`` for the anchors):
  ``floor`` framework-free aiohttp echo; ``ptb-httpx`` the stock PTB echo with the stock httpx
  transport and the adapter's PTB settings (pool 32, 32 concurrent updates, no rate limiter);
  ``ptb-aiohttp`` the same on our transport; ``soul-aiohttp`` / ``soul-httpx`` the real
  ``python -m bot run`` (Telegram only, durable inbox, no AI key) answering ``/fortune`` to
  onboarded users, ``TELEGRAM_TRANSPORT`` set accordingly. Its outbound *global* budget is
  raised (``[outbound.tg] global_per_second``) so the bench measures code, not Telegram's
  30 msg/s policy; per-chat pacing stays on (every update comes from its own chat).

Per run: a warm-up of 50 updates; a burst of ``--burst`` updates (one per chat, all at once):
CPU per update = the bot process's utime + stime from ``/proc/<pid>/stat`` over the burst,
divided by the updates, and updates/s until the last reply; then ``--rate`` updates/s for
``--seconds``: p50 / p99 / max latency from handing the update to the fake until the reply
reached it (both read CLOCK_MONOTONIC). Rounds are interleaved (every bot once per round) and
the order alternates (reversed every other round); the table prints min / median / max over
rounds, and the ratios are taken within a round. CPU per update is the steadier figure on a
shared machine: throughput and latency move with whatever else runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402

from tests.support.bot_procs import bot_env, onboard_identity, start_bot, stop_bot  # noqa: E402
from tests.support.factory import make_core  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")
BOTS = ("floor", "ptb-httpx", "ptb-aiohttp", "soul-aiohttp", "soul-httpx", "soul-base")
WARM = 50


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads, not its children)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))] if s else float("nan")


@dataclass
class FakeProc:
    proc: asyncio.subprocess.Process
    url: str
    token: str
    seen: int = 0  # calls already scanned by ``sends``

    @classmethod
    async def start(cls) -> FakeProc:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "tests.fakes.telegram_server", cwd=ROOT,
                                                    stdout=asyncio.subprocess.PIPE)
        assert proc.stdout is not None
        url, token = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().split()
        return cls(proc, url, token)

    async def stop(self) -> None:
        self.proc.kill()
        await self.proc.wait()

    async def deliver(self, http: aiohttp.ClientSession, items: list[tuple[int, str]]) -> None:
        async with http.post(f"{self.url}/_control/messages", json={"items": items}) as r:
            assert r.status == 200

    async def sends(self, http: aiohttp.ClientSession) -> list[tuple[int, float]]:
        async with http.get(f"{self.url}/_control/sends", params={"since": str(self.seen)}) as r:
            body = await r.json()
        self.seen = body["next"]
        return [(int(c), float(at)) for c, at in body["sends"]]


async def collect(fake: FakeProc, http: aiohttp.ClientSession, want: set[int], got: dict[int, float],
                  timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not want <= got.keys():
        for chat, at in await fake.sends(http):
            if chat in want:
                got.setdefault(chat, at)
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(want & got.keys())}/{len(want)} replies after {timeout} s")
        await asyncio.sleep(0.005)


async def burst(fake: FakeProc, http: aiohttp.ClientSession, chats: list[int], text: str) -> float:
    """All at once (in chunks of 500 per control call); seconds until the last reply."""
    got: dict[int, float] = {}
    t0 = time.monotonic()
    for i in range(0, len(chats), 500):
        await fake.deliver(http, [(c, text) for c in chats[i:i + 500]])
    await collect(fake, http, set(chats), got, 180)
    return max(got.values()) - t0


async def paced(fake: FakeProc, http: aiohttp.ClientSession, chats: list[int], text: str,
                rate: float) -> list[float]:
    """One update every 1/rate s; latency in ms per update."""
    got: dict[int, float] = {}
    sent: dict[int, float] = {}
    t0 = time.monotonic()
    for i, chat in enumerate(chats):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        sent[chat] = time.monotonic()
        await fake.deliver(http, [(chat, text)])
    await collect(fake, http, set(chats), got, 60)
    return [(got[c] - sent[c]) * 1000 for c in chats]


async def onboard_all(redis_url: str, tmp: Path, users: list[int]) -> None:
    """A fresh database with ``users`` onboarded (``tg:<id>``), written by this tree's code."""
    core = make_core(redis_url, tmp)
    try:
        # A fresh fake numbers its updates from 1 again: the previous run's inbox would
        # drop them as duplicates of the same bot's updates.
        await core.store.redis.flushall()
        for i in range(0, len(users), 200):
            await asyncio.gather(*(onboard_identity(core, f"tg:{u}") for u in users[i:i + 200]))
    finally:
        await core.store.close()


#: ``onboard_all`` run by another tree (``--base``), with that tree's own code.
ONBOARD_SCRIPT = """
import asyncio, json, sys
from pathlib import Path
sys.path.insert(0, ".")
from tests.support.bot_procs import onboard_identity
from tests.support.factory import make_core
async def main():
    core = make_core(sys.argv[1], Path(sys.argv[2]))
    users = json.loads(sys.argv[3])
    try:
        await core.store.redis.flushall()
        for i in range(0, len(users), 200):
            await asyncio.gather(*(onboard_identity(core, f"tg:{u}") for u in users[i:i + 200]))
    finally:
        await core.store.close()
asyncio.run(main())
"""


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.redis = RedisProcess().start()
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-tg-"))
        self.base = os.path.abspath(args.base) if getattr(args, "base", "") else ""
        self.next_chat = 1
        self.profiles = 0
        self.profile_dir = os.path.abspath(args.profile) if getattr(args, "profile", "") else ""

    def chats(self, n: int) -> list[int]:
        out = list(range(self.next_chat, self.next_chat + n))
        self.next_chat += n
        return out

    async def start_anchor(self, kind: str, fake: FakeProc) -> tuple[int, Callable[[], Awaitable[Any]]]:
        proc = await asyncio.create_subprocess_exec(sys.executable, str(ROOT / "bench" / "tg_echo.py"), kind,
                                                    fake.url, fake.token, cwd=ROOT)

        async def stop() -> None:
            proc.kill()
            await proc.wait()

        return proc.pid, stop

    async def start_soul(self, kind: str, fake: FakeProc, users: list[int]) -> tuple[int, Callable[[], Awaitable[Any]]]:
        """``soul-aiohttp`` / ``soul-httpx``: this tree; ``soul-base``: the tree in ``--base``
        (e.g. an exported earlier commit) on aiohttp, for before/after figures in one run."""
        if kind == "soul-base":
            # The users are written by the other tree's own code: its storage formats may differ
            # (a profile it cannot read would send every /fortune to onboarding instead).
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", ONBOARD_SCRIPT, self.redis.url, str(self.tmp), json.dumps(users),
                cwd=self.base, env={**os.environ, "PYTHONPATH": self.base})
            if await proc.wait() != 0:
                raise RuntimeError("onboarding with the --base tree failed")
        else:
            await onboard_all(self.redis.url, self.tmp, users)
        cfg_dir = self.tmp / f"cfg-{kind}"
        cfg_dir.mkdir(exist_ok=True)
        env = bot_env(self.redis.url, self.tmp, fake, None,
                      config={"outbound.tg": {"global_per_second": 100000}},
                      TELEGRAM_TRANSPORT="aiohttp" if kind == "soul-base" else kind.removeprefix("soul-"),
                      APP_ENV="development", LOG_LEVEL="WARNING")
        if kind == "soul-base":
            base = self.base
            env["PYTHONPATH"] = base
            proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", cwd=base, env=env,
                                                        stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=asyncio.subprocess.DEVNULL)
        elif self.args.profile:  # cProfile of the whole process; written at its (graceful) exit
            self.profiles += 1
            out = os.path.join(self.profile_dir, f"{kind}-{self.profiles}.prof")
            proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "cProfile", "-o", out, "-m", "bot",
                                                        "run", cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=asyncio.subprocess.DEVNULL)
        else:
            proc = await start_bot(env)

        async def stop() -> None:
            await stop_bot(proc)

        return proc.pid, stop

    async def run(self, kind: str) -> dict[str, float]:
        a = self.args
        warm, burst_chats, paced_chats = self.chats(WARM), self.chats(a.burst), self.chats(int(a.rate * a.seconds))
        text = "/fortune" if kind.startswith("soul") else "hello"
        fake = await FakeProc.start()
        try:
            if kind.startswith("soul"):
                pid, stop = await self.start_soul(kind, fake, [*warm, *burst_chats, *paced_chats])
            else:
                pid, stop = await self.start_anchor(kind, fake)
            try:
                async with aiohttp.ClientSession() as http:
                    await burst(fake, http, warm, text)  # also waits until the bot is up
                    cpu0 = cpu_seconds(pid)
                    seconds = await burst(fake, http, burst_chats, text)
                    cpu = cpu_seconds(pid) - cpu0
                    lat = await paced(fake, http, paced_chats, text, a.rate)
            finally:
                await stop()
        finally:
            await fake.stop()
        return {"cpu_ms": cpu * 1000 / a.burst, "ups": a.burst / seconds, "p50": pct(lat, 0.5),
                "p99": pct(lat, 0.99), "max": max(lat)}

    def close(self) -> None:
        self.redis.cleanup()


def mmm(values: list[float], fmt: str = "{:.2f}") -> str:
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


async def main(args: argparse.Namespace) -> None:
    logging.disable(logging.WARNING)
    bots = [b for b in args.bots.split(",") if b]
    unknown = set(bots) - set(BOTS)
    if unknown:
        raise SystemExit(f"unknown bots: {', '.join(sorted(unknown))}")
    if "soul-base" in bots and not args.base:
        raise SystemExit("soul-base needs --base DIR (a checkout or export of the tree to compare with)")
    bench = Bench(args)
    rounds: list[dict[str, dict[str, float]]] = []
    try:
        for r in range(args.rounds):
            order = bots if r % 2 == 0 else bots[::-1]
            results: dict[str, dict[str, float]] = {}
            for kind in order:
                results[kind] = await bench.run(kind)
                x = results[kind]
                print(f"round {r + 1} {kind:<13} cpu/update {x['cpu_ms']:.3f} ms  {x['ups']:,.0f} upd/s  "
                      f"p50 {x['p50']:.1f}  p99 {x['p99']:.1f}  max {x['max']:.1f} ms", flush=True)
            rounds.append(results)
    finally:
        bench.close()
    print(f"\n{args.rounds} interleaved rounds (order alternating); burst of {args.burst} updates, then "
          f"{args.rate:.0f} updates/s for {args.seconds:.0f} s; min / median / max over rounds\n")
    print(f"{'bot':<14}{'CPU ms/update':>26}{'burst upd/s':>26}{'p99 ms @ rate':>28}{'p50 ms':>28}")
    for kind in bots:
        col = {k: [rd[kind][k] for rd in rounds] for k in ("cpu_ms", "ups", "p99", "p50")}
        print(f"{kind:<14}{mmm(col['cpu_ms'], '{:.3f}'):>26}{mmm(col['ups'], '{:,.0f}'):>26}"
              f"{mmm(col['p99'], '{:.1f}'):>28}{mmm(col['p50'], '{:.1f}'):>28}")
    ratios = [("soul-aiohttp", "soul-base"), ("soul-base", "ptb-httpx"), ("soul-aiohttp", "ptb-httpx"), ("soul-aiohttp", "floor"), ("soul-aiohttp", "soul-httpx"),
              ("ptb-aiohttp", "ptb-httpx")]
    print("\nCPU per update, ratio within each round:")
    for a, b in ratios:
        if a in bots and b in bots:
            print(f"  {a} / {b}: {mmm([rd[a]['cpu_ms'] / rd[b]['cpu_ms'] for rd in rounds])}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:  # noqa: ASYNC230 - once, at the end
            json.dump(rounds, f, indent=1)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--burst", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--bots", default=",".join(BOTS[:-1]))
    ap.add_argument("--base", default="", help="soul-base runs the bot from this directory (before/after)")
    ap.add_argument("--profile", default="", help="run the soul bots under cProfile, one .prof per run in this directory")
    ap.add_argument("--json", default="", help="also write every round's figures to this file")
    asyncio.run(main(ap.parse_args()))
