"""Delivery workers and the minute tick of one process.

Delivery semantics (per user per local day: **at most once**):

1. The tick queues an entry ``{u, d, a}`` after claiming the marker ``<day>:q`` (queued; markers
   live in per-day buckets, ``marks``).
2. A worker reads it through the consumer group (XREADGROUP, one consumer name per process)
   and claims ``<day>:q`` -> ``<day>:s`` (sending) in one Lua step before it calls the
   platform sender; only one worker can win that step.
3. After the sender returns it confirms ``<day>:S`` (sent) and acknowledges the entry, in one
   step. A known failure (nothing was delivered) puts the marker back to ``q`` and schedules
   a retry with backoff; after ``max_attempts`` the entry goes to the dead-letter stream. A
   blocked user is unsubscribed.
4. Entries left pending by a dead worker are taken over with XAUTOCLAIM after
   ``claim_min_idle_ms`` (live workers keep their in-flight entries fresh with an XCLAIM
   heartbeat, so only a dead worker's entries go idle). If the marker still says ``q`` the send never started and is
   done now; if it says ``s`` the dead worker may have sent it: it is **not** sent again and
   is counted "unknown" for operators.

Who is reached: stream entries name the **account** (``u``); the stream is the platform the
user subscribed on. Before claiming, a worker resolves the account's identity on that platform
(``core.accounts.target``); an account with none there any more (unlinked, or erased while
the entry waited) is unsubscribed and counted ``unreachable`` in one step
(``broadcast_finish.lua``), never retried. Every key of every script here is in the ``{b}``
family: one hash slot, so each step is atomic on Redis Cluster too.

Hazard: a worker cancelled between the platform call and the confirm leaves an "unknown";
that is the price of never sending twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from datetime import date
from typing import TYPE_CHECKING, Any
from collections.abc import Mapping

from redis.exceptions import ResponseError

from bot.core.broadcast.marks import PER_BUCKET, later_days
from bot.core.broadcast.message import daily_message
from bot.core.broadcast.options import GROUP, BroadcastOptions
from bot.core.broadcast.pacer import broadcast_pacers
from bot.core.broadcast.subscriptions import split_sub
from bot.core.broadcast.tick import tick, utc_day
from bot.core.clock import local_day
from bot.core.delivery import (
    DeliveryBlocked,
    DeliveryFailed,
    DeliveryRetryAfter,
    DeliveryUnknown,
    as_delivery_error,
)
from bot.core.errors import ServiceUnavailable
from bot.core.logs import log_event
from bot.core.reply import Reply
from bot.core.store import K, REDIS_ERRORS

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["BroadcastRunner", "Entry"]

Entry = tuple[str, dict[str, str]]
#: Redis unreachable, raw or as the core's guarded ``ServiceUnavailable`` (profiles.get).
_OUTAGE: tuple[type[BaseException], ...] = (*REDIS_ERRORS, ServiceUnavailable)
RATE_BUCKET_SECONDS = 5


def consumer_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class BroadcastRunner:
    """The tick scheduler plus delivery workers for the platforms that have a sender here.

    ``pacers`` maps a platform to a pacer (``wait_turn(chat)``, ``pause(chat, s)``: a
    ``BroadcastPacer`` or an ``OutboundLimiter``) the workers wait on before each send. The
    default is ``broadcast_pacers``: evenly spaced slots a little below the platform's global
    limit (see ``pacer``); ``{}`` turns it off. The platform sender goes through the platform's
    shared outbound limiter in any case.
    """

    def __init__(self, core: Core, *, platforms: list[str] | None = None,
                 options: BroadcastOptions | None = None,
                 pacers: Mapping[str, Any] | None = None,
                 consumer: str | None = None) -> None:
        self.core = core
        self.options = options or BroadcastOptions.from_settings(core.settings)
        self.platforms = list(platforms) if platforms is not None else core.user_platforms()
        self.pacers: dict[str, Any] = (dict(pacers) if pacers is not None
                                       else broadcast_pacers(core, self.options.reserve_per_second, self.platforms))
        self.consumer = consumer or consumer_name()
        self._tasks: list[asyncio.Task[None]] = []
        self._reclaimed: dict[str, asyncio.Queue[Entry]] = {p: asyncio.Queue() for p in self.platforms}
        #: Entries this process is working on; their idle time is reset regularly (heartbeat)
        #: so a slow but live send is never taken over — only entries of dead workers go idle.
        self._working: dict[str, set[str]] = {p: set() for p in self.platforms}
        self._stopping = False
        self._paused_at = 0.0
        self._paused = False
        self._scheduler: Any = None
        self.sent = 0  # sends confirmed by this process (tests, logs)
        self.inflight = 0  # sends between claim and outcome right now

    # --- life cycle ---------------------------------------------------------------------
    async def start(self, *, scheduler: bool = True, workers: bool = True) -> None:
        self._stopping = False
        if workers:
            for platform in self.platforms:
                try:
                    await self._ensure_group(platform)
                except REDIS_ERRORS:  # Redis down at start: workers create it on NOGROUP later
                    log_event("redis_connection_error", level=logging.WARNING, where="broadcast.start")
                for i in range(self.options.workers):
                    self._spawn(self._worker(platform), f"bcast-worker-{platform}-{i}")
                self._spawn(self._janitor(platform), f"bcast-janitor-{platform}")
        if scheduler:
            self._start_scheduler()
        log_event("broadcast_started", consumer=self.consumer, platforms=",".join(self.platforms),
                  workers=self.options.workers if workers else 0, scheduler=scheduler)

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(coro, name=name))

    def _start_scheduler(self) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        sched = AsyncIOScheduler(timezone="UTC")
        every = self.options.tick_every_s
        job_opts = dict(id="broadcast_tick", max_instances=1, coalesce=True, misfire_grace_time=30)
        if every is None:
            sched.add_job(self.run_tick, "cron", second=0, **job_opts)
        else:
            sched.add_job(self.run_tick, "interval", seconds=every, **job_opts)
        sched.start()
        self._scheduler = sched
        # Catch up right away after a restart instead of waiting for the next minute.
        self._spawn(self.run_tick(), "bcast-first-tick")

    async def run_tick(self) -> None:
        """The scheduled job: one tick; a Redis outage skips it (the next one catches up)."""
        try:
            await tick(self.core, self.options)
        except REDIS_ERRORS as exc:
            log_event("redis_connection_error", level=logging.WARNING, where="broadcast.tick",
                      error=type(exc).__name__)
        except Exception:
            log_event("broadcast_tick_failed", level=logging.ERROR, exc_info=True)

    @property
    def alive(self) -> bool:
        """The scheduler is ticking and at least one worker task is running (for /api/health)."""
        running = self._scheduler is not None and getattr(self._scheduler, "running", False)
        return bool(running and any(not t.done() for t in self._tasks))

    async def stop(self, drain_seconds: float = 5.0) -> None:
        """Stop ticking and reading; let sends in flight finish (up to ``drain_seconds``)."""
        self._stopping = True
        if self._scheduler is not None:
            with contextlib.suppress(Exception):
                self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._tasks:
            done, pending = await asyncio.wait(self._tasks, timeout=drain_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        log_event("broadcast_stopped", consumer=self.consumer, sent=self.sent)

    def kill(self) -> None:
        """Cancel everything at once, as if the process died (tests)."""
        self._stopping = True
        if self._scheduler is not None:
            with contextlib.suppress(Exception):
                self._scheduler.shutdown(wait=False)
            self._scheduler = None
        for task in self._tasks:
            task.cancel()

    async def join(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- helpers ------------------------------------------------------------------------
    async def _ensure_group(self, platform: str) -> None:
        try:
            await self.core.store.redis.xgroup_create(K.broadcast_stream(platform), GROUP, id="0",
                                                      mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _paused_now(self) -> bool:
        if time.monotonic() - self._paused_at >= self.options.pause_poll_s:
            # Cached per process; the time is stored only after the answer, so tasks racing at
            # start never act on the initial value.
            self._paused = bool(await self.core.store.redis.exists(K.broadcast_paused()))
            self._paused_at = time.monotonic()
        return self._paused

    def _backoff(self, attempt: int) -> float:
        o = self.options
        return min(o.backoff_max_s, o.backoff_base_s * (2 ** max(0, attempt - 1))) * random.uniform(0.8, 1.2)

    # --- workers ------------------------------------------------------------------------
    async def _worker(self, platform: str) -> None:
        stream = K.broadcast_stream(platform)
        reclaimed = self._reclaimed[platform]
        failures = 0
        while not self._stopping:
            try:
                if await self._paused_now():
                    await asyncio.sleep(self.options.pause_poll_s)
                    continue
                if not reclaimed.empty():
                    entry = reclaimed.get_nowait()
                else:
                    resp = await self.core.store.redis.xreadgroup(
                        GROUP, self.consumer, {stream: ">"}, count=1, block=self.options.read_block_ms)
                    if not resp or not resp[0][1]:
                        continue
                    entry = resp[0][1][0]
                working = self._working[platform]
                working.add(entry[0])
                try:
                    await self._process(platform, entry)
                finally:
                    working.discard(entry[0])
                failures = 0
            except asyncio.CancelledError:
                raise
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    await self._ensure_group(platform)
                    continue
                log_event("broadcast_worker_error", level=logging.ERROR, exc_info=True)
                await asyncio.sleep(1.0)
            except _OUTAGE as exc:
                failures += 1
                if failures == 1:
                    log_event("redis_connection_error", level=logging.WARNING, where="broadcast.worker",
                              error=type(exc).__name__)
                await asyncio.sleep(min(10.0, 0.5 * failures))
            except Exception:
                log_event("broadcast_worker_error", level=logging.ERROR, exc_info=True)
                await asyncio.sleep(1.0)

    async def _janitor(self, platform: str) -> None:
        """Move due retries back into the stream; take over entries of dead workers."""
        o = self.options
        last_claim = last_gc = last_beat = time.monotonic()
        beat_every = o.claim_min_idle_ms / 1000 / 3
        while not self._stopping:
            await asyncio.sleep(min(o.retry_interval_s, o.claim_interval_s, beat_every))
            try:
                if time.monotonic() - last_beat >= beat_every:
                    last_beat = time.monotonic()
                    await self._heartbeat(platform)
                if await self._paused_now():
                    continue
                await self.core.store.scripts["broadcast_retry_move"](
                    keys=[K.broadcast_retry(platform), K.broadcast_stream(platform)],
                    args=[max(10, o.workers * 4), o.stream_retention_s])
                now = time.monotonic()
                if now - last_claim >= o.claim_interval_s:
                    last_claim = now
                    await self._autoclaim(platform)
                if now - last_gc >= 600:
                    last_gc = now
                    await self._gc_consumers(platform)
            except asyncio.CancelledError:
                raise
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    await self._ensure_group(platform)
                else:
                    log_event("broadcast_janitor_error", level=logging.ERROR, exc_info=True)
            except REDIS_ERRORS:
                pass  # the workers log the outage
            except Exception:
                log_event("broadcast_janitor_error", level=logging.ERROR, exc_info=True)

    async def _heartbeat(self, platform: str) -> None:
        """Reset the idle time of the entries this process is sending (XCLAIM to itself)."""
        ids = list(self._working[platform])
        if ids:
            await self.core.store.redis.xclaim(K.broadcast_stream(platform), GROUP, self.consumer, 0, ids,
                                               justid=True)

    async def _autoclaim(self, platform: str) -> int:
        """XAUTOCLAIM entries idle longer than ``claim_min_idle_ms`` into the local queue."""
        queue = self._reclaimed[platform]
        if not queue.empty():
            return 0  # still working through the last batch
        start, taken = "0-0", 0
        while True:
            resp = await self.core.store.redis.xautoclaim(
                K.broadcast_stream(platform), GROUP, self.consumer, self.options.claim_min_idle_ms,
                start_id=start, count=max(1, self.options.workers))
            start, entries = resp[0], resp[1]
            for entry_id, fields in entries:
                if entry_id in self._working[platform]:
                    continue  # our own, still in progress
                if fields:  # None for entries trimmed from the stream (XAUTOCLAIM drops them)
                    queue.put_nowait((entry_id, fields))
                    taken += 1
            if start == "0-0" or taken >= self.options.workers:
                break
        if taken:
            log_event("broadcast_reclaimed", platform=platform, entries=taken, consumer=self.consumer)
        return taken

    async def _gc_consumers(self, platform: str) -> None:
        r = self.core.store.redis
        stream = K.broadcast_stream(platform)
        for c in await r.xinfo_consumers(stream, GROUP):
            if c["name"] != self.consumer and int(c["pending"]) == 0 \
                    and int(c["idle"]) > self.options.consumer_gc_idle_ms:
                await r.xgroup_delconsumer(stream, GROUP, c["name"])

    # --- one entry ----------------------------------------------------------------------
    async def _finish(self, platform: str, entry_id: str, uid: str, day: str, outcome: str,
                      attempt: int = 0, delay_s: float = 0.0, reason: str = "") -> None:
        o = self.options
        now = self.core.clock.now()
        keys = [K.broadcast_marks(), K.broadcast_stats(utc_day(now)), K.broadcast_stream(platform),
                K.broadcast_retry(platform), K.broadcast_dead(), K.broadcast_subs(), K.broadcast_due(),
                K.broadcast_rate(int(time.time()) // RATE_BUCKET_SECONDS)]
        args = [uid, day, GROUP, entry_id, outcome, attempt, int(delay_s * 1000), reason[:200],
                o.stats_ttl_s, o.dead_letter_maxlen, K.broadcast_mark_prefix(), PER_BUCKET, *later_days(day), int(now)]
        for i in range(3):  # the outcome is worth a few tries: without it the send reads "unknown"
            try:
                await self.core.store.scripts["broadcast_finish"](keys=keys, args=args)
                return
            except REDIS_ERRORS:
                if i == 2:
                    raise
                await asyncio.sleep(0.5 * (i + 1))

    async def _process(self, platform: str, entry: Entry) -> None:
        core = self.core
        entry_id, fields = entry
        uid, day, attempt = fields.get("u", ""), fields.get("d", ""), int(fields.get("a", "0") or 0)
        profile = await core.profiles.get(uid)
        if profile is not None and local_day(core.clock, profile.tz).isoformat() != day:
            # Late (outage, long backlog): never send a fortune for a day that is over.
            await self._finish(platform, entry_id, uid, day, "expired", attempt, reason="day over")
            return
        target = await core.accounts.target(uid, platform)
        if target is None:
            # No identity on this platform any more (unlinked, erased): stop, never retry.
            log_event("broadcast_unreachable", user=uid, platform=platform)
            await self._finish(platform, entry_id, uid, day, "unreachable", attempt, reason="no identity")
            return
        reply: Reply | None = None
        if profile is not None and profile.onboarded:
            try:
                hhmm, _ = split_sub(await core.store.redis.hget(K.broadcast_subs(), uid))
                reply = await daily_message(core, profile, date.fromisoformat(day), hhmm)
            except REDIS_ERRORS:
                raise
            except Exception as exc:  # a bug in the message: no send started, park it for operators
                log_event("broadcast_message_failed", level=logging.ERROR, exc_info=True, user=uid)
                await self._finish(platform, entry_id, uid, day, "dead", attempt + 1,
                                   reason=f"message: {type(exc).__name__}")
                return
        now = core.clock.now()
        answer = await core.store.scripts["broadcast_claim"](
            keys=[K.broadcast_marks(), K.broadcast_subs(), K.broadcast_stats(utc_day(now)),
                  K.broadcast_stream(platform), K.broadcast_due()],
            args=[uid, day, GROUP, entry_id, self.options.stats_ttl_s, K.broadcast_mark_prefix(), PER_BUCKET,
                  *later_days(day), int(now)])
        if answer != "ok":
            if answer == "unknown":
                log_event("broadcast_unknown", level=logging.WARNING, user=uid, day=day)
            return
        if reply is None:
            await self._finish(platform, entry_id, uid, day, "dead", attempt + 1, reason="no profile")
            return
        self.inflight += 1
        try:
            await self._send(platform, entry_id, uid, day, attempt, reply, target[1])
        finally:
            self.inflight -= 1

    async def _send(self, platform: str, entry_id: str, uid: str, day: str, attempt: int,
                    reply: Reply, user_id: str) -> None:
        """Send to ``user_id`` (the account's identity on ``platform``, resolved just before)."""
        pacer = self.pacers.get(platform)
        try:
            if pacer is not None:
                await pacer.wait_turn(user_id)
            sender = self.core.senders.get(platform)
            if sender is None:
                raise DeliveryFailed(f"no sender for platform {platform!r} in this process")
            await sender(user_id, reply)
        except asyncio.CancelledError:
            raise  # the marker stays "sending": a taker-over counts it unknown, never resends
        except Exception as exc:
            err = as_delivery_error(exc)
            await self._failed(platform, entry_id, uid, day, attempt, err, pacer, user_id)
            return
        await self._finish(platform, entry_id, uid, day, "sent", attempt)
        self.sent += 1

    async def _failed(self, platform: str, entry_id: str, uid: str, day: str, attempt: int,
                      err: Exception, pacer: Any, user_id: str) -> None:
        attempt += 1
        if isinstance(err, DeliveryBlocked):
            log_event("broadcast_blocked", user=uid, reason=str(err)[:120])
            await self._finish(platform, entry_id, uid, day, "blocked", attempt, reason=str(err))
            return
        if isinstance(err, DeliveryUnknown):
            log_event("broadcast_unknown", level=logging.WARNING, user=uid, day=day, reason=str(err)[:120])
            await self._finish(platform, entry_id, uid, day, "unknown", attempt, reason=str(err))
            return
        if attempt >= self.options.max_attempts:
            log_event("broadcast_dead_letter", level=logging.ERROR, user=uid, day=day, attempts=attempt,
                      reason=str(err)[:200])
            await self._finish(platform, entry_id, uid, day, "dead", attempt, reason=str(err))
            return
        if isinstance(err, DeliveryRetryAfter):
            delay = err.seconds
            if pacer is not None:
                await pacer.pause(user_id, err.seconds)
        else:
            delay = self._backoff(attempt)
        log_event("broadcast_retry", level=logging.WARNING, user=uid, day=day, attempt=attempt,
                  delay_s=round(delay, 2), reason=str(err)[:200])
        await self._finish(platform, entry_id, uid, day, "retry", attempt, delay_s=delay, reason=str(err))
