"""The Telegram adapter: PTB v22 in, core ``Event``s through the router, ``Reply``s out.

It only translates. Business rules (onboarding, deep links, prices, payments) live in the
core; this module maps updates to events, renders replies, and runs the transport:
long polling by default (our own ``getUpdates`` loop), or a webhook on the bot's own aiohttp
server when ``TELEGRAM_WEBHOOK_URL`` is set.

Received means kept: every update goes into the durable inbox (``bot/core/inbox.py``) before
Telegram is told it arrived — the webhook answers 200 only after the write, and polling
advances its offset only after the write (while Redis is down polling pauses: Telegram keeps
the updates). Duplicates are dropped at intake, a chat's updates are handled in order by one
process at a time, and a dead process's updates are taken over. ``pre_checkout_query`` has a
10 s deadline and is answered directly, outside the inbox. The event's request id is derived
from the update id, so every charge a re-handled update makes replays instead of repeating.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import uuid
import warnings
from typing import TYPE_CHECKING, Any

from telegram import BotCommand, Update
from telegram.ext import Application, ApplicationBuilder

from redis.exceptions import LockError
from telegram.error import BadRequest, Forbidden

from bot.core.errors import ErrorCode, ServiceUnavailable
from bot.core.i18n import Lang, normalize_lang, t
from bot.core.inbox import Inbox, InboxEntry
from bot.core.logs import log_event
from bot.core.outbound import OutboundLimiter, OutboundLimits
from bot.core.platforms import PlatformLink
from bot.core.reply import Button, Reply
from bot.core.router import Event, help_summary
from bot.core.store import REDIS_ERRORS, K, redis_guard
from bot.handlers.telegram.payments import TelegramPayments
from bot.handlers.telegram_delivery import wrap_sender
from bot.handlers.telegram.ratelimit import RedisRateLimiter
from bot.handlers.telegram.stars import StarsProvider
from bot.handlers.telegram.render import Renderer
from bot.handlers.telegram.request import AiohttpRequest, Transport, make_request
from bot.handlers.telegram.webhook import mount_webhook, webhook_path, webhook_secret

if TYPE_CHECKING:
    from aiohttp import web
    from telegram import Bot, CallbackQuery, Message

    from bot.core.payments import RefundResult
    from bot.core.router import Router
    from bot.core.service import Core

__all__ = ["TelegramAdapter", "ALLOWED_UPDATES", "command_list", "chat_key"]

ALLOWED_UPDATES = ["message", "callback_query", "pre_checkout_query"]
GROUP_TYPES = ("group", "supergroup")
POLL_BACKOFF_MAX = 30.0
#: While Redis is down the unconfirmed batch is re-tried this often at most (resume quickly).
STORE_RETRY_MAX = 5.0
#: One process at a time checks and registers the webhook; a crashed holder frees it after this.
WEBHOOK_LOCK_SECONDS = 30.0


def chat_key(update: dict[str, Any]) -> str:
    """The chat an update belongs to (its order key), from the raw update JSON."""
    for field in ("message", "edited_message"):
        msg = update.get(field)
        if isinstance(msg, dict) and isinstance(msg.get("chat"), dict):
            return str(msg["chat"].get("id"))
    cq = update.get("callback_query")
    if isinstance(cq, dict):
        msg = cq.get("message")
        if isinstance(msg, dict) and isinstance(msg.get("chat"), dict):
            return str(msg["chat"].get("id"))
        if isinstance(cq.get("from"), dict):
            return str(cq["from"].get("id"))
    return f"u{update.get('update_id')}"


def command_list(router: Router, lang: Lang) -> list[BotCommand]:
    """``setMyCommands`` entries from the router's /help lines (``"/credits — 잔액"`` → description)."""
    out: list[BotCommand] = []
    for spec in router.help_entries():
        name = spec.name
        if not (1 <= len(name) <= 32 and all(c.isascii() and (c.isalnum() or c == "_") for c in name)
                and name == name.lower()):
            continue
        text = help_summary(spec, lang)
        out.append(BotCommand(name, (text or name)[:256]))
    return out[:100]


