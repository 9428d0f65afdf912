"""Filling phrase templates: ``{name}`` values and Korean particles (``{name|이/가}``)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.core.grammar import final_sound
from bot.core.tarot.loader import PLACEHOLDER_RE

__all__ = ["fill", "particle"]


def particle(word: str, after_consonant: str, after_vowel: str) -> str:
    """The Korean particle that follows ``word``: 은/는, 이/가, 을/를, 으로/로, 이에요/예요 …

    The reading rules are :func:`bot.core.grammar.final_sound`'s (digits by their Korean
    reading, Latin words by their final letters). Card, suit, element and position names are
    always readable; for an unreadable value (only user text could be one, and the phrases
    put no particle after user text) the vowel form is used.
    """
    final = final_sound(word)
    if final is None or final == "vowel":
        return after_vowel
    if final == "rieul" and after_consonant == "으로":
        return after_vowel
    return after_consonant


def _opens_sentence(template: str, at: int) -> bool:
    before = template[:at].rstrip()
    return not before or before[-1] in ".!?"


def fill(template: str, values: Mapping[str, object]) -> str:
    """Replace ``{name}`` with ``values[name]`` and ``{name|A/B}`` with the fitting particle.

    A value that opens a sentence starts with a capital letter ("the Six of Swords" →
    "The Six of Swords …"); Hangul is unaffected.
    """

    def sub(m: re.Match[str]) -> str:
        value = str(values[m.group(1)])
        if m.group(2) is None:
            if value[:1].islower() and _opens_sentence(template, m.start()):
                return value[:1].upper() + value[1:]
            return value
        return particle(value, m.group(2), m.group(3))

    return PLACEHOLDER_RE.sub(sub, template)
