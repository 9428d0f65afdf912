"""Random identifiers for the hot paths (ledger entries, rate-limit and pacing members,
request ids, invite ids), from the operating system's CSPRNG in blocks.

``os.urandom`` is a system call per id, and ``uuid.uuid4().hex`` adds an object and a
formatting step on top: several microseconds per update in a virtual machine. Here one
``os.urandom(4096)`` serves hundreds of ids. The bytes are the same kind ``secrets`` uses, each
handed out once; the block is dropped in a forked child (``os.register_at_fork``), so two
processes never share one. A lock makes it safe from any thread (no two callers ever get the
same bytes).
"""

from __future__ import annotations

import os
import threading

__all__ = ["random_bytes", "random_hex"]

_BLOCK = 4096
_pool = b""
_at = 0
_lock = threading.Lock()


def _drop() -> None:
    global _pool, _at, _lock
    _pool, _at = b"", 0
    _lock = threading.Lock()  # a lock held by another thread at fork time stays held in the child


os.register_at_fork(after_in_child=_drop)


def random_bytes(n: int) -> bytes:
    """``n`` (1..256) bytes from the OS CSPRNG, each byte handed out once in this process."""
    global _pool, _at
    if not 0 < n <= 256:
        raise ValueError("1..256 bytes at a time")
    with _lock:
        if _at + n > len(_pool):
            _pool, _at = os.urandom(_BLOCK), 0
        out = _pool[_at:_at + n]
        _at += n
    return out


def random_hex(n: int) -> str:
    """``random_bytes(n)`` as ``2 * n`` lower-case hex digits."""
    return random_bytes(n).hex()
