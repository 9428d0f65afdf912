"""Discord adapter (discord.py 2.x): slash commands, persistent buttons, modals, DMs, shards."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from collections.abc import Awaitable, Callable

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["start_discord"]


async def start_discord(core: Core, http_server: Any) -> Callable[[], Awaitable[None]]:
    """``bot.app`` starter: build and start the adapter; returns its stop."""
    from bot.handlers.discord.adapter import DiscordAdapter

    adapter = DiscordAdapter(core)
    await adapter.start()
    return adapter.stop
