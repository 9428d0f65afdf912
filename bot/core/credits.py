"""The credits (복채) ledger: balances, holds, idempotent changes, reconciliation.

Invariants, enforced inside Redis by one Lua script per change:
- balance and ledger change together, atomically; balance never goes negative;
- every change carries an idempotency key; replaying a key changes nothing and returns
  the first result (``status == "replay"``);
- for every account, balance == sum of its ledger entries' amounts (``reconcile``);
- money only moves on a hold's own account (``hold_settle.lua`` refuses other keys).

Compaction: each account's ledger list keeps the newest ``credits.ledger_keep_entries``
entries; once it is a quarter longer, ``ledger_compact.lua`` folds the oldest into the
account's checkpoint (``K.ledger_checkpoint``: count, sum, running balance, and the holds
whose hold entry was folded while they were still open). Reconciliation reads the checkpoint
plus the kept entries, so it stays exact and O(keep) for accounts of any age. Compaction is one
script (atomic, crash-safe, re-runnable) and runs after a write pushed the list past the
threshold; a failed compaction is logged and retried by the next write, never surfaced.

Paid AI work is a *hold*: the cost is debited when the hold is created, then the hold is
either *captured* (a real answer was delivered; ledger amount 0) or *released* (fallback or
failure; the cost comes back). Holds left by a crashed process are released after their
deadline by ``release_expired``.

Redis down: every method raises ``ServiceUnavailable`` and nothing is half-written.
Prices come from configuration only; no method takes a price from user input.
"""

from __future__ import annotations

import hmac
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.accounts import claim_welcome
from bot.core.clock import Clock
from bot.core.errors import BotError, ErrorCode, ServiceUnavailable
from bot.core.ids import random_hex
from bot.core.logs import log_event
from bot.core.settings import Settings
from bot.core.store import K, Store, redis_guard
from bot.core.store.coalesce import Call, Script

__all__ = ["Ledger", "LedgerResult", "Grant", "Hold", "Entry", "Reconciliation", "AmountError", "Checkpoint"]

SETTLED_HOLD_TTL = 7 * 86400
#: Most entries one ``ledger_compact.lua`` call folds (bounds the time Redis is busy with it).
COMPACT_BATCH = 1000
LEGACY_GEN = "legacy"
#: The reason of an entry whose stored reason is empty (system kinds whose reason never varies).
DEFAULT_REASONS = {"bonus": "welcome bonus"}
#: The account-hash field that keeps the welcome bonus's idempotency record (see ``_apply``).
WELCOME_FIELD = "i:welcome"


class AmountError(BotError):
    """Zero, negative where not allowed, non-integer, or absurdly large amounts."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.VALIDATION_ERROR, "credits.bad_amount")


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    ts: int
    kind: str
    amount: int
    balance: int
    reason: str
    gen: str = LEGACY_GEN  # the account generation it was written on (see ledger_apply.lua)
    hold: str = ""  # the hold id, for hold / capture / release entries

    @classmethod
    def parse(cls, raw: str, gen: str | None) -> Entry:
        """One stored ledger entry of an account whose generation is ``gen`` ("" / None:
        legacy), in either format.

        Positional text (written now by ``ledger_apply.lua``, ``hold_create.lua``,
        ``hold_settle.lua``): ``<kind>|<amount>|<balance after>|<ts ms>|<entry id>|<hold id>|
        <captured>|<reason>`` — the reason is last and may hold ``|``; an empty reason means
        ``DEFAULT_REASONS[kind]``; entry id ``=`` is the account's generation (its first entry,
        kept in the account hash as ``e0``); the entry belongs to the account's generation.
        JSON (written before; carries its own ``gen``): read as it is.
        """
        if raw.startswith("{"):
            return cls.from_dict(json.loads(raw))
        kind, amount, balance, ts, eid, hold, _captured, reason = raw.split("|", 7)
        if eid == "=":
            eid = gen or ""
        return cls(eid, int(ts), kind, int(amount), int(balance), reason or DEFAULT_REASONS.get(kind, ""),
                   gen or LEGACY_GEN, hold)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Entry:
        return cls(d["id"], int(d["ts"]), d["kind"], int(d["amount"]), int(d["balance"]), d.get("reason", ""),
                   str(d.get("gen") or LEGACY_GEN), str(d.get("hold") or ""))


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The compacted-away part of one ledger (all zero when nothing was folded yet)."""

    count: int = 0
    sum: int = 0
    balance_at: int = 0
    ts: int = 0
    open_holds: dict[str, int] | None = None
    legacy_purchases: tuple[str, ...] = ()

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> Checkpoint:
        if not raw:
            return cls()
        return cls(int(raw.get("count", 0)), int(raw.get("sum", 0)), int(raw.get("balance_at", 0)),
                   int(raw.get("ts", 0)), {k: int(v) for k, v in json.loads(raw.get("open") or "{}").items()},
                   tuple(json.loads(raw.get("purchases") or "[]")))


