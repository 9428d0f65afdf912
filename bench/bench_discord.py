"""Discord adapter throughput and latency, end to end, against the fake Discord (tests/fakes).

Run by hand: ``.venv/bin/python bench/bench_discord.py [--burst 200] [--rounds 3] [--rate 50]
[--seconds 5] [--profile soul.prof] [--guild]``.

Three kinds of process, so the bot under test has its process to itself:

- this **driver**: starts a redis-server, the fake Discord (``python -m tests.fakes.discord_server``,
  REST + gateway in its own process), onboards the users, sends the interactions through the
  fake's control routes and reads back what the bot answered (``/_control/requests``);
- the **bot** process of a round (``--serve soul|fixed``), started fresh for each measurement:
  - **soul**: the real ``DiscordAdapter`` + Core: ``/fortune`` from onboarded users, deferred,
    kept in the durable inbox, run through the router and answered with a follow-up (with its
    buttons) through the webhook endpoint;
  - **fixed**: a minimal discord.py bot whose one slash command answers every interaction with
    a fixed text (``interaction.response.send_message``).

Per round, both bots run one after the other, in alternating order (soul then fixed, then
fixed then soul, ...), so both see the same machine. A burst is ``--burst`` interactions sent at
once; the figure is interactions/s until every one shows its answer, and the bot process's
CPU time per interaction (user + system from ``/proc/<pid>/stat``, over the burst) and, for comparison, of the fake
Discord and redis-server, and the Redis commands the soul bot ran per interaction (``INFO commandstats``). Reported as
min / median / max over ``--rounds`` (at least 3). Then ``--rate`` interactions/s for
``--seconds`` on each bot: p50 / p99 time from sending the interaction to the fake to its
first response (the defer, or the fixed bot's message) reaching the fake, and to the answer
(both clocks are the machine's CLOCK_MONOTONIC).

``--profile FILE``: the soul process runs under cProfile during its bursts (not its start) and
writes the stats to FILE (read with ``python -m pstats FILE``); figures under the profiler are
not comparable and are printed as such.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Enough users that no one reaches the per-user command limit (30 a minute) on a fast machine:
#: a limited interaction is answered by no follow-up and the bench would count it lost.
USERS = 400
FIRST_USER = 7_000_000_000_000_001
CALLBACK = "POST /interactions/{interaction_id}/{interaction_token}/callback"
FOLLOWUP = "POST /webhooks/{application_id}/{interaction_token}"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))] if s else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (``/proc/<pid>/stat`` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# --- the bot processes ----------------------------------------------------------------------

async def serve(args: argparse.Namespace) -> None:
    """One bot process: connect, print ``ready``, then obey ``profile on|off`` and ``stop`` on stdin."""
    import cProfile

    import discord
    import yarl
    from discord import app_commands
    from discord.gateway import DiscordWebSocket

    info = json.loads(args.info)
    logging.disable(logging.WARNING)
    discord.http.Route.BASE = info["api_url"]
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(info["gateway_url"])
    stop: Any
    if args.serve == "soul":
        from bot.handlers.discord.adapter import DiscordAdapter
        from tests.support.factory import make_core

        core = make_core(args.redis, Path(args.data), DISCORD_BOT_TOKEN=info["token"],
                         DISCORD_API_BASE_URL=info["api_url"], DISCORD_GATEWAY_URL=info["gateway_url"])
        adapter = DiscordAdapter(core, identify_delay=0.0, client_options={"guild_ready_timeout": 0.05})
        await adapter.start()
        await asyncio.wait_for(adapter.ready.wait(), 30)

        async def stop() -> None:
            await adapter.stop(drain_seconds=5)
            await core.store.close()
    else:
        class Fixed(discord.Client):
            def __init__(self) -> None:
                super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05, max_messages=None)
                self.tree = app_commands.CommandTree(self)
                self.ready = asyncio.Event()

                @self.tree.command(name="fortune", description="Today's fortune")
                async def fortune(interaction: discord.Interaction[Any]) -> None:
                    await interaction.response.send_message("오늘의 운세는 맑음이에요")

            async def on_ready(self) -> None:
                self.ready.set()

        fixed = Fixed()
        task = asyncio.create_task(fixed.start(info["token"]))
        await asyncio.wait_for(fixed.ready.wait(), 30)

        async def stop() -> None:
            await fixed.close()
            await task

    profiler = cProfile.Profile() if args.profile else None
    print("ready", flush=True)
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if line == "profile on" and profiler is not None:
            profiler.enable()
        elif line == "profile off" and profiler is not None:
            profiler.disable()
        elif line in ("stop", ""):
            break
        print("ok", flush=True)
    await stop()
    if profiler is not None:
        profiler.dump_stats(args.profile)


# --- the driver -----------------------------------------------------------------------------

class Bot:
    """A bot process of one measurement."""

    def __init__(self, kind: str, info: dict[str, Any], redis_url: str, data: Path, profile: str | None) -> None:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", kind, "--info", json.dumps(info),
               "--redis", redis_url, "--data", str(data)]
        if profile:
            cmd += ["--profile", profile]
        self.kind = kind
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)

    async def line(self) -> str:
        assert self.proc.stdout is not None
        out = await asyncio.to_thread(self.proc.stdout.readline)
        if not out:
            raise RuntimeError(f"{self.kind} bot exited ({self.proc.wait()})")
        return out.decode().strip()

    async def tell(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()
        if command != "stop":
            assert await self.line() == "ok"

    async def stop(self) -> None:
        await self.tell("stop")
        try:
            await asyncio.to_thread(self.proc.wait, 30)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


class Driver:
    def __init__(self, http: Any, info: dict[str, Any], guild: str | None, redis_url: str,
                 pids: dict[str, int]) -> None:
        self.http = http
        self.redis_url = redis_url
        self.pids = pids  # the fake's and redis-server's processes
        self.base = info["api_url"].split("/api/")[0]
        self.guild = guild
        self.seen = 0
        self.n = 0

    async def send(self, user: int) -> tuple[str, float]:
        """Dispatch one /fortune; returns (interaction token, the time it was sent)."""
        args: dict[str, Any] = {"name": "fortune", "user_id": user}
        if self.guild:
            args["guild"] = int(self.guild)
        at = time.monotonic()
        async with self.http.post(f"{self.base}/_control/dispatch", json={"build": "slash_command", "args": args}) as r:
            body = await r.json()
            if r.status != 200:
                raise RuntimeError(f"dispatch: {r.status} {body}")
        return body["payload"]["token"], at

    async def requests(self) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.base}/_control/requests", params={"since": self.seen}) as r:
            body = await r.json()
        self.seen = body["next"]
        return list(body["requests"])

    async def skip_past(self) -> None:
        await self.requests()

    async def collect(self, tokens: dict[str, float], kind: str, timeout: float = 180.0
                      ) -> dict[str, tuple[float, float]]:
        """Wait until every interaction of ``tokens`` was answered: {token: (first response at, answer at)}."""
        first: dict[str, float] = {}
        done: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        while len(done) < len(tokens):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind}: {len(done)} of {len(tokens)} answered")
            for req in await self.requests():
                token = req["params"].get("interaction_token")
                if token not in tokens or not 200 <= req["status"] < 300:
                    continue
                if req["route"] == CALLBACK:
                    first.setdefault(token, req["at"])
                    if kind == "fixed":
                        done.setdefault(token, req["at"])
                elif req["route"] == FOLLOWUP:
                    done.setdefault(token, req["at"])
            await asyncio.sleep(0.02)
        return {tok: (first[tok], done[tok]) for tok in tokens}

    def users(self) -> int:
        self.n += 1
        return FIRST_USER + self.n % USERS


def redis_calls(redis_url: str) -> dict[str, int]:
    """Calls per Redis command so far (``INFO commandstats``)."""
    import redis

    with redis.Redis.from_url(redis_url) as r:
        stats = r.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


async def burst(driver: Driver, bot: Bot, n: int, calls: dict[str, int] | None = None) -> tuple[float, dict[str, float]]:
    """(interactions/s, CPU ms per interaction of the bot, the fake and redis-server) for ``n``
    interactions sent at once; with ``calls``, also adds the Redis commands the burst ran to it."""
    await driver.skip_past()
    before = redis_calls(driver.redis_url) if calls is not None else {}
    pids = {"bot": bot.proc.pid, **driver.pids}
    cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    started = time.monotonic()
    sent = await asyncio.gather(*(driver.send(driver.users()) for _ in range(n)))
    answers = await driver.collect(dict(sent), bot.kind)
    elapsed = max(done for _, done in answers.values()) - started
    cpu = {name: (cpu_seconds(pid) - cpu0[name]) * 1000 / n for name, pid in pids.items()}
    if calls is not None:
        for name, count in redis_calls(driver.redis_url).items():
            calls[name] = calls.get(name, 0) + count - before.get(name, 0)
    return n / elapsed, cpu


async def paced(driver: Driver, bot: Bot, rate: float, seconds: float) -> tuple[list[float], list[float]]:
    """(first response ms, answer ms) per interaction at ``rate`` per second."""
    await driver.skip_past()
    total = int(rate * seconds)
    t0 = time.monotonic()
    tasks = []
    for k in range(total):
        await asyncio.sleep(max(0.0, t0 + k / rate - time.monotonic()))
        tasks.append(asyncio.create_task(driver.send(driver.users())))
    sent = dict(await asyncio.gather(*tasks))
    answers = await driver.collect(sent, bot.kind)
    first = [(answers[tok][0] - at) * 1000 for tok, at in sent.items()]
    answer = [(answers[tok][1] - at) * 1000 for tok, at in sent.items()]
    return first, answer


def summary(values: list[float], unit: str, digits: int = 0) -> str:
    return (f"min {min(values):.{digits}f}  median {statistics.median(values):.{digits}f}  "
            f"max {max(values):.{digits}f} {unit}")


def start_fake() -> subprocess.Popen[bytes]:
    """The fake Discord in its own process (one guild); its first line is its ``info()``."""
    return subprocess.Popen([sys.executable, "-m", "tests.fakes.discord_server", "1"], stdout=subprocess.PIPE,
                            cwd=ROOT)


async def drive(args: argparse.Namespace) -> None:
    import aiohttp

    from tests.support.factory import make_core, onboard
    from tests.support.redis_proc import RedisProcess

    logging.disable(logging.WARNING)
    server = RedisProcess().start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-dc-"))
    fake = start_fake()
    try:
        assert fake.stdout is not None
        info = json.loads(fake.stdout.readline())
        core = make_core(server.url, tmp)
        for k in range(USERS):
            await onboard(core, f"dc:{FIRST_USER + k}")
        await core.store.close()
        guild = info["guilds"][0]["id"] if args.guild else None
        print(f"fake Discord pid {fake.pid}; {USERS} users; {'guild' if guild else 'DM'} interactions; "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
        rates: dict[str, list[float]] = {"soul": [], "fixed": []}
        cpus: dict[str, list[dict[str, float]]] = {"soul": [], "fixed": []}
        calls: dict[str, int] = {}
        async with aiohttp.ClientSession() as http:
            assert server.proc is not None
            driver = Driver(http, info, guild, server.url, {"fake": fake.pid, "redis": server.proc.pid})

            async def measure(kind: str) -> None:
                bot = Bot(kind, info, server.url, tmp, args.profile if kind == "soul" else None)
                try:
                    assert await bot.line() == "ready"
                    await burst(driver, bot, args.burst)  # warm-up (connection pools grown, first-use costs paid)
                    if args.profile and kind == "soul":
                        await bot.tell("profile on")
                    rate, cpu = await burst(driver, bot, args.burst, calls if kind == "soul" else None)
                    if args.profile and kind == "soul":
                        await bot.tell("profile off")
                    rates[kind].append(rate)
                    cpus[kind].append(cpu)
                finally:
                    await bot.stop()

            for r in range(args.rounds):
                order = ("soul", "fixed") if r % 2 == 0 else ("fixed", "soul")
                for kind in order:
                    await measure(kind)
                print(f"round {r + 1} ({order[0]} first): soul {rates['soul'][-1]:.0f}/s "
                      f"(bot CPU {cpus['soul'][-1]['bot']:.2f} ms each)  fixed {rates['fixed'][-1]:.0f}/s "
                      f"(bot CPU {cpus['fixed'][-1]['bot']:.2f} ms each)", flush=True)
            for kind in ("soul", "fixed"):
                print(f"{kind:5s} burst {args.burst}: {summary(rates[kind], 'interactions/s')}")
                for proc in ("bot", "fake", "redis"):
                    print(f"      CPU per interaction, {proc:5s}: {summary([c[proc] for c in cpus[kind]], 'ms', 2)}")
            done = args.burst * args.rounds
            per = sorted(((count / done, name) for name, count in calls.items() if count), reverse=True)
            print(f"soul: Redis commands per interaction {sum(c for c, _ in per):.1f} ("
                  + ", ".join(f"{name} {c:.2f}" for c, name in per) + ")")
            ratio = statistics.median(rates["soul"]) / statistics.median(rates["fixed"])
            print(f"soul / fixed (medians): {ratio:.2f}" + ("  (soul under cProfile)" if args.profile else ""))
            if args.seconds > 0:
                for kind in ("soul", "fixed"):
                    bot = Bot(kind, info, server.url, tmp, None)
                    try:
                        assert await bot.line() == "ready"
                        await burst(driver, bot, args.burst)
                        first, answer = await paced(driver, bot, args.rate, args.seconds)
                    finally:
                        await bot.stop()
                    line = (f"{kind:5s} at {args.rate:.0f}/s for {args.seconds:.0f} s: first response "
                            f"p50 {pct(first, 0.5):.1f} ms p99 {pct(first, 0.99):.1f} ms")
                    if kind == "soul":
                        line += f"; answer p50 {pct(answer, 0.5):.1f} ms p99 {pct(answer, 0.99):.1f} ms"
                    print(line, flush=True)
    finally:
        fake.terminate()
        fake.wait()
        server.stop()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--burst", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rate", type=float, default=50.0)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--profile", help="cProfile the soul bot's bursts into this file")
    p.add_argument("--guild", action="store_true", help="interactions in a guild channel instead of DMs")
    p.add_argument("--serve", choices=("soul", "fixed"), help=argparse.SUPPRESS)
    p.add_argument("--info", help=argparse.SUPPRESS)
    p.add_argument("--redis", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve is None and args.rounds < 3:
        p.error("--rounds must be at least 3 (min / median / max)")
    return args


if __name__ == "__main__":
    ns = parse()
    asyncio.run(serve(ns) if ns.serve else drive(ns))
