"""Value types and errors of the tarot engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from bot.core.i18n import Lang

__all__ = [
    "ELEMENTS",
    "SUITS",
    "SUIT_ELEMENT",
    "Arcana",
    "Card",
    "ContentError",
    "DrawnCard",
    "Element",
    "Position",
    "QuestionTooLong",
    "Reading",
    "Spread",
    "Suit",
    "TarotError",
    "Text",
    "UnknownSpread",
]

Arcana = Literal["major", "minor"]
Suit = Literal["wands", "cups", "swords", "pentacles"]
Element = Literal["fire", "water", "air", "earth"]

SUITS: tuple[Suit, ...] = ("wands", "cups", "swords", "pentacles")
ELEMENTS: tuple[Element, ...] = ("fire", "water", "air", "earth")
SUIT_ELEMENT: dict[str, str] = {"wands": "fire", "cups": "water", "swords": "air", "pentacles": "earth"}


class TarotError(Exception):
    """Base class of the tarot engine's errors."""


class ContentError(TarotError, RuntimeError):
    """A tarot data file is malformed; raised at start-up, naming the file and the entry."""


class UnknownSpread(TarotError, ValueError):
    """The spread name is not one of ``spreads`` (the caller reports VALIDATION_ERROR)."""

    def __init__(self, name: str, spreads: tuple[str, ...]) -> None:
        super().__init__(f"unknown spread {name!r}; choose one of: {', '.join(spreads)}")
        self.name = name
        self.spreads = spreads


class QuestionTooLong(TarotError, ValueError):
    """The (normalised) question is longer than the limit."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"question is {length} characters; the limit is {limit}")
        self.length = length
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Text:
    """A text in both languages."""

    ko: str
    en: str

    def __call__(self, lang: Lang) -> str:
        return self.ko if lang == "ko" else self.en


@dataclass(frozen=True, slots=True)
class Card:
    id: str
    arcana: Arcana
    suit: Suit | None
    number: int
    element: Element
    name: Text
    keywords_ko: tuple[str, ...]
    keywords_en: tuple[str, ...]
    reversed_keywords_ko: tuple[str, ...]
    reversed_keywords_en: tuple[str, ...]
    upright: Text
    reversed: Text
    advice: Text

    def keywords(self, lang: Lang, reversed: bool = False) -> tuple[str, ...]:
        """The card's keywords as drawn: a reversed card has its own (``reversed_keywords``)."""
        if reversed:
            return self.reversed_keywords_ko if lang == "ko" else self.reversed_keywords_en
        return self.keywords_ko if lang == "ko" else self.keywords_en

    def meaning(self, lang: Lang, reversed: bool) -> str:
        return (self.reversed if reversed else self.upright)(lang)

    @property
    def is_major(self) -> bool:
        return self.arcana == "major"


@dataclass(frozen=True, slots=True)
class Position:
    key: str
    name: Text
    hint: Text
    x: float
    y: float
    rotated: bool = False


@dataclass(frozen=True, slots=True)
class Spread:
    key: str
    name: Text
    positions: tuple[Position, ...]
    key_position: int  # index of the position the summary leans on (present / outcome)

    @property
    def size(self) -> int:
        return len(self.positions)


@dataclass(frozen=True, slots=True)
class DrawnCard:
    card_id: str
    position: int  # index into the spread's positions
    reversed: bool


@dataclass(frozen=True, slots=True)
class Reading:
    spread: str
    lang: Lang
    day: date
    question: str  # normalised: stripped, inner whitespace collapsed, casefolded ("" = none)
    cards: tuple[DrawnCard, ...]
    summary: str
    advice: str
    #: The question as the user wrote it (whitespace collapsed, case kept), for display only.
    shown_question: str = field(default="", compare=False)
