"""A local fake of Slack: the Web API the bot calls, and Slack's side of an app's Request URL.

Real clients (slack_sdk's ``AsyncWebClient`` through ``SLACK_API_BASE_URL``, slack-bolt's
``respond``) talk to it on 127.0.0.1 at a free port:

- ``POST /api/<method>`` with JSON, form-urlencoded or query parameters and the bot token as
  ``Authorization: Bearer xoxb-…``; answers like Slack: HTTP 200 with ``{"ok": true, …}`` or
  ``{"ok": false, "error": "<code>"}`` (``invalid_auth``, ``not_authed``, ``channel_not_found``,
  ``no_text``, ``invalid_blocks``, ``unknown_method`` …), and HTTP 429 with ``Retry-After``
  and ``{"ok": false, "error": "ratelimited"}`` when asked to (``rate_limit_next``).
- Methods: ``auth.test``, ``chat.postMessage`` (text and Block Kit blocks, checked against
  Slack's limits: 50 blocks, 3,000 characters per section text, 25 elements per actions block,
  75 characters per button label, 2,000 per button value, unique ``action_id`` per message),
  and the three steps ``files_upload_v2`` makes: ``files.getUploadURLExternal`` (a one-time
  upload URL on this server), ``POST /upload/v1/<file id>`` (the bytes; answers
  ``OK - <length>``), ``files.completeUploadExternal`` (shares uploaded files to a channel;
  a file whose bytes never arrived is refused with ``file_not_found``, a second completion
  with ``file_upload_already_completed``).
- Response URLs (``/response/<id>``): what a slash command or a button press carries; JSON
  bodies like an incoming webhook (``text``, ``blocks``, ``response_type``,
  ``replace_original``, ``delete_original``); at most 5 uses (then 404 ``used_url``), 200
  ``ok`` otherwise. Response URLs accept no files — charts must go through the Web API.
- Slack's side of the app: builders for a slash command (form body with a unique
  ``trigger_id`` and a fresh response URL), a ``block_actions`` press (``payload=<json>``) and
  an Events API ``event_callback`` (``event_id``), signed exactly as Slack signs them
  (``v0=`` + HMAC-SHA256 of ``v0:<timestamp>:<body>`` with the signing secret, in
  ``X-Slack-Signature`` and ``X-Slack-Request-Timestamp``); ``deliver`` POSTs one to the
  bot's Request URL (with ``X-Slack-Retry-Num`` / ``X-Slack-Retry-Reason`` for a retry).
- Every Web API call and every response-URL post is recorded for assertions (``calls``,
  ``calls_to``, ``messages_in``, ``responses``, ``uploads``; ``wait_for``).

Usage::

    async with FakeSlack() as slack:
        env = {"SLACK_BOT_TOKEN": slack.token, "SLACK_SIGNING_SECRET": slack.signing_secret,
               "SLACK_API_BASE_URL": slack.api_url}
        status, body = await slack.deliver(url, slack.slash_command("health", user="U1", channel="C1"))
        [post] = await slack.wait_responses(1)
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

__all__ = ["FakeSlack", "Call", "ResponsePost", "Upload", "SignedRequest", "sign"]

#: Slack's documented Block Kit limits the fake enforces.
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTION_ID = 255
MAX_MESSAGE_TEXT = 40000
RESPONSE_URL_USES = 5


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """Slack's request signature: ``v0=`` + hex HMAC-SHA256 of ``v0:<ts>:<body>``."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class Call:
    """One recorded Web API call."""

    method: str
    params: dict[str, Any]
    token: str | None
    at: float = field(default_factory=time.monotonic)
    ok: bool = True
    error: str | None = None

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return _buttons(self.params.get("blocks"))


@dataclass
class ResponsePost:
    """One post to a response URL."""

    response_id: str
    body: dict[str, Any]
    at: float = field(default_factory=time.monotonic)

    @property
    def text(self) -> str:
        return str(self.body.get("text") or "")

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return _buttons(self.body.get("blocks"))


