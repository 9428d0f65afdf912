"""The Slack ops surface: slack-bolt (async, HTTP mode) on the bot's own aiohttp server.

Slack POSTs to ``/slack/events`` on ``PORT`` (the app's Request URL for the slash command,
Interactivity and, optionally, Events). One request:

1. **Verified** by bolt's request-verification middleware: ``X-Slack-Signature`` must be
   ``v0=`` HMAC-SHA256(``SLACK_SIGNING_SECRET``, ``v0:<timestamp>:<body>``) and
   ``X-Slack-Request-Timestamp`` within 5 minutes of now. Otherwise 401, nothing runs, and
   the refusal is logged (``slack_request_refused``) and written to the ops audit log
   (rate-limited: an unauthenticated sender must not be able to flood the audit stream).
2. **De-duplicated** (``dedupe.py``): slash commands and button presses by ``trigger_id``,
   events by ``event_id`` (Slack's ``X-Slack-Retry-Num`` resends); one ``SET NX`` in Redis
   decides, so a command never runs twice across processes. A copy is answered with an empty
   200.
3. **Acknowledged** at once (Slack wants an answer within 3 s; a slash command is acked
   ``in_channel`` so the channel sees who asked what); the work runs in a task of this process
   and answers through the request's response URL (at most 5 posts, 30 minutes: Slack's
   rules). An app mention answers in the mention's thread with ``chat.postMessage``.
4. **Run** by the ops core: ``core.ops.run(OpsCaller("slack", "slack:<user>", "slack:<channel>"),
   text)``. Authorisation (``OPS_ADMINS`` / ``OPS_CHANNELS``), auditing and confirmation
   tokens are all inside; this module only translates. A button press is the button's command
   (``/ops confirm <token>`` -> ``run(caller, "confirm <token>")``); a press that worked
   replaces the pressed message's buttons with a note of who pressed what.
5. **Charts** (``Reply.image``) go up with ``files_upload_v2`` into the channel (a response URL
   cannot carry files); the bot must be a member of the channel (``files:write``).

The adapter also registers platform ``"slack"`` (``core.register_platform``): its sender posts
to ``"chat:C123"`` (a channel) or ``"U123"`` (the app's DM with that user) with
``chat.postMessage`` — the ops core posts alerts and incident reminders through it. Slack's
errors become ``bot.core.delivery`` errors (429 -> ``DeliveryRetryAfter``; channel gone /
archived / bot not in it -> ``DeliveryBlocked``; bad blocks -> ``DeliveryRejected``; network
-> ``DeliveryFailed``; a timeout after sending -> ``DeliveryUnknown``). The Web API client
makes no hidden retries.

Redis down: verification and acks need no Redis; de-duplication falls back to process memory;
the ops core answers what it can (``health`` reports Redis down). A crash after the ack and
before the answer leaves that one command unanswered (never run twice). slack-bolt and
slack_sdk are imported only when Slack is configured (``bot.app`` starts this adapter when
``SLACK_BOT_TOKEN`` and ``SLACK_SIGNING_SECRET`` are set).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import ClientError, web

from bot.core.delivery import (DeliveryBlocked, DeliveryError, DeliveryFailed, DeliveryRejected,
                               DeliveryRetryAfter, DeliveryUnknown)
from bot.core.i18n import DEFAULT_LANG, t
from bot.core.logs import log_event, new_request_id, request_id_var
from bot.core.platforms import PlatformLink
from bot.core.reply import Image, Reply
from bot.handlers.slack.dedupe import SlackDedupe, request_identity
from bot.handlers.slack.render import BUTTON_PREFIX, LINK_PREFIX, blocks_for, command_of, escape, fallback_text

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["SlackAdapter", "EVENTS_PATH", "SIGNATURE_WINDOW_SECONDS"]

EVENTS_PATH = "/slack/events"
#: Slack's replay window for signed requests (bolt's ``SignatureVerifier`` enforces it).
SIGNATURE_WINDOW_SECONDS = 300
#: Web API calls give up after this long (a timeout after sending is an unknown outcome).
API_TIMEOUT_SECONDS = 10
#: Slack allows 5 posts to one response URL.
RESPONSE_URL_USES = 5
#: ``auth.test`` results are reused this long by the health probe (``/api/health`` is polled).
HEALTH_CACHE_SECONDS = 30.0
#: Refusals (bad signature, stale timestamp) written to the audit log per minute and process;
#: every refusal is logged either way.
REFUSAL_AUDITS_PER_MINUTE = 30
#: On stop, answers still being worked on get this long to finish.
STOP_GRACE_SECONDS = 5.0

_BLOCKED = {"channel_not_found", "is_archived", "not_in_channel", "account_inactive", "user_not_found",
            "user_disabled", "cannot_dm_bot", "team_access_not_granted", "restricted_action"}
_REJECTED = {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text", "too_many_attachments",
             "invalid_arguments", "markdown_text_conflict"}
_MENTION = re.compile(r"^\s*<@[A-Z0-9]+>\s*")


def _lang_text(key: str, **params: object) -> str:
    return t(DEFAULT_LANG, key, **params)


class _Answer:
    """Where the answers to one request go: its response URL (slash command, button press) or
    the channel's thread (app mention). Images always go up through the Web API."""

    def __init__(self, adapter: SlackAdapter, channel: str, *, response_url: str | None = None,
                 thread_ts: str | None = None) -> None:
        self.adapter = adapter
        self.channel = channel
        self.response_url = response_url
        self.thread_ts = thread_ts

    async def post(self, reply: Reply, *, replace_original: bool = False) -> None:
        blocks = blocks_for(reply)
        text = fallback_text(reply)
        if self.response_url:
            from slack_sdk.webhook.async_client import AsyncWebhookClient

            hook = AsyncWebhookClient(self.response_url, timeout=API_TIMEOUT_SECONDS)
            resp = await hook.send(text=text, blocks=blocks or None,
                                   response_type="ephemeral" if reply.error else "in_channel",
                                   replace_original=replace_original)
            if resp.status_code != 200:
                log_event("slack_response_failed", level=logging.WARNING, status=resp.status_code,
                          body=str(resp.body)[:100])
        else:
            await self.adapter.client.chat_postMessage(channel=self.channel, text=text, blocks=blocks or None,
                                                       thread_ts=self.thread_ts, unfurl_links=False)
        if reply.image is not None:
            await self._chart(reply.image)

    async def _chart(self, image: Image) -> None:
        from slack_sdk.errors import SlackApiError

        try:
            await self.adapter.upload(self.channel, image, thread_ts=self.thread_ts)
        except (TimeoutError, SlackApiError, ClientError) as exc:
            error = _slack_error(exc)
            log_event("slack_upload_failed", level=logging.WARNING, error=error)
            if self.response_url:  # tell the operator why the chart is missing
                await self.post(Reply(_lang_text("slack.chart_failed", error=error)))


