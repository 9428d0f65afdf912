"""A Slack request runs once, across every process of the bot.

Slack may deliver one request more than once: the Events API resends an event it got no
2xx for within 3 s (``X-Slack-Retry-Num``: 1, 2, 3, same ``event_id``), and a proxy or a
load balancer may resend a slash command or a button press (same ``trigger_id``). Whichever
process gets a copy first claims it with one ``SET NX`` of ``K.slack_seen(kind, id)`` (a day);
every other copy is acknowledged with an empty 200 and runs nothing.

- Atomic: the claim is one ``SET NX EX`` command; of two processes racing, one wins.
- At most once: the claim is taken before the command runs. A process that dies between
  the claim and the answer leaves the command unanswered (the operator sees no reply and
  types it again — a new ``trigger_id``); it never runs it twice. Money-moving commands are
  protected a second time by the ops core's single-use confirmation tokens.
- Redis down: the claim falls back to this process's memory (the last 4,096 ids), so
  ``/ops health`` still answers during an outage; two processes could then both take a
  resent copy, which is harmless for read-only commands, and dangerous ones need Redis
  (their confirmation tokens live there) and refuse.
"""

from __future__ import annotations

import os
import socket
from collections import OrderedDict
from typing import Any

from bot.core.logs import log_event
from bot.core.store import REDIS_ERRORS, K

__all__ = ["SlackDedupe", "request_identity", "SEEN_TTL_SECONDS"]

SEEN_TTL_SECONDS = 86_400
_MAX_ID = 128


def request_identity(body: dict[str, Any]) -> tuple[str, str] | None:
    """(kind, id) that identifies one Slack request across resends, or None (nothing to claim:
    URL verification, SSL checks, payloads without an id)."""
    kind: str
    ident: Any
    if body.get("type") == "event_callback":
        kind, ident = "event", body.get("event_id")
    elif body.get("command"):
        kind, ident = "command", body.get("trigger_id")
    elif body.get("type") == "block_actions":
        kind, ident = "action", body.get("trigger_id")
        if not ident:  # presses always carry a trigger id today; fall back to the press itself
            actions = body.get("actions") or [{}]
            container = body.get("container") or {}
            ident = f"{container.get('message_ts', '')}:{actions[0].get('action_ts', '')}"
    else:
        return None
    if not ident or not isinstance(ident, str):
        return None
    # An id is Slack's, after the signature check; keep key names bounded and brace-free anyway.
    ident = ident.replace("{", "").replace("}", "")[:_MAX_ID]
    return kind, ident


class SlackDedupe:
    """Claims request ids in Redis (``SET NX``), with an in-process memory in front of it."""

    def __init__(self, core: Any, ttl_seconds: int = SEEN_TTL_SECONDS, local_size: int = 4096) -> None:
        self.core = core
        self.ttl_seconds = ttl_seconds
        self.local_size = local_size
        self._local: OrderedDict[str, None] = OrderedDict()
        self._owner = f"{socket.gethostname()}:{os.getpid()}"

    def _remember(self, key: str) -> bool:
        """True when ``key`` is new to this process (and remembers it)."""
        if key in self._local:
            self._local.move_to_end(key)
            return False
        self._local[key] = None
        while len(self._local) > self.local_size:
            self._local.popitem(last=False)
        return True

    async def claim(self, kind: str, ident: str) -> bool:
        """True for the first copy of (kind, ident) seen by any process (see the module doc)."""
        key = K.slack_seen(kind, ident)
        if not self._remember(key):
            return False
        try:
            won = await self.core.store.redis.set(key, self._owner, nx=True, ex=self.ttl_seconds)
        except REDIS_ERRORS as exc:
            log_event("redis_connection_error", level=30, where="slack.dedupe", error=type(exc).__name__)
            return True  # this process's memory decided
        return bool(won)
