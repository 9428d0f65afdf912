"""Concurrent callers' commands sent together: one pipeline per event-loop pass.

A round trip through redis-py costs far more client CPU (task, timeout, socket write, pool)
than the command in it; a non-transactional pipeline of 32 commands costs about a fifth per
command of 32 separate calls. ``Coalescer.run(calls)`` queues one caller's calls; every call
queued during the same pass of the event loop goes out in ONE pipeline (one connection, one
write, replies read in order), and each caller gets its own replies back.

What a caller can rely on:

* its calls run in the order given, on one connection (one server or Sentinel), so a registry
  entry queued before the write it records is written first (as with ``track_in``); nothing
  is atomic across calls (use one script for that);
* other callers' calls in the same pipeline are independent of it (any order between callers);
* a script whose cache entry is missing (``NOSCRIPT`` after a Redis restart) is loaded and run
  again on its own, after the rest of the caller's calls: so never queue, behind a script,
  a call that must only run after that script did — put it in the caller's next ``run``;
* an error reply raises (the first of the caller's); a connection error raises for every caller
  of that pipeline. Redis down: the redis-py error, which ``redis_guard`` turns into
  ``ServiceUnavailable``. A crash mid-pipeline leaves each call done or not done, as with any
  pipeline, so callers queue only idempotent calls or steps that a retry completes.

On a Redis Cluster the calls run one after another in the given order (each routed to its
slot's node; scripts through ``Scripts``): correct, no coalescing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, NamedTuple

from redis.exceptions import NoScriptError

from bot.core.store.scripts import Scripts

__all__ = ["Coalescer", "Script", "Call"]

#: At most this many commands per pipeline (a larger burst is split).
MAX_BATCH = 256
#: Pipelines in flight at once; calls made meanwhile wait for one to come back and then go out
#: together (under load the batches grow by themselves; an idle bot sends at once).
MAX_IN_FLIGHT = 2


class Script(NamedTuple):
    """A script call (``bot/core/store/lua/<name>.lua``). A named tuple: built on every hot
    path, and a frozen dataclass costs three ``object.__setattr__`` calls per instance."""

    name: str
    keys: Sequence[str]
    args: Sequence[Any]


#: A plain command (``("HGETALL", key)``) or a script call (a ``Script``: test for it first,
#: it is a tuple too).
Call = tuple[Any, ...] | Script


class Coalescer:
    """One per client; see the module docstring."""

    def __init__(self, redis: Any, scripts: Scripts, *, cluster: bool) -> None:
        self._redis = redis
        self._scripts = scripts
        self._cluster = cluster
        self._pending: list[tuple[Sequence[Call], asyncio.Future[list[Any]]]] = []
        self._queued = 0
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()  # the event loop keeps only weak references
        pool = getattr(redis, "connection_pool", None)
        #: the pool's connections read a whole batch themselves (``_Connection.run_batch``)
        self._direct = not cluster and getattr(getattr(pool, "connection_class", None), "BATCH_READS", False)
        #: the client's reply callbacks (upper-case names), as a plain dict: read per reply
        self._callbacks: dict[str, Any] = dict(getattr(redis, "response_callbacks", {}))

    async def run(self, calls: Sequence[Call]) -> list[Any]:
        """The replies to ``calls``, in order (see the module docstring for the guarantees)."""
        if self._cluster:
            return [await self._one(c) for c in calls]
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[list[Any]] = loop.create_future()
        if not self._pending and self._in_flight < MAX_IN_FLIGHT:
            loop.call_soon(self._flush)
        self._pending.append((calls, fut))
        self._queued += len(calls)
        if self._queued >= MAX_BATCH:
            self._flush()
        return await fut

    def _flush(self) -> None:
        batch, self._pending, self._queued = self._pending, [], 0
        if batch:
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _sent(self) -> None:
        """A pipeline came back: what queued up meanwhile goes out now, as one pipeline."""
        self._in_flight -= 1
        if self._pending and self._in_flight < MAX_IN_FLIGHT:
            self._flush()

    async def _one(self, call: Call) -> Any:
        if isinstance(call, Script):
            return await self._scripts[call.name](keys=list(call.keys), args=list(call.args))
        return await self._redis.execute_command(*call)

    async def _execute(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """The replies to ``commands`` sent as one pipeline (error replies as exception objects).

        On the single-server client (whose connections have ``run_batch``) the commands go out
        on one pooled connection without redis-py's pipeline object; elsewhere (Sentinel)
        through a redis-py pipeline. Same replies either way (tests/core/store/test_coalesce.py).
        """
        if self._direct:
            pool = self._redis.connection_pool
            conn = await pool.get_connection()
            try:
                return await conn.run_batch(commands, self._callbacks)
            finally:
                await pool.release(conn)
        async with self._redis.pipeline(transaction=False) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            return await pipe.execute(raise_on_error=False)

    async def _send(self, batch: list[tuple[Sequence[Call], asyncio.Future[list[Any]]]]) -> None:
        try:
            await self._send_now(batch)
        finally:
            self._sent()

    async def _send_now(self, batch: list[tuple[Sequence[Call], asyncio.Future[list[Any]]]]) -> None:
        commands: list[tuple[Any, ...]] = []
        for calls, _ in batch:
            for call in calls:
                if isinstance(call, Script):
                    commands.append(("EVALSHA", self._scripts[call.name].sha, len(call.keys), *call.keys, *call.args))
                else:
                    commands.append(call)
        try:
            replies = await self._execute(commands)
        except BaseException as exc:  # the connection failed (or we were cancelled): everyone
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
            if not isinstance(exc, Exception):
                raise
            return
        i = 0
        for calls, fut in batch:
            mine = list(replies[i:i + len(calls)])
            i += len(calls)
            try:
                for j, reply in enumerate(mine):
                    if isinstance(reply, NoScriptError):  # the server lost its script cache
                        mine[j] = await self._one(calls[j])
                error = next((r for r in mine if isinstance(r, Exception)), None)
            except Exception as exc:
                error = exc
            if fut.done():
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(mine)
