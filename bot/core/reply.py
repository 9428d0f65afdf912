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

__all__ = ["Button", "Image", "Invoice", "Modal", "ModalField", "Reply", "modal_submit_text", "MAX_BUTTON_DATA_BYTES"]

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


@dataclass(frozen=True, slots=True)
class ModalField:
    """One text input of a ``Modal``: ``key`` names the value, ``label`` is shown above it."""

    key: str
    label: str
    placeholder: str = ""
    required: bool = True
    min_length: int = 0
    max_length: int = 100


@dataclass(frozen=True, slots=True)
class Modal:
    """A small form (Discord's modal) that a platform may open instead of asking step by step.

    ``open_command`` is the button command that opens it (an adapter that supports modals
    answers that command with the form itself, before touching any state); the submitted
    values become ``submit_text(values)``: ``command`` followed by the values in field order,
    joined by ``|`` (a ``|`` inside a value is dropped), e.g. ``/setup form 1990-05-17||UTC``.
    Platforms without modals ignore it and keep the reply's text, which asks for the same
    thing in words.
    """

    title: str
    fields: tuple[ModalField, ...]
    command: str
    open_command: str
    button_label: str

    def submit_text(self, values: dict[str, str]) -> str:
        return modal_submit_text(self.command, [values.get(f.key, "") for f in self.fields])


def modal_submit_text(command: str, values: list[str]) -> str:
    """What a submitted modal becomes: ``command`` and the values in field order joined by
    ``|`` (whitespace collapsed, ``|`` inside a value dropped)."""
    parts = [" ".join(str(v).replace("|", " ").split()) for v in values]
    return f"{command} {'|'.join(parts)}"


@dataclass(slots=True)
class Reply:
    """One message to the user.

    ``private`` marks personal content (profile, credits, readings from birth data): in a
    group chat adapters must not post it there but point the user to a private chat.
    ``error`` is set when the reply reports an error code (for logs, metrics and HTTP).
    ``modal`` offers a form for what the text asks (adapters with modals show a button that
    opens it; the others ignore it).
    """

    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    image: Image | None = None
    error: ErrorCode | None = None
    private: bool = False
    invoice: Invoice | None = None
    modal: Modal | None = None

    def all_buttons(self) -> list[Button]:
        return [b for row in self.buttons for b in row]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe form for the durable outbox (images, invoices and modals are not stored there)."""
        if self.image is not None or self.invoice is not None or self.modal is not None:
            raise ValueError("replies with an image, invoice or modal are not serialisable")
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
