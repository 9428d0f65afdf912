"""The single-server client's pool and connection (``_GatedPool``, ``_Connection``): a burst
waits for one of ``max_connections`` instead of failing, waiting too long is the pool's
"No connection available", no permit leaks when Redis goes away, and big writes that back up
the socket buffer arrive whole; ``run_batch`` reads a pipeline exactly as redis-py does, and a
timeout, a cancellation or Redis going away mid-batch drops that connection (no reply is left
for its next user)."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

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


# --- run_batch: a whole pipeline read without redis-py's per-reply machinery -------------------

def _batch_commands(p: str, big: str) -> list[tuple[object, ...]]:
    """Commands whose replies take every shape: RESP3 maps, nulls, booleans through redis-py's
    callbacks, floats, arrays, error replies of two classes, and a reply bigger than one read."""
    return [
        ("SET", f"{p}s", "v", "NX"), ("SET", f"{p}s", "w", "NX"), ("GET", f"{p}none"),
        ("HSET", f"{p}h", "a", "1", "b", "한글"), ("HGETALL", f"{p}h"), ("HGETALL", f"{p}none"),
        ("ZADD", f"{p}z", 1, "x", 2.5, "y"), ("ZRANGE", f"{p}z", 0, -1, "WITHSCORES"),
        ("INCRBYFLOAT", f"{p}f", 1.5), ("EXISTS", f"{p}h", f"{p}none"),
        ("HGETALL", f"{p}s"),  # WRONGTYPE
        ("EVALSHA", "0" * 40, 0),  # NOSCRIPT
        ("SET", f"{p}big", big), ("GET", f"{p}big"), ("DEL", f"{p}big"),
    ]


def _shape(value: object) -> object:
    if isinstance(value, Exception):
        return (type(value), str(value))
    return (type(value), value)


async def test_a_batch_reads_exactly_what_a_redis_py_pipeline_returns(redis_url: str) -> None:
    r = _single(redis_url)
    try:
        big = "x" * 300_000  # several socket reads for one reply
        async with r.pipeline(transaction=False) as pipe:
            for command in _batch_commands("stock:", big):
                pipe.execute_command(*command)
            stock = await pipe.execute(raise_on_error=False)
        pool = r.connection_pool
        conn = await pool.get_connection()
        try:
            ours = await conn.run_batch(_batch_commands("ours:", big), r.response_callbacks)
        finally:
            await pool.release(conn)
        assert [_shape(v) for v in ours] == [_shape(v) for v in stock]
        assert ours[1] is None and ours[0] is True and ours[4] == {"a": "1", "b": "한글"}
        assert isinstance(ours[10], ResponseError) and isinstance(ours[11], NoScriptError)
        assert ours[13] == big
        assert await r.ping()  # nothing left unread on the pooled connection
    finally:
        await r.aclose()


async def test_a_batch_that_outlives_the_socket_timeout_drops_its_connection(redis_url: str) -> None:
    r = aioredis.Redis.from_pool(_GatedPool.from_url(
        redis_url, max_connections=1, connection_class=_Connection, **{**_TIMEOUTS, "socket_timeout": 0.3}))
    try:
        pool = r.connection_pool
        conn = await pool.get_connection()
        try:
            with pytest.raises(RedisTimeoutError):
                await conn.run_batch([("SET", "late", "1"), ("BLPOP", "never", 2)], r.response_callbacks)
            assert not conn.is_connected  # the unread reply can never reach the next user
        finally:
            await pool.release(conn)
        await r.lpush("never", "now")  # the server answers the old BLPOP only to the closed socket
        assert await r.get("late") == "1"
        assert await r.lrange("never", 0, -1) == ["now"]
        assert pool._gate._value == 1
    finally:
        await r.aclose()


async def test_a_cancelled_batch_leaves_no_reply_for_the_next_user(redis_url: str) -> None:
    r = _client(redis_url, 1)
    try:
        pool = r.connection_pool

        async def use() -> list[object]:
            conn = await pool.get_connection()
            try:
                return await conn.run_batch([("BLPOP", "soon", 5)], r.response_callbacks)  # type: ignore[no-any-return]
            finally:
                await pool.release(conn)

        task = asyncio.create_task(use())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await r.rpush("soon", "item")  # would have been the cancelled batch's reply
        conn = await pool.get_connection()
        try:
            assert await conn.run_batch([("LRANGE", "soon", 0, -1)], r.response_callbacks) == [["item"]]
        finally:
            await pool.release(conn)
    finally:
        await r.aclose()


async def test_redis_going_away_mid_batch_is_a_connection_error_and_recovers() -> None:
    server = RedisProcess().start()
    r = _client(server.url, 2)
    try:
        await r.set("k", "v")
        pool = r.connection_pool

        async def batch(commands: list[tuple[object, ...]]) -> list[object]:
            conn = await pool.get_connection()
            try:
                return await conn.run_batch(commands, r.response_callbacks)  # type: ignore[no-any-return]
            finally:
                await pool.release(conn)

        pending = asyncio.create_task(batch([("GET", "k"), ("BLPOP", "never", 5)]))
        await asyncio.sleep(0.1)
        server.stop()
        with pytest.raises(RedisConnectionError) as info:
            await pending
        assert is_outage(info.value)
        server = RedisProcess(port=server.port).start()
        assert await batch([("SET", "k", "again"), ("GET", "k")]) == [True, "again"]
        assert pool._gate._value == 2
    finally:
        await r.aclose()
        server.stop()
        server.cleanup()
