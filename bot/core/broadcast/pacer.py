"""Broadcast pacing: evenly spaced send slots shared by every process (``broadcast_pace.lua``).

The platform sender still passes the platform's shared outbound limiter (Telegram: the
adapter's rate limiter on the ``tg`` windows, which interactive replies use too). This pacer
sits in front of it for broadcast sends only, at the platform's global limit minus a reserve
(Telegram: 30 - 2 = 28 messages/s), with sends spread evenly instead of in bursts, so:

* a broadcast never takes the whole budget — users' replies keep flowing during it;
* the shared limiter rarely has to hold a broadcast send back;
* network jitter does not push a second's worth of sends over the platform's limit (429).

Each ``wait_turn`` reserves one slot (one Redis call) and sleeps until it; there is no polling.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from collections.abc import Awaitable, Callable

from bot.core.store import K, Store

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["BroadcastPacer", "broadcast_pacers"]


class BroadcastPacer:
    def __init__(self, store: Store, platform: str, per_second: float,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self._store = store
        self.platform = platform
        self.per_second = per_second
        self._interval_ms = 1000.0 / per_second
        self._sleep = sleep

    async def wait_turn(self, chat: str = "", group: bool = False) -> float:
        """Reserve the next send slot and sleep until it. Returns the seconds waited."""
        wait_ms = float(await self._store.scripts["broadcast_pace"](
            keys=[K.broadcast_pace(self.platform)], args=[f"{self._interval_ms:.3f}", 0]))
        if wait_ms > 0:
            await self._sleep(wait_ms / 1000)
        return wait_ms / 1000

    async def pause(self, chat: str | None, seconds: float) -> None:
        """The platform said "retry after": hold every broadcast send of this platform that long."""
        await self._store.scripts["broadcast_pace"](
            keys=[K.broadcast_pace(self.platform)], args=[f"{self._interval_ms:.3f}", max(1, int(seconds * 1000))])


def broadcast_pacers(core: Core, reserve_per_second: int, platforms: list[str]) -> dict[str, BroadcastPacer]:
    """Broadcast pacing per platform: the platform's global limit minus the interactive reserve."""
    out: dict[str, BroadcastPacer] = {}
    for platform in platforms:
        limits = core.settings.product.outbound.get(platform)
        if limits is not None:
            out[platform] = BroadcastPacer(core.store, platform, max(1, limits.global_per_second - reserve_per_second))
    return out
