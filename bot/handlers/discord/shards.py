"""One process per gateway shard: a Redis lease per shard.

Discord sends an interaction to every session identified on its shard; two processes on one
shard would both try to answer (one gets 40060). So before connecting, a process takes a
lease (``SET NX PX``, ``K.discord_shard_lease``) for each shard it is configured to run
(``DISCORD_SHARD_IDS``, else every shard of ``DISCORD_SHARD_COUNT``) and runs only the shards
it got; a shard another live process owns is refused and logged (``discord_shard_refused``,
with the shard number). Leases are renewed every third of ``LEASE_SECONDS`` with
``lease_renew.lua`` (renews only the owner's), and given back on a clean stop, so a restarted
process takes its shards at once; after a kill -9 they are free again within
``LEASE_SECONDS``. Redis down while renewing: the leases are kept in this process (the next
round renews them, or finds them taken and reports them lost).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from typing import TYPE_CHECKING

from bot.core.logs import log_event
from bot.core.store import K, REDIS_ERRORS, redis_guard

if TYPE_CHECKING:
    from bot.core.store import Store

__all__ = ["ShardLeases", "LEASE_SECONDS"]

LEASE_SECONDS = 20.0


class ShardLeases:
    def __init__(self, store: Store, app_id: str, shard_count: int, *, lease_seconds: float = LEASE_SECONDS,
                 owner: str | None = None) -> None:
        self.store = store
        self.app_id = app_id
        self.shard_count = shard_count
        self.lease_ms = int(lease_seconds * 1000)
        self.owner = owner or f"dc-{uuid.uuid4().hex[:12]}"
        self.owned: set[int] = set()

    def key(self, shard_id: int) -> str:
        return K.discord_shard_lease(self.app_id, self.shard_count, shard_id)

    async def acquire(self, shard_ids: list[int]) -> list[int]:
        """Take every free lease of ``shard_ids``; returns the shards now owned here (in order).
        Raises ``ServiceUnavailable`` when Redis is down."""
        redis = self.store.redis
        for sid in shard_ids:
            if sid in self.owned:
                continue
            async with redis_guard("discord.shard_lease"):
                if await redis.set(self.key(sid), self.owner, nx=True, px=self.lease_ms):
                    self.owned.add(sid)
                    continue
                holder = await redis.get(self.key(sid))
            if holder == self.owner:
                self.owned.add(sid)
                continue
            log_event("discord_shard_refused", level=logging.WARNING, shard=sid, shard_count=self.shard_count,
                      holder=holder or "", owner=self.owner)
        return [sid for sid in shard_ids if sid in self.owned]

    async def renew(self) -> list[int]:
        """Renew the owned leases; returns the shards lost to another owner (removed here)."""
        lost: list[int] = []
        for sid in sorted(self.owned):
            try:
                ok = await self.store.scripts["lease_renew"](keys=[self.key(sid)], args=[self.owner, self.lease_ms])
            except REDIS_ERRORS as exc:
                log_event("redis_connection_error", level=logging.WARNING, operation="discord.shard_renew",
                          error=type(exc).__name__)
                continue
            if not ok:
                self.owned.discard(sid)
                lost.append(sid)
                log_event("discord_shard_lost", level=logging.ERROR, shard=sid, owner=self.owner)
        return lost

    async def release(self) -> None:
        """Give every lease back (clean stop). Best effort: Redis down leaves them to expire."""
        with contextlib.suppress(*REDIS_ERRORS):
            for sid in sorted(self.owned):
                await self.store.scripts["lease_release"](keys=[self.key(sid)], args=[self.owner])
        self.owned.clear()
