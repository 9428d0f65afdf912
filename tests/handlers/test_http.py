"""The HTTP surface through a real aiohttp server on a loopback port."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import aiohttp

from bot.core.router import Event
from bot.core.service import Core
from bot.handlers.http import HttpServer
from tests.support.factory import make_core
from tests.support.redis_proc import RedisProcess


async def _get(port: int, path: str) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://127.0.0.1:{port}{path}") as r:
            return r.status, await r.text(), dict(r.headers)


async def test_health_has_exactly_the_runbook_shape(core: Core) -> None:
    server = HttpServer(core, host="127.0.0.1", port=0)
    port = await server.start()
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{port}/health") as r:
                assert r.status == 200
                body = await r.json()
        assert set(body) == {"status", "timestamp", "uptime"}
        assert body["status"] == "ok"
        assert isinstance(body["uptime"], (int, float)) and body["uptime"] >= 0
        datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
    finally:
        await server.stop()


async def test_readiness_and_metrics(core: Core) -> None:
    await core.router.handle(Event("cli", "x", "/help"))
    server = HttpServer(core, host="127.0.0.1", port=0)
    port = await server.start()
    try:
        status, text, _ = await _get(port, "/api/health")
        assert status == 200 and '"redis": {"status": "ok"' in text
        status, text, headers = await _get(port, "/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        assert re.search(r'soul_lab_commands_total\{command="help",outcome="ok"\} 1\.0', text)
        assert "soul_lab_command_seconds_bucket" in text
        assert 'soul_lab_broadcast{figure="subscribers"} 0.0' in text
        status, text, _ = await _get(port, "/api/fortune/daily")
        assert status == 200 and '"score"' in text and '"profile": "probe:canary"' in text
        status, text, _ = await _get(port, "/nope")
        assert status == 404
    finally:
        await server.stop()


async def test_readiness_is_503_when_redis_is_down(tmp_path: Path) -> None:
    redis = RedisProcess().start()
    core = make_core(redis.url, tmp_path)
    server = HttpServer(core, host="127.0.0.1", port=0)
    port = await server.start()
    try:
        redis.stop()
        status, text, _ = await _get(port, "/api/health")
        assert status == 503 and '"status": "down"' in text
        status, _, _ = await _get(port, "/health")
        assert status == 200  # liveness does not depend on Redis
        redis.start()
        status, _, _ = await _get(port, "/api/health")
        assert status == 200
    finally:
        await server.stop()
        await core.store.close()
        redis.cleanup()
