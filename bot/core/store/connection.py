"""The Redis connection every service shares.

``open_store`` connects to ``REDIS_URL`` — one server (``redis://``, ``rediss://``,
``unix://``), a Redis Cluster (``redis+cluster://``, ``rediss+cluster://``) or a primary
found through Sentinel (``redis+sentinel://``; forms in ``bot.core.store.urls``) — or, with
no ``REDIS_URL``, starts an embedded redis-server. With neither a URL nor a redis-server
binary it refuses to start (``RedisServerMissing``, saying how to install one): there is no
in-process imitation, because data kept there would vanish on exit.

A down Redis surfaces as ``REDIS_ERRORS`` from each call (short timeouts, no hidden
retries); the clients reconnect by themselves on a later call once Redis is back: the
cluster client re-reads the slot map after a connection error, the Sentinel client asks
the Sentinels for the current primary on every new connection (so a failover is followed
without a restart). Redirections (MOVED, ASK) are followed by the cluster client and are
never errors. A command whose keys span hash slots (CROSSSLOT, "all keys must map to the
same key slot") is a bug, not an outage: it is deliberately *not* in ``REDIS_ERRORS``.

Replication is asynchronous: a write the primary acknowledged can be lost in a failover if
no replica had it yet. ``Store.wait_replicated`` confirms that every write that reached the
primary owning a hash slot before the call is on a replica (money intake uses it).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, NodesManager, PipelineCommand, RedisCluster
from redis.asyncio.connection import BlockingConnectionPool, ConnectionPool
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel, SentinelConnectionPool
from redis._parsers.hiredis import NOT_ENOUGH_DATA as _NOT_ENOUGH_DATA
from redis._parsers.hiredis import _AsyncHiredisParser
from redis.crc import key_slot
from redis.exceptions import AskError, BusyLoadingError, ClusterError, ReadOnlyError, RedisClusterException
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MovedError, SlotNotCoveredError, TryAgainError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import OutOfMemoryError, ResponseError

from bot.core.logs import log_event
from bot.core.settings import SettingsError
from bot.core.store.embedded import EmbeddedRedis, find_redis_server
from bot.core.store.coalesce import Coalescer
from bot.core.store.scripts import Scripts
from bot.core.store.urls import RedisTarget, parse_redis_url

__all__ = ["Store", "open_store", "REDIS_ERRORS", "connect", "redis_guard", "RedisServerMissing",
           "ClusterUnreachableError", "is_outage", "sync_probe_key", "MAX_REPLICA_WAIT_MS"]


class ClusterUnreachableError(RedisConnectionError):
    """The cluster client could not (re)build its slot map: no startup node answered, or the
    nodes that did answer do not serve every slot. An outage, like a refused connection."""


#: Exceptions meaning "Redis is not reachable right now" (as opposed to a bug). Callers answer
#: SERVICE_UNAVAILABLE (``redis_guard``) or fall back (the limiter), and recover by themselves.
#: - connection/timeout errors, including Sentinel's ``MasterNotFoundError`` (no primary
#:   during a failover), a full pool, and ``ClusterUnreachableError``;
#: - ``BusyLoadingError``: a restarted server still loading its data;
#: - ``ReadOnlyError`` (READONLY): a write reached a node that was demoted to replica;
#: - ``ClusterError``: CLUSTERDOWN (``ClusterDownError``, ``MasterDownError``) and the
#:   client's "TTL exhausted" after redirections kept failing;
#: - ``TryAgainError`` (TRYAGAIN, a slot being migrated) and ``SlotNotCoveredError``
#:   (a slot with no node while a failover settles);
#: - ``OutOfMemoryError`` (OOM): maxmemory reached with noeviction — reachable, but no writes.
#: Not here, on purpose: ``ClusterCrossSlotError`` (CROSSSLOT), ``CrossSlotTransactionError``
#: and the client's own "all keys must map to the same key slot" — those are bugs.
REDIS_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError, RedisTimeoutError, BusyLoadingError, MasterNotFoundError, ReadOnlyError,
    ClusterError, TryAgainError, SlotNotCoveredError, OutOfMemoryError, ConnectionError, OSError,
)
#: Error replies redis-py raises as a plain ``ResponseError`` that still mean an outage:
#: MISCONF (cannot persist: disk full), UNBLOCKED (a blocking read cut off by a failover),
#: BUSY (a script is running too long), NOREPLICAS (``min-replicas-to-write``: a primary cut
#: off from its replicas refuses writes).
_OUTAGE_REPLIES = ("MISCONF", "UNBLOCKED", "BUSY ", "NOREPLICAS")
_PIPELINE_ERROR = " of pipeline caused error: "


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` means Redis is (for now) unable to serve, not that our call is wrong."""
    if isinstance(exc, REDIS_ERRORS):
        return True
    if not isinstance(exc, ResponseError):
        return False
    # redis-py rewrites an error reply inside a pipeline as "Command # 1 (SET …) of pipeline
    # caused error: ('<reply>',)": judge the reply itself.
    text = str(exc).split(_PIPELINE_ERROR, 1)[-1].lstrip("(\"'")
    return text.startswith(_OUTAGE_REPLIES)

