"""Outbound send pacing shared by every bot process: "may I send to chat X now, else wait N ms".

Platforms limit how fast a bot may send (Telegram: ≈30 messages/s overall, ≈1/s per chat,
20/min per group). Every process asks one Lua script (``outbound_acquire.lua``) before each
send; the script checks sliding windows for the whole bot, the chat and (for groups) the
group, plus pause keys written after a platform 429, and records the send atomically when it
may go. Adapters (the Telegram rate limiter) and the daily broadcast use the same class, so a
broadcast and interactive replies share one budget.

Platform-neutral: ``platform`` only namespaces the keys. Redis down: an in-process window
with the same rules takes over (per process) and ``redis_connection_error`` is logged once
per outage; sending never stops because Redis is away.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING
from collections.abc import Awaitable, Callable

from bot.core.logs import log_event
from bot.core.store import K, REDIS_ERRORS, Store

if TYPE_CHECKING:
    from bot.core.settings import Settings

__all__ = ["OutboundLimits", "OutboundLimiter", "Permit"]


@dataclass(frozen=True, slots=True)
class OutboundLimits:
    global_per_second: int
    chat_per_second: int
    group_per_minute: int
    #: The per-chat window in seconds. ``chat_per_second`` is an average over this window, so
    #: a reply made of a few messages (picture + text) is not spread over several seconds.
    chat_window_seconds: int = 3

    @classmethod
    def telegram(cls, settings: Settings) -> OutboundLimits:
        b = settings.product.broadcast
        return cls(b.telegram_global_per_second, b.telegram_per_chat_per_second, b.telegram_group_per_minute)


@dataclass(frozen=True, slots=True)
class Permit:
    wait_ms: int
    reason: str  # "ok" | "global" | "chat" | "group" | "paused"

    @property
    def granted(self) -> bool:
        return self.wait_ms <= 0


class _LocalWindows:
    """In-process fallback with the script's rules (this process only)."""

    def __init__(self) -> None:
        self._logs: dict[str, deque[float]] = {}
        self._pauses: dict[str, float] = {}

    def _wait(self, key: str, limit: int, window_ms: int, now: float) -> int:
        q = self._logs.setdefault(key, deque())
        while q and q[0] <= now - window_ms:
            q.popleft()
        if len(q) < limit:
            return 0
        return max(1, int(q[0] + window_ms - now))

    def acquire(self, keys: list[str], limits: list[tuple[int, int]], pauses: list[str]) -> Permit:
        now = time.monotonic() * 1000
        pause = max((self._pauses.get(p, 0) - now for p in pauses), default=0)
        if pause > 0:
            return Permit(int(pause) + 1, "paused")
        waits = [(self._wait(k, lim, win, now), name) for k, (lim, win), name
                 in zip(keys, limits, ("global", "chat", "group")[:len(keys)], strict=True)]
        wait, reason = max(waits)
        if wait > 0:
            return Permit(wait, reason)
        for k in keys:
            self._logs[k].append(now)
        return Permit(0, "ok")

    def pause(self, key: str, ms: int) -> None:
        self._pauses[key] = max(self._pauses.get(key, 0), time.monotonic() * 1000 + ms)


class OutboundLimiter:
    """Shared outbound pacing for one platform. Safe to share across tasks and processes."""

    def __init__(self, store: Store, platform: str, limits: OutboundLimits,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._store = store
        self.platform = platform
        self.limits = limits
        self._sleep = sleep
        self._local = _LocalWindows()
        self._degraded = False

    def _keys(self, chat: str) -> tuple[list[str], list[str]]:
        p = self.platform
        windows = [K.outbound_window(p, "global", "all"), K.outbound_window(p, "chat", chat),
                   K.outbound_window(p, "group", chat)]
        pauses = [K.outbound_pause(p, "global"), K.outbound_pause(p, chat)]
        return windows, pauses

    async def acquire(self, chat: str, group: bool = False) -> Permit:
        """One attempt: record the send and return a granted permit, or say how long to wait."""
        lim = self.limits
        windows, pauses = self._keys(chat)
        args = [uuid.uuid4().hex, lim.global_per_second, 1000,
                lim.chat_per_second * lim.chat_window_seconds, lim.chat_window_seconds * 1000,
                lim.group_per_minute if group else 0, 60_000]
        try:
            wait, reason = await self._store.scripts["outbound_acquire"](keys=[*windows, *pauses], args=args)
        except REDIS_ERRORS as exc:
            if not self._degraded:
                self._degraded = True
                log_event("redis_connection_error", level=logging.ERROR, where="outbound.acquire",
                          error=type(exc).__name__)
            limits = [(lim.global_per_second, 1000),
                      (lim.chat_per_second * lim.chat_window_seconds, lim.chat_window_seconds * 1000)]
            if group:
                limits.append((lim.group_per_minute, 60_000))
            return self._local.acquire(windows[:len(limits)], limits, pauses)
        if self._degraded:
            self._degraded = False
            log_event("redis_connection_restored", where="outbound.acquire")
        reason = reason.decode() if isinstance(reason, bytes) else str(reason)
        return Permit(int(wait), reason)

    async def wait_turn(self, chat: str, group: bool = False, max_wait_s: float | None = None) -> float:
        """Wait until a send to ``chat`` may go (and record it). Returns the seconds waited.

        With ``max_wait_s`` it raises ``TimeoutError`` instead of waiting longer than that.
        """
        started = time.monotonic()
        while True:
            permit = await self.acquire(chat, group)
            if permit.granted:
                return time.monotonic() - started
            delay = permit.wait_ms / 1000
            if max_wait_s is not None and time.monotonic() - started + delay > max_wait_s:
                raise TimeoutError(f"outbound send to {chat} would wait over {max_wait_s} s")
            await self._sleep(delay)

    async def pause(self, chat: str | None, seconds: float) -> None:
        """Pause sends to ``chat`` (or every chat when None) for ``seconds``, in every process."""
        ms = max(1, int(seconds * 1000))
        key = K.outbound_pause(self.platform, chat if chat is not None else "global")
        try:
            await self._store.redis.set(key, "1", px=ms)
        except REDIS_ERRORS:
            pass
        self._local.pause(key, ms)
