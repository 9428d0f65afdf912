"""Webhook mode: a POST route on the bot's own aiohttp server.

Telegram proves the call is its own with ``X-Telegram-Bot-Api-Secret-Token`` (the secret
given to ``setWebhook``); a missing or wrong token gets 401 and nothing is processed.
Accepted updates are stored in the durable inbox (deduplicated there, per update id) and
answered 200 only after the write, so Telegram never waits on a slow command and a
received update — a ``successful_payment`` included — is never lost: the grant happens once
per charge id when the inbox entry is handled, and its confirmation goes out through the
outbox. Redis down, or a payment not yet on a Redis replica within
``delivery.replica_wait_ms``: 503, so Telegram delivers the update again later. A
``pre_checkout_query`` (10 s deadline) is answered directly, before the 200.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from aiohttp import web

from bot.core.errors import ErrorCode, ServiceUnavailable
from bot.core.logs import log_event

if TYPE_CHECKING:
    from bot.core.settings import Settings
    from bot.handlers.telegram.adapter import TelegramAdapter

__all__ = ["SECRET_HEADER", "webhook_secret", "webhook_path", "mount_webhook"]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_PATH = "/telegram/webhook"


def webhook_secret(settings: Settings) -> str:
    """TELEGRAM_WEBHOOK_SECRET, or one derived from SIGNING_SECRET (Telegram allows [A-Za-z0-9_-]).

    The derived one is keyed with the configured signing secret — the same bytes the Core
    signs with (``core.signing_secret``) — and never with the development secret kept in
    Redis: webhook mode must be explicitly configured. With neither variable set this raises
    ``SettingsError``, so the webhook route is never mounted and ``setWebhook`` never called
    (``load_settings`` refuses the same configuration up front).
    """
    from bot.core.secrets import configured_signing_secret
    from bot.core.settings import SettingsError

    if settings.env.telegram_webhook_secret:
        return settings.env.telegram_webhook_secret
    key = configured_signing_secret(settings)
    if key is None:
        raise SettingsError("webhook mode requires TELEGRAM_WEBHOOK_SECRET or SIGNING_SECRET")
    return hmac.new(key, b"telegram-webhook-secret", hashlib.sha256).hexdigest()


def webhook_path(url: str) -> str:
    return urlparse(url).path or DEFAULT_PATH


def _error(code: ErrorCode, message: str) -> web.Response:
    return web.json_response({"error": {"code": code.value, "message": message}}, status=code.http_status)


def mount_webhook(app: web.Application, adapter: TelegramAdapter, path: str, secret: str) -> None:
    """Add ``POST path`` to ``app`` (before the server starts: aiohttp freezes routes then)."""
    expected = secret.encode()

    async def receive(request: web.Request) -> web.Response:
        got = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(got, expected):
            log_event("telegram_webhook_unauthorized", level=logging.WARNING, client_ip=request.remote)
            return _error(ErrorCode.UNAUTHORIZED, "bad secret token")
        try:
            data = await request.json(loads=json.loads)
            if not isinstance(data, dict) or "update_id" not in data:
                raise ValueError("not an update")
        except ValueError:
            return _error(ErrorCode.VALIDATION_ERROR, "body must be one Telegram update (JSON)")
        try:
            await adapter.intake([data])
        except ServiceUnavailable:
            log_event("telegram_webhook_deferred", level=logging.WARNING, update_id=data.get("update_id"))
            return _error(ErrorCode.SERVICE_UNAVAILABLE, "update not stored yet; retry")
        return web.json_response({"ok": True})

    app.router.add_post(path, receive)
