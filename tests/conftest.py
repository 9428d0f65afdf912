"""Shared fixtures: one real redis-server for the session, flushed before every test.

Both backends: a module (or test) marked ``pytest.mark.both_backends`` runs every test that
uses ``redis_url`` (and so ``core``) twice — on the standalone server and on a real local
3-master Redis Cluster (started once per session, flushed before each test). A multi-key
script or transaction whose keys span hash slots fails there with CROSSSLOT, which is a bug
(``bot.core.store.connection``), so the cluster run is what keeps key layout v2 honest.
"""

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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_backends: run on standalone Redis and on a 3-master Redis Cluster")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "redis_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_backends"):
        metafunc.parametrize("redis_backend", ["standalone", "cluster"], indirect=True)


@pytest.fixture
def fresh_sentinel() -> Iterator[RedisSentinelSet]:
    """A Sentinel set of this test's own (about 0.2 s to start): pause its replica, kill its
    primary, whatever the test needs; stopped afterwards."""
    sentinel_set = RedisSentinelSet().start()
    yield sentinel_set
    sentinel_set.cleanup()


@pytest.fixture
def redis_backend(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "standalone"))


@pytest.fixture
def redis_url(redis_backend: str, request: pytest.FixtureRequest) -> str:
    if redis_backend == "cluster":
        cluster: RedisCluster3 = request.getfixturevalue("redis_cluster")
        cluster.flushall()
        return cluster.url
    import redis

    server: RedisProcess = request.getfixturevalue("redis_server")
    client = redis.Redis.from_url(server.url)
    client.flushall()
    client.close()
    return server.url


@pytest.fixture
async def core(redis_url: str, tmp_path: Path) -> AsyncIterator[Core]:
    c = make_core(redis_url, tmp_path)
    yield c
    await c.store.close()
