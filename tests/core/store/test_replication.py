"""``Store.wait_replicated``: a probe write plus ``WAIT`` on one connection of the primary that
owns the slot, on one server, Sentinel and Cluster (real servers, real replicas)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
from redis.crc import key_slot

from bot.core.store import Store
from bot.core.store.connection import REDIS_ERRORS, connect, sync_probe_key
from tests.support.redis_cluster import RedisCluster3, RedisSentinelSet

# Plain keys in slots 866, 9995 and 12182: one on each master (the slots are split in thirds).
SPREAD = ("hello", "qux", "foo")


@pytest.mark.parametrize("key", ["ledger:tg:1", "inbox:{tg:p3}", "inbox:{tg:p3}:seen:9", "x{y", "plain", "a{b}{c}"])
def test_the_probe_key_shares_the_keys_hash_slot(key: str) -> None:
    probe = sync_probe_key(key)
    assert probe.startswith("sync:{") and key_slot(probe.encode()) == key_slot(key.encode())


@pytest.mark.parametrize("key", ["odd}key", "a{}b", "{}"])
def test_a_key_that_cannot_be_retagged_is_refused(key: str) -> None:
    # No usable {tag} (none, or an empty one) and a "}" in it: Redis hashes the whole key,
    # which cannot be put inside braces. The app builds no such key.
    with pytest.raises(ValueError, match="same hash slot"):
        sync_probe_key(key)


async def test_one_server_without_replicas_returns_at_once(redis_url: str) -> None:
    store = Store(connect(redis_url), "url")
    try:
        await store.redis.set("money", "1")
        t0 = time.monotonic()
        assert await store.wait_replicated("money", 2000) is True
        assert await store.wait_replicated("money", 2000) is True  # replica count cached
        assert time.monotonic() - t0 < 0.5  # no WAIT was sent (it would have waited 2 s)
        assert await store.redis.exists(sync_probe_key("money")) == 0  # nothing written for nothing
        for bad in (0, -1, 2501):  # WAIT 0 blocks forever; past 2500 the socket timeout would fire
            with pytest.raises(ValueError):
                await store.wait_replicated("money", bad)
    finally:
        await store.close()


async def test_sentinel_waits_until_the_replica_has_every_earlier_write(fresh_sentinel: RedisSentinelSet) -> None:
    store = Store(connect(fresh_sentinel.url), "url")
    try:
        assert await store.wait_replicated("inbox:{tg:p1}", 1000) is True  # in sync: at once
        fresh_sentinel.pause_replica()
        # Written over many pooled connections; WAIT runs on yet another one.
        await asyncio.gather(*(store.redis.set(f"pay:{i}", f"v{i}") for i in range(50)))
        assert await store.wait_replicated("inbox:{tg:p1}", 300) is False  # nobody acknowledged
        waiting = asyncio.create_task(store.wait_replicated("inbox:{tg:p1}", 2000))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # really waiting for the replica, not answering from a cache
        fresh_sentinel.resume_replica()
        assert await waiting is True
        # The promised property: everything written before the call is on the replica now.
        assert [fresh_sentinel.replica_get(f"pay:{i}") for i in range(50)] == [f"v{i}" for i in range(50)]
    finally:
        fresh_sentinel.resume_replica()
        await store.close()


async def test_redis_down_raises_the_usual_errors(fresh_sentinel: RedisSentinelSet) -> None:
    store = Store(connect(fresh_sentinel.url), "url")
    try:
        assert await store.wait_replicated("k", 2000) is True
        fresh_sentinel.cleanup()  # everything gone: Sentinel, primary, replica
        with pytest.raises(REDIS_ERRORS):
            await store.wait_replicated("k", 500)
    finally:
        await store.close()


async def test_cluster_without_replicas_returns_at_once(redis_cluster: RedisCluster3) -> None:
    store = Store(connect(redis_cluster.url), "url")
    try:
        t0 = time.monotonic()
        for key in SPREAD:
            assert await store.wait_replicated(key, 2000) is True
        assert time.monotonic() - t0 < 1.0
    finally:
        await store.close()


@pytest.fixture(scope="module")
def replicated_cluster() -> Iterator[RedisCluster3]:
    """Three masters with one replica each (about 5 s to start), for this module only."""
    cluster = RedisCluster3(replicas=1).start()
    yield cluster
    cluster.cleanup()


@pytest.fixture
async def cluster_store(replicated_cluster: RedisCluster3) -> AsyncIterator[Store]:
    replicated_cluster.flushall()
    store = Store(connect(replicated_cluster.url), "url")
    yield store
    await store.close()


def _replica_get(port: int, key: str) -> str | None:
    client = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
    try:
        client.execute_command("READONLY")  # a cluster replica serves reads only after READONLY
        value = client.get(key)
        return None if value is None else str(value)
    finally:
        client.close()


async def test_cluster_waits_on_the_node_that_owns_the_slot(cluster_store: Store,
                                                            replicated_cluster: RedisCluster3) -> None:
    cluster = cluster_store.redis
    await cluster.initialize()
    owners = {key: int(cluster.get_node_from_key(key).port) for key in SPREAD}
    assert sorted(owners.values()) == replicated_cluster.master_ports()  # one key per master
    for key in SPREAD:
        await cluster.set(key, f"value-{key}")
        assert await cluster_store.wait_replicated(key, 1000) is True
        assert _replica_get(replicated_cluster.replica_of(owners[key]), key) == f"value-{key}"
        # The probe went to that same master (same slot), not to every node.
        direct = redis.Redis(host="127.0.0.1", port=owners[key], decode_responses=True)
        assert direct.pttl(sync_probe_key(key)) > 0
        direct.close()

    # One master's replica stops acknowledging: only that master's slots wait in vain.
    slow_master = owners["qux"]
    replicated_cluster.pause_node(replicated_cluster.replica_of(slow_master))
    try:
        await cluster.set("qux", "changed")
        assert await cluster_store.wait_replicated("qux", 300) is False
        assert await cluster_store.wait_replicated("hello", 300) is True
        assert await cluster_store.wait_replicated("foo", 300) is True
    finally:
        replicated_cluster.resume_node(replicated_cluster.replica_of(slow_master))
    assert await cluster_store.wait_replicated("qux", 2000) is True
    assert _replica_get(replicated_cluster.replica_of(slow_master), "qux") == "changed"