#: Shared by every kind of client: a dead Redis fails fast instead of hanging users.
_TIMEOUTS: dict[str, Any] = {
    "decode_responses": True,
    "socket_connect_timeout": 2,
    "socket_timeout": 3,
    "health_check_interval": 15,
}


#: ``WAIT`` must end before the socket read timeout above (3 s), or a slow replica would look
#: like a dead primary; ``Store.wait_replicated`` refuses longer timeouts.
MAX_REPLICA_WAIT_MS = 2500
#: How long a primary's replica count (``INFO replication``) is trusted before it is read again.
REPLICA_CHECK_SECONDS = 30.0
#: Life of the probe key written before ``WAIT`` (it only has to outlive the ``WAIT``).
SYNC_PROBE_PX = 5000


def _hash_tag(key: str) -> str | None:
    """The part of ``key`` Redis Cluster hashes when it has a non-empty ``{tag}``, else None."""
    start = key.find("{")
    if start < 0:
        return None
    end = key.find("}", start + 1)
    if end <= start + 1:
        return None
    return key[start + 1:end]


def sync_probe_key(slot_key: str) -> str:
    """``sync:{<tag>}``: a key in the same hash slot as ``slot_key`` (its ``{tag}`` when it has
    one, else the whole key as the tag), for ``Store.wait_replicated``'s probe write.

    Not an app data key (it lives 5 s and holds "1"), so it is built here rather than in
    ``keys.py``. Raises ``ValueError`` for the one key shape that cannot be re-tagged (no
    valid ``{tag}`` but a ``}`` in it)."""
    tag = _hash_tag(slot_key)
    probe = f"sync:{{{tag if tag is not None else slot_key}}}"
    if key_slot(probe.encode()) != key_slot(slot_key.encode()):
        raise ValueError("cannot build a probe key in the same hash slot as this key")
    return probe


class RedisServerMissing(SettingsError):
    """No ``REDIS_URL`` and no ``redis-server`` binary on PATH: the bot cannot keep data."""


