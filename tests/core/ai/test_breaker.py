"""The AI breakers on a real Redis Cluster: every breaker script's keys share the provider's
hash tag (``ai:breaker:{openai}…``), so each transition is one slot. On the v1 layout
(``ai:breaker:openai`` and ``ai:breaker:openai:calls``) the record / trip / close scripts
failed with CROSSSLOT."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.crc import key_slot

from bot.core.ai import PROVIDERS
from bot.core.ai.breaker import Breakers
from bot.core.clock import FixedClock
from bot.core.service import Core
from tests.support.factory import make_core
from tests.support.redis_cluster import RedisCluster3


@pytest.fixture
async def cluster_core(redis_cluster: RedisCluster3, tmp_path: Path) -> AsyncIterator[Core]:
    redis_cluster.flushall()
    c = make_core(redis_cluster.url, tmp_path, clock=FixedClock(1_800_000_000.0))
    yield c
    await c.store.close()


def breakers_of(core: Core) -> Breakers:
    return Breakers(core.store, core.clock, core.settings.product.ai, PROVIDERS)


def test_each_providers_keys_share_one_slot(core: Core) -> None:
    b = breakers_of(core)
    for provider in PROVIDERS:
        assert len({key_slot(k.encode()) for k in b._keys(provider)}) == 1
    assert len({key_slot(b._keys(p)[0].encode()) for p in PROVIDERS}) == len(PROVIDERS)  # spread


async def test_open_probe_and_close_on_a_cluster(cluster_core: Core) -> None:
    core = cluster_core
    assert isinstance(core.clock, FixedClock)
    cfg = core.settings.product.ai
    one, other = breakers_of(core), breakers_of(core)  # two processes
    for _ in range(cfg.breaker_min_calls):
        assert (await one.acquire("openai")).allowed
        await one.record("openai", ok=False, probe=False)
    denied = await other.acquire("openai")
    assert not denied.allowed and denied.until_ms == core.clock.now_ms() + cfg.breaker_open_seconds * 1000
    assert (await other.acquire("anthropic")).allowed  # another provider, another slot: untouched
    core.clock.advance(cfg.breaker_open_seconds + 1)
    probe = await other.acquire("openai")
    assert probe.allowed and probe.probe and not (await one.acquire("openai")).allowed  # one probe at a time
    assert await other.record("openai", ok=True, probe=True) == "closed"
    until = await one.force_open("anthropic", 60)
    status = await other.status()
    assert status["anthropic"].state == "open" and status["anthropic"].until_ms == until
    assert status["openai"].state == "closed"
    assert await other.force_close("anthropic") == "open"
    assert (await one.acquire("anthropic")).allowed
