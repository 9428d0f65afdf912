"""Outbound send pacing shared by every bot process: "may I send to chat X now, else wait N ms".

Platforms limit how fast a bot may send (Telegram: ≈30 messages/s overall, ≈1/s per chat,
20/min per group). Every process asks Redis before each send; sliding windows for the whole
bot, the chat and (for groups) the group, plus pause keys written after a platform 429, decide
and record the send. Adapters (the Telegram rate limiter) and the daily broadcast use the same
class, so a broadcast and interactive replies share one budget.

On a single Redis server (no Cluster) both steps below are one script,
``outbound_acquire.lua``: one round trip per send, all or nothing, so nothing is ever given
back. On a Redis Cluster (no script across slots) they are two steps, each one Lua script on
keys of one hash slot:

1. ``outbound_chat.lua`` on the chat's keys — its window, its group window and its pause share
   the chat's hash tag (``K.outbound_window`` / ``K.outbound_pause``): checks the chat's limits
   and records the send under a unique member;
2. ``outbound_global.lua`` on the global window and global pause (one tag): checks the bot's
   overall limit and records the send under the same member. Its window is a little longer
   than the platform's second (``GLOBAL_WINDOW_MS``): a permit is taken before the request
   travels, and the jitter between the two (a fast transport sends a window's permits at
   once, a loaded machine delays some) must not put more than the limit into the
   platform's own window. It costs under a tenth of the peak rate.

The chat step goes first because it refuses far more often (1/s per chat) and its keys are not
contended; the global window is touched only by sends that may really go. When the global step
refuses, the chat entry is given back (``ZREM`` of exactly that member, one MULTI in the chat's
slot), so a refused send costs the chat nothing. Retries are safe: a step run twice with the
same member finds its own entry (ZADD NX), never a second one. A crash (or a Redis error)
between the steps, or a failed give-back, leaves one chat entry for a send that never went: it
expires with the chat window (3 s; a minute for the group window), so that chat may wait one
slot longer, once — never a send over a limit.

Chat subjects in key names are a keyed hash of the chat id (HMAC with the signing secret,
16 hex), never the id itself: no outbound key names a user's platform id, before or after
``/delete``.

Platform-neutral: ``platform`` only namespaces the keys. Redis down: an in-process window
with the same rules takes over (per process) and ``redis_connection_error`` is logged once
per outage; sending never stops because Redis is away.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING
from collections.abc import Awaitable, Callable

from bot.core.hashing import KeyedHash
from bot.core.ids import random_hex
from bot.core.logs import log_event
from bot.core.store import K, REDIS_ERRORS, Store
from bot.core.store.coalesce import Script

if TYPE_CHECKING:
    from bot.core.settings import Settings

__all__ = ["OutboundLimits", "OutboundLimiter", "Permit", "GLOBAL_WINDOW_MS"]

#: The global window: the platform's 1 s plus a margin for permit-to-arrival jitter.
GLOBAL_WINDOW_MS = 1100


@dataclass(frozen=True, slots=True)
class OutboundLimits:
    global_per_second: int
    chat_per_second: int
    group_per_minute: int
    #: The per-chat window in seconds. ``chat_per_second`` is an average over this window, so
    #: a reply made of a few messages (picture + text) is not spread over several seconds.
    chat_window_seconds: int = 3

    @classmethod
    def for_platform(cls, settings: Settings, platform: str) -> OutboundLimits:
        """``[outbound.<platform>]`` from the configuration (KeyError: not configured)."""
        o = settings.product.outbound[platform]
        return cls(o.global_per_second, o.chat_per_second, o.group_per_minute, o.chat_window_seconds)


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
    """Shared outbound pacing for one platform. Safe to share across tasks and processes.

    ``secret`` keys the hash that names chats in Redis (the Core's ``signing_secret``)."""

    def __init__(self, store: Store, platform: str, limits: OutboundLimits, *, secret: bytes,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if not secret:
            raise ValueError("the outbound limiter needs the signing secret (chat names are hashed)")
        self._store = store
        self.platform = platform
        self.limits = limits
        self._sleep = sleep
        self._subject_key = KeyedHash(hmac.digest(secret, b"soul-lab/outbound/v1", "sha256"))
        self._local = _LocalWindows()
        self._degraded = False
        #: A single server runs both steps as one script (one round trip, nothing to give back).
        self._one_step = store.topology == "single"

    def subject(self, chat: str) -> str:
        """The name of ``chat`` in key names: a keyed hash (16 hex), stable across processes."""
        data = f"{self.platform}:{chat}".encode()
        return self._subject_key.hexdigest(data)[:16]

    def _chat_keys(self, subject: str) -> list[str]:
        """Chat window, group window, chat pause: one hash tag (the chat's)."""
        p = self.platform
        return [K.outbound_window(p, "chat", subject), K.outbound_window(p, "group", subject),
                K.outbound_pause(p, subject)]

    def _global_keys(self) -> list[str]:
        """Global window, global pause: one hash tag (the platform's "global")."""
        p = self.platform
        return [K.outbound_window(p, "global", "global"), K.outbound_pause(p, "global")]

    async def acquire(self, chat: str, group: bool = False) -> Permit:
        """One attempt: record the send and return a granted permit, or say how long to wait.

        On a single server one script (``outbound_acquire.lua``) checks and records both steps
        atomically; on a Cluster two steps (chat, then global; see the module docstring) and a
        global refusal gives the chat entry back. Redis down: the in-process fallback decides."""
        lim = self.limits
        chat_keys, global_keys = self._chat_keys(self.subject(chat)), self._global_keys()
        member = random_hex(16)
        chat_limit, chat_window = lim.chat_per_second * lim.chat_window_seconds, lim.chat_window_seconds * 1000
        group_limit = lim.group_per_minute if group else 0
        try:
            if self._one_step:
                ((wait, reason),) = await self._store.batch.run([Script(
                    "outbound_acquire", [*chat_keys, *global_keys],
                    [member, chat_limit, chat_window, group_limit, 60_000, lim.global_per_second, GLOBAL_WINDOW_MS])])
            else:
                wait, reason = await self._store.scripts["outbound_chat"](
                    keys=chat_keys, args=[member, chat_limit, chat_window, group_limit, 60_000])
            if not self._one_step and int(wait) <= 0:
                wait, reason = await self._store.scripts["outbound_global"](
                    keys=global_keys, args=[member, lim.global_per_second, GLOBAL_WINDOW_MS])
                if int(wait) > 0:
                    await self._give_back(chat_keys, member)
        except REDIS_ERRORS as exc:
            if not self._degraded:
                self._degraded = True
                log_event("redis_connection_error", level=logging.ERROR, where="outbound.acquire",
                          error=type(exc).__name__)
            windows = [global_keys[0], chat_keys[0]]
            limits = [(lim.global_per_second, 1000), (chat_limit, chat_window)]
            if group:
                windows.append(chat_keys[1])
                limits.append((lim.group_per_minute, 60_000))
            return self._local.acquire(windows, limits, [global_keys[1], chat_keys[2]])
        if self._degraded:
            self._degraded = False
            log_event("redis_connection_restored", where="outbound.acquire")
        reason = reason.decode() if isinstance(reason, bytes) else str(reason)
        return Permit(int(wait), reason)

    async def _give_back(self, chat_keys: list[str], member: str) -> None:
        """Remove this permit's chat (and group) entry: the send did not go. One MULTI in the
        chat's slot; idempotent (ZREM of a unique member). A Redis error leaves the entry to
        expire with its window (see the module docstring)."""
        try:
            async with self._store.redis.pipeline(transaction=True) as pipe:
                pipe.zrem(chat_keys[0], member)
                pipe.zrem(chat_keys[1], member)
                await pipe.execute()
        except REDIS_ERRORS:
            pass

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
                raise TimeoutError(f"outbound send to chat {self.subject(chat)} would wait over {max_wait_s} s")
            await self._sleep(delay)

    async def pause(self, chat: str | None, seconds: float) -> None:
        """Pause sends to ``chat`` (or every chat when None) for ``seconds``, in every process."""
        ms = max(1, int(seconds * 1000))
        key = K.outbound_pause(self.platform, self.subject(chat) if chat is not None else "global")
        try:
            await self._store.redis.set(key, "1", px=ms)
        except REDIS_ERRORS:
            pass
        self._local.pause(key, ms)
