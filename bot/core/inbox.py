"""The durable inbox: every received update is kept in Redis before the platform is told.

Received means kept. An adapter calls ``Inbox.put`` with the updates it received and only
then acknowledges them to the platform (the webhook answers 200; long polling advances its
offset). ``put`` drops duplicates at intake: one Lua script per partition touched claims each
update id (``SET NX``) and appends the new ones to the partition's stream
(``inbox_store.lua``; its keys share the partition's hash tag), so a redelivered update, or
one seen by two processes, is stored once.

Order and ownership. Chats hash to ``delivery.inbox_partitions`` streams. Each partition is
owned by one process at a time (a Redis lease renewed every third of
``delivery.takeover_seconds``); the owner reads its partitions in stream order and hands
entries to a per-chat ordered dispatcher (``bot/core/dispatch.py``), so one chat's updates
run one after another across processes, while different chats run concurrently. An entry is
deleted (``XDEL``, batched every few ms) once handled, so a partition's stream holds exactly
the work not yet done: a process that dies leaves it there, its lease runs out, and the next owner reads the
partition from the start. Payloads are encrypted at rest with the profile cipher (a typed
birth date may be in one). An entry names its chat only by a keyed hash (field ``c``,
``chat_ref``: HMAC with the signing secret), which orders the chat's entries; the stream
holds no platform id in the clear. Partitions are chosen from the chat id itself
(``partition_of``, FNV-1a as before), so the chat -> partition mapping did not change.

Guarantees (also in docs/ARCHITECTURE.md): handling is **at-least-once** — after a crash or
a lost lease an update may be handled again, so replies may repeat; **money is exactly-once**
because every charge carries an idempotency key derived from the update id. A lost lease
stops this process from starting the partition's queued entries (the new owner takes them,
in order). Nothing is dropped here: reading pauses while too much is queued in-process
(``MAX_PENDING``), and a flood is thinned by the router (one rate-limit note per window, the
rest acknowledged and dropped quickly). A process owning more than its fair share of
partitions gives idle ones back, so new processes get work. Every background loop survives
any Redis error reply (OOM, READONLY, UNBLOCKED on failover) and carries on.

Handled where received (``put(..., handle_here=True)``, the Discord adapter): an update whose
partition this process owns is handed to the dispatcher at once, with the payload it already
has in memory, instead of waiting for the read loop to read, decrypt and decode it back (on a
Redis Cluster the read loop polls every ``CLUSTER_POLL_SECONDS``). The stored entry then only
serves a takeover: the read loop still sees it and skips it (it is in flight here), and it is
deleted once handled like any other. Whichever path sees the entry first submits it (both
run on this event loop), never both. Updates of partitions owned elsewhere go through the
owner's read loop as before. Per-chat order is kept among the entries this process handles;
an entry of the same chat stored by *another* process just before and not yet read here may
run after a local one (one Discord user acting on two shards in the same instant).

Redis down: ``put`` raises ``ServiceUnavailable`` (the adapter does not acknowledge, so the
platform keeps the update); reading pauses and resumes; leases lapse and are re-taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import math
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from collections.abc import Awaitable, Callable, Collection, Sequence

from bot.core.dispatch import ChatDispatcher
from bot.core.errors import ServiceUnavailable
from bot.core.hashing import KeyedHash, fnv1a_64
from bot.core.logs import log_event
from bot.core.store import K, REDIS_ERRORS, redis_guard

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["Inbox", "InboxEntry", "SEEN_TTL_SECONDS"]

#: How long an update id is remembered at intake (Telegram keeps undelivered updates 24 h).
SEEN_TTL_SECONDS = 2 * 86400
READ_BLOCK_MS = 500
READ_COUNT = 256
#: Entries handed to the dispatcher and not yet handled, above which reading pauses.
MAX_PENDING = 2000
DELETE_BATCH_SECONDS = 0.005
#: On a Redis Cluster streams are polled (one XREAD per partition; see ``_read_each``).
CLUSTER_POLL_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class InboxEntry:
    partition: int
    entry_id: str
    chat: str  # the chat's keyed hash (``Inbox.chat_ref``), not its id
    source_id: str
    payload: dict[str, Any]


Handler = Callable[[InboxEntry], Awaitable[None]]


class Inbox:
    """One platform's durable inbox: intake (``put``) and consumption (``start``/``stop``)."""

    def __init__(self, core: Core, platform: str, handler: Handler, *, max_concurrent: int = 256) -> None:
        self.core = core
        self.platform = platform
        self.handler = handler
        self.cfg = core.settings.product.delivery
        self.partitions = self.cfg.inbox_partitions
        self.owner = f"{platform}-{uuid.uuid4().hex[:12]}"
        self._chat_key = KeyedHash(hmac.digest(core.signing_secret, b"soul-lab/inbox-chat/v1", "sha256"))
        self.dispatcher = ChatDispatcher(max_concurrent)
        self._owned: dict[int, str] = {}  # partition -> last entry id read
        #: Entries read and not yet deleted in Redis, per partition: never submitted twice here.
        self._inflight: dict[int, set[str]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._wake = asyncio.Event()
        self._done: dict[int, list[str]] = {}  # handled entries waiting to be deleted, per partition
        self._done_flag = asyncio.Event()
        #: Updates being stored with ``handle_here``: (partition, update id) -> (chat, payload).
        self._local: dict[tuple[int, str], tuple[str, dict[str, Any]]] = {}

    # --- intake -----------------------------------------------------------------------
    def partition_of(self, chat: str) -> int:
        return fnv1a_64(f"{self.platform}:{chat}") % self.partitions

    def chat_ref(self, chat: str) -> str:
        """What an entry stores for its chat (field ``c``): a keyed hash (16 hex), the same in
        every process, so per-chat ordering works without naming the chat id."""
        return self._chat_key.hexdigest(f"{self.platform}:{chat}".encode())[:16]

    def _seal(self, payload: dict[str, Any]) -> str:
        return self.core.cipher.encrypt(json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
                                        f"inbox:{self.platform}", "update")

    async def put(self, items: Sequence[tuple[str, str, dict[str, Any]]], *,
                  replicate: Collection[str] = (), handle_here: bool = False) -> list[bool]:
        """Store ``(update id, chat key, payload)`` items; True for each stored now.

        ``handle_here``: each item stored now whose partition this process owns is handed to
        the dispatcher directly (see the module docstring); the rest wait for their owner.

        One script per partition touched (``inbox_store.lua``: every key of it shares the
        partition's hash tag), run concurrently. Idempotent per update id. Raises
        ``ServiceUnavailable`` when Redis is down: nothing is acknowledged then (a partition
        already written is deduplicated when the platform delivers the batch again).

        ``replicate``: update ids that carry money (a Telegram ``successful_payment``). For
        the partitions holding them, ``put`` also waits until the stream is on a replica
        (``Store.wait_replicated``, up to ``delivery.replica_wait_ms``) — also when the
        update was a duplicate already stored, since its first ``put`` may have failed
        here — and raises ``ServiceUnavailable("replica")`` when no replica acknowledged,
        so the platform is not told and delivers the update again. Replication is
        asynchronous: without this, a failover right after the acknowledgement could
        promote a replica that never saw the payment, and nobody would deliver it again.
        Waiting at intake is enough for what happens later: a primary's replication stream
        is ordered, so if a failover loses the grant made while handling the entry, it also
        loses the later ``XDEL`` of that entry; the entry is still in the stream and is
        handled again, and the grant (idempotent per charge id) is re-applied. That
        argument holds per primary; on a Redis Cluster the ledger keys may live on another
        primary than the partition, which it does not cover.
        """
        if not items:
            return []
        script = self.core.store.scripts["inbox_store"]
        now = self.core.clock.now_ms()
        groups: dict[int, list[int]] = {}
        for i, (_, chat, _) in enumerate(items):
            groups.setdefault(self.partition_of(chat), []).append(i)
        local: list[tuple[int, str]] = []
        if handle_here:
            # Registered before the write: the read loop may see the entry before this
            # coroutine sees the script's answer; it then takes the payload from here.
            for p, idx in groups.items():
                for i in idx:
                    local.append((p, items[i][0]))
                    self._local[local[-1]] = (items[i][1], items[i][2])

        async def store(p: int, idx: list[int]) -> list[Any]:
            keys = [K.inbox_stream(self.platform, p), *(K.inbox_seen(self.platform, p, items[i][0]) for i in idx)]
            args: list[Any] = [SEEN_TTL_SECONDS, now]
            for i in idx:
                source_id, chat, payload = items[i]
                args += [self.chat_ref(chat), source_id, self._seal(payload)]
            return list(await script(keys=keys, args=args))

        try:
            async with redis_guard("inbox.put"):
                results = await asyncio.gather(*(store(p, idx) for p, idx in groups.items()))
                if replicate:
                    await self._replicated(sorted({p for p, idx in groups.items()
                                                   if any(items[i][0] in replicate for i in idx)}))
        finally:
            claimed = {key: self._local.pop(key, None) for key in local}
        stored = [False] * len(items)
        for (p, idx), ids in zip(groups.items(), results):
            for i, entry_id in zip(idx, ids):
                stored[i] = entry_id != 0
                if stored[i] and claimed.get((p, items[i][0])) is not None:
                    self._handle_local(p, str(entry_id), items[i][1], items[i][0], items[i][2])
        dupes = len(stored) - sum(stored)
        if dupes:
            log_event("inbox_duplicate", platform=self.platform, count=dupes)
        return stored

    async def _replicated(self, partitions: list[int]) -> None:
        """Wait until these partitions' streams are on a replica, or raise ``ServiceUnavailable``."""
        store, wait_ms = self.core.store, self.cfg.replica_wait_ms
        acked = await asyncio.gather(*(store.wait_replicated(K.inbox_stream(self.platform, p), wait_ms)
                                       for p in partitions))
        if not all(acked):
            log_event("inbox_replica_timeout", level=logging.WARNING, platform=self.platform,
                      partitions=[p for p, ok in zip(partitions, acked) if not ok], wait_ms=wait_ms)
            raise ServiceUnavailable("replica")

    # --- consumption ------------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = False
        loop = asyncio.get_running_loop()
        await self._lease_round()  # own partitions before the first read
        self._tasks = [loop.create_task(self._lease_loop()), loop.create_task(self._read_loop()),
                       loop.create_task(self._delete_loop())]
        log_event("inbox_started", platform=self.platform, owner=self.owner, partitions=sorted(self._owned))

    async def stop(self, grace: float | None = None) -> None:
        """Stop reading; let handlers in flight finish within ``grace``; give leases back.

        Entries not finished stay in their streams, so the next owner handles them: nothing
        is dropped by a shutdown.
        """
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self.dispatcher.join(timeout=self.cfg.shutdown_grace_seconds if grace is None else grace)
        await self._flush_deletes()
        owned, self._owned = list(self._owned), {}
        with contextlib.suppress(*REDIS_ERRORS):
            for p in owned:
                await self.core.store.scripts["lease_release"](keys=[K.inbox_lease(self.platform, p)],
                                                               args=[self.owner])
            await self.core.store.redis.zrem(K.inbox_members(self.platform), self.owner)
        log_event("inbox_stopped", platform=self.platform, owner=self.owner, released=len(owned))

    @property
    def owned(self) -> list[int]:
        return sorted(self._owned)

    async def _lease_round(self) -> None:
        """Renew our leases, then take free partitions up to a fair share of the live owners."""
        r = self.core.store.redis
        lease_ms = int(self.cfg.takeover_seconds * 1000)
        now = self.core.clock.now_ms()
        try:
            for p in list(self._owned):
                ok = await self.core.store.scripts["lease_renew"](keys=[K.inbox_lease(self.platform, p)],
                                                                  args=[self.owner, lease_ms])
                if not ok:
                    self._owned.pop(p, None)
                    log_event("inbox_lease_lost", level=logging.WARNING, platform=self.platform, partition=p)
            members = K.inbox_members(self.platform)
            async with r.pipeline(transaction=False) as pipe:
                pipe.zadd(members, {self.owner: now})
                pipe.zremrangebyscore(members, "-inf", now - lease_ms)
                pipe.zcard(members)
                _, _, live = await pipe.execute()
            share = math.ceil(self.partitions / max(1, int(live)))
            for p in sorted(self._owned, reverse=True):  # more than our share: give idle ones back
                if len(self._owned) <= share:
                    break
                if not self._inflight.get(p):
                    await self.core.store.scripts["lease_release"](keys=[K.inbox_lease(self.platform, p)],
                                                                   args=[self.owner])
                    self._owned.pop(p, None)
                    log_event("inbox_partition_released", platform=self.platform, partition=p, share=share)
            gained = []
            for p in range(self.partitions):
                if len(self._owned) >= share:
                    break
                if p in self._owned:
                    continue
                if await r.set(K.inbox_lease(self.platform, p), self.owner, nx=True, px=lease_ms):
                    self._owned[p] = "0-0"  # read everything still pending in it
                    gained.append(p)
            if gained:
                log_event("inbox_partitions_taken", platform=self.platform, owner=self.owner, partitions=gained)
                self._wake.set()
        except Exception as exc:  # an outage or an error reply: try again next round, never die
            log_event("redis_connection_error", level=logging.WARNING, operation="inbox.lease",
                      error=type(exc).__name__)

    async def _lease_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.cfg.takeover_seconds / 3)
            await self._lease_round()

    async def _read_loop(self) -> None:
        r = self.core.store.redis
        while not self._stopping:
            if not self._owned:
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                continue
            if self.dispatcher.pending >= MAX_PENDING:  # backpressure: read on once handlers catch up
                await asyncio.sleep(0.02)
                continue
            names = {K.inbox_stream(self.platform, p): p for p in self._owned}
            streams = {name: self._owned[p] for name, p in names.items()}
            try:
                if self.core.store.topology == "cluster":
                    batches = await self._read_each(streams)
                else:
                    batches = await r.xread(streams, count=READ_COUNT, block=READ_BLOCK_MS)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # outage, UNBLOCKED by a failover, ...: wait and read again
                log_event("redis_connection_error", level=logging.WARNING, operation="inbox.read",
                          error=type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            for stream, entries in batches or []:
                p = names[stream]
                if p not in self._owned:
                    continue  # lost meanwhile: the new owner reads it
                inflight = self._inflight.setdefault(p, set())
                for entry_id, fields in entries:
                    self._owned[p] = entry_id
                    if entry_id in inflight:
                        continue  # still being handled (or deleted) here since before a lease change
                    local = self._local.pop((p, fields.get("s", "")), None)
                    if local is not None:  # being stored with handle_here: its payload is here
                        self._handle_local(p, entry_id, local[0], fields.get("s", ""), local[1])
                        continue
                    inflight.add(entry_id)
                    self._submit(p, entry_id, fields)

    async def _read_each(self, streams: dict[str, str]) -> list[Any]:
        """On a Redis Cluster: partitions' streams live in different hash slots, and one XREAD
        may only name keys of one slot. So each stream is read on its own (one pipeline, split
        by node, no blocking); with nothing new, wait a moment (or until woken) and report none."""
        async with self.core.store.redis.pipeline(transaction=False) as pipe:
            for name, last in streams.items():
                pipe.xread({name: last}, count=READ_COUNT)
            results = await pipe.execute()
        batches = [batch for result in results for batch in (result or [])]
        if not batches:
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=CLUSTER_POLL_SECONDS)
        return batches

    def _handle_local(self, p: int, entry_id: str, chat: str, source_id: str, payload: dict[str, Any]) -> None:
        """Run an entry just stored here without reading it back (``put(handle_here=True)``);
        called by ``put`` or by the read loop, whichever sees the entry first."""
        inflight = self._inflight.setdefault(p, set())
        if entry_id in inflight or self._stopping or p not in self._owned:
            return  # already taken here, or left for the partition's owner
        inflight.add(entry_id)
        entry = InboxEntry(p, entry_id, self.chat_ref(chat), source_id, payload)

        async def job() -> None:
            await self._run_entry(entry)

        self.dispatcher.submit(entry.chat, job)

    def _submit(self, p: int, entry_id: str, fields: dict[str, str]) -> None:
        chat = fields.get("c", "")

        async def job() -> None:
            await self._run(p, entry_id, fields)

        self.dispatcher.submit(chat, job)

    async def _run(self, p: int, entry_id: str, fields: dict[str, str]) -> None:
        if p not in self._owned:
            # The lease was lost while this waited its turn: the new owner handles it (in order).
            self._inflight.get(p, set()).discard(entry_id)
            return
        try:
            plain = self.core.cipher.decrypt(fields.get("p", ""), f"inbox:{self.platform}", "update")
        except Exception:  # a key id this process does not have
            plain = None
        if plain is None:  # unreadable (a key the process does not have): keep it for one that does
            log_event("inbox_entry_unreadable", level=logging.ERROR, platform=self.platform, entry=entry_id)
            return
        await self._run_entry(InboxEntry(p, entry_id, fields.get("c", ""), fields.get("s", ""), json.loads(plain)))

    async def _run_entry(self, entry: InboxEntry) -> None:
        """Handle one entry (retrying while the handler reports ``ServiceUnavailable``), then
        delete it."""
        p, entry_id = entry.partition, entry.entry_id
        if p not in self._owned:
            self._inflight.get(p, set()).discard(entry_id)
            return
        delay = 0.5
        while True:
            try:
                await self.handler(entry)
                break
            except asyncio.CancelledError:
                raise  # shutdown past its grace: the entry stays for the next owner
            except ServiceUnavailable:
                # The handler could not finish something that must not be dropped (a payment
                # grant): keep the entry and retry in place, which also keeps the chat's order.
                if self._stopping or p not in self._owned:
                    self._inflight.get(p, set()).discard(entry_id)
                    return  # left in the stream for whoever owns the partition next
                log_event("inbox_entry_retry", level=logging.WARNING, platform=self.platform, delay_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            except Exception:  # handlers report their own errors; never lose the partition's worker
                log_event("inbox_handler_failed", level=logging.ERROR, exc_info=True, platform=self.platform)
                break
        self._delete(p, entry_id)

    def _delete(self, p: int, entry_id: str) -> None:
        """Forget a handled entry. Deletes are batched (one ``XDEL`` per partition every few
        ms); a crash before the batch is written means those entries are handled again by the
        next owner (at-least-once, money exactly-once by idempotency keys)."""
        self._done.setdefault(p, []).append(entry_id)
        self._done_flag.set()

    async def _delete_loop(self) -> None:
        while not self._stopping:
            await self._done_flag.wait()
            await asyncio.sleep(DELETE_BATCH_SECONDS)  # let a burst's deletes gather
            await self._flush_deletes()

    async def _flush_deletes(self) -> None:
        """Write pending deletes; on any failure they are kept for the next round."""
        self._done_flag.clear()
        batch, self._done = self._done, {}
        if not batch:
            return
        try:
            async with self.core.store.redis.pipeline(transaction=False) as pipe:
                for p, ids in batch.items():
                    pipe.xdel(K.inbox_stream(self.platform, p), *ids)
                await pipe.execute()
        except Exception as exc:
            for p, ids in batch.items():
                self._done.setdefault(p, []).extend(ids)
            self._done_flag.set()
            log_event("redis_connection_error", level=logging.WARNING, operation="inbox.delete",
                      error=type(exc).__name__)
            await asyncio.sleep(1.0)
            return
        for p, ids in batch.items():
            self._inflight.get(p, set()).difference_update(ids)

    async def pending(self) -> int:
        """Entries stored and not yet handled, over every partition (ops, tests)."""
        async with redis_guard("inbox.pending"):
            async with self.core.store.redis.pipeline(transaction=False) as pipe:
                for p in range(self.partitions):
                    pipe.xlen(K.inbox_stream(self.platform, p))
                return sum(await pipe.execute())

