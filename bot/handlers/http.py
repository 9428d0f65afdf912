"""The small HTTP surface: liveness, readiness, engine canary, Prometheus metrics.

Platform adapters may add routes (the Telegram webhook) through ``HttpServer.app``.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot import __version__
from bot.core.clock import iso_now
from bot.core.errors import ErrorCode
from bot.core.service import Core
from bot.core.store import REDIS_ERRORS

__all__ = ["HttpServer", "build_app", "CORE_KEY", "CHECKS_KEY"]

#: Extra readiness checks registered by adapters: name -> coroutine returning a dict.
Check = Callable[[], Awaitable[dict[str, Any]]]

CORE_KEY: web.AppKey[Core] = web.AppKey("core", Core)
CHECKS_KEY: web.AppKey[dict[str, Check]] = web.AppKey("checks", dict)


def _error(code: ErrorCode, message: str) -> web.Response:
    return web.json_response({"error": {"code": code.value, "message": message}}, status=code.http_status)


def build_app(core: Core, checks: dict[str, Check] | None = None) -> web.Application:
    app = web.Application()
    extra_checks = checks if checks is not None else {}
    app[CORE_KEY] = core
    app[CHECKS_KEY] = extra_checks  # adapters add readiness checks here

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "timestamp": iso_now(core.clock),
                                  "uptime": round(core.uptime, 3)})

    async def api_health(_: web.Request) -> web.Response:
        deps: dict[str, Any] = {}
        try:
            deps["redis"] = {"status": "ok", "latency_ms": round(await core.store.ping(), 2),
                             "kind": core.store.kind}
            core.metrics.up.labels("redis").set(1)
        except REDIS_ERRORS as exc:
            deps["redis"] = {"status": "down", "error": type(exc).__name__}
            core.metrics.up.labels("redis").set(0)
        for name, check in extra_checks.items():
            t0 = time.perf_counter()
            try:
                result = await check()
            except Exception as exc:  # a failing check is reported, never raised
                result = {"status": "down", "error": type(exc).__name__}
            result.setdefault("latency_ms", round((time.perf_counter() - t0) * 1000, 2))
            deps[name] = result
        ok = deps["redis"]["status"] == "ok"
        body = {"status": "ok" if ok else "degraded", "timestamp": iso_now(core.clock),
                "uptime": round(core.uptime, 3), "version": __version__, "dependencies": deps}
        return web.json_response(body, status=200 if ok else ErrorCode.SERVICE_UNAVAILABLE.http_status)

    async def metrics(_: web.Request) -> web.Response:
        from bot.core.broadcast import broadcast_status

        try:  # broadcast progress for dashboards; Redis down leaves the last values
            figures = await broadcast_status(core)
            for name, value in figures.items():
                if isinstance(value, (int, float)):  # paused (a bool) exports as 0 / 1
                    core.metrics.broadcast.labels(name).set(float(value))
            for name, value in (await core.delivery_figures()).items():
                core.metrics.delivery.labels(name).set(value)
            core.metrics.up.labels("redis").set(1)
        except Exception:
            core.metrics.up.labels("redis").set(0)
        chain = core.ai  # AI breakers (shared in Redis), once this process built the chain
        if chain is not None:
            with contextlib.suppress(Exception):  # unknown state leaves the last values
                for provider, st in (await chain.status()).items():
                    if st.get("configured"):
                        core.metrics.up.labels(f"ai_{provider}").set(0 if st.get("state") == "open" else 1)
        return web.Response(body=core.metrics.render(),
                            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    async def not_found(_: web.Request) -> web.Response:
        return _error(ErrorCode.NOT_FOUND, "not found")

    app.router.add_get("/health", health)
    app.router.add_get("/api/health", api_health)
    app.router.add_get("/metrics", metrics)
    async def fortune_canary(_: web.Request) -> web.Response:
        if "fortune" not in core.router.commands:
            return _error(ErrorCode.NOT_FOUND, "fortune engine not enabled")
        from bot.core.features.content_cmd import canary_fortune as canary

        try:
            return web.json_response(canary(core))
        except Exception:  # the canary reports an engine failure instead of raising
            return _error(ErrorCode.INTERNAL_ERROR, "fortune engine failed")

    app.router.add_get("/api/fortune/daily", fortune_canary)
    return app


class HttpServer:
    def __init__(self, core: Core, host: str = "0.0.0.0", port: int = 8787,
                 checks: dict[str, Check] | None = None) -> None:
        self.app = build_app(core, checks)
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None)  # the real port when PORT=0
        if sockets:
            self.port = sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
