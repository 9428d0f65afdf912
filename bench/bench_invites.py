"""Invite pairings and daily check-ins per second against a local redis-server.

Run by hand: ``.venv/bin/python bench/bench_invites.py [--pairs 2000] [--contenders 50] [--rounds 3]
[--concurrency 32] [--processes 2] [--top N]``. Starts its own redis-server on a free loopback port. Prints pairing
throughput (issue + accept + rewards) for two load shapes, interleaved and alternated per round:
``steady`` (``--concurrency`` users at a time, each starting the next pairing when theirs is
done: a closed-loop load generator) and ``waves`` (groups of ``--concurrency`` pairings, each
group waiting for its slowest: the shape this bench used before, where the client and Redis take
turns instead of working at once), and ``steady x N processes`` (``--processes``, default 2:
N bot processes on the same Redis, each with ``--concurrency`` users at a time, as the bot scales
out); with the bench processes' and redis-server's CPU per pairing.
The process runs with the collector settings every bot process uses (``bot.app.calm_gc``). Also the cost of a contested invite (``--contenders`` users accepting the
same invite at once; exactly one must win), and check-in throughput. Limits are raised so the
rate limiter does not dominate. ``--top N`` prints the N commands redis-server spent most time
on (commandstats: calls and microseconds per pairing; a script's inner commands are counted
both in it and on their own).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import calm_gc  # noqa: E402
from bot.core.clock import FixedClock  # noqa: E402
from bot.core.errors import BotError  # noqa: E402
from bot.core.invites import Acceptance, Invites  # noqa: E402
from bot.core.streaks import Streaks  # noqa: E402
from tests.support.factory import make_core, onboard  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402


def spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` (the redis-server), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CLOCK_T0 = 1_736_125_200  # 2025-01-06 10:00 KST
USERS_KEY = "bench:users"


async def worker_main(url: str, first: int, count: int, concurrency: int, go_key: str) -> None:
    """One of the ``--processes`` bot processes: pairs users ``first .. first + 2 * count`` (from
    the list the main process stored) with ``concurrency`` at a time once ``go_key`` is pushed,
    and prints its start, end and CPU as JSON."""
    core = make_core(url, Path(tempfile.mkdtemp()), clock=FixedClock(CLOCK_T0))
    try:
        users = await core.store.redis.lrange(USERS_KEY, first, first + 2 * count - 1)
        invites: Invites = core.invites
        todo = iter(range(count))

        async def work() -> None:
            for j in todo:
                inv = await invites.issue(users[2 * j])
                await invites.accept(users[2 * j + 1], inv.token)

        await invites.issue(users[0])  # warm: scripts loaded, connections open
        calm_gc()
        print("ready", flush=True)
        await core.store.redis.blpop([go_key], timeout=60)
        t0, c0 = time.time(), time.process_time()
        await asyncio.gather(*(work() for _ in range(concurrency)))
        print(json.dumps({"t0": t0, "t1": time.time(), "cpu": time.process_time() - c0}), flush=True)
    finally:
        await core.store.close()


async def _processes(url: str, redis: Any, first: int, pairs: int, n: int, concurrency: int, tag: str) -> tuple[float, float]:
    """``pairs`` pairings split over ``n`` fresh bot processes started together: (pairings/s
    from the first start to the last end, bench CPU per pairing summed over the processes)."""
    each = pairs // n
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--worker", url, str(first + 2 * each * k), str(each), str(concurrency), tag,
        stdout=asyncio.subprocess.PIPE) for k in range(n)]
    for p in procs:
        assert p.stdout is not None
        assert (await p.stdout.readline()).strip() == b"ready"
    await redis.rpush(tag, *["go"] * n)
    outs = []
    for p in procs:
        out, _ = await p.communicate()
        outs.append(json.loads(out.decode().strip().splitlines()[-1]))
    span = max(o["t1"] for o in outs) - min(o["t0"] for o in outs)
    return each * n / span, sum(o["cpu"] for o in outs) * 1000 / (each * n)


async def main(pairs: int, contenders: int, rounds: int, concurrency: int, processes: int, top: int = 0) -> None:
    server = RedisProcess().start()
    clock = FixedClock(CLOCK_T0)
    core = make_core(server.url, Path(tempfile.mkdtemp()), clock=clock)
    try:
        for scope in ("reward", "invite_user", "invite_ip"):
            await core.limiter.set_limit(scope, 1_000_000, 60)
        invites: Invites = core.invites
        streaks: Streaks = core.streaks
        shapes = ["steady", "waves"] + ([f"steady x{processes} processes"] if processes > 1 else [])
        identities = [f"tg:{i}" for i in range(pairs * 2 * len(shapes) * rounds)]
        users: list[str] = []  # account ids (what the services take)
        for i in range(0, len(identities), 200):
            users += [p.uid for p in await asyncio.gather(*(onboard(core, u, bonus=False)
                                                           for u in identities[i:i + 200]))]

        for i in range(0, len(users), 1000):
            await core.store.redis.rpush(USERS_KEY, *users[i:i + 1000])

        async def one_pair(i: int) -> None:
            inv = await invites.issue(users[2 * i])
            await invites.accept(users[2 * i + 1], inv.token)

        calm_gc()  # the collector settings every bot process runs with (bot.app.calm_gc)
        async def waves(base: int, n: int) -> None:
            # groups of `concurrency` pairings, each group waiting for its slowest (the old shape)
            for i in range(base, base + n, concurrency):
                await asyncio.gather(*(one_pair(j) for j in range(i, min(base + n, i + concurrency))))

        async def steady(base: int, n: int) -> None:
            # `concurrency` users at a time, each starting the next pairing as soon as theirs is
            # done (a closed-loop load generator: the client and Redis work at the same time)
            todo = iter(range(base, base + n))

            async def worker() -> None:
                for j in todo:
                    await one_pair(j)

            await asyncio.gather(*(worker() for _ in range(concurrency)))

        redis_pid = int((await core.store.redis.info("server"))["process_id"])
        results: dict[str, tuple[list[float], list[float], list[float]]] = {s: ([], [], []) for s in shapes}
        await core.store.redis.config_resetstat()
        for r in range(rounds):  # each round pairs fresh users; the shapes take turns going first
            order = shapes[r % len(shapes):] + shapes[:r % len(shapes)]
            for shape in order:
                base = (len(shapes) * r + shapes.index(shape)) * pairs
                t0, c0, rc0 = time.perf_counter(), time.process_time(), _cpu_seconds(redis_pid)
                if shape == "steady":
                    await steady(base, pairs)
                elif shape == "waves":
                    await waves(base, pairs)
                else:
                    rate, cpu_per = await _processes(server.url, core.store.redis, 2 * base, pairs, processes,
                                                     concurrency, f"bench:go:{r}")
                dt, cpu = time.perf_counter() - t0, time.process_time() - c0
                rates, cpu_ms, redis_ms = results[shape]
                if shape in ("steady", "waves"):
                    rates.append(pairs / dt)
                    cpu_ms.append(cpu * 1000 / pairs)
                else:
                    rates.append(rate)
                    cpu_ms.append(cpu_per)
                redis_ms.append((_cpu_seconds(redis_pid) - rc0) * 1000 / pairs)
        stats = await core.store.redis.info("commandstats")
        calls = sum(int(v["calls"]) for v in stats.values())
        print(f"pairings (issue+accept+rewards), {pairs} per round, {rounds} rounds, "
              f"{concurrency} at a time, min / median / max:")
        for shape, (rates, cpu_ms, redis_ms) in results.items():
            print(f"  {shape}")
            print(f"    pairings/s          {spread(rates)}")
            print(f"    bench CPU/pairing   {spread(cpu_ms, '{:.3f}')} ms")
            print(f"    Redis CPU/pairing   {spread(redis_ms, '{:.3f}')} ms")
        print(f"  Redis commands per pairing {calls / (pairs * rounds * len(shapes)):.1f} "
              "(commandstats, incl. inside scripts and the processes' warm-up)")
        if top:
            print(f"  Redis time by command (top {top}): calls per pairing, µs per call, µs per pairing")
            done = pairs * rounds * len(shapes)
            rows = sorted(stats.items(), key=lambda kv: -int(kv[1]["usec"]))[:top]
            for name, v in rows:
                print(f"    {name:<28} {int(v['calls']) / done:6.2f} {float(v['usec_per_call']):8.2f} "
                      f"{int(v['usec']) / done:8.2f}")

        inv = await invites.issue(users[0])

        async def contend(uid: str) -> bool:
            try:
                return isinstance(await invites.accept(uid, inv.token), Acceptance)
            except BotError:
                return False

        t0 = time.perf_counter()
        wins = await asyncio.gather(*(contend(u) for u in users[1:contenders + 1]))
        dt = time.perf_counter() - t0
        print(f"contested invite: {contenders} accepts in {dt * 1000:.1f} ms, winners: {sum(wins)}")

        t0 = time.perf_counter()
        n = len(users)
        for i in range(0, n, 64):
            await asyncio.gather(*(streaks.checkin(u, "Asia/Seoul") for u in users[i:i + 64]))
        dt = time.perf_counter() - t0
        print(f"check-ins: {n} in {dt:.2f} s -> {n / dt:,.0f}/s")
        bad = await core.ledger.reconcile_all()
        print(f"reconcile: {'ok' if not bad else f'{len(bad)} accounts off'}")
    finally:
        await core.store.close()
        server.cleanup()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--contenders", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--processes", type=int, default=2, help="bot processes of the third shape (1: none)")
    ap.add_argument("--top", type=int, default=0, help="print the N commands Redis spent most time on")
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        url, first, count, conc, go = sys.argv[2:7]
        asyncio.run(worker_main(url, int(first), int(count), int(conc), go))
        sys.exit(0)
    a = ap.parse_args()
    asyncio.run(main(a.pairs, a.contenders, a.rounds, a.concurrency, a.processes, a.top))
