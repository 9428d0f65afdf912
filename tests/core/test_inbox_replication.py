"""Money-bearing intake waits for a replica: ``Inbox.put(items, replicate=...)`` on a real
Sentinel set (primary + replica) whose replica is paused and resumed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bot.core.errors import ServiceUnavailable
from bot.core.inbox import Inbox, InboxEntry
from bot.core.settings import SettingsError
from bot.core.store import K
from tests.support import factory
from tests.support.factory import config_with, make_core
from tests.support.redis_cluster import RedisSentinelSet


async def _ignore(entry: InboxEntry) -> None:
    return None


async def test_a_payment_is_kept_only_once_a_replica_has_it(fresh_sentinel: RedisSentinelSet,
                                                            tmp_path: Path) -> None:
    cfg = config_with(tmp_path, delivery={"replica_wait_ms": 300})
    core = make_core(fresh_sentinel.url, tmp_path, CONFIG_FILE=str(cfg))
    inbox = Inbox(core, "tg", _ignore)  # not started: only intake is under test
    pay = ("b:7", "42", {"update_id": 7, "message": {"successful_payment": {"total_amount": 50}}})
    chat = ("b:8", "43", {"update_id": 8, "message": {"text": "/credits"}})
    try:
        assert await inbox.put([pay, chat], replicate={"b:7"}) == [True, True]  # replica in sync
        fresh_sentinel.pause_replica()
        t0 = time.monotonic()
        other = ("b:9", "44", {"update_id": 9, "message": {"text": "/help"}})
        assert await inbox.put([other]) == [True]  # no money: not held up by the replica
        assert time.monotonic() - t0 < 0.25

        pay2 = ("b:10", "42", {"update_id": 10, "message": {"successful_payment": {"total_amount": 50}}})
        with pytest.raises(ServiceUnavailable) as first:
            await inbox.put([pay2], replicate={"b:10"})
        assert first.value.what == "replica"
        stream = K.inbox_stream("tg", inbox.partition_of("42"))
        assert await core.store.redis.xlen(stream) == 2  # stored on the primary all the same ...
        # ... and a redelivery of the same update (a duplicate now) waits again, in vain.
        with pytest.raises(ServiceUnavailable):
            await inbox.put([pay2], replicate={"b:10"})

        fresh_sentinel.resume_replica()
        deadline = time.monotonic() + 10
        while True:  # the platform redelivers until it is acknowledged
            try:
                assert await inbox.put([pay2], replicate={"b:10"}) == [False]  # stored once, acknowledged now
                break
            except ServiceUnavailable:
                assert time.monotonic() < deadline, "the resumed replica never acknowledged"
                await asyncio.sleep(0.1)
        assert await core.store.redis.xlen(stream) == 2
        entries = [fields["s"] for _, fields in await core.store.redis.xrange(stream)]
        assert entries.count("b:10") == 1
        # What the acknowledgement promises: a failover now would promote a replica holding it.
        assert fresh_sentinel.replica_get(K.inbox_seen("tg", inbox.partition_of("42"), "b:10")) != ""
    finally:
        fresh_sentinel.resume_replica()
        await core.store.close()


def test_the_replica_wait_is_bounded(tmp_path: Path) -> None:
    for bad in (0, 2501):
        cfg = config_with(tmp_path, delivery={"replica_wait_ms": bad})
        with pytest.raises(SettingsError, match="(?i)replica_wait_ms"):
            factory.test_settings("redis://127.0.0.1:1/0", tmp_path, CONFIG_FILE=str(cfg))
    assert factory.test_settings("redis://127.0.0.1:1/0", tmp_path).product.delivery.replica_wait_ms == 1000
