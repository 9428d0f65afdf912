"""Confirmation tokens for dangerous ops actions (grant, refund, limit changes, breaker
open/close, broadcast pause).

A token is a hash ``K.ops_confirm(token)`` holding the admin it was made for and the exact
command text, expiring after ``ops.confirm_seconds`` (60 s). ``take`` runs one script
(``ops_confirm_take.lua``) that checks the admin and deletes the token in the same step, so a
token executes at most once, only for its admin, only with the arguments it was made for; a
second press (or one after expiry) finds nothing. Another admin's press changes nothing.

Redis down: ``ServiceUnavailable`` (nothing is created or consumed).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from bot.core.store import K, redis_guard

if TYPE_CHECKING:
    from bot.core.ops.caller import OpsCaller
    from bot.core.service import Core

__all__ = ["Confirmations"]


class Confirmations:
    def __init__(self, core: Core) -> None:
        self._core = core

    async def create(self, caller: OpsCaller, text: str) -> str:
        """A fresh single-use token for ``caller`` to run ``text`` (the command after /ops)."""
        token = secrets.token_hex(8)
        key = K.ops_confirm(token)
        ttl = self._core.settings.product.ops.confirm_seconds
        async with redis_guard("ops.confirm.create"):
            async with self._core.store.redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping={"admin": caller.user, "text": text, "surface": caller.surface,
                                        "channel": caller.channel, "at": str(self._core.clock.now_ms())})
                pipe.expire(key, ttl)
                await pipe.execute()
        return token

    async def take(self, caller: OpsCaller, token: str) -> tuple[str, str]:
        """("ok", text) once for the token's admin; ("gone", "") or ("wrong_admin", "") otherwise."""
        if not token or not all(c in "0123456789abcdef" for c in token) or len(token) > 32:
            return "gone", ""
        async with redis_guard("ops.confirm.take"):
            out = await self._core.store.scripts["ops_confirm_take"](keys=[K.ops_confirm(token)],
                                                                     args=[caller.user])
        status = str(out[0])
        return status, (str(out[1]) if status == "ok" and len(out) > 1 else "")
