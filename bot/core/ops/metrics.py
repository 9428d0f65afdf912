"""Cross-process metrics for ``/ops metrics`` and the alerts: per-minute buckets in Redis.

The hot path is untouched: requests are counted in the process's own Prometheus registry as
before (``bot.core.metrics``). ``SharedMetrics.flush`` (every ``ops.metrics_flush_seconds``, in
the background) reads that registry, takes the difference since the last flush and adds it to
the current minute's hash ``K.ops_metrics(minute)`` with one script (``ops_metrics_flush.lua``).
A bucket holds sums over every process, so a figure read back is the sum over processes.

Fields: ``n`` requests, ``err`` server errors (INTERNAL_ERROR, SERVICE_UNAVAILABLE), ``h<i>``
latency histogram counts (``Metrics.latency`` bounds), ``ai`` / ``aifb`` AI answers / fallback
answers, ``rl`` requests refused by our limits, ``p429`` 429s from platforms, ``sold`` credits
sold. p50/p95 are estimated from the histogram (linear within a bucket).

Atomic and idempotent: one script per flush; each flush carries the process's sequence number
and a bucket ignores a seq it has seen (a retry after a lost reply adds nothing). Redis down:
the batch is kept and retried with the same seq (and the same minute) on the next flush;
counts made meanwhile join the following batch. A crash loses at most one flush interval.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from itertools import count
from typing import TYPE_CHECKING

from bot.core.store import K, redis_guard

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["SharedMetrics", "Figures", "read_window", "read_series", "percentile", "LATENCY_BOUNDS_MS"]

#: Upper bounds (ms) of the latency buckets, as ``Metrics.latency``'s (last: +inf).
LATENCY_BOUNDS_MS: tuple[float, ...] = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, math.inf)
SERVER_ERRORS = ("INTERNAL_ERROR", "SERVICE_UNAVAILABLE")
_instances = count(1)


def _le_index(le: str) -> int:
    value = math.inf if le in ("+Inf", "inf") else float(le) * 1000
    for i, bound in enumerate(LATENCY_BOUNDS_MS):
        if value <= bound + 1e-9:
            return i
    return len(LATENCY_BOUNDS_MS) - 1


class SharedMetrics:
    """One per Core: flushes the process's counters into the shared minute buckets."""

    def __init__(self, core: Core) -> None:
        self._core = core
        self.process_id = f"{os.getpid()}-{os.urandom(3).hex()}-{next(_instances)}"
        self._last: dict[str, int] = {}
        self._seq = 0
        self._pending: tuple[str, int, dict[str, int]] | None = None

    def snapshot(self) -> dict[str, int]:
        """This process's cumulative figures, read from its Prometheus registry."""
        out: dict[str, int] = {}
        cumulative: dict[str, dict[int, float]] = {}

        def add(field: str, value: float) -> None:
            out[field] = out.get(field, 0) + int(round(value))

        for family in self._core.metrics.registry.collect():
            for s in family.samples:
                name, labels, value = s.name, s.labels, s.value
                if name == "soul_lab_commands_total":
                    add("n", value)
                elif name == "soul_lab_errors_total" and labels.get("code") in SERVER_ERRORS:
                    add("err", value)
                elif name == "soul_lab_command_seconds_bucket":
                    per = cumulative.setdefault(labels.get("command", ""), {})
                    per[_le_index(labels["le"])] = value
                elif name == "soul_lab_ai_calls_total":
                    add("ai", value)
                    if labels.get("fallback") == "true":
                        add("aifb", value)
                elif name == "soul_lab_rate_limited_total":
                    add("rl", value)
                elif name == "soul_lab_platform_429_total":
                    add("p429", value)
                elif name == "soul_lab_credits_sold_total":
                    add("sold", value)
        for per in cumulative.values():  # cumulative "le" buckets -> counts per bucket
            prev = 0.0
            for i in sorted(per):
                add(f"h{i}", per[i] - prev)
                prev = per[i]
        return out

    async def flush(self) -> bool:
        """Add what changed since the last flush to the current minute's bucket; True when
        something was written. Raises ``ServiceUnavailable`` (the batch is kept for the retry)."""
        if self._pending is None:
            now = self.snapshot()
            deltas = {f: v - self._last.get(f, 0) for f, v in now.items() if v != self._last.get(f, 0)}
            self._last = now
            if not deltas:
                return False
            self._seq += 1
            minute = int(self._core.clock.now() // 60)
            self._pending = (K.ops_metrics(minute), self._seq, deltas)
        key, seq, deltas = self._pending
        ttl = self._core.settings.product.ops.metrics_keep_hours * 3600
        args: list[str | int] = [self.process_id, seq, ttl]
        for field, delta in deltas.items():
            args += [field, delta]
        async with redis_guard("ops.metrics.flush"):
            await self._core.store.scripts["ops_metrics_flush"](keys=[key], args=args)
        self._pending = None
        return True


@dataclass(frozen=True, slots=True)
class Figures:
    """Sums over every process for a span of minutes."""

    requests: int
    server_errors: int
    buckets: tuple[int, ...]
    ai: int
    ai_fallback: int
    rate_limited: int
    platform_429: int
    credits_sold: int

    @property
    def error_rate(self) -> float:
        return self.server_errors / self.requests if self.requests else 0.0

    @property
    def ai_fallback_rate(self) -> float:
        return self.ai_fallback / self.ai if self.ai else 0.0

    @property
    def p50_ms(self) -> float:
        return percentile(self.buckets, 0.50)

    @property
    def p95_ms(self) -> float:
        return percentile(self.buckets, 0.95)

    @classmethod
    def of(cls, rows: list[dict[str, str]]) -> Figures:
        def total(field: str) -> int:
            return sum(int(r.get(field, 0) or 0) for r in rows)

        return cls(total("n"), total("err"), tuple(total(f"h{i}") for i in range(len(LATENCY_BOUNDS_MS))),
                   total("ai"), total("aifb"), total("rl"), total("p429"), total("sold"))


def percentile(buckets: tuple[int, ...] | list[int], p: float) -> float:
    """The ``p`` quantile (ms) of a histogram with ``LATENCY_BOUNDS_MS``; 0 when empty."""
    n = sum(buckets)
    if n <= 0:
        return 0.0
    rank = p * n
    seen = 0
    for i, c in enumerate(buckets):
        if c and seen + c >= rank:
            lower = LATENCY_BOUNDS_MS[i - 1] if i else 0.0
            upper = LATENCY_BOUNDS_MS[i]
            if math.isinf(upper):
                return float(lower)
            return round(lower + (upper - lower) * (rank - seen) / c, 1)
        seen += c
    return float(LATENCY_BOUNDS_MS[-2])


async def _rows(core: Core, minutes: list[int]) -> list[dict[str, str]]:
    async with redis_guard("ops.metrics.read"):
        async with core.store.redis.pipeline(transaction=False) as pipe:
            for m in minutes:
                pipe.hgetall(K.ops_metrics(m))
            return list(await pipe.execute())


async def read_window(core: Core, seconds: float) -> Figures:
    """Figures of the last ``seconds`` (whole minutes, the current one included)."""
    now_min = int(core.clock.now() // 60)
    span = max(1, math.ceil(seconds / 60))
    return Figures.of(await _rows(core, [now_min - i for i in range(span)]))


async def read_series(core: Core, hours: int) -> list[tuple[int, Figures]]:
    """(minute, figures) for every minute of the last ``hours``, oldest first."""
    now_min = int(core.clock.now() // 60)
    minutes = [now_min - i for i in range(hours * 60 - 1, -1, -1)]
    rows = await _rows(core, minutes)
    return [(m, Figures.of([r])) for m, r in zip(minutes, rows, strict=True)]
