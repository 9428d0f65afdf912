"""The ops background work of one bot process: metric flushes, the heartbeat, the alert
evaluator (with incident reminders). Started by the composition root (``bot.app.run``).

Each loop survives Redis being down (it logs and tries again next period); the evaluator then
judges ``redis_down`` on its own (``bot.core.ops.alerts``). ``stop`` cancels the loops, makes a
last flush, gives the alert lease back and removes this process's heartbeat — all best effort.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.core.errors import ServiceUnavailable
from bot.core.logs import log_event
from bot.core.ops.alerts import Evaluator
from bot.core.ops.health import PROCESS_ID, publish_heartbeat
from bot.core.store import K, REDIS_ERRORS

if TYPE_CHECKING:
    from bot.core.service import Core

_DOWN: tuple[type[BaseException], ...] = (ServiceUnavailable, *REDIS_ERRORS)
__all__ = ["OpsRunner", "start_ops"]


class OpsRunner:
    def __init__(self, core: Core, *, scheduler: bool = False) -> None:
        assert core.ops is not None, "the ops_cmd feature is not registered"
        self.core = core
        self.ops = core.ops
        self.scheduler = scheduler
        self.evaluator = Evaluator(core, f"{PROCESS_ID}:{self.ops.shared.process_id}")
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        p = self.core.settings.product
        self._tasks = [
            asyncio.create_task(self._every(p.ops.metrics_flush_seconds, self.ops.shared.flush, "flush")),
            asyncio.create_task(self._every(p.ops.heartbeat_seconds, self._heartbeat, "heartbeat", first=True)),
            asyncio.create_task(self._every(p.alerts.eval_seconds, self.evaluator.round, "alerts")),
        ]

    async def _heartbeat(self) -> None:
        await publish_heartbeat(self.core, scheduler=self.scheduler)

    async def _every(self, seconds: float, fn: Callable[[], Awaitable[object]], what: str,
                     first: bool = False) -> None:
        if not first:
            await asyncio.sleep(seconds)
        while True:
            try:
                await fn()
            except _DOWN as exc:
                log_event("ops_background_deferred", level=logging.WARNING, job=what, error=type(exc).__name__)
            except Exception:
                log_event("ops_background_failed", level=logging.ERROR, exc_info=True, job=what)
            await asyncio.sleep(seconds)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        with contextlib.suppress(Exception):
            await self.ops.shared.flush()
        await self.evaluator.release()
        with contextlib.suppress(Exception):
            await self.core.store.redis.hdel(K.ops_procs(), PROCESS_ID)


async def start_ops(core: Core, *, scheduler: bool = False) -> Callable[[], Awaitable[None]]:
    """Start the ops background work; returns its stopper (a no-op without the ops feature)."""
    if core.ops is None:
        async def nothing() -> None:
            return None
        return nothing
    runner = OpsRunner(core, scheduler=scheduler)
    await runner.start()
    return runner.stop
