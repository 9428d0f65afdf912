"""Telegram errors -> the core delivery contract (``bot.core.delivery``), for ``core.notify``.

The Telegram adapter registers a sender that lets python-telegram-bot's errors propagate;
this wraps it so callers (the daily broadcast) see platform-neutral outcomes:

* ``Forbidden`` (403: bot blocked, user deactivated) -> ``DeliveryBlocked``
* ``BadRequest`` "chat not found" / "PEER_ID_INVALID" / "user not found" -> ``DeliveryBlocked``
* any other ``BadRequest`` (400: the message itself was refused) -> ``DeliveryRejected``
* ``RetryAfter`` (429, after the adapter's own bounded retries) -> ``DeliveryRetryAfter(seconds)``
* ``TimedOut`` once the request may have left (not a pool timeout) -> ``DeliveryUnknown``
* any other ``TelegramError`` (network refused, 5xx) -> ``DeliveryFailed``

Only translation lives here; pacing stays in the adapter's rate limiter.
"""

from __future__ import annotations

import datetime as dtm
import warnings
from typing import TYPE_CHECKING, Any

from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError, TimedOut

from bot.core.delivery import (
    DeliveryBlocked,
    DeliveryError,
    DeliveryFailed,
    DeliveryRejected,
    DeliveryRetryAfter,
    DeliveryUnknown,
)
from bot.core.reply import Reply

if TYPE_CHECKING:
    from bot.core.service import Core, Sender

__all__ = ["retry_seconds", "map_telegram_error", "wrap_sender", "install"]

_GONE = ("chat not found", "peer_id_invalid", "user not found", "chat_write_forbidden", "user is deactivated")


def retry_seconds(exc: RetryAfter) -> float:
    """``retry_after`` in seconds, whether PTB gives an int or (``PTB_TIMEDELTA``) a timedelta."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB's int-vs-timedelta transition warning
        value = exc.retry_after
    if isinstance(value, dtm.timedelta):
        return value.total_seconds()
    return float(value)


def map_telegram_error(exc: BaseException) -> DeliveryError | None:
    """The delivery outcome for a PTB exception (None when ``exc`` is not a Telegram error)."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, RetryAfter):
        return DeliveryRetryAfter(retry_seconds(exc), str(exc))
    if isinstance(exc, Forbidden):
        return DeliveryBlocked(str(exc))
    if isinstance(exc, BadRequest):
        text = str(exc).lower()
        if any(marker in text for marker in _GONE):
            return DeliveryBlocked(str(exc))
        return DeliveryRejected(str(exc))
    if isinstance(exc, TimedOut):
        if "pool timeout" in str(exc).lower():  # no connection was free: nothing was sent
            return DeliveryFailed(str(exc))
        return DeliveryUnknown(str(exc))
    if isinstance(exc, TelegramError):
        return DeliveryFailed(f"{type(exc).__name__}: {exc}")
    return None


def wrap_sender(sender: Sender) -> Sender:
    """A sender that raises ``bot.core.delivery`` errors instead of PTB's."""
    if getattr(sender, "__delivery_mapped__", False):
        return sender

    async def mapped(user_id: str, reply: Reply, **kw: Any) -> None:
        try:
            await sender(user_id, reply, **kw)
        except Exception as exc:
            err = map_telegram_error(exc)
            if err is None or err is exc:
                raise
            raise err from exc

    mapped.__delivery_mapped__ = True  # type: ignore[attr-defined]
    return mapped


def install(core: Core, platform: str = "tg") -> bool:
    """Wrap the registered Telegram sender in place; False when there is none. Idempotent."""
    sender = core.senders.get(platform)
    if sender is None:
        return False
    core.register_sender(platform, wrap_sender(sender))
    return True
