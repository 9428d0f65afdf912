"""Lua script sources: includes expanded, and every script compiles on a real redis-server."""

from __future__ import annotations

from importlib import resources

import redis.asyncio as aioredis

from bot.core.store.scripts import lua_source

LUA = resources.files("bot.core.store").joinpath("lua")


def test_includes_are_expanded_once_and_only_where_asked() -> None:
    lib = LUA.joinpath("lib", "marks.lua").read_text(encoding="utf-8").rstrip("\n")
    for name in ("broadcast_queue", "broadcast_claim", "broadcast_finish", "broadcast_forget"):
        raw = LUA.joinpath(f"{name}.lua").read_text(encoding="utf-8")
        assert raw.count("-- #include lib/marks") == 1
        src = lua_source(name)
        assert src.count(lib) == 1 and "-- #include lib/" not in src
    assert lib not in lua_source("ledger_apply")


async def test_every_script_compiles(redis_url: str) -> None:
    r = aioredis.Redis.from_url(redis_url)
    try:
        names = sorted(p.name.removesuffix(".lua") for p in LUA.iterdir() if p.name.endswith(".lua"))
        assert len(names) > 20
        for name in names:
            assert len(await r.script_load(lua_source(name))) == 40, name
    finally:
        await r.aclose()
