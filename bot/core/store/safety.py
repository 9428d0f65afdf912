"""Start-up check that Redis keeps what it is given: no eviction, an append-only file.

Redis is the system of record (balances, ledgers, payments). Two server settings decide
whether it keeps them:

- ``maxmemory-policy`` must be ``noeviction``: any other policy lets Redis delete keys —
  a balance, an idempotency record, an inbox entry — when memory runs short. With
  ``noeviction`` a full Redis refuses writes instead (``OOM``: an outage the bot answers
  with SERVICE_UNAVAILABLE, changing nothing).
- ``appendonly`` must be ``yes``: without the append-only file a restart loses everything
  since the last RDB snapshot (or everything, with ``save ""``).

``check_durability`` reads both on every primary (one server, the Sentinel-named primary,
every cluster primary) with ``CONFIG GET``; where ``CONFIG`` is refused (managed Redis
services rename or forbid it) it falls back to ``INFO memory`` / ``INFO persistence``
(``maxmemory_policy``, ``aof_enabled``), and where that lacks the fields too it says the
setting could not be checked. ``enforce_durability`` runs at start-up: development and test
log ``redis_unsafe_config`` (a warning) and go on; production refuses to start
(``UnsafeRedis``, a ``SettingsError``: exit code 2 with the message) unless
``REDIS_ALLOW_UNSAFE=1``, which logs ``redis_unsafe_allowed`` instead. A setting that could
not be checked counts as unsafe: confirm it with the provider, then set the flag.

Read-only: changes nothing on the server. Redis down: raises one of ``REDIS_ERRORS`` (the
entry point exits 1, as for any start-up without Redis).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoPermissionError, ResponseError

from bot.core.logs import log_event
from bot.core.settings import SettingsError

if TYPE_CHECKING:
    from bot.core.settings import Settings
    from bot.core.store.connection import Store

__all__ = ["NodeDurability", "UnsafeRedis", "check_durability", "enforce_durability"]


class UnsafeRedis(SettingsError):
    """Production start-up refused: Redis may evict keys or lose writes on restart."""


@dataclass(frozen=True, slots=True)
class NodeDurability:
    """What one primary says about eviction and persistence (None: could not be read)."""

    node: str
    maxmemory_policy: str | None
    appendonly: bool | None
    source: str  # "config" | "info" (CONFIG refused) | "none" (neither answered)

    @property
    def problems(self) -> list[str]:
        found = []
        if self.maxmemory_policy is None:
            found.append("maxmemory-policy could not be checked (CONFIG and INFO refused)")
        elif self.maxmemory_policy != "noeviction":
            found.append(f"maxmemory-policy is {self.maxmemory_policy} (must be noeviction: "
                         "any other policy deletes keys such as balances when memory is full)")
        if self.appendonly is None:
            found.append("appendonly could not be checked (CONFIG and INFO refused)")
        elif not self.appendonly:
            found.append("appendonly is no (must be yes: without it a restart loses recent writes)")
        return found

    @property
    def ok(self) -> bool:
        return not self.problems


async def _read(call: Any, node: str) -> NodeDurability:
    """``call(method, *args)`` runs one client method on the node."""
    try:
        config = await call("config_get", "maxmemory-policy")
        aof = await call("config_get", "appendonly")
        return NodeDurability(node, str(config.get("maxmemory-policy")),
                              str(aof.get("appendonly")).lower() == "yes", "config")
    except (NoPermissionError, ResponseError):  # unknown / renamed / forbidden CONFIG
        pass
    policy: str | None = None
    appendonly: bool | None = None
    try:
        memory = await call("info", "memory")
        policy = str(memory["maxmemory_policy"]) if "maxmemory_policy" in memory else None
        persistence = await call("info", "persistence")
        appendonly = bool(int(persistence["aof_enabled"])) if "aof_enabled" in persistence else None
    except (NoPermissionError, ResponseError):
        pass
    return NodeDurability(node, policy, appendonly, "info" if policy or appendonly is not None else "none")


async def check_durability(store: Store) -> list[NodeDurability]:
    """One ``NodeDurability`` per primary. Raises ``REDIS_ERRORS`` when Redis is down."""
    from bot.core.store.nodes import primaries

    return [await _read(node.call, node.name) for node in await primaries(store)]


async def enforce_durability(settings: Settings, store: Store) -> list[NodeDurability]:
    """Check at start-up: warn in development/test, refuse in production (see the module)."""
    nodes = await check_durability(store)
    problems = [f"{n.node}: {p}" for n in nodes for p in n.problems]
    if not problems:
        log_event("redis_durability_ok", nodes=len(nodes))
        return nodes
    if not settings.production:
        log_event("redis_unsafe_config", level=logging.WARNING, problems=problems,
                  hint="production refuses to start like this (REDIS_ALLOW_UNSAFE=1 overrides)")
        return nodes
    if settings.env.redis_allow_unsafe:
        log_event("redis_unsafe_allowed", level=logging.WARNING, problems=problems)
        return nodes
    raise UnsafeRedis(
        "Redis is not safe for money in production: " + "; ".join(problems) + ". Set "
        "maxmemory-policy noeviction and appendonly yes on every primary (and replica): "
        "CONFIG SET maxmemory-policy noeviction; CONFIG SET appendonly yes; CONFIG REWRITE — "
        "or in the provider's console. If you have confirmed the data is safe another way, "
        "start with REDIS_ALLOW_UNSAFE=1.")
