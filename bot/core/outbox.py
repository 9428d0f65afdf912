"""The durable outbox: paid answers (and notices) that must reach the user, charged only then.

Received means kept; charged means delivered. A paid command's ordered part (inside the
chat's turn, see ``bot/core/inbox.py``) takes the hold and ``enqueue``s a job; the slow part
— the AI call and the delivery — runs here, outside the chat's turn, on any process:

1. **claim** (``outbox_claim.lua``): the job's due time becomes this process's lease end
   (``delivery.takeover_seconds``, longer than the AI budget), so nobody else runs it until
   then; a dead owner's job is simply due again when its lease ends. The job's hold is
   renewed past the lease, so the expired-hold sweeper never releases a hold the outbox
   still owns.
2. **produce** (jobs without a stored reply): the job kind's ``produce`` (the AI chain) runs
   and the rendered reply is saved in the job *before* anything is sent (``outbox_step.lua``,
   fenced by owner id), so a crash after it never calls the AI again. A fallback answer
   releases the hold at once: nobody pays for a fallback.
3. **send** through the platform sender, with no hidden retries:
   - accepted → ``state=sent`` → hold captured (idempotent) → the kind's ``on_done`` hook
     ("delivered": session turn, unlock) → ``state=delivered``;
   - 5xx / 429 / network (``DeliveryFailed``, ``DeliveryRetryAfter``) → due again after
     backoff (or ``retry_after``), hold renewed, until ``delivery.retry_seconds`` have passed;
   - blocked / chat gone (``DeliveryBlocked``) or retries exhausted → hold released,
     ``on_done("failed")`` keeps the answer readable for free today, and a request made in a
     group gets a short pointer there;
   - timed out after the request left (``DeliveryUnknown``) → not charged (released), not
     resent; ``on_done("unknown")``.

Crash between steps (the worst cases): after claim, before the answer is saved → the job is
due again at lease end and the AI is asked again (the hold is unchanged); after the answer is
saved, before the send → the saved answer is sent by the next owner; after the send, before
``state=sent`` → the next owner sends it again (a duplicate message, never a second charge:
capture settles a hold once); after ``state=sent`` → the next owner only captures and
finishes. Delivery is therefore at-least-once, charging exactly-once.

Layout (v2, Redis Cluster ready): jobs are spread over ``OUTBOX_PARTITIONS`` (16) partitions by
their id (``K.outbox_partition``); a job's hash ``outbox:{ob:pN}:job:<id>`` and its partition's
due set ``outbox:{ob:pN}:due`` share the partition's hash tag, so every script here touches one
slot. The poller claims due jobs from every partition, round-robin from a rotating start, so
no partition waits behind a busy one. A job names its user by **account id** (field
``account``) and the platform to reach them on (``platform``); the platform user id is resolved
at send time (``core.accounts.target``) and never stored in the job. An account with no
identity there any more (erased, unlinked) ends the job ``failed`` and releases its hold. Job
keys are registered in the account's erasure registry before the job is written, so
``/delete`` removes them.

Redis down: ``enqueue`` raises ``ServiceUnavailable`` (the caller's hold is released by the
sweeper after its deadline); a running job stops where it is and is picked up again when
Redis is back and its lease has ended. Job payloads (questions, answers) are encrypted at
rest with the profile cipher.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from collections.abc import Awaitable, Callable

from bot.core.accounts import Accounts
from bot.core.credits import Hold
from bot.core.delivery import (
    DeliveryBlocked,
    DeliveryError,
    DeliveryRejected,
    DeliveryRetryAfter,
    ReplyTargetGone,
    DeliveryUnknown,
    as_delivery_error,
)
from bot.core.errors import ServiceUnavailable
from bot.core.logs import log_event
from bot.core.reply import Reply
from bot.core.store import K, REDIS_ERRORS, redis_guard
from bot.core.store.keys import OUTBOX_PARTITIONS

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["Outbox", "Job", "JobKind", "Produced", "FINAL_STATES"]

FINAL_STATES = frozenset({"delivered", "failed", "unknown"})
POLL_SECONDS = 0.5
#: A job claimed this many times is given up (released): a kind that keeps crashing, or one
#: this process does not know, must not hold a user's credits for ever.
MAX_RUNS = 60


@dataclass(frozen=True, slots=True)
class Produced:
    """What a job kind's ``produce`` made: the reply, whether it may be charged, data to keep."""

    reply: Reply
    charge: bool
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Job:
    id: str
    kind: str
    uid: str  # the account id
    platform: str  # the platform to reach the account on (its user id is resolved at send time)
    lang: str
    state: str
    data: dict[str, Any]
    reply: Reply | None
    charge: bool
    hold: Hold | None
    origin: str  # group chat id the request came from ("" for a private chat)
    attempts: int
    created_ms: int
    give_up_ms: int
    reply_to: str = ""  # the request's ``Event.reply_to`` (opaque, platform-made; "" = usual target)