@dataclass(frozen=True, slots=True)
class Grant:
    """One credit grant for ``Ledger.grant_each`` (the arguments of ``Ledger.grant``)."""

    uid: str
    amount: int
    reason: str
    idem_key: str
    kind: str = "grant"
    keep_forever: bool = False


@dataclass(frozen=True, slots=True)
class LedgerResult:
    status: str  # "ok" | "replay"
    balance: int
    entry_id: str

    @property
    def replayed(self) -> bool:
        return self.status == "replay"


@dataclass(frozen=True, slots=True)
class Hold:
    account: str
    hold_id: str
    amount: int
    replayed: bool = False
    status: str = "held"


@dataclass(frozen=True, slots=True)
class Reconciliation:
    account: str
    balance: int
    ledger_sum: int
    held: int
    open_holds: int
    entries: int = 0  # all entries ever written: checkpoint count + kept entries

    @property
    def ok(self) -> bool:
        return self.balance == self.ledger_sum and self.held == self.open_holds and self.balance >= 0


def _entry_id() -> str:
    return random_hex(8)


@dataclass(frozen=True, slots=True)
class _Record:
    """What an idempotency record tells a replay: the first call's balance and entry, and for
    a hold its id."""

    balance: int
    entry: Entry
    hold_id: str | None = None


def _decode_record(raw: str, uid: str, acct_gen: str = "") -> _Record:
    """Decode an idempotency record of account ``uid`` (generation ``acct_gen``) in either format.

    Compact (written now; ``ledger_apply.lua`` / ``hold_create.lua``):
    ``~<kind>|<entry id>|<amount>|<balance after>|<gen>[|<hold id suffix>]`` — ``<gen>`` is
    ``=`` for "the entry's own id", empty for a legacy account; ``<entry id>`` is ``=`` for
    "the account's generation" (only in records kept in the account hash, e.g. the welcome
    bonus's). The entry's ``ts`` and ``reason`` are not kept (0 and ""): no replay path reads
    them, and the ledger has them.
    Old (before the compact format; also what ``migrate`` copied from v1): the whole first
    result as JSON, ``{"status": "ok", "balance": .., "entry": {..}, "hold": ..}``. Both are
    read, so no migration is needed; old records simply age out with their TTL (payment and
    reward records are kept forever and stay in the old format).
    """
    if raw.startswith("~"):
        parts = raw[1:].split("|")
        kind, entry_id, amount, balance, gen = parts[:5]
        if entry_id == "=":
            entry_id = acct_gen
        gen = entry_id if gen == "=" else (gen or LEGACY_GEN)
        hold_id = K.hold_id_of(uid, parts[5]) if len(parts) > 5 and parts[5] else None
        return _Record(int(balance), Entry(entry_id, 0, kind, int(amount), int(balance), "", gen), hold_id)
    d = json.loads(raw)
    return _Record(int(d["balance"]), Entry.from_dict(d["entry"]), d.get("hold"))


