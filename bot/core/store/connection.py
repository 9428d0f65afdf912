"""The Redis connection every service shares.

``open_store`` connects to ``REDIS_URL``, or starts an embedded redis-server, or — only
when no binary exists — uses fakeredis with a warning that data will not survive.
A down Redis surfaces as ``REDIS_ERRORS`` from each call (short timeouts, no hidden
retries); redis-py reconnects by itself on the next call once Redis is back.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import BusyLoadingError, MasterDownError, OutOfMemoryError, ReadOnlyError, ResponseError

from bot.core.logs import log_event
from bot.core.store.embedded import EmbeddedRedis, find_redis_server
from bot.core.store.scripts import Scripts

__all__ = ["Store", "open_store", "REDIS_ERRORS", "connect", "redis_guard", "is_outage"]

#: Exceptions meaning "Redis cannot serve us right now" (as opposed to a bug): unreachable,
#: loading, out of memory (maxmemory with noeviction), a replica after a failover (READONLY),
#: its primary down (MASTERDOWN).
REDIS_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError, RedisTimeoutError, BusyLoadingError, OutOfMemoryError, ReadOnlyError,
    MasterDownError, ConnectionError, OSError,
)
#: Error replies redis-py raises as a plain ``ResponseError`` that still mean an outage:
#: MISCONF (cannot persist: disk full), UNBLOCKED (a blocking read cut off by a failover),
#: BUSY (a script is running too long).
_OUTAGE_REPLIES = ("MISCONF", "UNBLOCKED", "BUSY ")


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` means Redis is (for now) unable to serve, not that our call is wrong."""
    if isinstance(exc, REDIS_ERRORS):
        return True
    return isinstance(exc, ResponseError) and str(exc).startswith(_OUTAGE_REPLIES)


def connect(url: str) -> aioredis.Redis:
    """A client with short timeouts so a dead Redis fails fast instead of hanging users.

    A blocking pool: a burst of concurrent commands waits (up to 5 s) for one of 64
    connections instead of failing with "too many connections".
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=64,
        timeout=5,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=3,
        health_check_interval=15,
        retry_on_timeout=False,
    )
    return aioredis.Redis(connection_pool=pool)


@dataclass
class Store:
    """A Redis client plus its registered scripts and, when embedded, the server process."""

    redis: Any
    kind: str  # "url" | "embedded" | "fakeredis"
    embedded: EmbeddedRedis | None = None
    scripts: Scripts = field(init=False)

    def __post_init__(self) -> None:
        self.scripts = Scripts(self.redis)

    async def ping(self) -> float:
        """Round-trip latency in ms; raises one of REDIS_ERRORS when Redis is down."""
        t0 = time.perf_counter()
        await self.redis.ping()
        return (time.perf_counter() - t0) * 1000

    async def close(self) -> None:
        try:
            await self.redis.aclose()
            pool = getattr(self.redis, "connection_pool", None)
            if pool is not None:
                await pool.disconnect()
        except Exception:  # closing a broken connection must not mask the real exit reason
            pass
        if self.embedded:
            self.embedded.stop()


async def open_store(redis_url: str | None, data_dir: Path) -> Store:
    if redis_url:
        return Store(connect(redis_url), "url")
    binary = find_redis_server()
    if binary:
        server = EmbeddedRedis(data_dir, binary)
        await server.start()
        log_event("redis_embedded_started", socket=str(server.socket))
        return Store(connect(server.url), "embedded", embedded=server)
    import fakeredis

    message = (
        "No REDIS_URL and no redis-server binary: using in-process fakeredis. "
        "DATA WILL NOT SURVIVE A RESTART. Install redis-server (apt-get install redis-server)."
    )
    warnings.warn(message, RuntimeWarning, stacklevel=2)
    log_event("redis_fakeredis_fallback", level=30, message=message)
    return Store(fakeredis.FakeAsyncRedis(decode_responses=True), "fakeredis")


class redis_guard:
    """``async with redis_guard("what"):`` turns a Redis outage into ``ServiceUnavailable``.

    Money paths use it so a down Redis answers SERVICE_UNAVAILABLE. Each guarded change is
    one Lua script, so it either happened entirely or not at all; when the connection
    dropped mid-call the caller cannot know which, and must retry with the same
    idempotency key (which is why every ledger change has one).
    """

    def __init__(self, what: str) -> None:
        self.what = what

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None and is_outage(exc):
            from bot.core.errors import ServiceUnavailable

            log_event("redis_connection_error", level=40, operation=self.what, error=type(exc).__name__)
            raise ServiceUnavailable("redis") from exc
