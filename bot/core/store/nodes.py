"""The primaries behind a Store, one callable per primary: start-up checks (``safety``) and
backups (``backup``) read or act on every primary, whatever the topology."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection

from bot.core.store.connection import Store

__all__ = ["Primary", "primaries"]


@dataclass(frozen=True, slots=True)
class Primary:
    """One primary of the store and how to reach it: ``call("method", *args)`` runs a client
    method on this primary only; host/port/socket/credentials for tools that connect
    themselves (``redis-cli --rdb``)."""

    name: str
    call: Callable[..., Awaitable[Any]]  # call("method", *args) on this primary only
    host: str | None
    port: int | None
    socket: str | None
    username: str | None
    password: str | None
    tls: bool


async def primaries(store: Store) -> list[Primary]:
    """Every primary behind ``store``: each master of a cluster, the primary Sentinel names
    now, or the one server (``embedded`` when the bot started it). Redis down: ``REDIS_ERRORS``."""
    r = store.redis
    if isinstance(r, RedisCluster):
        await r.initialize()
        found = []
        for node in r.get_primaries():
            async def call(method: str, *args: Any, _node: Any = node) -> Any:
                return await getattr(r, method)(*args, target_nodes=_node)

            kw = node.connection_kwargs
            found.append(Primary(str(node.name), call, node.host, int(node.port), None, kw.get("username"),
                                  kw.get("password"), issubclass(node.connection_class, SSLConnection)))
        return found

    async def single(method: str, *args: Any) -> Any:
        return await getattr(r, method)(*args)

    pool = r.connection_pool
    kw = pool.connection_kwargs
    if hasattr(pool, "get_master_address"):  # Sentinel: the primary it names now
        host, port = await pool.get_master_address()
        name = f"{host}:{port}"
        return [Primary(name, single, host, int(port), None, kw.get("username"), kw.get("password"), False)]
    if issubclass(pool.connection_class, UnixDomainSocketConnection):
        name = "embedded" if store.embedded else f"unix:{kw.get('path')}"
        return [Primary(name, single, None, None, str(kw.get("path")), kw.get("username"),
                         kw.get("password"), False)]
    host, port = str(kw.get("host", "localhost")), int(kw.get("port", 6379))
    return [Primary(f"{host}:{port}", single, host, port, None, kw.get("username"), kw.get("password"),
                     issubclass(pool.connection_class, SSLConnection))]
