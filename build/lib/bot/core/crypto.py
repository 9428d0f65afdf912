"""Field encryption for personal data at rest (birth date, birth time): AES-256-GCM.

Each value gets a fresh 96-bit nonce and is bound to its owner's uid as associated data,
so a ciphertext copied onto another profile fails to decrypt. Values are never logged.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.core.logs import log_event
from bot.core.settings import SettingsError

__all__ = ["FieldCipher", "parse_key", "load_or_create_dev_key"]

_VERSION = "v1"


def parse_key(raw: str) -> bytes:
    """A 32-byte key from base64 (standard or url-safe) or 64 hex characters."""
    raw = raw.strip()
    candidates: list[bytes] = []
    if len(raw) == 64:
        try:
            candidates.append(bytes.fromhex(raw))
        except ValueError:
            pass
    for decoder in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            candidates.append(decoder(raw + "=" * (-len(raw) % 4)))
        except (binascii.Error, ValueError):
            pass
    for key in candidates:
        if len(key) == 32:
            return key
    raise SettingsError("PROFILE_ENCRYPTION_KEY must be 32 bytes as base64 or 64 hex characters")


def load_or_create_dev_key(data_dir: Path) -> bytes:
    """Development only: a random key kept in DATA_DIR/profile.key (mode 600)."""
    path = data_dir / "profile.key"
    if path.exists():
        return parse_key(path.read_text())
    data_dir.mkdir(parents=True, exist_ok=True)
    key = AESGCM.generate_key(bit_length=256)
    path.write_text(base64.urlsafe_b64encode(key).decode())
    path.chmod(0o600)
    log_event("profile_key_generated", level=30, path=str(path),
              note="development key; set PROFILE_ENCRYPTION_KEY in production")
    return key


class FieldCipher:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str, owner: str) -> str:
        nonce = os.urandom(12)
        ct = self._aead.encrypt(nonce, plaintext.encode("utf-8"), owner.encode("utf-8"))
        return f"{_VERSION}:{base64.urlsafe_b64encode(nonce + ct).decode()}"

    def decrypt(self, token: str, owner: str) -> str | None:
        """The plaintext, or None when the value is corrupt or belongs to someone else."""
        version, _, body = token.partition(":")
        if version != _VERSION:
            return None
        try:
            blob = base64.urlsafe_b64decode(body)
            return self._aead.decrypt(blob[:12], blob[12:], owner.encode("utf-8")).decode("utf-8")
        except (InvalidTag, ValueError, binascii.Error):
            log_event("profile_decrypt_failed", level=40, owner=owner)
            return None
