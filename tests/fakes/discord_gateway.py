"""The gateway half of the fake Discord: a websocket speaking Discord's gateway protocol (v10, JSON).

What a connection goes through, as on Discord:

- HELLO (op 10, ``heartbeat_interval``) at once; heartbeats (op 1) are answered with op 11.
- IDENTIFY (op 2): the token must match (else close 4004), ``shard`` must be valid (else 4010),
  privileged intents must be enabled for the application (else 4014, which discord.py raises as
  ``PrivilegedIntentsRequired``). Then READY (``session_id``, ``resume_gateway_url``, the bot
  user, ``application {id, flags}``, ``shard``, the shard's guilds as unavailable) and one
  GUILD_CREATE per guild of that shard.
- RESUME (op 6) with a known session: the events it missed (sequence > ``seq``) are replayed,
  then RESUMED. An unknown or ended session gets INVALID_SESSION (op 9, ``d: false``).
- A client closing with 1000/1001 ends its session (no resume), as Discord does; any other
  close keeps it resumable and events dispatched meanwhile are buffered for the replay.

Events reach every live session of the shard Discord would pick (``(guild_id >> 22) %
shard_count``; DMs go to shard 0). Two sessions identifying the same shard both get the event,
as on Discord; that is what a shard lease must prevent. MESSAGE_CREATE honours intents:
GUILD_MESSAGES for guild messages, DIRECT_MESSAGES for DMs, and without MESSAGE_CONTENT a guild
message that does not mention the bot arrives with empty content, embeds, attachments and
components (DMs keep theirs).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from tests.fakes import discord_payloads as P

if TYPE_CHECKING:
    from tests.fakes.discord_api import FakeDiscord

__all__ = ["FakeGateway", "GatewaySession", "GatewayConnection"]

HELLO, HEARTBEAT, IDENTIFY, RESUME, RECONNECT, INVALID_SESSION, HEARTBEAT_ACK = 10, 1, 2, 6, 7, 9, 11


@dataclass
class GatewayConnection:
    """One websocket connection (a session may span several after RESUMEs)."""

    path: str
    query: dict[str, str]
    ws: web.WebSocketResponse
    received: list[dict[str, Any]] = field(default_factory=list)
    heartbeats: int = 0
    session: GatewaySession | None = None
    close_code: int | None = None  # the code the client's close frame carried
    refused_with: int | None = None  # the code the fake closed with (4004, 4010, 4014, ...)

    @property
    def open(self) -> bool:
        return not self.ws.closed


@dataclass
class GatewaySession:
    """An identified gateway session: one shard of one client."""

    session_id: str
    shard_id: int
    shard_count: int
    intents: int
    identify: dict[str, Any]
    seq: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)  # every dispatch frame, for RESUME replays
    conn: GatewayConnection | None = None
    ended: bool = False
    resumes: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def shard(self) -> tuple[int, int]:
        return self.shard_id, self.shard_count

    @property
    def connected(self) -> bool:
        return self.conn is not None and self.conn.open

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The ``d`` of every dispatch sent to this session (optionally only event ``name``)."""
        return [f["d"] for f in self.sent if name is None or f["t"] == name]


