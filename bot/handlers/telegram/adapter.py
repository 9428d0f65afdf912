"""The Telegram adapter: PTB v22 in, core ``Event``s through the router, ``Reply``s out.

It only translates. Business rules (onboarding, deep links, prices, payments) live in the
core; this module maps updates to events, renders replies, and runs the transport:
long polling by default, or a webhook on the bot's own aiohttp server when
``TELEGRAM_WEBHOOK_URL`` is set. Updates of one chat are handled in order, different chats
concurrently (``ChatDispatcher``); an update id already taken by any process is skipped
(Redis SET NX), so several processes behind a load balancer are safe.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from telegram import BotCommand, Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.core.errors import ErrorCode
from bot.core.i18n import Lang, normalize_lang, t
from bot.core.logs import log_event, new_request_id
from bot.core.outbound import OutboundLimiter, OutboundLimits
from bot.core.reply import Button, Reply
from bot.core.router import Event
from bot.core.store import K, REDIS_ERRORS
from bot.handlers.telegram.dispatch import ChatDispatcher
from bot.handlers.telegram.payments import TelegramPayments
from bot.handlers.telegram.ratelimit import RedisRateLimiter
from bot.handlers.telegram.render import Renderer
from bot.handlers.telegram.webhook import mount_webhook, webhook_path, webhook_secret

if TYPE_CHECKING:
    from aiohttp import web
    from telegram import Bot, CallbackQuery, Message

    from bot.core.payments import RefundResult
    from bot.core.router import Router
    from bot.core.service import Core

__all__ = ["TelegramAdapter", "ALLOWED_UPDATES", "command_list", "UPDATE_SEEN_TTL"]

ALLOWED_UPDATES = ["message", "callback_query", "pre_checkout_query"]
#: How long an update id is remembered (Telegram keeps undelivered updates for 24 h).
UPDATE_SEEN_TTL = 2 * 86400
GROUP_TYPES = ("group", "supergroup")


def command_list(router: Router, lang: Lang) -> list[BotCommand]:
    """``setMyCommands`` entries from the router's /help lines (``"/credits — 잔액"`` → description)."""
    out: list[BotCommand] = []
    for spec in router.help_entries():
        name = spec.name
        if not (1 <= len(name) <= 32 and all(c.isascii() and (c.isalnum() or c == "_") for c in name)
                and name == name.lower()):
            continue
        assert spec.help_key is not None
        text = t(lang, spec.help_key).strip()
        if text.startswith("/"):
            for sep in (" — ", " – ", " - ", ": "):
                if sep in text:
                    text = text.split(sep, 1)[1].strip()
                    break
        out.append(BotCommand(name, (text or name)[:256]))
    return out[:100]


