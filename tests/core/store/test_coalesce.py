"""Concurrent callers' calls sent together (``bot.core.store.coalesce``), on a real Redis: each
caller gets its own replies in its own order, errors stay with their caller, a lost script
cache is recovered, and on one server many concurrent callers share one or two connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.exceptions import ResponseError

from bot.core.store.coalesce import Coalescer, Script
from bot.core.store.connection import connect
from bot.core.store.scripts import Scripts

pytestmark = pytest.mark.both_backends


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Any]:
    r = connect(redis_url)
    yield r
    await r.aclose()


def coalescer(r: Any, redis_url: str) -> Coalescer:
    return Coalescer(r, Scripts(r), cluster=redis_url.startswith("redis+cluster"))


async def test_each_caller_gets_its_own_replies_in_order(client: Any, redis_url: str) -> None:
    batch = coalescer(client, redis_url)

    async def caller(i: int) -> list[Any]:
        key = f"co:{{u{i}}}"
        return await batch.run([("HSET", key, "n", i), ("HINCRBY", key, "n", 10), ("HGETALL", key),
                                Script("pair_finish", [f"{key}:d"], [1000 + i, 60_000]),
                                Script("pair_finish", [f"{key}:d"], [2000 + i, 60_000])])

    results = await asyncio.gather(*(caller(i) for i in range(40)))
    for i, (hset, incr, hgetall, first, again) in enumerate(results):
        assert (hset, incr, hgetall) == (1, i + 10, {"n": str(i + 10)})
        assert (first, again) == (1, 0)  # the script ran once for real, then found "done"
        assert await client.hget(f"co:{{u{i}}}:d", "done") == str(1000 + i)


async def test_an_error_reply_raises_for_its_caller_only(client: Any, redis_url: str) -> None:
    batch = coalescer(client, redis_url)
    await client.set("co:{s}", "text")

    async def wrong() -> list[Any]:
        return await batch.run([("HGETALL", "co:{s}")])  # WRONGTYPE

    async def right(i: int) -> list[Any]:
        return await batch.run([("INCR", f"co:{{c{i}}}")])

    outcomes = await asyncio.gather(wrong(), *(right(i) for i in range(5)), return_exceptions=True)
    assert isinstance(outcomes[0], ResponseError) and "WRONGTYPE" in str(outcomes[0])
    assert outcomes[1:] == [[1]] * 5


async def test_a_lost_script_cache_is_loaded_again(client: Any, redis_url: str) -> None:
    batch = coalescer(client, redis_url)
    assert await batch.run([Script("pair_finish", ["co:{f}"], [1, 60_000])]) == [1]
    await client.script_flush()  # as after a restart (on a cluster: every primary)
    replies = await asyncio.gather(*(batch.run([Script("pair_finish", [f"co:{{g{i}}}"], [i, 60_000])])
                                     for i in range(8)))
    assert replies == [[1]] * 8


async def test_many_concurrent_callers_share_a_pipeline_on_one_server(redis_url: str) -> None:
    if redis_url.startswith("redis+cluster"):
        pytest.skip("on a cluster the calls run one by one (no coalescing)")
    watcher = connect(redis_url)
    r = connect(redis_url)
    try:
        before = int((await watcher.info("clients"))["connected_clients"])
        batch = coalescer(r, redis_url)
        assert batch._direct  # read by the connection itself (``_Connection.run_batch``)
        replies = await asyncio.gather(*(batch.run([("INCR", "co:{n}")]) for _ in range(50)))
        assert sorted(int(x[0]) for x in replies) == list(range(1, 51))
        after = int((await watcher.info("clients"))["connected_clients"])
        assert after - before <= 2  # 50 separate calls would open up to 50 connections
    finally:
        await r.aclose()
        await watcher.aclose()
