"""The REST half of the fake Discord (``tests/fakes/discord_api.py``): routes, checks, answers.

``RestApi`` is a mixin of ``FakeDiscord``: it serves ``/api/v10/...`` from the fake's state
(guilds, users, DM channels, interactions, commands) and records every request. The list of
routes and what each answers is in ``discord_api``'s docstring.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

from tests.fakes import discord_payloads as P
from tests.fakes.discord_records import CommandSync, DiscordError, FakeGuild, FakeInteraction, FakeUser, Request, UploadedFile

__all__ = ["RestApi", "API_PREFIX", "Buckets", "Failure", "Route", "compile_route", "rate_limited"]

API_PREFIX = "/api/v10"


@dataclass
class Failure:
    method: str
    path: str | re.Pattern[str]
    times: int
    error: DiscordError

    def matches(self, method: str, path: str) -> bool:
        if self.times <= 0 or self.method != method:
            return False
        return bool(self.path.fullmatch(path)) if isinstance(self.path, re.Pattern) else self.path == path


@dataclass
class Route:
    method: str
    template: str
    regex: re.Pattern[str]
    handler: Callable[..., Any]
    auth: bool


def compile_route(template: str) -> re.Pattern[str]:
    def part(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "message_id":
            return rf"(?P<{name}>@original|\d+)"
        return rf"(?P<{name}>\d+)" if name.endswith("_id") else rf"(?P<{name}>[^/]+)"
    return re.compile(re.sub(r"\{(\w+)\}", part, template))


class Buckets:
    """Per-route rate-limit windows keyed by bucket and major parameter, like Discord's."""

    def __init__(self, limits: dict[str, tuple[int, float]], default: tuple[int, float]) -> None:
        self.limits = limits
        self.default = default
        self.windows: dict[tuple[str, str], list[float]] = {}  # -> [window start, count]

    @staticmethod
    def bucket_hash(route: str) -> str:
        return hashlib.sha1(route.encode()).hexdigest()[:16]

    def take(self, route: str, major: str, now: float) -> tuple[bool, dict[str, str]]:
        limit, per = self.limits.get(route, self.default)
        window = self.windows.setdefault((route, major), [now, 0])
        if now - window[0] >= per:
            window[0], window[1] = now, 0
        allowed = window[1] < limit
        if allowed:
            window[1] += 1
        reset_after = math.ceil(max(0.0, window[0] + per - now) * 1000) / 1000  # rounded up: never early
        headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(int(limit - window[1])),
                   "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
                   "X-RateLimit-Reset-After": f"{reset_after:.3f}", "X-RateLimit-Bucket": self.bucket_hash(route)}
        return allowed, headers


