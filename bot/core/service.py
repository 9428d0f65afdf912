"""The Core: every shared service built once from Settings and a Store.

Adapters hold one Core and call ``core.router.handle(event)``. Engines (fortune, tarot)
are pure and loaded lazily. ``notify`` reaches a user on their own platform through the
sender the platform adapter registered (pairing news, broadcasts).

Signing: ``core.signing_secret`` (bytes) is the one secret every HMAC in the bot is keyed
with (see ``bot.core.secrets``). ``SIGNING_SECRET`` provides it synchronously; without it
build the Core with ``await Core.create(settings, store)``, which resolves the development
secret shared through Redis. A Core with no secret refuses to be built
(``SigningSecretMissing``) rather than fall back to any literal.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from collections.abc import Awaitable, Callable

from bot.core.accounts import Accounts
from bot.core.clock import Clock, SystemClock
from bot.core import pseudonym
from bot.core.crypto import FieldCipher, load_keys
from bot.core.credits import Ledger
from bot.core.logs import log_event
from bot.core.metrics import Metrics
from bot.core.outbox import Outbox
from bot.core.platforms import PlatformLink, Sender
from bot.core.profiles import Profiles
from bot.core.ratelimit import RateLimiter
from bot.core.reply import Reply
from bot.core.router import Router
from bot.core.secrets import SigningSecretMissing, configured_signing_secret, resolve_signing_secret
from bot.core.sessions import Sessions
from bot.core.settings import Settings
from bot.core.store import Store

if TYPE_CHECKING:
    from bot.core.ai.chain import AIChain
    from bot.core.broadcast.subscriptions import Subscriptions
    from bot.core.invites import Invites
    from bot.core.leaderboard import Leaderboard
    from bot.core.ops import Ops
    from bot.core.payments import PaymentProvider
    from bot.core.streaks import Streaks

__all__ = ["Core", "Sender", "PlatformLink"]


class Core:
    def __init__(self, settings: Settings, store: Store, clock: Clock | None = None, *,
                 signing_secret: bytes | None = None) -> None:
        secret = signing_secret or configured_signing_secret(settings)
        if not secret:
            raise SigningSecretMissing("no signing secret: set SIGNING_SECRET or build the Core with "
                                       "`await Core.create(settings, store)`")
        #: The one key material for every HMAC (invites, markers, pseudonyms, webhook secret).
        self.signing_secret: bytes = secret
        self.settings = settings
        self.store = store
        self.clock = clock or SystemClock()
        self.started_at = time.time()
        pseudonym.configure(pseudonym.key_from_secret(secret))  # user ids in logs and Sentry
        self.cipher = FieldCipher(load_keys(settings.env))  # current key first; older ones decrypt
        self.metrics = Metrics()
        self.ledger = Ledger(store, settings, self.clock, secret)
        self.limiter = RateLimiter(store, settings, self.clock)
        self.accounts = Accounts(self)
        self.profiles = Profiles(store, self.cipher, self.clock, settings.product.profile.default_timezone)
        self.sessions = Sessions(store)
        self.outbox = Outbox(self)
        #: Platform -> its durable inbox (set by adapters; health checks and metrics read it).
        self.inboxes: dict[str, Any] = {}
        self.senders: dict[str, Sender] = {}
        #: Platform adapters running in this process (``register_platform``).
        self.platforms: dict[str, PlatformLink] = {}
        #: Payment providers by name ("stars"), registered by the composition root; any
        #: process with the provider's credentials can refund through it.
        self.payment_providers: dict[str, PaymentProvider] = {}
        #: The AI chain, built on first use (``bot.core.ai.chain.get_chain``): the SDKs are
        #: imported only then.
        self.ai: AIChain | None = None
        #: Called with an account id by /delete; every service keeping per-user data adds one.
        self.erasers: list[Callable[[str], Awaitable[None]]] = []
        # Shared services (features only register commands on top of them).
        from bot.core.broadcast.subscriptions import Subscriptions
        from bot.core.invites import Invites
        from bot.core.leaderboard import Leaderboard
        from bot.core.streaks import Streaks

        self.leaderboard: Leaderboard = Leaderboard(self)
        self.invites: Invites = Invites(self, self.leaderboard)
        self.streaks: Streaks = Streaks(self)
        self.subscriptions: Subscriptions = Subscriptions(self)
        self.erasers.extend([self.subscriptions.erase, self.streaks.erase, self.invites.erase])
        self.ops: Ops | None = None  # set by the ops_cmd feature (bot.core.ops)
        #: Commands are registered by the composition root (``bot.core.features.register_all``).
        self.router = Router(self)

    @classmethod
    async def create(cls, settings: Settings, store: Store, clock: Clock | None = None) -> Core:
        """A Core whose signing secret is resolved first (``SIGNING_SECRET``, or the development
        secret shared through Redis). Raises ``ServiceUnavailable`` when Redis is down."""
        secret = await resolve_signing_secret(store, settings)
        return cls(settings, store, clock, signing_secret=secret)

    # --- platforms and notifications ----------------------------------------------------
    def register_platform(self, link: PlatformLink) -> None:
        """An adapter that started: its sender, public username, DM link and health probe."""
        self.platforms[link.name] = link
        self.senders[link.name] = link.sender
        if link.dm_link:
            self.outbox.dm_links[link.name] = link.dm_link

    def register_sender(self, platform: str, sender: Sender) -> None:
        """Only a sender (tests, and adapters before they know their username)."""
        self.senders[platform] = sender

    def user_platforms(self) -> list[str]:
        """Platforms with a sender here that users reach the product on (not ops-only ones)."""
        return sorted(p for p in self.senders if p not in self.platforms or self.platforms[p].users)

    def bot_username(self, platform: str) -> str:
        """The bot's public username on ``platform`` in this process, else ``""``."""
        link = self.platforms.get(platform)
        return link.username if link is not None else ""

    async def notify(self, aid: str, reply: Reply, platform: str | None = None) -> bool:
        """Push ``reply`` to account ``aid`` on ``platform`` (or any platform it is linked on
        that this process can send to); False when it has no reachable identity (erased, or no
        sender here). Redis down: ``ServiceUnavailable``."""
        target = await self.accounts.target(aid, platform)
        sender = self.senders.get(target[0]) if target else None
        if target is None or sender is None:
            log_event("notify_skipped", user=aid, reason="no reachable identity")
            return False
        await sender(target[1], reply)
        return True

    async def send(self, platform: str, target: str, reply: Reply, *, retries: int | None = None) -> None:
        """Push ``reply`` to ``target`` on ``platform``; raises ``bot.core.delivery`` errors."""
        from bot.core.delivery import DeliveryFailed

        sender = self.senders.get(platform)
        if sender is None:
            raise DeliveryFailed(f"no sender for platform {platform!r} in this process")
        await sender(target, reply, retries=retries)

    async def delivery_figures(self) -> dict[str, int]:
        """Inbox entries not yet handled and partitions owned here (per platform), outbox jobs
        queued / overdue (health checks, ``/metrics``). Redis down: ``ServiceUnavailable``."""
        figures = dict(await self.outbox.figures())
        for platform, inbox in self.inboxes.items():
            figures[f"inbox_{platform}_pending"] = await inbox.pending()
            figures[f"inbox_{platform}_partitions_here"] = len(inbox.owned)
        return figures

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
