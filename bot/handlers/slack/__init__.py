"""Slack ops surface (slack-bolt, async, HTTP mode at ``POST /slack/events``): ``/ops`` for operators.

Imported only when ``SLACK_BOT_TOKEN`` and ``SLACK_SIGNING_SECRET`` are set (``bot.app``), so
slack-bolt / slack_sdk load only where Slack is configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from collections.abc import Awaitable, Callable

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["start_slack"]


async def start_slack(core: Core, http_server: Any) -> Callable[[], Awaitable[None]]:
    """``bot.app`` starter: mount ``/slack/events``, check the token, register platform
    ``"slack"``; returns stop."""
    from bot.handlers.slack.adapter import SlackAdapter

    adapter = SlackAdapter(core)
    adapter.mount(http_server.app)
    await adapter.start()
    return adapter.stop
