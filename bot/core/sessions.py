"""Conversation state in Redis (``session:{<account>}:<kind>``), so it survives restarts and
is shared by every bot process. Values are small JSON documents with an idle expiry that is
refreshed on every write. Each write records its key in the account's erasure registry in the
same pipeline, ahead of the write (one slot, in order). Redis down: raises ``ServiceUnavailable``.
"""

from __future__ import annotations

import json
from typing import Any

from bot.core.accounts import key_entry, track_in
from bot.core.store import K, Store, redis_guard

__all__ = ["Sessions"]

PENDING_TTL = 3600


class Sessions:
    def __init__(self, store: Store) -> None:
        self._r = store.redis

    async def get(self, uid: str, kind: str) -> dict[str, Any] | None:
        async with redis_guard("sessions.get"):
            raw = await self._r.get(K.session(uid, kind))
        return json.loads(raw) if raw else None

    async def put(self, uid: str, kind: str, value: dict[str, Any], ttl_seconds: int) -> None:
        async with redis_guard("sessions.put"):
            key = K.session(uid, kind)
            async with self._r.pipeline(transaction=False) as pipe:
                track_in(pipe, uid, [key_entry(key)])
                pipe.set(key, json.dumps(value, ensure_ascii=False), ex=ttl_seconds)
                await pipe.execute()

    async def drop(self, uid: str, kind: str) -> bool:
        async with redis_guard("sessions.drop"):
            return bool(await self._r.delete(K.session(uid, kind)))

    async def remember_pending(self, uid: str, text: str) -> None:
        """Keep the command a not-yet-onboarded user asked for, to run it after onboarding.

        Only the first one is kept (an invite link must not be overwritten by a later /help).
        """
        async with redis_guard("sessions.pending"):
            key = K.session(uid, "pending")
            async with self._r.pipeline(transaction=False) as pipe:
                track_in(pipe, uid, [key_entry(key)])
                pipe.set(key, text[:512], ex=PENDING_TTL, nx=True)
                await pipe.execute()

    async def pop_pending(self, uid: str) -> str | None:
        async with redis_guard("sessions.pending"):
            return await self._r.getdel(K.session(uid, "pending"))
