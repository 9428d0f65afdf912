"""Scale-out figures: a 3-master Redis Cluster vs one redis-server, and 1 vs 2 bot processes.

Run by hand: ``.venv/bin/python bench/bench_scale.py [--rounds 3] [--spends 8000]
[--fortunes 1600] [--updates 1000] [--skip-processes]``. Starts its own redis-server and a
local 3-master cluster (``tests/support/redis_cluster.py``) on free loopback ports.

(a) **Ledger**: concurrent spends through the public ledger API (16 accounts, one spend per
    call, ``--spends`` per round), standalone vs cluster.
(b) **Router**: ``/fortune`` through ``core.router.handle(Event(...))`` for onboarded users
    (identity -> account resolution, rate limit + profile read, the fortune), 16 at a time,
    standalone vs cluster.
(c) **Processes**: real ``python -m bot run`` webhook processes on one redis-server, 1 vs 2;
    ``--updates`` /fortune updates (one chat each) are POSTed to the processes' webhook routes
    (round-robin, 64 in flight, as fast as they are accepted) and timed until the fake Bot
    API (in its own process) saw every reply.

(a) and (b) also show where the time goes: client CPU per operation in this process
(``time.process_time``; the cluster client does more Python work per command) and Redis
commands per operation (``INFO commandstats``, summed over the cluster's masters).
Rounds are interleaved and their order alternates; printed: min / median / max over the
rounds and the per-round ratios (cluster/standalone, 2/1). The issue's target: the cluster
is not slower than 0.7 x standalone on a 2-core machine.
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
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_inbox import RemoteFake  # noqa: E402
from bot.core.router import Event  # noqa: E402
from bot.core.service import Core  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramAPI  # noqa: E402
from tests.support.bot_procs import bot_env, onboard_identity, post_update, start_bot, stop_bot, wait_ready  # noqa: E402
from tests.support.factory import make_core  # noqa: E402
from tests.support.redis_cluster import RedisCluster3  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402

CONCURRENCY = 16
#: What (a) and (b) measure: ledger spends, /fortune, /fortune with a cold identity cache.
KINDS = ("ledger", "fortune", "fortune_cold")
LABELS = {"ledger": "ledger spends/s", "fortune": "/fortune via router/s",
          "fortune_cold": "  cold identity cache/s"}
HOOK_URL = "https://bot.example/tg/hook"
HOOK_PATH = "/tg/hook"
HOOK_SECRET = "bench-scale_secret"


def spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def ratios(a: list[float], b: list[float]) -> list[float]:
    return [x / y for x, y in zip(a, b)]


def primaries(core: Core) -> dict[str, Any]:
    """Keyword arguments that send a server command to every master of a cluster."""
    if core.store.topology != "cluster":
        return {}
    from redis.asyncio.cluster import RedisCluster

    return {"target_nodes": RedisCluster.PRIMARIES}


async def commands(core: Core) -> dict[str, int]:
    """``INFO commandstats`` call counts, summed over every master of a cluster. They include
    the commands Lua scripts run inside Redis."""
    raw = await core.store.redis.info("commandstats", **primaries(core))
    per_node = raw.values() if core.store.topology == "cluster" else [raw]
    out: dict[str, int] = {}
    for node in per_node:
        for name, stats in node.items():
            if name.startswith("cmdstat_") and isinstance(stats, dict):
                out[name[8:]] = out.get(name[8:], 0) + int(stats["calls"])
    return out


async def reset_stats(core: Core) -> None:
    await core.store.redis.config_resetstat(**primaries(core))


class RoundTrips:
    """Counts what the client sends: single commands (``execute_command``, scripts included)
    and pipelines / transactions (one ``execute`` each), by wrapping the client instance."""

    def __init__(self, redis: Any) -> None:
        self.commands: dict[str, int] = {}
        self.pipelines = 0
        execute, pipeline = redis.execute_command, redis.pipeline

        async def counted(*args: Any, **kw: Any) -> Any:
            name = str(args[0]).lower() if args else "?"
            self.commands[name] = self.commands.get(name, 0) + 1
            return await execute(*args, **kw)

        def counted_pipeline(*args: Any, **kw: Any) -> Any:
            pipe = pipeline(*args, **kw)
            run = pipe.execute

            async def execute_pipe(*a: Any, **k: Any) -> Any:
                self.pipelines += 1
                return await run(*a, **k)

            pipe.execute = execute_pipe
            return pipe

        redis.execute_command = counted
        redis.pipeline = counted_pipeline

    def take(self) -> tuple[dict[str, int], int]:
        out = (dict(self.commands), self.pipelines)
        self.commands, self.pipelines = {}, 0
        return out


async def run_pool(n: int, job: Callable[[int], Awaitable[Any]],
                   concurrency: int = CONCURRENCY) -> tuple[float, float, float]:
    """Run ``job(i)`` for i < n, ``concurrency`` at a time: (ops/s, client CPU µs per op,
    p50 latency ms)."""
    counter = iter(range(n))
    latencies: list[float] = []

    async def worker() -> None:
        for i in counter:
            t = time.perf_counter()
            await job(i)
            latencies.append(time.perf_counter() - t)

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return n / wall, cpu / n * 1e6, statistics.median(latencies) * 1000


class Backend:
    """One Redis topology with a Core on it: accounts for the ledger, users for /fortune."""

    def __init__(self, name: str, url: str, tmp: Path) -> None:
        self.name = name
        self.core = make_core(url, tmp / name)
        self.aids: list[str] = []
        self.users: list[int] = []
        self.rate: dict[str, list[float]] = {k: [] for k in KINDS}
        self.cpu: dict[str, list[float]] = {k: [] for k in KINDS}
        self.p50: dict[str, list[float]] = {k: [] for k in KINDS}
        self.cmds: dict[str, dict[str, float]] = {}
        self.trips: dict[str, dict[str, float]] = {}
        self.errors = 0
        self.counter = RoundTrips(self.core.store.redis)

    async def setup(self, spends_total: int, rounds: int, fortune_users: int) -> None:
        core = self.core
        self.aids = [await core.accounts.resolve(f"tg:{9_000_000 + i}") for i in range(CONCURRENCY)]
        for aid in self.aids:
            await core.ledger.grant(aid, spends_total * (rounds + 1) // CONCURRENCY + 100, "bench seed", "seed")
        self.users = [8_000_000 + i for i in range(fortune_users)]
        self.cold_users = [8_500_000 + i for i in range(fortune_users)]
        everyone = self.users + self.cold_users
        for i in range(0, len(everyone), 100):
            await asyncio.gather(*(onboard_identity(core, f"tg:{u}") for u in everyone[i:i + 100]))

    async def ledger_round(self, spends: int, tag: str) -> None:
        per = spends // CONCURRENCY

        async def spend(i: int) -> None:
            await self.core.ledger.spend(self.aids[i % CONCURRENCY], 1, "bench", f"{tag}-{i}")

        await reset_stats(self.core)
        self.counter.take()
        rate, cpu, p50 = await run_pool(per * CONCURRENCY, spend)
        self.note("ledger", rate, cpu, p50, per * CONCURRENCY)
        self.cmds["ledger"] = {k: v / (per * CONCURRENCY) for k, v in (await commands(self.core)).items()}

    async def fortune_round(self, calls: int, cold: bool = False) -> None:
        """``calls`` /fortune; ``cold``: the identity -> account cache is emptied before each
        (as for a user's first message to a process: one more lookup in Redis)."""
        core, router = self.core, self.core.router
        users = self.cold_users if cold else self.users

        async def fortune(i: int) -> None:
            user = users[i % len(users)]
            if cold:
                core.accounts.forget(f"tg:{user}")
            replies = await router.handle(Event("tg", str(user), "/fortune", chat_id=str(user)))
            if not replies or replies[0].error:
                self.errors += 1

        what = "fortune_cold" if cold else "fortune"
        await reset_stats(core)
        self.counter.take()
        rate, cpu, p50 = await run_pool(calls, fortune)
        self.note(what, rate, cpu, p50, calls)
        self.cmds[what] = {k: v / calls for k, v in (await commands(core)).items()}

    def note(self, what: str, rate: float, cpu: float, p50: float, n: int) -> None:
        self.rate[what].append(rate)
        self.cpu[what].append(cpu)
        self.p50[what].append(p50)
        sent, pipelines = self.counter.take()
        self.trips[what] = {**{k: v / n for k, v in sent.items()}, "pipeline": pipelines / n}

    async def close(self) -> None:
        await self.core.store.close()


def per_op(cmds: dict[str, float]) -> str:
    top = sorted(((v, k) for k, v in cmds.items() if v >= 0.05), reverse=True)
    total = sum(cmds.values())
    return f"{total:.2f} ({', '.join(f'{k} {v:.2f}' for v, k in top[:5])})"


async def part_redis(args: argparse.Namespace, tmp: Path) -> None:
    server = RedisProcess().start()
    cluster = RedisCluster3().start()
    backends = [Backend("standalone", server.url, tmp), Backend("cluster", cluster.url, tmp)]
    try:
        for b in backends:
            await b.setup(args.spends, args.rounds, args.fortune_users)
            # warm-up: connections, script loads, slot map, identity cache
            await b.ledger_round(CONCURRENCY * 20, "warm")
            await b.fortune_round(min(len(b.users), 200))
            await b.fortune_round(min(len(b.users), 200), cold=True)
            b.rate, b.cpu, b.p50 = ({k: [] for k in KINDS} for _ in range(3))
        for r in range(args.rounds):
            order = backends if r % 2 == 0 else backends[::-1]
            for b in order:
                await b.ledger_round(args.spends, f"r{r}")
            for b in order:
                await b.fortune_round(args.fortunes)
            for b in order:
                await b.fortune_round(args.fortunes, cold=True)
            print(f"round {r + 1}: " + "   ".join(
                f"{b.name} ledger {b.rate['ledger'][-1]:,.0f}/s fortune {b.rate['fortune'][-1]:,.0f}/s "
                f"(cold {b.rate['fortune_cold'][-1]:,.0f}/s)" for b in backends), flush=True)
        s, c = backends
        print(f"\n(a)+(b) {args.rounds} interleaved rounds, concurrency {CONCURRENCY}; min / median / max")
        print(f"{'':<22}{'standalone':>28}{'cluster (3 masters)':>28}")
        for what in KINDS:
            print(f"{LABELS[what]:<22}{spread(s.rate[what]):>28}{spread(c.rate[what]):>28}")
            print(f"{'  p50 latency ms':<22}{spread(s.p50[what], '{:.2f}'):>28}{spread(c.p50[what], '{:.2f}'):>28}")
            print(f"{'  client CPU us/op':<22}{spread(s.cpu[what], '{:.0f}'):>28}{spread(c.cpu[what], '{:.0f}'):>28}")
        for what, label in (("ledger", "spend"), ("fortune", "/fortune"), ("fortune_cold", "cold /fortune")):
            print(f"round trips per {label} (client side): standalone {per_op(s.trips[what])}; "
                  f"cluster {per_op(c.trips[what])}")
            print(f"redis commands per {label} (incl. inside Lua): standalone {per_op(s.cmds[what])}; "
                  f"cluster {per_op(c.cmds[what])}")
        for what, label in (("ledger", "ledger"), ("fortune", "/fortune"), ("fortune_cold", "cold /fortune")):
            rs = ratios(c.rate[what], s.rate[what])
            print(f"cluster/standalone {label:<14} per round: {', '.join(f'{x:.2f}' for x in rs)} "
                  f"(median {statistics.median(rs):.2f}; target >= 0.70)")
        if s.errors or c.errors:
            print(f"/fortune replies with an error: standalone {s.errors}, cluster {c.errors} (rate limit?)")
    finally:
        for b in backends:
            await b.close()
        cluster.cleanup()
        server.cleanup()


# --- (d) the client's floor: one command of each kind ------------------------------------------
async def floor_rows(r: Any, n: int) -> dict[str, tuple[float, float]]:
    """(ops/s, client CPU µs/op) of each kind of operation on client ``r``."""
    script = r.register_script("return redis.call('HINCRBY', KEYS[1], 'n', 1)")

    async def get(i: int) -> None:
        await r.get(f"ident:{i % 64}")

    async def evalsha(i: int) -> None:
        await script(keys=[f"credits:{{a{i % 64}}}"])

    async def pipe(i: int, tx: bool) -> None:
        async with r.pipeline(transaction=tx) as p:
            p.hsetnx(f"acct:{{a{i % 64}}}", "created", "1")
            p.hset(f"acct:{{a{i % 64}}}", mapping={"id:tg": "1"})
            await p.execute()

    async def plain(i: int) -> None:
        await pipe(i, False)

    async def multi(i: int) -> None:
        await pipe(i, True)

    # One command first: a fresh redis-py 8.1 cluster client given 16 concurrent first commands
    # races its own lazy initialisation ("Connection closed by server", AttributeError).
    await r.get("warm")
    out: dict[str, tuple[float, float]] = {}
    for label, fn in (("GET", get), ("EVALSHA (a script)", evalsha),
                      ("pipeline, 2 commands", plain), ("MULTI/EXEC, 2 commands", multi)):
        await run_pool(64, fn)  # warm-up
        rate, cpu, _ = await run_pool(n, fn)
        out[label] = (rate, cpu)
    return out


async def part_floor(args: argparse.Namespace) -> None:
    """Concurrent single commands, a script, a plain pipeline and a MULTI/EXEC transaction of
    two commands (one slot), standalone vs cluster, interleaved rounds: where a cluster
    client spends its time."""
    from bot.core.store.connection import connect

    server = RedisProcess().start()
    cluster = RedisCluster3().start()
    rows: dict[str, dict[str, list[tuple[float, float]]]] = {}
    try:
        clients = {"standalone": connect(server.url), "cluster": connect(cluster.url)}
        try:
            for r in range(args.rounds):
                for name in (("standalone", "cluster") if r % 2 == 0 else ("cluster", "standalone")):
                    for label, value in (await floor_rows(clients[name], args.floor_ops)).items():
                        rows.setdefault(label, {}).setdefault(name, []).append(value)
        finally:
            for c in clients.values():
                await c.aclose()
    finally:
        cluster.cleanup()
        server.cleanup()
    print(f"(d) the client's floor: {args.floor_ops} operations each, concurrency {CONCURRENCY}, "
          f"{args.rounds} interleaved rounds (median ops/s, median client CPU us/op)")
    print(f"{'':<26}{'standalone':>22}{'cluster':>22}{'ratio':>8}")
    for label, by in rows.items():
        sr, sc = (statistics.median(v[i] for v in by["standalone"]) for i in (0, 1))
        cr, cc = (statistics.median(v[i] for v in by["cluster"]) for i in (0, 1))
        print(f"{label:<26}{sr:>12,.0f} {sc:>6.0f} us{cr:>12,.0f} {cc:>6.0f} us{cr / sr:>8.2f}")


# --- (c) 1 vs 2 webhook processes ---------------------------------------------------------------
def proc_cpu(pid: int) -> float:
    """utime + stime of a process, seconds (Linux /proc)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def balanced(core: Core, processes: int, partitions: int, timeout: float = 30.0) -> None:
    """Until the inbox partitions are shared by ``processes`` owners (fair share each)."""
    from bot.core.store import K

    deadline = time.monotonic() + timeout
    share = -(-partitions // processes)
    while time.monotonic() < deadline:
        owners = [await core.store.redis.get(K.inbox_lease("tg", p)) for p in range(partitions)]
        counts: dict[str, int] = {}
        for o in owners:
            if o:
                counts[o] = counts.get(o, 0) + 1
        if len(counts) == processes and sum(counts.values()) == partitions and max(counts.values()) <= share:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"inbox partitions not shared by {processes} processes after {timeout} s")


async def replies_seen(remote: RemoteFake, want: set[int], since: int, timeout: float = 180.0) -> tuple[float, int]:
    """Poll the fake's sends until every chat in ``want`` got a reply: (time of the last, next index)."""
    assert remote.http is not None
    got: dict[int, float] = {}
    deadline = time.monotonic() + timeout
    while len(got) < len(want):
        async with remote.http.get(f"{remote.url}/_control/sends", params={"since": since}) as r:
            body = await r.json()
        since = body["next"]
        for chat, at in body["sends"]:
            if chat in want and chat not in got:
                got[chat] = at
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(got)}/{len(want)} replies after {timeout} s")
        await asyncio.sleep(0.01)
    return max(got.values()), since


