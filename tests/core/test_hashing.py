"""``KeyedHash`` is HMAC-SHA256, byte for byte, for every key length (shorter than, equal to
and longer than the 64-byte block) and message."""

from __future__ import annotations

import hmac

import pytest

from bot.core.hashing import KeyedHash


@pytest.mark.parametrize("key_len", [0, 1, 32, 63, 64, 65, 200])
@pytest.mark.parametrize("msg", [b"", b"tg:123", "한글|u_3f9a".encode(), bytes(range(256)) * 5])
def test_keyed_hash_is_hmac_sha256(key_len: int, msg: bytes) -> None:
    key = bytes((7 * i + key_len) % 256 for i in range(key_len))
    keyed = KeyedHash(key)
    assert keyed.digest(msg) == hmac.digest(key, msg, "sha256")
    assert keyed.hexdigest(msg) == hmac.digest(key, msg, "sha256").hex()
    assert keyed.digest(msg) == keyed.digest(msg)  # the stored states are copied, never consumed
