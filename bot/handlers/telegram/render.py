"""Core ``Reply`` → Telegram messages. Plain text only (no parse mode), so no user or core
text can ever be read as markup; buttons become inline keyboards; long text is split.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, LabeledPrice, LinkPreviewOptions

from bot.core.reply import MAX_BUTTON_DATA_BYTES, Button, Reply

if TYPE_CHECKING:
    from telegram import Bot

__all__ = ["MAX_TEXT", "MAX_CAPTION", "split_text", "keyboard", "keyboard_json", "Renderer", "utf16_len",
           "DirectSend"]

#: ``(method, params, rate_limit_args)`` → Telegram's result: a paced JSON call outside PTB.
DirectSend = Callable[[str, dict[str, Any], dict[str, Any] | None], Awaitable[Any]]

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_INVOICE_TITLE = 32
MAX_INVOICE_DESCRIPTION = 255
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def utf16_len(text: str) -> int:
    """Telegram counts message length in UTF-16 code units (an emoji may count as 2)."""
    return len(text.encode("utf-16-le")) // 2


def _cut(text: str, limit: int) -> tuple[str, str]:
    """Split ``text`` into a head of at most ``limit`` UTF-16 units and the rest.

    Prefers the last line break, then the last space; never splits a surrogate pair.
    """
    units = 0
    end = 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            break
        end = i + 1
    head = text[:end]
    for sep in ("\n", " "):
        pos = head.rfind(sep)
        if pos > 0:
            return head[:pos], text[pos + 1:]
    return head, text[end:]


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Chunks of at most ``limit`` UTF-16 units, cut at line breaks where possible."""
    text = text.strip("\n")
    chunks: list[str] = []
    while utf16_len(text) > limit:
        head, text = _cut(text, limit)
        head = head.rstrip()
        if head:
            chunks.append(head)
        text = text.lstrip("\n")
    if text.strip():
        chunks.append(text)
    return chunks


def _button(b: Button) -> InlineKeyboardButton | None:
    if b.url:
        return InlineKeyboardButton(b.label, url=b.url)
    if b.command and len(b.command.encode("utf-8")) <= MAX_BUTTON_DATA_BYTES:
        return InlineKeyboardButton(b.label, callback_data=b.command)
    return None


def keyboard(rows: list[list[Button]]) -> InlineKeyboardMarkup | None:
    out = [[ib for ib in (_button(b) for b in row) if ib is not None] for row in rows]
    out = [row for row in out if row]
    return InlineKeyboardMarkup(out) if out else None


def keyboard_json(rows: list[list[Button]]) -> dict[str, Any] | None:
    """``keyboard`` as the Bot API's JSON (``reply_markup``), without PTB objects."""
    out = []
    for row in rows:
        cells = []
        for b in row:
            if b.url:
                cells.append({"text": b.label, "url": b.url})
            elif b.command and len(b.command.encode("utf-8")) <= MAX_BUTTON_DATA_BYTES:
                cells.append({"text": b.label, "callback_data": b.command})
        if cells:
            out.append(cells)
    return {"inline_keyboard": out} if out else None


class Renderer:
    """Sends one ``Reply`` to one chat through a PTB ``Bot`` (paced by its rate limiter).

    With ``direct`` (the aiohttp transport), text messages — nearly every reply — skip PTB's
    request objects: the JSON body is built here and sent by ``direct``, paced by the same
    limiter; photos and invoices still go through PTB."""

    def __init__(self, bot: Bot, direct: DirectSend | None = None) -> None:
        self.bot = bot
        self.direct = direct

    async def send(self, chat_id: int | str, reply: Reply, rate_limit_args: dict[str, Any] | None = None) -> None:
        text = reply.text or ""
        if self.direct is not None and reply.invoice is None and reply.image is None:
            markup_json = keyboard_json(reply.buttons) if reply.buttons else None
            chunks = split_text(text) or (["…"] if markup_json else [])
            for i, chunk in enumerate(chunks):
                params: dict[str, Any] = {"chat_id": chat_id, "text": chunk, "link_preview_options": {"is_disabled": True}}
                if markup_json is not None and i == len(chunks) - 1:
                    params["reply_markup"] = markup_json
                await self.direct("sendMessage", params, rate_limit_args)
            return
        markup = keyboard(reply.buttons)
        if reply.invoice is not None:
            await self._invoice(chat_id, reply, markup)
            return
        rl = {"rate_limit_args": rate_limit_args} if rate_limit_args is not None else {}
        if reply.image is not None:
            photo = InputFile(reply.image.png, filename=reply.image.filename)
            if utf16_len(text) <= MAX_CAPTION:
                await self.bot.send_photo(chat_id, photo, caption=text or None, reply_markup=markup, **rl)
                return
            await self.bot.send_photo(chat_id, photo, **rl)
        chunks = split_text(text) or (["…"] if markup else [])
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            await self._text(chat_id, chunk, markup if last else None, rate_limit_args)

    async def _text(self, chat_id: int | str, text: str, markup: InlineKeyboardMarkup | None,
                    rate_limit_args: dict[str, Any] | None) -> None:
        """``sendMessage`` through PTB's own request path (``Bot._post``: defaults, the rate
        limiter, the transport, PTB's error mapping), without building a ``Message`` from the
        answer: nothing reads it, and building it was a tenth of the CPU of a reply."""
        data: dict[str, Any] = {"chat_id": chat_id, "text": text, "link_preview_options": _NO_PREVIEW}
        if markup is not None:
            data["reply_markup"] = markup
        merge = getattr(self.bot, "_merge_api_rl_kwargs", None)  # ExtBot: rate-limit args ride along
        post = getattr(self.bot, "_post", None)
        if merge is None or post is None:  # not PTB's ExtBot: the public call
            rl = {"rate_limit_args": rate_limit_args} if rate_limit_args is not None else {}
            await self.bot.send_message(chat_id, text, reply_markup=markup, link_preview_options=_NO_PREVIEW, **rl)
            return
        await post("sendMessage", data, api_kwargs=merge(None, rate_limit_args))

    async def _invoice(self, chat_id: int | str, reply: Reply, markup: InlineKeyboardMarkup | None) -> None:
        inv = reply.invoice
        assert inv is not None
        title = inv.title[:MAX_INVOICE_TITLE] or inv.pack_id
        await self.bot.send_invoice(
            chat_id,
            title=title,
            description=(inv.description or title)[:MAX_INVOICE_DESCRIPTION],
            payload=inv.payload,
            currency=inv.currency,
            prices=[LabeledPrice(title, inv.amount)],
            provider_token="",
        )
        if reply.text and reply.text != inv.title:
            for chunk in split_text(reply.text):
                await self.bot.send_message(chat_id, chunk, reply_markup=markup)
