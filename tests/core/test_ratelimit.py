"""Sliding-window limits in Redis: boundary, sharing across clients, run-time changes, fallback."""

from __future__ import annotations

import pytest

import asyncio

from pathlib import Path

from bot.core.clock import FixedClock
from bot.core.errors import ErrorCode
from bot.core.router import Event
from tests.support.factory import make_core
from tests.support.redis_proc import RedisProcess


pytestmark = pytest.mark.both_backends

async def test_limit_n_passes_n_and_refuses_n_plus_one(redis_url: str, tmp_path: Path) -> None:
    clock = FixedClock(1_800_000_000)
    core = make_core(redis_url, tmp_path, clock=clock, INVITE_LIMIT_PER_USER=5)
    try:
        for i in range(5):
            d = await core.limiter.hit("invite_user", "tg:1")
            assert d.allowed and d.remaining == 4 - i
            clock.advance(1)
        refused = await core.limiter.hit("invite_user", "tg:1")
        assert not refused.allowed
        assert refused.retry_after_s >= 1
        # The oldest hit leaves the window 3600 s after it happened: 3600 - 5 s from now.
        assert refused.retry_after_ms == 3600_000 - 5_000
        clock.advance(3600 - 5)
        assert (await core.limiter.hit("invite_user", "tg:1")).allowed
        # Another subject is independent.
        assert (await core.limiter.hit("invite_user", "tg:2")).allowed
    finally:
        await core.store.close()


async def test_limit_is_shared_by_two_separate_clients(redis_url: str, tmp_path: Path) -> None:
    clock = FixedClock(1_800_000_000)
    a = make_core(redis_url, tmp_path, clock=clock, REWARD_LIMIT_PER_USER=4)
    b = make_core(redis_url, tmp_path, clock=clock, REWARD_LIMIT_PER_USER=4)
    try:
        results = [await (a if i % 2 else b).limiter.hit("reward", "dc:9") for i in range(6)]
        assert [r.allowed for r in results] == [True, True, True, True, False, False]
    finally:
        await a.store.close()
        await b.store.close()


async def test_limits_change_at_run_time_for_every_process(redis_url: str, tmp_path: Path) -> None:
    clock = FixedClock(1_800_000_000)
    a = make_core(redis_url, tmp_path, clock=clock)
    b = make_core(redis_url, tmp_path, clock=clock)
    try:
        await a.limiter.set_limit("ai", 2, 60)
        assert [(await b.limiter.hit("ai", "tg:5")).allowed for _ in range(3)] == [True, True, False]
        eff = await b.limiter.effective()
        assert eff["ai"].limit == 2 and eff["command"].limit == 30
        await a.limiter.reset_limit("ai")
        assert (await a.limiter.hit("ai", "tg:6")).allowed  # the process that changed it: at once
        # Another process reads the overrides outside the script (one slot per script on a
        # cluster) and trusts its copy for ``config_cache_seconds``: then it sees the change.
        b.limiter.config_cache_seconds = 0.2
        await asyncio.sleep(0.25)
        assert (await b.limiter.hit("ai", "tg:5")).allowed
    finally:
        await a.store.close()
        await b.store.close()


async def test_a_limited_user_is_told_rate_limited_with_seconds(redis_url: str, tmp_path: Path) -> None:
    clock = FixedClock(1_800_000_000)
    core = make_core(redis_url, tmp_path, clock=clock)
    try:
        await core.limiter.set_limit("command", 3, 60)
        ev = Event("tg", "77", "/help", lang_hint="ko")
        for _ in range(3):
            assert (await core.router.handle(ev))[0].error is None
        reply = (await core.router.handle(ev))[0]
        assert reply.error is ErrorCode.RATE_LIMITED
        assert "60초" in reply.text
        # the same window: further messages are dropped quietly (one note per window), counted
        assert await core.router.handle(Event("tg", "77", "/help", lang_hint="en")) == []
        assert core.metrics.discarded.labels("tg", "rate_limited")._value.get() == 1
        en_user = Event("tg", "78", "/help", lang_hint="en")
        for _ in range(3):
            await core.router.handle(en_user)
        en = (await core.router.handle(en_user))[0]
        assert "try again in 60 s" in en.text
    finally:
        await core.store.close()


async def test_in_process_limiter_when_redis_is_unreachable(tmp_path: Path) -> None:
    server = RedisProcess().start()
    clock = FixedClock(1_800_000_000)
    core = make_core(server.url, tmp_path, clock=clock)
    try:
        server.stop()
        decisions = [await core.limiter.hit("ai", "tg:1") for _ in range(11)]
        assert [d.allowed for d in decisions] == [True] * 10 + [False]
        assert decisions[-1].retry_after_s == 60
    finally:
        await core.store.close()
        server.cleanup()
