"""/ops across real bot processes (issue 14): three ``python -m bot run`` webhook processes on
one redis-server, the fake Bot API and a fake OpenAI that is down as the network edge.

- ``/ops health`` from the Telegram ops group and ``python -m bot ops health`` in a terminal
  report the same facts (dependency -> status, version).
- The AI provider going down opens its breaker; the ``ai_fallback`` alert fires after the
  pending period and is posted ONCE to the ops group although three processes evaluate,
  re-notifies, and resolves after the breaker is closed from the terminal (``--yes``).
- ``/ops metrics`` (from the terminal, a fourth process) equals the sum of the three
  processes' own ``/metrics`` counters, with the PNG chart.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import aiohttp

from tests.fakes.ai_servers import FakeAI, status
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.support.bot_procs import ROOT, bot_env, onboard_identity, post_update, start_bot, stop_bot, wait_ready, \
    wait_until
from tests.support.factory import make_core

SECRET = "ops-procs_secret-1"
HOOK_URL = "https://bot.example/tg/hook"
HOOK_PATH = "/tg/hook"
ADMIN = 900
GROUP = -100777
CONFIG = {
    "ai": {"total_budget_seconds": 1.0, "answer_timeout_seconds": 1.0},
    "alerts": {"pending_seconds": 1.5, "renotify_seconds": 5.0, "eval_seconds": 0.3, "lease_seconds": 2.0,
               "ai_fallback_min": 100000},
    "ops": {"metrics_flush_seconds": 0.3, "heartbeat_seconds": 0.5},
    # The ops group gets many posts in a short test; the default group pacing would queue them.
    "outbound.tg": {"group_per_minute": 600, "chat_per_second": 20},
}
FACT = re.compile(r"^\S+ ([a-z_]+): ([a-z_]+)\b")


def facts(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for line in text.splitlines() if (m := FACT.match(line))}


async def terminal(env: dict[str, str], *words: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "ops", *words, cwd=str(ROOT), env={**env, "PORT": "0"},
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return out.decode()


async def scrape(http: aiohttp.ClientSession, port: int) -> float:
    async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
        body = await r.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
               if line.startswith("soul_lab_commands_total{"))


async def test_ops_across_three_processes(redis_url: str, tmp_path: Path) -> None:
    core = make_core(redis_url, tmp_path)
    async with FakeTelegramAPI() as api, FakeAI("openai") as oa, aiohttp.ClientSession() as http:
        oa.always(status(500))  # the AI provider is down
        asker = await onboard_identity(core, "tg:8201")
        await core.ledger.grant(asker, 20, "test credits", "ops-procs-seed")
        envs = [bot_env(redis_url, tmp_path, api, oa, config=CONFIG, TELEGRAM_WEBHOOK_URL=HOOK_URL,
                        TELEGRAM_WEBHOOK_SECRET=SECRET, OPS_ADMINS=f"tg:{ADMIN}", OPS_CHANNELS=f"tg:{GROUP}")
                for _ in range(3)]
        ports = [int(e["PORT"]) for e in envs]
        procs = list(await asyncio.gather(*(start_bot(e) for e in envs)))
        try:
            await asyncio.gather(*(wait_ready(http, port, p) for port, p in zip(ports, procs, strict=True)))
            await wait_until(lambda: len(asyncio.all_tasks()) > 0)  # (the loop is alive)
            await asyncio.sleep(1.0)  # every process has published a heartbeat

            # --- health: Telegram ops group vs the terminal --------------------------------
            before = len(api.texts(GROUP))
            upd = api.message_update(ADMIN, "/ops@SoulLabTestBot health", chat_id=GROUP)
            assert await post_update(http, ports[1], HOOK_PATH, SECRET, upd) == 200
            await wait_until(lambda: any("🩺" in t for t in api.texts(GROUP)[before:]))
            tg_health = next(t for t in api.texts(GROUP)[before:] if "🩺" in t)
            term_health = await terminal(envs[0], "health")
            assert facts(tg_health) == facts(term_health), (tg_health, term_health)
            assert facts(tg_health)["redis"] == "ok" and facts(tg_health)["telegram"] == "ok"
            assert facts(tg_health)["scheduler"] == "ok"
            assert "버전 0.1.0" in tg_health and "살아 있는 프로세스 3" in tg_health and "살아 있는 프로세스 3" in term_health

            # --- the AI is down: the breaker opens, the alert fires once ----------------------
            for i in range(6):
                upd = api.message_update(8201, f"/ask 올해 운세가 궁금해요 {i}")
                assert await post_update(http, ports[i % 3], HOOK_PATH, SECRET, upd) == 200

            def alert_posts(word: str) -> list[str]:
                return [t for t in api.texts(GROUP) if "(ai_fallback)" in t and word in t]

            await wait_until(lambda: len(alert_posts("🚨")) >= 1, timeout=60)
            first = alert_posts("🚨")[0]
            assert "openai" in first
            await asyncio.sleep(1.0)
            assert len(alert_posts("[알림]")) == 1  # posted once by three evaluating processes
            await wait_until(lambda: len(alert_posts("[계속]")) >= 1, timeout=30)  # re-notified

            # --- closed from the terminal: the alert resolves -----------------------------------
            closed = await terminal(envs[2], "ai", "close", "openai", "--yes")
            assert "✅" in closed, closed
            await wait_until(lambda: len(alert_posts("[해소]")) >= 1, timeout=30)
            await asyncio.sleep(1.0)
            assert len(alert_posts("[해소]")) == 1 and len(alert_posts("[알림]")) == 1

            # --- metrics: the sum over processes -------------------------------------------------
            await asyncio.sleep(1.0)  # let every process flush
            counts = [await scrape(http, port) for port in ports]

            text = await terminal(envs[1], "metrics")  # read by a fourth process, from Redis only
            shown = int(re.search(r"요청 (\d+)", text).group(1))  # type: ignore[union-attr]
            assert shown == int(sum(counts)), (shown, counts, text)
            chart = Path(re.search(r"\[chart\] (\S+)", text).group(1))  # type: ignore[union-attr]
            assert (await asyncio.to_thread(chart.read_bytes)).startswith(b"\x89PNG")

            # --- the audit log holds every step ---------------------------------------------------
            assert core.ops is not None
            entries = list(reversed(await core.ops.audit.recent(100)))
            steps = [(e.surface, e.command, e.result) for e in entries]
            user = os.environ.get("USER") or ""
            assert ("tg", "health", "ok") in steps
            assert ("local", "health", "ok") in steps
            assert ("bot", "alert", "fire") in steps and ("bot", "alert", "renotify") in steps
            assert ("local", "confirm", "confirmed") in steps and ("local", "ai", "closed") in steps
            assert ("bot", "alert", "resolve") in steps
            assert all(e.who.startswith("local:") for e in entries if e.surface == "local"), user
        finally:
            for p in procs:
                await stop_bot(p)
