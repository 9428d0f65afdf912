"""Helpers for the ops tests: a Core with admins and ops channels configured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.core.clock import Clock
from bot.core.ops import OpsCaller
from bot.core.router import Event
from bot.core.service import Core
from tests.support.factory import make_core

ADMIN = "tg:900"
OTHER_ADMIN = "tg:901"
GROUP = "-100777"
LOCAL = OpsCaller("local", "local:tester", "", trusted=True)


def ops_core(redis_url: str, tmp_path: Path, clock: Clock | None = None, **env: Any) -> Core:
    return make_core(redis_url, tmp_path, clock=clock, OPS_ADMINS=f"{ADMIN},{OTHER_ADMIN},slack:U1",
                     OPS_CHANNELS=f"tg:{GROUP},slack:C1", **env)


def tg_event(user: str, text: str, chat: str = GROUP, update: int | None = None) -> Event:
    kw: dict[str, Any] = {} if update is None else {"request_id": f"u{update}"}
    return Event("tg", user.split(":", 1)[1], text, chat_id=chat, chat_kind="group", lang_hint="ko", **kw)


def command_of(reply: Any, label_index: int = 0) -> str:
    """The text after ``/ops`` of a reply's button (what a surface sends back on a press)."""
    return reply.all_buttons()[label_index].command.removeprefix("/ops ").strip()