@dataclass(frozen=True, slots=True)
class JobKind:
    """How one kind of job is made and finished. Every process registers the same kinds.

    ``produce`` is None for jobs whose reply is given at ``enqueue`` (notices, paid static
    content). ``on_done(job, outcome)`` runs once the outcome is known ("delivered", "failed",
    "unknown"); it must be idempotent (a crash may run it twice) and may raise
    ``ServiceUnavailable`` (the job is then finished again later).
    """

    produce: Callable[[Job], Awaitable[Produced]] | None = None
    on_done: Callable[[Job, str], Awaitable[None]] | None = None


class Outbox:
    """Durable outgoing answers over one Redis store; safe across tasks and processes."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.cfg = core.settings.product.delivery
        self.owner = uuid.uuid4().hex[:12]
        self.kinds: dict[str, JobKind] = {"notice": JobKind()}
        #: Platform -> a link that opens a private chat with the bot (set by adapters).
        self.dm_links: dict[str, str] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(self.cfg.workers)
        self._poller: asyncio.Task[None] | None = None
        self._stopping = False
        self._rotation = 0  # where the next poll starts among the partitions (fairness)

    # --- registration and intake ------------------------------------------------------
    def register(self, name: str, kind: JobKind) -> None:
        if name in self.kinds:
            raise ValueError(f"outbox kind {name!r} registered twice")
        self.kinds[name] = kind

    def _seal(self, job_id: str, value: Any) -> str:
        return self.core.cipher.encrypt(json.dumps(value, ensure_ascii=False), f"outbox:{job_id}", "job")

    def _open(self, job_id: str, token: str | None) -> Any:
        if not token:
            return None
        plain = self.core.cipher.decrypt(token, f"outbox:{job_id}", "job")
        return json.loads(plain) if plain is not None else None

    async def enqueue(self, job_id: str, kind: str, aid: str, *, platform: str, lang: str,
                      data: dict[str, Any] | None = None, reply: Reply | None = None, hold: Hold | None = None,
                      origin: str = "", replace_final: bool = False, kick: bool = True,
                      reply_to: str = "") -> bool:
        """Store one job for account ``aid``, to reach it on ``platform``, once per ``job_id``;
        True when created now (False: it exists).

        ``reply_to``: the request's ``Event.reply_to`` (opaque to the core, e.g. a Discord
        interaction's private follow-up): the answer goes there first; when the platform's
        sender says it can no longer be used (``ReplyTargetGone``) it goes to the account's
        usual target, in the same attempt. Kept encrypted in the job (it may hold a token).

        Two steps: 1. the job's key goes into the account's erasure registry (its slot);
        2. the job is written (``outbox_enqueue.lua``, the partition's slot): atomic and
        idempotent per job id. A crash between them leaves a registry entry for a key that does
        not exist (erasure skips it; it expires). ``replace_final`` lets a job id that ended
        failed/unknown be used again (a new purchase after an undelivered one). Raises
        ``ServiceUnavailable`` when Redis is down.
        """
        if kind not in self.kinds:
            raise ValueError(f"unknown outbox kind {kind!r}")
        if reply is None and self.kinds[kind].produce is None:
            raise ValueError(f"outbox kind {kind!r} needs a reply at enqueue")
        now = self.core.clock.now_ms()
        give_up = now + int(self.cfg.retry_seconds * 1000)
        fields: dict[str, Any] = {
            "kind": kind, "account": aid, "platform": platform, "lang": lang,
            "state": "answered" if reply is not None else "new",
            "data": self._seal(job_id, data or {}), "origin": origin, "attempts": 0, "created": now,
            "give_up": give_up,
            "charge": "1" if hold is not None and reply is not None else "0",
        }
        if reply is not None:
            fields["reply"] = self._seal(job_id, reply.to_dict())
        if hold is not None:
            fields.update({"hold": hold.hold_id, "hold_account": hold.account, "hold_amount": hold.amount})
        if reply_to:
            fields["reply_to"] = self._seal(job_id, {"to": reply_to})
        flat = [x for kv in fields.items() for x in kv]
        # Registered for /delete before it exists; the entry outlives any job (a job is final by
        # give-up plus its runs, then kept ``keep_seconds``).
        lifetime_ms = give_up + int((MAX_RUNS * self.cfg.takeover_seconds + self.cfg.keep_seconds) * 1000)
        await self.core.accounts.track(aid, [Accounts.key_entry(K.outbox_job(job_id))], lifetime_ms)
        async with redis_guard("outbox.enqueue"):
            created = bool(await self.core.store.scripts["outbox_enqueue"](
                keys=_keys(job_id), args=[job_id, now, "1" if replace_final else "0", *flat]))
        if created:
            log_event("outbox_enqueued", job=job_id, kind=kind, user=aid, held=hold.amount if hold else 0)
            if kick:
                self.kick(job_id)
        return created

    async def state(self, job_id: str) -> str | None:
        """The job's state (new, answered, sent, delivered, failed, unknown) or None."""
        async with redis_guard("outbox.state"):
            state: str | None = await self.core.store.redis.hget(K.outbox_job(job_id), "state")
        return state

    async def figures(self) -> dict[str, int]:
        """Jobs queued (retries and answers on their way) and overdue (past their lease by more
        than a takeover: nobody is running them), summed over every partition, for health
        checks and metrics. One pipeline (not a transaction: the partitions are in different
        slots), so the sum is not one instant's snapshot."""
        now = self.core.clock.now_ms()
        late = now - int(self.cfg.takeover_seconds * 1000)
        async with redis_guard("outbox.figures"):
            async with self.core.store.redis.pipeline(transaction=False) as pipe:
                for p in range(OUTBOX_PARTITIONS):
                    pipe.zcard(K.outbox_due(p))
                    pipe.zcount(K.outbox_due(p), "-inf", late)
                counts = await pipe.execute()
        queued, overdue = sum(counts[0::2]), sum(counts[1::2])
        return {"outbox_queued": int(queued), "outbox_overdue": int(overdue), "outbox_running_here": len(self._running)}

    async def due_jobs(self, until_ms: int, limit: int) -> list[str]:
        """Up to ``limit`` job ids due by ``until_ms``, fairly from every partition: each
        partition gives up to ``limit`` of its earliest, then they are interleaved round-robin
        starting at a partition that rotates per call, so a busy partition never starves the
        others. One pipeline over the partitions."""
        start = self._rotation % OUTBOX_PARTITIONS
        self._rotation += 1
        order = [(start + i) % OUTBOX_PARTITIONS for i in range(OUTBOX_PARTITIONS)]
        async with self.core.store.redis.pipeline(transaction=False) as pipe:
            for p in order:
                pipe.zrangebyscore(K.outbox_due(p), "-inf", until_ms, 0, limit)
            lists = await pipe.execute()
        merged = [job for row in itertools.zip_longest(*lists) for job in row if job is not None]
        return merged[:limit]

    # --- running ----------------------------------------------------------------------
    def kick(self, job_id: str) -> None:
        """Run ``job_id`` in this process now (if it is due and not already running here)."""
        if self._stopping or job_id in self._running:
            return
        task = asyncio.get_running_loop().create_task(self._guarded_run(job_id))
        self._running[job_id] = task

        def forget(_: asyncio.Task[None]) -> None:
            self._running.pop(job_id, None)

        task.add_done_callback(forget)

    async def _guarded_run(self, job_id: str) -> None:
        async with self._slots:
            try:
                await self.run_once(job_id)
            except (ServiceUnavailable, *REDIS_ERRORS):  # type: ignore[misc]
                log_event("outbox_redis_unavailable", level=logging.WARNING, job=job_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log_event("outbox_job_crashed", level=logging.ERROR, exc_info=True, job=job_id)

    async def start(self) -> None:
        """Poll for due jobs (retries, a dead process's work) until ``stop``."""
        if self._poller is None:
            self._stopping = False
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        while not self._stopping:
            try:
                async with redis_guard("outbox.poll"):
                    due = await self.due_jobs(self.core.clock.now_ms(), self.cfg.workers)
                for job_id in due:
                    self.kick(job_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an outage or an error reply: poll again, never die
                log_event("outbox_poll_failed", level=logging.WARNING, error=type(exc).__name__)
            await asyncio.sleep(POLL_SECONDS)

    async def stop(self, grace: float | None = None) -> None:
        """Stop taking jobs; let running ones finish within ``grace`` s, hand the rest back."""
        self._stopping = True
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        tasks = dict(self._running)
        if not tasks:
            return
        wait = self.cfg.shutdown_grace_seconds if grace is None else grace
        _, pending = await asyncio.wait(set(tasks.values()), timeout=wait)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for job_id, task in tasks.items():
            if task in pending:  # hand it back: due now for the next process
                with contextlib.suppress(Exception):
                    await self._step(job_id, self.core.clock.now_ms())
                log_event("outbox_handed_back", job=job_id)

    async def drain(self, timeout: float = 30.0) -> bool:
        """Wait until nothing is running here and nothing is due soon (tests, the console)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._running:
                await asyncio.wait(set(self._running.values()), timeout=max(0.0, deadline - time.monotonic()))
                continue
            async with redis_guard("outbox.drain"):
                due = await self.due_jobs(self.core.clock.now_ms() + 1000, OUTBOX_PARTITIONS)
            if not due:
                return True
            for job_id in due:
                self.kick(job_id)
            await asyncio.sleep(0.05)
        return False

    # --- one job ----------------------------------------------------------------------
    def _decode(self, job_id: str, raw: dict[str, str]) -> Job:
        hold = None
        if raw.get("hold"):
            hold = Hold(raw["hold_account"], raw["hold"], int(raw.get("hold_amount", 0)))
        reply_d = self._open(job_id, raw.get("reply"))
        return Job(job_id, raw["kind"], raw.get("account", ""), raw.get("platform", ""), raw.get("lang", "ko"),
                   raw["state"],
                   self._open(job_id, raw.get("data")) or {}, Reply.from_dict(reply_d) if reply_d else None,
                   raw.get("charge") == "1", hold, raw.get("origin", ""), int(raw.get("attempts", 0)),
                   int(raw.get("created", 0)), int(raw.get("give_up", 0)),
                   str((self._open(job_id, raw.get("reply_to")) or {}).get("to", "")))

    async def _step(self, job_id: str, next_due: int | None, keep: int = 0, **fields: Any) -> bool:
        """Record progress while we still own the job (fenced); False when it was taken over."""
        flat = [x for kv in fields.items() for x in kv]
        async with redis_guard("outbox.step"):
            return bool(await self.core.store.scripts["outbox_step"](
                keys=_keys(job_id), args=[job_id, self.owner, "" if next_due is None else next_due, keep, *flat]))

    async def run_once(self, job_id: str) -> str | None:
        """Claim and advance one job; returns its state afterwards (None: not ours to run)."""
        takeover_ms = int(self.cfg.takeover_seconds * 1000)
        now = self.core.clock.now_ms()
        lease = now + takeover_ms
        async with redis_guard("outbox.claim"):
            flat = await self.core.store.scripts["outbox_claim"](
                keys=_keys(job_id), args=[job_id, now, lease, self.owner])
        if not flat:
            return None
        raw = dict(zip(flat[::2], flat[1::2]))
        job = self._decode(job_id, raw)
        if job.state in ("new", "answered") and (
                job.kind not in self.kinds or int(raw.get("runs", 1)) > MAX_RUNS
                or (job.state == "new" and now > job.give_up_ms)):
            log_event("outbox_given_up", level=logging.ERROR, job=job.id, kind=job.kind, runs=raw.get("runs"))
            return await self._finish(job, "failed", error="given up: unknown kind, crashing or too old")
        if job.state in ("new", "answered") and job.platform not in self.core.senders:
            # Not a platform this process serves: leave it to one that does (soon), unless it
            # is too old for anyone to still deliver.
            if now > job.give_up_ms:
                return await self._finish(job, "failed", error="no process serves this platform")
            await self._step(job.id, now + 1000)
            return None
        if job.hold is not None and job.state in ("new", "answered", "sent"):
            await self.core.ledger.renew(job.hold, lease + takeover_ms)
        if job.state == "new":
            if not await self._produce(job, lease):
                return None
        if job.state == "answered":
            return await self._send(job)
        if job.state == "sent":
            return await self._finish(job, "delivered")
        # A final job that is still due (a crash after its last step): just finish the bookkeeping.
        await self._step(job.id, None, keep=self.cfg.keep_seconds)
        return job.state

    async def _produce(self, job: Job, lease: int) -> bool:
        kind = self.kinds[job.kind]
        assert kind.produce is not None
        try:
            produced = await kind.produce(job)
        except ServiceUnavailable:
            raise
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log_event("outbox_produce_failed", level=logging.ERROR, exc_info=True, job=job.id, kind=job.kind, ref=ref)
            self.core.capture_exception(ref=ref, job_kind=job.kind)
            from bot.core.errors import ErrorCode
            from bot.core.i18n import normalize_lang, t

            produced = Produced(Reply(t(normalize_lang(job.lang), "error.internal_error_ref", ref=ref),
                                      error=ErrorCode.INTERNAL_ERROR), charge=False)
        data = {**job.data, **produced.data}
        if not await self._step(job.id, lease, state="answered", charge="1" if produced.charge else "0",
                                reply=self._seal(job.id, produced.reply.to_dict()), data=self._seal(job.id, data)):
            log_event("outbox_taken_over", job=job.id, at="produce")
            return False
        if not produced.charge and job.hold is not None:
            await self.core.ledger.release(job.hold, "ai fallback")  # never charged for a fallback
        job.state, job.reply, job.charge, job.data = "answered", produced.reply, produced.charge, data
        return True

    async def _send(self, job: Job) -> str | None:
        assert job.reply is not None
        if job.reply_to:
            try:
                await self.core.send(job.platform, job.reply_to, job.reply, retries=0)
            except ReplyTargetGone as err:  # e.g. the interaction's 15 minutes are over: a DM instead
                log_event("outbox_reply_to_gone", job=job.id, user=job.uid, error=str(err)[:200])
            except DeliveryError as err:
                return await self._send_failed(job, err)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                return await self._send_failed(job, as_delivery_error(exc))
            else:
                return await self._sent(job)
        target = await self.core.accounts.target(job.uid, job.platform) if job.uid else None
        if target is None:
            # The account has no identity on this platform any more (erased, unlinked): nobody
            # to deliver to. Never charged; the hold goes back.
            log_event("outbox_unreachable", level=logging.WARNING, job=job.id, user=job.uid, platform=job.platform)
            return await self._finish(job, "failed", error="no identity on the platform")
        try:
            await self.core.send(job.platform, target[1], job.reply, retries=0)
        except DeliveryError as err:
            return await self._send_failed(job, err)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a sender bug or an unmapped error: retry like a failure
            return await self._send_failed(job, as_delivery_error(exc))
        return await self._sent(job)

    async def _sent(self, job: Job) -> str | None:
        """The platform accepted the answer: record it, then settle (capture) and finish."""
        if not await self._step(job.id, self.core.clock.now_ms() + int(self.cfg.takeover_seconds * 1000),
                                state="sent"):
            return None
        return await self._finish(job, "delivered")

    async def _send_failed(self, job: Job, err: DeliveryError) -> str | None:
        now = self.core.clock.now_ms()
        attempts = job.attempts + 1
        reason = type(err).__name__
        if isinstance(err, DeliveryUnknown):
            log_event("outbox_delivery_unknown", level=logging.WARNING, job=job.id, user=job.uid)
            return await self._finish(job, "unknown", error=str(err)[:200])
        if isinstance(err, (DeliveryBlocked, DeliveryRejected)) or now >= job.give_up_ms:
            log_event("outbox_delivery_failed", level=logging.WARNING, job=job.id, user=job.uid, reason=reason,
                      attempts=attempts)
            return await self._finish(job, "failed", error=f"{reason}: {err}"[:200])
        if isinstance(err, DeliveryRetryAfter):
            delay = max(err.seconds, self.cfg.backoff_base_seconds)
        else:
            delay = min(self.cfg.backoff_max_seconds, self.cfg.backoff_base_seconds * 2 ** (attempts - 1))
        next_due = now + int(delay * 1000)
        if job.hold is not None:
            await self.core.ledger.renew(job.hold, next_due + int(self.cfg.takeover_seconds * 2000))
        await self._step(job.id, next_due, attempts=attempts, error=f"{reason}: {err}"[:200])
        log_event("outbox_retry", job=job.id, reason=reason, attempts=attempts, delay_s=round(delay, 2))
        return "answered"

    async def _finish(self, job: Job, outcome: str, error: str = "") -> str | None:
        """Settle the money, run the kind's hook, mark the job final. Each step is idempotent."""
        charged = False
        if job.hold is not None:
            if outcome == "delivered" and job.charge:
                charged = (await self.core.ledger.capture(job.hold, f"{job.kind} delivered")) == "captured"
            else:
                await self.core.ledger.release(job.hold, f"{job.kind} {outcome}")
        kind = self.kinds.get(job.kind)
        if kind is not None and kind.on_done is not None:
            try:
                await kind.on_done(job, outcome)
            except ServiceUnavailable:
                raise  # Redis: finish again later (the money above is already settled, once)
            except Exception:  # a hook bug must not keep the job (and its hold) alive
                log_event("outbox_hook_failed", level=logging.ERROR, exc_info=True, job=job.id, kind=job.kind)
        if outcome == "failed" and job.origin:
            await self._point_from_group(job)
        fields: dict[str, Any] = {"state": outcome}
        if error:
            fields["error"] = error
        if not await self._step(job.id, None, keep=self.cfg.keep_seconds, **fields):
            return None
        log_event("outbox_done", job=job.id, kind=job.kind, user=job.uid, outcome=outcome, charged=charged,
                  attempts=job.attempts)
        return outcome

    async def _point_from_group(self, job: Job) -> None:
        """The user asked in a group and we cannot reach them privately: say so there, kindly."""
        from bot.core.i18n import normalize_lang, t
        from bot.core.reply import Button

        lang = normalize_lang(job.lang)
        link = self.dm_links.get(job.platform)
        buttons = [[Button(t(lang, "delivery.open_dm_button"), url=link)]] if link else []
        note = Reply(t(lang, "delivery.dm_unreachable"), buttons=buttons)
        try:
            await self.core.send(job.platform, f"chat:{job.origin}", note, retries=0)
        except Exception as exc:  # best effort: nothing was charged either way
            log_event("outbox_group_pointer_failed", level=logging.WARNING, job=job.id, error=type(exc).__name__)


def _keys(job_id: str) -> list[str]:
    """A job's hash and its partition's due set (one hash tag: one slot)."""
    return [K.outbox_job(job_id), K.outbox_due(K.outbox_partition(job_id))]
