"""Composition root: Settings -> Store -> Core -> adapters, HTTP server, background jobs."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any, Awaitable, Callable

from bot.core.logs import configure_logging, log_event
from bot.core.service import Core
from bot.core.settings import Settings, load_settings
from bot.core.store import REDIS_ERRORS, open_store
from bot.handlers.http import HttpServer
from bot.sentry import init_sentry

__all__ = ["build_core", "run", "run_console"]

HOLD_SWEEP_SECONDS = 30


async def build_core(settings: Settings) -> Core:
    store = await open_store(settings.env.redis_url, settings.env.data_dir)
    return Core(settings, store)


async def _sweep_holds(core: Core) -> None:
    """Release holds left by crashed processes. Runs on every instance; settling is idempotent."""
    while True:
        await asyncio.sleep(HOLD_SWEEP_SECONDS)
        try:
            await core.ledger.release_expired()
        except Exception as exc:  # Redis down: try again next round
            log_event("hold_sweep_failed", level=30, error=type(exc).__name__)


async def run_console(settings: Settings) -> None:
    from bot.handlers.console import ConsoleAdapter

    core = await build_core(settings)
    sweeper = asyncio.create_task(_sweep_holds(core))
    try:
        await ConsoleAdapter(core).run()
    finally:
        sweeper.cancel()
        await core.store.close()


async def run(settings: Settings) -> None:
    """Run every configured platform adapter plus the HTTP server until a signal arrives."""
    core = await build_core(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    http = HttpServer(core, port=settings.env.port)
    stoppers: list[Callable[[], Awaitable[Any]]] = []
    try:
        port = await http.start()
        log_event("http_started", port=port)
        for starter in _platform_starters(settings):
            stoppers.append(await starter(core, http))
        if not stoppers:
            log_event("no_platform_token", level=30,
                      hint="set TELEGRAM_BOT_TOKEN or DISCORD_BOT_TOKEN, or use `python -m bot console`")
        sweeper = asyncio.create_task(_sweep_holds(core))
        await stop.wait()
        sweeper.cancel()
    finally:
        for stopper in reversed(stoppers):
            with contextlib.suppress(Exception):
                await stopper()
        await http.stop()
        await core.store.close()


def _platform_starters(settings: Settings) -> list[Callable[[Core, HttpServer], Awaitable[Callable[[], Awaitable[Any]]]]]:
    """Adapters register here as they are built (Telegram, Discord)."""
    starters: list[Callable[[Core, HttpServer], Awaitable[Callable[[], Awaitable[Any]]]]] = []
    return starters


def main_entry(mode: str) -> int:
    from bot.core.settings import SettingsError

    try:
        settings = load_settings()
    except SettingsError as err:
        configure_logging()
        log_event("settings_invalid", level=50, error=str(err))
        print(f"soul-lab: {err}", flush=True)
        return 2
    configure_logging(settings.env.log_level if mode != "console" else "WARNING")
    init_sentry(settings)
    try:
        if mode == "console" or (mode == "auto" and not settings.env.telegram_bot_token
                                 and not settings.env.discord_bot_token):
            asyncio.run(run_console(settings))
        else:
            asyncio.run(run(settings))
    except KeyboardInterrupt:
        pass
    except REDIS_ERRORS as err:
        log_event("redis_connection_error", level=50, error=str(err))
        return 1
    return 0
