"""Field encryption for personal data at rest (birth date, birth time): AES-256-GCM with key ids.

A stored value is ``v2:<kid>:<base64url(nonce + ciphertext + tag)>``:

- ``kid`` is the first 8 hex characters of SHA-256 of the key, so a value names the key
  that wrote it and a missing key is noticed (``UnknownKeyId``) instead of read as nothing;
- each value gets a fresh 96-bit nonce;
- the associated data is ``"<owner>|<field>"`` (``tg:123|birth``): a ciphertext copied onto
  another profile, or from one field into another, fails to decrypt.

Keys come from ``PROFILE_ENCRYPTION_KEYS`` (comma separated, current first, older ones
after: they still decrypt, the current one encrypts) or ``PROFILE_ENCRYPTION_KEY`` (one key),
or in development from ``DATA_DIR/profile.key``. Older ``v1:<base64>`` values (associated
data = owner only, no key id) still decrypt with any configured key; ``python -m bot
rotate-keys`` rewrites them as ``v2``. Values and keys are never logged. Pure CPU, no I/O
except the development key file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.core.logs import log_event
from bot.core.settings import SettingsError

if TYPE_CHECKING:
    from bot.core.settings import EnvSettings

__all__ = ["FieldCipher", "UnknownKeyId", "parse_key", "key_id", "load_keys", "load_or_create_dev_key",
           "DEV_KEY_FILE"]

_V1 = "v1"
_V2 = "v2"
DEV_KEY_FILE = "profile.key"


class UnknownKeyId(RuntimeError):
    """A stored value was written with a key this process does not have.

    Raised rather than read as "no birth date", which would send the user through
    onboarding again and overwrite their data. Add the key to ``PROFILE_ENCRYPTION_KEYS``.
    """

    def __init__(self, kid: str) -> None:
        super().__init__(f"profile data is encrypted with key id {kid}, which is not configured")
        self.kid = kid


def key_id(key: bytes) -> str:
    """First 8 hex characters of SHA-256 of the key (names a key without revealing it)."""
    return hashlib.sha256(key).hexdigest()[:8]


def parse_key(raw: str, name: str = "PROFILE_ENCRYPTION_KEY") -> bytes:
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
    raise SettingsError(f"{name} must be 32 bytes as base64 or 64 hex characters")


def _read_key_file(path: Path) -> bytes:
    # A concurrent first start may have created the file and not written it yet.
    for _ in range(50):
        text = path.read_text().strip()
        if text:
            break
        time.sleep(0.02)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(0o600)
        log_event("profile_key_permissions_fixed", level=30, path=str(path), was=oct(mode))
    return parse_key(text, name=str(path))


def load_or_create_dev_key(data_dir: Path) -> bytes:
    """Development only: a random key kept in ``DATA_DIR/profile.key``, mode 0600 from creation.

    Created with ``O_CREAT | O_EXCL`` and mode 0600, so the key is never readable by others,
    not even for a moment, and two processes starting together end up with the same key.
    """
    path = data_dir / DEV_KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(path)
    key = AESGCM.generate_key(bit_length=256)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.urlsafe_b64encode(key).decode())
        fh.flush()
        os.fsync(fh.fileno())
    log_event("profile_key_generated", level=30, path=str(path), kid=key_id(key),
              note="development key; set PROFILE_ENCRYPTION_KEYS in production and back it up")
    return key


def load_keys(env: EnvSettings) -> list[bytes]:
    """The configured keys, current first.

    ``PROFILE_ENCRYPTION_KEYS`` wins; ``PROFILE_ENCRYPTION_KEY`` alone is one key; with
    neither, the development key file. Both set: the single key must be one of the list
    (else start-up stops, naming both variables). Raises ``SettingsError``.
    """
    keys: list[bytes]
    if env.profile_encryption_keys:
        parts = [p for p in env.profile_encryption_keys.split(",") if p.strip()]
        keys = [parse_key(p, f"PROFILE_ENCRYPTION_KEYS entry {i}") for i, p in enumerate(parts, 1)]
        if not keys:
            raise SettingsError("PROFILE_ENCRYPTION_KEYS lists no key")
        if env.profile_encryption_key and parse_key(env.profile_encryption_key) not in keys:
            raise SettingsError("PROFILE_ENCRYPTION_KEY is not one of PROFILE_ENCRYPTION_KEYS: "
                                "list every key in PROFILE_ENCRYPTION_KEYS (current first) and unset "
                                "PROFILE_ENCRYPTION_KEY")
    elif env.profile_encryption_key:
        keys = [parse_key(env.profile_encryption_key)]
    else:
        keys = [load_or_create_dev_key(env.data_dir)]
    unique: dict[str, bytes] = {}
    for key in keys:
        kid = key_id(key)
        if kid in unique and unique[kid] != key:
            raise SettingsError(f"two PROFILE_ENCRYPTION_KEYS share the key id {kid}; generate a new key")
        unique.setdefault(kid, key)
    return list(unique.values())


class FieldCipher:
    """Encrypts with the first key; decrypts with any key (by the value's key id)."""

    def __init__(self, keys: bytes | Sequence[bytes]) -> None:
        key_list = [keys] if isinstance(keys, bytes) else list(keys)
        if not key_list:
            raise ValueError("FieldCipher needs at least one key")
        self._aeads: dict[str, AESGCM] = {}
        for key in key_list:
            self._aeads.setdefault(key_id(key), AESGCM(key))
        self.current_kid = key_id(key_list[0])

    @property
    def kids(self) -> tuple[str, ...]:
        """Key ids this cipher can decrypt, current first."""
        return tuple(self._aeads)

    @staticmethod
    def _aad(owner: str, field: str) -> bytes:
        return f"{owner}|{field}".encode()

    def encrypt(self, plaintext: str, owner: str, field: str) -> str:
        nonce = os.urandom(12)
        ct = self._aeads[self.current_kid].encrypt(nonce, plaintext.encode("utf-8"), self._aad(owner, field))
        return f"{_V2}:{self.current_kid}:{base64.urlsafe_b64encode(nonce + ct).decode()}"

    @staticmethod
    def describe(token: str) -> tuple[str, str | None]:
        """(version, key id) of a stored value: ``("v2", kid)``, ``("v1", None)`` or ``("?", None)``."""
        version, _, rest = token.partition(":")
        if version == _V2:
            kid, sep, _body = rest.partition(":")
            return (_V2, kid) if sep else ("?", None)
        if version == _V1:
            return _V1, None
        return "?", None

    def needs_rotation(self, token: str) -> bool:
        """True unless the value is ``v2`` under the current key."""
        version, kid = self.describe(token)
        return not (version == _V2 and kid == self.current_kid)

    def decrypt(self, token: str, owner: str, field: str) -> str | None:
        """The plaintext; None when the value is corrupt, malformed, or bound to another
        owner or field (logged with the owner pseudonymised). Raises ``UnknownKeyId`` when
        the value names a key this process does not have."""
        version, kid = self.describe(token)
        try:
            if version == _V2 and kid is not None:
                aead = self._aeads.get(kid)
                if aead is None:
                    raise UnknownKeyId(kid)
                blob = base64.urlsafe_b64decode(token.split(":", 2)[2])
                return aead.decrypt(blob[:12], blob[12:], self._aad(owner, field)).decode("utf-8")
            if version == _V1:
                return self._decrypt_v1(token.partition(":")[2], owner)
        except (InvalidTag, ValueError, binascii.Error):
            pass
        log_event("profile_decrypt_failed", level=40, owner=owner, field=field, version=version)
        return None

    def _decrypt_v1(self, body: str, owner: str) -> str:
        """Legacy: associated data = owner only, no key id, so every key is tried."""
        blob = base64.urlsafe_b64decode(body)
        for aead in self._aeads.values():
            try:
                return aead.decrypt(blob[:12], blob[12:], owner.encode("utf-8")).decode("utf-8")
            except InvalidTag:
                continue
        raise InvalidTag()
