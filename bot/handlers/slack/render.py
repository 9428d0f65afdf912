"""``Reply`` -> Slack message parts (pure functions, no I/O).

- Text goes into ``plain_text`` section blocks (Slack shows it exactly as the core wrote it:
  no mrkdwn surprises from ``_`` or ``*`` in metric names and ids), cut at line boundaries
  into sections of at most 3,000 characters (Slack's limit); the top-level ``text`` (used by
  notifications and screen readers) is the same text, escaped for mrkdwn and cut to 3,000.
- Each row of ``Reply.buttons`` becomes one ``actions`` block; a button's ``value`` is its
  command (``/ops confirm <token>``), its ``action_id`` is ``ops_btn_<row>_<col>`` (unique in
  the message, as Slack requires); link buttons get ``ops_url_…`` and open their URL.
  ``/ops confirm …`` and ``/ops ack …`` buttons are styled primary, ``/ops cancel …`` danger;
  every other button keeps Slack's default look.
- Images cannot travel in a message body or a response URL: the adapter uploads them with
  ``files_upload_v2``.
"""

from __future__ import annotations

from typing import Any

from bot.core.reply import Reply

__all__ = ["blocks_for", "fallback_text", "escape", "split_text", "BUTTON_PREFIX", "LINK_PREFIX",
           "SECTION_LIMIT", "command_of"]

SECTION_LIMIT = 3000
BUTTON_LABEL_LIMIT = 75
MAX_ACTIONS_ELEMENTS = 25
MAX_BLOCKS = 50
BUTTON_PREFIX = "ops_btn_"
LINK_PREFIX = "ops_url_"
_PRIMARY = ("confirm", "ack")
_DANGER = ("cancel",)


def escape(text: str) -> str:
    """Slack's mrkdwn control characters (``&``, ``<``, ``>``) as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut at line ends where possible."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:  # one very long line: hard cut
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        pieces.append(current)
    return [p for p in pieces if p.strip()]


def fallback_text(reply: Reply, limit: int = SECTION_LIMIT) -> str:
    text = reply.text.strip() or (reply.image.alt if reply.image else "") or "…"
    text = escape(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _style(command: str) -> str | None:
    words = command.split()
    verb = words[1] if len(words) > 1 and words[0] == "/ops" else ""
    if verb in _PRIMARY:
        return "primary"
    if verb in _DANGER:
        return "danger"
    return None


def blocks_for(reply: Reply) -> list[dict[str, Any]]:
    """Block Kit blocks for ``reply`` (text sections, then one actions block per button row)."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "plain_text", "text": piece, "emoji": True}}
        for piece in split_text(reply.text)
    ]
    for r, row in enumerate(reply.buttons):
        elements: list[dict[str, Any]] = []
        for c, button in enumerate(row[:MAX_ACTIONS_ELEMENTS]):
            label = button.label.strip() or button.command or "…"
            if len(label) > BUTTON_LABEL_LIMIT:
                label = label[: BUTTON_LABEL_LIMIT - 1] + "…"
            element: dict[str, Any] = {"type": "button", "text": {"type": "plain_text", "text": label, "emoji": True}}
            if button.url:
                element.update(action_id=f"{LINK_PREFIX}{r}_{c}", url=button.url)
            else:
                element.update(action_id=f"{BUTTON_PREFIX}{r}_{c}", value=button.command)
                style = _style(button.command)
                if style:
                    element["style"] = style
            elements.append(element)
        if elements:
            blocks.append({"type": "actions", "block_id": f"ops_row_{r}", "elements": elements})
    if len(blocks) > MAX_BLOCKS:  # extremely long text: keep the first sections and every button row
        actions = [b for b in blocks if b["type"] == "actions"]
        sections = [b for b in blocks if b["type"] != "actions"][: MAX_BLOCKS - len(actions) - 1]
        sections.append({"type": "context", "elements": [{"type": "plain_text", "text": "…"}]})
        blocks = sections + actions
    return blocks


def command_of(value: str) -> str | None:
    """The ops command text a pressed button stands for (``/ops confirm x`` -> ``confirm x``)."""
    value = value.strip()
    if value == "/ops":
        return ""
    if value.startswith("/ops "):
        return value[5:].strip()
    return None
