"""The start-up durability check against real redis-servers: eviction on and no append-only file
warn in development, refuse production (unless REDIS_ALLOW_UNSAFE=1); a managed-style server
that refuses CONFIG is read through INFO; the embedded server passes."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.app import build_core, main_entry
from bot.core.store import Store
from bot.core.store.connection import connect
from bot.core.store.embedded import EmbeddedRedis
from bot.core.store.safety import UnsafeRedis, check_durability, enforce_durability
from tests.support import factory
from tests.support.redis_cluster import RedisCluster3
from tests.support.redis_proc import RedisProcess

PRODUCTION = {"APP_ENV": "production", "SIGNING_SECRET": "safety-test-signing-secret-0123456789"}


@pytest.fixture
def lru_server() -> Iterator[RedisProcess]:
    """Evicts keys when memory is short and keeps no append-only file: unsafe for money."""
    server = RedisProcess(extra=("--maxmemory-policy", "allkeys-lru")).start()
    yield server
    server.cleanup()


async def test_an_evicting_server_without_aof_is_reported(lru_server: RedisProcess) -> None:
    store = Store(connect(lru_server.url), "url")
    try:
        [node] = await check_durability(store)
        assert (node.source, node.maxmemory_policy, node.appendonly) == ("config", "allkeys-lru", False)
        assert len(node.problems) == 2 and not node.ok
    finally:
        await store.close()


async def test_development_warns_and_starts(lru_server: RedisProcess, tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    settings = factory.test_settings(lru_server.url, tmp_path, APP_ENV="development")
    store = Store(connect(lru_server.url), "url")
    try:
        with caplog.at_level(logging.WARNING, logger="soul_lab"):
            await enforce_durability(settings, store)
        [record] = [r for r in caplog.records if getattr(r, "event", "") == "redis_unsafe_config"]
        problems = " ".join(record.fields["problems"])  # type: ignore[attr-defined]
        assert "allkeys-lru" in problems and "appendonly is no" in problems
    finally:
        await store.close()


async def test_production_refuses_with_a_clear_message(lru_server: RedisProcess, tmp_path: Path) -> None:
    settings = factory.test_settings(lru_server.url, tmp_path, **PRODUCTION)
    with pytest.raises(UnsafeRedis) as info:
        await build_core(settings)  # the app's own start-up path
    text = str(info.value)
    assert "maxmemory-policy is allkeys-lru" in text and "appendonly is no" in text
    assert "REDIS_ALLOW_UNSAFE=1" in text and "noeviction" in text


async def test_production_starts_with_redis_allow_unsafe(lru_server: RedisProcess, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    settings = factory.test_settings(lru_server.url, tmp_path, REDIS_ALLOW_UNSAFE="1", **PRODUCTION)
    assert settings.env.redis_allow_unsafe is True
    with caplog.at_level(logging.WARNING, logger="soul_lab"):
        core = await build_core(settings)
    await core.store.close()
    assert any(getattr(r, "event", "") == "redis_unsafe_allowed" for r in caplog.records)


async def test_production_starts_once_the_server_is_fixed(lru_server: RedisProcess, tmp_path: Path) -> None:
    admin = redis.Redis.from_url(lru_server.url)
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("appendonly", "yes")
    # Redis writes the first append-only file in the background and will not shut down
    # until it has ("Writing initial AOF, can't exit"): wait for it, as an operator would.
    while admin.info("persistence")["aof_rewrite_in_progress"] or admin.info("persistence")["aof_rewrite_scheduled"]:  # noqa: ASYNC110
        await asyncio.sleep(0.02)  # polling a server: nothing to wait on in-process
    admin.close()
    core = await build_core(factory.test_settings(lru_server.url, tmp_path, **PRODUCTION))
    await core.store.close()


async def test_main_exits_2_and_says_why(lru_server: RedisProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in {"APP_ENV": "production", "REDIS_URL": lru_server.url, "DATA_DIR": str(tmp_path),
                        "PORT": "0", "SIGNING_SECRET": PRODUCTION["SIGNING_SECRET"],
                        "PROFILE_ENCRYPTION_KEY": factory.TEST_KEY, "PROFILE_ENCRYPTION_KEYS": "",
                        "TELEGRAM_BOT_TOKEN": "", "DISCORD_BOT_TOKEN": "", "SENTRY_DSN": "",
                        "REDIS_ALLOW_UNSAFE": ""}.items():
        monkeypatch.setenv(name, value)
    root = logging.getLogger()
    saved = root.handlers[:]
    try:
        code = await asyncio.to_thread(main_entry, "run")
    finally:
        root.handlers[:] = saved
    assert code == 2
    assert "Redis is not safe for money in production" in capsys.readouterr().out


async def test_config_refused_falls_back_to_info(tmp_path: Path) -> None:
    # Like managed services: CONFIG renamed away. INFO still tells both settings.
    server = RedisProcess(extra=("--rename-command", "CONFIG", "")).start()
    store = Store(connect(server.url), "url")
    try:
        [node] = await check_durability(store)
        assert (node.source, node.maxmemory_policy, node.appendonly) == ("info", "noeviction", False)
        assert node.problems == ["appendonly is no (must be yes: without it a restart loses recent writes)"]
    finally:
        await store.close()
        server.cleanup()


async def test_neither_config_nor_info_means_unchecked_and_refused_in_production(redis_url: str,
                                                                                 tmp_path: Path) -> None:
    admin = redis.Redis.from_url(redis_url)
    admin.execute_command("ACL", "SETUSER", "limited", "on", ">pw", "~*", "&*", "+@all", "-config", "-info")
    try:
        url = redis_url.replace("redis://", "redis://limited:pw@")
        store = Store(connect(url), "url")
        try:
            [node] = await check_durability(store)
            assert (node.source, node.maxmemory_policy, node.appendonly) == ("none", None, None)
            assert all("could not be checked" in p for p in node.problems) and len(node.problems) == 2
            with pytest.raises(UnsafeRedis, match="could not be checked"):
                await enforce_durability(factory.test_settings(url, tmp_path, **PRODUCTION), store)
        finally:
            await store.close()
    finally:
        admin.execute_command("ACL", "DELUSER", "limited")
        admin.close()


async def test_every_cluster_primary_is_checked(redis_cluster: RedisCluster3) -> None:
    store = Store(connect(redis_cluster.url), "url")
    try:
        nodes = await check_durability(store)
        assert sorted(n.node for n in nodes) == sorted(f"127.0.0.1:{p}" for p in redis_cluster.ports)
        assert all(n.maxmemory_policy == "noeviction" and n.appendonly is False for n in nodes)
    finally:
        await store.close()


async def test_the_embedded_server_passes(tmp_path: Path) -> None:
    binary = shutil.which("redis-server")
    assert binary is not None
    server = EmbeddedRedis(tmp_path, binary)
    await server.start()
    store = Store(connect(server.url), "embedded", embedded=server)
    try:
        [node] = await check_durability(store)
        assert node.ok and node.node == "embedded"
        assert (node.maxmemory_policy, node.appendonly) == ("noeviction", True)
    finally:
        await store.close()


@pytest.mark.parametrize(("value", "allowed"), [("", False), ("0", False), ("1", True), ("true", True)])
def test_redis_allow_unsafe_is_a_typed_flag(value: str, allowed: bool, tmp_path: Path) -> None:
    settings = factory.test_settings("redis://127.0.0.1:1/0", tmp_path, REDIS_ALLOW_UNSAFE=value)
    assert settings.env.redis_allow_unsafe is allowed


def test_a_malformed_redis_allow_unsafe_stops_start_up_naming_it(tmp_path: Path) -> None:
    from bot.core.settings import SettingsError

    with pytest.raises(SettingsError, match="REDIS_ALLOW_UNSAFE"):
        factory.test_settings("redis://127.0.0.1:1/0", tmp_path, REDIS_ALLOW_UNSAFE="perhaps")
