"""``bot.core.ids``: ids from the OS CSPRNG in blocks — the right size, never repeated within a
process (across block refills too), and a forked child does not reuse the parent's block."""

from __future__ import annotations

import os

import pytest

from bot.core import ids


def test_ids_have_the_asked_size_and_do_not_repeat_across_blocks() -> None:
    seen = {ids.random_hex(8) for _ in range(5000)}  # ~10 blocks of 4 KiB
    assert len(seen) == 5000
    assert all(len(h) == 16 and int(h, 16) >= 0 for h in seen)
    assert len(ids.random_bytes(9)) == 9
    with pytest.raises(ValueError):
        ids.random_bytes(0)


def test_a_forked_child_draws_fresh_bytes() -> None:
    ids.random_bytes(1)  # the parent holds a partly used block
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, ids.random_hex(16).encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 32
    assert child != ids.random_hex(16)  # the parent's next bytes are not what the child got


def test_threads_never_get_the_same_bytes() -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        batches = list(pool.map(lambda _: [ids.random_hex(8) for _ in range(2000)], range(8)))
    every = [h for batch in batches for h in batch]
    assert len(set(every)) == len(every) == 16_000
