"""PTB rate limiter backed by the shared Redis outbound limiter (``bot.core.outbound``).

Sends to a chat wait for a permit (≈30/s for the bot, ≈1/s per chat, 20/min per group,
shared by every process and the daily broadcast); a ``RetryAfter`` (HTTP 429) pauses that
chat in every process (calls without a chat just wait), and the call is retried after the
pause. Retries are bounded; after the last one the error is raised to the caller,
never swallowed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, TypeVar
from collections.abc import Awaitable, Callable, Coroutine

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from bot.core.logs import log_event
from bot.core.metrics import Metrics
from bot.core.outbound import OutboundLimiter
from bot.handlers.telegram_delivery import retry_seconds

__all__ = ["RedisRateLimiter", "PACED_METHODS"]

T = TypeVar("T")

#: Methods that put a message into a chat; every other call (getUpdates, answerCallbackQuery,
#: answerPreCheckoutQuery, setMyCommands …) goes straight through.
PACED_METHODS = frozenset({
    "sendMessage", "sendPhoto", "sendInvoice", "sendDocument", "sendMediaGroup", "sendAnimation",
    "sendAudio", "sendVideo", "sendVoice", "sendSticker", "sendLocation", "sendContact", "sendPoll",
    "sendDice", "copyMessage", "copyMessages", "forwardMessage", "forwardMessages", "sendPaidMedia",
})


def is_group_chat(chat_id: Any) -> bool:
    """Telegram group and channel ids are negative; ``@username`` targets are public chats."""
    if isinstance(chat_id, int):
        return chat_id < 0
    s = str(chat_id)
    return s.startswith("-") or s.startswith("@")


class RedisRateLimiter(BaseRateLimiter[dict[str, Any]]):
    def __init__(self, outbound: OutboundLimiter, metrics: Metrics | None = None, max_retries: int = 5,
                 sleep: Callable[[float], Coroutine[Any, Any, None]] = asyncio.sleep,
                 max_in_flight: int = 32) -> None:
        self.outbound = outbound
        self.metrics = metrics
        self.max_retries = max_retries
        self._sleep = sleep
        # At most as many calls in flight as the HTTP pool has connections: excess calls wait
        # here (cheap) instead of in httpcore's queue, which it rescans for every request.
        self._in_flight = asyncio.Semaphore(max_in_flight)

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict[str, Any] | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        return await self.run(endpoint, data.get("chat_id"), lambda: callback(*args, **kwargs), rate_limit_args)

    async def run(self, endpoint: str, chat_id: Any, call: Callable[[], Awaitable[T]],
                  rate_limit_args: dict[str, Any] | None = None) -> T:
        """``call()`` paced like a PTB request (PTB's calls and the adapter's direct JSON sends
        share this): a permit per chat for the methods in ``PACED_METHODS``, at most
        ``max_in_flight`` calls at once, 429s paused in every process and retried (at most
        ``rate_limit_args["max_retries"]`` times, default ``max_retries``)."""
        paced = endpoint in PACED_METHODS and chat_id is not None
        chat = str(chat_id) if chat_id is not None else None
        group = is_group_chat(chat_id) if chat_id is not None else False
        max_retries = int((rate_limit_args or {}).get("max_retries", self.max_retries))
        attempt = 0
        while True:
            if paced:
                assert chat is not None
                await self.outbound.wait_turn(chat, group)
            try:
                async with self._in_flight:
                    return await call()
            except RetryAfter as exc:
                attempt += 1
                seconds = retry_seconds(exc)
                if self.metrics is not None:
                    self.metrics.platform_429.labels("telegram").inc()
                log_event("telegram_retry_after", level=logging.WARNING, method=endpoint, chat=chat,
                          retry_after=seconds, attempt=attempt, max_retries=max_retries)
                if paced:  # every process holds this chat until the pause is over
                    await self.outbound.pause(chat, seconds)
                if attempt > max_retries:
                    if max_retries:
                        log_event("telegram_retry_gave_up", level=logging.ERROR, method=endpoint, chat=chat,
                                  attempts=attempt)
                    raise
                if not paced:
                    await self._sleep(seconds)
