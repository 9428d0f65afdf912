"""Accounts: opaque account ids behind platform identities, and the per-account key registry.

A user reaches the bot as a platform identity (``tg:123``, later ``dc:456``). Everything the
bot keeps about them is keyed by an **account id** (``a`` + 16 hex, random and meaningless),
so that no key name and no ledger entry carries a platform id, and one account can later hold
several identities (``/link``).

Redis:
- ``ident:<digest>`` -> account id, where ``digest`` is a keyed hash of the identity
  (``identity_digest``): listing keys reveals no platform id;
- ``acct:{<aid>}`` hash: ``created``, ``id:<platform>`` = the platform user id (the only place
  it is stored, so a notification can reach the user), ``pd:<platform>`` = keyed person digest
  (what once-per-person markers are keyed by); after a ``/link`` also ``pd`` (the account's
  person, pinned to its first identity's) and, while an attachment is in flight,
  ``lk:<platform>`` = the attached identity's former account (``bot.core.linking``);
- ``acct:{<aid>}:keys`` sorted set: the registry of what erasure must undo outside the account's
  fixed keys (``track``), entry -> expiry ms, so erasure never scans the keyspace;
- ``accounts:all`` set of every account id;
- ``welcome:<person marker>`` -> the account the welcome bonus went to (once per person, kept
  after /delete). **Implied while the identity maps to that account**: an ordinary user has no
  such key (``claim_welcome``); it is written (``SET NX``) only when the mapping is about to
  stop naming the account that holds the bonus — /delete (``keep_welcome``), /link (the source
  account, before the mapping moves; then the target), /unlink — or when the claimant is not
  the identity's mapped account. Markers written before (one per person) are read as they are.

Creation (``resolve`` of an unknown identity) is three steps, ordered so a crash between any
two is harmless and repaired by the next ``resolve``: 1. ``SET ident NX`` (the race between two
processes is decided here: the loser adopts the winner's id); 2. ``HSET`` the account's meta
(idempotent: ``HSETNX created``); 3. ``SADD accounts:all``. A crash after 1 leaves an identity
whose account has no meta yet; every cache miss re-runs 2 and 3, so it is completed on the
next message. Redis down: ``ServiceUnavailable``.

The identity -> account mapping is cached in-process (it changes only on erasure,
``/link`` and ``/unlink``). A stale entry is caught by the router: it reads the account's meta
in the same round trip as the rate limit, and an account whose meta does not list the identity
(erased, or unlinked) makes it resolve again (``forget``). ``attach`` / ``detach`` / ``move`` /
``unmap`` are the one-key primitives ``bot.core.linking`` orders into /link and /unlink.
"""

from __future__ import annotations

import hmac
import math
import secrets
from collections import OrderedDict
from typing import TYPE_CHECKING, Any
from collections.abc import Iterable

from bot.core.hashing import KeyedHash
from bot.core.store import K, redis_guard

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["Accounts", "new_account_id", "is_account_id", "NEVER", "track_in", "key_entry", "member_entry",
           "field_entry", "identities_of", "claim_welcome"]

#: Registry expiry of entries that never expire on their own.
NEVER = math.inf
CACHE_SIZE = 50_000


def new_account_id() -> str:
    return "a" + secrets.token_hex(8)


def is_account_id(value: str) -> bool:
    return len(value) == 17 and value[0] == "a" and all(c in "0123456789abcdef" for c in value[1:])


def key_entry(key: str) -> str:
    """Registry entry: delete ``key``."""
    return f"k|{key}"


def member_entry(key: str, member: str) -> str:
    """Registry entry: remove ``member`` from the sorted set ``key``."""
    return f"z|{key}|{member}"


def field_entry(key: str, field: str) -> str:
    """Registry entry: delete ``field`` of the hash ``key``."""
    return f"h|{key}|{field}"


def identity_key(secret: bytes) -> bytes:
    """The HMAC key naming ``ident:`` keys, derived from the signing secret."""
    return hmac.digest(secret, b"soul-lab/identity/v1", "sha256")


