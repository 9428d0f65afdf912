"""Deterministic hashing and seeded choice shared by every content engine.

Python's built-in ``hash()`` is salted per process, so it must never decide content.
Everything here is pure, stable across processes and machines, and cheap.
"""

from __future__ import annotations

import hashlib
from typing import TypeVar
from collections.abc import Sequence

__all__ = ["fnv1a_64", "seed_of", "pick", "pick_index", "SeededRandom", "KeyedHash"]

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK = 0xFFFFFFFFFFFFFFFF

T = TypeVar("T")


def fnv1a_64(data: str | bytes) -> int:
    """64-bit FNV-1a of ``data`` (str is UTF-8 encoded)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    h = _FNV_OFFSET
    for byte in data:
        h ^= byte
        h = (h * _FNV_PRIME) & _MASK
    return h


def seed_of(*parts: object) -> int:
    """A stable seed from several parts, joined with a separator that cannot be confused."""
    return fnv1a_64("\x1f".join(str(p) for p in parts))


def pick_index(n: int, *parts: object) -> int:
    """A stable index in ``range(n)`` for the given parts."""
    if n <= 0:
        raise ValueError("pick_index needs n > 0")
    return seed_of(*parts) % n


def pick(items: Sequence[T], *parts: object) -> T:
    """A stable choice from ``items`` for the given parts."""
    return items[pick_index(len(items), *parts)]


class SeededRandom:
    """A tiny deterministic PRNG (splitmix64) for draws that need several numbers.

    Stable across Python versions, unlike ``random.Random`` whose algorithms for
    ``shuffle``/``sample`` are not a documented contract.
    """

    __slots__ = ("_state",)

    def __init__(self, seed: int) -> None:
        self._state = seed & _MASK

    def next_u64(self) -> int:
        self._state = (self._state + 0x9E3779B97F4A7C15) & _MASK
        z = self._state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        """A number in ``range(n)`` (n > 0); modulo bias is negligible for small n."""
        if n <= 0:
            raise ValueError("below needs n > 0")
        return self.next_u64() % n

    def chance(self, numerator: int, denominator: int) -> bool:
        """True with probability numerator/denominator."""
        return self.below(denominator) < numerator

    def sample(self, n: int, k: int) -> list[int]:
        """k distinct indices from range(n), in draw order (partial Fisher-Yates)."""
        if not 0 <= k <= n:
            raise ValueError("sample needs 0 <= k <= n")
        pool = list(range(n))
        for i in range(k):
            j = i + self.below(n - i)
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]


_BLOCK = 64  # SHA-256's block size
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


class KeyedHash:
    """HMAC-SHA256 under one fixed key: ``KeyedHash(key).digest(msg) == hmac.digest(key, msg,
    "sha256")``, byte for byte (tests/core/test_hashing.py).

    The key's inner and outer hash states are computed once and copied per call; ``hmac.digest``
    rebuilds them (and OpenSSL 3 looks the digest up again) every time, about three times the
    cost. For the keyed hashes made on every update or pairing: pseudonyms, leaderboard members,
    invite signatures. Stateless per call, so safe to share across tasks.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def digest(self, msg: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(msg)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def hexdigest(self, msg: bytes) -> str:
        return self.digest(msg).hex()
