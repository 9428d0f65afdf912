"""The single-server client's pool and connection (``_GatedPool``, ``_Connection``): a burst
waits for one of ``max_connections`` instead of failing, waiting too long is the pool's
"No connection available", no permit leaks when Redis goes away, and big writes that back up
the socket buffer arrive whole."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.core.errors import ServiceUnavailable
from bot.core.store.connection import _TIMEOUTS, _Connection, _GatedPool, _single, is_outage, redis_guard
from tests.support.redis_proc import RedisProcess


def _client(url: str, size: int, timeout: float = 5.0) -> aioredis.Redis:
    pool = _GatedPool.from_url(url, max_connections=size, timeout=timeout, connection_class=_Connection, **_TIMEOUTS)
    return aioredis.Redis.from_pool(pool)


def _opened(r: aioredis.Redis) -> int:
    pool = r.connection_pool
    return len(pool._available_connections) + len(pool._in_use_connections)


async def test_a_burst_waits_for_a_free_connection_and_never_opens_more(redis_url: str) -> None:
    r = _client(redis_url, 2)
    try:
        # Six blocking pops of 0.2 s on two connections: they take turns, none fails.
        results = await asyncio.gather(*(r.blpop([f"none:{i}"], timeout=0.2) for i in range(6)))
        assert results == [None] * 6
        assert _opened(r) == 2
        assert await r.ping()
    finally:
        await r.aclose()


async def test_waiting_past_the_timeout_is_no_connection_available(redis_url: str) -> None:
    r = _client(redis_url, 1, timeout=0.1)
    try:
        hold = asyncio.create_task(r.blpop(["none"], timeout=1))
        await asyncio.sleep(0.05)
        with pytest.raises(RedisConnectionError, match="No connection available") as info:
            await r.get("k")
        assert is_outage(info.value)  # answered as SERVICE_UNAVAILABLE, like Redis being down
        with pytest.raises(ServiceUnavailable):
            async with redis_guard("test.pool"):
                await r.get("k")
        assert await hold is None
        assert isinstance(_single(redis_url).connection_pool, _GatedPool)
        assert await r.set("k", "v")  # the permit came back
    finally:
        await r.aclose()


async def test_no_permit_leaks_while_redis_is_down() -> None:
    server = RedisProcess().start()
    r = _client(server.url, 2)
    try:
        await r.set("k", "v")
        server.stop()
        for _ in range(10):  # more failures than connections: each gives its permit back
            with pytest.raises(RedisConnectionError):
                await r.get("k")
        server = RedisProcess(port=server.port).start()
        assert await r.set("k", "again")
        assert await asyncio.gather(*(r.get("k") for _ in range(8))) == ["again"] * 8
        assert r.connection_pool._gate._value == 2
    finally:
        await r.aclose()
        server.stop()
        server.cleanup()


async def test_a_write_bigger_than_the_socket_buffer_arrives_whole(redis_url: str) -> None:
    r = _single(redis_url)
    try:
        big = "한" * 3_000_000  # 9 MB of UTF-8: the transport buffers it and the write waits
        await asyncio.gather(r.set("big", big), r.set("small", "x"))
        assert await r.strlen("big") == 9_000_000
        assert await r.get("big") == big
        assert await r.get("small") == "x"
    finally:
        await r.aclose()


@pytest.mark.parametrize("args", [
    ("SET", "k", "värde 한글", 3, b"\x00\xffraw"),
    ("CONFIG GET", "maxmemory"),
    ("ZADD", "z", 2.5, "m"),
    ("SET", "k", True),
    ("SET", "k", memoryview(b"view")),
    ("EVALSHA", "abc", 2, "a", "b", "x|y|한", -7),
])
def test_commands_are_packed_byte_for_byte_like_redis_py(args: tuple[object, ...]) -> None:
    """hiredis packs what it packs exactly as redis-py would; the rest (floats, bools, views,
    multi-word command names) takes redis-py's own packer, which also refuses what it refuses."""
    ours = _Connection(decode_responses=True)
    stock = aioredis.Connection(decode_responses=True)
    try:
        expected = b"".join(bytes(c) for c in stock.pack_command(*args))
    except Exception as exc:  # noqa: BLE001 - redis-py's refusal must be ours too
        with pytest.raises(type(exc)):
            ours.pack_command(*args)
        return
    assert b"".join(bytes(c) for c in ours.pack_command(*args)) == expected
