"""Keyed pseudonyms for user ids in logs and Sentry: ``tg:333`` -> ``u_3f9a0c17b2de``.

A pseudonym is HMAC-SHA256(key, id), shortened to 12 hex characters. The same id gives the
same pseudonym in every process that shares the key, so one user's log lines can be followed
without the log naming them; without the key, a pseudonym cannot be turned back into an id.

``configure(key)`` is called once at start-up (``Core`` build time) with
``key_from_settings(settings)``. Until then a random per-process key is used, so nothing is
ever logged in the clear. Pure functions, no I/O.
"""

from __future__ import annotations

import hmac
import os
import re
from typing import TYPE_CHECKING

from bot.core.hashing import KeyedHash

if TYPE_CHECKING:
    from bot.core.settings import Settings

__all__ = ["configure", "key_from_settings", "pseudonym", "is_pseudonym", "PREFIX"]

PREFIX = "u_"
_DIGITS = 12
_PSEUDONYM = re.compile(rf"^{PREFIX}[0-9a-f]{{{_DIGITS}}}$")
#: Used when no signing secret is set: random, but the same for the whole process.
_PROCESS_KEY = os.urandom(32)
_key: bytes = _PROCESS_KEY
_hasher = KeyedHash(_key)  # HMAC-SHA256 under ``_key``


def key_from_settings(settings: Settings) -> bytes:
    """The pseudonym key from ``SIGNING_SECRET`` when set, else random per process."""
    secret = settings.env.signing_secret
    if not secret:
        return _PROCESS_KEY
    return key_from_secret(secret.encode("utf-8"))


def key_from_secret(secret: bytes) -> bytes:
    """The pseudonym key derived from the bot's one signing secret (``core.signing_secret``:
    the env secret, or the development secret shared through Redis), so every process shows
    the same pseudonym for a user. Derived with its own label: not the signing key itself."""
    return hmac.digest(secret, b"soul-lab/log-pseudonym/v1", "sha256")


def configure(key: bytes) -> None:
    """Set the process-wide pseudonym key (at start-up, before serving)."""
    global _key, _hasher
    if len(key) < 16:
        raise ValueError("pseudonym key must be at least 16 bytes")
    _key = bytes(key)
    _hasher = KeyedHash(_key)


def is_pseudonym(value: object) -> bool:
    return isinstance(value, str) and _PSEUDONYM.match(value) is not None


def pseudonym(value: object) -> str:
    """``u_`` + 12 hex of HMAC-SHA256(key, str(value)); an existing pseudonym is kept as is."""
    text = str(value)
    if _PSEUDONYM.match(text):
        return text
    digest = _hasher.hexdigest(text.encode("utf-8"))
    return PREFIX + digest[:_DIGITS]
