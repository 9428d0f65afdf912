"""Per-provider circuit breakers, shared by every bot process through Redis.

States: ``closed`` (calls go through; outcomes are counted in a sliding window),
``open`` (calls are skipped until ``until``), ``half_open`` (exactly one process wins the
probe; its success closes the breaker, its failure re-opens it). Every transition is one
Lua script (``ai_breaker_*.lua``), so concurrent processes never disagree:

- ``acquire``: closed -> allow; open and due -> half_open + probe claim; else deny.
- ``record``: count an outcome; opens on ``failure_rate`` over ``window`` once
  ``min_calls`` were seen; settles a probe.
- ``trip``: open until a time (429 retry-after, 401/403, ``force_open`` by ops).
- ``close``: ``force_close`` by ops.

A probe whose process died is given up after its lease, and the next caller probes.
Times come from the injected ``Clock`` so tests move time without sleeping.

Redis down: ``acquire`` answers "allow" (the AI keeps working, unguarded) and ``record``
is skipped, logging ``ai_breaker_redis_error`` once per outage; ops methods raise
``ServiceUnavailable``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from bot.core.clock import Clock
from bot.core.logs import log_event
from bot.core.settings import AIConfig
from bot.core.store import K, REDIS_ERRORS, Store, redis_guard

__all__ = ["Breakers", "Permit", "BreakerStatus"]


@dataclass(frozen=True, slots=True)
class Permit:
    allowed: bool
    probe: bool = False
    until_ms: int = 0  # when denied: when the provider may be tried again


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    provider: str
    state: str
    until_ms: int
    reason: str
    calls: int
    failures: int

    def as_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "state": self.state, "until_ms": self.until_ms,
                "reason": self.reason, "calls": self.calls, "failures": self.failures}


class Breakers:
    def __init__(self, store: Store, clock: Clock, config: AIConfig, providers: tuple[str, ...]) -> None:
        self._store = store
        self._clock = clock
        self._cfg = config
        self.providers = providers
        # A probe may take one whole answer; give it a little more before someone else probes.
        self._probe_lease_ms = int((config.answer_timeout_seconds + config.connect_timeout_seconds + 2) * 1000)
        self._degraded = False

    def _keys(self, provider: str) -> list[str]:
        return [K.ai_breaker(provider), K.ai_breaker_calls(provider), K.ai_breaker_failures(provider)]

    def _redis_down(self, exc: BaseException, op: str) -> None:
        if not self._degraded:
            self._degraded = True
            log_event("ai_breaker_redis_error", level=40, operation=op, error=type(exc).__name__)

    # --- the chain's side ------------------------------------------------------------
    async def acquire(self, provider: str) -> Permit:
        try:
            res = await self._store.scripts["ai_breaker_acquire"](
                keys=[K.ai_breaker(provider)], args=[self._clock.now_ms(), self._probe_lease_ms])
        except REDIS_ERRORS as exc:
            self._redis_down(exc, "acquire")
            return Permit(True)
        self._degraded = False
        decision, ms = str(res[0]), int(res[1])
        if decision == "allow":
            return Permit(True)
        if decision == "probe":
            log_event("ai_breaker_probe", provider=provider)
            return Permit(True, probe=True)
        return Permit(False, until_ms=ms)

    async def record(self, provider: str, ok: bool, probe: bool) -> str:
        """Count one outcome; returns the state afterwards."""
        cfg = self._cfg
        try:
            res = await self._store.scripts["ai_breaker_record"](
                keys=self._keys(provider),
                args=[self._clock.now_ms(), "ok" if ok else "fail", "1" if probe else "0",
                      cfg.breaker_window_seconds * 1000, cfg.breaker_min_calls, cfg.breaker_failure_rate,
                      cfg.breaker_open_seconds * 1000, uuid.uuid4().hex[:12]])
        except REDIS_ERRORS as exc:
            self._redis_down(exc, "record")
            return "unknown"
        state, changed = str(res[0]), int(res[1])
        if changed and state == "open":
            log_event("ai_breaker_open", level=30, provider=provider,
                      reason="probe_failed" if probe else "failure_rate",
                      seconds=cfg.breaker_open_seconds, calls=int(res[2]), failures=int(res[3]))
        elif changed and state == "closed":
            log_event("ai_breaker_closed", provider=provider, reason="probe_ok")
        return state

    async def trip(self, provider: str, seconds: float, reason: str, *, force: bool = False) -> int:
        """Open ``provider`` for ``seconds`` (never shortening an open breaker unless ``force``)."""
        now = self._clock.now_ms()
        until = now + int(seconds * 1000)
        try:
            res = await self._store.scripts["ai_breaker_trip"](
                keys=self._keys(provider), args=[now, until, reason[:40], "force" if force else "extend"])
        except REDIS_ERRORS as exc:
            if force:
                raise
            self._redis_down(exc, "trip")
            return 0
        if int(res[1]):
            log_event("ai_breaker_open", level=30, provider=provider, reason=reason, seconds=round(seconds, 1))
        return int(res[2])

    # --- ops ------------------------------------------------------------------------------
    def _check(self, provider: str) -> None:
        if provider not in self.providers:
            raise ValueError(f"unknown AI provider {provider!r}; one of {', '.join(self.providers)}")

    async def force_open(self, provider: str, seconds: float) -> int:
        """Keep ``provider`` out for ``seconds`` (then it is probed as usual). Returns until (ms)."""
        self._check(provider)
        if not 0 < seconds <= 7 * 86400:
            raise ValueError("seconds must be in (0, 604800]")
        until = 0
        async with redis_guard("ai.breaker.force_open"):
            until = await self.trip(provider, seconds, "manual", force=True)
        return until

    async def force_close(self, provider: str) -> str:
        """Close ``provider``'s breaker now; returns the previous state."""
        self._check(provider)
        async with redis_guard("ai.breaker.force_close"):
            prev = await self._store.scripts["ai_breaker_close"](keys=self._keys(provider), args=["manual"])
        log_event("ai_breaker_closed", provider=provider, reason="manual", previous=str(prev))
        return str(prev)

    async def status(self) -> dict[str, BreakerStatus]:
        """State of every provider's breaker (an open one past ``until`` shows as due a probe)."""
        out: dict[str, BreakerStatus] = {}
        async with redis_guard("ai.breaker.status"):
            for p in self.providers:
                async with self._store.redis.pipeline(transaction=False) as pipe:
                    pipe.hgetall(K.ai_breaker(p))
                    pipe.zcard(K.ai_breaker_calls(p))
                    pipe.zcard(K.ai_breaker_failures(p))
                    raw, calls, fails = await pipe.execute()
                out[p] = BreakerStatus(p, raw.get("state", "closed"), int(float(raw.get("until", 0) or 0)),
                                       raw.get("reason", ""), int(calls), int(fails))
        return out
