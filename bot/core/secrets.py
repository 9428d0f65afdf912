"""The one signing secret every component keys its HMACs with.

Invite tokens (``invites.py``), the pair and invitee-reward markers, leaderboard pseudonyms
(``leaderboard.py``), the ledger's welcome-bonus marker (``credits.py``) and the derived
Telegram webhook secret all derive their keys from ``core.signing_secret`` — there is no
fallback literal anywhere in the code.

* ``SIGNING_SECRET`` set: that is the secret (its UTF-8 bytes), in every environment.
* Not set (development/test only; production refuses to start without it, see
  ``settings.load_settings``): one random 32-byte secret is created the first time any
  process starts on a Redis, under ``K.dev_signing_secret()``, with ``SET NX`` (atomic: of
  several processes starting together exactly one value is stored, and every process then
  reads that same value), and kept without expiry. Every process on the same Redis therefore
  signs and verifies alike; a fresh Redis gets a fresh secret (old invite links stop
  verifying, once-only markers may be granted again — development data only).

Redis down while resolving: ``ServiceUnavailable`` (the bot does not start; nothing was
written). Crash between the ``SET NX`` and the ``GET``: harmless, the next start reads the
value that was stored.
"""

from __future__ import annotations

import logging
import os

from bot.core.logs import log_event
from bot.core.settings import Settings
from bot.core.store import K, Store, redis_guard

__all__ = ["SECRET_BYTES", "SigningSecretMissing", "configured_signing_secret", "resolve_signing_secret"]

#: Size of a generated development secret.
SECRET_BYTES = 32


class SigningSecretMissing(RuntimeError):
    """A Core was built without a resolved signing secret (see ``Core.create``)."""


def configured_signing_secret(settings: Settings) -> bytes | None:
    """``SIGNING_SECRET`` as bytes, or None when it is not configured."""
    value = settings.env.signing_secret
    return value.encode("utf-8") if value else None


def _decode(stored: str | None) -> bytes | None:
    if not stored:
        return None
    try:
        raw = bytes.fromhex(stored)
    except ValueError:
        return None
    return raw if len(raw) == SECRET_BYTES else None


async def resolve_signing_secret(store: Store, settings: Settings) -> bytes:
    """The configured secret, or the development secret shared through ``store`` (created once).

    Raises ``ServiceUnavailable`` when Redis is down, ``SigningSecretMissing`` when the stored
    development secret is unreadable (someone overwrote the key by hand) or in production.
    """
    configured = configured_signing_secret(settings)
    if configured is not None:
        return configured
    if settings.production:  # load_settings already refuses this; never generate one there
        raise SigningSecretMissing("APP_ENV=production requires SIGNING_SECRET")
    key = K.dev_signing_secret()
    for _ in range(3):  # a FLUSHALL between SET and GET is the only way round this loop
        async with redis_guard("secrets.resolve"):
            created = await store.redis.set(key, os.urandom(SECRET_BYTES).hex(), nx=True)
            stored = await store.redis.get(key)
        if stored is None:
            continue
        secret = _decode(stored)
        if secret is None:
            raise SigningSecretMissing(f"Redis key {key} does not hold a {SECRET_BYTES}-byte hex secret; "
                                       "delete it or set SIGNING_SECRET")
        log_event("signing_secret_development", level=logging.WARNING, created=bool(created),
                  hint="SIGNING_SECRET is not set; using a random secret kept in Redis")
        return secret
    raise SigningSecretMissing(f"could not read back {key}")