class FakeGateway:
    def __init__(self, owner: FakeDiscord, heartbeat_interval_ms: int) -> None:
        self.owner = owner
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.sessions: list[GatewaySession] = []
        self.connections: list[GatewayConnection] = []

    # --- routing ------------------------------------------------------------------------------
    def live(self) -> list[GatewaySession]:
        return [s for s in self.sessions if not s.ended]

    def targets(self, payload: dict[str, Any], shard_id: int | None) -> list[GatewaySession]:
        live = self.live()
        if shard_id is not None:
            return [s for s in live if s.shard_id == shard_id]
        guild_id = payload.get("guild_id")
        if guild_id is None:
            return [s for s in live if s.shard_id == 0]
        return [s for s in live if P.shard_for(int(guild_id), s.shard_count) == s.shard_id]

    def for_session(self, session: GatewaySession, event: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """What ``session`` receives of ``event`` given its intents (None: nothing)."""
        if event not in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
            return payload
        in_guild = payload.get("guild_id") is not None
        needed = P.GUILD_MESSAGES if in_guild else P.DIRECT_MESSAGES
        if not session.intents & needed:
            return None
        if not in_guild or session.intents & P.MESSAGE_CONTENT:
            return payload
        bot_id = str(self.owner.bot_id)
        author = (payload.get("author") or {}).get("id")
        if author == bot_id or any(m.get("id") == bot_id for m in payload.get("mentions") or []):
            return payload
        return {**payload, "content": "", "embeds": [], "attachments": [], "components": []}

    async def send_dispatch(self, session: GatewaySession, event: str, data: dict[str, Any]) -> None:
        async with session.lock:
            session.seq += 1
            frame = {"op": 0, "t": event, "s": session.seq, "d": data}
            session.sent.append(frame)
            conn = session.conn
            if conn is not None and conn.open:
                try:
                    await conn.ws.send_str(json.dumps(frame))
                except (ConnectionResetError, RuntimeError):
                    pass  # buffered in session.sent; a RESUME replays it

    # --- server-side actions ------------------------------------------------------------------
    async def send_op(self, session: GatewaySession, op: int, d: Any = None) -> None:
        if session.conn is not None and session.conn.open:
            await session.conn.ws.send_str(json.dumps({"op": op, "d": d, "s": None, "t": None}))

    async def close(self, session: GatewaySession, code: int = 4000, reason: str = "") -> None:
        if session.conn is not None and session.conn.open:
            await self.refuse(session.conn, code, reason)

    @staticmethod
    async def refuse(conn: GatewayConnection, code: int, reason: str) -> None:
        conn.refused_with = code
        await conn.ws.close(code=code, message=reason.encode())

    async def close_all(self) -> None:
        for conn in self.connections:
            if conn.open:
                await conn.ws.close(code=1001, message=b"fake Discord stopping")

    # --- the websocket ------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        conn = GatewayConnection(request.path, dict(request.query), ws)
        self.connections.append(conn)
        await ws.send_str(json.dumps({"op": HELLO, "s": None, "t": None,
                                      "d": {"heartbeat_interval": self.heartbeat_interval_ms,
                                            "_trace": ["[\"fake-gateway\"]"]}}))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                conn.received.append(frame)
                op, d = frame.get("op"), frame.get("d")
                if op == HEARTBEAT:
                    conn.heartbeats += 1
                    await ws.send_str(json.dumps({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None}))
                elif op == IDENTIFY:
                    await self._identify(conn, d or {})
                elif op == RESUME:
                    await self._resume(conn, d or {})
                self.owner.notify()
        finally:
            conn.close_code = ws.close_code
            session = conn.session
            if session is not None and session.conn is conn:
                session.conn = None
                if conn.refused_with is None and ws.close_code in (1000, 1001):
                    session.ended = True  # a clean close ends the session, as on Discord
            self.owner.notify()
        return ws

    async def _identify(self, conn: GatewayConnection, d: dict[str, Any]) -> None:
        if conn.session is not None:
            await self.refuse(conn, 4005, "Already authenticated.")
            return
        if d.get("token") != self.owner.token:
            await self.refuse(conn, 4004, "Authentication failed.")
            return
        shard = d.get("shard") or [0, 1]
        shard_id, shard_count = int(shard[0]), int(shard[1])
        if shard_count < 1 or not 0 <= shard_id < shard_count:
            await self.refuse(conn, 4010, "Invalid shard.")
            return
        intents = int(d.get("intents") or 0)
        if intents & P.PRIVILEGED_INTENTS & ~self.owner.privileged_intents:
            await self.refuse(conn, 4014, "Disallowed intent(s).")
            return
        session = GatewaySession(secrets.token_hex(16), shard_id, shard_count, intents, identify=d, conn=conn)
        conn.session = session
        self.sessions.append(session)
        guilds = [g for g in self.owner.guilds.values() if P.shard_for(g.id, shard_count) == shard_id]
        ready = {
            "v": 10, "user_settings": {}, "user": self.owner.bot_user(), "session_type": "normal",
            "session_id": session.session_id, "resume_gateway_url": self.owner.resume_gateway_url,
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds], "shard": [shard_id, shard_count],
            "private_channels": [], "presences": [], "relationships": [], "guild_join_requests": [],
            "geo_ordered_rtc_regions": [], "auth": {},
            "application": {"id": str(self.owner.app_id), "flags": self.owner.app_flags},
            "_trace": ["[\"fake-gateway\"]"],
        }
        await self.send_dispatch(session, "READY", ready)
        for g in guilds:
            await self.send_dispatch(session, "GUILD_CREATE", self.owner.guild_payload(g))

    async def _resume(self, conn: GatewayConnection, d: dict[str, Any]) -> None:
        session = next((s for s in self.sessions if s.session_id == d.get("session_id")), None)
        if session is None or session.ended or d.get("token") != self.owner.token:
            await conn.ws.send_str(json.dumps({"op": INVALID_SESSION, "d": False, "s": None, "t": None}))
            return
        old = session.conn
        session.conn = conn
        conn.session = session
        session.resumes += 1
        if old is not None and old is not conn and old.open:
            await self.refuse(old, 4000, "Session resumed elsewhere.")
        seq = int(d.get("seq") or 0)
        async with session.lock:
            for frame in session.sent:
                if frame["s"] > seq:
                    await conn.ws.send_str(json.dumps(frame))
        await self.send_dispatch(session, "RESUMED", {"_trace": ["[\"fake-gateway\"]"]})