@dataclass
class Upload:
    """A file uploaded through the external-upload flow."""

    file_id: str
    filename: str
    length: int
    data: bytes | None = None
    title: str | None = None
    channel: str | None = None
    initial_comment: str | None = None
    thread_ts: str | None = None
    completed: bool = False


@dataclass(frozen=True)
class SignedRequest:
    """A request as Slack sends it to the app's Request URL."""

    body: bytes
    headers: dict[str, str]
    kind: str  # "command" | "block_actions" | "event"
    trigger_id: str = ""
    response_id: str = ""
    event_id: str = ""


def _buttons(blocks: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for block in blocks or []:
        if isinstance(block, dict) and block.get("type") == "actions":
            out.extend(e for e in block.get("elements", []) if e.get("type") == "button")
    return out


class _SlackError(Exception):
    def __init__(self, error: str, status: int = 200, retry_after: int | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.retry_after = retry_after


class FakeSlack:
    def __init__(self, *, token: str = "xoxb-1-fake-soul-lab-token", signing_secret: str = "fake-slack-signing-secret",
                 team_id: str = "T0SOUL", bot_user_id: str = "U0BOT", bot_id: str = "B0BOT") -> None:
        self.token = token
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.host = "127.0.0.1"
        self.port = 0
        self.calls: list[Call] = []
        self.responses: list[ResponsePost] = []
        self.uploads: dict[str, Upload] = {}
        self.lost_channels: set[str] = set()
        self._response_uses: dict[str, int] = {}
        self._fail: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.latency = 0.0  # seconds added to every Web API answer

    # --- server ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """What to put in SLACK_API_BASE_URL."""
        return f"{self.url}/api/"

    async def start(self) -> FakeSlack:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_post("/api/{method}", self._api)
        app.router.add_post("/upload/v1/{file_id}", self._upload)
        app.router.add_post("/response/{rid}", self._response)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- failure injection ------------------------------------------------------------
    def rate_limit_next(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` get HTTP 429 ``ratelimited`` with Retry-After."""
        self._fail.append({"method": method, "times": times, "error": "ratelimited", "status": 429,
                           "retry_after": retry_after})

    def fail_next(self, method: str, error: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer ``{"ok": false, "error": error}``."""
        self._fail.append({"method": method, "times": times, "error": error, "status": 200, "retry_after": None})

    def lose_channel(self, channel: str) -> None:
        """Posts to ``channel`` answer ``channel_not_found`` (deleted, or the bot was never in it)."""
        self.lost_channels.add(channel)

    # --- Web API --------------------------------------------------------------------------
    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            else:
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        for key in ("blocks", "files", "attachments"):
            value = params.get(key)
            if isinstance(value, str) and value[:1] == "[":
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    params[key] = None  # Slack answers invalid_blocks / invalid_arguments below
        return params

    def _token(self, request: web.Request, params: dict[str, Any]) -> str | None:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth[7:]
        token = params.pop("token", None)
        return str(token) if token else None

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        token = self._token(request, params)
        call = Call(method, params, token)
        self.calls.append(call)
        if self.latency:
            await asyncio.sleep(self.latency)
        try:
            if token is None:
                raise _SlackError("not_authed")
            if token != self.token:
                raise _SlackError("invalid_auth")
            self._injected(method)
            fn = getattr(self, "_m_" + method.replace(".", "_"), None)
            if fn is None:
                raise _SlackError("unknown_method")
            result: dict[str, Any] = fn(params)
        except _SlackError as err:
            call.ok, call.error = False, err.error
            headers = {"Retry-After": str(err.retry_after)} if err.retry_after is not None else {}
            await self._notify()
            return web.json_response({"ok": False, "error": err.error}, status=err.status, headers=headers)
        await self._notify()
        return web.json_response({"ok": True, **result})

    def _injected(self, method: str) -> None:
        for rule in self._fail:
            if rule["times"] > 0 and rule["method"] == method:
                rule["times"] -= 1
                raise _SlackError(rule["error"], rule["status"], rule["retry_after"])

    def _m_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": "https://soul-lab-test.slack.com/", "team": "Soul Lab Test", "user": "soullab",
                "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id,
                "is_enterprise_install": False}

    def _channel(self, params: dict[str, Any], name: str = "channel") -> str:
        channel = str(params.get(name) or "")
        if not channel:
            raise _SlackError("channel_not_found")
        if channel in self.lost_channels:
            raise _SlackError("channel_not_found")
        return channel

    def _m_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        text = params.get("text")
        blocks = params.get("blocks")
        if "blocks" in params and not isinstance(blocks, list):
            raise _SlackError("invalid_blocks_format")
        if not text and not blocks:
            raise _SlackError("no_text")
        if text and len(str(text)) > MAX_MESSAGE_TEXT:
            raise _SlackError("msg_too_long")
        check_blocks(blocks or [])
        ts = self._new_ts()
        message = {"type": "message", "user": self.bot_user_id, "bot_id": self.bot_id, "text": text or "",
                   "ts": ts}
        if blocks:
            message["blocks"] = blocks
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        return {"channel": channel, "ts": ts, "message": message}

    def _m_files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        filename = str(params.get("filename") or "")
        try:
            length = int(params.get("length") or 0)
        except (TypeError, ValueError):
            length = 0
        if not filename or length <= 0:
            raise _SlackError("invalid_arguments")
        file_id = f"F{next(self._ids):08d}"
        self.uploads[file_id] = Upload(file_id, filename, length)
        return {"upload_url": f"{self.url}/upload/v1/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        files = params.get("files")
        if not isinstance(files, list) or not files:
            raise _SlackError("invalid_arguments")
        channel = params.get("channel_id") or params.get("channels")
        if channel:
            channel = self._channel({"channel": channel})
        out = []
        for item in files:
            upload = self.uploads.get(str(item.get("id")))
            if upload is None or upload.data is None or upload.completed:
                raise _SlackError("file_not_found" if upload is None or upload.data is None else "file_upload_already_completed")
            upload.completed = True
            upload.title = item.get("title") or upload.filename
            upload.channel = str(channel) if channel else None
            upload.initial_comment = params.get("initial_comment")
            upload.thread_ts = params.get("thread_ts")
            out.append({"id": upload.file_id, "title": upload.title, "name": upload.filename,
                        "size": len(upload.data), "mimetype": "image/png" if upload.filename.endswith(".png") else "",
                        "channels": [upload.channel] if upload.channel else []})
        return {"files": out}

    async def _upload(self, request: web.Request) -> web.Response:
        upload = self.uploads.get(request.match_info["file_id"])
        if upload is None or upload.data is not None:
            return web.Response(status=404, text="not found")
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            part = form.get("file") or form.get("filename")
            data = part.file.read() if isinstance(part, web.FileField) else b""
        else:
            data = await request.read()
        if len(data) != upload.length:
            return web.Response(status=400, text=f"length mismatch: declared {upload.length}, got {len(data)}")
        upload.data = data
        await self._notify()
        return web.Response(text=f"OK - {len(data)}")

    async def _response(self, request: web.Request) -> web.Response:
        rid = request.match_info["rid"]
        if rid not in self._response_uses:
            return web.Response(status=404, text="invalid_url")
        if self._response_uses[rid] >= RESPONSE_URL_USES:
            return web.Response(status=404, text="used_url")
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(body, dict):
            return web.Response(status=400, text="invalid_payload")
        if not body.get("text") and not body.get("blocks") and not body.get("delete_original"):
            return web.Response(status=400, text="no_text")
        try:
            check_blocks(body.get("blocks") or [])
        except _SlackError as err:
            return web.Response(status=400, text=err.error)
        self._response_uses[rid] += 1
        self.responses.append(ResponsePost(rid, body))
        await self._notify()
        return web.Response(text="ok")

    # --- records ------------------------------------------------------------------------
    def calls_to(self, method: str, ok: bool | None = True) -> list[Call]:
        return [c for c in self.calls if c.method == method and (ok is None or c.ok == ok)]

    def messages_in(self, channel: str) -> list[Call]:
        """Successful ``chat.postMessage`` calls to ``channel``."""
        return [c for c in self.calls_to("chat.postMessage") if c.params.get("channel") == channel]

    def responses_to(self, response_id: str) -> list[ResponsePost]:
        return [r for r in self.responses if r.response_id == response_id]

    def files_in(self, channel: str) -> list[Upload]:
        return [u for u in self.uploads.values() if u.completed and u.channel == channel]

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, check: Any, timeout: float = 5.0) -> Any:
        """Wait until ``check()`` is truthy (re-checked on every request the fake answers)."""
        async def wait() -> Any:
            async with self._changed:
                while True:
                    value = check()
                    if value:
                        return value
                    await self._changed.wait()

        return await asyncio.wait_for(wait(), timeout)

    async def wait_responses(self, n: int, response_id: str | None = None, timeout: float = 5.0) -> list[ResponsePost]:
        def ready() -> list[ResponsePost] | None:
            got = self.responses if response_id is None else self.responses_to(response_id)
            return list(got) if len(got) >= n else None

        result: list[ResponsePost] = await self.wait_until(ready, timeout)
        return result

    # --- Slack's side: signed requests to the app ------------------------------------------
    def _new_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def new_response_url(self) -> tuple[str, str]:
        rid = f"R{next(self._ids):08d}"
        self._response_uses[rid] = 0
        return rid, f"{self.url}/response/{rid}"

    def new_trigger_id(self) -> str:
        return f"{next(self._ids)}.{int(time.time())}.{hashlib.sha1(str(time.time_ns()).encode()).hexdigest()[:20]}"

    def signed(self, body: bytes, content_type: str, *, timestamp: int | None = None,
               secret: str | None = None) -> dict[str, str]:
        ts = int(time.time()) if timestamp is None else timestamp
        return {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(ts),
                "X-Slack-Signature": sign(secret or self.signing_secret, ts, body)}

    def slash_command(self, text: str, *, user: str, channel: str, command: str = "/ops",
                      timestamp: int | None = None, secret: str | None = None,
                      user_name: str = "operator", channel_name: str = "soul-lab-ops") -> SignedRequest:
        """A slash command as Slack POSTs it (form-urlencoded), signed."""
        rid, response_url = self.new_response_url()
        trigger = self.new_trigger_id()
        form = {"token": "legacy-verification-token", "team_id": self.team_id, "team_domain": "soul-lab-test",
                "channel_id": channel, "channel_name": channel_name, "user_id": user, "user_name": user_name,
                "command": command, "text": text, "api_app_id": "A0SOUL", "is_enterprise_install": "false",
                "response_url": response_url, "trigger_id": trigger}
        body = urlencode(form).encode()
        headers = self.signed(body, "application/x-www-form-urlencoded", timestamp=timestamp, secret=secret)
        return SignedRequest(body, headers, "command", trigger_id=trigger, response_id=rid)

    def block_action(self, button: dict[str, Any], *, user: str, channel: str,
                     message: dict[str, Any] | None = None, timestamp: int | None = None,
                     secret: str | None = None) -> SignedRequest:
        """A press of ``button`` (an element of a message the bot sent), as Slack POSTs it."""
        rid, response_url = self.new_response_url()
        trigger = self.new_trigger_id()
        msg = message or {"type": "message", "ts": self._new_ts(), "text": "", "blocks": []}
        payload = {
            "type": "block_actions", "team": {"id": self.team_id, "domain": "soul-lab-test"},
            "user": {"id": user, "username": "operator", "name": "operator", "team_id": self.team_id},
            "api_app_id": "A0SOUL", "token": "legacy-verification-token",
            "container": {"type": "message", "message_ts": msg.get("ts"), "channel_id": channel,
                          "is_ephemeral": False},
            "trigger_id": trigger, "channel": {"id": channel, "name": "soul-lab-ops"},
            "message": msg, "response_url": response_url,
            "actions": [{"action_id": button.get("action_id"), "block_id": "b1", "type": "button",
                         "text": button.get("text"), "value": button.get("value"),
                         "action_ts": f"{time.time():.6f}"}],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        headers = self.signed(body, "application/x-www-form-urlencoded", timestamp=timestamp, secret=secret)
        return SignedRequest(body, headers, "block_actions", trigger_id=trigger, response_id=rid)

    def event(self, event: dict[str, Any], *, event_id: str | None = None, timestamp: int | None = None,
              secret: str | None = None) -> SignedRequest:
        """An Events API ``event_callback`` wrapping ``event``, as Slack POSTs it (JSON)."""
        eid = event_id or f"Ev{next(self._ids):08d}"
        body = json.dumps({
            "token": "legacy-verification-token", "team_id": self.team_id, "api_app_id": "A0SOUL",
            "event": event, "type": "event_callback", "event_id": eid, "event_time": int(time.time()),
            "authorizations": [{"team_id": self.team_id, "user_id": self.bot_user_id, "is_bot": True}],
        }).encode()
        headers = self.signed(body, "application/json", timestamp=timestamp, secret=secret)
        return SignedRequest(body, headers, "event", event_id=eid)

    def app_mention(self, text: str, *, user: str, channel: str, event_id: str | None = None) -> SignedRequest:
        ts = self._new_ts()
        return self.event({"type": "app_mention", "user": user, "text": f"<@{self.bot_user_id}> {text}",
                           "ts": ts, "channel": channel, "event_ts": ts}, event_id=event_id)

    async def deliver(self, url: str, req: SignedRequest, *, retry_num: int | None = None,
                      retry_reason: str = "http_timeout", timeout: float = 10.0) -> tuple[int, str, float]:
        """POST ``req`` to the app's Request URL; returns (status, body text, seconds taken)."""
        headers = dict(req.headers)
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason
        t0 = time.monotonic()
        async with aiohttp.ClientSession() as session, session.post(
                url, data=req.body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            text = await resp.text()
            return resp.status, text, time.monotonic() - t0


def check_blocks(blocks: list[Any]) -> None:
    """Refuse blocks Slack would refuse (``invalid_blocks``) — the limits listed above."""
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        raise _SlackError("invalid_blocks")
    action_ids: set[str] = set()
    for block in blocks:
        if not isinstance(block, dict) or "type" not in block:
            raise _SlackError("invalid_blocks")
        kind = block["type"]
        if kind == "section":
            text = block.get("text") or {}
            if text.get("type") not in ("mrkdwn", "plain_text") or not text.get("text") \
                    or len(text["text"]) > MAX_SECTION_TEXT:
                raise _SlackError("invalid_blocks")
        elif kind == "actions":
            elements = block.get("elements") or []
            if not elements or len(elements) > MAX_ACTIONS_ELEMENTS:
                raise _SlackError("invalid_blocks")
            for e in elements:
                label = (e.get("text") or {}).get("text") or ""
                action_id = e.get("action_id") or ""
                if e.get("type") != "button" or not label or len(label) > MAX_BUTTON_TEXT \
                        or len(action_id) > MAX_ACTION_ID or len(e.get("value") or "") > MAX_BUTTON_VALUE:
                    raise _SlackError("invalid_blocks")
                if action_id:
                    if action_id in action_ids:
                        raise _SlackError("invalid_blocks")  # Slack: duplicate action_id
                    action_ids.add(action_id)
                if e.get("style") not in (None, "primary", "danger"):
                    raise _SlackError("invalid_blocks")
        elif kind in ("context", "divider", "header", "image"):
            continue
        else:
            raise _SlackError("invalid_blocks")