class TelegramAdapter:
    platform = "tg"

    def __init__(self, core: Core, *, token: str | None = None, api_base_url: str | None = None,
                 webhook_url: str | None = None, max_concurrent: int = 256, pool_size: int = 32,
                 poll_timeout: int = 10) -> None:
        env = core.settings.env
        self.core = core
        self.token = token or env.telegram_bot_token
        if not self.token:
            raise ValueError("TELEGRAM_BOT_TOKEN is not set")
        api = (api_base_url or env.telegram_api_base_url).rstrip("/")
        self.webhook_url = webhook_url if webhook_url is not None else env.telegram_webhook_url
        self.poll_timeout = poll_timeout
        self.outbound = OutboundLimiter(core.store, self.platform, OutboundLimits.telegram(core.settings))
        self.rate_limiter = RedisRateLimiter(self.outbound, core.metrics, max_in_flight=pool_size)
        builder = (ApplicationBuilder().token(self.token)
                   .base_url(f"{api}/bot").base_file_url(f"{api}/file/bot")
                   .rate_limiter(self.rate_limiter)
                   .concurrent_updates(False)  # ordering and concurrency are ours (ChatDispatcher)
                   # A modest pool: httpcore scans its whole pool per request, so hundreds of
                   # connections cost more CPU than they save; sends queue briefly instead.
                   .connection_pool_size(pool_size).pool_timeout(30.0))
        if self.webhook_url:
            builder = builder.updater(None)
        self.app: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.app.add_handler(TypeHandler(Update, self._on_update))
        self.dispatcher = ChatDispatcher(max_concurrent)
        self.renderer = Renderer(self.app.bot)
        self.payments = TelegramPayments(self)
        self.username = ""
        self._bot_id = self.token.split(":", 1)[0]
        core.register_sender(self.platform, self._push)

    @property
    def bot(self) -> Bot:
        return self.app.bot

    # --- life cycle ---------------------------------------------------------------------
    def mount(self, http_app: web.Application) -> None:
        """Webhook mode: add the webhook route to the bot's HTTP app (before it starts)."""
        if self.webhook_url:
            mount_webhook(http_app, self, webhook_path(self.webhook_url), webhook_secret(self.core.settings))

    async def start(self) -> None:
        await self.app.initialize()  # getMe
        self.username = self.bot.username or ""
        self._bot_id = str(self.bot.id)
        self.core.extras["telegram_username"] = self.username
        self.core.extras["telegram_adapter"] = self
        self.core.extras["telegram_refund"] = self.refund_payment
        await self.set_commands()
        await self.app.start()
        if self.webhook_url:
            await self.bot.set_webhook(self.webhook_url, secret_token=webhook_secret(self.core.settings),
                                       allowed_updates=ALLOWED_UPDATES)
            mode = "webhook"
        else:
            assert self.app.updater is not None
            await self.app.updater.start_polling(timeout=self.poll_timeout, allowed_updates=ALLOWED_UPDATES)
            mode = "polling"
        log_event("telegram_started", mode=mode, username=self.username)

    async def stop(self, drain_seconds: float = 10.0) -> None:
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.dispatcher.join(timeout=drain_seconds)
        await self.app.shutdown()
        log_event("telegram_stopped")

    async def set_commands(self) -> None:
        router = self.core.router
        ko, en = command_list(router, "ko"), command_list(router, "en")
        await self.bot.set_my_commands(ko)
        await self.bot.set_my_commands(ko, language_code="ko")
        await self.bot.set_my_commands(en, language_code="en")

    # --- intake -------------------------------------------------------------------------
    async def _on_update(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        self.feed(update)

    def feed_json(self, data: dict[str, Any]) -> None:
        self.feed(Update.de_json(data, self.bot))

    async def process_payment_json(self, data: dict[str, Any]) -> None:
        """Grant a ``successful_payment`` now (webhook: before answering Telegram).

        Raises when the grant could not be recorded, so the caller can ask for redelivery.
        Redelivery is safe: the grant is idempotent per ``telegram_payment_charge_id``.
        """
        update = Update.de_json(data, self.bot)
        assert update.message is not None
        await self.payments.successful_payment(update.message)

    def feed(self, update: Update) -> None:
        """Queue one update behind earlier updates of the same chat."""
        if update.pre_checkout_query is not None:  # must be answered within 10 s: never queue it
            key: Any = ("pcq", update.update_id)
        elif update.effective_chat is not None:
            key = update.effective_chat.id
        elif update.effective_user is not None:
            key = update.effective_user.id
        else:
            key = ("update", update.update_id)
        self.dispatcher.submit(key, lambda: self.process(update))

    async def _first_time(self, update_id: int) -> bool:
        try:
            return bool(await self.core.store.redis.set(K.telegram_update_seen(self._bot_id, update_id), "1",
                                                        nx=True, ex=UPDATE_SEEN_TTL))
        except REDIS_ERRORS:
            return True  # Redis down: the core answers SERVICE_UNAVAILABLE; never drop the update here

    async def process(self, update: Update) -> None:
        """Handle one update now (the dispatcher calls this in chat order)."""
        try:
            # Polling has one consumer (Telegram refuses a second getUpdates); behind a webhook
            # several processes may see one update, so there the first to claim it handles it.
            if self.webhook_url and not await self._first_time(update.update_id):
                log_event("telegram_update_duplicate", update_id=update.update_id)
                return
            if update.pre_checkout_query is not None:
                await self.payments.pre_checkout(update.pre_checkout_query)
            elif update.callback_query is not None:
                await self._on_callback(update.callback_query)
            elif update.message is not None:
                msg = update.message
                if msg.successful_payment is not None:
                    await self.payments.successful_payment(msg)
                elif msg.text:
                    await self._on_message(msg)
        except Exception:
            await self._failed(update)

    async def _failed(self, update: Update) -> None:
        ref = uuid.uuid4().hex[:8]
        log_event("telegram_handler_error", level=logging.ERROR, exc_info=True, captured=True, ref=ref,
                  update_id=update.update_id)
        self.core.capture_exception(ref=ref, update_id=str(update.update_id))
        user = update.effective_user
        chat = update.effective_chat
        target = chat.id if chat is not None else (user.id if user is not None else None)
        if update.pre_checkout_query is not None:
            try:
                await update.pre_checkout_query.answer(
                    ok=False, error_message=t(normalize_lang(user.language_code if user else None),
                                              "payments.unavailable"))
            except Exception:
                pass
            return
        if target is None:
            return
        lang = normalize_lang(user.language_code if user else None)
        try:
            await self.renderer.send(target, Reply(t(lang, "error.internal_error_ref", ref=ref),
                                                   error=ErrorCode.INTERNAL_ERROR))
        except Exception:
            log_event("telegram_error_reply_failed", level=logging.WARNING, ref=ref)

    def _addressed_to_me(self, msg: Message, group: bool) -> bool:
        text = msg.text or ""
        me = self.username.lower()
        if text.startswith("/"):
            head = text.split(maxsplit=1)[0]
            target = head.partition("@")[2].lower()
            if target:
                return target == me
            if not group:
                return True
        elif not group:
            return True
        reply_to = msg.reply_to_message
        return bool(reply_to and reply_to.from_user and reply_to.from_user.id == self.bot.id)

    async def _on_message(self, msg: Message) -> None:
        user, chat = msg.from_user, msg.chat
        if user is None or user.is_bot or chat.type not in ("private", *GROUP_TYPES):
            return
        group = chat.type in GROUP_TYPES
        if not self._addressed_to_me(msg, group):
            return
        await self._handle(user.id, chat.id, group, msg.text or "", user.language_code, user.first_name)

    async def _on_callback(self, query: CallbackQuery) -> None:
        try:
            await query.answer()  # stop the button's spinner first; a late answer fails harmlessly
        except Exception:
            log_event("telegram_callback_answer_failed", level=logging.WARNING)
        if not query.data:
            return
        user = query.from_user
        chat = query.message.chat if query.message is not None else None
        chat_id = chat.id if chat is not None else user.id
        group = chat is not None and chat.type in GROUP_TYPES
        await self._handle(user.id, chat_id, group, query.data, user.language_code, user.first_name)

    async def _handle(self, user_id: int, chat_id: int, group: bool, text: str, lang_hint: str | None,
                      name: str | None) -> None:
        event = Event(self.platform, str(user_id), text, chat_id=str(chat_id),
                      chat_kind="group" if group else "private", lang_hint=lang_hint, display_name=name,
                      request_id=new_request_id())
        replies = await self.core.router.handle(event)
        await self.deliver(chat_id, replies, group=group, uid=event.uid, lang_hint=lang_hint)

    # --- output -------------------------------------------------------------------------
    async def deliver(self, chat_id: int, replies: list[Reply], *, group: bool = False, uid: str = "",
                      lang_hint: str | None = None) -> None:
        redirected = False
        for reply in replies:
            if group and (reply.private or reply.invoice is not None):
                if not redirected:
                    redirected = True
                    await self.renderer.send(chat_id, await self._private_note(uid, lang_hint))
                continue
            await self.renderer.send(chat_id, reply)

    async def _private_note(self, uid: str, lang_hint: str | None) -> Reply:
        lang = await self.user_lang(uid, lang_hint)
        buttons = [[Button(t(lang, "tg.private_button"), url=f"https://t.me/{self.username}")]] \
            if self.username else []
        return Reply(t(lang, "tg.private_redirect"), buttons=buttons)

    async def user_lang(self, uid: str, hint: str | None) -> Lang:
        """The user's chosen language, else the platform's hint (Redis down: the hint)."""
        try:
            profile = await self.core.profiles.get(uid) if uid else None
        except Exception:
            profile = None
        return profile.lang if profile is not None else normalize_lang(hint)

    async def _push(self, user_id: str, reply: Reply) -> None:
        """``core.notify("tg:<id>", reply)``: a private message; platform errors propagate."""
        await self.renderer.send(int(user_id), reply)

    # --- operators ----------------------------------------------------------------------
    async def refund_payment(self, charge_id: str) -> RefundResult:
        """Refund one Stars payment: reverse the grant, then ``refundStarPayment``."""
        return await self.payments.refund(charge_id)


