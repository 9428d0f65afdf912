"""Telegram adapter (python-telegram-bot v22): polling or webhook, Stars payments, shared pacing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from collections.abc import Awaitable, Callable

from bot.handlers.telegram.adapter import TelegramAdapter

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["TelegramAdapter", "start_telegram"]


async def start_telegram(core: Core, http_server: Any) -> Callable[[], Awaitable[None]]:
    """``bot.app`` starter: build, mount the webhook route (webhook mode), start; returns stop."""
    adapter = TelegramAdapter(core)
    adapter.mount(http_server.app)
    await adapter.start()
    return adapter.stop
