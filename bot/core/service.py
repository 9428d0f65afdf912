"""The Core: every shared service built once from Settings and a Store.

Adapters hold one Core and call ``core.router.handle(event)``. Engines (fortune, tarot)
are pure and loaded lazily. ``notify`` reaches a user on their own platform through the
sender the platform adapter registered (pairing news, broadcasts).
"""

from __future__ import annotations

import time
from typing import Any
from collections.abc import Awaitable, Callable

from bot.core.clock import Clock, SystemClock
from bot.core import pseudonym
from bot.core.crypto import FieldCipher, load_keys
from bot.core.credits import Ledger
from bot.core.logs import log_event
from bot.core.metrics import Metrics
from bot.core.profiles import Profiles
from bot.core.ratelimit import RateLimiter
from bot.core.reply import Reply
from bot.core.router import Router
from bot.core.sessions import Sessions
from bot.core.settings import Settings
from bot.core.store import Store

__all__ = ["Core", "Sender"]

#: A platform's way to push a reply to one of its users: (platform user id, reply) -> None.
Sender = Callable[[str, Reply], Awaitable[None]]


class Core:
    def __init__(self, settings: Settings, store: Store, clock: Clock | None = None) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock or SystemClock()
        self.started_at = time.time()
        pseudonym.configure(pseudonym.key_from_settings(settings))  # user ids in logs and Sentry
        self.cipher = FieldCipher(load_keys(settings.env))  # current key first; older ones decrypt
        self.metrics = Metrics()
        self.ledger = Ledger(store, settings, self.clock)
        self.limiter = RateLimiter(store, settings, self.clock)
        self.profiles = Profiles(store, self.cipher, self.clock, settings.product.profile.default_timezone)
        self.sessions = Sessions(store)
        self.senders: dict[str, Sender] = {}
        self.extras: dict[str, Any] = {}  # feature services registered by feature modules
        #: Called with a uid by /delete; features that keep per-user data register one.
        self.erasers: list[Callable[[str], Awaitable[None]]] = []
        self.router = Router(self)
        from bot.core.features import register_all

        register_all(self.router)

    # --- notifications ----------------------------------------------------------------
    def register_sender(self, platform: str, sender: Sender) -> None:
        self.senders[platform] = sender

    async def notify(self, uid: str, reply: Reply) -> bool:
        """Push ``reply`` to ``uid`` on their platform; False when no sender is available."""
        platform, _, user_id = uid.partition(":")
        sender = self.senders.get(platform)
        if sender is None:
            log_event("notify_skipped", user=uid, reason="no sender for platform")
            return False
        await sender(user_id, reply)
        return True

    # --- errors -------------------------------------------------------------------------
    def capture_exception(self, **tags: str) -> None:
        """Send the current exception to Sentry (when configured) with the given tags."""
        if not self.settings.env.sentry_dsn:
            return
        import sentry_sdk

        with sentry_sdk.new_scope() as scope:
            for k, v in tags.items():
                scope.set_tag(k, v)
            sentry_sdk.capture_exception()

    @property
    def uptime(self) -> float:
        return time.time() - self.started_at