async def process_round(k: int, updates: int, redis: RedisProcess, tmp: Path) -> dict[str, float]:
    """Start ``k`` webhook processes, post ``updates`` /fortune updates, time the replies."""
    async with contextlib.AsyncExitStack() as stack:
        remote = await stack.enter_async_context(RemoteFake())
        http = await stack.enter_async_context(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=128)))
        core = make_core(redis.url, tmp / "driver")
        stack.push_async_callback(core.store.close)
        await core.store.redis.flushall()
        warm, users = list(range(1, 51)), list(range(1000, 1000 + updates))
        for i in range(0, len(warm + users), 200):
            await asyncio.gather(*(onboard_identity(core, f"tg:{u}") for u in (warm + users)[i:i + 200]))
        config = {"delivery": {"takeover_seconds": 6.0, "shutdown_grace_seconds": 3.0},
                  "ai": {"total_budget_seconds": 1.0, "answer_timeout_seconds": 1.0},
                  "outbound.tg": {"global_per_second": 100000}}  # measure the code, not 30 msg/s
        envs = [bot_env(redis.url, tmp / f"p{k}-{i}", remote, None, config=config, TELEGRAM_WEBHOOK_URL=HOOK_URL,
                        TELEGRAM_WEBHOOK_SECRET=HOOK_SECRET) for i in range(k)]
        procs = [await start_bot(e) for e in envs]
        try:
            ports = [int(e["PORT"]) for e in envs]
            await asyncio.gather(*(wait_ready(http, port, p, timeout=120) for port, p in zip(ports, procs)))
            await balanced(core, k, core.settings.product.delivery.inbox_partitions)
            builder = FakeTelegramAPI(token=remote.token)  # update builders only (not started)

            deferred = 0

            async def post_all(chats: list[int]) -> float:
                todo = iter(enumerate(chats))

                async def worker() -> None:
                    nonlocal deferred
                    for i, chat in todo:
                        update = builder.message_update(chat, "/fortune")
                        for attempt in range(20):  # 503 = not stored: Telegram delivers it again later
                            status = await post_update(http, ports[i % k], HOOK_PATH, HOOK_SECRET, update)
                            if status == 200:
                                break
                            if status != 503 or attempt == 19:
                                raise RuntimeError(f"webhook answered {status}")
                            deferred += 1
                            await asyncio.sleep(0.2)

                t0 = time.monotonic()
                await asyncio.gather(*(worker() for _ in range(64)))
                return t0

            since = 0
            await post_all(warm)
            _, since = await replies_seen(remote, set(warm), since)
            cpu0 = [proc_cpu(p.pid) for p in procs]
            t0 = await post_all(users)
            accepted = time.monotonic() - t0
            last, since = await replies_seen(remote, set(users), since)
            cpu = sum(proc_cpu(p.pid) - c for p, c in zip(procs, cpu0))
        finally:
            for p in procs:
                await stop_bot(p)
    return {"ups": updates / (last - t0), "accept_ups": updates / accepted, "cpu_ms": cpu / updates * 1000,
            "deferred": deferred}


