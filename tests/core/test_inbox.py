"""The durable inbox on real Redis with two consumers standing in for two bot processes:
intake dedupe, encryption at rest, per-chat order across processes, takeover, clean hand-back."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.core.hashing import fnv1a_64
from bot.core.inbox import Inbox, InboxEntry
from bot.core.service import Core
from bot.core.store import K
from tests.support.factory import config_with, make_core


def cores(redis_url: str, tmp_path: Path, n: int = 2) -> list[Core]:
    cfg = config_with(tmp_path, delivery={"takeover_seconds": 21.0, "inbox_partitions": 4})
    return [make_core(redis_url, tmp_path, CONFIG_FILE=str(cfg)) for _ in range(n)]


async def wait_for(check: object, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_intake_drops_duplicates_and_keeps_payloads_encrypted(redis_url: str, tmp_path: Path) -> None:
    [core] = cores(redis_url, tmp_path, 1)
    seen: list[InboxEntry] = []

    async def handler(entry: InboxEntry) -> None:
        seen.append(entry)

    inbox = Inbox(core, "tg", handler)
    update = {"update_id": 1, "message": {"chat": {"id": 5}, "text": "1990-05-17"}}
    assert await inbox.put([("1", "5", update), ("1", "5", update)]) == [True, False]
    assert await inbox.put([("1", "5", update)]) == [False]  # a redelivery, or a second process
    raw = await core.store.redis.xrange(K.inbox_stream("tg", inbox.partition_of("5")))
    assert len(raw) == 1 and "1990" not in str(raw)  # the typed birth date is not readable at rest
    # The chat is named by a keyed hash (the same in every process), never by its id; the
    # partition is still chosen from the chat id as before (stable across the change).
    [(_, fields)] = raw
    assert fields["c"] == inbox.chat_ref("5") == Inbox(core, "tg", handler).chat_ref("5") != "5"
    assert len(fields["c"]) == 16 and inbox.chat_ref("6") != fields["c"]
    assert inbox.partition_of("5") == fnv1a_64("tg:5") % inbox.partitions
    await inbox.start()
    try:
        await wait_for(lambda: len(seen) == 1)
        assert seen[0].payload == update
        await asyncio.sleep(0.1)
        assert await inbox.pending() == 0  # deleted once handled
    finally:
        await inbox.stop(1)
        await core.store.close()


async def test_one_chat_in_order_across_two_processes_and_takeover(redis_url: str, tmp_path: Path) -> None:
    a_core, b_core = cores(redis_url, tmp_path)
    handled: list[tuple[str, str, int]] = []
    release = asyncio.Event()

    def handler_for(name: str) -> object:
        async def handler(entry: InboxEntry) -> None:
            chat = names[entry.chat]  # entries carry the chat's keyed hash
            if name == "a" and chat == "chat-x" and entry.payload["n"] == 3:
                await release.wait()  # process a stalls on the chat's third update, then dies
            handled.append((name, chat, entry.payload["n"]))
        return handler

    a = Inbox(a_core, "tg", handler_for("a"))  # type: ignore[arg-type]
    b = Inbox(b_core, "tg", handler_for("b"))  # type: ignore[arg-type]
    names = {a.chat_ref(c): c for c in ("chat-x", "chat-y")}
    await a.start()  # a owns every partition (alone)
    await b.start()  # b finds none free
    assert len(a.owned) == 4 and b.owned == []
    try:
        # updates of two chats arrive at both processes (a load balancer), in order
        for n in range(1, 7):
            intake = a if n % 2 else b
            await intake.put([(f"x{n}", "chat-x", {"n": n}), (f"y{n}", "chat-y", {"n": n})])
        await wait_for(lambda: sum(1 for h in handled if h[1] == "chat-x") == 2
                       and sum(1 for h in handled if h[1] == "chat-y") == 6)
        await asyncio.sleep(0.2)  # a's deletes of what it finished are written
        # a dies with chat-x's third update in hand: its leases and heartbeat run out, b takes over
        for task in a._tasks:
            task.cancel()
        a._stopping = True
        await a_core.store.redis.delete(*(K.inbox_lease("tg", p) for p in range(4)))
        await a_core.store.redis.zrem(K.inbox_members("tg"), a.owner)
        await b._lease_round()
        assert len(b.owned) == 4
        await wait_for(lambda: sum(1 for h in handled if h[1] == "chat-x") >= 6, 15)
        xs = [n for _, chat, n in handled if chat == "chat-x"]
        ys = [n for _, chat, n in handled if chat == "chat-y"]
        assert xs == sorted(xs) and xs[-4:] == [3, 4, 5, 6]  # b re-handles 3 (at-least-once), in order
        assert ys == sorted(ys) and set(ys) == set(range(1, 7))
    finally:
        release.set()
        await b.stop(1)
        await a.dispatcher.join(0.1)
        await a_core.store.close()
        await b_core.store.close()


async def test_stop_hands_unfinished_work_back(redis_url: str, tmp_path: Path) -> None:
    a_core, b_core = cores(redis_url, tmp_path)
    got: list[str] = []

    async def slow(entry: InboxEntry) -> None:
        await asyncio.sleep(30)

    async def quick(entry: InboxEntry) -> None:
        got.append(entry.source_id)

    a = Inbox(a_core, "tg", slow)
    await a.start()
    await a.put([("u1", "c1", {"n": 1}), ("u2", "c2", {"n": 2})])
    await asyncio.sleep(0.2)
    await a.stop(grace=0.1)  # SIGTERM: the handlers did not finish in the grace period
    b = Inbox(b_core, "tg", quick)
    await b.start()  # the leases were given back: no waiting for them to run out
    try:
        await wait_for(lambda: sorted(got) == ["u1", "u2"])
    finally:
        await b.stop(1)
        await a_core.store.close()
        await b_core.store.close()
