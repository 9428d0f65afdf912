"""Sliding-window rate limits shared by every bot process through Redis.

Each check is one Lua script (check-and-record atomically). Limits come from
``config/defaults.toml`` (and the runbook's env vars) and can be changed at run time:
``set_limit`` writes an override into ``ratelimit:config``; every process reads the overrides
outside the script (the hash is global, the windows are per subject: one slot per script on a
cluster), caches them for ``CONFIG_CACHE_SECONDS`` and passes the limit in as arguments, so a
change takes effect everywhere within that time (at once in the process that made it). Redis down: the limiter falls back to an in-process window per process (so
limiting keeps working, per process) and logs ``redis_connection_error`` once per outage.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.clock import Clock
from bot.core.errors import BotError, ErrorCode
from bot.core.ids import random_hex
from bot.core.logs import log_event
from bot.core.settings import Limit, Settings
from bot.core.store import K, REDIS_ERRORS, Store, redis_guard
from bot.core.store.coalesce import Call, Script

__all__ = ["RateLimiter", "Decision", "RateLimited", "CONFIG_CACHE_SECONDS"]

#: How long a process trusts its copy of the run-time overrides.
CONFIG_CACHE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after_ms: int
    remaining: int
    limit: int
    window_seconds: int

    @property
    def retry_after_s(self) -> int:
        """Whole seconds to wait, at least 1 when limited."""
        return max(1, math.ceil(self.retry_after_ms / 1000)) if not self.allowed else 0


class RateLimited(BotError):
    def __init__(self, decision: Decision, scope: str) -> None:
        super().__init__(ErrorCode.RATE_LIMITED, seconds=decision.retry_after_s)
        self.decision = decision
        self.scope = scope


class _LocalWindow:
    """In-process fallback: same sliding-window semantics, this process only."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[int]] = {}

    def hit(self, key: str, limit: int, window_s: int, now_ms: int) -> Decision:
        q = self._hits.setdefault(key, deque())
        edge = now_ms - window_s * 1000
        while q and q[0] <= edge:
            q.popleft()
        if len(q) < limit:
            q.append(now_ms)
            return Decision(True, 0, limit - len(q), limit, window_s)
        return Decision(False, max(1, q[0] + window_s * 1000 - now_ms), 0, limit, window_s)


