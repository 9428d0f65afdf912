"""Filling phrase templates: ``{name}`` values and Korean particles (``{name|이/가}``)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.core.tarot.loader import PLACEHOLDER_RE

__all__ = ["fill", "particle"]

_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3
_RIEUL = 8  # final consonant index of ㄹ
# How a final digit is read in Sino-Korean: final consonant index (0 = none).
# 0 영(ㅇ) 1 일(ㄹ) 2 이 3 삼(ㅁ) 4 사 5 오 6 육(ㄱ) 7 칠(ㄹ) 8 팔(ㄹ) 9 구; "10" is 십(ㅂ).
_DIGIT_FINAL = {
    "0": 21,
    "1": _RIEUL,
    "2": 0,
    "3": 16,
    "4": 0,
    "5": 0,
    "6": 1,
    "7": _RIEUL,
    "8": _RIEUL,
    "9": 0,
}
_SKIP = set(" \t\n'\"“”‘’()[]{}<>.,!?…·-~")


def _final_consonant(word: str) -> int | None:
    """The final consonant index of the last pronounced character (0 = vowel), None if unknown."""
    for ch in reversed(word):
        if ch in _SKIP:
            continue
        code = ord(ch)
        if _HANGUL_FIRST <= code <= _HANGUL_LAST:
            return (code - _HANGUL_FIRST) % 28
        if ch in _DIGIT_FINAL:
            return _DIGIT_FINAL[ch]
        return None
    return None


def particle(word: str, after_consonant: str, after_vowel: str) -> str:
    """The Korean particle that follows ``word``: 은/는, 이/가, 을/를, 으로/로, 이에요/예요 …"""
    final = _final_consonant(word)
    if final is None:
        # Unknown reading (e.g. Latin letters): the vowel form reads most naturally.
        return after_vowel
    if final == 0:
        return after_vowel
    if final == _RIEUL and after_consonant == "으로":
        return after_vowel
    return after_consonant


def fill(template: str, values: Mapping[str, object]) -> str:
    """Replace ``{name}`` with ``values[name]`` and ``{name|A/B}`` with the fitting particle."""

    def sub(m: re.Match[str]) -> str:
        value = str(values[m.group(1)])
        if m.group(2) is None:
            return value
        return particle(value, m.group(2), m.group(3))

    return PLACEHOLDER_RE.sub(sub, template)
