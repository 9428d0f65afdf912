"""Terminal chat: the zero-setup adapter (``python -m bot console``).

Reads one line at a time from standard input, so it works in a terminal and piped
(``printf '/start\\n1\\n' | python -m bot console``), and exits cleanly at end of input.
Buttons are shown as numbered choices; typing the number presses the button.
"""

from __future__ import annotations

import asyncio
import sys
from typing import IO

from bot.core.reply import Button, Reply
from bot.core.router import Event
from bot.core.service import Core

__all__ = ["ConsoleAdapter"]


class ConsoleAdapter:
    platform = "cli"

    def __init__(self, core: Core, user_id: str = "local", lang_hint: str | None = None,
                 stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> None:
        self.core = core
        self.user_id = user_id
        self.lang_hint = lang_hint
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self._choices: list[Button] = []
        core.register_sender(self.platform, self._push)

    async def _push(self, user_id: str, reply: Reply, **_: object) -> None:
        if user_id in (self.user_id, f"chat:{self.user_id}"):
            self.render(reply)

    def render(self, reply: Reply) -> None:
        out = self.stdout
        out.write(reply.text.rstrip() + "\n")
        if reply.image is not None:
            out.write(f"[image: {reply.image.filename}, {len(reply.image.png):,} bytes"
                      + (f" — {reply.image.alt}" if reply.image.alt else "") + "]\n")
        buttons = reply.all_buttons()
        if buttons:
            self._choices = buttons
            for i, b in enumerate(buttons, 1):
                out.write(f"  [{i}] {b.label}" + (f" → {b.url}" if b.url else "") + "\n")
        out.write("\n")
        out.flush()

    def _translate(self, line: str) -> str:
        """A bare number picks the numbered button shown last."""
        if line.isdigit() and self._choices:
            idx = int(line) - 1
            if 0 <= idx < len(self._choices) and self._choices[idx].command:
                return self._choices[idx].command
        return line

    async def handle_line(self, line: str) -> list[Reply]:
        text = self._translate(line.strip())
        event = Event(self.platform, self.user_id, text, chat_id=self.user_id, lang_hint=self.lang_hint,
                      display_name="local")
        replies = await self.core.router.handle(event)
        for reply in replies:
            self.render(reply)
        return replies

    async def run(self) -> None:
        interactive = self.stdin.isatty()
        if interactive:
            self.stdout.write("Soul Lab 🌙 — /start 로 시작해요 (type /start; Ctrl-D to quit)\n\n")
            self.stdout.flush()
        loop = asyncio.get_running_loop()
        while True:
            if interactive:
                self.stdout.write("> ")
                self.stdout.flush()
            line = await loop.run_in_executor(None, self.stdin.readline)
            if line == "":
                break  # end of input
            if line.strip():
                await self.handle_line(line)