class _NodesManager(NodesManager):
    """The cluster client's slot-map keeper, whose "cannot build the slot map" failures are outages.

    redis-py raises a plain ``RedisClusterException`` when no startup node answers; that
    class also covers programming errors (cross-slot keys) and misconfiguration (a node
    without cluster mode), so only the unreachable case (a connection error as the cause)
    and the not-fully-covered one become ``ClusterUnreachableError``. Both the client and
    its transaction pipelines rebuild the map through here.
    """

    __slots__ = ()

    async def initialize(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().initialize(*args, **kwargs)
        except RedisClusterException as exc:
            text = str(exc)
            if isinstance(exc.__cause__, REDIS_ERRORS) or "not covered" in text:
                raise ClusterUnreachableError(text) from exc
            raise


class _Cluster(RedisCluster):
    """``RedisCluster`` with ``_NodesManager`` (redis-py builds its own in ``__init__``), and a
    gate that makes it wait for a connection like the single-server client's blocking pool.

    redis-py's cluster client has no blocking pool: a burst of more concurrent commands than
    ``max_connections`` fails with ``MaxConnectionsError``. Every command and pipeline here
    first takes one of ``max_connections`` permits (a call uses at most one connection per
    node), waiting up to ``POOL_WAIT_SECONDS`` like ``BlockingConnectionPool``; past that it
    is an outage (``RedisConnectionError``).

    The slot map is (re)built before a call is let through, by one caller at a time: commands
    racing a (re)initialisation otherwise find their connections closed under them
    ("Connection closed by server"), seen with dozens of concurrent first calls.
    """

    POOL_WAIT_SECONDS = 5.0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.nodes_manager.__class__ = _NodesManager
        self._gate = asyncio.Semaphore(int(kwargs.get("max_connections", 100)))
        self._init_gate = asyncio.Lock()

    async def _enter(self) -> None:
        if self._initialize:  # redis-py's flag: the slot map must be (re)built first
            async with self._init_gate:
                if self._initialize:
                    await self.initialize()
        try:
            await asyncio.wait_for(self._gate.acquire(), self.POOL_WAIT_SECONDS)
        except TimeoutError:
            raise RedisConnectionError("no free cluster connection within the wait") from None

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        await self._enter()
        try:
            return await super().execute_command(*args, **kwargs)
        finally:
            self._gate.release()

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        pipe = super().pipeline(*args, **kwargs)
        run = pipe.execute
        cluster = self

        async def execute(*eargs: Any, **ekwargs: Any) -> Any:
            await cluster._enter()
            try:
                return await run(*eargs, **ekwargs)
            finally:
                cluster._gate.release()

        pipe.execute = execute  # type: ignore[method-assign]
        return pipe


async def _cluster_primary_for(cluster: RedisCluster, key: str) -> ClusterNode:
    """The primary that owns ``key``'s hash slot (reading the slot map first if needed)."""
    await cluster.initialize()
    node: ClusterNode = cluster.nodes_manager.get_node_from_slot(cluster.keyslot(key))
    return node


async def _on_one_connection(cluster: RedisCluster, key: str, *commands: tuple[Any, ...]) -> list[Any]:
    """Run ``commands`` back to back on ONE connection of the primary owning ``key``'s slot.

    The normal routing cannot do this: a non-transactional cluster pipeline picks a node
    per command, and keyless commands such as ``WAIT`` are flagged to go to every node.
    So the commands go straight to the node (``ClusterNode.execute_pipeline``: one pooled
    connection, one write, the replies read in order). A MOVED reply (the slot map
    changed) re-reads the map and tries again; an ASK (the slot is being migrated) or a
    third redirection raises ``TryAgainError`` (an outage: try later). A connection
    error drops the node's idle connections, marks the map stale (re-read by the next
    call, as the client does itself) and is raised.
    """
    for _ in range(3):
        node = await _cluster_primary_for(cluster, key)
        stack = [PipelineCommand(i, *args) for i, args in enumerate(commands)]
        try:
            await node.execute_pipeline(stack)
        except (RedisConnectionError, RedisTimeoutError, OSError):
            node.update_active_connections_for_reconnect()
            await node.disconnect_free_connections()
            cluster._initialize = True  # the client's own "re-read the slot map" flag
            raise
        errors = [c.result for c in stack if isinstance(c.result, Exception)]
        if any(isinstance(e, AskError) and not isinstance(e, MovedError) for e in errors):
            raise TryAgainError("the slot is being migrated")
        if any(isinstance(e, MovedError) for e in errors):
            cluster._initialize = True  # the client's own "re-read the slot map" flag
            continue
        if errors:
            raise errors[0]
        return [c.result for c in stack]
    raise TryAgainError("the slot kept moving")


class _SentinelRedis(aioredis.Redis):
    """The primary's client; closing it closes the Sentinel connections as well."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        manager = getattr(self.connection_pool, "sentinel_manager", None)
        for sentinel in getattr(manager, "sentinels", ()):  # one client per Sentinel
            await sentinel.aclose()


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel's pool (asks the Sentinels for the primary on connect, drops connections to a
    demoted one) with the blocking behaviour of ``connect``'s pool: a burst waits for one of
    64 connections instead of failing."""


try:  # redis[hiredis]; without it redis-py's own packer is used
    from hiredis import pack_command as _pack
except ImportError:  # pragma: no cover - hiredis is a declared dependency
    _pack = None  # type: ignore[assignment]
#: Argument types hiredis packs exactly as redis-py's encoder does (str as UTF-8, int as text).
_PACKABLE = frozenset({str, bytes, int})
#: Reply types that are data as they are (errors, push messages and arrays need a look).
_PLAIN_REPLIES = frozenset({str, int, bytes, dict, type(None), float, bool, set})


class _Connection(aioredis.Connection):
    """redis-py's connection, writing without a task per command.

    With a socket timeout set, redis-py wraps every write in ``asyncio.wait_for`` — on Python
    3.11 a Task and a timer per command, about a fifth of a warm command's CPU — although a
    write the socket buffer takes at once never waits. Here the command is written directly
    and only a backed-up buffer is waited for, bounded by the same timeout; failures close
    the connection and raise the same errors as redis-py's own path (which still handles a
    connection not yet open or one the health check just dropped).
    """

    #: ``run_batch`` works (it reads replies through hiredis, a declared dependency).
    BATCH_READS = _pack is not None

    def pack_command(self, *args: Any) -> list[bytes]:
        """The command in RESP, packed by hiredis (C) instead of redis-py's Python loop — a third
        of a pipelined command's client CPU. Arguments hiredis would format differently from
        redis-py (floats: ``repr``) or accept where redis-py refuses them (None, bools), and
        binary views, go through redis-py's own packer."""
        if _pack is None:
            return super().pack_command(*args)
        for a in args:
            if type(a) not in _PACKABLE:
                return super().pack_command(*args)
        head = args[0]
        if isinstance(head, str):
            if " " in head:
                return super().pack_command(*args)
        elif b" " in head:
            return super().pack_command(*args)
        if self.encoder.encoding != "utf-8" or self.encoder.encoding_errors != "strict":
            return super().pack_command(*args)
        return [_pack(args)]

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self.is_connected or not self.socket_timeout:
            return await super().send_packed_command(command, check_health)
        if check_health:
            await self.check_health()
        writer = self._writer
        if writer is None or writer.transport.is_closing():
            return await super().send_packed_command(command, check_health=False)
        if isinstance(command, str):
            command = command.encode()
        if isinstance(command, bytes):
            command = [command]
        try:
            writer.writelines(command)
            if writer.transport.get_write_buffer_size():  # not all taken by the socket: wait, bounded
                await asyncio.wait_for(writer.drain(), self.socket_timeout)
        except TimeoutError:
            await self.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout writing to socket") from None
        except OSError as e:
            await self.disconnect(nowait=True)
            raise RedisConnectionError(f"Error while writing to socket. {e}.") from e
        except BaseException:
            await self.disconnect(nowait=True)
            raise

    def pack_many(self, commands: Sequence[Sequence[Any]]) -> list[bytes]:
        """``pack_commands`` for a batch, with one type check per command (in C) instead of a
        Python loop per argument; what hiredis cannot pack exactly as redis-py does goes through
        ``pack_command`` (same rules)."""
        if _pack is None or self.encoder.encoding != "utf-8" or self.encoder.encoding_errors != "strict":
            return self.pack_commands(commands)
        out: list[bytes] = []
        for command in commands:
            head = command[0]
            if _PACKABLE.issuperset(map(type, command)) and (" " not in head if isinstance(head, str)
                                                             else b" " not in head):
                out.append(_pack(command if type(command) is tuple else tuple(command)))
            else:
                out.extend(self.pack_command(*command))
        return out

    async def run_batch(self, commands: Sequence[Sequence[Any]], callbacks: Mapping[str, Any]) -> list[Any]:
        """Send ``commands`` in one write and read their replies in order: what a redis-py
        pipeline with ``raise_on_error=False`` returns (an error reply is its exception object in
        its place; ``callbacks`` — the client's ``response_callbacks``, keyed by upper-case
        command name — applied to the others), without redis-py's per-reply machinery: replies
        hiredis already holds are taken at once, and only a read from the socket is bounded by
        the socket timeout (redis-py starts a timer for every reply; under load most replies
        arrive together).

        Same failure behaviour as redis-py: a timeout, a socket error, a cancellation or a
        protocol error closes the connection (no half-read replies are left on it for the next
        user) and raises ``TimeoutError`` / ``ConnectionError`` as redis-py does. RESP3 push
        messages in between are handed to the parser's push handler, as redis-py does.
        """
        parser = self._parser
        if not isinstance(parser, _AsyncHiredisParser):  # redis-py's own path (no hiredis)
            raise TypeError("run_batch needs the hiredis parser")
        await self.send_packed_command(self.pack_many(commands))
        reader = parser._reader
        if not parser._connected or reader is None:
            raise RedisConnectionError("Connection closed by server.")
        gets = reader.gets
        push_type = parser._hiredis_PushNotificationType
        timeout = self.socket_timeout
        replies: list[Any] = []
        append = replies.append
        wanted = len(commands)
        try:
            while len(replies) < wanted:
                reply = gets()
                if reply is _NOT_ENOUGH_DATA:
                    async with asyncio.timeout(timeout):
                        await parser.read_from_socket()
                    continue
                kind = type(reply)
                if kind in _PLAIN_REPLIES:
                    append(reply)
                elif kind is list:
                    if reply and isinstance(reply[0], RedisConnectionError):
                        raise reply[0]
                    append(reply)
                elif push_type is not None and kind is push_type:
                    await parser.handle_push_response(reply)
                elif isinstance(reply, RedisConnectionError):
                    raise reply
                else:
                    append(reply)
        except TimeoutError:
            await self.disconnect(nowait=True)
            raise RedisTimeoutError(f"Timeout reading from {self._host_error()}") from None
        except OSError as e:
            await self.disconnect(nowait=True)
            raise RedisConnectionError(f"Error while reading from {self._host_error()} : {e.args}") from e
        except BaseException:
            await self.disconnect(nowait=True)
            raise
        if self.health_check_interval:
            self.next_health_check = asyncio.get_running_loop().time() + self.health_check_interval
        for i, command in enumerate(commands):
            name = command[0]
            cb = callbacks.get(name.upper() if isinstance(name, str) else name.decode().upper())
            if cb is not None and not isinstance(replies[i], Exception):
                parsed = cb(replies[i])
                replies[i] = await parsed if inspect.isawaitable(parsed) else parsed
        return replies


class _GatedPool(ConnectionPool):
    """A connection pool that makes a burst wait (up to ``timeout`` seconds) for one of
    ``max_connections`` connections, like redis-py's ``BlockingConnectionPool``, with one
    semaphore permit per connection handed out instead of a condition variable and a timer on
    every command (a third of a warm command's CPU). Waiting longer fails with the same
    ``ConnectionError("No connection available.")``."""

    def __init__(self, *args: Any, timeout: float = 5.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout = timeout
        self._gate = asyncio.Semaphore(self.max_connections)

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:  # noqa: ARG002 - redis-py's signature
        gate = self._gate
        if gate.locked():
            try:
                async with asyncio.timeout(self.timeout):
                    await gate.acquire()
            except TimeoutError:
                raise RedisConnectionError("No connection available.") from None
        else:
            await gate.acquire()  # a free permit: returns at once
        try:
            async with self._lock:
                connection = self.get_available_connection()
        except BaseException:
            gate.release()
            raise
        try:
            await self.ensure_connection(connection)  # connected, and no stale reply waiting
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def release(self, connection: Any) -> None:
        try:
            await super().release(connection)
        finally:
            self._gate.release()


def _single(url: str) -> aioredis.Redis:
    pool = _GatedPool.from_url(url, max_connections=64, timeout=5, retry_on_timeout=False,
                               connection_class=_Connection, **_TIMEOUTS)
    return aioredis.Redis.from_pool(pool)  # the client owns the pool: aclose() closes both


def _cluster(target: RedisTarget) -> RedisCluster:
    # retries=0: one attempt per call, like the single-server client; a connection error
    # still marks the slot map stale, so the next call re-reads it (MOVED/ASK are followed
    # regardless, they are not retries). 128 connections per node: the cluster client has
    # no blocking pool, a burst beyond that fails with MaxConnectionsError (an outage).
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return _Cluster(
        startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
        username=target.username, password=target.password, ssl=target.tls,
        retry=Retry(NoBackoff(), 0), max_connections=128, **_TIMEOUTS,
    )


def _sentinel(target: RedisTarget) -> aioredis.Redis:
    if not target.service:  # parse_redis_url never returns one without a name
        raise ValueError("redis+sentinel:// needs the master name")
    sentinel = Sentinel(
        list(target.nodes),
        sentinel_kwargs={"socket_connect_timeout": 1, "socket_timeout": 1, "decode_responses": True},
    )
    return sentinel.master_for(
        target.service, redis_class=_SentinelRedis, connection_pool_class=_BlockingSentinelPool,
        max_connections=64, timeout=5, db=target.db, username=target.username, password=target.password,
        retry_on_timeout=False, **_TIMEOUTS,
    )


def connect(url: str) -> Any:
    """A client for ``url`` (see ``bot.core.store.urls``) with short timeouts, so a dead Redis
    fails fast instead of hanging users, and ``decode_responses=True``.

    One server or Sentinel: a blocking pool — a burst of concurrent commands waits (up to
    5 s) for one of 64 connections instead of failing with "too many connections". Cluster:
    ``redis.asyncio.cluster.RedisCluster`` over the startup nodes. Nothing connects until
    the first command. Raises ``ValueError`` for a URL of no supported form.
    """
    target = parse_redis_url(url)
    if target.kind == "cluster":
        return _cluster(target)
    if target.kind == "sentinel":
        return _sentinel(target)
    return _single(target.url)


@dataclass
class Store:
    """A Redis client plus its registered scripts and, when embedded, the server process."""

    redis: Any
    kind: str  # "url" | "embedded"
    embedded: EmbeddedRedis | None = None
    scripts: Scripts = field(init=False)
    #: Concurrent callers' short commands in one pipeline (``bot.core.store.coalesce``).
    batch: Coalescer = field(init=False)
    #: Primary (node name, or "primary" off a cluster) -> (connected replicas, when read).
    _replica_counts: dict[str, tuple[int, float]] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.scripts = Scripts(self.redis)
        self.batch = Coalescer(self.redis, self.scripts, cluster=isinstance(self.redis, RedisCluster))

    @property
    def topology(self) -> str:
        """"cluster" for a Redis Cluster client, else "single" (one server, maybe via Sentinel)."""
        return "cluster" if isinstance(self.redis, RedisCluster) else "single"

    async def ping(self) -> float:
        """Round-trip latency in ms; raises one of REDIS_ERRORS when Redis is down."""
        t0 = time.perf_counter()
        await self.redis.ping()
        return (time.perf_counter() - t0) * 1000

    async def wait_replicated(self, slot_key: str, timeout_ms: int) -> bool:
        """True once every write that reached the primary owning ``slot_key``'s hash slot
        before this call is on at least one replica; False if none acknowledged within
        ``timeout_ms`` (1..``MAX_REPLICA_WAIT_MS``).

        ``WAIT`` only counts the writes of the connection it runs on, and the pooled clients
        spread commands over many connections. So this writes a probe key in the same slot
        (``sync_probe_key``: ``SET sync:{tag} 1 PX 5000``) and sends ``WAIT 1 <timeout>`` on
        the SAME connection. The replication stream of a primary is one ordered stream:
        once the probe is on a replica, every write the primary applied before it is too.
        One server or Sentinel: a two-command pipeline (one pooled connection, the current
        primary's). Cluster: both commands on one connection of the node owning the slot
        (``_on_one_connection``), never through the cluster's all-nodes routing of
        ``WAIT``. Writes on *other* cluster primaries are not covered.

        A primary with no replica connected (``INFO replication`` ``connected_slaves`` 0,
        read at most every ``REPLICA_CHECK_SECONDS`` per primary) returns True at once:
        there is nothing a failover could promote, and waiting would only block. After a
        False the count is read again on the next call (the replica may be gone for good,
        or a failover may have changed the primary).

        Idempotent (the probe is overwritten). Redis down: raises one of ``REDIS_ERRORS``
        (and READONLY, also one of them, when the "primary" was demoted meanwhile).
        """
        if not 0 < timeout_ms <= MAX_REPLICA_WAIT_MS:
            raise ValueError(f"timeout_ms must be 1..{MAX_REPLICA_WAIT_MS} (WAIT 0 would block forever)")
        probe = sync_probe_key(slot_key)
        set_probe = ("SET", probe, "1", "PX", SYNC_PROBE_PX)
        wait = ("WAIT", 1, timeout_ms)
        if isinstance(self.redis, RedisCluster):
            cluster = self.redis
            node = await _cluster_primary_for(cluster, probe)
            name = str(node.name)
            if not await self._has_replicas(name, lambda: cluster.info("replication", target_nodes=node)):
                return True
            _, acked = await _on_one_connection(cluster, probe, set_probe, wait)
        else:
            name = "primary"
            if not await self._has_replicas(name, lambda: self.redis.info("replication")):
                return True
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.execute_command(*set_probe)
                pipe.execute_command(*wait)
                _, acked = await pipe.execute()
        if int(acked) >= 1:
            return True
        self._replica_counts.pop(name, None)
        return False

    async def _has_replicas(self, name: str, read: Callable[[], Awaitable[dict[str, Any]]]) -> bool:
        now = time.monotonic()
        cached = self._replica_counts.get(name)
        if cached is None or now - cached[1] > REPLICA_CHECK_SECONDS:
            info = await read()
            cached = (int(info.get("connected_slaves", 0)), now)
            self._replica_counts[name] = cached
        return cached[0] > 0

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


INSTALL_HINT = (
    "No REDIS_URL is set and no redis-server binary was found on PATH, so there is nowhere to "
    "keep data. Install Redis (Debian/Ubuntu: apt-get install redis-server; scripts/bootstrap.sh "
    "does it) or set REDIS_URL, e.g. REDIS_URL=redis://127.0.0.1:6379/0."
)


async def open_store(redis_url: str | None, data_dir: Path) -> Store:
    """The store for ``REDIS_URL``, or an embedded redis-server under ``data_dir/redis``.

    Raises ``RedisServerMissing`` (a ``SettingsError``: the entry points print it and exit
    non-zero) when there is neither.
    """
    if redis_url:
        return Store(connect(redis_url), "url")
    binary = find_redis_server()
    if binary:
        server = EmbeddedRedis(data_dir, binary)
        await server.start()
        log_event("redis_embedded_started", socket=str(server.socket))
        return Store(connect(server.url), "embedded", embedded=server)
    log_event("redis_server_missing", level=50, message=INSTALL_HINT)
    raise RedisServerMissing(INSTALL_HINT)


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
