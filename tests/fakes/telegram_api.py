"""A local fake of the Telegram Bot API, speaking the real wire format.

Real clients (python-telegram-bot through ``TELEGRAM_API_BASE_URL``, or plain HTTP) talk to
it on 127.0.0.1 at a free port:

- ``POST|GET /bot<token>/<method>`` with JSON, form-urlencoded or multipart bodies;
  answers ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": n, "description":
  ..., "parameters": {"retry_after": n}}`` with the matching HTTP status.
- Result objects shaped like Telegram's (getMe User, sendMessage/sendPhoto/sendInvoice
  Message, ``true`` for answerCallbackQuery, setMyCommands, answerPreCheckoutQuery,
  refundStarPayment, setWebhook/deleteWebhook, ...). Bad input is refused like Telegram does
  (empty or over-long text, callback_data over 64 bytes, captions over 1024, XTR invoices
  with a provider token).
- Updates: ``deliver(update)`` queues it for ``getUpdates`` (``offset`` confirms, ``timeout``
  long-polls) or, once ``setWebhook`` was called, POSTs it to the webhook with the secret
  header, as Telegram does. Builders make message / callback / pre-checkout / payment updates.
- Every call is recorded (``calls``, ``calls_to``, ``wait_for``) for assertions.
- Failure injection for retry and broadcast tests: ``fail_next`` (429 with ``retry_after``),
  ``enforce_rate`` (429 when per-chat / global / group rates are exceeded), ``block_chat``
  (403 "Forbidden: bot was blocked by the user"), ``lose_chat`` (400 "Bad Request: chat not
  found").

Usage::

    async with FakeTelegramAPI() as tg:
        env = {"TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_BASE_URL": tg.url}
        ...
        await tg.deliver(tg.message_update(42, "/start"))
        [call] = await tg.wait_for("sendMessage", chat_id=42)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

import aiohttp
from aiohttp import web

__all__ = ["FakeTelegramAPI", "Call", "ApiError"]

_INT_FIELDS = {"chat_id", "message_id", "offset", "limit", "timeout", "user_id", "cache_time",
               "max_connections", "reply_to_message_id", "message_thread_id", "from_chat_id",
               "max_tip_amount", "photo_size", "photo_width", "photo_height"}
_BOOL_FIELDS = {"ok", "show_alert", "drop_pending_updates", "disable_notification", "protect_content",
                "is_flexible", "need_name", "need_email", "need_phone_number", "need_shipping_address",
                "allow_sending_without_reply", "disable_web_page_preview"}


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Call:
    """One recorded API call."""

    method: str
    params: dict[str, Any]
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)
    status: int = 200  # the HTTP status answered

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def buttons(self) -> list[dict[str, Any]]:
        markup = self.params.get("reply_markup") or {}
        return [b for row in markup.get("inline_keyboard", []) for b in row]


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            out["parameters"] = {"retry_after": self.retry_after}
        return out


class _Windows:
    def __init__(self) -> None:
        self.logs: dict[Any, deque[float]] = {}

    def over(self, key: Any, limit: int, window: float, now: float) -> bool:
        q = self.logs.setdefault(key, deque())
        while q and q[0] <= now - window:
            q.popleft()
        if len(q) >= limit:
            return True
        q.append(now)
        return False


class FakeTelegramAPI:
    def __init__(self, token: str = "123456789:TEST-fake-token_for_soul_lab", username: str = "SoulLabTestBot",
                 first_name: str = "Soul Lab") -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.username = username
        self.first_name = first_name
        self.host = "127.0.0.1"
        self.port = 0
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] | None = None
        self.webhook_responses: list[int] = []
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.pre_checkout_answers: dict[str, dict[str, Any]] = {}
        self.answered_callbacks: set[str] = set()
        self.charges: dict[str, int] = {}  # charge id -> user id (from successful_payment builders)
        self.refunded: set[str] = set()
        self.sent: dict[int, list[dict[str, Any]]] = {}  # chat id -> messages the bot sent
        self.blocked: set[int] = set()
        self.missing: set[int] = set()
        self._fail: list[dict[str, Any]] = []
        self._rates: dict[str, Any] = {}
        self._windows = _Windows()
        self.rate_violations = 0
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._ids = itertools.count(1000)
        self._new_update = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self.latency = 0.0  # seconds added to every answer (to model network time)

    # --- server ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        """What to put in TELEGRAM_API_BASE_URL."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FakeTelegramAPI:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/file/bot{token}/{path:.*}", self._file)
        app.router.add_post("/_control/messages", self._control_messages)
        app.router.add_get("/_control/sends", self._control_sends)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self._closing.set()
        self._new_update.set()
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeTelegramAPI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- failure injection ------------------------------------------------------------
    def fail_next(self, method: str, times: int = 1, retry_after: int = 1, chat_id: int | None = None,
                  code: int = 429, description: str | None = None) -> None:
        """Answer the next ``times`` calls of ``method`` (optionally to one chat) with an error."""
        self._fail.append({"method": method.lower(), "times": times, "retry_after": retry_after,
                           "chat_id": chat_id, "code": code, "description": description})

    def clear_failures(self) -> None:
        """Forget every injected failure still pending (``fail_next``)."""
        self._fail.clear()

    def enforce_rate(self, per_chat_per_second: int | None = 1, global_per_second: int | None = 30,
                     group_per_minute: int | None = 20, retry_after: int = 1, chat_burst_seconds: int = 3) -> None:
        """Answer 429 (``retry_after``) to sends over Telegram's limits; counts ``rate_violations``.

        Like Telegram, a chat may burst: ``per_chat_per_second`` is averaged over
        ``chat_burst_seconds`` (1 = strictly one message per second). None turns a check off.
        """
        self._rates = {"chat": per_chat_per_second, "global": global_per_second, "group": group_per_minute,
                       "retry_after": retry_after, "burst": max(1, chat_burst_seconds)}

    def stop_enforcing_rate(self) -> None:
        self._rates = {}

    def block_chat(self, chat_id: int) -> None:
        """Sends to ``chat_id`` get 403 "Forbidden: bot was blocked by the user"."""
        self.blocked.add(chat_id)

    def lose_chat(self, chat_id: int) -> None:
        """Sends to ``chat_id`` get 400 "Bad Request: chat not found"."""
        self.missing.add(chat_id)

    def _injected(self, method: str, params: dict[str, Any]) -> ApiError | None:
        chat_id = params.get("chat_id")
        for rule in self._fail:
            if rule["times"] > 0 and rule["method"] == method.lower() and \
                    (rule["chat_id"] is None or rule["chat_id"] == chat_id):
                rule["times"] -= 1
                if rule["code"] == 429:
                    return ApiError(429, rule["description"] or f"Too Many Requests: retry after {rule['retry_after']}",
                                    rule["retry_after"])
                return ApiError(rule["code"], rule["description"] or "Bad Request: injected failure")
        if chat_id is None or not method.lower().startswith(("send", "copy", "forward")):
            return None
        if chat_id in self.blocked:
            return ApiError(403, "Forbidden: bot was blocked by the user")
        if chat_id in self.missing:
            return ApiError(400, "Bad Request: chat not found")
        if self._rates:
            now = time.monotonic()
            ra = self._rates["retry_after"]
            burst = self._rates["burst"]
            per_chat = self._rates["chat"] * burst if self._rates["chat"] else None
            checks = [("global", "all", self._rates["global"], 1.0), ("chat", chat_id, per_chat, float(burst))]
            if isinstance(chat_id, int) and chat_id < 0:
                checks.append(("group", chat_id, self._rates["group"], 60.0))
            for scope, subject, limit, window in checks:
                if limit and self._windows.over((scope, subject), limit, window, now):
                    self.rate_violations += 1
                    return ApiError(429, f"Too Many Requests: retry after {ra}", ra)
        return None

    # --- request handling ------------------------------------------------------------
    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, dict[str, Any]] = {}
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        data = value.file.read()
                        files[key] = {"filename": value.filename, "content_type": value.content_type,
                                      "size": len(data), "data": data}
                    else:
                        params[key] = value
        for key, value in list(params.items()):
            if not isinstance(value, str):
                continue
            if value[:1] in "{[":
                try:
                    params[key] = json.loads(value)
                    continue
                except ValueError:
                    pass
            if key in _INT_FIELDS and value.lstrip("-").isdigit():
                params[key] = int(value)
            elif key in _BOOL_FIELDS and value in ("true", "false", "True", "False"):
                params[key] = value.lower() == "true"
        # attach://name references in multipart sends resolve to the uploaded part
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://") and value[9:] in files:
                files[key] = files[value[9:]]
        return params, files

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        params, files = await self._params(request)
        call = Call(method, params, files)
        self.calls.append(call)
        if self.latency:
            await asyncio.sleep(self.latency)
        try:
            error = self._injected(method, params)
            if error is not None:
                raise error
            fn: Callable[..., Any] | None = getattr(self, f"_m_{method.lower()}", None)
            if fn is None:
                raise ApiError(404, "Not Found")
            result = fn(params, files)
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as err:
            call.status = err.code
            return web.json_response(err.body(), status=err.code)
        return web.json_response({"ok": True, "result": result})

    # --- control (when the fake runs in its own process: tests/fakes/telegram_server.py) ---------
    async def _control_messages(self, request: web.Request) -> web.Response:
        """``{"items": [[user_id, text], ...]}``: deliver one message update per item, now."""
        body = await request.json()
        for user_id, text in body["items"]:
            await self.deliver(self.message_update(int(user_id), str(text)))
        return web.json_response({"ok": True})

    async def _control_sends(self, request: web.Request) -> web.Response:
        """Successful ``sendMessage`` calls from index ``since``: ``[[chat_id, monotonic at]]``."""
        since = int(request.query.get("since", 0))
        calls = self.calls[since:]
        sends = [[c.params.get("chat_id"), c.at] for c in calls if c.ok and c.method == "sendMessage"]
        return web.json_response({"next": since + len(calls), "sends": sends})

    async def _file(self, request: web.Request) -> web.Response:
        return web.Response(status=404)

    # --- objects ------------------------------------------------------------------------
    def bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.first_name, "username": self.username,
                "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}

    @staticmethod
    def user(user_id: int, first_name: str = "Tester", language_code: str | None = "ko",
             username: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if language_code:
            out["language_code"] = language_code
        if username:
            out["username"] = username
        return out

    @staticmethod
    def chat(chat_id: int, chat_type: str | None = None, title: str = "Soul Lab test group",
             first_name: str = "Tester") -> dict[str, Any]:
        kind = chat_type or ("private" if chat_id > 0 else "supergroup")
        if kind == "private":
            return {"id": chat_id, "type": "private", "first_name": first_name}
        return {"id": chat_id, "type": kind, "title": title}

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def _bot_message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            raise ApiError(400, "Bad Request: chat not found")
        msg: dict[str, Any] = {"message_id": self._next_message_id(chat_id), "date": int(time.time()),
                               "chat": self.chat(chat_id), "from": self.bot_user(), **extra}
        markup = params.get("reply_markup")
        if markup:
            self._check_markup(markup)
            msg["reply_markup"] = markup
        self.sent.setdefault(chat_id, []).append(msg)
        return msg

    @staticmethod
    def _check_markup(markup: dict[str, Any]) -> None:
        for row in markup.get("inline_keyboard", []):
            for b in row:
                if not b.get("text"):
                    raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
                data = b.get("callback_data")
                if data is not None and not 1 <= len(data.encode("utf-8")) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                if data is None and not b.get("url"):
                    raise ApiError(400, "Bad Request: can't parse inline keyboard button")

    # --- methods (answers shaped like Telegram's) ---------------------------------------
    def _m_getme(self, p: dict[str, Any], f: Any) -> dict[str, Any]:
        return self.bot_user()

    def _m_sendmessage(self, p: dict[str, Any], f: Any) -> dict[str, Any]:
        text = p.get("text")
        if not text or not str(text).strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(str(text)) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return self._bot_message(p, text=str(text))

    def _m_sendphoto(self, p: dict[str, Any], f: dict[str, Any]) -> dict[str, Any]:
        caption = p.get("caption")
        if caption is not None and utf16_len(str(caption)) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        if "photo" not in f and not p.get("photo"):
            raise ApiError(400, "Bad Request: there is no photo in the request")
        size = f["photo"]["size"] if "photo" in f else 0
        uid = f"ph{next(self._ids)}"
        photo = [{"file_id": f"AgAC{uid}", "file_unique_id": uid, "width": 800, "height": 600, "file_size": size}]
        extra: dict[str, Any] = {"photo": photo}
        if caption:
            extra["caption"] = str(caption)
        return self._bot_message(p, **extra)

    def _m_sendinvoice(self, p: dict[str, Any], f: Any) -> dict[str, Any]:
        for name in ("title", "description", "payload", "currency", "prices"):
            if p.get(name) in (None, ""):
                raise ApiError(400, f"Bad Request: parameter \"{name}\" is required")
        if not 1 <= len(p["title"]) <= 32 or not 1 <= len(p["description"]) <= 255:
            raise ApiError(400, "Bad Request: invoice title or description length is invalid")
        prices = p["prices"]
        if p["currency"] == "XTR" and (p.get("provider_token") or len(prices) != 1):
            raise ApiError(400, "Bad Request: XTR invoices need an empty provider token and one price")
        total = sum(int(x["amount"]) for x in prices)
        invoice = {"title": p["title"], "description": p["description"], "start_parameter": p.get("start_parameter", ""),
                   "currency": p["currency"], "total_amount": total}
        return self._bot_message(p, invoice=invoice)

    def _m_answercallbackquery(self, p: dict[str, Any], f: Any) -> bool:
        self.answered_callbacks.add(str(p.get("callback_query_id")))
        return True

    def _m_answerprecheckoutquery(self, p: dict[str, Any], f: Any) -> bool:
        if p.get("ok") is False and not p.get("error_message"):
            raise ApiError(400, "Bad Request: error_message is required when ok is false")
        self.pre_checkout_answers[str(p.get("pre_checkout_query_id"))] = {
            "ok": p.get("ok"), "error_message": p.get("error_message")}
        return True

    def _m_refundstarpayment(self, p: dict[str, Any], f: Any) -> bool:
        charge = str(p.get("telegram_payment_charge_id"))
        if self.charges.get(charge) != p.get("user_id"):
            raise ApiError(400, "Bad Request: CHARGE_ID_INVALID")
        if charge in self.refunded:
            raise ApiError(400, "Bad Request: CHARGE_ALREADY_REFUNDED")
        self.refunded.add(charge)
        return True

    def _m_setmycommands(self, p: dict[str, Any], f: Any) -> bool:
        scope = (p.get("scope") or {}).get("type", "default")
        self.commands[(scope, p.get("language_code") or "")] = list(p.get("commands") or [])
        return True

    def _m_getmycommands(self, p: dict[str, Any], f: Any) -> list[dict[str, Any]]:
        scope = (p.get("scope") or {}).get("type", "default")
        return self.commands.get((scope, p.get("language_code") or ""), [])

    def _m_deletemycommands(self, p: dict[str, Any], f: Any) -> bool:
        scope = (p.get("scope") or {}).get("type", "default")
        self.commands.pop((scope, p.get("language_code") or ""), None)
        return True

    def _m_setwebhook(self, p: dict[str, Any], f: Any) -> bool:
        if not p.get("url"):
            return self._m_deletewebhook(p, f)
        self.webhook = {"url": p["url"], "secret_token": p.get("secret_token"),
                        "allowed_updates": p.get("allowed_updates"),
                        "max_connections": int(p.get("max_connections") or 40)}
        if p.get("drop_pending_updates"):
            self.updates.clear()
        return True

    def _m_deletewebhook(self, p: dict[str, Any], f: Any) -> bool:
        self.webhook = None
        if p.get("drop_pending_updates"):
            self.updates.clear()
        return True

    def _m_getwebhookinfo(self, p: dict[str, Any], f: Any) -> dict[str, Any]:
        """A WebhookInfo: ``url`` is "" without a webhook; ``max_connections`` and
        ``allowed_updates`` only when a webhook is set (and, for the latter, was given a list).
        The secret token is never returned, as on Telegram."""
        if self.webhook is None:
            return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self.updates)}
        info: dict[str, Any] = {"url": self.webhook["url"], "has_custom_certificate": False,
                                "pending_update_count": 0, "max_connections": self.webhook["max_connections"],
                                "ip_address": "127.0.0.1"}
        if self.webhook.get("allowed_updates") is not None:
            info["allowed_updates"] = list(self.webhook["allowed_updates"])
        return info

    async def _m_getupdates(self, p: dict[str, Any], f: Any) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = int(p.get("offset") or 0)
        limit = max(1, min(100, int(p.get("limit") or 100)))
        timeout = max(0.0, min(float(p.get("timeout") or 0), 50.0))
        deadline = time.monotonic() + timeout
        while True:
            if offset:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
            if self.updates or self._closing.is_set():
                return self.updates[:limit]
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), left)
            except TimeoutError:
                return []

    def _m_sendchataction(self, p: dict[str, Any], f: Any) -> bool:
        return True

    def _m_deletemessage(self, p: dict[str, Any], f: Any) -> bool:
        return True

    def _m_editmessagetext(self, p: dict[str, Any], f: Any) -> dict[str, Any]:
        return self._bot_message(p, text=str(p.get("text", "")))

    def _m_close(self, p: dict[str, Any], f: Any) -> bool:
        return True

    def _m_logout(self, p: dict[str, Any], f: Any) -> bool:
        return True

    # --- updates ------------------------------------------------------------------------
    def next_update_id(self) -> int:
        return next(self._update_ids)

    def message_update(self, user_id: int, text: str, *, chat_id: int | None = None, chat_type: str | None = None,
                       first_name: str = "Tester", language_code: str | None = "ko",
                       reply_to: dict[str, Any] | None = None) -> dict[str, Any]:
        """A text message from a user (in their private chat unless ``chat_id`` is a group)."""
        cid = user_id if chat_id is None else chat_id
        msg: dict[str, Any] = {"message_id": self._next_message_id(cid), "date": int(time.time()),
                               "chat": self.chat(cid, chat_type, first_name=first_name),
                               "from": self.user(user_id, first_name, language_code), "text": text}
        if text.startswith("/"):
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        if reply_to is not None:
            msg["reply_to_message"] = reply_to
        return {"update_id": self.next_update_id(), "message": msg}

    def callback_update(self, user_id: int, data: str, *, message: dict[str, Any] | None = None,
                        chat_id: int | None = None, first_name: str = "Tester",
                        language_code: str | None = "ko") -> dict[str, Any]:
        """A button press on ``message`` (default: the bot's last message in the chat)."""
        cid = user_id if chat_id is None else chat_id
        if message is None:
            message = (self.sent.get(cid) or [None])[-1] or {
                "message_id": self._next_message_id(cid), "date": int(time.time()), "chat": self.chat(cid),
                "from": self.bot_user(), "text": "…"}
        query = {"id": str(next(self._ids)), "from": self.user(user_id, first_name, language_code),
                 "message": message, "chat_instance": f"ci{cid}", "data": data}
        return {"update_id": self.next_update_id(), "callback_query": query}

    def pre_checkout_update(self, user_id: int, payload: str, amount: int, currency: str = "XTR",
                            language_code: str | None = "ko") -> dict[str, Any]:
        query = {"id": str(next(self._ids)), "from": self.user(user_id, language_code=language_code),
                 "currency": currency, "total_amount": amount, "invoice_payload": payload}
        return {"update_id": self.next_update_id(), "pre_checkout_query": query}

    def payment_update(self, user_id: int, payload: str, amount: int, charge_id: str | None = None,
                       currency: str = "XTR", language_code: str | None = "ko") -> dict[str, Any]:
        """The service message carrying ``successful_payment`` (after an approved pre-checkout)."""
        charge = charge_id or f"stxCHARGE{next(self._ids)}"
        self.charges[charge] = user_id
        msg = {"message_id": self._next_message_id(user_id), "date": int(time.time()),
               "chat": self.chat(user_id), "from": self.user(user_id, language_code=language_code),
               "successful_payment": {"currency": currency, "total_amount": amount, "invoice_payload": payload,
                                      "telegram_payment_charge_id": charge, "provider_payment_charge_id": ""}}
        return {"update_id": self.next_update_id(), "message": msg}

    async def deliver(self, update: dict[str, Any]) -> int | None:
        """Hand an update to the bot like Telegram: webhook POST if set (returns the HTTP status),
        else queue it for getUpdates (returns None)."""
        if self.webhook is None:
            self.updates.append(update)
            self._new_update.set()
            return None
        return await self.post_webhook(update)

    async def post_webhook(self, update: dict[str, Any], secret: str | None = ...,  # type: ignore[assignment]
                           url: str | None = None) -> int:
        """POST ``update`` to the webhook (``secret`` overrides the registered secret token)."""
        assert self.webhook is not None or url is not None, "no webhook set"
        target = url or self.webhook["url"]  # type: ignore[index]
        token = (self.webhook or {}).get("secret_token") if secret is ... else secret
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        if self._client is None:
            self._client = aiohttp.ClientSession()
        async with self._client.post(target, data=json.dumps(update), headers=headers) as resp:
            await resp.read()
            self.webhook_responses.append(resp.status)
            return resp.status

    # --- assertions ---------------------------------------------------------------------
    def calls_to(self, method: str, *, ok_only: bool = True, **match: Any) -> list[Call]:
        m = method.lower()
        return [c for c in self.calls if c.method.lower() == m and (c.ok or not ok_only)
                and all(c.params.get(k) == v for k, v in match.items())]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 5.0,
                       where: Callable[[Call], bool] | None = None, **match: Any) -> list[Call]:
        """Wait until ``count`` successful calls of ``method`` match; returns them all."""
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.calls_to(method, **match) if where is None or where(c)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                seen = [(c.method, c.params.get("chat_id"), str(c.params.get("text", ""))[:60], c.status)
                        for c in self.calls[-15:]]
                raise AssertionError(f"expected {count} {method} {match}, got {len(found)}; last calls: {seen}")
            await asyncio.sleep(0.01)

    def texts(self, chat_id: int) -> list[str]:
        """Texts and captions the bot sent to ``chat_id``, in order."""
        out = []
        for c in self.calls:
            if c.ok and c.params.get("chat_id") == chat_id and c.method.lower() in ("sendmessage", "sendphoto"):
                out.append(str(c.params.get("text") or c.params.get("caption") or ""))
        return out
