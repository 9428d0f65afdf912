"""Discord adapter throughput and latency, end to end, against the fake Discord (tests/fakes).

Run by hand: ``.venv/bin/python bench/bench_discord.py [--burst 200] [--rounds 3] [--rate 50] [--seconds 5]``.

Starts its own redis-server and one fake Discord (REST + gateway) in this process; the bots
are real discord.py clients connected to it:

- **soul**: the real ``DiscordAdapter`` + Core: ``/fortune`` from onboarded users, deferred,
  kept in the durable inbox, run through the router and answered with a follow-up (with its
  buttons) through the webhook endpoint.
- **fixed**: a minimal discord.py bot whose one slash command answers every interaction with a
  fixed text (``interaction.response.send_message``).

Per round and bot: a burst of ``--burst`` interactions at once (interactions/s until every one
shows its answer). Rounds alternate between the bots (soul, fixed, soul, fixed, ...), so both
see the same machine; min / median / max over ``--rounds``. Then ``--rate`` interactions/s for
``--seconds`` on each bot: p50 / p99 time from the interaction's dispatch to its first
response (the defer, or the fixed bot's message) reaching the fake, and to the answer.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import discord  # noqa: E402
import yarl  # noqa: E402
from discord import app_commands  # noqa: E402
from discord.gateway import DiscordWebSocket  # noqa: E402

from bot.handlers.discord.adapter import DiscordAdapter  # noqa: E402
from tests.fakes.discord_api import FakeDiscord  # noqa: E402
from tests.support.factory import make_core, onboard  # noqa: E402
from tests.support.redis_proc import RedisProcess  # noqa: E402

USERS = 50


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))] if s else float("nan")


class Fixed(discord.Client):
    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05, max_messages=None)
        self.tree = app_commands.CommandTree(self)
        self.ready = asyncio.Event()

        @self.tree.command(name="fortune", description="Today's fortune")
        async def fortune(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("오늘의 운세는 맑음이에요")

    async def on_ready(self) -> None:
        self.ready.set()


async def burst(fake: FakeDiscord, users: list[int], n: int) -> float:
    """Interactions/s for ``n`` /fortune interactions dispatched at once until all are answered."""
    started = time.perf_counter()
    inters = [await fake.interact(fake.slash_command("fortune", user_id=users[i % len(users)]))
              for i in range(n)]
    await fake.wait_until(lambda: all(i.messages for i in inters), timeout=120, what="every answer")
    return n / (time.perf_counter() - started)


async def paced(fake: FakeDiscord, users: list[int], rate: float, seconds: float) -> tuple[list[float], list[float]]:
    """(first response ms, answer ms) per interaction at ``rate`` per second."""
    inters = []
    sent_at: dict[int, float] = {}
    total = int(rate * seconds)
    t0 = time.monotonic()
    for k in range(total):
        await asyncio.sleep(max(0.0, t0 + k / rate - time.monotonic()))
        sent_at_now = time.monotonic()
        inter = await fake.interact(fake.slash_command("fortune", user_id=users[k % len(users)]))
        sent_at[inter.id] = sent_at_now
        inters.append(inter)
    await fake.wait_until(lambda: all(i.messages for i in inters), timeout=120, what="every answer")
    first, answer = [], []
    for inter in inters:
        responses = fake.interaction_responses(inter.id)
        first.append((responses[0].at - sent_at[inter.id]) * 1000)
        hooks = fake.followup_requests(inter.id)
        done = hooks[0].at if hooks else responses[0].at
        answer.append((done - sent_at[inter.id]) * 1000)
    return first, answer


async def main(args: argparse.Namespace) -> None:
    logging.disable(logging.WARNING)
    server = RedisProcess().start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-dc-"))
    try:
        async with FakeDiscord(ack_deadline=None) as fake:
            discord.http.Route.BASE = fake.api_url
            DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
            users = [fake.user().id for _ in range(USERS)]
            core = make_core(server.url, tmp, DISCORD_BOT_TOKEN=fake.token, DISCORD_API_BASE_URL=fake.api_url,
                             DISCORD_GATEWAY_URL=fake.gateway_url)
            for u in users:
                await onboard(core, f"dc:{u}")
            soul = DiscordAdapter(core, identify_delay=0.0, client_options={"guild_ready_timeout": 0.05})
            fixed = Fixed()
            results: dict[str, list[float]] = {"soul": [], "fixed": []}
            # One bot connected at a time (both would get every interaction on shard 0).
            for r in range(args.rounds):
                await soul.start()
                await asyncio.wait_for(soul.ready.wait(), 20)
                results["soul"].append(await burst(fake, users, args.burst))
                await soul.stop(drain_seconds=5)
                soul = DiscordAdapter(core, identify_delay=0.0, client_options={"guild_ready_timeout": 0.05})
                task = asyncio.create_task(fixed.start(fake.token))
                await asyncio.wait_for(fixed.ready.wait(), 20)
                results["fixed"].append(await burst(fake, users, args.burst))
                await fixed.close()
                await task
                fixed = Fixed()
                print(f"round {r + 1}: soul {results['soul'][-1]:.0f}/s  fixed {results['fixed'][-1]:.0f}/s",
                      flush=True)
            for name, vals in results.items():
                print(f"{name:5s} burst {args.burst}: min {min(vals):.0f}  median {statistics.median(vals):.0f}  "
                      f"max {max(vals):.0f} interactions/s")
            ratio = statistics.median(results["soul"]) / statistics.median(results["fixed"])
            print(f"soul / fixed (median): {ratio:.2f}")
            await soul.start()
            await asyncio.wait_for(soul.ready.wait(), 20)
            first, answer = await paced(fake, users, args.rate, args.seconds)
            await soul.stop(drain_seconds=5)
            print(f"soul  at {args.rate}/s for {args.seconds}s: first response p50 {pct(first, 0.5):.1f} ms "
                  f"p99 {pct(first, 0.99):.1f} ms; answer p50 {pct(answer, 0.5):.1f} ms p99 {pct(answer, 0.99):.1f} ms")
            task = asyncio.create_task(fixed.start(fake.token))
            await asyncio.wait_for(fixed.ready.wait(), 20)
            first, _ = await paced(fake, users, args.rate, args.seconds)
            await fixed.close()
            await task
            print(f"fixed at {args.rate}/s for {args.seconds}s: first response p50 {pct(first, 0.5):.1f} ms "
                  f"p99 {pct(first, 0.99):.1f} ms")
            await core.store.close()
    finally:
        server.stop()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--burst", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rate", type=float, default=50.0)
    p.add_argument("--seconds", type=float, default=5.0)
    return p.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