class RateLimiter:
    def __init__(self, store: Store, settings: Settings, clock: Clock) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._local = _LocalWindow()
        self._degraded = False
        self.config_cache_seconds = CONFIG_CACHE_SECONDS
        self._overrides: dict[str, Limit] = {}
        self._overrides_at = -math.inf

    async def _limit(self, scope: str) -> Limit:
        """The limit in force for ``scope``: the run-time override (cached) or the default.
        Redis down: the last overrides read (or the default)."""
        now = time.monotonic()
        if now - self._overrides_at >= self.config_cache_seconds:
            try:
                raw = await self._store.redis.hgetall(K.ratelimit_config())
            except REDIS_ERRORS:
                raw = None
            if raw is not None:
                self._overrides = _parse_overrides(raw)
                self._overrides_at = now
        return self._overrides.get(scope) or self.default(scope)

    def default(self, scope: str) -> Limit:
        return self._settings.limit(scope)

    async def hit(self, scope: str, subject: str) -> Decision:
        """Count one event for ``subject`` in ``scope``; say whether it is allowed."""
        return (await self.hit_and_read(scope, subject))[0]

    async def hit_and_read(self, scope: str, subject: str,
                           *hash_keys: str) -> tuple[Decision, list[dict[str, str]] | None]:
        """``hit``, plus HGETALL of each of ``hash_keys`` in the same round trip (the router
        reads the caller's account and profile this way; they must share the subject's slot).
        The list is None when Redis is unreachable: the decision then comes from the in-process
        window.
        """
        decision, reads, _ = await self.hit_read_exists(scope, subject, hash_keys)
        return decision, reads

    async def hit_read_exists(self, scope: str, subject: str, hash_keys: Sequence[str],
                              exists_keys: Sequence[str] = ()) -> tuple[
                                  Decision, list[dict[str, str]] | None, list[bool] | None]:
        """``hit_and_read``, plus EXISTS of each of ``exists_keys`` (same slot), all in one
        script (atomic, one round trip). Both lists are None when Redis is unreachable."""
        decision, reads, exists, _ = await self.hit_read_also(scope, subject, hash_keys, exists_keys)
        return decision, reads, exists

    async def hit_read_also(self, scope: str, subject: str, hash_keys: Sequence[str],
                            exists_keys: Sequence[str] = (), also: Sequence[Call] = ()) -> tuple[
                                Decision, list[dict[str, str]] | None, list[bool] | None, list[Any] | None]:
        """``hit_read_exists``, plus the replies to ``also`` — read-only calls of any slot, sent
        right after the limiter's script in the same batch (``bot.core.store.coalesce``), whatever
        the decision. Every list is None when Redis is unreachable (the decision then comes from
        the in-process window); an error reply to one of ``also`` raises."""
        base = await self._limit(scope)
        now = self._clock.now_ms()
        key = K.ratelimit(scope, subject)
        try:
            # Through the store's coalescer: concurrent commands share one pipeline.
            res, *extra = await self._store.batch.run([Script(
                "ratelimit", [key, *hash_keys, *exists_keys],
                [base.limit, base.window_seconds, now, f"{now}-{random_hex(4)}", len(hash_keys)]), *also])
        except REDIS_ERRORS as exc:
            if not self._degraded:
                self._degraded = True
                log_event("redis_connection_error", level=40, operation="ratelimit", error=type(exc).__name__)
            return self._local.hit(key, base.limit, base.window_seconds, now), None, None, None
        self._degraded = False
        decision = Decision(bool(res[0]), int(res[1]), int(res[2]), int(res[3]), int(res[4]))
        if not decision.allowed:
            log_event("rate_limit", scope=scope, subject=subject, retry_after_ms=decision.retry_after_ms)
        reads: list[dict[str, str]] = []
        i = 5
        for _ in hash_keys:
            n = int(res[i])
            flat = res[i + 1:i + 1 + n]
            reads.append(dict(zip(flat[::2], flat[1::2])))
            i += 1 + n
        return decision, reads, [bool(int(v)) for v in res[i:i + len(exists_keys)]], extra

    async def check(self, scope: str, subject: str) -> Decision:
        """``hit`` that raises ``RateLimited`` instead of returning a refusal."""
        decision = await self.hit(scope, subject)
        if not decision.allowed:
            raise RateLimited(decision, scope)
        return decision

    async def set_limit(self, scope: str, limit: int, window_seconds: int) -> None:
        """Run-time override for every process (``/ops ratelimit set``)."""
        if scope not in self._settings.product.limits:
            raise BotError(ErrorCode.VALIDATION_ERROR, "ratelimit.unknown_scope", scope=scope)
        if not (0 < limit <= 1_000_000 and 0 < window_seconds <= 86400):
            raise BotError(ErrorCode.VALIDATION_ERROR, "ratelimit.bad_value")
        async with redis_guard("ratelimit.set"):
            await self._store.redis.hset(K.ratelimit_config(), scope, f"{limit}:{window_seconds}")
        self._overrides_at = -math.inf  # this process sees it at once
        log_event("rate_limit_changed", scope=scope, limit=limit, window_seconds=window_seconds)

    async def reset_limit(self, scope: str) -> None:
        async with redis_guard("ratelimit.reset"):
            await self._store.redis.hdel(K.ratelimit_config(), scope)
        self._overrides_at = -math.inf

    async def effective(self) -> dict[str, Limit]:
        """The limits in force now: defaults with run-time overrides applied."""
        async with redis_guard("ratelimit.show"):
            overrides = await self._store.redis.hgetall(K.ratelimit_config())
        out = dict(self._settings.product.limits)
        out.update({k: v for k, v in _parse_overrides(overrides).items() if k in out})
        return out


def _parse_overrides(raw: dict[str, str]) -> dict[str, Limit]:
    out: dict[str, Limit] = {}
    for scope, value in raw.items():
        limit, _, window = value.partition(":")
        if limit.isdigit() and window.isdigit() and int(limit) > 0 and int(window) > 0:
            out[scope] = Limit(limit=int(limit), window_seconds=int(window))
    return out
