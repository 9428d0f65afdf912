"""Core ``Reply`` -> Discord messages, within Discord's limits.

* Text: plain content (mentions disabled, so no user or core text can ping anyone), split
  cleanly at line breaks into messages of at most 2,000 characters (counted in UTF-16 units,
  the stricter count).
* Buttons: ``Reply.buttons`` become button rows (at most 5 rows of 5; labels cut to 80
  characters). A command button's state lives in its ``custom_id``: ``sl:<command>`` (a command
  is at most 64 bytes, so the id stays under Discord's 100). They are handled by one
  ``DynamicItem`` (``CommandButton``) registered once at start, so a button on an old message
  works after a restart and on any process: pressing it is typing its command. URL buttons
  become link buttons. ``Reply.modal`` adds a button that opens the form.
* Pictures (the tarot spread): an attachment on the first message of the reply.
* Modals: ``Reply``'s ``Modal`` -> a ``discord.ui.Modal`` whose ``custom_id`` is
  ``sl:<submit command>``; the submit is read from the raw interaction (any process).

Views are sent *finished* (``view.stop()``): discord.py then keeps nothing per message, and
routing is by ``custom_id`` alone.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import discord

from bot.core.reply import Button, Modal, Reply

__all__ = ["MAX_TEXT", "MAX_LABEL", "PREFIX", "split_text", "build_view", "build_modal", "Message", "messages_for",
           "CommandButton", "command_of", "modal_values"]

MAX_TEXT = 2000
MAX_LABEL = 80
MAX_ROWS = 5
MAX_PER_ROW = 5
MAX_CUSTOM_ID = 100
MAX_MODAL_TITLE = 45
MAX_INPUT_LABEL = 45
#: custom_id prefix of every button and modal the bot makes: ``sl:<command>``.
PREFIX = "sl:"
NO_MENTIONS = discord.AllowedMentions.none()


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Chunks of at most ``limit`` UTF-16 units, cut at the last line break (else space) that fits."""
    text = text.strip("\n")
    chunks: list[str] = []
    while _units(text) > limit:
        units, end = 0, 0
        for i, ch in enumerate(text):
            units += 2 if ord(ch) > 0xFFFF else 1
            if units > limit:
                break
            end = i + 1
        head = text[:end]
        cut = max(head.rfind("\n"), 0) or max(head.rfind(" "), 0)
        if cut > 0:
            head, text = head[:cut], text[cut + 1:]
        else:
            text = text[end:]
        if head.rstrip():
            chunks.append(head.rstrip())
        text = text.lstrip("\n")
    if text.strip():
        chunks.append(text)
    return chunks


def _label(label: str) -> str:
    label = label.strip() or "…"
    return label if len(label) <= MAX_LABEL else label[:MAX_LABEL - 1] + "…"


def command_of(custom_id: str) -> str | None:
    """The command a button or modal ``custom_id`` carries (None: not one of ours)."""
    return custom_id[len(PREFIX):] if custom_id.startswith(PREFIX) and len(custom_id) > len(PREFIX) else None


class CommandButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"sl:(?P<command>/.+)"):
    """Every command button: its command is in its ``custom_id``, so it works on any process
    and after restarts. A press is answered by the client's adapter (``client.adapter.answer``)."""

    def __init__(self, command: str, label: str = "…") -> None:
        super().__init__(discord.ui.Button(label=_label(label), custom_id=f"{PREFIX}{command}",
                                           style=discord.ButtonStyle.secondary))
        self.command = command

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
                             match: Any) -> CommandButton:
        return cls(match["command"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        adapter = getattr(interaction.client, "adapter", None)
        if adapter is not None:
            await adapter.answer(interaction, self.command)


def _item(b: Button) -> discord.ui.Item[Any] | None:
    if b.url:
        return discord.ui.Button(label=_label(b.label), url=b.url)
    if b.command and len(PREFIX + b.command) <= MAX_CUSTOM_ID:
        return CommandButton(b.command, b.label)
    return None


def build_view(reply: Reply) -> discord.ui.View | None:
    """The reply's buttons (and its modal's opening button) as a finished view, or None."""
    rows = [list(row) for row in reply.buttons]
    if reply.modal is not None:
        rows.insert(0, [Button(reply.modal.button_label, reply.modal.open_command)])
    view = discord.ui.View(timeout=None)
    placed = 0
    for row in rows:
        if placed >= MAX_ROWS:
            break
        items = [i for i in (_item(b) for b in row) if i is not None]
        for start in range(0, len(items), MAX_PER_ROW):
            if placed >= MAX_ROWS:
                break
            for item in items[start:start + MAX_PER_ROW]:
                item.row = placed
                view.add_item(item)
            placed += 1
    if not view.children:
        return None
    view.stop()  # nothing kept per message: presses are routed by custom_id (CommandButton)
    return view


def build_modal(modal: Modal) -> discord.ui.Modal:
    """A ``discord.ui.Modal`` for the core's ``Modal`` (finished: the submit is routed by its
    ``custom_id``, ``sl:<submit command>``, on whichever process gets it)."""
    form = discord.ui.Modal(title=modal.title[:MAX_MODAL_TITLE], custom_id=f"{PREFIX}{modal.command}"[:MAX_CUSTOM_ID])
    for f in modal.fields[:5]:
        form.add_item(discord.ui.TextInput(label=f.label[:MAX_INPUT_LABEL], custom_id=f.key,
                                           placeholder=f.placeholder[:100] or None, required=f.required,
                                           min_length=f.min_length or None, max_length=f.max_length))
    form.stop()
    return form


def modal_values(data: dict[str, Any]) -> list[str]:
    """The text values of a modal submit, in the order of its fields (rows or labels)."""
    out: list[str] = []

    def walk(comp: dict[str, Any]) -> None:
        if "value" in comp and comp.get("type") == 4:
            out.append(str(comp.get("value") or ""))
            return
        for child in comp.get("components") or []:
            walk(child)
        if isinstance(comp.get("component"), dict):
            walk(comp["component"])

    for top in data.get("components") or []:
        walk(top)
    return out


@dataclass(slots=True)
class Message:
    """One Discord message to send: text, an optional view and an optional file."""

    content: str
    view: discord.ui.View | None = None
    png: bytes | None = None
    filename: str = "image.png"
    private: bool = False

    def kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"content": self.content or None, "allowed_mentions": NO_MENTIONS}
        if self.view is not None:
            kw["view"] = self.view
        if self.png is not None:
            kw["file"] = discord.File(io.BytesIO(self.png), filename=self.filename)
        return kw


def messages_for(reply: Reply) -> list[Message]:
    """The messages one reply becomes: the picture on the first, the buttons on the last."""
    chunks = split_text(reply.text or "")
    view = build_view(reply)
    if not chunks and (view is not None or reply.image is None):
        chunks = ["…"] if view is not None else []
    if not chunks and reply.image is not None:
        chunks = [""]
    out = [Message(c, private=reply.private) for c in chunks]
    if not out:
        return []
    if reply.image is not None:
        out[0].png, out[0].filename = reply.image.png, reply.image.filename
    out[-1].view = view
    return out
