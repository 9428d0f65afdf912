"""Composition root: Settings -> Store -> Core -> adapters, HTTP server, background jobs."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from typing import TYPE_CHECKING, Any
from collections.abc import Awaitable, Callable

from bot.core.logs import configure_logging, log_event
from bot.core.service import Core
from bot.core.settings import Settings, load_settings
from bot.core.store import REDIS_ERRORS, open_store
from bot.core.store.safety import enforce_durability
from bot.sentry import init_sentry

if TYPE_CHECKING:  # aiohttp is imported by ``run`` only: the console starts without it
    from bot.handlers.http import Check, HttpServer

__all__ = ["build_core", "run", "run_console", "calm_gc"]

#: Holds of a crashed process come back within deadline + this (45 s + 10 s by default).
HOLD_SWEEP_SECONDS = 10
#: Collector thresholds once started (CPython's default is 700, 10, 10): a young collection
#: every 10,000 net allocations (still ~1 ms: it walks only young objects), a full one only
#: after 100 middle ones — about every 50 M net allocations instead of every 70,000.
GC_THRESHOLDS = (10_000, 50, 100)


def calm_gc(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> None:
    """Make full garbage collections rare and short; call once, after start-up imports.

    Start-up leaves ~100k long-lived objects (modules, settings, compiled scripts, the
    fortune tables). A full collection walks every tracked object, so with the default
    thresholds the bot paid tens of ms every few seconds to re-check them (seen as
    p99 spikes). This collects the start-up garbage once, then ``gc.freeze()`` moves every
    surviving object to the permanent generation the collector never scans, and raises the
    thresholds (``GC_THRESHOLDS``). Objects made later are collected as before; cycles among
    the frozen ones are simply kept (they are the process's own structures). Per process,
    no I/O; calling it again freezes what was made since.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)


async def build_core(settings: Settings) -> Core:
    """Open the store, check that Redis keeps its data (no eviction, append-only file:
    production refuses otherwise, ``bot.core.store.safety``), build the Core (resolving the
    signing secret first: ``SIGNING_SECRET``, or in development one random secret shared by
    every process on the same Redis), then the key-layout check (a v1 dataset needs
    ``python -m bot migrate``: ``LayoutError``) and the encryption-key check
    (``KeyCheckError``); both stop start-up."""
    from bot.core.features import register_all
    from bot.core.migrate import check_layout

    store = await open_store(settings.env.redis_url, settings.env.data_dir)
    try:
        await enforce_durability(settings, store)
        core = await Core.create(settings, store)
        register_all(core)
        register_payment_providers(core)
        await check_layout(core)
        await core.profiles.check_keys()
    except BaseException:
        await store.close()
        raise
    return core


def register_payment_providers(core: Core) -> None:
    """Payment providers this process has credentials for (refunds from any process: the
    console, ``python -m bot ops``, a process running only Discord). The Telegram adapter
    replaces the Stars provider with one on its own ``Bot`` when it starts."""
    if core.settings.env.telegram_bot_token:
        from bot.handlers.telegram.stars import StarsProvider

        core.payment_providers["stars"] = StarsProvider.from_settings(core.settings)


async def _sweep_holds(core: Core) -> None:
    """Release holds left by crashed processes and finish erasures and /link attachments a crash
    interrupted. Runs on every instance; settling, erasing and linking are idempotent."""
    from bot.core.erasure import finish_pending_erasures
    from bot.core.linking import finish_pending_links

    while True:
        await asyncio.sleep(HOLD_SWEEP_SECONDS)
        try:
            await core.ledger.release_expired()
            await finish_pending_erasures(core)
            await finish_pending_links(core)
        except Exception as exc:  # Redis down: try again next round
            log_event("hold_sweep_failed", level=30, error=type(exc).__name__)


async def run_console(settings: Settings) -> None:
    from bot.handlers.console import ConsoleAdapter

    core = await build_core(settings)
    sweeper = asyncio.create_task(_sweep_holds(core))
    await core.outbox.start()
    # After the first answer is on screen: the start-up collection takes tens of ms.
    asyncio.get_running_loop().call_later(1.0, calm_gc)
    try:
        await ConsoleAdapter(core).run()
        # End of input (a pipe): let answers still on their way (the AI) arrive first.
        await core.outbox.drain(settings.product.ai.total_budget_seconds + 5)
    finally:
        sweeper.cancel()
        await core.outbox.stop()
        await core.store.close()


