"""What a platform sender may report back: the delivery contract between core and adapters.

A sender (``core.register_sender(platform, fn)``) pushes one ``Reply`` to one user. When it
returns, the message was delivered. When it cannot deliver, it raises one of these (adapters
only translate their library's errors into them; see ``bot/handlers/telegram_delivery.py``):

* ``DeliveryBlocked`` — the user blocked the bot, deleted their account, or the chat does not
  exist (Telegram 403 / 400 "chat not found"). Permanent: callers stop pushing to this user
  (the daily broadcast unsubscribes them).
* ``DeliveryRetryAfter(seconds)`` — the platform said "too many requests, retry after N s"
  (HTTP 429). Nothing was delivered; try again after ``seconds``.
* ``DeliveryFailed`` — nothing was delivered for another reason (network refused, 5xx).
  Worth retrying with backoff a few times.
* ``DeliveryRejected`` (a ``DeliveryFailed``) — the platform refused this message itself (a
  400 other than "chat not found": too long, bad markup). Retrying the same message is
  pointless: the outbox gives up at once; the broadcast treats it like any failure.
* ``DeliveryUnknown`` — the request may or may not have reached the user (a read timeout after
  the request went out). Callers that promise *at most once* must not retry it.
* ``ReplyTargetGone`` — a *reply-to* target (``Event.reply_to``: e.g. a Discord interaction's
  follow-up, usable for 15 minutes) can no longer be used; nothing was delivered. The outbox
  then delivers the usual way (the account's identity on the platform, i.e. a DM).

Anything else a sender raises is treated as ``DeliveryFailed`` by ``as_delivery_error``.
"""

from __future__ import annotations

__all__ = [
    "DeliveryError",
    "DeliveryBlocked",
    "DeliveryRetryAfter",
    "DeliveryFailed",
    "DeliveryRejected",
    "DeliveryUnknown",
    "ReplyTargetGone",
    "as_delivery_error",
]


class DeliveryError(Exception):
    """Base class: a push to one user did not (certainly) arrive."""


class DeliveryBlocked(DeliveryError):
    """Permanent: the user cannot be reached on this platform (blocked the bot, chat gone)."""


class DeliveryRetryAfter(DeliveryError):
    """The platform asked us to slow down; nothing was delivered. Retry after ``seconds``."""

    def __init__(self, seconds: float, message: str = "") -> None:
        self.seconds = max(0.0, float(seconds))
        super().__init__(message or f"retry after {self.seconds:g} s")


class DeliveryFailed(DeliveryError):
    """Nothing was delivered; a later attempt may succeed."""


class DeliveryRejected(DeliveryFailed):
    """The platform refused this message (not the chat): do not retry it unchanged."""


class DeliveryUnknown(DeliveryError):
    """The message may have been delivered (e.g. timed out after sending); do not resend."""


class ReplyTargetGone(DeliveryError):
    """A reply-to target expired or is unknown (nothing delivered): use the account's usual target."""


def as_delivery_error(exc: BaseException) -> DeliveryError:
    """``exc`` as a ``DeliveryError`` (unknown exceptions become ``DeliveryFailed``)."""
    if isinstance(exc, DeliveryError):
        return exc
    return DeliveryFailed(f"{type(exc).__name__}: {exc}"[:300])
