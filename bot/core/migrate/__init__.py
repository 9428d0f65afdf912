"""Key layout v1 -> v2: ``python -m bot migrate`` (this module), the v1 key names
(``v1.py``) and the start-up layout check (``startup.py``).

Layout v1 (up to commit bba5aa1) named keys after the platform identity (``profile:tg:123``,
``ledger:tg:123``, ``idem:tg:123:<key>`` …) and kept platform ids in values (payment ``uid``,
invite inviter/invitee, broadcast subscribers, outbox jobs, pairs). Layout v2
(``bot/core/store/keys.py``) keys everything by an opaque account id behind ``ident:<digest>``.
``migrate_v1_to_v2`` converts a v1 dataset **in place**, on one standalone Redis (a v1 dataset
cannot exist on a cluster; a cluster is refused), with every bot process stopped.

Steps (``STEPS``, run in this order; each family is one step):

1. ``accounts`` — one SCAN finds every v1 uid (``tg:123``) and anonymised ledger id
   (``anon:<hex>``, left by v1 /delete) in key names and values. Each gets a new random
   account id, recorded **first** in ``layout:migrate:v2:map`` (HSETNX, so a rerun reuses
   it). Uids that still have data of a live user (profile, credits, sessions, pairs, invites,
   subscriptions, jobs …) get their identity mapped (``ident:<digest>``, ``acct:{aid}`` with
   ``id:<platform>`` / ``pd:<platform>``); uids that only left payment records and kept
   idempotency records behind (people who used v1 /delete) and ``anon:`` ledgers become
   accounts **without** an identity — what a v2 erasure leaves. Every account joins
   ``accounts:all``.
2. ``holds`` — open v1 holds are settled with the v1 semantics (the v1 ``hold_settle.lua``
   arithmetic and entry shape, one MULTI each): *captured* when their outbox job already
   reached the user (state ``sent``/``delivered``), else *released* (credit back, ledger
   entry ``release``). No v1 hold survives: its id is not a v2 hold id, and migrated outbox
   jobs carry no hold (an answer still on its way is then delivered without charge). The
   v1 hold hashes and the v1 members of ``holds:deadline`` go.
3. ``ledger`` — ``credits:`` / ``ledger:`` / ``ledger:ckpt:`` of each uid and ``anon:`` id
   RENAMEd together (one MULTI) to the account's tagged keys.
4. ``idempotency`` — ``idem:<uid>:<key>`` -> ``idem:{aid}:<key>`` (TTL kept). Welcome markers
   ``idem:welcome:<d>`` -> ``welcome:<d>`` = the account of the person (matched by the same
   keyed hash of each uid; ``erased`` when no uid is left for it), plus
   ``idem:{aid}:welcome`` = the v1 marker's stored first result, so the bonus is never
   granted twice.
5. ``profiles`` — birth data is decrypted with the uid as owner (associated data
   ``"tg:123|birth"``) and re-encrypted under the current key with the account id as owner,
   then the hash is RENAMEd, in one MULTI. A value that does not decrypt (corrupt) is kept as
   it was (it was unreadable before too); a value under a key that is not configured stops
   the migration (add the key and run again).
6. ``sessions`` — ``session:`` / ``unlock:`` / ``aicache:`` keys RENAMEd (TTL kept), each
   recorded in the account's erasure registry in the same MULTI; in-flight ``aicache:…:lock``
   keys dropped.
7. ``streaks``; 8. ``invites`` — invite hashes get account ids as inviter/invitee, and an
   accepted invite's decisions (``rw_inviter``, ``rw_invitee``, and ``counted``: its pair-seen
   marker holds its ``paired_at``) are copied to ``invite:{pairs}:decided:<id>`` in the same
   MULTI; ``invite:user:`` lists RENAMEd; 9. ``pairs`` — ``pairs:`` sets rewritten with account
   ids (one MULTI each), ``pair:<a>|<b>`` hashes dropped; 10. ``pair_markers`` — pair-seen,
   invitee-paid and reward-day markers RENAMEd into ``{pairs}`` (their keyed digests are kept
   as they are); 11. ``leaderboards`` — members recomputed as ``Leaderboard.member(aid)``
   (scores summed per new member), one MULTI per board.
12. ``payments`` — ``payment:tg:<charge>`` -> ``payment:{pay}:tg:<charge>`` with ``account``
   instead of ``uid`` (and the invoice payload's buyer part rewritten), index and day sums
   RENAMEd; 13. ``broadcast`` — subscribers (``"HH:MM|<platform>"``), due index, day markers,
   retry set and the queue / dead-letter streams (same entry ids, ``u`` = account id) moved
   into ``{b}`` in chunks of one MULTI each; stats and the pause flag RENAMEd; 14. ``outbox``
   — jobs RENAMEd into their partition with ``account`` / ``platform`` instead of ``uid``
   (their hold dropped, see 2; an AI reading's cache and lock key names inside the encrypted
   job data rewritten), due entries moved to the partition's due set.
15. ``transient`` — dropped, they rebuild themselves: rate-limit windows and notes
   (``ratelimit:*`` except ``ratelimit:config``), ``tg:update:*`` markers, ``outbound:*``
   pacing and pauses, the v1 AI breaker state (``ai:breaker:<provider>*``); also dropped in
   their families: ``aicache:…:lock``, payment refund locks, ``bcast:rate:*``, ``bcast:pace:*``,
   ``pair:*``, settled v1 hold hashes.
16. ``indexes`` — ``profiles:all`` and ``credits:accounts`` deleted.
17. ``verify`` — a SCAN must find no v1 key (and no v1 member of ``holds:deadline``), else the
   migration stops and names the families left; keys it does not recognise are counted.
Then the map is deleted (it pairs every platform id with its account), and
``layout:version`` is set to ``"2"``. Unchanged names are kept as they are: ``inbox:*``,
``ai:spend:*``, ``ratelimit:config``, ``secret:signing:dev``, ``invite:<id>``.

**Resumable and idempotent.** ``layout:migrate:v2`` records ``started``, each finished step
(``step:<name>`` = ``done``) and ``finished``. Within a step every write is safe to repeat and
a rerun repeats none that already happened: keys move with RENAMENX / a MULTI that renames
only what still exists (a source that is gone was moved before), markers are written with NX
(after checking they are missing) before their source is deleted, chunks of hash fields / set
members / stream entries move in one MULTI each, identities and index entries are written only
where missing. Work goes in sorted key order, so a resumed run writes exactly what a clean run
would. A crash (or Ctrl-C, or Redis going away) at any point and a rerun give the same result
as one clean run; ``stop_after`` (tests) interrupts after that many writes. The order at the
end (map deleted, then ``layout:version`` set, then ``finished``) means a v2 bot never starts
while the map exists. Redis down: the Redis error propagates (nothing half-written: each write
is one command or one MULTI); run the command again.

**Assumptions** (the migration cannot check them): every bot process is stopped (it refuses
while inbox partition leases are held); it runs with the bot's ``SIGNING_SECRET`` (welcome,
pair and leaderboard markers are keyed with it) and encryption keys; and the v2 features
compute the pair-seen / invitee-paid / reward-day marker digests from the platform identity
the way v1 did (the digests are moved unchanged).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from redis.exceptions import ResponseError, WatchError

from bot.core.accounts import NEVER, key_entry, new_account_id
from bot.core.crypto import UnknownKeyId
from bot.core.leaderboard import Leaderboard
from bot.core.logs import log_event
from bot.core.migrate.startup import LayoutError, check_layout
from bot.core.migrate.v1 import V1, is_uid, known_v2, split_uid, v1_account_id, v1_family
from bot.core.profiles import ENCRYPTED_FIELDS
from bot.core.store import K
from bot.core.store.keys import LAYOUT_VERSION

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["migrate_v1_to_v2", "check_layout", "Migration", "MigrationReport", "MigrationError",
           "MigrationRefused", "MigrationInterrupted", "LayoutError", "STEPS", "V1", "v1_family",
           "ERASED_OWNER"]

STEPS = ("accounts", "holds", "ledger", "idempotency", "profiles", "sessions", "streaks", "invites",
         "pairs", "pair_markers", "leaderboards", "payments", "broadcast", "outbox", "transient",
         "indexes", "verify")
#: The owner a welcome marker gets when no v1 uid is left for its person (erased in v1).
ERASED_OWNER = "erased"


class MigrationError(RuntimeError):
    """The migration cannot go on (a conflict, a missing key); nothing half-written, fix and rerun."""


class MigrationRefused(MigrationError):
    """Not run at all: a cluster, or bot processes still running."""


class MigrationInterrupted(RuntimeError):
    """``stop_after`` writes were made (tests simulate a crash with it)."""


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _stream_id(raw: str) -> tuple[int, int]:
    ms, _, seq = raw.partition("-")
    return int(ms), int(seq or 0)


# --- the report -----------------------------------------------------------------------------

@dataclass
class MigrationReport:
    """What one run did (counts of this run only; a resumed run counts what it did itself)."""

    already: bool = False
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    #: Keys of no known layout, by first name segment (left alone, for operators to look at).
    unknown: dict[str, int] = field(default_factory=dict)
    #: v1 id -> account id (in memory only: the map in Redis is deleted at the end).
    accounts: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        if self.already:
            return "already on key layout v2: nothing to do"
        return " ".join(f"{k}={v}" for k, v in sorted(self.counts.items())) or "nothing to move"


Progress = Callable[[str, "MigrationReport"], None]


# --- the migration ----------------------------------------------------------------------------

class Migration:
    """One run of the v1 -> v2 migration over ``core``'s store (see the module docstring)."""

    def __init__(self, core: Core, *, batch: int = 200, stop_after: int | None = None,
                 progress: Progress | None = None, allow_running: bool = False) -> None:
        self.core = core
        self.r = core.store.redis
        self.batch = max(1, batch)
        self._limit = stop_after
        self._units = 0
        self._progress = progress
        self._allow_running = allow_running
        self._map: dict[str, str] = {}
        self.report = MigrationReport()
        secret = core.signing_secret
        # v1 invites.py: pair digests keyed like this (the pair-seen markers' names)
        self._pair_key = hmac.new(secret, b"soul-lab/pair/v1", hashlib.sha256).digest()

    @property
    def writes(self) -> int:
        """Writes (or write batches) this run made so far."""
        return self._units

    @property
    def accounts(self) -> dict[str, str]:
        """v1 id -> account id, as far as this run knows it."""
        return dict(self._map)

    # --- plumbing -----------------------------------------------------------------------------
    async def _unit(self) -> None:
        """Called before every write: ``stop_after`` simulates a crash between two writes."""
        if self._limit is not None and self._units >= self._limit:
            raise MigrationInterrupted(f"stopped after {self._units} writes")
        self._units += 1

    def _count(self, what: str, n: int = 1) -> None:
        if n:
            self.report.counts[what] += n

    async def _scan(self, pattern: str) -> list[str]:
        """Keys matching ``pattern`` with no hash tag (v1 names), read in full before anything
        is changed (renaming while scanning could show a key twice), sorted: every run works
        through them in the same order (a resumed run writes what a clean run would)."""
        return sorted({k async for k in self.r.scan_iter(match=pattern, count=1000) if "{" not in k})

    def _conflict(self, dst: str) -> MigrationError:
        # Only the v2 name is shown: v1 names contain platform ids.
        return MigrationError(f"both the v1 key and its v2 name {dst!r} exist; this dataset was written by "
                              "v2 code before the migration. Inspect it by hand; nothing was changed for this key.")

    async def _aid(self, v1_id: str) -> str:
        """The account of a v1 id, from the map (assigned here only for an id the first step did
        not see, which needs a writer the migration did not stop)."""
        aid = self._map.get(v1_id)
        if aid is None:
            await self._unit()
            await self.r.hsetnx(K.migration_map(), v1_id, new_account_id())
            aid = str(await self.r.hget(K.migration_map(), v1_id))
            self._map[v1_id] = aid
            await self._unit()
            await self.r.sadd(K.accounts_index(), aid)
            log_event("migration_late_account", level=logging.WARNING)
        return aid

    async def _load_map(self) -> None:
        self._map = {f: v async for f, v in self.r.hscan_iter(K.migration_map(), count=1000)}

    async def _move_many(self, pairs: list[tuple[str, str]], what: str) -> None:
        """RENAMENX each (src, dst), TTLs kept. A source that is gone moved before (or expired);
        a source whose target exists is a conflict."""
        for chunk in _chunks(pairs, self.batch):
            await self._unit()
            async with self.r.pipeline(transaction=False) as pipe:
                for src, dst in chunk:
                    pipe.renamenx(src, dst)
                results = await pipe.execute(raise_on_error=False)
            for (src, dst), res in zip(chunk, results, strict=True):
                if isinstance(res, ResponseError):
                    if "no such key" in str(res).lower():
                        continue
                    raise res
                if res:
                    self._count(what)
                elif await self.r.exists(src):
                    raise self._conflict(dst)

    async def _delete_many(self, keys: list[str], what: str) -> None:
        for chunk in _chunks(keys, self.batch):
            await self._unit()
            self._count(what, int(await self.r.unlink(*chunk)))

    # --- the run -----------------------------------------------------------------------------
    async def run(self) -> MigrationReport:
        if self.core.store.topology == "cluster":
            raise MigrationRefused("a v1 dataset lives on one standalone Redis; point REDIS_URL at it "
                                   "(not at a cluster) to migrate it, then move the v2 data to the cluster")
        version = await self.r.get(K.layout_version())
        if version == str(LAYOUT_VERSION):
            self.report.already = True
            state = await self.r.hgetall(K.migration_state())
            if state and "finished" not in state:  # a run that stopped right after setting the version
                await self._unit()
                await self.r.hsetnx(K.migration_state(), "finished", str(self.core.clock.now_ms()))
            return self.report
        if version is not None:
            raise MigrationRefused(f"layout:version is {version!r}; this code migrates v1 to v{LAYOUT_VERSION} only")
        if not self._allow_running:
            await self._refuse_if_running()
        state = dict(await self.r.hgetall(K.migration_state()))
        if "started" not in state:
            await self._unit()
            await self.r.hsetnx(K.migration_state(), "started", str(self.core.clock.now_ms()))
        await self._load_map()
        log_event("migration_started", resumed=any(k.startswith("step:") for k in state))
        for name in STEPS:
            if state.get(f"step:{name}") == "done":
                continue
            await getattr(self, f"_step_{name}")()
            await self._unit()
            await self.r.hset(K.migration_state(), f"step:{name}", "done")
            log_event("migration_step", step=name, counts=dict(self.report.counts))
            if self._progress is not None:
                self._progress(name, self.report)
        self.report.accounts = dict(self._map)
        # The map pairs every platform id with its account: it goes before the version is set.
        if await self.r.exists(K.migration_map()):
            await self._unit()
            await self.r.delete(K.migration_map())
        await self._unit()
        await self.r.set(K.layout_version(), str(LAYOUT_VERSION))
        await self._unit()
        await self.r.hset(K.migration_state(), "finished", str(self.core.clock.now_ms()))
        log_event("migration_finished", accounts=len(self._map))
        return self.report

    async def _refuse_if_running(self) -> None:
        """Bot processes hold inbox partition leases while they run: refuse while one does."""
        leases = [k async for k in self.r.scan_iter(match="inbox:*:lease:*", count=1000)]
        if leases:
            raise MigrationRefused(f"{len(leases)} inbox partition lease(s) are held: a bot process is running. "
                                   "Stop every bot process (and wait for the leases to expire), then run again.")

    # --- 1. accounts -------------------------------------------------------------------------
    async def _step_accounts(self) -> None:
        live: dict[str, bool] = {}
        anons: set[str] = set()

        def see(uid: str | None, is_live: bool) -> None:
            if uid and is_uid(uid):
                live[uid] = live.get(uid, False) or is_live

        r = self.r
        async for key in r.scan_iter(match="*", count=1000):
            family = v1_family(key)
            if family is None:
                continue
            head, _, rest = key.partition(":")
            if head in ("credits", "ledger") and rest != "accounts":
                owner = v1_account_id(rest.removeprefix("ckpt:") if head == "ledger" else rest)
                if owner and owner.startswith("anon:"):
                    anons.add(owner)
                else:
                    see(owner, True)
            elif head in ("profile", "session", "unlock", "aicache", "streak", "pairs", "idem") or (
                    head == "invite" and rest.startswith("user:")):
                split = split_uid(rest.removeprefix("user:") if head == "invite" else rest)
                if split is not None:
                    see(split[0], head != "idem")
                if head == "pairs":
                    for member in await r.zrange(key, 0, -1):
                        see(member, True)
            elif head == "invite" and ":" not in rest:
                for who in await r.hmget(key, ["inviter", "invitee"]):
                    see(who, True)
            elif head == "hold":
                see(await r.hget(key, "account"), True)
            elif head == "payment" and not rest.endswith(":refund-lock"):
                see(await r.hget(key, "uid"), False)
            elif head == "outbox" and rest.startswith("job:"):
                see(await r.hget(key, "uid"), True)
            elif key in (V1.BCAST_SUBS, V1.BCAST_MARKS):
                async for f, _ in r.hscan_iter(key, count=1000):
                    see(f, True)
            elif key == V1.BCAST_DUE:
                async for m, _ in r.zscan_iter(key, count=1000):
                    see(m, True)
            elif head == "bcast" and rest.startswith("retry:"):
                async for m, _ in r.zscan_iter(key, count=1000):
                    see(m.rsplit("|", 2)[0], True)
            elif head == "bcast" and (rest.startswith("queue:") or rest == "dead"):
                for _, fields in await r.xrange(key):
                    see(fields.get("u"), True)
        await self._assign(sorted(live) + sorted(anons))
        await self._map_identities(sorted(u for u, is_live in live.items() if is_live))
        others = [self._map[x] for x in sorted(anons) + sorted(u for u, is_live in live.items() if not is_live)]
        await self._index(others)

    async def _index(self, aids: list[str]) -> None:
        """``accounts:all`` gets ``aids`` (only those not in it yet: a rerun writes nothing new)."""
        for chunk in _chunks(aids, self.batch):
            known = await self.r.smismember(K.accounts_index(), chunk)
            missing = [a for a, member in zip(chunk, known, strict=True) if not member]
            if missing:
                await self._unit()
                await self.r.sadd(K.accounts_index(), *missing)

    async def _assign(self, ids: list[str]) -> None:
        missing = [i for i in ids if i not in self._map]
        for chunk in _chunks(missing, self.batch):
            await self._unit()
            async with self.r.pipeline(transaction=False) as pipe:
                for v1_id in chunk:
                    pipe.hsetnx(K.migration_map(), v1_id, new_account_id())
                await pipe.execute()
            for v1_id, aid in zip(chunk, await self.r.hmget(K.migration_map(), chunk), strict=True):
                self._map[v1_id] = str(aid)
            self._count("accounts", len(chunk))

    async def _map_identities(self, uids: list[str]) -> None:
        """``ident:<digest>`` -> account, the account's meta and index entry: one MULTI per
        chunk (all or nothing), skipping identities already complete. An identity key naming
        another account (v2 code ran on this dataset) stops the migration."""
        accounts = self.core.accounts
        now = str(self.core.clock.now_ms())
        for chunk in _chunks(uids, self.batch):
            async with self.r.pipeline(transaction=False) as pipe:
                for uid in chunk:
                    platform = uid.partition(":")[0]
                    pipe.get(K.identity(accounts.identity_digest(uid)))
                    pipe.hmget(K.account_meta(self._map[uid]), ["created", f"id:{platform}"])
                    pipe.sismember(K.accounts_index(), self._map[uid])
                seen = await pipe.execute()
            todo = []
            for i, uid in enumerate(chunk):
                current, (created, user_id), indexed = seen[3 * i:3 * i + 3]
                if current is not None and current != self._map[uid]:
                    ikey = K.identity(accounts.identity_digest(uid))
                    raise MigrationError(f"identity key {ikey!r} already names another account "
                                         "(v2 code ran on this dataset); resolve it by hand and run again")
                if current is None or not created or not user_id or not indexed:
                    todo.append(uid)
            if not todo:
                continue
            await self._unit()
            async with self.r.pipeline(transaction=True) as pipe:
                for uid in todo:
                    aid = self._map[uid]
                    platform, _, user_id = uid.partition(":")
                    pipe.set(K.identity(accounts.identity_digest(uid)), aid, nx=True)
                    pipe.hsetnx(K.account_meta(aid), "created", now)
                    pipe.hset(K.account_meta(aid), mapping={f"id:{platform}": user_id,
                                                            f"pd:{platform}": accounts.person_digest(uid)})
                    pipe.sadd(K.accounts_index(), aid)
                await pipe.execute()
            self._count("identities", len(todo))

    # --- 2. holds ----------------------------------------------------------------------------
    async def _step_holds(self) -> None:
        job_state: dict[str, str] = {}
        for key in await self._scan("outbox:job:*"):
            hold, state = await self.r.hmget(key, ["hold", "state"])
            if hold:
                job_state[hold] = state or ""
        for key in await self._scan("hold:*"):
            hold_id = key.partition(":")[2]
            await self._settle_hold(hold_id, job_state.get(hold_id, ""))
        stale = [m for m in await self.r.zrange(K.hold_deadlines(), 0, -1) if " " in m]
        for chunk in _chunks(stale, self.batch):
            await self._unit()
            await self.r.zrem(K.hold_deadlines(), *chunk)

    async def _settle_hold(self, hold_id: str, job_state: str) -> None:
        """One v1 hold, one MULTI: an open one captured (its answer reached the user) or
        released, exactly as v1 ``hold_settle.lua`` would; the hold hash and its deadline go."""
        hkey = V1.hold(hold_id)
        async with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(hkey)
                    raw = await pipe.hgetall(hkey)
                    if not raw:
                        return
                    account = raw.get("account", "")
                    member = f"{account} {hold_id}"
                    if raw.get("status") != "held":
                        await self._unit()
                        pipe.multi()
                        pipe.delete(hkey)
                        pipe.zrem(K.hold_deadlines(), member)
                        await pipe.execute()
                        self._count("holds_dropped")
                        return
                    acct_key = raw.get("account_key") or V1.account(account)
                    ledger_key = raw.get("ledger_key") or V1.ledger(account)
                    await pipe.watch(acct_key, ledger_key)
                    balance = int(await pipe.hget(acct_key, "balance") or 0)
                    amount = int(raw.get("amount") or 0)
                    now = self.core.clock.now_ms()
                    entry_id = "m" + hashlib.sha256(f"v2-migration|{hold_id}".encode()).hexdigest()[:15]
                    capture = job_state in ("sent", "delivered")
                    entry: dict[str, Any]
                    if capture:
                        entry = {"id": entry_id, "ts": now, "kind": "capture", "amount": 0, "balance": balance,
                                 "reason": "captured by the v2 migration (answer delivered)",
                                 "hold": hkey, "captured": amount}
                    else:
                        entry = {"id": entry_id, "ts": now, "kind": "release", "amount": amount,
                                 "balance": balance + amount, "reason": "released by the v2 migration",
                                 "hold": hkey}
                    await self._unit()
                    pipe.multi()
                    pipe.hincrby(acct_key, "held", -amount)
                    if capture:
                        pipe.hincrby(acct_key, "spent", amount)
                    else:
                        pipe.hincrby(acct_key, "balance", amount)
                    pipe.lpush(ledger_key, json.dumps(entry, separators=(",", ":"), ensure_ascii=False))
                    pipe.delete(hkey)
                    pipe.zrem(K.hold_deadlines(), member)
                    await pipe.execute()
                    self._count("holds_captured" if capture else "holds_released")
                    return
                except WatchError:
                    continue

    # --- 3. ledger ---------------------------------------------------------------------------
    async def _step_ledger(self) -> None:
        owners: dict[str, None] = {}  # ordered, unique
        for key in await self._scan("credits:*") + await self._scan("ledger:*"):
            head, _, rest = key.partition(":")
            if key == V1.ACCOUNTS_INDEX:
                continue
            owner = v1_account_id(rest.removeprefix("ckpt:") if head == "ledger" else rest)
            if owner is not None:
                owners[owner] = None
        for owner in owners:
            aid = await self._aid(owner)
            await self._index([aid])  # indexed before its keys arrive
            await self._move_together([(V1.account(owner), K.account(aid)), (V1.ledger(owner), K.ledger(aid)),
                                       (V1.checkpoint(owner), K.ledger_checkpoint(aid))], "ledgers")

    async def _move_together(self, pairs: list[tuple[str, str]], what: str) -> None:
        """RENAME every existing source of ``pairs`` in one MULTI (all or nothing)."""
        keys = [k for pair in pairs for k in pair]
        async with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(*keys)
                    todo = []
                    for src, dst in pairs:
                        if await pipe.exists(src):
                            if await pipe.exists(dst):
                                raise self._conflict(dst)
                            todo.append((src, dst))
                    if not todo:
                        return
                    await self._unit()
                    pipe.multi()
                    for src, dst in todo:
                        pipe.rename(src, dst)
                    await pipe.execute()
                    self._count(what)
                    return
                except WatchError:
                    continue

    # --- 4. idempotency records and welcome markers --------------------------------------------
    async def _step_idempotency(self) -> None:
        markers = {self.core.ledger.person_marker(x): x for x in self._map if is_uid(x)}
        moves: list[tuple[str, str]] = []
        for key in await self._scan("idem:*"):
            rest = key.partition(":")[2]
            if rest.startswith("welcome:"):
                await self._move_welcome(key, rest.partition(":")[2], markers)
                continue
            split = split_uid(rest)
            if split is None or not split[1]:
                continue  # not a v1 shape: left for verify to name
            uid, idem_key = split
            moves.append((key, K.idempotency(await self._aid(uid), idem_key)))
        await self._move_many(moves, "idempotency")

    async def _move_welcome(self, key: str, digest: str, markers: dict[str, str]) -> None:
        """``idem:welcome:<d>`` (the first result of the welcome grant) -> the person's account's
        ``idem:{aid}:welcome`` (so a grant there replays) and ``welcome:<d>`` = that account.
        Each write NX, the source deleted last: a crash anywhere is finished by a rerun."""
        first = await self.r.get(key)
        if first is None:
            return
        uid = markers.get(digest)
        owner = ERASED_OWNER
        if uid is not None:
            owner = await self._aid(uid)
            if not await self.r.exists(K.idempotency(owner, "welcome")):
                await self._unit()
                await self.r.set(K.idempotency(owner, "welcome"), first, nx=True)
        if not await self.r.exists(K.welcome_marker(digest)):
            await self._unit()
            await self.r.set(K.welcome_marker(digest), owner, nx=True)
        await self._unit()
        await self.r.delete(key)
        self._count("welcome_markers")

    # --- 5. profiles -------------------------------------------------------------------------
    async def _step_profiles(self) -> None:
        for key in await self._scan("profile:*"):
            split = split_uid(key.partition(":")[2])
            if split is not None and not split[1]:
                await self._move_profile(key, split[0])

    async def _move_profile(self, src: str, uid: str) -> None:
        aid = await self._aid(uid)
        dst = K.profile(aid)
        cipher = self.core.cipher
        async with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(src, dst)
                    raw = await pipe.hgetall(src)
                    if not raw:
                        return
                    if await pipe.exists(dst):
                        raise self._conflict(dst)
                    changes: dict[str, str] = {}
                    for name in ENCRYPTED_FIELDS:
                        token = raw.get(name)
                        if not token:
                            continue
                        try:
                            plain = cipher.decrypt(token, uid, name)
                        except UnknownKeyId as exc:
                            raise MigrationError(
                                f"birth data is encrypted with key id {exc.kid}, which is not configured: add "
                                "it to PROFILE_ENCRYPTION_KEYS (after the current key) and run again") from None
                        if plain is None:  # corrupt: unreadable before, kept as it is
                            self._count("profiles_unreadable_fields")
                            continue
                        changes[name] = cipher.encrypt(plain, aid, name)
                    await self._unit()
                    pipe.multi()
                    pipe.rename(src, dst)
                    if changes:
                        pipe.hset(dst, mapping=changes)
                    await pipe.execute()
                    self._count("profiles")
                    return
                except WatchError:
                    continue

    # --- 6. sessions, unlocks, AI cache ----------------------------------------------------------
    @staticmethod
    def _session_like(head: str, aid: str, tail: str) -> str | None:
        if head == "session":
            return K.session(aid, tail)
        if head == "unlock":
            feature, sep, day = tail.rpartition(":")
            return K.unlock(aid, feature, day) if sep else None
        parts = tail.split(":")
        if len(parts) == 3:
            return K.ai_cache(aid, *parts)
        if len(parts) == 4 and parts[3] == "lock":
            return K.ai_inflight(aid, *parts[:3])
        return None

    async def _step_sessions(self) -> None:
        moves: list[tuple[str, str, str]] = []
        drops: list[str] = []
        for pattern in ("session:*", "unlock:*", "aicache:*"):
            for key in await self._scan(pattern):
                head, _, rest = key.partition(":")
                split = split_uid(rest)
                if split is None or not split[1]:
                    continue
                uid, tail = split
                if head == "aicache" and tail.endswith(":lock"):
                    drops.append(key)
                    continue
                aid = await self._aid(uid)
                dst = self._session_like(head, aid, tail)
                if dst is not None:
                    moves.append((key, dst, aid))
        await self._delete_many(drops, "dropped_locks")
        now = self.core.clock.now_ms()
        for chunk in _chunks(moves, self.batch):
            async with self.r.pipeline(transaction=False) as pipe:
                for src, _, _ in chunk:
                    pipe.pttl(src)
                ttls = await pipe.execute()
            live = [(src, dst, aid, int(ttl)) for (src, dst, aid), ttl in zip(chunk, ttls, strict=True) if ttl != -2]
            if not live:
                continue  # expired meanwhile
            # each key registered in its account's erasure registry in the MULTI that moves it
            await self._unit()
            async with self.r.pipeline(transaction=True) as pipe:
                for src, dst, aid, ttl in live:
                    pipe.zadd(K.account_registry(aid), {key_entry(dst): now + ttl if ttl > 0 else NEVER})
                    pipe.renamenx(src, dst)
                results = await pipe.execute(raise_on_error=False)
            for (src, dst, _, _), res in zip(live, results[1::2], strict=True):
                if isinstance(res, ResponseError):
                    continue  # expired between the PTTL and the MULTI
                if res:
                    self._count("sessions")
                elif await self.r.exists(src):
                    raise self._conflict(dst)

    # --- 7. streaks ----------------------------------------------------------------------------
    async def _step_streaks(self) -> None:
        moves = []
        for key in await self._scan("streak:*"):
            split = split_uid(key.partition(":")[2])
            if split is not None and not split[1]:
                moves.append((key, K.streak(await self._aid(split[0]))))
        await self._move_many(moves, "streaks")

    # --- 8. invites ----------------------------------------------------------------------------
    def _pair_digest(self, a: str, b: str) -> str:
        x, y = sorted((a, b))
        return hmac.new(self._pair_key, f"{x}|{y}".encode(), hashlib.sha256).hexdigest()[:32]

    async def _step_invites(self) -> None:
        lists = []
        for key in await self._scan("invite:*"):
            rest = key.partition(":")[2]
            if rest.startswith("user:"):
                split = split_uid(rest.partition(":")[2])
                if split is not None and not split[1]:
                    lists.append((key, K.invites_of(await self._aid(split[0]))))
            elif ":" not in rest:
                await self._convert_invite(key, rest)
        await self._move_many(lists, "invite_lists")

    async def _convert_invite(self, key: str, invite_id: str) -> None:
        """Account ids into one invite hash and, for an accepted one, its decisions into
        ``invite:{pairs}:decided:<id>`` (same expiry), in one MULTI. Already converted: skipped."""
        raw = dict(await self.r.hgetall(key))
        inviter, invitee = raw.get("inviter", ""), raw.get("invitee", "")
        if not is_uid(inviter):
            return  # converted before (an account id), or not an invite of v1
        changes = {"inviter": await self._aid(inviter)}
        if is_uid(invitee):
            changes["invitee"] = await self._aid(invitee)
        ttl = int(await self.r.pttl(key))
        decision: dict[str, str] | None = None
        if raw.get("status") == "paired":
            counted = "0"
            paired_at = raw.get("paired_at", "")
            if is_uid(invitee) and paired_at:
                digest = self._pair_digest(inviter, invitee)
                seen = await self.r.mget([V1.pair_seen(digest), K.pair_seen(digest)])
                counted = "1" if paired_at in seen else "0"
            # invites paired before v1 recorded outcomes replayed them as "1" (invite_accept.lua)
            # "done": the v1 pairing finished (its inviter was told), so a replay after the
            # migration completes nothing and notifies nobody again.
            decision = {"counted": counted, "rw_inviter": raw.get("rw_inviter") or "1",
                        "rw_invitee": raw.get("rw_invitee") or "1", "at": paired_at or "0",
                        "done": paired_at or "0"}
        await self._unit()
        async with self.r.pipeline(transaction=True) as pipe:
            if decision is not None:
                pipe.hset(K.pair_decision(invite_id), mapping=decision)
                if ttl > 0:
                    pipe.pexpire(K.pair_decision(invite_id), ttl)
            pipe.hset(key, mapping=changes)
            await pipe.execute()
        self._count("invites")

    # --- 9. pairs ------------------------------------------------------------------------------
    async def _step_pairs(self) -> None:
        for key in await self._scan("pairs:*"):
            split = split_uid(key.partition(":")[2])
            if split is not None and not split[1]:
                await self._rewrite_zset(key, K.pairs_of(await self._aid(split[0])), self._member_aid, "pairs")
        await self._delete_many(await self._scan("pair:*"), "dropped_pair_hashes")

    async def _member_aid(self, member: str) -> str:
        return await self._aid(member) if is_uid(member) else member

    async def _rewrite_zset(self, src: str, dst: str, convert: Callable[[str], Any], what: str) -> None:
        """A whole sorted set rewritten under ``dst`` with members converted (scores of members
        that become one are summed), expiry kept, source deleted: one MULTI."""
        async with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(src, dst)
                    rows = await pipe.zrange(src, 0, -1, withscores=True)
                    if not rows:
                        return
                    if await pipe.exists(dst):
                        raise self._conflict(dst)
                    ttl = int(await pipe.pttl(src))
                    scores: dict[str, float] = defaultdict(float)
                    for member, score in rows:
                        scores[await convert(member)] += float(score)
                    await self._unit()
                    pipe.multi()
                    pipe.zadd(dst, dict(scores))
                    if ttl > 0:
                        pipe.pexpire(dst, ttl)
                    pipe.delete(src)
                    await pipe.execute()
                    self._count(what)
                    return
                except WatchError:
                    continue

    # --- 10. pair markers ------------------------------------------------------------------------
    async def _step_pair_markers(self) -> None:
        """Reward guards keep their digests (v1 keyed persons with the label the v2 person
        digest uses). The pair-seen marker is re-keyed: v1 hashed the two uids, v2 hashes the
        two PERSON digests, so for every pair the migrated data knows (the pairs sets, now
        account ids: mapped back through the migration map) the v1 marker moves to the v2
        name. Markers of pairs nobody holds any more (erased in v1) cannot be re-keyed and move
        unchanged: they no longer match anyone."""
        uid_of = {aid: x for x, aid in self._map.items() if is_uid(x)}
        rekey: dict[str, str] = {}
        for aid in sorted(uid_of):  # the converted pairs sets (v2 names: not what _scan lists)
            owner, key = aid, K.pairs_of(aid)
            for other in await self.r.zrange(key, 0, -1):
                if other in uid_of:
                    a, b = uid_of[owner], uid_of[other]
                    person = self.core.accounts.person_digest
                    rekey[self._pair_digest(a, b)] = self._pair_digest(person(a), person(b))
        moves = []
        for key in await self._scan("invite:*"):
            _, kind, rest = key.split(":", 2) if key.count(":") >= 2 else (key, "", "")
            if kind == "pairseen":
                moves.append((key, K.pair_seen(rekey.get(rest, rest))))
            elif kind == "inviteepaid":
                moves.append((key, K.invitee_rewarded(rest)))
            elif kind == "rewardday":
                digest, sep, day = rest.partition(":")
                if sep:
                    moves.append((key, K.referral_rewards_day(digest, day)))
        await self._move_many(moves, "pair_markers")

    # --- 11. leaderboards ------------------------------------------------------------------------
    async def _step_leaderboards(self) -> None:
        board = Leaderboard(self.core)
        members = {board.member(x): board.member(aid) for x, aid in self._map.items() if is_uid(x)}

        async def convert(member: str) -> str:
            return members.get(member, member)

        for key in await self._scan("leaderboard:*"):
            if key == V1.LEADERBOARD_ALL:
                dst = K.leaderboard_all()
            elif key.startswith(V1.LEADERBOARD_WEEK):
                dst = K.leaderboard_week(key.removeprefix(V1.LEADERBOARD_WEEK))
            else:
                continue
            await self._rewrite_zset(key, dst, convert, "leaderboards")

    # --- 12. payments --------------------------------------------------------------------------
    async def _step_payments(self) -> None:
        locks = []
        for key in await self._scan("payment:*"):
            rest = key.partition(":")[2]
            if rest.endswith(":refund-lock"):
                locks.append(key)
                continue
            provider, sep, charge = rest.partition(":")
            if sep and charge:
                await self._convert_payment(key, K.payment(charge, provider))
        await self._delete_many(locks, "dropped_locks")
        moves = [(k, K.payments_index(k.partition(":")[2])) for k in await self._scan("payments:*")]
        moves += [(k, K.sales_day(k.partition(":")[2])) for k in await self._scan("sales:*")]
        await self._move_many(moves, "payment_indexes")

    async def _convert_payment(self, src: str, dst: str) -> None:
        async with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(src, dst)
                    raw = await pipe.hgetall(src)
                    if not raw:
                        return
                    if await pipe.exists(dst):
                        raise self._conflict(dst)
                    uid = raw.get("uid", "")
                    changes: dict[str, str] = {}
                    if is_uid(uid):
                        aid = await self._aid(uid)
                        changes["account"] = aid
                        pack, sep, buyer = raw.get("payload", "").partition("|")
                        if sep and buyer == uid:  # credits_cmd.invoice_payload: "<pack>|<buyer>"
                            changes["payload"] = f"{pack}|{aid}"
                    await self._unit()
                    pipe.multi()
                    pipe.rename(src, dst)
                    if changes:
                        pipe.hset(dst, mapping=changes)
                    pipe.hdel(dst, "uid")
                    await pipe.execute()
                    self._count("payments")
                    return
                except WatchError:
                    continue

    # --- 13. broadcast -------------------------------------------------------------------------
    async def _step_broadcast(self) -> None:
        await self._move_fields(V1.BCAST_SUBS, K.broadcast_subs(),
                                lambda uid, hhmm: f"{hhmm}|{uid.partition(':')[0]}" if is_uid(uid) else hhmm)
        await self._move_fields(V1.BCAST_MARKS, K.broadcast_marks(), lambda _uid, mark: mark)
        await self._move_members(V1.BCAST_DUE, K.broadcast_due(), self._member_aid)
        drops, moves = [], []
        for key in await self._scan("bcast:*"):
            rest = key.partition(":")[2]
            if rest.startswith("queue:"):
                await self._move_stream(key, K.broadcast_stream(rest.partition(":")[2]))
            elif rest == "dead":
                await self._move_stream(key, K.broadcast_dead())
            elif rest.startswith("retry:"):
                await self._move_members(key, K.broadcast_retry(rest.partition(":")[2]), self._retry_member)
            elif rest.startswith("stats:"):
                moves.append((key, K.broadcast_stats(rest.partition(":")[2])))
            elif rest == "paused":
                moves.append((key, K.broadcast_paused()))
            elif rest.startswith(("rate:", "pace:")):
                drops.append(key)
        await self._move_many(moves, "broadcast_keys")
        await self._delete_many(drops, "dropped_transient")

    async def _retry_member(self, member: str) -> str:
        uid, sep, rest = member.partition("|")
        return f"{await self._aid(uid)}|{rest}" if sep and is_uid(uid) else member

    async def _move_fields(self, src: str, dst: str, value: Callable[[str, str], str]) -> None:
        """Hash fields (v1 uids) into ``dst`` as account ids, a chunk per MULTI (HSET there,
        HDEL here): a field is in exactly one of the two at any time."""
        while await self.r.exists(src):
            chunk: list[tuple[str, str]] = [fv async for fv in self.r.hscan_iter(src, count=self.batch)]
            for part in _chunks(chunk, self.batch):
                mapping = {await self._member_aid(f): value(f, v) for f, v in part}
                await self._unit()
                async with self.r.pipeline(transaction=True) as pipe:
                    pipe.hset(dst, mapping=mapping)
                    pipe.hdel(src, *[f for f, _ in part])
                    await pipe.execute()
                self._count("broadcast_entries", len(part))

    async def _move_members(self, src: str, dst: str, convert: Callable[[str], Any]) -> None:
        """Sorted-set members into ``dst`` converted, scores kept, a chunk per MULTI."""
        while await self.r.exists(src):
            chunk: list[tuple[str, float]] = [ms async for ms in self.r.zscan_iter(src, count=self.batch)]
            for part in _chunks(chunk, self.batch):
                mapping = {await convert(m): s for m, s in part}
                await self._unit()
                async with self.r.pipeline(transaction=True) as pipe:
                    pipe.zadd(dst, mapping)
                    pipe.zrem(src, *[m for m, _ in part])
                    await pipe.execute()
                self._count("broadcast_entries", len(part))

    async def _move_stream(self, src: str, dst: str) -> None:
        """Stream entries into ``dst`` with the same ids (``u`` = account id), a chunk per MULTI
        (XADD there, XDEL here); then the emptied source and its consumer group go. The new
        stream's group is created by the v2 workers from id 0, so every entry is read."""
        while True:
            entries = await self.r.xrange(src, "-", "+", count=self.batch)
            if not entries:
                break
            last = await self.r.xrevrange(dst, "+", "-", count=1)
            if last and _stream_id(last[0][0]) >= _stream_id(entries[0][0]):
                raise self._conflict(dst)
            converted = []
            for entry_id, fields in entries:
                fields = dict(fields)
                if is_uid(fields.get("u")):
                    fields["u"] = await self._aid(fields["u"])
                converted.append((entry_id, fields))
            await self._unit()
            async with self.r.pipeline(transaction=True) as pipe:
                for entry_id, fields in converted:
                    pipe.xadd(dst, fields, id=entry_id)
                pipe.xdel(src, *[e for e, _ in converted])
                await pipe.execute()
            self._count("broadcast_entries", len(converted))
        if await self.r.exists(src):
            await self._unit()
            await self.r.delete(src)

    # --- 14. outbox ----------------------------------------------------------------------------
    async def _step_outbox(self) -> None:
        for key in await self._scan("outbox:job:*"):
            await self._convert_job(key, key.removeprefix("outbox:job:"))

        # due entries left without a job hash: moved to their partition like the others
        while await self.r.exists(V1.OUTBOX_DUE):
            rows = [ms async for ms in self.r.zscan_iter(V1.OUTBOX_DUE, count=self.batch)]
            for part in _chunks(rows, self.batch):
                await self._unit()
                async with self.r.pipeline(transaction=True) as pipe:
                    for job_id, score in part:
                        pipe.zadd(K.outbox_due(K.outbox_partition(job_id)), {job_id: score})
                    pipe.zrem(V1.OUTBOX_DUE, *[j for j, _ in part])
                    await pipe.execute()

    async def _convert_job(self, src: str, job_id: str) -> None:
        dst = K.outbox_job(job_id)
        async with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(src, dst, V1.OUTBOX_DUE)
                    raw = await pipe.hgetall(src)
                    if not raw:
                        return
                    if await pipe.exists(dst):
                        raise self._conflict(dst)
                    changes: dict[str, str] = {}
                    drop: list[str] = []
                    uid = raw.get("uid", "")
                    if is_uid(uid):
                        aid = await self._aid(uid)
                        changes.update(account=aid, platform=uid.partition(":")[0])
                        drop.append("uid")
                        data = self._rewrite_job_data(job_id, raw.get("data"), uid, aid)
                        if data is not None:
                            changes["data"] = data
                    if raw.get("hold"):  # settled by the holds step; a v1 hold id means nothing in v2
                        drop += ["hold", "hold_account", "hold_amount"]
                        changes["charge"] = "0"
                    due = await pipe.zscore(V1.OUTBOX_DUE, job_id)
                    await self._unit()
                    pipe.multi()
                    pipe.rename(src, dst)
                    if changes:
                        pipe.hset(dst, mapping=changes)
                    if drop:
                        pipe.hdel(dst, *drop)
                    if due is not None:
                        pipe.zadd(K.outbox_due(K.outbox_partition(job_id)), {job_id: due})
                        pipe.zrem(V1.OUTBOX_DUE, job_id)
                    await pipe.execute()
                    self._count("outbox_jobs")
                    return
                except WatchError:
                    continue

    def _rewrite_job_data(self, job_id: str, token: str | None, uid: str, aid: str) -> str | None:
        """The job's encrypted data with the v1 AI cache / lock key names it carries (an AI
        reading's ``cache`` and ``lock``) renamed to v2; None when nothing changes."""
        if not token:
            return None
        owner = f"outbox:{job_id}"  # outbox._seal: the job id is the owner, unchanged by the move
        try:
            plain = self.core.cipher.decrypt(token, owner, "job")
        except UnknownKeyId as exc:
            raise MigrationError(f"an outbox job is encrypted with key id {exc.kid}, which is not "
                                 "configured: add it to PROFILE_ENCRYPTION_KEYS and run again") from None
        if plain is None:
            return None
        data = json.loads(plain)
        if not isinstance(data, dict):
            return None
        changed = False
        prefix = f"aicache:{uid}:"
        for name in ("cache", "lock"):
            value = data.get(name)
            if isinstance(value, str) and value.startswith(prefix):
                new = self._session_like("aicache", aid, value.removeprefix(prefix))
                if new is not None:
                    data[name] = new
                    changed = True
        if not changed:
            return None
        return self.core.cipher.encrypt(json.dumps(data, ensure_ascii=False), owner, "job")

    # --- 15-17. transient keys, v1 indexes, verification -----------------------------------------
    async def _step_transient(self) -> None:
        keys: list[str] = []
        for pattern in ("ratelimit:*", "tg:update:*", "outbound:*", "ai:breaker:*"):
            keys += [k for k in await self._scan(pattern) if v1_family(k) == "transient"]
        await self._delete_many(keys, "dropped_transient")

    async def _step_indexes(self) -> None:
        if await self.r.exists(V1.PROFILES_INDEX, V1.ACCOUNTS_INDEX):
            await self._unit()
            self._count("dropped_indexes", int(await self.r.delete(V1.PROFILES_INDEX, V1.ACCOUNTS_INDEX)))

    async def _step_verify(self) -> None:
        left: dict[str, int] = defaultdict(int)
        unknown: dict[str, int] = defaultdict(int)
        async for key in self.r.scan_iter(match="*", count=1000):
            family = v1_family(key)
            if family == "invites" and ":" not in key.partition(":")[2]:
                if is_uid(await self.r.hget(key, "inviter")):
                    left[family] += 1
            elif family is not None:
                left[family] += 1
            elif not known_v2(key):
                unknown[key.partition(":")[0]] += 1
        left["holds"] += sum(1 for m in await self.r.zrange(K.hold_deadlines(), 0, -1) if " " in m)
        left = {k: v for k, v in left.items() if v}
        self.report.unknown = dict(unknown)
        if unknown:
            log_event("migration_unknown_keys", level=logging.WARNING, families=dict(unknown))
        if left:
            raise MigrationError(
                "v1 keys are left after every step (" + ", ".join(f"{k}: {v}" for k, v in sorted(left.items()))
                + "): they have a shape this migration does not know. Inspect them (redis-cli --scan), "
                "move or delete them by hand, and run again; layout:version is not set until none is left.")


async def migrate_v1_to_v2(core: Core, *, batch: int = 200, stop_after: int | None = None,
                           progress: Progress | None = None, allow_running: bool = False) -> MigrationReport:
    """Convert a v1 dataset to key layout v2 in place (see the module docstring). Idempotent
    and resumable; returns what this run did. Raises ``MigrationRefused`` (a cluster, a running
    bot, another layout version), ``MigrationError`` (a conflict or a missing key: fix, rerun),
    ``MigrationInterrupted`` (``stop_after``), or a Redis error (rerun)."""
    return await Migration(core, batch=batch, stop_after=stop_after, progress=progress,
                           allow_running=allow_running).run()