async def run(settings: Settings) -> None:
    """Run every configured platform adapter plus the HTTP server until a signal arrives."""
    from bot.handlers.http import CHECKS_KEY, HttpServer

    core = await build_core(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    http = HttpServer(core, port=settings.env.port)
    stoppers: list[Callable[[], Awaitable[Any]]] = []
    try:
        # Starters run before the HTTP server starts: they may add routes (the Telegram
        # webhook), and aiohttp freezes the route table once the server is up.
        for starter in _platform_starters(settings):
            stoppers.append(await starter(core, http))
        port = await http.start()
        log_event("http_started", port=port)
        if not stoppers:
            log_event("no_platform_token", level=30,
                      hint="set TELEGRAM_BOT_TOKEN or DISCORD_BOT_TOKEN, or use `python -m bot console`")
        runner = None
        if core.senders:  # the daily broadcast needs a platform to push to; stopped first on exit
            runner = await _start_broadcast(core)
            stoppers.append(runner.stop)
        http.app[CHECKS_KEY].update(readiness_checks(core, runner))
        from bot.core.ops.runner import start_ops  # metrics flush, heartbeat, alerts (issue 14)

        stoppers.insert(0, await start_ops(core, scheduler=runner is not None))
        await core.outbox.start()  # paid answers and notices, also those of a dead process
        sweeper = asyncio.create_task(_sweep_holds(core))
        calm_gc()  # everything start-up imports and builds is in place now
        await stop.wait()
        log_event("shutdown_started", grace_seconds=settings.product.delivery.shutdown_grace_seconds)
        sweeper.cancel()
    finally:
        # Graceful: adapters stop taking updates and finish or hand back what they hold.
        for stopper in reversed(stoppers):
            with contextlib.suppress(Exception):
                await stopper()
        with contextlib.suppress(Exception):
            await core.outbox.stop()
        await http.stop()
        ai = core.ai
        if ai is not None:
            with contextlib.suppress(Exception):
                await ai.aclose()
        await core.store.close()


def readiness_checks(core: Core, runner: Any = None) -> dict[str, Check]:
    """Per-dependency checks for ``GET /api/health`` (Redis is always checked by the server)."""
    checks: dict[str, Check] = {}

    async def ai() -> dict[str, Any]:
        from bot.core.ai.chain import get_chain

        # Built on first use; without a key this imports no SDK (bot/core/ai/providers.py).
        chain = get_chain(core)
        providers = await chain.status()
        usable = [n for n, st in providers.items() if st.get("configured") and st.get("state") != "open"]
        configured = [n for n, st in providers.items() if st.get("configured")]
        status = "ok" if usable else ("fallback_only" if not configured else "degraded")
        return {"status": status, "providers": providers}

    checks["ai"] = ai

    async def delivery() -> dict[str, Any]:
        figures = await core.delivery_figures()
        return {"status": "ok" if figures.get("outbox_overdue", 0) == 0 else "degraded", **figures}

    checks["delivery"] = delivery
    names = {"tg": "telegram", "dc": "discord"}
    for link in core.platforms.values():
        if link.health is not None:
            checks[names.get(link.name, link.name)] = link.health
    if runner is not None:
        async def scheduler() -> dict[str, Any]:
            return {"status": "ok" if runner.alive else "down"}

        checks["scheduler"] = scheduler
    return checks


async def _start_broadcast(core: Core) -> Any:
    """Daily broadcast: the minute tick and delivery workers for every registered sender."""
    from bot.core.broadcast import BroadcastRunner
    from bot.handlers.telegram_delivery import install as map_telegram_errors

    map_telegram_errors(core)  # PTB errors -> bot.core.delivery outcomes (no-op without Telegram)
    runner = BroadcastRunner(core)
    await runner.start()
    return runner


def _platform_starters(settings: Settings) -> list[Callable[[Core, HttpServer], Awaitable[Callable[[], Awaitable[Any]]]]]:
    """Adapters register here as they are built (Telegram, Discord, the Slack ops surface)."""
    starters: list[Callable[[Core, HttpServer], Awaitable[Callable[[], Awaitable[Any]]]]] = []
    if settings.env.telegram_bot_token:
        from bot.handlers.telegram import start_telegram

        starters.append(start_telegram)
    if settings.env.discord_bot_token:
        from bot.handlers.discord import start_discord

        starters.append(start_discord)
    if settings.env.slack_bot_token and settings.env.slack_signing_secret:
        from bot.handlers.slack import start_slack

        starters.append(start_slack)
    return starters


def main_entry(mode: str) -> int:
    from bot.core.errors import ServiceUnavailable
    from bot.core.secrets import SigningSecretMissing
    from bot.core.settings import SettingsError

    try:
        settings = load_settings()
    except SettingsError as err:
        configure_logging()
        log_event("settings_invalid", level=50, error=str(err))
        print(f"soul-lab: {err}", flush=True)
        return 2
    console = mode == "console" or (mode == "auto" and not settings.env.telegram_bot_token
                                    and not settings.env.discord_bot_token)
    if console:
        # The terminal belongs to the chat: log lines go to DATA_DIR/console.log instead.
        settings.env.data_dir.mkdir(parents=True, exist_ok=True)
        configure_logging(settings.env.log_level,
                          stream=open(settings.env.data_dir / "console.log", "a", encoding="utf-8"))  # noqa: SIM115
    else:
        configure_logging(settings.env.log_level)
    init_sentry(settings)
    try:
        if console:
            asyncio.run(run_console(settings))
        else:
            asyncio.run(run(settings))
    except KeyboardInterrupt:
        pass
    except SettingsError as err:  # e.g. encryption keys that cannot read the stored data
        log_event("startup_refused", level=50, error=str(err))
        print(f"soul-lab: {err}", flush=True)
        return 2
    except REDIS_ERRORS as err:
        log_event("redis_connection_error", level=50, error=str(err))
        return 1
    except ServiceUnavailable:  # Redis down while resolving the signing secret
        log_event("redis_connection_error", level=50, error="signing secret not resolved")
        return 1
    except SigningSecretMissing as err:
        log_event("settings_invalid", level=50, error=str(err))
        print(f"soul-lab: {err}", flush=True)
        return 2
    return 0