class Ledger:
    """Credits service over one Redis store. Safe to share across tasks and processes."""

    def __init__(self, store: Store, settings: Settings, clock: Clock, secret: bytes) -> None:
        self._store = store
        self._r = store.redis
        self._cfg = settings.product.credits
        self._keep = self._cfg.ledger_keep_entries
        # Compact once the list is a quarter over ``keep``: one fold per ~keep/4 writes.
        self._compact_at = self._keep + max(16, self._keep // 4)
        self._clock = clock
        self._secret = secret  # the Core's signing secret (bot.core.secrets): welcome-bonus marker
        #: Accounts this process has put in ``accounts:all`` (so it is one SADD per process).
        self._indexed: set[str] = set()
        self._ttl = self._cfg.idempotency_ttl_seconds

    async def _index(self, uid: str) -> None:
        """Add the account to the global index *before* its first ledger write here (a crash
        in between leaves an indexed account with no entries, which reconciles as empty)."""
        if uid in self._indexed:
            return
        async with redis_guard("credits.index"):
            await self._r.sadd(K.accounts_index(), uid)
        self._remember_indexed(uid)

    def _remember_indexed(self, uid: str) -> None:
        if len(self._indexed) > 100_000:
            self._indexed.clear()
        self._indexed.add(uid)

    # --- validation --------------------------------------------------------------
    def _check_amount(self, amount: Any) -> int:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise AmountError()
        if amount <= 0 or amount > self._cfg.max_amount:
            raise AmountError()
        return amount

    @staticmethod
    def _check_key(idem_key: str) -> str:
        if not idem_key or len(idem_key) > 200:
            raise ValueError("idempotency key must be 1..200 characters")
        return idem_key

    def cost(self, feature: str) -> int:
        """The server-side price of a paid feature (KeyError for an unknown feature)."""
        return self._cfg.costs[feature]

    # --- reads --------------------------------------------------------------------
    async def balance(self, uid: str) -> int:
        async with redis_guard("credits.balance"):
            raw = await self._r.hget(K.account(uid), "balance")
        return int(raw or 0)

    async def account(self, uid: str) -> dict[str, int]:
        async with redis_guard("credits.account"):
            raw = await self._r.hgetall(K.account(uid))
        return {k: int(raw.get(k, 0)) for k in ("balance", "held", "earned", "spent")}

    async def history(self, uid: str, limit: int = 5) -> list[Entry]:
        """The newest ``limit`` entries, newest first (at most ``ledger_keep_entries`` are kept).
        One read script (``ledger_history.lua``): the list plus the account's first entry
        (``e0``, kept in the account hash until compaction folds it)."""
        if limit < 1:
            return []
        async with redis_guard("credits.history"):
            rows, gen, e0 = await self._store.scripts["ledger_history"](keys=[K.account(uid), K.ledger(uid)],
                                                                        args=[limit])
        if e0:
            rows = [*rows, e0]
        return [Entry.parse(r, gen) for r in rows]

    # --- changes ------------------------------------------------------------------
    def _change_calls(self, uid: str, amount: int, kind: str, reason: str, idem_key: str,
                      ttl: int | None, field: str = "") -> tuple[list[Call], str]:
        """The calls of one ledger change (``_apply``) and its new entry id: the index SADD when
        this process has not indexed ``uid`` yet, then ``ledger_apply.lua``."""
        self._check_key(idem_key)
        if "|" in kind or "|" in field:
            raise ValueError("a ledger kind or record field must not contain '|'")
        if reason == DEFAULT_REASONS.get(kind):
            reason = ""  # stored empty, read back as the default (a few bytes per entry)
        entry_id = _entry_id()
        packed = (f"{amount}|{kind}|{self._clock.now_ms()}|{entry_id}|{self._ttl if ttl is None else ttl}|"
                  f"{field}|{reason[:120]}")
        apply = Script("ledger_apply", K.ledger_change(uid, idem_key), (packed,))
        if uid in self._indexed:
            return [apply], entry_id
        # indexed first, in the same pipeline (in order on one server; one by one on a cluster)
        return [("SADD", K.accounts_index(), uid), apply], entry_id

    async def _run_changes(self, calls: list[Call], kind: str) -> list[Any]:
        """``calls`` through the store's coalescer (concurrent changes of other accounts share a
        pipeline; each change is still its own atomic script call); Redis errors answered as
        ``redis_guard`` does, without its cost on the hot path."""
        try:
            return await self._store.batch.run(calls)
        except Exception as exc:
            await redis_guard(f"credits.{kind}").__aexit__(type(exc), exc, exc.__traceback__)
            raise

    async def _change_result(self, uid: str, res: Any, entry_id: str) -> tuple[str, int, str, int]:
        """(status, balance, entry id, ledger length) from ``ledger_apply.lua``'s reply; compacts
        when the write pushed the list past the threshold."""
        status = res[0]
        if status == "ok":
            if res[2] > self._compact_at:
                await self._compact_after_write(uid)
            return "ok", int(res[1]), entry_id, int(res[2])
        if status == "replay":
            rec = _decode_record(res[1], uid, res[2])
            return "replay", rec.balance, rec.entry.id, 0
        return str(status), int(res[1]), "", 0

    async def _apply(self, uid: str, amount: int, kind: str, reason: str, idem_key: str,
                     ttl: int | None, field: str = "") -> tuple[str, int, str, int]:
        """One ``ledger_apply.lua`` call: (status, balance, entry id, ledger length).

        The hot path of every spend: one EVALSHA with one packed argument and an array reply
        (no JSON); the account is indexed (``SADD accounts:all``) once per process, queued just
        before its first write here (same pipeline, in order: a crash in between leaves an
        indexed account without that entry, which reconciles).
        ``field``: keep the idempotency record in that field of the account hash instead of its
        own key (the welcome bonus). Atomic and idempotent (the script); Redis down:
        ``ServiceUnavailable`` and nothing written (or, if the connection dropped mid-call,
        the change either happened or not: the caller retries with the same key).
        """
        calls, entry_id = self._change_calls(uid, amount, kind, reason, idem_key, ttl, field)
        replies = await self._run_changes(calls, kind)
        if len(calls) > 1:
            self._remember_indexed(uid)
        return await self._change_result(uid, replies[-1], entry_id)

    async def _after_write(self, uid: str, length: int) -> None:
        """Compact when a write pushed the list past the threshold (``length``: the list's
        length the write reported)."""
        if length > self._compact_at:
            await self._compact_after_write(uid)

    async def _compact_after_write(self, uid: str) -> None:
        """Never raises for Redis: the write itself succeeded, and the next write (or
        ``compact``) tries again."""
        try:
            await self.compact(uid)
        except ServiceUnavailable:
            log_event("credits_compact_deferred", level=logging.WARNING, account=uid)

    async def compact(self, uid: str) -> int:
        """Fold all but the newest ``ledger_keep_entries`` entries into the checkpoint.

        Each ``ledger_compact.lua`` call is atomic (a crash leaves the old or the new state,
        never a half) and folds at most ``COMPACT_BATCH`` entries; calls repeat until the
        list is at ``keep``. Idempotent: an already-compact ledger is left alone. Safe to run
        concurrently with spends and holds and with itself. Returns the entries folded.
        """
        script = self._store.scripts["ledger_compact"]
        keys = [K.ledger(uid), K.ledger_checkpoint(uid), K.account(uid)]
        folded = 0
        while True:
            async with redis_guard("credits.compact"):
                n, _left = await script(keys=keys, args=[self._keep, COMPACT_BATCH, self._clock.now_ms()])
            folded += int(n)
            if int(n) < COMPACT_BATCH:
                break
        if folded:
            log_event("credits_compacted", account=uid, folded=folded)
        return folded

    async def compact_all(self) -> int:
        """Compact every account over its threshold (old ledgers written before compaction
        existed). Returns the entries folded."""
        async with redis_guard("credits.compact_all"):
            members = [m async for m in self._r.sscan_iter(K.accounts_index(), count=500)]
        folded = 0
        for account in members:
            async with redis_guard("credits.compact_all"):
                length = int(await self._r.llen(K.ledger(account)))
            if length > self._keep:
                folded += await self.compact(account)
        return folded

    async def checkpoint(self, uid: str) -> Checkpoint:
        async with redis_guard("credits.checkpoint"):
            raw = await self._r.hgetall(K.ledger_checkpoint(uid))
        return Checkpoint.from_hash(raw)

    async def grant(self, uid: str, amount: int, reason: str, idem_key: str, *, kind: str = "grant",
                    keep_forever: bool = False) -> LedgerResult:
        """Add credits. Idempotent per (uid, idem_key). ``keep_forever`` for payment grants."""
        amount = self._check_amount(amount)
        status, balance, entry_id, _ = await self._apply(uid, amount, kind, reason, idem_key,
                                                         0 if keep_forever else None)
        if status == "ok":
            log_event("credits_granted", account=uid, amount=amount, kind=kind, reason=reason)
        return LedgerResult(status, balance, entry_id)

    async def grant_each(self, grants: Sequence[Grant]) -> list[LedgerResult]:
        """Several ``grant`` calls (other accounts, or other keys) sent as one batch: each is its
        own atomic, idempotent script call, exactly as ``grant``; they are independent, so a
        crash or an error between them leaves some done and the rest for the retry (same keys:
        nothing is paid twice). Raises the first error, like ``asyncio.gather`` of ``grant``
        calls, after the others ran. Results in the order given."""
        planned = []
        calls: list[Call] = []
        for g in grants:
            amount = self._check_amount(g.amount)
            mine, entry_id = self._change_calls(g.uid, amount, g.kind, g.reason, g.idem_key,
                                                0 if g.keep_forever else None)
            planned.append((g, amount, entry_id, len(calls), len(mine)))
            calls += mine
        if not calls:
            return []
        replies = await self._run_changes(calls, "grant")
        out = []
        for g, amount, entry_id, at, n in planned:
            if n > 1:
                self._remember_indexed(g.uid)
            status, balance, entry_id, _ = await self._change_result(g.uid, replies[at + n - 1], entry_id)
            if status == "ok":
                log_event("credits_granted", account=g.uid, amount=amount, kind=g.kind, reason=g.reason)
            out.append(LedgerResult(status, balance, entry_id))
        return out

    async def spend(self, uid: str, amount: int, reason: str, idem_key: str, *,
                    kind: str = "spend", keep_forever: bool = False) -> LedgerResult:
        """Debit credits now (non-AI purchases such as fortune details). Idempotent.

        Raises ``BotError(INSUFFICIENT_CREDITS, cost=, balance=)`` when the balance is short.
        """
        amount = self._check_amount(amount)
        status, balance, entry_id, _ = await self._apply(uid, -amount, kind, reason, idem_key,
                                                         0 if keep_forever else None)
        if status == "insufficient":
            raise BotError(ErrorCode.INSUFFICIENT_CREDITS, cost=amount, balance=balance)
        return LedgerResult(status, balance, entry_id)

    async def first_result(self, uid: str, idem_key: str) -> Entry | None:
        """The entry a change with ``idem_key`` wrote, if that change happened (else None).

        From the idempotency record: id, kind, amount, balance after and generation are exact;
        ``ts`` and ``reason`` are 0 and "" for records in the compact format (see
        ``_decode_record``). The welcome bonus's record is a field of the account hash; every
        other record (and a welcome record from before) is a key of its own. Read-only."""
        key = K.idempotency(uid, self._check_key(idem_key))
        async with redis_guard("credits.first_result"):
            gen, raw = await self._r.hmget(K.account(uid), ["gen", WELCOME_FIELD])
            if idem_key != "welcome" or not raw:
                raw = await self._r.get(key)
        if not raw:
            return None
        return _decode_record(raw, uid, gen or "").entry

    async def owned_entry(self, uid: str, idem_key: str) -> Entry | None:
        """The entry change ``idem_key`` wrote, if it belongs to ``uid``'s *current* account.

        None when the change never happened, or when its account was detached by /delete
        (a new account under the same uid must never answer for an old one's entries).
        Found through the idempotency record, not the ledger list, so it works for entries
        compacted into the checkpoint. Kept-forever records only (payment grants) are
        guaranteed to be found. Ownership: the entry's account generation equals the
        account's; for accounts from before generations existed ("legacy"), the entry must be
        in the kept list or among the checkpoint's folded legacy purchases. Read-only.
        """
        entry = await self.first_result(uid, idem_key)
        if entry is None:
            return None
        async with redis_guard("credits.owned_entry"):
            acct_gen, exists = await self._r.hmget(K.account(uid), ["gen", "balance"])
        if exists is None and acct_gen is None:
            return None
        if (acct_gen or LEGACY_GEN) != entry.gen:
            return None
        if entry.gen != LEGACY_GEN:
            return entry
        # A legacy entry on a legacy account: the account may itself be a re-creation after an
        # old /delete, so look for the entry itself.
        if entry.id in (await self.checkpoint(uid)).legacy_purchases:
            return entry
        async with redis_guard("credits.owned_entry"):
            rows, gen, e0 = await self._store.scripts["ledger_history"](keys=[K.account(uid), K.ledger(uid)],
                                                                        args=[0])  # all
        rows = [*rows, e0] if e0 else rows
        return entry if any(Entry.parse(row, gen).id == entry.id for row in rows) else None

    async def hold(self, uid: str, amount: int, reason: str, idem_key: str) -> Hold:
        """Reserve ``amount`` before paid work. Idempotent: a replay returns the same hold.

        Steps: 1. the new hold id goes into the global deadline index (``holds:deadline``);
        2. ``hold_create.lua`` debits and creates the hold in the account's slot (atomic,
        idempotent by ``idem_key``); 3. on a replay or a refusal the unused id leaves the
        index. Crash after 1: a deadline for a hold that does not exist — the sweeper drops it.
        Crash after 2: the hold is indexed, so it is released at its deadline unless settled.
        Redis down: ``ServiceUnavailable`` (nothing or only step 1 happened).
        """
        amount = self._check_amount(amount)
        hold_id = K.hold_id_of(uid, uuid.uuid4().hex)
        deadline = self._clock.now_ms() + self._cfg.hold_deadline_seconds * 1000
        script = self._store.scripts["hold_create"]
        idem = K.idempotency(uid, self._check_key(idem_key))
        keys = [K.account(uid), K.ledger(uid), idem, K.hold(hold_id)]
        args = [amount, reason[:120], self._clock.now_ms(), _entry_id(), self._cfg.idempotency_ttl_seconds,
                uid, hold_id, deadline]
        await self._index(uid)
        async with redis_guard("credits.hold"):
            await self._r.zadd(K.hold_deadlines(), {hold_id: deadline})
            res = await script(keys=keys, args=args)
            if res[0] != "ok":
                await self._r.zrem(K.hold_deadlines(), hold_id)
        if res[0] == "insufficient":
            raise BotError(ErrorCode.INSUFFICIENT_CREDITS, cost=amount, balance=int(res[1]))
        if res[0] == "replay":
            hold_id = _decode_record(res[1], uid).hold_id or ""
            async with redis_guard("credits.hold"):
                status = await self._r.hget(K.hold(hold_id), "status") if hold_id else None
            return Hold(uid, hold_id, amount, replayed=True, status=status or "settled")
        await self._after_write(uid, int(res[2]))
        return Hold(uid, hold_id, amount)

    async def _settle(self, hold: Hold, action: str, reason: str, due_before_ms: int | None = None) -> str:
        """Capture or release through ``hold_settle.lua`` on the hold's *own* account.

        The account is read from the hold hash and the keys are built from it; a ``Hold``
        naming another account is refused ("mismatch", logged) and the script checks the keys
        again, so money never moves on an account the hold does not belong to. Settles at
        most once; a replay reports the hold's status. Returns "captured" / "released", or
        the hold's status ("captured", "released", "not_found", "mismatch").
        """
        async with redis_guard(f"credits.{action}"):
            owner = await self._r.hget(K.hold(hold.hold_id), "account")
        if owner is not None and owner != hold.account:
            log_event("credits_hold_account_mismatch", level=logging.ERROR, account=hold.account,
                      hold=hold.hold_id)
            return "mismatch"
        account = owner or hold.account  # gone: the script reports not_found
        script = self._store.scripts["hold_settle"]
        keys = [K.hold(hold.hold_id), K.account(account), K.ledger(account)]
        args = [action, self._clock.now_ms(), _entry_id(), hold.hold_id, reason[:120],
                SETTLED_HOLD_TTL, account, "" if due_before_ms is None else due_before_ms]
        async with redis_guard(f"credits.{action}"):
            res = await script(keys=keys, args=args)
            status = res[0]
            hold_status = res[1] if len(res) > 1 and status != "ok" else None
            # Settled (now or before) or gone: out of the deadline index. A crash before this
            # leaves the entry for the sweeper, which finds the hold settled and drops it.
            if status in ("ok", "not_found") or hold_status in ("captured", "released"):
                await self._r.zrem(K.hold_deadlines(), hold.hold_id)
        if status == "ok":
            log_event(f"credits_hold_{action}d", account=account, amount=int(res[1]), reason=reason)
            await self._after_write(account, int(res[3]))
            return action + "d"
        if status == "mismatch":
            log_event("credits_hold_account_mismatch", level=logging.ERROR, account=account, hold=hold.hold_id)
            return "mismatch"
        return str(hold_status or status)

    async def capture(self, hold: Hold, reason: str = "") -> str:
        """Keep the held credits: a real answer was delivered. Settles at most once."""
        return await self._settle(hold, "capture", reason)

    async def release(self, hold: Hold, reason: str = "") -> str:
        """Give the held credits back: fallback or failure. Settles at most once."""
        return await self._settle(hold, "release", reason)

    async def renew(self, hold: Hold, deadline_ms: int) -> bool:
        """Move an open hold's deadline to ``deadline_ms`` (the outbox still owns it).

        The deadline index moves first, then the hold (``hold_renew.lua``), so the index is
        never earlier than the hold's own deadline (see the script). Idempotent; False when the
        hold is already settled (its index entry is then dropped).
        """
        script = self._store.scripts["hold_renew"]
        async with redis_guard("credits.renew"):
            await self._r.zadd(K.hold_deadlines(), {hold.hold_id: deadline_ms}, gt=True)
            renewed = bool(await script(keys=[K.hold(hold.hold_id)], args=[deadline_ms]))
            if not renewed:
                await self._r.zrem(K.hold_deadlines(), hold.hold_id)
            return renewed

    async def release_expired(self, limit: int = 500) -> int:
        """Release holds whose deadline passed (their process crashed). Safe to run anywhere."""
        now = self._clock.now_ms()
        async with redis_guard("credits.release_expired"):
            due = await self._r.zrangebyscore(K.hold_deadlines(), "-inf", now, 0, limit)
        released = 0
        for hold_id in due:
            account = K.hold_account(hold_id)
            # Only if still past its deadline inside the script: the outbox may have renewed it.
            result = await self._settle(Hold(account, hold_id, 0), "release", "expired hold", due_before_ms=now)
            if result == "released":
                released += 1
                log_event("credits_hold_expired", account=account, hold=hold_id)
        return released

    # --- welcome bonus ------------------------------------------------------------
    def person_marker(self, identity: str) -> str:
        """Keyed hash of a platform identity (``tg:123``) naming its welcome marker."""
        return hmac.digest(self._secret, identity.encode(), "sha256").hex()[:24]

    async def welcome_bonus(self, uid: str, identity: str) -> LedgerResult | None:
        """Grant the welcome bonus once per person (``identity``), ever (even after /delete).

        Two steps in two slots: 1. the claim (``bot.core.accounts.claim_welcome``): implied,
        with no write, while the identity maps to this account and no
        ``welcome:<keyed hash of the identity>`` exists; otherwise that marker (forever; reveals
        nothing without the secret) must name this account, or is set to it with ``SET NX``;
        2. the grant, idempotent under ``idem:{<account>}:welcome`` (kept forever). A crash
        between them is repaired by the next call (the claim holds again). A marker naming
        another account (written when the person's account was erased, linked or unlinked)
        means the bonus was given: None.
        """
        amount = self._cfg.welcome_bonus
        if amount <= 0:
            return None
        marker = K.welcome_marker(self.person_marker(identity))
        async with redis_guard("credits.welcome"):  # implied by the identity mapping (bot.core.accounts)
            claimed = await claim_welcome(self._r, self._secret, identity, uid, marker)
        if not claimed:
            return None
        status, balance, entry_id, _ = await self._apply(uid, amount, "bonus", "welcome bonus", "welcome", 0,
                                                         field=WELCOME_FIELD)
        if status != "ok":
            return None
        log_event("credits_granted", account=uid, amount=amount, kind="bonus", reason="welcome bonus")
        return LedgerResult(status, balance, entry_id)

    # --- reconciliation and erasure ------------------------------------------------
    async def reconcile(self, uid: str) -> Reconciliation:
        """Check balance == checkpoint sum + sum(kept entries) and held == open holds.

        Open holds are those of the checkpoint (hold entry folded, settle entry not) plus the
        kept hold entries, minus any settled by a kept capture/release. One read script
        (``ledger_snapshot.lua``: a consistent snapshot of account, checkpoint and list), so
        concurrent writes and compactions never skew it.
        Reads O(ledger_keep_entries) entries however old the account is.
        """
        async with redis_guard("credits.reconcile"):
            acct_flat, ckpt_flat, rows = await self._store.scripts["ledger_snapshot"](
                keys=[K.account(uid), K.ledger_checkpoint(uid), K.ledger(uid)])
        acct = dict(zip(acct_flat[::2], acct_flat[1::2]))
        ckpt_raw = dict(zip(ckpt_flat[::2], ckpt_flat[1::2]))
        ckpt = Checkpoint.from_hash(ckpt_raw)
        if acct.get("e0"):
            rows = [*rows, acct["e0"]]  # the account's first entry (oldest), kept in its hash
        total = ckpt.sum
        open_holds = 0
        settled: set[str] = set()
        for r in rows:  # newest first: a settle entry precedes (in list order) its hold entry
            e = Entry.parse(r, acct.get("gen"))
            total += e.amount
            if e.kind in ("capture", "release") and e.hold:
                settled.add(e.hold.removeprefix("hold:"))
            elif e.kind == "hold" and e.hold.removeprefix("hold:") not in settled:
                open_holds += -e.amount
        open_holds += sum(amount for hid, amount in (ckpt.open_holds or {}).items() if hid not in settled)
        return Reconciliation(uid, int(acct.get("balance", 0)), total, int(acct.get("held", 0)), open_holds,
                              ckpt.count + len(rows))

    async def reconcile_all(self) -> list[Reconciliation]:
        """Reconcile every account; returns only the ones that do not balance."""
        bad: list[Reconciliation] = []
        async with redis_guard("credits.reconcile_all"):
            members = [m async for m in self._r.sscan_iter(K.accounts_index(), count=500)]
        for account in members:
            rec = await self.reconcile(account)
            if not rec.ok:
                bad.append(rec)
        return bad

    async def release_holds_of(self, uid: str, reason: str = "account deleted") -> int:
        """Release every open hold of account ``uid`` (/delete). Idempotent. The ledger itself
        stays where it is: the account id is opaque, so once the identity mapping is gone the
        ledger is anonymous and remains for accounting."""
        prefix = K.hold_id_of(uid, "")
        async with redis_guard("credits.release_holds"):
            due = await self._r.zrange(K.hold_deadlines(), 0, -1)
        released = 0
        for hold_id in due:
            if hold_id.startswith(prefix):
                released += await self._settle(Hold(uid, hold_id, 0), "release", reason) == "released"
        return released
