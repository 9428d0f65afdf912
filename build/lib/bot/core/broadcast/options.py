"""Tuning knobs of the daily broadcast (defaults suit production; tests shrink the timings)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BroadcastOptions", "GROUP"]

#: The consumer group every delivery worker of every process reads the stream through.
GROUP = "bcast-workers"


@dataclass(frozen=True, slots=True)
class BroadcastOptions:
    #: Concurrent delivery tasks per platform in one process (pacing is the outbound limiter's).
    workers: int = 16
    #: Messages/s of the platform's global limit the broadcast leaves for interactive replies
    #: (Telegram 30/s -> the broadcast paces itself at 28/s); also a margin against 429s.
    reserve_per_second: int = 2
    #: XREADGROUP BLOCK (ms): how long an idle worker waits for new entries per call.
    read_block_ms: int = 1000
    #: An entry pending this long (ms) is taken over (XAUTOCLAIM): its worker died. Live workers
    #: reset the idle time of their in-flight entries every third of this (XCLAIM heartbeat), so
    #: a slow send (outbound waits, 429 pauses) is not taken over. Were it taken over anyway, the
    #: cost is an "unknown" in the figures, never a second message.
    claim_min_idle_ms: int = 120_000
    #: How often (s) each process looks for entries of dead workers.
    claim_interval_s: float = 15.0
    #: How often (s) each process moves retries whose backoff is over back into the stream.
    retry_interval_s: float = 1.0
    #: Delivery attempts (first try included) before an entry goes to the dead-letter stream.
    max_attempts: int = 5
    backoff_base_s: float = 5.0
    backoff_max_s: float = 600.0
    #: Subscribers moved per ZRANGEBYSCORE batch, and the time budget (s) of one tick.
    tick_batch: int = 500
    tick_budget_s: float = 50.0
    #: Tick period: None = every minute at second 0 (cron); a number = every N seconds (tests).
    tick_every_s: float | None = None
    #: Stream entries older than this are trimmed (an entry is useless after its local day).
    stream_retention_s: int = 26 * 3600
    stats_ttl_s: int = 8 * 86400
    dead_letter_maxlen: int = 100_000
    #: How often (s) a worker re-reads the pause flag.
    pause_poll_s: float = 1.0
    #: Consumers of dead processes with nothing pending are removed after this idle time (ms).
    consumer_gc_idle_ms: int = 86_400_000
