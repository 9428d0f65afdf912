"""``connect`` / ``open_store``: which errors are outages, and no Redis at all is a clear refusal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from redis.asyncio.sentinel import MasterNotFoundError
from redis.exceptions import (
    AskError,
    ClusterCrossSlotError,
    ClusterDownError,
    CrossSlotTransactionError,
    MasterDownError,
    MaxConnectionsError,
    MovedError,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)

from bot.core.errors import ServiceUnavailable
from bot.core.settings import SettingsError
from bot.core.store.connection import (
    REDIS_ERRORS,
    ClusterUnreachableError,
    RedisServerMissing,
    connect,
    open_store,
    redis_guard,
)
from tests.support.redis_proc import RedisProcess

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("error", [
    ReadOnlyError("READONLY You can't write against a read only replica."),
    ClusterDownError("CLUSTERDOWN The cluster is down"),
    MasterDownError("MASTERDOWN Link with MASTER is down"),
    TryAgainError("TRYAGAIN Multiple keys request during rehashing of slot"),
    MasterNotFoundError("No master found for 'soulmaster'"),
    SlotNotCoveredError('Slot "866" is not covered by the cluster.'),
    ClusterUnreachableError("Redis Cluster cannot be connected."),
    MaxConnectionsError(),
])
def test_failover_and_cluster_outages_are_redis_errors(error: Exception) -> None:
    assert isinstance(error, REDIS_ERRORS)


@pytest.mark.parametrize("error", [
    ClusterCrossSlotError("CROSSSLOT Keys in request don't hash to the same slot"),
    CrossSlotTransactionError("All keys involved in a cluster transaction must map to the same slot"),
    RedisClusterException("EVALSHA - all keys must map to the same key slot"),
    ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
    # Redirections are followed inside the cluster client; one that escaped would be a bug.
    MovedError("3999 127.0.0.1:6381"),
    AskError("3999 127.0.0.1:6381"),
])
def test_bugs_are_not_redis_errors(error: Exception) -> None:
    assert not isinstance(error, REDIS_ERRORS)


async def test_a_write_to_a_demoted_server_answers_service_unavailable() -> None:
    # A plain redis:// URL that points at a node which became a replica (after a failover
    # the old primary comes back as one): READONLY is an outage, not a crash.
    primary, replica = RedisProcess().start(), RedisProcess().start()
    client = connect(replica.url)
    try:
        await client.execute_command("REPLICAOF", "127.0.0.1", str(primary.port))
        with pytest.raises(ServiceUnavailable) as info:
            async with redis_guard("test.write"):
                await client.set("k", "v")
        assert isinstance(info.value.__cause__, ReadOnlyError)
    finally:
        await client.aclose()
        primary.cleanup()
        replica.cleanup()


async def test_an_unreachable_cluster_is_an_outage(tmp_path: Path) -> None:
    dead = RedisProcess()  # a free port with nothing listening
    store = await open_store(f"redis+cluster://127.0.0.1:{dead.port}", tmp_path)
    try:
        with pytest.raises(ServiceUnavailable) as info:
            async with redis_guard("test.read"):
                await store.redis.get("k")
        assert isinstance(info.value.__cause__, ClusterUnreachableError)
    finally:
        await store.close()
        dead.cleanup()


async def test_a_non_cluster_server_behind_a_cluster_url_is_a_loud_error(redis_url: str, tmp_path: Path) -> None:
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    store = await open_store(f"redis+cluster://127.0.0.1:{port}", tmp_path)
    try:
        with pytest.raises(RedisClusterException) as info:
            await store.redis.get("k")
        assert not isinstance(info.value, REDIS_ERRORS)  # misconfiguration, not "try again later"
    finally:
        await store.close()


def test_a_tls_cluster_url_asks_for_tls() -> None:
    from redis.asyncio.connection import SSLConnection

    client = connect("rediss+cluster://bot:pw@127.0.0.1:7000,127.0.0.1:7001")
    assert client.connection_kwargs["connection_class"] is SSLConnection
    assert client.connection_kwargs["password"] == "pw" and client.connection_kwargs["username"] == "bot"
    assert client.connection_kwargs["socket_timeout"] == 3 and client.connection_kwargs["decode_responses"]
    assert [(n.host, n.port) for n in client.startup_nodes] == [("127.0.0.1", 7000), ("127.0.0.1", 7001)]


async def test_without_redis_url_or_binary_open_store_refuses_with_the_install_hint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(RedisServerMissing) as info:
        await open_store(None, tmp_path)
    assert isinstance(info.value, SettingsError)
    assert "apt-get install redis-server" in str(info.value) and "REDIS_URL" in str(info.value)
    assert not (tmp_path / "redis").exists()  # nothing started, nothing half-made


@pytest.mark.parametrize("argv", [["console"], ["broadcast", "status"]])
def test_python_m_bot_exits_non_zero_with_the_install_hint(tmp_path: Path, argv: list[str]) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {"PATH": str(empty), "APP_ENV": "development", "DATA_DIR": str(tmp_path / "data"),
           "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    done = subprocess.run([sys.executable, "-m", "bot", *argv], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "apt-get install redis-server" in done.stdout, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    if argv == ["console"]:  # the console logs to a file; the refusal is logged there too
        assert "redis_server_missing" in (tmp_path / "data" / "console.log").read_text(encoding="utf-8")



async def test_an_outage_reply_inside_a_pipeline_is_still_an_outage(redis_url: str) -> None:
    """redis-py rewrites error replies inside pipelines ("Command # 1 (…) of pipeline caused
    error: NOREPLICAS …"); ``is_outage`` judges the reply, not the wrapper."""
    import redis.asyncio as aioredis
    from redis.exceptions import ResponseError

    from bot.core.store.connection import is_outage

    r = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        await r.config_set("min-replicas-to-write", 1)  # no replica here: writes are refused
        with pytest.raises(ResponseError) as direct:
            await r.set("k", "v")
        async with r.pipeline(transaction=False) as pipe:
            pipe.set("k", "v")
            with pytest.raises(ResponseError) as piped:
                await pipe.execute()
        assert "of pipeline caused error" in str(piped.value)
        assert is_outage(direct.value) and is_outage(piped.value)
        assert not is_outage(ResponseError("Command # 1 (GET) of pipeline caused error: WRONGTYPE x"))
    finally:
        await r.config_set("min-replicas-to-write", 0)
        await r.aclose()


async def test_a_burst_waits_for_one_of_the_pools_connections_and_a_long_wait_is_an_outage(redis_url: str) -> None:
    """The single-server client's pool: more concurrent commands than connections wait for a
    free one (never more connections than the cap); waiting past the pool's timeout is an
    outage, answered as SERVICE_UNAVAILABLE."""
    import asyncio

    import redis.asyncio as aioredis
    import redis.exceptions

    from bot.core.store.connection import _GatedPool, is_outage

    assert isinstance(connect(redis_url).connection_pool, _GatedPool)
    pool = _GatedPool.from_url(redis_url, max_connections=3, timeout=2, decode_responses=True)
    client = aioredis.Redis.from_pool(pool)
    try:
        # 12 commands that each hold a connection for 50 ms, through 3 connections.
        assert await asyncio.gather(*(client.blpop([f"burst:{i}"], 0.05) for i in range(12))) == [None] * 12
        assert len(pool._available_connections) + len(pool._in_use_connections) == 3
        assert await client.ping()
    finally:
        await client.aclose()
    tight = aioredis.Redis.from_pool(_GatedPool.from_url(redis_url, max_connections=1, timeout=0.1))
    try:
        holder = asyncio.create_task(tight.blpop(["burst:hold"], 0.5))
        await asyncio.sleep(0.05)
        with pytest.raises(redis.exceptions.ConnectionError) as info:
            await tight.ping()
        assert is_outage(info.value)
        with pytest.raises(ServiceUnavailable):
            async with redis_guard("test.pool"):
                await tight.ping()
        assert await holder is None
        assert await tight.ping()  # the permit came back
    finally:
        await tight.aclose()