class TelegramAdapter:
    platform = "tg"

    def __init__(self, core: Core, *, token: str | None = None, api_base_url: str | None = None,
                 webhook_url: str | None = None, max_concurrent: int = 256, pool_size: int = 32,
                 poll_timeout: int = 10, transport: Transport | None = None) -> None:
        env = core.settings.env
        self.transport: Transport = transport or env.telegram_transport
        self.core = core
        self.token = token or env.telegram_bot_token
        if not self.token:
            raise ValueError("TELEGRAM_BOT_TOKEN is not set")
        api = (api_base_url or env.telegram_api_base_url).rstrip("/")
        self.webhook_url = webhook_url if webhook_url is not None else env.telegram_webhook_url
        self.poll_timeout = poll_timeout
        self.outbound = OutboundLimiter(core.store, self.platform, OutboundLimits.for_platform(core.settings, self.platform),
                                        secret=core.signing_secret)
        self.rate_limiter = RedisRateLimiter(self.outbound, core.metrics, max_in_flight=pool_size)
        self._request = make_request(self.transport, connection_pool_size=pool_size, pool_timeout=30.0)
        self._updates_request = make_request(self.transport, connection_pool_size=1)
        self._api = f"{api}/bot{self.token}/"
        builder = (ApplicationBuilder().token(self.token)
                   .base_url(f"{api}/bot").base_file_url(f"{api}/file/bot")
                   .rate_limiter(self.rate_limiter)
                   .concurrent_updates(False)  # ordering and concurrency are ours (ChatDispatcher)
                   # TELEGRAM_TRANSPORT (request.py): aiohttp by default, or PTB's stock httpx.
                   # A modest pool either way (httpcore scans its whole pool per request); sends
                   # queue briefly instead. getUpdates has its own one-connection request object.
                   .request(self._request)
                   .get_updates_request(self._updates_request)
                   # Updates are fetched by our own loop into the durable inbox (PTB's updater
                   # confirms updates as soon as it fetches them, before they are kept).
                   .updater(None))
        self.app: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.inbox = Inbox(core, self.platform, self._handle_entry, max_concurrent=max_concurrent)
        core.inboxes[self.platform] = self.inbox
        # aiohttp: text replies and getUpdates skip PTB's request objects (JSON in and out).
        self._direct = isinstance(self._request, AiohttpRequest)
        self.renderer = Renderer(self.app.bot, self._send_json if self._direct else None)
        self.payments = TelegramPayments(self)
        self.username = ""
        self._bot_id = self.token.split(":", 1)[0]
        self._poller: asyncio.Task[None] | None = None
        self._stopping = False
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._sender = wrap_sender(self._push)
        core.register_sender(self.platform, self._sender)

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
        self.core.register_platform(PlatformLink(
            self.platform, self._sender, username=self.username,
            dm_link=f"https://t.me/{self.username}" if self.username else "", health=self.health))
        self.core.payment_providers["stars"] = StarsProvider(self.bot)  # refunds through our Bot
        await self.set_commands()
        self._stopping = False
        await self.inbox.start()
        await self.core.outbox.start()
        if self.webhook_url:
            await self.ensure_webhook()
            mode = "webhook"
        else:
            await self.bot.delete_webhook()
            self._poller = asyncio.get_running_loop().create_task(self._poll())
            mode = "polling"
        log_event("telegram_started", mode=mode, username=self.username)

    def webhook_fingerprint(self) -> str:
        """Keyed digest of what ``setWebhook`` would register (URL, secret, update types).

        Telegram's ``getWebhookInfo`` never shows the secret token, so this digest, kept in
        Redis by the process that registered, is how a changed secret is noticed. Keyed with
        the signing secret: it reveals neither the URL's secret path nor the token.
        """
        assert self.webhook_url
        material = "\n".join([self.webhook_url, webhook_secret(self.core.settings), *sorted(ALLOWED_UPDATES)])
        return hmac.new(self.core.signing_secret, b"telegram-webhook/v1\n" + material.encode(),
                        hashlib.sha256).hexdigest()[:32]

    async def ensure_webhook(self) -> bool:
        """Register the configured webhook with Telegram unless it already is; True if it called
        ``setWebhook``.

        N processes start with the same ``TELEGRAM_WEBHOOK_URL`` (the one public URL, behind a
        load balancer), so registering is done once for all of them, not once per start: under
        a Redis lock (``K.webhook_lock``, expires after ``WEBHOOK_LOCK_SECONDS``) one process
        at a time reads ``getWebhookInfo`` and the fingerprint the last registering process
        stored (``K.webhook_registered``), and calls ``setWebhook`` only when Telegram's URL or
        allowed update types differ from ours, or the fingerprint does (the secret changed, or
        nobody registered through this Redis yet). The others find it current and skip.
        Only the configured URL is ever registered — nothing derived from this process's
        host or ``PORT``. The process that registered logs ``telegram_webhook_registered``
        with its inbox owner id and pid; the others log ``telegram_webhook_current``.

        Idempotent: registering the same webhook twice is harmless, so a crash between
        ``setWebhook`` and storing the fingerprint only means the next start registers again;
        a process killed while holding the lock delays the others' check until the lock
        expires. Should the lock wait time out anyway, the check and registration run without
        it (at worst a duplicate ``setWebhook``). Redis down: ``ServiceUnavailable`` (the
        process does not start, as for the inbox). Telegram errors propagate (start fails).
        """
        assert self.webhook_url
        url = self.webhook_url
        fingerprint = self.webhook_fingerprint()
        redis = self.core.store.redis
        owner = self.inbox.owner
        lock = redis.lock(K.webhook_lock(self.platform), timeout=WEBHOOK_LOCK_SECONDS, sleep=0.05,
                          blocking=True, blocking_timeout=WEBHOOK_LOCK_SECONDS + 5)
        async with redis_guard("telegram.webhook_lock"):
            held = bool(await lock.acquire())
        try:
            info = await self.bot.get_webhook_info()
            async with redis_guard("telegram.webhook_check"):
                stored = await redis.get(K.webhook_registered(self.platform))
            if info.url != url:
                reason = "unset" if not info.url else "url"
            elif set(info.allowed_updates or ()) != set(ALLOWED_UPDATES):
                reason = "allowed_updates"
            elif stored != fingerprint:
                reason = "config"  # the secret changed, or not registered through this Redis yet
            else:
                log_event("telegram_webhook_current", owner=owner, pid=os.getpid())
                return False
            await self.bot.set_webhook(url, secret_token=webhook_secret(self.core.settings),
                                       allowed_updates=ALLOWED_UPDATES)
            async with redis_guard("telegram.webhook_mark"):
                await redis.set(K.webhook_registered(self.platform), fingerprint)
            log_event("telegram_webhook_registered", owner=owner, pid=os.getpid(), reason=reason,
                      locked=held)
            return True
        finally:
            if held:
                with contextlib.suppress(LockError, *REDIS_ERRORS):
                    await lock.release()

    async def stop(self, drain_seconds: float | None = None) -> None:
        """Graceful: stop taking updates, finish or hand back held work within the grace."""
        self._stopping = True
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller
            self._poller = None
        grace = self.core.settings.product.delivery.shutdown_grace_seconds if drain_seconds is None \
            else drain_seconds
        # One deadline for every step, so the whole stop fits the grace (e.g. a 10 s SIGKILL).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace

        def left() -> float:
            return max(0.0, deadline - loop.time())

        await asyncio.gather(self.inbox.stop(left()), self.core.outbox.stop(left()))
        if self._side_tasks:
            await asyncio.wait(set(self._side_tasks), timeout=max(left(), 0.5))
        await self.app.shutdown()
        log_event("telegram_stopped")

    async def set_commands(self) -> None:
        router = self.core.router
        ko, en = command_list(router, "ko"), command_list(router, "en")
        await self.bot.set_my_commands(ko)
        await self.bot.set_my_commands(ko, language_code="ko")
        await self.bot.set_my_commands(en, language_code="en")

    # --- intake -------------------------------------------------------------------------
    async def intake(self, updates: list[dict[str, Any]]) -> None:
        """Keep raw updates in the inbox; answer pre-checkout queries directly (10 s deadline).

        Returns once every update is stored (then the caller may acknowledge them); raises
        ``ServiceUnavailable`` when Redis is down (the caller must not acknowledge). A
        ``successful_payment`` is money: it is also waited for on a Redis replica
        (``Inbox.put(replicate=...)``), so a failover right after the acknowledgement cannot
        lose it; no replica in time is ``ServiceUnavailable`` too, and Telegram redelivers.
        """
        items: list[tuple[str, str, dict[str, Any]]] = []
        money: set[str] = set()
        for data in updates:
            if "pre_checkout_query" in data:
                self._spawn(self.process(Update.de_json(data, self.bot)))
            else:
                source_id = f"{self._bot_id}:{data['update_id']}"
                items.append((source_id, chat_key(data), data))
                message = data.get("message")
                if isinstance(message, dict) and message.get("successful_payment") is not None:
                    money.add(source_id)
        # Long polling: one process receives, so updates of partitions it owns are handled
        # from memory (not read back, decrypted and decoded). Webhook: N processes receive,
        # and a chat's updates must queue behind each other in its partition's stream.
        await self.inbox.put(items, replicate=money, handle_here=not self.webhook_url)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _poll(self) -> None:
        """Long polling: fetch, keep, then confirm (the next ``getUpdates`` offset confirms).

        A batch is fetched again only after the previous one is stored; while Redis is down
        the loop holds the unconfirmed batch and retries storing it (Telegram keeps updates).
        """
        offset: int | None = None
        backoff = 0.5
        while not self._stopping:
            try:
                params: dict[str, Any] = {"timeout": self.poll_timeout, "allowed_updates": ALLOWED_UPDATES}
                if offset is not None:
                    params["offset"] = offset
                raw = await self._get_updates(params)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # network trouble or a 409 conflict: back off, try again
                log_event("telegram_poll_failed", level=logging.WARNING, error=f"{type(exc).__name__}: {exc}"[:200])
                await asyncio.sleep(backoff)
                backoff = min(POLL_BACKOFF_MAX, backoff * 2)
                continue
            backoff = 0.5
            updates = [u for u in (raw or []) if isinstance(u, dict) and "update_id" in u]
            if not updates:
                continue
            while True:
                try:
                    await self.intake(updates)
                    break
                except ServiceUnavailable as exc:
                    log_event("telegram_poll_paused", level=logging.WARNING,
                              reason="no_replica" if exc.what == "replica" else "redis_down", held=len(updates))
                    if self._stopping:
                        return  # not confirmed: Telegram delivers them again to the next process
                    await asyncio.sleep(backoff)
                    backoff = min(STORE_RETRY_MAX, backoff * 2)
            backoff = 0.5
            offset = max(int(u["update_id"]) for u in updates) + 1

    async def _get_updates(self, params: dict[str, Any]) -> Any:
        """``getUpdates`` as raw JSON (stored as received)."""
        if isinstance(self._updates_request, AiohttpRequest):
            return await self._updates_request.call_json(self._api + "getUpdates", params,
                                                         read_timeout=self.poll_timeout + 10)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return await self.bot.do_api_request("getUpdates", api_kwargs=params,
                                                 read_timeout=self.poll_timeout + 10)

    async def _send_json(self, method: str, params: dict[str, Any], rate_limit_args: dict[str, Any] | None) -> Any:
        """A paced Bot API call outside PTB (the renderer's text messages): the same limiter,
        429 handling and exceptions as PTB's calls."""
        assert isinstance(self._request, AiohttpRequest)
        request, url = self._request, self._api + method
        return await self.rate_limiter.run(method, params.get("chat_id"), lambda: request.call_json(url, params),
                                           rate_limit_args)

    async def _handle_entry(self, entry: InboxEntry) -> None:
        payload = entry.payload
        msg = payload.get("message")
        if isinstance(msg, dict) and "successful_payment" not in msg:
            # The common case, a text message: routed from the raw JSON (no PTB objects built).
            try:
                await self._on_raw_message(msg, f"tg{self._bot_id}-{payload['update_id']}")
            except Exception:
                await self._failed(Update.de_json(payload, self.bot))
            return
        await self.process(Update.de_json(payload, self.bot))

    async def _on_raw_message(self, msg: dict[str, Any], request_id: str) -> None:
        """``_on_message`` for a raw ``message`` (no payment in it), with the same rules."""
        text = msg.get("text")
        user, chat = msg.get("from"), msg.get("chat")
        if not text or not isinstance(user, dict) or not isinstance(chat, dict) or user.get("is_bot"):
            return
        kind = chat.get("type")
        if kind not in ("private", *GROUP_TYPES):
            return
        group = kind in GROUP_TYPES
        reply_to = msg.get("reply_to_message")
        replied = reply_to.get("from") if isinstance(reply_to, dict) else None
        replied_id = replied.get("id") if isinstance(replied, dict) else None
        if not self._addressed(text, group, replied_id):
            return
        await self._handle(int(user["id"]), int(chat["id"]), group, text, user.get("language_code"),
                           user.get("first_name"), request_id)

    def request_id(self, update: Update) -> str:
        """Stable per update: idempotency keys made from it replay when the update is re-handled."""
        return f"tg{self._bot_id}-{update.update_id}"

    async def process(self, update: Update) -> None:
        """Handle one update now (the inbox calls this in chat order)."""
        try:
            if update.pre_checkout_query is not None:
                await self.payments.pre_checkout(update.pre_checkout_query)
            elif update.callback_query is not None:
                await self._on_callback(update.callback_query, self.request_id(update))
            elif update.message is not None:
                msg = update.message
                if msg.successful_payment is not None:
                    await self.payments.successful_payment(msg)
                elif msg.text:
                    await self._on_message(msg, self.request_id(update))
        except Exception as exc:
            paid = update.message.successful_payment if update.message is not None else None
            if paid is not None:
                # Money has moved: never drop it. The inbox keeps the update and retries it in
                # place (Redis refusing writes, a bug fixed by a deploy) until it is granted.
                log_event("payment_handling_failed", level=logging.ERROR, exc_info=not isinstance(
                    exc, ServiceUnavailable), charge=paid.telegram_payment_charge_id, update_id=update.update_id)
                raise ServiceUnavailable("payment") from exc
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
        reply_to = msg.reply_to_message
        replied = reply_to.from_user.id if reply_to is not None and reply_to.from_user is not None else None
        return self._addressed(msg.text or "", group, replied)

    def _addressed(self, text: str, group: bool, replied_to: int | None) -> bool:
        """A command naming this bot (or no bot, outside groups), any private text, or a
        reply to one of this bot's messages."""
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
        return replied_to is not None and replied_to == self.bot.id

    async def _on_message(self, msg: Message, request_id: str) -> None:
        user, chat = msg.from_user, msg.chat
        if user is None or user.is_bot or chat.type not in ("private", *GROUP_TYPES):
            return
        group = chat.type in GROUP_TYPES
        if not self._addressed_to_me(msg, group):
            return
        await self._handle(user.id, chat.id, group, msg.text or "", user.language_code, user.first_name,
                           request_id)

    async def _on_callback(self, query: CallbackQuery, request_id: str) -> None:
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
        await self._handle(user.id, chat_id, group, query.data, user.language_code, user.first_name,
                           request_id)

    async def _handle(self, user_id: int, chat_id: int, group: bool, text: str, lang_hint: str | None,
                      name: str | None, request_id: str) -> None:
        event = Event(self.platform, str(user_id), text, chat_id=str(chat_id),
                      chat_kind="group" if group else "private", lang_hint=lang_hint, display_name=name,
                      request_id=request_id)
        replies = await self.core.router.handle(event)
        await self.deliver(chat_id, replies, group=group, uid=event.uid, lang_hint=lang_hint)

    # --- output -------------------------------------------------------------------------
    async def deliver(self, chat_id: int, replies: list[Reply], *, group: bool = False, uid: str = "",
                      lang_hint: str | None = None) -> None:
        """Send replies; personal ones (``private``, invoices) asked for in a group go to the
        user's private chat, with a short note in the group (or a pointer when we cannot)."""
        note_sent = False
        for reply in replies:
            if not (group and (reply.private or reply.invoice is not None)):
                await self.renderer.send(chat_id, reply)
                continue
            user_id = int(uid.partition(":")[2])
            try:
                await self.renderer.send(user_id, reply)
                key = "delivery.dm_sent"
            except (Forbidden, BadRequest):  # never started the bot privately
                key = "tg.private_redirect"
            if not note_sent:
                note_sent = True
                await self.renderer.send(chat_id, await self._group_note(uid, lang_hint, key))

    async def _group_note(self, uid: str, lang_hint: str | None, key: str) -> Reply:
        lang = await self.user_lang(uid, lang_hint)
        buttons = [[Button(t(lang, "tg.private_button"), url=f"https://t.me/{self.username}")]] \
            if self.username else []
        return Reply(t(lang, key), buttons=buttons)

    async def user_lang(self, uid: str, hint: str | None) -> Lang:
        """The user's chosen language, else the platform's hint (Redis down: the hint).
        ``uid`` is a platform identity (``tg:123``) or an account id."""
        try:
            aid = await self.core.accounts.lookup(uid) if ":" in uid else uid
            profile = await self.core.profiles.get(aid) if aid else None
        except Exception:
            profile = None
        return profile.lang if profile is not None else normalize_lang(hint)

    async def _push(self, target: str, reply: Reply, retries: int | None = None) -> None:
        """The platform sender: ``target`` is a user id (private chat) or ``chat:<id>``.

        PTB errors propagate (``wrap_sender`` maps them to ``bot.core.delivery`` errors);
        ``retries=0`` turns off the rate limiter's own 429 retries (the outbox owns them).
        """
        chat = int(target.removeprefix("chat:"))
        args = None if retries is None else {"max_retries": retries}
        await self.renderer.send(chat, reply, rate_limit_args=args)

    async def health(self) -> dict[str, Any]:
        """``/api/health``: the Bot API answers ``getMe`` within 3 s."""
        me = await asyncio.wait_for(self.bot.get_me(), timeout=3)
        return {"status": "ok", "username": me.username}

    # --- operators ----------------------------------------------------------------------
    async def refund_payment(self, charge_id: str) -> RefundResult:
        """Refund one Stars payment: reverse the grant, then ``refundStarPayment``."""
        return await self.payments.refund(charge_id)


