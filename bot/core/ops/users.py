"""Resolving the user an operator names: a platform id (``tg:123``) or an account id."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.errors import BotError, ErrorCode
from bot.core.store import K, redis_guard

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["resolve_user"]


async def resolve_user(core: Core, ref: str) -> str:
    """The account id ``ref`` names (never creates one). Unknown -> ``NOT_FOUND``; malformed ->
    ``VALIDATION_ERROR``. Redis down: ``ServiceUnavailable``."""
    from bot.core.ops.service import ACCOUNT_RE, IDENTITY_RE

    ref = ref.strip()
    if IDENTITY_RE.match(ref) and not ref.startswith("slack:"):
        aid = await core.accounts.lookup(ref)
    elif ACCOUNT_RE.match(ref):
        aid = ref
    else:
        raise BotError(ErrorCode.VALIDATION_ERROR, "ops.bad_user", ref=ref[:40])
    if aid:
        async with redis_guard("ops.user"):
            exists = await core.store.redis.exists(K.account_meta(aid))
        if exists:
            return aid
    raise BotError(ErrorCode.NOT_FOUND, "ops.user_not_found", ref=ref[:40])
