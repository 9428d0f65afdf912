"""Erasure of one account (``/delete confirm``): nothing that names the person is left.

After ``erase_account`` no Redis key name or value holds the account's platform ids, display
name or birth data, and nothing links the account to its partners. What remains, on purpose:
the account's credits hash, ledger and checkpoint and its payment records (accounting; under
the opaque account id, which nothing maps to any more), and keyed-hash markers that reveal
nothing without the secret (welcome bonus given, invitee reward given, pair counted, daily
reward caps).

Steps (each idempotent; the whole is safe to run again at any point):

1. ``erasure:pending`` gets the account (a sweeper finishes erasures a crash interrupted);
2. every identity mapping (``ident:<digest>``) pointing at the account is deleted, after its
   implied welcome marker is made explicit (``Accounts.keep_welcome``: the person never gets a
   second bonus) — only if it
   still points here (``lease_release.lua``: compare and delete), so a finished-late erasure
   never cuts off a new account the same person opened meanwhile; the account is unreachable;
3. open holds are released (the credits go back before the ledger is left behind);
4. each feature's eraser runs (pairs on both sides, invites, the broadcast subscription, the
   leaderboard member, the streak, …: ``core.erasers``, each idempotent);
5. the account's registry (``acct:{<aid>}:keys``) is applied: registered keys deleted, members
   and fields removed — this is how keys outside fixed names are found without a SCAN;
6. the fixed per-account keys (profile, meta, registry, limits, sessions) are deleted;
7. the account leaves ``erasure:pending``.

A crash before 2 leaves the account intact and pending: the sweeper erases it (the user asked
for it). A crash after 2 leaves an unreachable account with some data: the sweeper finishes
it. The identities to unmap come from the account's meta, deleted only at step 6.
Redis down: ``ServiceUnavailable`` at the step it happened; the sweeper (or the user running
``/delete confirm`` again, which answers "done" once nothing is left) finishes it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.core.accounts import identities_of
from bot.core.errors import ServiceUnavailable
from bot.core.logs import log_event
from bot.core.store import K, redis_guard

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["erase_account", "finish_pending_erasures", "fixed_keys"]

#: Session kinds every account may have (others are in the registry).
SESSION_KINDS = ("pending", "delete", "ask", "ask_last", "onboarding", "link")


def fixed_keys(core: Core, aid: str) -> list[str]:
    """The per-account keys with fixed names that erasure deletes (not the ledger)."""
    keys = [K.profile(aid), K.streak(aid), K.pairs_of(aid), K.invites_of(aid), K.ask_last(aid)]
    keys += [K.session(aid, kind) for kind in SESSION_KINDS]
    for scope in core.settings.product.limits:
        keys += [K.ratelimit(scope, aid), K.ratelimit_noted(scope, aid)]
    return keys


async def erase_account(core: Core, aid: str) -> None:
    """Erase account ``aid`` (see the module docstring). Idempotent; Redis down:
    ``ServiceUnavailable`` with the erasure left pending."""
    r = core.store.redis
    async with redis_guard("erasure.begin"):
        await r.zadd(K.erasures_pending(), {aid: core.clock.now_ms()})
        meta = dict(await r.hgetall(K.account_meta(aid)))
    ids = identities_of(meta)
    release = core.store.scripts["lease_release"]
    async with redis_guard("erasure.unmap"):
        for platform, user_id in ids.items():
            identity = f"{platform}:{user_id}"
            await core.accounts.keep_welcome(aid, identity)  # the marker outlives the mapping
            await release(keys=[K.identity(core.accounts.identity_digest(identity))], args=[aid])
            core.accounts.forget(identity)
    await core.ledger.release_holds_of(aid)
    for eraser in core.erasers:
        await eraser(aid)
    async with redis_guard("erasure.registry"):
        entries = await r.zrange(K.account_registry(aid), 0, -1)
        for entry in entries:
            await _undo(core, entry)
        await r.delete(*fixed_keys(core, aid))
        await r.delete(K.account_meta(aid), K.account_registry(aid))
        await r.zrem(K.erasures_pending(), aid)
    log_event("account_erased", user=aid, identities=len(ids), registry=len(entries))


async def _undo(core: Core, entry: str) -> None:
    r = core.store.redis
    kind, _, rest = entry.partition("|")
    if kind == "k":
        await r.delete(rest)
    elif kind == "z":
        key, _, member = rest.partition("|")  # key names hold no "|"; members may
        await r.zrem(key, member)
    elif kind == "h":
        key, _, field = rest.partition("|")
        await r.hdel(key, field)
    else:
        log_event("erasure_unknown_entry", level=logging.ERROR, kind=kind)


async def finish_pending_erasures(core: Core, older_than_ms: int = 60_000, limit: int = 50) -> int:
    """Finish erasures started more than ``older_than_ms`` ago and never finished (a crash).
    Run by the sweeper in every process; safe concurrently (every step is idempotent).
    Returns how many were finished; Redis down: 0 (tried again next round)."""
    now = core.clock.now_ms()
    try:
        async with redis_guard("erasure.pending"):
            stale = await core.store.redis.zrangebyscore(K.erasures_pending(), "-inf", now - older_than_ms,
                                                         0, limit)
        for aid in stale:
            await erase_account(core, aid)
    except ServiceUnavailable:
        return 0
    return len(stale)
