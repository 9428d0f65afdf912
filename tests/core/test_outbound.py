"""The shared outbound limiter on real Redis (single server and Redis Cluster): chat, group and
global limits, pauses, the give-back of a chat slot when the global step refuses, hashed chat
names in keys, and retries of a step that stay single entries."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.crc import key_slot

from bot.core.outbound import GLOBAL_WINDOW_MS, OutboundLimiter, OutboundLimits
from bot.core.service import Core
from bot.core.store import K
from tests.support.factory import make_core
from tests.support.redis_cluster import RedisCluster3

CHAT = "6161234"  # a Telegram chat id: it must never appear in a key name
LIMITS = OutboundLimits(global_per_second=100, chat_per_second=1, group_per_minute=2)


def limiter(core: Core, limits: OutboundLimits = LIMITS, platform: str = "tg") -> OutboundLimiter:
    return OutboundLimiter(core.store, platform, limits, secret=core.signing_secret)


async def chat_entries(core: Core, lim: OutboundLimiter, chat: str, scope: str = "chat") -> int:
    return int(await core.store.redis.zcard(K.outbound_window(lim.platform, scope, lim.subject(chat))))


async def all_keys(core: Core) -> list[str]:
    return [k async for k in core.store.redis.scan_iter(match="*", count=1000)]


async def test_chat_group_and_pause_limits_are_shared_by_processes(core: Core) -> None:
    one, other = limiter(core), limiter(core)  # two processes on one Redis
    assert [(await one.acquire("7")).granted for _ in range(4)] == [True, True, True, False]
    denied = await other.acquire("7")
    assert not denied.granted and denied.reason == "chat" and 0 < denied.wait_ms <= 3000
    assert (await other.acquire("8")).granted
    assert [(await one.acquire("-100", group=True)).granted for _ in range(3)] == [True, True, False]
    assert (await one.acquire("-100", group=True)).reason == "group"
    await other.pause("9", 0.2)
    paused = await one.acquire("9")
    assert paused.reason == "paused" and 0 < paused.wait_ms <= 200
    assert 0.1 <= await one.wait_turn("9") < 1.0


async def test_a_global_refusal_gives_the_chat_slot_back(core: Core) -> None:
    lim = limiter(core, OutboundLimits(global_per_second=2, chat_per_second=1, group_per_minute=20))
    assert (await lim.acquire("1")).granted and (await lim.acquire("2")).granted
    refused = await lim.acquire("3", group=True)
    assert not refused.granted and refused.reason == "global" and 0 < refused.wait_ms <= GLOBAL_WINDOW_MS
    # The chat's step had recorded the send; the refusal took exactly that entry back.
    assert await chat_entries(core, lim, "3") == 0 and await chat_entries(core, lim, "3", "group") == 0
    assert await chat_entries(core, lim, "1") == 1
    await lim.wait_turn("3", group=True)  # the next global second: it goes, counted once
    assert await chat_entries(core, lim, "3") == 1 and await chat_entries(core, lim, "3", "group") == 1
    await lim.pause(None, 0.3)  # a global pause (every chat)
    held = await lim.acquire("4")
    assert held.reason == "paused" and await chat_entries(core, lim, "4") == 0


async def test_key_names_hold_a_keyed_hash_of_the_chat_never_its_id(redis_url: str, tmp_path: Path,
                                                                    core: Core) -> None:
    lim = limiter(core)
    await lim.wait_turn(CHAT, group=True)
    await lim.pause(CHAT, 5)
    keys = await all_keys(core)
    assert keys and not any(CHAT in k for k in keys)
    subject = lim.subject(CHAT)
    assert len(subject) == 16 and {K.outbound_pause("tg", subject), K.outbound_window("tg", "chat", subject)} <= set(keys)
    # The same name in every process with the secret; another secret names it differently.
    assert limiter(core).subject(CHAT) == subject
    stranger = make_core(redis_url, tmp_path, SIGNING_SECRET="another-secret-of-enough-length")
    try:
        assert limiter(stranger).subject(CHAT) != subject
    finally:
        await stranger.store.close()


async def test_a_retried_step_is_one_entry_and_a_crash_between_steps_expires(core: Core) -> None:
    lim = limiter(core)
    keys = lim._chat_keys(lim.subject("5"))
    step = core.store.scripts["outbound_chat"]
    member = uuid.uuid4().hex
    for _ in range(2):  # the client retried the call (a lost reply): one entry, not two
        assert await step(keys=keys, args=[member, 3, 3000, 2, 60_000]) == [0, "ok"]
    assert await chat_entries(core, lim, "5") == 1 and await chat_entries(core, lim, "5", "group") == 1
    gstep = core.store.scripts["outbound_global"]
    for _ in range(2):
        assert await gstep(keys=lim._global_keys(), args=[member, 100, 1000]) == [0, "ok"]
    assert await core.store.redis.zcard(lim._global_keys()[0]) == 1
    # A process dying between the steps leaves its chat entry; it lives no longer than the window.
    assert await step(keys=keys, args=[uuid.uuid4().hex, 3, 3000, 0, 60_000]) == [0, "ok"]
    assert 0 < await core.store.redis.pttl(keys[0]) <= 3000


# --- Redis Cluster ---------------------------------------------------------------------------

@pytest.fixture
async def cluster_core(redis_cluster: RedisCluster3, tmp_path: Path) -> AsyncIterator[Core]:
    redis_cluster.flushall()
    c = make_core(redis_cluster.url, tmp_path)
    yield c
    await c.store.close()


async def test_limits_and_give_back_on_a_cluster(cluster_core: Core) -> None:
    lim = limiter(cluster_core, OutboundLimits(global_per_second=3, chat_per_second=1, group_per_minute=2))
    chat_keys, global_keys = lim._chat_keys(lim.subject(CHAT)), lim._global_keys()
    # One slot per step (the old single script spanned both and failed with CROSSSLOT here).
    assert len({key_slot(k.encode()) for k in chat_keys}) == 1
    assert len({key_slot(k.encode()) for k in global_keys}) == 1
    assert key_slot(chat_keys[0].encode()) != key_slot(global_keys[0].encode())
    assert [(await lim.acquire(CHAT, group=True)).granted for _ in range(3)] == [True, True, False]
    assert (await lim.acquire(CHAT, group=True)).reason == "group"
    assert (await lim.acquire("other")).granted  # the third send of this global second
    refused = await lim.acquire("third")
    assert refused.reason == "global" and await chat_entries(cluster_core, lim, "third") == 0
    await lim.pause("third", 0.2)
    assert (await lim.acquire("third")).reason == "paused"
    assert not any(CHAT in k for k in await all_keys(cluster_core))


async def test_one_script_on_a_single_server_records_all_or_nothing(core: Core) -> None:
    lim = limiter(core, OutboundLimits(global_per_second=2, chat_per_second=1, group_per_minute=20))
    assert core.store.topology == "single" and lim._one_step
    keys = [*lim._chat_keys(lim.subject("5")), *lim._global_keys()]
    step = core.store.scripts["outbound_acquire"]
    member = uuid.uuid4().hex
    for _ in range(2):  # a retried call (a lost reply): one entry per window, not two
        assert await step(keys=keys, args=[member, 3, 3000, 20, 60_000, 2, 1000]) == [0, "ok"]
    assert await chat_entries(core, lim, "5") == 1 and await chat_entries(core, lim, "5", "group") == 1
    assert await core.store.redis.zcard(keys[3]) == 1
    assert (await lim.acquire("6")).granted  # the second send of this global second
    refused = await lim.acquire("7", group=True)
    assert refused.reason == "global" and 0 < refused.wait_ms <= GLOBAL_WINDOW_MS
    # Refused in the same script: nothing was recorded anywhere, so nothing had to be given back.
    assert await chat_entries(core, lim, "7") == 0 and await chat_entries(core, lim, "7", "group") == 0
    assert await core.store.redis.zcard(keys[3]) == 2
