"""What a platform adapter tells the core about itself (``Core.register_platform``).

The core never imports a platform library; an adapter that starts registers one
``PlatformLink``: how to push a reply to one of its users (``sender``), the bot's public
username (Telegram deep links in invites), the link that opens a private chat with the bot
(pointed to when a reply cannot be delivered), and an optional health probe for
``/api/health``. Nothing here touches Redis.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["PlatformLink", "Sender", "HealthProbe"]

#: A platform's way to push a reply: (target, reply, retries=None) -> None. ``target`` is a
#: platform user id (their private chat) or ``"chat:<id>"`` (a group). It returns once the
#: platform accepted the message and raises ``bot.core.delivery`` errors otherwise;
#: ``retries=0`` asks for no hidden retries (the outbox owns retrying).
Sender = Callable[..., Awaitable[None]]

#: Returns a JSON-safe dict with at least ``status`` (``"ok"`` or why not); may raise.
HealthProbe = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class PlatformLink:
    name: str  # "tg", "dc", "cli"
    sender: Sender
    username: str = ""  # the bot's public username, without "@" ("" when it has none)
    dm_link: str = ""  # opens a private chat with the bot
    health: HealthProbe | None = None
    #: False for an operators-only surface (Slack): no user reaches the product there, so the
    #: daily broadcast runs no workers for it and lists no status for it.
    users: bool = True
