"""Shared fixtures: one real redis-server for the session, flushed before every test."""

from __future__ import annotations

from pathlib import Path
from collections.abc import AsyncIterator, Iterator

import pytest

from bot.core.service import Core
from tests.support.factory import make_core
from tests.support.redis_cluster import RedisCluster3, RedisSentinelSet
from tests.support.redis_proc import RedisProcess


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisProcess]:
    server = RedisProcess().start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster3]:
    """A real 3-master Redis Cluster, started on first use (about 2 s) and shared by the session.
    Tests flush it themselves (``redis_cluster.flushall()``) when they need it empty."""
    cluster = RedisCluster3().start()
    yield cluster
    cluster.cleanup()


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[RedisSentinelSet]:
    """A primary, a replica and one Sentinel, started on first use and shared by the session.
    ``kill_primary()`` fails it over for good: only one test per session may call it."""
    sentinel_set = RedisSentinelSet().start()
    yield sentinel_set
    sentinel_set.cleanup()


@pytest.fixture
def fresh_sentinel() -> Iterator[RedisSentinelSet]:
    """A Sentinel set of this test's own (about 0.2 s to start): pause its replica, kill its
    primary, whatever the test needs; stopped afterwards."""
    sentinel_set = RedisSentinelSet().start()
    yield sentinel_set
    sentinel_set.cleanup()


@pytest.fixture
def redis_url(redis_server: RedisProcess) -> str:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
async def core(redis_url: str, tmp_path: Path) -> AsyncIterator[Core]:
    c = make_core(redis_url, tmp_path)
    yield c
    await c.store.close()