def _slack_error(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if response is not None:
        with contextlib.suppress(Exception):
            return str(response.get("error") or type(exc).__name__)
    return type(exc).__name__


class SlackAdapter:
    """slack-bolt ``AsyncApp`` in HTTP mode, mounted on the bot's ``HttpServer`` (see module doc)."""

    def __init__(self, core: Core, *, token: str | None = None, signing_secret: str | None = None,
                 api_base_url: str | None = None) -> None:
        from slack_bolt.async_app import AsyncApp
        from slack_sdk.web.async_client import AsyncWebClient

        env = core.settings.env
        token = token or env.slack_bot_token
        signing_secret = signing_secret or env.slack_signing_secret
        if not token or not signing_secret:
            raise ValueError("the Slack adapter needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET")
        self.core = core
        base = (api_base_url or env.slack_api_base_url).rstrip("/") + "/"
        # No hidden retries: the sender's callers (alerts, reminders) own retrying.
        self.client = AsyncWebClient(token=token, base_url=base, timeout=API_TIMEOUT_SECONDS, retry_handlers=[])
        bolt_logger = logging.getLogger("soul_lab.slack.bolt")
        bolt_logger.setLevel(logging.WARNING)  # bolt logs refused request bodies at INFO
        self.app = AsyncApp(client=self.client, signing_secret=signing_secret, logger=bolt_logger,
                            process_before_response=False, request_verification_enabled=True,
                            ssl_check_enabled=True, url_verification_enabled=True)
        self.dedupe = SlackDedupe(core)
        self.bot_user_id = ""
        self.username = ""
        self._tasks: set[asyncio.Task[None]] = set()
        self._health: tuple[float, dict[str, Any]] | None = None
        self._refusals: list[float] = []
        self.app.use(self._dedupe_middleware)
        self.app.command("/ops")(self._on_command)
        self.app.action(re.compile(f"^({BUTTON_PREFIX}|{LINK_PREFIX})"))(self._on_action)
        self.app.event("app_mention")(self._on_mention)

    # --- life cycle ---------------------------------------------------------------------
    def mount(self, app: web.Application) -> None:
        """Add ``POST /slack/events`` (before the HTTP server starts: aiohttp freezes routes)."""
        app.router.add_post(EVENTS_PATH, self._handle)

    async def start(self) -> None:
        """Check the token (``auth.test``) and register platform ``"slack"``. A Slack outage or a
        bad token is logged and the bot runs on (Slack is the operators' side door, not the
        product); requests then fail in bolt's authorisation until Slack answers."""
        try:
            auth = await self.client.auth_test()
            self.bot_user_id = str(auth.get("user_id") or "")
            self.username = str(auth.get("user") or "")
            self._prime_authorization(auth)
            log_event("slack_started", team=str(auth.get("team_id") or ""), path=EVENTS_PATH)
        except Exception as exc:
            log_event("slack_auth_failed", level=logging.ERROR, error=_slack_error(exc))
        self.core.register_platform(PlatformLink(name="slack", sender=self.send, username=self.username,
                                                 health=self.health, users=False))

    def _prime_authorization(self, auth: Any) -> None:
        """Hand this ``auth.test`` to bolt's single-workspace authorisation, which would
        otherwise call it again inside the first request's 3-second ack window."""
        from slack_bolt.middleware.authorization.async_single_team_authorization import (
            AsyncSingleTeamAuthorization)

        for middleware in getattr(self.app, "_async_middleware_list", []):
            if isinstance(middleware, AsyncSingleTeamAuthorization) and middleware.auth_test_result is None:
                middleware.auth_test_result = auth

    async def stop(self) -> None:
        """Let answers in progress finish (``STOP_GRACE_SECONDS``), then cancel the rest."""
        await self.idle(STOP_GRACE_SECONDS)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until every answer this process started is done (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self._tasks), timeout=max(0.01, deadline - time.monotonic()))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- HTTP ---------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request

        bolt_request = await to_bolt_request(request)
        response = await self.app.async_dispatch(bolt_request)
        if response.status == 401:
            await self._refused(request)
        return await to_aiohttp_response(response)

    async def _refused(self, request: web.Request) -> None:
        """A request whose signature or timestamp failed: logged, and audited within a budget.
        Nothing in its body is trusted, so the audit entry names no user."""
        raw_ts = request.headers.get("X-Slack-Request-Timestamp", "")
        try:
            skew = abs(time.time() - int(raw_ts))
            reason = "stale_timestamp" if skew > SIGNATURE_WINDOW_SECONDS else "bad_signature"
        except ValueError:
            reason = "bad_signature"
        log_event("slack_request_refused", level=logging.WARNING, reason=reason, client_ip=request.remote or "")
        now = time.monotonic()
        self._refusals = [at for at in self._refusals if at > now - 60]
        if len(self._refusals) >= REFUSAL_AUDITS_PER_MINUTE:
            return
        self._refusals.append(now)
        await self._audit_refusal(reason)

    async def _audit_refusal(self, reason: str) -> None:
        ops = self.core.ops
        if ops is None:
            return
        try:  # AuditLog.append logs instead of raising when Redis is down
            await ops.audit.append(who="slack:unverified", surface="slack", channel="", command="request",
                                   args="", result="UNAUTHORIZED", detail=reason)
        except Exception as exc:
            log_event("slack_refusal_not_audited", level=logging.WARNING, error=type(exc).__name__)

    async def _dedupe_middleware(self, req: Any, resp: Any, next: Callable[[], Awaitable[Any]]) -> Any:
        from slack_bolt.response import BoltResponse

        identity = request_identity(req.body if isinstance(req.body, dict) else {})
        if identity is not None and not await self.dedupe.claim(*identity):
            retry = (req.headers.get("x-slack-retry-num") or [""])[0]
            log_event("slack_duplicate_dropped", kind=identity[0], retry=retry)
            return BoltResponse(status=200, body="")
        return await next()

    # --- listeners ----------------------------------------------------------------------
    async def _on_command(self, ack: Any, body: dict[str, Any]) -> None:
        channel = str(body.get("channel_id") or "")
        # In an ops channel the command is shown to the channel (who asked what); elsewhere the
        # echo stays with the sender (the ops core refuses it anyway).
        shown = f"slack:{channel}" in self.core.settings.ops_channels
        await ack(response_type="in_channel" if shown else None)
        caller = self._caller(str(body.get("user_id") or ""), channel)
        out = _Answer(self, channel, response_url=str(body.get("response_url") or "") or None)
        self._spawn(self._run(caller, str(body.get("text") or ""), out))

    async def _on_action(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        action_id = str(action.get("action_id") or "")
        if action_id.startswith(LINK_PREFIX):
            return  # a link button: Slack opened the URL
        text = command_of(str(action.get("value") or ""))
        if text is None:
            log_event("slack_unknown_action", level=logging.WARNING, action=action_id)
            return
        channel = str((body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or "")
        user = str((body.get("user") or {}).get("id") or "")
        out = _Answer(self, channel, response_url=str(body.get("response_url") or "") or None)
        label = str(((action.get("text") or {}).get("text")) or "")
        self._spawn(self._run(self._caller(user, channel), text, out,
                              pressed=(user, label, body.get("message") or {})))

    async def _on_mention(self, ack: Any, event: dict[str, Any]) -> None:
        await ack()
        channel = str(event.get("channel") or "")
        text = _MENTION.sub("", str(event.get("text") or ""), count=1).strip()
        if text.startswith("/ops"):
            text = text[4:].strip()
        out = _Answer(self, channel, thread_ts=str(event.get("thread_ts") or event.get("ts") or "") or None)
        if not text:
            self._spawn(out.post(Reply(_lang_text("slack.mention_hint"))))
            return
        self._spawn(self._run(self._caller(str(event.get("user") or ""), channel), text, out))

    @staticmethod
    def _caller(user: str, channel: str) -> Any:
        from bot.core.ops import OpsCaller

        return OpsCaller(surface="slack", user=f"slack:{user}", channel=f"slack:{channel}" if channel else "",
                         trusted=False)

    async def _run(self, caller: Any, text: str, out: _Answer,
                   pressed: tuple[str, str, dict[str, Any]] | None = None) -> None:
        """Run one ops command and post its replies. Never raises (it runs in a task)."""
        token = request_id_var.set(new_request_id())
        try:
            ops = self.core.ops
            if ops is None:
                replies = [Reply(_lang_text("slack.ops_off"))]
            else:
                replies = list(await ops.run(caller, text))
            if pressed is not None and replies and not any(r.error for r in replies):
                await self._close_pressed(out, *pressed)
            for reply in _fit(replies, RESPONSE_URL_USES - (1 if pressed else 0)):
                await out.post(reply)
        except Exception as exc:
            ref = request_id_var.get() or new_request_id()
            log_event("slack_command_failed", level=logging.ERROR, exc_info=True, error=type(exc).__name__)
            with contextlib.suppress(Exception):
                await out.post(Reply(_lang_text("slack.failed", ref=ref)))
        finally:
            request_id_var.reset(token)

    async def _close_pressed(self, out: _Answer, user: str, label: str, message: dict[str, Any]) -> None:
        """Replace the pressed message with itself minus its buttons, plus who pressed what."""
        blocks = [b for b in message.get("blocks") or [] if b.get("type") != "actions"]
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": _lang_text("slack.pressed", user=user, label=escape(label))}]})
        if not out.response_url:
            return
        from slack_sdk.webhook.async_client import AsyncWebhookClient

        hook = AsyncWebhookClient(out.response_url, timeout=API_TIMEOUT_SECONDS)
        await hook.send(text=str(message.get("text") or label or "…"), blocks=blocks, replace_original=True)

    # --- Web API ------------------------------------------------------------------------
    async def upload(self, channel: str, image: Image, thread_ts: str | None = None) -> None:
        """``files_upload_v2`` of a PNG into ``channel`` (three calls: upload URL, bytes, complete)."""
        await self.client.files_upload_v2(channel=channel, content=image.png, filename=image.filename,
                                          title=image.alt or image.filename, thread_ts=thread_ts)

    async def send(self, target: str, reply: Reply, retries: int | None = None) -> None:
        """The platform sender: post ``reply`` to ``"chat:<channel>"`` or a user's DM (``"U123"``).

        Returns once Slack accepted the message; raises ``bot.core.delivery`` errors otherwise
        (see the module doc). An attached chart is uploaded after the text; a failed upload is
        logged and does not undo the delivered text. No retries here (``retries`` is accepted
        for the sender contract; the client never retries)."""
        from slack_sdk.errors import SlackApiError

        channel = target[5:] if target.startswith("chat:") else target
        try:
            await self.client.chat_postMessage(channel=channel, text=fallback_text(reply),
                                               blocks=blocks_for(reply) or None, unfurl_links=False)
        except SlackApiError as exc:
            raise _delivery_error(exc) from exc
        except TimeoutError as exc:
            raise DeliveryUnknown("slack: timed out waiting for chat.postMessage") from exc
        except ClientError as exc:
            raise DeliveryFailed(f"slack: {type(exc).__name__}") from exc
        if reply.image is not None:
            try:
                await self.upload(channel, reply.image)
            except Exception as exc:
                log_event("slack_upload_failed", level=logging.WARNING, error=_slack_error(exc))

    async def health(self) -> dict[str, Any]:
        """``auth.test`` (cached ``HEALTH_CACHE_SECONDS``): ok with the team, or down with Slack's error."""
        now = time.monotonic()
        if self._health is not None and now - self._health[0] < HEALTH_CACHE_SECONDS:
            return dict(self._health[1])
        t0 = time.perf_counter()
        try:
            auth = await self.client.auth_test()
            result: dict[str, Any] = {"status": "ok", "team": str(auth.get("team_id") or "")}
        except Exception as exc:
            result = {"status": "down", "error": _slack_error(exc)}
        result["latency_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        self._health = (now, result)
        return dict(result)


def _delivery_error(exc: Any) -> DeliveryError:
    response = exc.response
    error = str(response.get("error") or "") if response is not None else ""
    status = getattr(response, "status_code", 200)
    if status == 429 or error == "ratelimited":
        try:
            retry_after = float(response.headers.get("Retry-After", response.headers.get("retry-after", 1)))
        except (TypeError, ValueError, AttributeError):
            retry_after = 1.0
        return DeliveryRetryAfter(retry_after, f"slack: ratelimited, retry after {retry_after:g} s")
    if error in _BLOCKED:
        return DeliveryBlocked(f"slack: {error}")
    if error in _REJECTED:
        return DeliveryRejected(f"slack: {error}")
    return DeliveryFailed(f"slack: {error or status}")


def _fit(replies: list[Reply], uses: int) -> list[Reply]:
    """At most ``uses`` replies (a response URL takes 5 posts): the rest are joined into the last."""
    if len(replies) <= uses:
        return replies
    head, tail = replies[: uses - 1], replies[uses - 1:]
    joined = Reply("\n\n".join(r.text for r in tail if r.text),
                   buttons=[row for r in tail for row in r.buttons],
                   image=next((r.image for r in reversed(tail) if r.image is not None), None),
                   error=next((r.error for r in tail if r.error), None))
    return [*head, joined]
