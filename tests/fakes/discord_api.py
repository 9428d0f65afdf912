"""A local fake Discord (REST API v10 + gateway), speaking the real wire format.

The real discord.py talks to it on 127.0.0.1 at a free port once two class attributes point
there (what the adapter does with ``DISCORD_API_BASE_URL`` / ``DISCORD_GATEWAY_URL``)::

    discord.http.Route.BASE = fake.api_url                                  # http://127.0.0.1:N/api/v10
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)  # ws://127.0.0.1:N/gateway

REST (under ``/api/v10``; ``Authorization: Bot <token>`` required except on interaction and
webhook routes, else 401):

- ``GET /gateway``, ``GET /gateway/bot`` (url = the fake gateway, ``shards``, session limits),
  ``GET /users/@me``, ``GET /users/{id}`` (10013 for unknown users), ``GET
  /oauth2/applications/@me`` (the application id discord.py adopts at login).
- ``GET|PUT /applications/{app}/commands`` and ``.../guilds/{guild}/commands``: bulk overwrite,
  checked like Discord (names, lengths, locales, option order, duplicates; 400 50035), ids kept
  per name across syncs, every accepted PUT recorded (``command_syncs()``). 403 50001 for another
  application or a guild the bot is not in.
- ``POST /interactions/{id}/{token}/callback``: types 4, 5, 6, 7, 9 (8 for autocomplete), as
  allowed per interaction type. ``?with_response=1`` (what discord.py 2.5+ always sends) gets
  200 and the interaction-callback object; without it 204. Twice: 400 40060 "Interaction has
  already been acknowledged."; unknown, expired or later than ``ack_deadline`` (3 s, like
  Discord): 404 10062 "Unknown interaction".
- Webhook follow-ups: ``POST /webhooks/{app}/{token}`` (``?wait``), ``GET|PATCH|DELETE
  /webhooks/{app}/{token}/messages/{@original|id}``; JSON or multipart (``payload_json`` +
  ``files[n]``). As on Discord, the first follow-up after a type-5 defer replaces the loading
  message and keeps the defer's visibility (its own ephemeral flag is ignored). 404 10015
  "Unknown Webhook" before the interaction was acknowledged or for a wrong application/token.
- ``POST /users/@me/channels`` (open a DM; stable id per user), ``GET /channels/{id}``,
  ``POST /channels/{id}/messages`` (JSON or multipart; 403 50007 "Cannot send messages to this
  user" for ``close_dms(user)``; 404 10003 for unknown channels), ``PATCH|DELETE
  /channels/{id}/messages/{id}``.
- Messages are checked like Discord (2000 characters, 5x5 components, 80-character labels,
  100-character custom ids, 10 files, not empty: 400 50035 / 50006).
- Every answer carries ``Via`` and per-route rate-limit headers (``X-RateLimit-Limit``,
  ``-Remaining``, ``-Reset``, ``-Reset-After``, ``-Bucket``) from a fixed window per bucket and
  major parameter; a request over the window gets a 429 and counts in ``bucket_violations``
  (a client honouring the headers never sees one). ``rate_limit_next`` injects a 429 with
  ``retry_after`` (body) plus ``Retry-After``/``X-RateLimit-*`` headers; ``fail_next`` any error.
- Anything else: 404 and recorded in ``unhandled``.

Gateway at ``/gateway`` (and ``/gateway-resume``, the ``resume_gateway_url``): see
``tests/fakes/discord_gateway.py``. ``await fake.dispatch(event, payload)`` sends an event to the
shard(s) Discord would pick; builders make realistic INTERACTION_CREATE payloads (slash command,
component, modal submit) and MESSAGE_CREATE payloads (DM, guild message).

Every REST request is recorded (``requests``: method, path below the API base, query, JSON body
or ``payload_json``, files, status, response) with helpers ``interaction_responses(id)``,
``interaction_messages(id)``, ``messages_to(channel)``, ``dms_to(user)``, ``command_syncs()``
and ``wait_until(...)``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from tests.fakes import discord_payloads as P
from tests.fakes.discord_builders import PayloadBuilders
from tests.fakes.discord_gateway import FakeGateway, GatewayConnection, GatewaySession
from tests.fakes.discord_payloads import shard_for
from tests.fakes.discord_records import (CommandSync, DiscordError, FakeGuild, FakeInteraction, FakeUser, Request,
                                         UploadedFile)
from tests.fakes.discord_rest import API_PREFIX, RestApi, Buckets, Failure, rate_limited, Route, compile_route

__all__ = ["FakeDiscord", "Request", "UploadedFile", "FakeInteraction", "FakeGuild", "FakeUser", "CommandSync",
           "DiscordError", "GatewaySession", "GatewayConnection", "shard_for"]

_ANY: Any = object()
T = TypeVar("T")


class FakeDiscord(RestApi, PayloadBuilders):
    """The fake: ``async with FakeDiscord() as fake: ...`` (or ``await fake.start()`` / ``stop()``).

    ``ack_deadline``: seconds an interaction may wait for its first response (Discord: 3; None
    turns it off). ``privileged_intents``: the privileged intents enabled for the application
    (none by default, like a new application). ``bucket_limits``: ``{"POST
    /channels/{channel_id}/messages": (5, 5.0), ...}`` over the defaults; ``enforce_buckets``
    False only advertises them. ``latency``: seconds added to every REST answer.
    """

    DEFAULT_BUCKETS: dict[str, tuple[int, float]] = {"POST /channels/{channel_id}/messages": (5, 5.0)}

    def __init__(self, *, token: str = "fake-discord-bot-token.soul-lab.tests", bot_name: str = "soul-lab",
                 ack_deadline: float | None = 3.0, token_lifetime: float = 900.0,
                 heartbeat_interval_ms: int = 41250, privileged_intents: int = 0, recommended_shards: int = 1,
                 bucket_limits: dict[str, tuple[int, float]] | None = None, enforce_buckets: bool = True) -> None:
        self.token = token
        self.ids = P.Snowflakes()
        self.app_id = self.bot_id = self.ids.next()  # a modern application: bot user id == application id
        self.owner = FakeUser(self.ids.next(), "soul-lab-owner")
        self.bot_name = bot_name
        self.ack_deadline = ack_deadline
        self.token_lifetime = token_lifetime
        self.privileged_intents = privileged_intents
        self.recommended_shards = recommended_shards
        self.enforce_buckets = enforce_buckets
        self.latency = 0.0
        self.host = "127.0.0.1"
        self.port = 0
        self.gateway = FakeGateway(self, heartbeat_interval_ms)
        self.guilds: dict[int, FakeGuild] = {}
        self.users: dict[int, FakeUser] = {}
        self.dm_channels: dict[int, int] = {}  # user id -> DM channel id
        self.closed_dms: set[int] = set()
        self.channel_messages: dict[int, list[dict[str, Any]]] = {}
        self.interactions: dict[int, FakeInteraction] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.syncs: list[CommandSync] = []
        self.requests: list[Request] = []
        self.unhandled: list[Request] = []
        self.bucket_violations = 0
        self._buckets = Buckets({**self.DEFAULT_BUCKETS, **(bucket_limits or {})}, (50, 1.0))
        self._failures: list[Failure] = []
        self._tick = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._routes = [Route(m, t, compile_route(t), h, auth) for m, t, h, auth in self._route_table()]

    # --- server -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """What DISCORD_API_BASE_URL is in tests (``discord.http.Route.BASE``)."""
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """What DISCORD_GATEWAY_URL is in tests (``DiscordWebSocket.DEFAULT_GATEWAY``)."""
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway-resume"

    async def start(self) -> FakeDiscord:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/gateway-resume", self.gateway.handle)
        app.router.add_get("/_control/info", self._control_info)
        app.router.add_post("/_control/dispatch", self._control_dispatch)
        app.router.add_get("/_control/requests", self._control_requests)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def notify(self) -> None:
        """Wake everything waiting in ``wait_until`` (after a request or a gateway change)."""
        self._tick.set()
        self._tick = asyncio.Event()

    async def wait_until(self, check: Callable[[], T | None], timeout: float = 5.0, what: str = "condition") -> T:
        """Wait until ``check()`` is truthy: re-checked after every request and gateway frame, and
        every 20 ms (so it may also wait on the client's side, e.g. a callback's list)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = check()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"fake Discord: timed out after {timeout} s waiting for {what}")
            tick = self._tick
            try:
                await asyncio.wait_for(tick.wait(), min(remaining, 0.02))
            except TimeoutError:
                pass

    # --- configuration ------------------------------------------------------------------------
    def add_guild(self, name: str = "Soul Lab test server", *, on_shard: tuple[int, int] | None = None,
                  locale: str = "ko") -> FakeGuild:
        """A guild the bot is in (send GUILD_CREATE yourself for clients already connected).

        ``on_shard=(shard_id, shard_count)`` picks an id Discord would route to that shard.
        """
        guild_id = self.ids.next()
        while on_shard is not None and shard_for(guild_id, on_shard[1]) != on_shard[0]:
            guild_id = self.ids.next()
        g = FakeGuild(guild_id, name, self.ids.next(), locale)
        self.guilds[g.id] = g
        return g

    def user(self, user_id: int | None = None, username: str | None = None, *, locale: str = "ko",
             global_name: str | None = None) -> FakeUser:
        """A Discord user (created on first mention; ``user()`` makes a new one)."""
        if user_id is None:
            user_id = self.ids.next()
        if user_id not in self.users:
            self.users[user_id] = FakeUser(user_id, username or f"user{user_id % 100000}", global_name, locale)
        return self.users[user_id]

    def close_dms(self, user_id: int) -> None:
        """This user does not accept DMs from the bot: sends to their DM channel get 403 50007."""
        self.closed_dms.add(user_id)

    def open_dms(self, user_id: int) -> None:
        self.closed_dms.discard(user_id)

    def dm_channel_id(self, user_id: int) -> int:
        """The user's DM channel with the bot (created like ``POST /users/@me/channels``)."""
        self.user(user_id)
        if user_id not in self.dm_channels:
            self.dm_channels[user_id] = self.ids.next()
        return self.dm_channels[user_id]

    def expire_interaction(self, interaction_id: int) -> None:
        """Discord forgot it: callbacks get 10062, follow-ups 10015."""
        self.interactions[interaction_id].gone = True

    def fail_next(self, method: str, path: str | re.Pattern[str], *, status: int, code: int, message: str,
                  times: int = 1) -> None:
        """Answer the next ``times`` requests ``method path`` (path below the API base, exact or a
        compiled regex matched in full) with ``{"message", "code"}`` and ``status``."""
        self._failures.append(Failure(method.upper(), path, times, DiscordError(status, code, message)))

    def rate_limit_next(self, method: str, path: str | re.Pattern[str], *, retry_after: float = 0.25,
                        times: int = 1, is_global: bool = False, scope: str = "user") -> None:
        """Answer the next ``times`` requests ``method path`` with a 429 like Discord's (JSON body
        ``retry_after``/``global``; ``Retry-After``, ``X-RateLimit-*`` and ``Via`` headers)."""
        route = self._match(method.upper(), path if isinstance(path, str) else "")
        bucket = Buckets.bucket_hash(route[0].method + " " + route[0].template) if route else None
        error = rate_limited(retry_after, is_global=is_global, scope="global" if is_global else scope, bucket=bucket)
        self._failures.append(Failure(method.upper(), path, times, error))

    # --- the gateway --------------------------------------------------------------------------
    @property
    def sessions(self) -> list[GatewaySession]:
        return self.gateway.sessions

    def live_sessions(self, shard_id: int | None = None) -> list[GatewaySession]:
        return [s for s in self.gateway.live() if s.connected and (shard_id is None or s.shard_id == shard_id)]

    async def wait_sessions(self, count: int = 1, timeout: float = 5.0) -> list[GatewaySession]:
        """Wait until ``count`` sessions are identified and connected."""
        return await self.wait_until(lambda: self.live_sessions() if len(self.live_sessions()) >= count else None,
                                     timeout, f"{count} connected gateway session(s)")

    async def dispatch(self, event: str, payload: dict[str, Any], *, shard_id: int | None = None
                       ) -> list[GatewaySession]:
        """Send a gateway event where Discord would: the sessions of the payload's guild's shard
        (DMs: shard 0), or of ``shard_id``. Returns the sessions that got it (intents may filter
        MESSAGE_CREATE out). LookupError if no live session is on that shard.

        An INTERACTION_CREATE registers the interaction, so its callbacks and follow-ups are
        accepted; the ``ack_deadline`` runs from here.
        """
        targets = self.gateway.targets(payload, shard_id)
        if not targets:
            raise LookupError(f"fake Discord: no live gateway session for {event} (guild "
                              f"{payload.get('guild_id')}, shard {shard_id}); sessions: "
                              f"{[s.shard for s in self.gateway.live()]}")
        if event == "INTERACTION_CREATE":
            iid = int(payload["id"])
            if iid not in self.interactions:
                self.interactions[iid] = FakeInteraction(iid, payload["token"], int(payload["type"]), payload,
                                                         time.monotonic())
            self.interactions[iid].deliveries += len(targets)
        delivered = []
        for session in targets:
            data = self.gateway.for_session(session, event, payload)
            if data is not None:
                await self.gateway.send_dispatch(session, event, data)
                delivered.append(session)
        self.notify()
        return delivered

    async def interact(self, payload: dict[str, Any], *, shard_id: int | None = None) -> FakeInteraction:
        """Dispatch an INTERACTION_CREATE and return Discord's record of it."""
        await self.dispatch("INTERACTION_CREATE", payload, shard_id=shard_id)
        return self.interactions[int(payload["id"])]

    async def request_reconnect(self, shard_id: int | None = None) -> None:
        """Send RECONNECT (op 7) to the connected sessions (of a shard): clients RESUME."""
        for session in self.live_sessions(shard_id):
            await self.gateway.send_op(session, 7)

    async def disconnect(self, shard_id: int | None = None, code: int = 4000) -> None:
        """Close the connected sessions' sockets with ``code`` (4000: resumable)."""
        for session in self.live_sessions(shard_id):
            await self.gateway.close(session, code)

    async def invalidate_session(self, shard_id: int | None = None) -> None:
        """INVALID_SESSION (op 9, not resumable): discord.py identifies again after its
        ``before_identify_hook`` (5 s by default for a non-initial identify)."""
        for session in self.live_sessions(shard_id):
            session.ended = True
            await self.gateway.send_op(session, 9, False)

    # --- recorded traffic ---------------------------------------------------------------------
    def requests_to(self, method: str | None = None, route: str | None = None,
                    path: str | None = None) -> list[Request]:
        """Requests by method, route template (``"POST /channels/{channel_id}/messages"``) or path."""
        return [r for r in self.requests if (method is None or r.method == method.upper())
                and (route is None or r.route == route) and (path is None or r.path == path)]

    def interaction(self, interaction_id: int | str) -> FakeInteraction:
        return self.interactions[int(interaction_id)]

    def interaction_responses(self, interaction_id: int | str) -> list[Request]:
        """Every callback request for this interaction (accepted or refused), in order."""
        iid = str(interaction_id)
        return [r for r in self.requests if r.route.endswith("/callback") and r.params.get("interaction_id") == iid]

    def followup_requests(self, interaction_id: int | str) -> list[Request]:
        """Every webhook request made with this interaction's token (follow-ups, @original edits)."""
        token = self.interaction(interaction_id).token
        return [r for r in self.requests if r.route.startswith(("POST /webhooks", "PATCH /webhooks",
                                                                "GET /webhooks", "DELETE /webhooks"))
                and r.params.get("interaction_token") == token]

    def interaction_messages(self, interaction_id: int | str) -> list[dict[str, Any]]:
        """The messages the user sees for this interaction (response message, then follow-ups)."""
        return self.interaction(interaction_id).messages

    def messages_to(self, channel_id: int | str) -> list[dict[str, Any]]:
        """Messages the bot created in a channel with ``POST /channels/{id}/messages``."""
        return self.channel_messages.get(int(channel_id), [])

    def dms_to(self, user_id: int) -> list[dict[str, Any]]:
        channel = self.dm_channels.get(user_id)
        return [] if channel is None else self.messages_to(channel)

    def command_syncs(self, guild_id: int | None = _ANY) -> list[CommandSync]:
        """Accepted command overwrites (``guild_id=None``: global only; a guild id: that guild)."""
        return [s for s in self.syncs if guild_id is _ANY or s.guild_id == guild_id]

    async def wait_response(self, interaction_id: int | str, timeout: float = 5.0) -> FakeInteraction:
        inter = self.interaction(interaction_id)
        return await self.wait_until(lambda: inter if inter.acknowledged else None, timeout,
                                     f"a response to interaction {interaction_id}")

    async def wait_messages(self, interaction_id: int | str, count: int = 1, timeout: float = 5.0
                            ) -> list[dict[str, Any]]:
        """Wait until the user sees ``count`` messages for the interaction."""
        inter = self.interaction(interaction_id)
        return await self.wait_until(lambda: inter.messages if len(inter.messages) >= count else None, timeout,
                                     f"{count} message(s) for interaction {interaction_id}")

    async def wait_channel_messages(self, channel_id: int, count: int = 1, timeout: float = 5.0
                                    ) -> list[dict[str, Any]]:
        return await self.wait_until(lambda: self.messages_to(channel_id) if len(self.messages_to(channel_id))
                                     >= count else None, timeout, f"{count} message(s) in channel {channel_id}")

    # --- objects --------------------------------------------------------------------------------
    @property
    def app_flags(self) -> int:
        flags = 1 << 23  # APPLICATION_COMMAND_BADGE
        if self.privileged_intents & P.MESSAGE_CONTENT:
            flags |= 1 << 19  # GATEWAY_MESSAGE_CONTENT_LIMITED
        if self.privileged_intents & P.GUILD_MEMBERS:
            flags |= 1 << 15
        if self.privileged_intents & P.GUILD_PRESENCES:
            flags |= 1 << 13
        return flags

    def bot_user(self) -> dict[str, Any]:
        return {**P.user(self.bot_id, self.bot_name, "Soul Lab", bot=True), "verified": True, "mfa_enabled": False,
                "email": None, "locale": "en-US"}

    def app_info(self) -> dict[str, Any]:
        return {"id": str(self.app_id), "name": "Soul Lab", "icon": None, "description": "", "summary": "",
                "type": None, "hook": True, "rpc_origins": [], "bot_public": True, "bot_require_code_grant": False,
                "verify_key": "0f" * 32, "owner": self.owner.payload(), "team": None, "flags": self.app_flags,
                "interactions_endpoint_url": None, "redirect_uris": [], "tags": [],
                "approximate_guild_count": len(self.guilds), "bot": P.user(self.bot_id, self.bot_name, bot=True),
                "integration_types_config": {"0": {}}}

    def guild_payload(self, g: FakeGuild) -> dict[str, Any]:
        """The GUILD_CREATE payload for ``g``."""
        return P.guild(g.id, g.name, owner_id=self.owner.id, channels=[P.text_channel(g.channel_id, g.id)],
                       members=[P.member(P.user(self.bot_id, self.bot_name, bot=True))], locale=g.locale)

    def _guild(self, guild: FakeGuild | int) -> FakeGuild:
        return guild if isinstance(guild, FakeGuild) else self.guilds[int(guild)]

    def _channel_payload(self, channel_id: int) -> dict[str, Any] | None:
        for g in self.guilds.values():
            if g.channel_id == channel_id:
                return P.text_channel(channel_id, g.id)
        for uid, cid in self.dm_channels.items():
            if cid == channel_id:
                return P.dm_channel(cid, self.users[uid].payload())
        return None

    # --- control (when the fake runs in its own process: tests/fakes/discord_server.py) --------
    _BUILDERS = {"slash_command": "INTERACTION_CREATE", "component": "INTERACTION_CREATE",
                 "modal_submit": "INTERACTION_CREATE", "modal_submit_for": "INTERACTION_CREATE",
                 "dm_message": "MESSAGE_CREATE", "guild_message": "MESSAGE_CREATE"}

    def info(self) -> dict[str, Any]:
        """What a process needs to drive the fake: URLs, token, application id, guilds."""
        return {"api_url": self.api_url, "gateway_url": self.gateway_url, "token": self.token,
                "application_id": str(self.app_id),
                "guilds": [{"id": str(g.id), "channel_id": str(g.channel_id), "name": g.name, "locale": g.locale}
                           for g in self.guilds.values()]}

    async def _control_info(self, request: web.Request) -> web.Response:
        return web.json_response(self.info())

    async def _control_dispatch(self, request: web.Request) -> web.Response:
        """Dispatch ``{"event", "payload"[, "shard_id"]}``, or build then dispatch ``{"build":
        "slash_command", "args": {"name": "fortune", "user_id": 1, "guild": 2}}`` (any builder in
        ``_BUILDERS``; its keyword arguments). Answers ``{"delivered": n, "payload": {...}}``;
        409 when no session is on the shard."""
        body = await request.json()
        if "build" in body:
            name = body["build"]
            if name not in self._BUILDERS:
                return web.json_response({"error": f"unknown builder {name!r}"}, status=400)
            event, payload = self._BUILDERS[name], getattr(self, name)(**(body.get("args") or {}))
        else:
            event, payload = body["event"], body["payload"]
        try:
            sessions = await self.dispatch(event, payload, shard_id=body.get("shard_id"))
        except LookupError as exc:
            return web.json_response({"error": str(exc)}, status=409)
        return web.json_response({"delivered": len(sessions), "payload": payload})

    async def _control_requests(self, request: web.Request) -> web.Response:
        """Recorded requests from index ``since``: ``{"next": n, "requests": [{method, path, route,
        params, status, at, body, code}]}`` (``at`` is this process's monotonic clock)."""
        since = int(request.query.get("since", 0))
        items = self.requests[since:]
        out = [{"method": r.method, "path": r.path, "route": r.route, "params": r.params, "status": r.status,
                "at": r.at, "body": r.body, "code": r.code} for r in items]
        return web.Response(body=P.json_dumps({"next": since + len(items), "requests": out}).encode(),
                            content_type="application/json")