def digest_identity(key: bytes, identity: str) -> str:
    return hmac.digest(key, identity.encode("utf-8"), "sha256").hex()[:32]


async def claim_welcome(r: Any, secret: bytes, identity: str, uid: str, marker: str) -> bool:
    """Claim the welcome bonus of the person behind ``identity`` for account ``uid``: True when
    ``uid`` may have it (idempotent: True again for the same account).

    The claim is implied while ``identity`` maps to ``uid`` and no ``marker`` key exists (no
    write: an ordinary user keeps no welcome key at all). A ``marker`` naming an account
    settles it (written by /delete, /link, /unlink, or before this layout). Otherwise (the
    claimant is not the identity's mapped account, e.g. a bare account id in tests) the marker
    is claimed with ``SET NX`` as before. Two single-key reads in one round trip (the keys may
    sit in two slots: a plain pipeline, no transaction); Redis down: ``ServiceUnavailable`` from
    the caller's guard. Crash: nothing to undo (at most the ``SET NX`` happened, which a retry
    reads back)."""
    async with r.pipeline(transaction=False) as pipe:
        pipe.get(marker)
        pipe.get(K.identity(digest_identity(identity_key(secret), identity)))
        owner, mapped = await pipe.execute()
    if owner is not None:
        return bool(owner == uid)
    if mapped == uid:
        return True
    return bool(await r.set(marker, uid, nx=True)) or await r.get(marker) == uid


def person_in(meta: dict[str, str]) -> str | None:
    """The account's person digest from its meta: the one pinned by the first /link (the
    account's person stays the same), else its first identity's."""
    if meta.get("pd"):
        return meta["pd"]
    return next((v for k, v in sorted(meta.items()) if k.startswith("pd:")), None)


