"""What the fake Discord (``tests/fakes/discord_api.py``) records and knows: plain dataclasses."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tests.fakes import discord_payloads as P

__all__ = ["DiscordError", "UploadedFile", "Request", "FakeGuild", "FakeUser", "CommandSync", "FakeInteraction"]


class DiscordError(Exception):
    """An error answer in Discord's shape: ``{"message", "code"[, "errors"]}``."""

    def __init__(self, status: int, code: int, message: str, body: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.payload: dict[str, Any] = body or {"message": message, "code": code}
        self.headers = headers or {}


@dataclass
class UploadedFile:
    field: str
    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class Request:
    """One recorded REST request and the answer it got."""

    method: str
    path: str  # below the API base, e.g. "/channels/123/messages"
    query: dict[str, str]
    body: Any = None  # the JSON body, or a multipart body's payload_json
    files: list[UploadedFile] = field(default_factory=list)
    route: str = ""  # e.g. "POST /channels/{channel_id}/messages"; "" when the fake does not know it
    params: dict[str, str] = field(default_factory=dict)
    status: int = 0
    response: Any = None
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def code(self) -> int | None:
        """Discord's JSON error code of a failed request (e.g. 40060), else None."""
        if self.ok or not isinstance(self.response, dict):
            return None
        return self.response.get("code")


@dataclass
class FakeGuild:
    id: int
    name: str
    channel_id: int  # its one text channel
    locale: str = "ko"


@dataclass
class FakeUser:
    id: int
    username: str
    global_name: str | None = None
    locale: str = "ko"

    def payload(self) -> dict[str, Any]:
        return P.user(self.id, self.username, self.global_name)


@dataclass
class CommandSync:
    """One accepted bulk overwrite of application commands."""

    guild_id: int | None  # None: global
    commands: list[dict[str, Any]]
    at: float = field(default_factory=time.monotonic)

    @property
    def names(self) -> list[str]:
        return [c["name"] for c in self.commands]


@dataclass
class FakeInteraction:
    """Discord's view of one interaction: what it was, and how the bot answered it."""

    id: int
    token: str
    type: int
    payload: dict[str, Any]
    created_at: float
    deliveries: int = 0
    gone: bool = False  # expired (``expire_interaction``)
    response_type: int | None = None
    response: dict[str, Any] | None = None  # the accepted callback body
    response_files: list[UploadedFile] = field(default_factory=list)
    original: dict[str, Any] | None = None  # the response message (the loading one after a type-5 defer)
    followups: list[dict[str, Any]] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return self.response_type is not None

    @property
    def loading(self) -> bool:
        return self.original is not None and bool(self.original["flags"] & P.LOADING)

    @property
    def modal(self) -> dict[str, Any] | None:
        """The modal the bot opened (type 9 ``data``), if it answered with one."""
        if self.response_type == P.MODAL and self.response is not None:
            return self.response.get("data")
        return None

    @property
    def messages(self) -> list[dict[str, Any]]:
        """What the user sees: the response message (unless still loading), then follow-ups."""
        shown = [] if self.original is None or self.loading else [self.original]
        return shown + self.followups
