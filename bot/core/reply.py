"""The platform-neutral reply every adapter renders.

The core never talks to a platform: it returns ``Reply`` objects and adapters turn them
into Telegram messages, Discord messages or console lines. A button carries the command
text it stands for, so pressing it is the same as typing that command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.core.errors import ErrorCode

__all__ = ["Button", "Image", "Invoice", "Reply", "MAX_BUTTON_DATA_BYTES"]

#: Telegram's callback_data limit; the router keeps every button's command within it.
MAX_BUTTON_DATA_BYTES = 64


@dataclass(frozen=True, slots=True)
class Button:
    """A choice. ``command`` is sent back as if the user typed it; ``url`` opens a link instead."""

    label: str
    command: str = ""
    url: str | None = None

    def __post_init__(self) -> None:
        if not self.url and len(self.command.encode("utf-8")) > MAX_BUTTON_DATA_BYTES:
            raise ValueError(f"button command over {MAX_BUTTON_DATA_BYTES} bytes: {self.command!r}")


@dataclass(frozen=True, slots=True)
class Image:
    """A picture to send with the reply (PNG bytes)."""

    png: bytes
    filename: str = "image.png"
    alt: str = ""


@dataclass(frozen=True, slots=True)
class Invoice:
    """A payment request (Telegram Stars). Built by the core from configuration only."""

    pack_id: str
    title: str
    description: str
    payload: str
    currency: str
    amount: int


@dataclass(slots=True)
class Reply:
    """One message to the user.

    ``private`` marks personal content (profile, credits, readings from birth data): in a
    group chat adapters must not post it there but point the user to a private chat.
    ``error`` is set when the reply reports an error code (for logs, metrics and HTTP).
    """

    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    image: Image | None = None
    error: ErrorCode | None = None
    private: bool = False
    invoice: Invoice | None = None

    def all_buttons(self) -> list[Button]:
        return [b for row in self.buttons for b in row]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe form for the durable outbox (images and invoices are not stored there)."""
        if self.image is not None or self.invoice is not None:
            raise ValueError("replies with an image or invoice are not serialisable")
        out: dict[str, Any] = {"text": self.text}
        if self.buttons:
            out["buttons"] = [[[b.label, b.command, b.url] for b in row] for row in self.buttons]
        if self.private:
            out["private"] = True
        if self.error is not None:
            out["error"] = self.error.value
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reply:
        from bot.core.errors import ErrorCode

        buttons = [[Button(label, command, url) for label, command, url in row] for row in d.get("buttons", [])]
        error = ErrorCode(d["error"]) if d.get("error") else None
        return cls(d["text"], buttons=buttons, private=bool(d.get("private")), error=error)
