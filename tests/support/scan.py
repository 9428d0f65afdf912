"""Test-only keyspace inspection (a SCAN over every key and value; never in bot code)."""

from __future__ import annotations

from typing import Any

from bot.core.service import Core

__all__ = ["mentions"]


async def mentions(core: Core, needle: str) -> list[str]:
    """Every key whose name or value (string, hash fields and values, set, zset or list
    members) contains ``needle``, sorted. Works on a single server and on a cluster."""
    r = core.store.redis
    found: list[str] = []
    async for key in r.scan_iter(match="*", count=1000):
        kind = await r.type(key)
        values: list[Any]
        if kind == "string":
            values = [await r.get(key)]
        elif kind == "hash":
            values = [*(await r.hgetall(key)).items()]
        elif kind == "zset":
            values = await r.zrange(key, 0, -1)
        elif kind == "set":
            values = list(await r.smembers(key))
        elif kind == "list":
            values = await r.lrange(key, 0, -1)
        else:
            values = []
        if needle in key or needle in repr(values):
            found.append(key)
    return sorted(found)