async def part_processes(args: argparse.Namespace, tmp: Path) -> None:
    server = RedisProcess().start()
    results: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    try:
        for r in range(args.rounds):
            for k in ((1, 2) if r % 2 == 0 else (2, 1)):
                res = await process_round(k, args.updates, server, tmp / f"c{r}")
                results[k].append(res)
                print(f"round {r + 1} {k} process{'es' if k > 1 else '  '}  {res['ups']:>7,.0f} upd/s end to end   "
                      f"webhook accepted {res['accept_ups']:>7,.0f} upd/s   bot CPU {res['cpu_ms']:.2f} ms/update"
                      + (f"   ({res['deferred']:.0f} POSTs answered 503 and retried)" if res["deferred"] else ""),
                      flush=True)
    finally:
        server.cleanup()
    print(f"\n(c) {args.rounds} interleaved rounds, {args.updates} /fortune updates each (one chat each), "
          "webhook POSTs round-robin, fake Bot API in its own process; min / median / max")
    for k in (1, 2):
        rs = results[k]
        print(f"{k} process{'es' if k > 1 else '  '}  end-to-end upd/s {spread([x['ups'] for x in rs]):>24}   "
              f"bot CPU ms/update {spread([x['cpu_ms'] for x in rs], '{:.2f}')}")
    rs = ratios([x["ups"] for x in results[2]], [x["ups"] for x in results[1]])
    print(f"2/1 processes per round: {', '.join(f'{x:.2f}' for x in rs)} (median {statistics.median(rs):.2f})")


async def main(args: argparse.Namespace) -> None:
    logging.disable(logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    await part_redis(args, tmp)
    print()
    await part_floor(args)
    if not args.skip_processes:
        print()
        await part_processes(args, tmp)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--spends", type=int, default=8000, help="ledger spends per round (16 accounts)")
    ap.add_argument("--fortunes", type=int, default=1600, help="/fortune calls per round")
    ap.add_argument("--fortune-users", type=int, default=400,
                    help="users per kind of /fortune run (each may send 30 commands a minute)")
    ap.add_argument("--updates", type=int, default=1000, help="webhook updates per round in (c)")
    ap.add_argument("--floor-ops", type=int, default=3000, help="operations per kind in (d)")
    ap.add_argument("--skip-processes", action="store_true", help="skip (c)")
    asyncio.run(main(ap.parse_args()))
