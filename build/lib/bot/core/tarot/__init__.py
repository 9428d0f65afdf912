"""Tarot readings: a 78-card deck, five spreads, deterministic draws and engine-written text.

Usage::

    engine = TarotEngine.load()
    reading = engine.draw(user_key, day, "celtic", question, "ko")
    text = engine.render_text(reading)  # chat text
    fallback = engine.static_interpretation(reading)  # the AI chain's static fallback
    png = render_spread_png(reading)  # bot.core.tarot.picture (Pillow)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.core.tarot.engine import MAX_QUESTION_CHARS, TarotEngine, normalize_question
from bot.core.tarot.model import (
    Card,
    ContentError,
    DrawnCard,
    Position,
    QuestionTooLong,
    Reading,
    Spread,
    TarotError,
    UnknownSpread,
)

if TYPE_CHECKING:
    from bot.core.tarot.picture import render_spread_png

__all__ = [
    "MAX_QUESTION_CHARS",
    "Card",
    "ContentError",
    "DrawnCard",
    "Position",
    "QuestionTooLong",
    "Reading",
    "Spread",
    "TarotEngine",
    "TarotError",
    "UnknownSpread",
    "normalize_question",
    "render_spread_png",
]


def __getattr__(name: str) -> Any:
    # Pillow is imported only when a picture is wanted.
    if name == "render_spread_png":
        from bot.core.tarot.picture import render_spread_png

        return render_spread_png
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
