"""A Core on a real 3-master Redis Cluster (``redis+cluster://``): what works today, what fails loudly.

Works: single-key commands, scripts and MULTI/EXEC pipelines whose keys share one hash slot
(a ``{tag}``), redirections. Fails loudly (a bug, never an outage): anything whose keys span
slots (key layout v2 keeps every app script inside one slot; tests marked ``both_backends``
run the feature suites here too). A dead master is an outage: errors in ``REDIS_ERRORS``, recovered by itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ClusterCrossSlotError, ClusterDownError, RedisClusterException

from bot.core.errors import ServiceUnavailable
from bot.core.service import Core
from bot.core.store import K
from bot.core.store.connection import REDIS_ERRORS, connect, redis_guard
from tests.support.factory import make_core
from tests.support.redis_cluster import RedisCluster3

# Three keys sharing the hash slot of "{soul}" (only the part in braces is hashed).
A, B, C = "{soul}:a", "{soul}:b", "{soul}:c"
# Plain keys in slots 866, 9995 and 12182: one on each master (the slots are split in thirds).
SPREAD = ("hello", "qux", "foo")

# Keys across slots: the client refuses before sending ("all keys must map to the same key slot")
# once it knows the slot map; a first call before that reaches a node, which answers CROSSSLOT.
CROSS_SLOT = (RedisClusterException, ClusterCrossSlotError)

TRANSFER = """
local from = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = tonumber(ARGV[1])
if from < amount then return {0, from} end
redis.call('DECRBY', KEYS[1], amount)
redis.call('INCRBY', KEYS[2], amount)
redis.call('RPUSH', KEYS[3], ARGV[2])
return {1, from - amount}
"""


@pytest.fixture
async def cluster_core(redis_cluster: RedisCluster3, tmp_path: Path) -> AsyncIterator[Core]:
    redis_cluster.flushall()
    core = make_core(redis_cluster.url, tmp_path)
    await core.store.redis.initialize()  # reads the slot map now (a first command would too)
    yield core
    await core.store.close()


def _owner(client: RedisCluster, key: str) -> str:
    return str(client.get_node_from_key(key).name)


async def test_the_url_builds_a_cluster_client_that_reaches_every_master(cluster_core: Core,
                                                                         redis_cluster: RedisCluster3) -> None:
    r = cluster_core.store.redis
    assert isinstance(r, RedisCluster) and cluster_core.store.topology == "cluster"
    assert await cluster_core.store.ping() >= 0
    for key in SPREAD:
        assert await r.set(key, key.upper()) is True
    assert {_owner(r, k) for k in SPREAD} == {f"127.0.0.1:{p}" for p in redis_cluster.ports}
    assert [await r.get(k) for k in SPREAD] == ["HELLO", "QUX", "FOO"]  # str: decode_responses


async def test_single_key_core_services_work(cluster_core: Core) -> None:
    await cluster_core.sessions.put("tg:1", "ask", {"step": 2, "q": "오늘 운세"}, ttl_seconds=60)
    assert await cluster_core.sessions.get("tg:1", "ask") == {"step": 2, "q": "오늘 운세"}
    assert await cluster_core.sessions.drop("tg:1", "ask") is True
    assert await cluster_core.profiles.get("tg:1") is None
    assert await cluster_core.ledger.balance("tg:1") == 0
    await cluster_core.limiter.set_limit("command", 5, 30)  # one hash
    assert (await cluster_core.limiter.effective())["command"].limit == 5


async def test_a_single_slot_script_runs_and_survives_a_script_flush(cluster_core: Core) -> None:
    r = cluster_core.store.redis
    transfer = r.register_script(TRANSFER)  # what Store.scripts does for a lua/ file
    await r.set(A, 10)
    assert await transfer(keys=[A, B, C], args=[4, "t1"]) == [1, 6]
    assert await transfer(keys=[A, B, C], args=[7, "t2"]) == [0, 6]  # refused, nothing changed
    assert await r.script_flush() is True  # every primary forgets it (as after a restart)
    assert await transfer(keys=[A, B, C], args=[6, "t3"]) == [1, 0]  # NOSCRIPT -> reloaded
    assert [await r.get(A), await r.get(B), await r.lrange(C, 0, -1)] == ["0", "10", ["t1", "t3"]]


async def test_store_scripts_run_a_shipped_script_whose_keys_share_a_slot(cluster_core: Core) -> None:
    # The shipped limiter script: a window and a hash read in the same slot.
    script = cluster_core.store.scripts["ratelimit"]
    keys = ["{rl}:window", "{rl}:profile"]
    results = [await script(keys=keys, args=[2, 60, 1000 + i, f"m{i}"]) for i in range(3)]
    assert [row[0] for row in results] == [1, 1, 0]


async def test_a_single_slot_transaction_is_atomic_and_a_cross_slot_one_is_refused(cluster_core: Core) -> None:
    r = cluster_core.store.redis
    async with r.pipeline(transaction=True) as pipe:
        pipe.incrby(A, 3).rpush(C, "x").get(A)
        assert await pipe.execute() == [3, 1, "3"]
    async with r.pipeline(transaction=False) as pipe:  # a plain pipeline may span slots
        pipe.set(SPREAD[0], 1).set(SPREAD[1], 2).get(SPREAD[2])
        assert await pipe.execute() == [True, True, None]
    with pytest.raises(RedisClusterException, match="same slot") as info:
        async with r.pipeline(transaction=True) as pipe:
            pipe.incr(SPREAD[0]).incr(SPREAD[1])
            await pipe.execute()
    assert not isinstance(info.value, REDIS_ERRORS)


async def test_a_cross_slot_script_fails_loudly_and_is_not_an_outage(cluster_core: Core) -> None:
    r = cluster_core.store.redis
    transfer = r.register_script(TRANSFER)
    await r.set("wallet:a", 10)
    with pytest.raises(RedisClusterException, match="same key slot") as info:
        async with redis_guard("test.transfer"):  # must not turn the bug into "try later"
            await transfer(keys=["wallet:a", "wallet:b", "wallet:log"], args=[4, "t1"])
    assert not isinstance(info.value, REDIS_ERRORS)
    assert await r.get("wallet:a") == "10" and await r.get("wallet:b") is None  # nothing was sent


async def test_the_servers_crossslot_reply_is_a_bug_not_an_outage(cluster_core: Core) -> None:
    r = cluster_core.store.redis
    node = r.get_node_from_key(SPREAD[0])
    with pytest.raises(ClusterCrossSlotError, match="same slot") as info:
        async with redis_guard("test.mget"):
            # Sent straight to one node, bypassing the client's own slot check: the server answers.
            await r.execute_command("MGET", *SPREAD, target_nodes=node)
    assert not isinstance(info.value, REDIS_ERRORS)


async def test_a_moved_redirection_is_followed_not_raised(cluster_core: Core) -> None:
    r = cluster_core.store.redis
    key = SPREAD[0]
    wrong = next(n for n in r.get_primaries() if n.name != _owner(r, key))
    # The wrong node answers MOVED <slot> <owner>; the client follows it to the owner.
    assert await r.execute_command("SET", key, "moved", target_nodes=wrong) is True
    assert await r.get(key) == "moved"


async def test_the_ledger_runs_on_the_cluster_one_slot_per_account(cluster_core: Core) -> None:
    # Key layout v2: an account's balance, ledger, idempotency keys and holds share its tag.
    aid = await cluster_core.accounts.resolve("tg:5")
    await cluster_core.ledger.grant(aid, 10, "test", "grant-1")
    hold = await cluster_core.ledger.hold(aid, 3, "ask", "hold-1")
    assert await cluster_core.ledger.capture(hold) == "captured"
    await cluster_core.ledger.spend(aid, 2, "x", "spend-1")
    await cluster_core.ledger.spend(aid, 2, "x", "spend-1")  # replay
    assert await cluster_core.ledger.balance(aid) == 5
    assert (await cluster_core.ledger.reconcile(aid)).ok and await cluster_core.ledger.reconcile_all() == []


async def test_a_script_over_two_accounts_is_a_bug_not_an_outage(cluster_core: Core) -> None:
    # CROSSSLOT stays a bug: keys of two accounts in one script fail loudly, never half-write.
    a, b = "a0000000000000001", "a0000000000000002"
    assert K.account(a) != K.account(b)
    with pytest.raises(CROSS_SLOT) as info:
        await cluster_core.store.scripts["ledger_apply"](
            keys=[K.account(a), K.ledger(b), K.idempotency(a, "x")], args=[1, "grant", "x", 0, "e", 0])
    assert not isinstance(info.value, REDIS_ERRORS)


async def test_a_dead_master_is_an_outage_and_the_client_recovers(redis_cluster: RedisCluster3) -> None:
    # Runs on the shared cluster and restarts the killed node before it returns.
    redis_cluster.flushall()
    r = connect(redis_cluster.url)
    try:
        await r.set(SPREAD[0], "before")
        victim = int(_owner(r, SPREAD[0]).rsplit(":", 1)[1])
        other = next(k for k in SPREAD if _owner(r, k) != f"127.0.0.1:{victim}")
        redis_cluster.kill_node(victim)
        errors: list[BaseException] = []
        live_served = 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # until the cluster says CLUSTERDOWN (node timeout 2 s)
            try:
                await r.get(SPREAD[0])  # the dead master's key: connection refused
            except Exception as exc:  # collected and checked below: every one must be an outage
                errors.append(exc)
            try:
                await r.get(other)  # a live master's key: served until the dead one is marked failed
                live_served += 1
            except Exception as exc:
                errors.append(exc)
                if isinstance(exc, ClusterDownError):
                    break
            await asyncio.sleep(0.05)
        assert errors and all(isinstance(e, REDIS_ERRORS) for e in errors), {type(e).__name__ for e in errors}
        assert any(isinstance(e, ClusterDownError) for e in errors), [repr(e)[:80] for e in errors[-4:]]
        # redis-py < 7.2 failed the live masters' keys too while one master was down.
        assert live_served > 0
        with pytest.raises(ServiceUnavailable):
            async with redis_guard("test.read"):
                await r.get(SPREAD[0])
        redis_cluster.restart_node(victim)
        deadline = time.monotonic() + 20
        while True:  # the same client, no restart: it re-reads the slot map by itself
            try:
                assert await r.set(SPREAD[0], "after") is True
                break
            except REDIS_ERRORS:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        assert await r.get(SPREAD[0]) == "after" and await r.get(other) is None
    finally:
        await r.aclose()
