"""Lua scripts shipped as package files, read once and registered on a client.

redis-py's ``register_script`` (``AsyncScript``) runs EVALSHA and reloads the script on
NOSCRIPT, so a Redis restart (which empties the script cache) is handled transparently. The
same object works on a single server and on a Redis Cluster: there EVALSHA is routed to the
node owning the keys' slot (all of a call's keys must share one slot, else the client raises
``RedisClusterException`` before sending anything) and SCRIPT LOAD goes to every primary.
Scripts cannot be queued in a cluster pipeline; nothing here does that.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["lua_source", "Scripts"]


#: ``-- #include lib/<name>`` on a line of its own: replaced by ``lua/lib/<name>.lua`` (shared
#: helper functions; Redis scripts cannot load each other).
_INCLUDE = re.compile(r"^-- #include (lib/[a-z_]+)\b.*$", re.MULTILINE)


@cache
def lua_source(name: str) -> str:
    """The script ``lua/<name>.lua`` with its includes expanded (one level)."""
    text = resources.files("bot.core.store").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")
    return _INCLUDE.sub(lambda m: _read(m.group(1)).rstrip("\n"), text)


def _read(name: str) -> str:
    return resources.files("bot.core.store").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


class Scripts:
    """Lazily registers scripts by file name on one Redis client."""

    def __init__(self, redis: Any) -> None:
        self._redis = redis
        self._cache: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        script = self._cache.get(name)
        if script is None:
            script = self._redis.register_script(lua_source(name))
            self._cache[name] = script
        return script
