"""discord.py errors -> the core delivery contract (``bot.core.delivery``), like
``bot/handlers/telegram_delivery.py`` does for python-telegram-bot:

* ``Forbidden`` 50007 (the user's DMs are closed to the bot), 50001 (no access), or
  ``NotFound`` 10003 / 10013 (channel or user gone) -> ``DeliveryBlocked``
* ``RateLimited`` (discord.py gave up waiting: the wait was over its limit) or an
  ``HTTPException`` with status 429 -> ``DeliveryRetryAfter(seconds)``
* ``DiscordServerError`` (5xx) -> ``DeliveryFailed``
* any other ``HTTPException`` (400: the message itself was refused) -> ``DeliveryRejected``
* a timeout once the request may have left -> ``DeliveryUnknown``; a connection that could
  not be opened -> ``DeliveryFailed``

discord.py already waits out 429s itself (per process, honouring Discord's headers); what
reaches here is what it could not handle. Only translation lives here.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import aiohttp
import discord

from bot.core.delivery import (DeliveryBlocked, DeliveryError, DeliveryFailed, DeliveryRejected,
                               DeliveryRetryAfter, DeliveryUnknown)

if TYPE_CHECKING:
    from bot.core.reply import Reply
    from bot.core.service import Sender

__all__ = ["map_discord_error", "wrap_sender", "CLOSED_DMS", "UNKNOWN_INTERACTION", "ALREADY_ACKNOWLEDGED",
           "UNKNOWN_WEBHOOK", "INVALID_WEBHOOK_TOKEN"]

#: "Cannot send messages to this user" (DMs closed, or no shared server).
CLOSED_DMS = 50007
#: The interaction expired (3 s without an answer) or is unknown.
UNKNOWN_INTERACTION = 10062
#: "Interaction has already been acknowledged" (another process answered it first).
ALREADY_ACKNOWLEDGED = 40060
#: The interaction token is gone (15 min) or wrong.
UNKNOWN_WEBHOOK = 10015
#: The interaction token is past its 15 minutes.
INVALID_WEBHOOK_TOKEN = 50027
_GONE = {CLOSED_DMS, 50001, 10003, 10013, 10004}


def map_discord_error(exc: BaseException) -> DeliveryError | None:
    """The delivery outcome for a discord.py / aiohttp exception (None: not one of theirs)."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, discord.RateLimited):
        return DeliveryRetryAfter(exc.retry_after, str(exc))
    if isinstance(exc, discord.HTTPException):
        code = int(getattr(exc, "code", 0) or 0)
        if code in _GONE or isinstance(exc, discord.Forbidden):
            return DeliveryBlocked(f"{exc.status} {code}: {exc.text}"[:300])
        if isinstance(exc, discord.NotFound):
            return DeliveryBlocked(f"{exc.status} {code}: {exc.text}"[:300])
        if exc.status == 429:
            return DeliveryRetryAfter(_retry_after(exc), str(exc))
        if isinstance(exc, discord.DiscordServerError) or exc.status >= 500:
            return DeliveryFailed(f"{exc.status} {code}: {exc.text}"[:300])
        return DeliveryRejected(f"{exc.status} {code}: {exc.text}"[:300])
    if isinstance(exc, aiohttp.ClientConnectorError):
        return DeliveryFailed(f"{type(exc).__name__}: {exc}"[:300])  # never connected: nothing sent
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ClientError)):
        return DeliveryUnknown(f"{type(exc).__name__}: {exc}"[:300])
    return None


def _retry_after(exc: discord.HTTPException) -> float:
    try:
        return float(exc.response.headers.get("Retry-After", 1.0))
    except (AttributeError, TypeError, ValueError):
        return 1.0


def wrap_sender(sender: Sender) -> Sender:
    """A sender that raises ``bot.core.delivery`` errors instead of discord.py's."""

    async def mapped(target: str, reply: Reply, **kw: Any) -> None:
        try:
            await sender(target, reply, **kw)
        except Exception as exc:
            err = map_discord_error(exc)
            if err is None or err is exc:
                raise
            raise err from exc

    return mapped