def rate_limited(retry_after: float, *, is_global: bool, scope: str, bucket: str | None,
                 limit: int = 5) -> DiscordError:
    body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
    headers = {"Retry-After": str(max(1, math.ceil(retry_after))), "X-RateLimit-Scope": scope}
    if is_global:
        headers["X-RateLimit-Global"] = "true"
    else:
        headers.update({"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                        "X-RateLimit-Reset-After": f"{retry_after:.3f}"})
        if bucket:
            headers["X-RateLimit-Bucket"] = bucket
    return DiscordError(429, 0, "You are being rate limited.", body, headers)


class RestApi:
    """REST routes over ``FakeDiscord``'s state (attributes below are set by ``FakeDiscord``)."""

    token: str
    app_id: int
    bot_id: int
    bot_name: str
    ack_deadline: float | None
    token_lifetime: float
    recommended_shards: int
    enforce_buckets: bool
    latency: float
    ids: P.Snowflakes
    guilds: dict[int, FakeGuild]
    users: dict[int, FakeUser]
    dm_channels: dict[int, int]
    closed_dms: set[int]
    channel_messages: dict[int, list[dict[str, Any]]]
    interactions: dict[int, FakeInteraction]
    commands: dict[int | None, list[dict[str, Any]]]
    syncs: list[CommandSync]
    requests: list[Request]
    unhandled: list[Request]
    bucket_violations: int
    _buckets: Buckets
    _failures: list[Failure]
    _routes: list[Route]

    if TYPE_CHECKING:  # provided by FakeDiscord
        @property
        def base_url(self) -> str: ...
        @property
        def gateway_url(self) -> str: ...
        def notify(self) -> None: ...
        def dm_channel_id(self, user_id: int) -> int: ...
        def bot_user(self) -> dict[str, Any]: ...
        def app_info(self) -> dict[str, Any]: ...
        def _channel_payload(self, channel_id: int) -> dict[str, Any] | None: ...

    # --- REST ---------------------------------------------------------------------------------
    def _route_table(self) -> list[tuple[str, str, Callable[..., Any], bool]]:
        return [
            ("GET", "/gateway", self._get_gateway, False),
            ("GET", "/gateway/bot", self._get_gateway_bot, True),
            ("GET", "/users/@me", self._get_me, True),
            ("POST", "/users/@me/channels", self._open_dm, True),
            ("GET", "/users/{user_id}", self._get_user, True),
            ("GET", "/oauth2/applications/@me", self._get_app, True),
            ("GET", "/applications/{application_id}/commands", self._get_commands, True),
            ("PUT", "/applications/{application_id}/commands", self._put_commands, True),
            ("GET", "/applications/{application_id}/guilds/{guild_id}/commands", self._get_commands, True),
            ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", self._put_commands, True),
            ("POST", "/interactions/{interaction_id}/{interaction_token}/callback", self._callback, False),
            ("POST", "/webhooks/{application_id}/{interaction_token}", self._followup, False),
            ("GET", "/webhooks/{application_id}/{interaction_token}/messages/{message_id}", self._webhook_message, False),
            ("PATCH", "/webhooks/{application_id}/{interaction_token}/messages/{message_id}", self._webhook_message,
             False),
            ("DELETE", "/webhooks/{application_id}/{interaction_token}/messages/{message_id}", self._webhook_message,
             False),
            ("GET", "/channels/{channel_id}", self._get_channel, True),
            ("POST", "/channels/{channel_id}/messages", self._create_message, True),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._channel_message, True),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self._channel_message, True),
        ]

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self._routes:
            if route.method == method:
                m = route.regex.fullmatch(path)
                if m:
                    return route, m.groupdict()
        return None

    @staticmethod
    async def _read_body(request: web.Request) -> tuple[Any, list[UploadedFile]]:
        if not request.can_read_body:
            return None, []
        if request.content_type.startswith("multipart/"):
            body: Any = None
            files: list[UploadedFile] = []
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    continue  # nested multipart: not something a bot sends
                if part.name == "payload_json":
                    body = P.json_loads(await part.text())
                else:
                    data = await part.read()
                    files.append(UploadedFile(part.name or "", part.filename or "",
                                              part.headers.get("Content-Type", "application/octet-stream"),
                                              bytes(data)))
            return body, files
        text = await request.text()
        return (P.json_loads(text) if text else None), []

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body, files = await self._read_body(request)
        req = Request(request.method, path, dict(request.query), body, files)
        self.requests.append(req)
        headers = {"Via": "1.1 google"}
        if self.latency:
            await asyncio.sleep(self.latency)
        status: int
        payload: Any
        try:
            found = self._match(request.method, path)
            if found is None:
                self.unhandled.append(req)
                raise DiscordError(404, 0, "404: Not Found")
            route, params = found
            req.route, req.params = f"{route.method} {route.template}", params
            if route.auth and request.headers.get("Authorization") != f"Bot {self.token}":
                raise DiscordError(401, 0, "401: Unauthorized")
            for failure in self._failures:
                if failure.matches(req.method, path):
                    failure.times -= 1
                    raise failure.error
            major = next((params[k] for k in ("channel_id", "guild_id", "interaction_token") if k in params), "")
            allowed, bucket_headers = self._buckets.take(req.route, major, time.monotonic())
            headers.update(bucket_headers)
            if not allowed and self.enforce_buckets:
                self.bucket_violations += 1
                raise rate_limited(float(bucket_headers["X-RateLimit-Reset-After"]), is_global=False,
                                   scope="user", bucket=bucket_headers["X-RateLimit-Bucket"],
                                   limit=int(bucket_headers["X-RateLimit-Limit"]))
            status, payload = await route.handler(req, params)
        except DiscordError as err:
            status, payload = err.status, err.payload
            headers.update(err.headers)
        req.status, req.response = status, payload
        self.notify()
        if status == 204:
            return web.Response(status=204, headers=headers)
        # Exactly "application/json" (no charset), as Discord sends it: discord.py's json_or_text
        # compares the header verbatim and would hand a str to the caller otherwise.
        headers["Content-Type"] = "application/json"
        return web.Response(body=P.json_dumps(payload).encode(), status=status, headers=headers)

    # routes ------------------------------------------------------------------------------------
    async def _get_gateway(self, req: Request, p: dict[str, str]) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url}

    async def _get_gateway_bot(self, req: Request, p: dict[str, str]) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url, "shards": self.recommended_shards,
                     "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 86_400_000,
                                             "max_concurrency": 1}}

    async def _get_me(self, req: Request, p: dict[str, str]) -> tuple[int, Any]:
        return 200, self.bot_user()

    async def _get_user(self, req: Request, p: dict[str, str]) -> tuple[int, Any]:
        user = self.users.get(int(p["user_id"]))
        if user is None:
            raise DiscordError(404, 10013, "Unknown User")
        return 200, user.payload()

    async def _open_dm(self, req: Request, p: dict[str, str]) -> tuple[int, Any]:
        recipient = (req.body or {}).get("recipient_id")
        if recipient is None:
            raise DiscordError(400, 50035, "Invalid Form Body", {"message": "Invalid Form Body", "code": 50035,
                               "errors": {"recipient_id": {"_errors": [{"code": "BASE_TYPE_REQUIRED",
                                                                        "message": "This field is required"}]}}})
        uid = int(recipient)
        cid = self.dm_channel_id(uid)
        return 200, P.dm_channel(cid, self.users[uid].payload())

    async def _get_app(self, req: Request, p: dict[str, str]) -> tuple[int, Any]:
        return 200, self.app_info()

    def _command_scope(self, p: dict[str, str]) -> int | None:
        if int(p["application_id"]) != self.app_id:
            raise DiscordError(403, 50001, "Missing Access")
        if "guild_id" not in p:
            return None
        if int(p["guild_id"]) not in self.guilds:
            raise DiscordError(403, 50001, "Missing Access")
        return int(p["guild_id"])

    async def _get_commands(self, req: Request, p: dict[str, str]) -> tuple[int, Any]:
        return 200, self.commands.get(self._command_scope(p), [])

    async def _put_commands(self, req: Request, p: dict[str, str]) -> tuple[int, Any]:
        scope = self._command_scope(p)
        error = P.check_commands(req.body)
        if error is not None:
            raise DiscordError(400, error["code"], error["message"], error)
        old = {(c["name"], c["type"]): c for c in self.commands.get(scope, [])}
        stored = []
        for cmd in req.body:
            kind = int(cmd.get("type", 1))
            prev = old.get((cmd["name"], kind))
            out = {"default_member_permissions": None, "nsfw": False, "integration_types": [0],
                   "contexts": None, "description": "", **cmd, "type": kind, "application_id": str(self.app_id)}
            if scope is None:
                out.setdefault("dm_permission", True)
            else:
                out["guild_id"] = str(scope)
            same = prev is not None and {k: v for k, v in prev.items() if k not in ("id", "version")} == out
            out["id"] = prev["id"] if prev else str(self.ids.next())
            out["version"] = prev["version"] if same and prev else str(self.ids.next())
            stored.append(out)
        self.commands[scope] = stored
        self.syncs.append(CommandSync(scope, list(req.body)))
        return 200, stored

    def _attachments(self, files: list[UploadedFile], payload: dict[str, Any], channel_id: int,
                     ephemeral: bool) -> list[dict[str, Any]]:
        meta = {str(a.get("id")): a for a in payload.get("attachments") or [] if isinstance(a, dict)}
        out = []
        for index, f in enumerate(files):
            described = meta.get(str(index), {})
            out.append(P.attachment(self.ids.next(), described.get("filename") or f.filename, f.size, f.content_type,
                                    self.base_url, channel_id, ephemeral=ephemeral,
                                    description=described.get("description")))
        return out

    def _edit(self, msg: dict[str, Any], payload: dict[str, Any], files: list[UploadedFile], *,
              keep_flags: int | None = None) -> dict[str, Any]:
        out = dict(msg)
        for key in ("content", "embeds"):
            if key in payload:
                out[key] = payload[key] if payload[key] is not None else ("" if key == "content" else [])
        if "components" in payload:
            out["components"] = P.with_component_ids(payload["components"] or [], iter(range(1, 1000)))
        kept = out["attachments"]
        if "attachments" in payload:
            wanted = {str(a.get("id")) for a in payload["attachments"] or []}
            kept = [a for a in kept if a["id"] in wanted]
        new = self._attachments(files, payload, int(out["channel_id"]), bool(out["flags"] & P.EPHEMERAL))
        out["attachments"] = kept + new
        if keep_flags is not None:
            out["flags"] = keep_flags
        elif "flags" in payload:
            out["flags"] = (out["flags"] & P.EPHEMERAL) | (int(payload["flags"] or 0) & ~P.EPHEMERAL & ~P.LOADING)
        if not msg["flags"] & P.LOADING:
            out["edited_timestamp"] = P.now_iso()
        return out

    def _replace_channel_copy(self, old: dict[str, Any], new: dict[str, Any] | None) -> None:
        """Keep ``messages_to`` true when an interaction edits or deletes a channel message (a
        button's message updated by type 7 or through ``@original``)."""
        messages = self.channel_messages.get(int(old["channel_id"]), [])
        for i, m in enumerate(messages):
            if m["id"] == old["id"]:
                if new is None:
                    del messages[i]
                else:
                    messages[i] = new
                return

    def _interaction_message(self, inter: FakeInteraction, payload: dict[str, Any], files: list[UploadedFile],
                             flags: int, message_id: int | None = None) -> dict[str, Any]:
        p = inter.payload
        user = (p.get("member") or {}).get("user") or p.get("user")
        meta = {"id": str(inter.id), "type": inter.type, "user": user,
                "authorizing_integration_owners": p.get("authorizing_integration_owners", {})}
        channel_id = int(p["channel_id"])
        return P.message(message_id or self.ids.next(), channel_id, P.user(self.bot_id, self.bot_name, bot=True),
                         {**payload, "flags": flags},
                         attachments=self._attachments(files, payload, channel_id, bool(flags & P.EPHEMERAL)),
                         guild_id=int(p["guild_id"]) if p.get("guild_id") else None,
                         msg_type=20 if inter.type == P.APPLICATION_COMMAND else 0,
                         webhook_id=self.app_id, application_id=self.app_id, interaction_metadata=meta)

    async def _callback(self, req: Request, p: dict[str, str]) -> tuple[int, Any]:
        inter = self.interactions.get(int(p["interaction_id"]))
        if inter is None or inter.token != p["interaction_token"] or inter.gone:
            raise DiscordError(404, 10062, "Unknown interaction")
        if inter.acknowledged:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        if self.ack_deadline is not None and time.monotonic() - inter.created_at > self.ack_deadline:
            raise DiscordError(404, 10062, "Unknown interaction")
        body = req.body if isinstance(req.body, dict) else {}
        rtype = body.get("type")
        if rtype not in P.ALLOWED_CALLBACKS.get(inter.type, set()):
            raise DiscordError(400, 50035, "Invalid Form Body", {
                "message": "Invalid Form Body", "code": 50035,
                "errors": {"type": {"_errors": [{"code": "INTERACTION_RESPONSE_TYPE_INVALID",
                                                 "message": f"Response type {rtype} is not valid here"}]}}})
        data = body.get("data") or {}
        error = None
        if rtype in (P.CHANNEL_MESSAGE_WITH_SOURCE, P.UPDATE_MESSAGE):
            error = P.check_message(data, len(req.files), editing=rtype == P.UPDATE_MESSAGE)
        elif rtype == P.MODAL:
            error = P.check_modal(data)
        if error is not None:
            raise DiscordError(400, error["code"], error["message"], error)
        flags = int(data.get("flags") or 0)
        # accepted: from here on the interaction is acknowledged (no await in between: atomic)
        inter.response_type, inter.response, inter.response_files = rtype, body, req.files
        if rtype == P.CHANNEL_MESSAGE_WITH_SOURCE:
            inter.original = self._interaction_message(inter, data, req.files, flags)
        elif rtype == P.DEFERRED_CHANNEL_MESSAGE:
            inter.original = self._interaction_message(inter, {}, [], (flags & P.EPHEMERAL) | P.LOADING)
        elif rtype in (P.UPDATE_MESSAGE, P.DEFERRED_UPDATE_MESSAGE) and inter.payload.get("message"):
            source = inter.payload["message"]
            inter.original = self._edit(source, data, req.files) if rtype == P.UPDATE_MESSAGE else dict(source)
            self._replace_channel_copy(source, inter.original)
        if req.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        answer: dict[str, Any] = {"id": str(inter.id), "type": inter.type}
        resource: dict[str, Any] = {"type": rtype}
        if rtype in (P.CHANNEL_MESSAGE_WITH_SOURCE, P.DEFERRED_CHANNEL_MESSAGE, P.UPDATE_MESSAGE) and inter.original:
            answer.update(response_message_id=inter.original["id"],
                          response_message_loading=rtype == P.DEFERRED_CHANNEL_MESSAGE,
                          response_message_ephemeral=bool(inter.original["flags"] & P.EPHEMERAL))
            resource["message"] = inter.original
        return 200, {"interaction": answer, "resource": resource}

    def _webhook_interaction(self, p: dict[str, str]) -> FakeInteraction:
        inter = next((i for i in self.interactions.values() if i.token == p["interaction_token"]), None)
        if inter is None or inter.gone or int(p["application_id"]) != self.app_id or not inter.acknowledged:
            raise DiscordError(404, 10015, "Unknown Webhook")
        if time.monotonic() - inter.created_at > self.token_lifetime:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        return inter

    async def _followup(self, req: Request, p: dict[str, str]) -> tuple[int, Any]:
        inter = self._webhook_interaction(p)
        payload = req.body if isinstance(req.body, dict) else {}
        error = P.check_message(payload, len(req.files))
        if error is not None:
            raise DiscordError(400, error["code"], error["message"], error)
        flags = int(payload.get("flags") or 0) & ~P.LOADING
        if inter.loading and inter.original is not None:
            # The first follow-up after a defer replaces the loading message, with the defer's visibility.
            keep = inter.original["flags"] & P.EPHEMERAL
            msg = self._interaction_message(inter, payload, req.files, keep | (flags & ~P.EPHEMERAL),
                                            message_id=int(inter.original["id"]))
            inter.original = msg
        else:
            msg = self._interaction_message(inter, payload, req.files, flags)
            inter.followups.append(msg)
        if req.query.get("wait") in ("1", "true", "True"):
            return 200, msg
        return 204, None

    async def _webhook_message(self, req: Request, p: dict[str, str]) -> tuple[int, Any]:
        inter = self._webhook_interaction(p)
        mid = p["message_id"]
        is_original = mid == "@original" or (inter.original is not None and inter.original["id"] == mid)
        msg = inter.original if is_original else next((m for m in inter.followups if m["id"] == mid), None)
        if msg is None:
            raise DiscordError(404, 10008, "Unknown Message")
        if req.method == "GET":
            return 200, msg
        if req.method == "DELETE":
            if is_original:
                inter.original = None
            else:
                inter.followups.remove(msg)
            self._replace_channel_copy(msg, None)
            return 204, None
        payload = req.body if isinstance(req.body, dict) else {}
        error = P.check_message(payload, len(req.files), editing=True)
        if error is not None:
            raise DiscordError(400, error["code"], error["message"], error)
        keep = msg["flags"] & P.EPHEMERAL if msg["flags"] & P.LOADING else None
        edited = self._edit(msg, payload, req.files, keep_flags=keep)
        if is_original:
            inter.original = edited
        else:
            inter.followups[inter.followups.index(msg)] = edited
        self._replace_channel_copy(msg, edited)
        return 200, edited

    async def _get_channel(self, req: Request, p: dict[str, str]) -> tuple[int, Any]:
        channel = self._channel_payload(int(p["channel_id"]))
        if channel is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        return 200, channel

    async def _create_message(self, req: Request, p: dict[str, str]) -> tuple[int, Any]:
        cid = int(p["channel_id"])
        channel = self._channel_payload(cid)
        if channel is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        if channel["type"] == 1 and int(channel["recipients"][0]["id"]) in self.closed_dms:
            raise DiscordError(403, 50007, "Cannot send messages to this user")
        payload = req.body if isinstance(req.body, dict) else {}
        error = P.check_message(payload, len(req.files))
        if error is not None:
            raise DiscordError(400, error["code"], error["message"], error)
        guild_id = int(channel["guild_id"]) if channel.get("guild_id") else None
        msg = P.message(self.ids.next(), cid, P.user(self.bot_id, self.bot_name, bot=True),
                        {**payload, "flags": int(payload.get("flags") or 0) & ~P.EPHEMERAL},
                        attachments=self._attachments(req.files, payload, cid, False), guild_id=guild_id,
                        msg_type=19 if payload.get("message_reference") else 0)
        self.channel_messages.setdefault(cid, []).append(msg)
        return 200, msg

    async def _channel_message(self, req: Request, p: dict[str, str]) -> tuple[int, Any]:
        messages = self.channel_messages.get(int(p["channel_id"]), [])
        msg = next((m for m in messages if m["id"] == p["message_id"]), None)
        if msg is None:
            raise DiscordError(404, 10008, "Unknown Message")
        if req.method == "DELETE":
            messages.remove(msg)
            return 204, None
        payload = req.body if isinstance(req.body, dict) else {}
        error = P.check_message(payload, len(req.files), editing=True)
        if error is not None:
            raise DiscordError(400, error["code"], error["message"], error)
        edited = self._edit(msg, payload, req.files)
        messages[messages.index(msg)] = edited
        return 200, edited