class Accounts:
    """Identity -> account resolution, account meta, and the erasure registry."""

    def __init__(self, core: Core) -> None:
        self._core = core
        self._r = core.store.redis
        secret = core.signing_secret
        self._ident_key = identity_key(secret)
        # The label v1's referral markers used, so markers written before key layout v2 (moved
        # as they are by ``python -m bot migrate``) keep naming the same person.
        self._person_key = KeyedHash(hmac.digest(secret, b"soul-lab/referral-person/v1", "sha256"))
        self._cache: OrderedDict[str, str] = OrderedDict()

    # --- digests (pure) -------------------------------------------------------------------
    def identity_digest(self, identity: str) -> str:
        """Keyed hash of ``tg:123`` naming its ``ident:`` key (32 hex)."""
        return digest_identity(self._ident_key, identity)

    def person_digest(self, identity: str) -> str:
        """Keyed hash of ``tg:123`` for once-per-person markers that survive /delete (welcome
        bonus, invitee reward, pair counted): they reveal nothing without the secret."""
        return self._person_key.hexdigest(identity.encode("utf-8"))[:32]

    # --- resolution ---------------------------------------------------------------------
    def cached(self, identity: str) -> str | None:
        return self._cache.get(identity)

    def forget(self, identity: str) -> None:
        self._cache.pop(identity, None)

    def _remember(self, identity: str, aid: str) -> None:
        self._cache[identity] = aid
        self._cache.move_to_end(identity)
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    async def lookup(self, identity: str) -> str | None:
        """The account of ``identity``, or None (never creates). Uses the cache."""
        if (aid := self._cache.get(identity)) is not None:
            return aid
        async with redis_guard("accounts.lookup"):
            return await self._r.get(K.identity(self.identity_digest(identity)))

    async def resolve(self, identity: str, *, ensure_meta: bool = True) -> str:
        """The account id of ``identity`` (``tg:123``), created on first contact. Idempotent;
        concurrent first contacts from several processes agree on one id.

        ``ensure_meta=False`` (the router's fast path) skips re-writing the meta and index of
        an account that already exists (one round trip instead of three): the caller must then
        check that the account's meta lists the identity and, if not, call again with
        ``ensure_meta=True`` (which repairs a creation that crashed half-way). A new account
        always gets its index entry and meta."""
        aid = self._cache.get(identity)
        if aid is not None:
            return aid
        platform, _, user_id = identity.partition(":")
        if not platform or not user_id:
            raise ValueError(f"not a platform identity: {identity!r}")
        ikey = K.identity(self.identity_digest(identity))
        async with redis_guard("accounts.resolve"):
            (aid,) = await self._core.store.batch.run([("GET", ikey)])  # shares a pipeline when busy
            if aid is None:
                candidate = new_account_id()
                if await self._r.set(ikey, candidate, nx=True):
                    aid = candidate
                    ensure_meta = True
                else:
                    aid = await self._r.get(ikey)
                    if aid is None:  # erased in between: try once more from the start
                        return await self.resolve(identity, ensure_meta=ensure_meta)
            if ensure_meta:
                await self._ensure_meta(aid, platform, user_id, identity)
        self._remember(identity, aid)
        return aid

    async def _ensure_meta(self, aid: str, platform: str, user_id: str, identity: str) -> None:
        # The index first, then the meta: a meta that lists the identity implies the index entry,
        # so a crash in between leaves a meta the router's check sees as incomplete (and repairs).
        await self._r.sadd(K.accounts_index(), aid)
        # A script, not MULTI: one round trip, and cluster transactions are slow in redis-py.
        await self._core.store.scripts["account_meta"](
            keys=[K.account_meta(aid)],
            args=[self._core.clock.now_ms(), platform, user_id, self.person_digest(identity)])

    async def meta(self, aid: str) -> dict[str, str]:
        async with redis_guard("accounts.meta"):
            return dict(await self._r.hgetall(K.account_meta(aid)))

    async def identities(self, aid: str) -> dict[str, str]:
        """Platform -> platform user id of every identity of ``aid`` ({} once erased)."""
        return identities_of(await self.meta(aid))

    async def target(self, aid: str, platform: str | None = None) -> tuple[str, str] | None:
        """(platform, user id) to reach ``aid`` on: ``platform`` if linked there, else the first
        linked identity with a registered sender. None when the account has none (erased)."""
        ids = await self.identities(aid)
        if platform is not None:
            return (platform, ids[platform]) if platform in ids else None
        for p, user_id in ids.items():
            if p in self._core.senders:
                return p, user_id
        return next(iter(ids.items()), None)

    async def person(self, aid: str, platform: str | None = None) -> str | None:
        """The person digest of the account's identity on ``platform`` (or its first)."""
        meta = await self.meta(aid)
        if platform is not None:
            return meta.get(f"pd:{platform}")
        return person_in(meta)

    async def keep_welcome(self, aid: str, identity: str) -> None:
        """Make the implied welcome marker of ``identity`` explicit before its mapping stops
        naming ``aid`` (erasure, /link): if ``aid`` received the welcome bonus, ``welcome:<person>``
        = ``aid`` (``SET NX``: an existing marker stays). Idempotent; one read and at most one
        write. Redis down: ``ServiceUnavailable`` before the mapping changes, so nothing is lost."""
        ledger = self._core.ledger
        if await ledger.first_result(aid, "welcome") is None:
            return  # no bonus on this account: the person may still receive it elsewhere
        async with redis_guard("accounts.keep_welcome"):
            await self._r.set(K.welcome_marker(ledger.person_marker(identity)), aid, nx=True)

    # --- attaching and detaching identities (/link, /unlink: bot.core.linking) --------------
    async def attach(self, aid: str, identity: str, source: str | None) -> str:
        """Add ``identity`` to account ``aid``'s meta (``account_attach.lua``, one key, atomic),
        remembering its ``source`` account until the attachment is finished (``lk:<platform>``).
        "ok" (also when already there: idempotent), "taken" (another identity of that platform
        is on the account) or "gone" (no such account). Does not touch the identity mapping."""
        platform, _, user_id = identity.partition(":")
        async with redis_guard("accounts.attach"):
            return str(await self._core.store.scripts["account_attach"](
                keys=[K.account_meta(aid)],
                args=[platform, user_id, self.person_digest(identity), source or "-"]))

    async def detach(self, aid: str, identity: str, *, allow_last: bool = False) -> str:
        """Remove ``identity`` from ``aid``'s meta (``account_detach.lua``, atomic): "ok",
        "absent" (not there: idempotent) or "last" (its only identity; refused unless
        ``allow_last``, used only to undo an attachment that never completed)."""
        platform, _, user_id = identity.partition(":")
        async with redis_guard("accounts.detach"):
            return str(await self._core.store.scripts["account_detach"](
                keys=[K.account_meta(aid)], args=[platform, user_id, "1" if allow_last else "0"]))

    async def move(self, identity: str, from_aid: str | None, to_aid: str) -> str:
        """Point ``identity``'s mapping at ``to_aid`` if it names ``from_aid`` (or nothing):
        "moved", "same" (already: idempotent) or "conflict" (it names a third account).
        One key (``ident_move.lua``); this process's cache entry is dropped either way."""
        async with redis_guard("accounts.move"):
            res = str(await self._core.store.scripts["ident_move"](
                keys=[K.identity(self.identity_digest(identity))], args=[from_aid or "", to_aid]))
        self.forget(identity)
        return res

    async def unmap(self, identity: str, aid: str) -> bool:
        """Delete ``identity``'s mapping only if it still names ``aid`` (compare and delete);
        True when deleted. The identity resolves to a new account on its next message."""
        async with redis_guard("accounts.unmap"):
            done = bool(await self._core.store.scripts["lease_release"](
                keys=[K.identity(self.identity_digest(identity))], args=[aid]))
        self.forget(identity)
        return done

    # --- the erasure registry -------------------------------------------------------------
    # The entry builders are the module's own (one definition; reachable as Accounts.key_entry).
    key_entry = staticmethod(key_entry)
    member_entry = staticmethod(member_entry)
    field_entry = staticmethod(field_entry)

    def track_in(self, pipe: Any, aid: str, entries: Iterable[str], expires_ms: float = NEVER) -> None:
        track_in(pipe, aid, entries, expires_ms)

    async def track(self, aid: str, entries: Iterable[str], expires_ms: float = NEVER) -> None:
        """Record what erasure must undo for ``aid`` (see ``track_in``); prunes expired entries."""
        mapping = {e: expires_ms for e in entries}
        if not mapping:
            return
        reg = K.account_registry(aid)
        async with redis_guard("accounts.track"):
            # In order on one connection (one key, one node); no atomicity needed: an entry
            # is recorded before the write it covers, and pruning only drops expired ones.
            async with self._r.pipeline(transaction=False) as pipe:
                pipe.zadd(reg, mapping)
                pipe.zremrangebyscore(reg, "-inf", self._core.clock.now_ms())
                await pipe.execute()

    async def registry(self, aid: str) -> list[str]:
        async with redis_guard("accounts.registry"):
            return list(await self._r.zrange(K.account_registry(aid), 0, -1))


def track_in(pipe: Any, aid: str, entries: Iterable[str], expires_ms: float = NEVER) -> None:
    """Queue registry entries on ``pipe`` ahead of the write they record (same slot: the
    pipeline sends both, in order, on one connection). Record *before* the write, never after:
    a crash in between leaves an entry for something that does not exist, which erasure skips.
    Plain pipelines, not MULTI: ordering is what matters, and redis-py's cluster transactions
    are several times slower than a script or a pipeline."""
    mapping = {e: expires_ms for e in entries}
    if mapping:
        pipe.zadd(K.account_registry(aid), mapping)


def identities_of(meta: dict[str, str]) -> dict[str, str]:
    return {k[3:]: v for k, v in meta.items() if k.startswith("id:")}
