"""Readiness lists each dependency: Redis, AI providers, Telegram, the broadcast scheduler."""

from __future__ import annotations

import aiohttp

from bot.app import readiness_checks
from bot.core.broadcast import BroadcastRunner
from bot.handlers.http import CHECKS_KEY, HttpServer
from tests.handlers.telegram.conftest import TG


async def test_api_health_reports_every_dependency(tg: TG) -> None:
    runner = BroadcastRunner(tg.core)
    await runner.start()
    server = HttpServer(tg.core, host="127.0.0.1", port=0)
    server.app[CHECKS_KEY].update(readiness_checks(tg.core, runner))
    port = await server.start()
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{port}/api/health") as r:
                assert r.status == 200
                body = await r.json()
        deps = body["dependencies"]
        assert deps["redis"]["status"] == "ok"
        assert deps["telegram"]["status"] == "ok" and deps["telegram"]["latency_ms"] >= 0
        assert deps["scheduler"]["status"] == "ok"
        # No AI key in tests: readings use the engine's text, and readiness says so.
        assert deps["ai"]["status"] == "fallback_only"
        assert set(deps["ai"]["providers"]) == {"openai", "anthropic"}
        await runner.stop()
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{port}/api/health") as r:
                assert (await r.json())["dependencies"]["scheduler"]["status"] == "down"
    finally:
        await runner.stop()
        await server.stop()
