"""Prometheus metrics, one registry per Core (tests can build many Cores in one process)."""

from __future__ import annotations

import time
from collections import deque

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.commands = Counter("soul_lab_commands_total", "Commands handled", ["command", "outcome"],
                                registry=self.registry)
        self.errors = Counter("soul_lab_errors_total", "Error replies by code", ["code"], registry=self.registry)
        self.latency = Histogram(
            "soul_lab_command_seconds", "Command handling time", ["command"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
        )
        self.ai_calls = Counter("soul_lab_ai_calls_total", "AI answers by provider", ["provider", "fallback"],
                                registry=self.registry)
        # AI safety and provider spend (bot/core/ai/safety.py, bot/core/ai/chain.py).
        self.ai_crisis_replies = Counter("soul_lab_ai_crisis_replies_total",
                                         "Fixed crisis replies with help lines", ["lang"], registry=self.registry)
        self.ai_output_blocked = Counter("soul_lab_ai_output_blocked_total",
                                         "AI answers replaced by the static text by the output check", ["reason"],
                                         registry=self.registry)
        self.ai_spend_usd = Counter("soul_lab_ai_spend_usd_total",
                                    "Provider spend of real AI answers (USD, this process)", ["provider"],
                                    registry=self.registry)
        self.ai_spend_today_usd = Gauge("soul_lab_ai_spend_today_usd",
                                        "The UTC day's provider spend, all processes (USD, as last seen)",
                                        registry=self.registry)
        self.ai_capped = Counter("soul_lab_ai_spend_capped_total",
                                 "AI calls answered with the static text because the daily spend cap was reached",
                                 registry=self.registry)
        self.rate_limited = Counter("soul_lab_rate_limited_total", "Requests refused by a limit", ["scope"],
                                    registry=self.registry)
        self.platform_429 = Counter("soul_lab_platform_429_total", "429 answers from platforms", ["platform"],
                                    registry=self.registry)
        self.discarded = Counter("soul_lab_discarded_total", "Updates acknowledged and dropped by policy",
                                 ["platform", "reason"], registry=self.registry)
        #: Interactive platform requests (Discord interactions) by outcome: ``deferred``, ``modal``,
        #: ``answered`` (follow-ups sent), ``unknown`` (10062: expired before we answered),
        #: ``taken`` (40060: answered elsewhere), ``failed`` (follow-up refused), ``expired``
        #: (token gone before the follow-up).
        self.interactions = Counter("soul_lab_interactions_total", "Platform interactions by outcome",
                                    ["platform", "outcome"], registry=self.registry)
        self.delivery = Gauge("soul_lab_delivery", "Durable inbox and outbox figures at scrape time",
                              ["figure"], registry=self.registry)
        self.credits_sold = Counter("soul_lab_credits_sold_total", "Credits sold", registry=self.registry)
        self.broadcast = Gauge("soul_lab_broadcast", "Daily broadcast figures (today, UTC) at scrape time",
                               ["figure"], registry=self.registry)
        self.up = Gauge("soul_lab_dependency_up", "Dependency reachable (1) or not (0)", ["dependency"],
                        registry=self.registry)
        # Recent samples for /ops metrics percentiles and alert thresholds (last 5 minutes).
        self._recent: deque[tuple[float, float, bool]] = deque(maxlen=20000)

    def observe_command(self, command: str, seconds: float, error_code: str | None) -> None:
        self.commands.labels(command, "error" if error_code else "ok").inc()
        if error_code:
            self.errors.labels(error_code).inc()
        self.latency.labels(command).observe(seconds)
        # Only server-side failures count toward the error rate alert.
        server_error = error_code in ("INTERNAL_ERROR", "SERVICE_UNAVAILABLE")
        self._recent.append((time.monotonic(), seconds, server_error))

    def window(self, seconds: float = 300.0) -> dict[str, float]:
        """p50/p95 latency (ms), error rate and count over the last ``seconds``."""
        edge = time.monotonic() - seconds
        samples = [s for s in self._recent if s[0] >= edge]
        if not samples:
            return {"count": 0, "p50_ms": 0.0, "p95_ms": 0.0, "error_rate": 0.0}
        lat = sorted(s[1] for s in samples)

        def pct(p: float) -> float:
            return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000

        return {
            "count": len(samples),
            "p50_ms": round(pct(0.50), 2),
            "p95_ms": round(pct(0.95), 2),
            "error_rate": round(sum(1 for s in samples if s[2]) / len(samples), 4),
        }

    def render(self) -> bytes:
        return generate_latest(self.registry)
