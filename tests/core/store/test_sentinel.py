"""A Core behind Redis Sentinel (``redis+sentinel://``): the whole app works (one primary), and a
failover is an outage of a few seconds that answers SERVICE_UNAVAILABLE, never a crash, and ends
by itself on the promoted replica."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import redis
from redis.asyncio.connection import BlockingConnectionPool

from bot.core.errors import ErrorCode
from bot.core.router import Event
from bot.core.store.connection import REDIS_ERRORS, connect
from tests.support.factory import make_core, onboard
from tests.support.redis_cluster import SENTINEL_MASTER, RedisSentinelSet


async def test_the_url_selects_the_database_on_the_primary(redis_sentinel: RedisSentinelSet) -> None:
    client = connect(f"{redis_sentinel.url}/2")
    # Like the single-server client: a burst waits for one of 64 connections instead of failing.
    assert isinstance(client.connection_pool, BlockingConnectionPool)
    assert client.connection_pool.max_connections == 64
    try:
        await client.set("soul:db", "two")
        host, port = redis_sentinel.primary_address()
        direct = redis.Redis(host=host, port=port, db=2, decode_responses=True)
        assert direct.get("soul:db") == "two"
        direct.delete("soul:db")
        direct.close()
    finally:
        await client.aclose()


async def test_a_core_follows_a_failover_to_the_promoted_replica(redis_sentinel: RedisSentinelSet,
                                                                 tmp_path: Path) -> None:
    # The only test that kills the primary (the set stays on the promoted replica afterwards).
    redis_sentinel.flushall()
    core = make_core(redis_sentinel.url, tmp_path)
    try:
        uid = (await onboard(core, "tg:77")).uid
        await core.ledger.grant(uid, 10, "seed", "failover-seed")
        balance = await core.ledger.balance(uid)
        # Replication is asynchronous: make sure the replica has it all before the primary dies.
        assert await core.store.redis.execute_command("WAIT", 1, 5000) == 1
        old = redis_sentinel.kill_primary()

        raw_errors: list[BaseException] = []
        codes: list[ErrorCode | None] = []
        deadline = time.monotonic() + 30
        while True:
            reply = (await core.router.handle(Event("tg", "77", "/credits")))[0]
            codes.append(reply.error)
            # The limiter answers from its in-process window meanwhile: it must not raise.
            await core.limiter.hit("command", "tg:probe")
            try:
                await core.store.redis.get("soul:probe")
            except Exception as exc:  # collected, and every one checked below
                raw_errors.append(exc)
            if reply.error is None:
                break
            assert time.monotonic() < deadline, f"no promoted primary after 30 s: {codes[-3:]}"
            await asyncio.sleep(0.1)

        assert ErrorCode.SERVICE_UNAVAILABLE in codes  # the failover window was seen ...
        # ... and was never a crash. RATE_LIMITED: the limiter's in-process window (30 commands a
        # minute) counting this loop's own requests while Redis was away.
        assert set(codes) <= {ErrorCode.SERVICE_UNAVAILABLE, ErrorCode.RATE_LIMITED, None}, codes
        assert raw_errors and all(isinstance(e, REDIS_ERRORS) for e in raw_errors), \
            {type(e).__name__ for e in raw_errors}
        assert str(balance) in reply.text
        assert redis_sentinel.primary_address()[1] == redis_sentinel.replica_port != old

        # The same Core, no restart: money works on the new primary and nothing was lost.
        assert await core.ledger.balance(uid) == balance
        await core.ledger.spend(uid, 1, "after failover", "failover-spend")
        await core.ledger.spend(uid, 1, "after failover", "failover-spend")  # replayed, charged once
        assert await core.ledger.balance(uid) == balance - 1
        assert (await core.ledger.reconcile(uid)).ok
        info = await core.store.redis.info("replication")
        assert info["role"] == "master"
        assert SENTINEL_MASTER in redis_sentinel.url
    finally:
        await core.store.close()
