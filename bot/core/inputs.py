"""Rules for what people type: invisible characters, display names, clock times.

Pure functions, no I/O. The router cleans the text of every event with ``clean_text``
before it parses it, so no command, button or dialogue ever sees control characters,
zero-width or bidi-override characters; text that is empty once they are gone (``is_blank``)
is refused by the router before any hold or other state change.

* ``clean_text`` — drops control characters (Unicode Cc) except the newline (tabs become
  spaces, ``\\r\\n``/``\\r``/U+2028/U+2029 become ``\\n``), every format character (Cf:
  zero-width space, word joiner, BOM, soft hyphen, bidi controls U+200E/U+200F,
  U+202A–U+202E, U+2066–U+2069, ...), lone surrogates, and the blank "filler" letters
  (Hangul fillers, the blank braille pattern). Two format characters are kept only where
  they do visible work: ZWJ/ZWNJ between two visible characters (emoji sequences such as
  👩‍💻, scripts that need them) and emoji tag characters after 🏴 (subdivision flags).
* ``is_blank`` — nothing visible is left (whitespace, format characters, variation
  selectors and combining grapheme joiners do not count as content).
* ``clean_display_name`` — for names shown to other people: every Cc and Cf character
  goes (no exceptions), whitespace collapses to single spaces, at most ``NAME_MAX`` (32)
  characters; None when nothing is left.
* ``parse_hhmm`` — a clock time that says where the hours end: ``H:MM`` / ``HH:MM`` (the
  colon is required; a full-width colon is accepted) or the Korean ``H시 MM분`` / ``H시``.
  Bare digits such as ``240`` or ``0240`` are refused: 02:40 or 24:0? Nobody can tell.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["clean_text", "is_blank", "clean_display_name", "parse_hhmm", "NAME_MAX"]

#: Longest display name stored or shown (characters).
NAME_MAX = 32

_ZWNJ, _ZWJ = "\u200c", "\u200d"
_BLACK_FLAG = "\U0001f3f4"
#: Letters that render as nothing and are used to send "empty" messages.
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_NEWLINES = {"\r\n": "\n", "\r": "\n", "\u2028": "\n", "\u2029": "\n", "\x85": "\n"}
_NEWLINE_RE = re.compile("\r\n|[\r\u2028\u2029\x85]")
#: Marks that never count as content on their own: the combining grapheme joiner, variation
#: selectors (VS1-16 and the supplement VS17-256), and the other Default_Ignorable letters
#: (Khmer inherent vowels, Mongolian free variation selectors).
_NON_CONTENT = (frozenset("\u034f\u17b4\u17b5") | frozenset(chr(c) for c in range(0x180B, 0x1810))
                | frozenset(chr(c) for c in range(0xFE00, 0xFE10))
                | frozenset(chr(c) for c in range(0xE0100, 0xE01F0)))
#: Categories that are never text: controls, format, surrogates, unassigned code points.
_NOT_TEXT = ("Cc", "Cf", "Cs", "Cn")


def _is_tag(ch: str) -> bool:
    return 0xE0020 <= ord(ch) <= 0xE007F


def _visible(ch: str | None) -> bool:
    if ch is None or ch.isspace() or ch in _FILLERS:
        return False
    return unicodedata.category(ch) not in _NOT_TEXT and ch not in _NON_CONTENT


def clean_text(text: str | None) -> str:
    """``text`` without control, format and filler characters (see the module docstring)."""
    if not text:
        return ""
    text = _NEWLINE_RE.sub(lambda m: _NEWLINES[m.group(0)], text)
    out: list[str] = []
    n = len(text)
    for i, ch in enumerate(text):
        if ch == "\n":
            out.append(ch)
            continue
        if ch == "\t":
            out.append(" ")
            continue
        if ch in _FILLERS:
            continue
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cs", "Cn") or ch in _NON_CONTENT and not (out and _visible(out[-1])):
            continue  # a variation selector stays only after something it can modify
        if cat == "Cf":
            if ch in (_ZWJ, _ZWNJ):
                prev = out[-1] if out else None
                nxt = text[i + 1] if i + 1 < n else None
                if _visible(prev) and _visible(nxt):
                    out.append(ch)
            elif _is_tag(ch) and out and (out[-1] == _BLACK_FLAG or _is_tag(out[-1])):
                out.append(ch)
            continue
        out.append(ch)
    return "".join(out)


def is_blank(text: str | None) -> bool:
    """True when ``text`` has nothing visible once invisible characters are ignored."""
    if not text:
        return True
    for ch in text:
        if ch.isspace() or ch in _FILLERS or ch in _NON_CONTENT:
            continue
        if unicodedata.category(ch) in _NOT_TEXT:
            continue
        return False
    return True


def clean_display_name(name: str | None, limit: int = NAME_MAX) -> str | None:
    """A name safe to show to someone else: no Cc/Cf characters (bidi overrides, zero-width),
    single spaces, at most ``limit`` characters. None when nothing visible is left."""
    if not name:
        return None
    kept = [" " if ch.isspace() else ch for ch in clean_text(name)
            if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf")]
    collapsed = " ".join("".join(kept).split())
    if is_blank(collapsed):
        return None
    return collapsed[:limit].rstrip() or None


_HHMM_COLON = re.compile(r"^([01]?\d|2[0-3])\s*[:：]\s*([0-5]\d)$", re.ASCII)
_HHMM_KO = re.compile(r"^([01]?\d|2[0-3])\s*시(?:\s*([0-5]?\d)\s*분)?$", re.ASCII)


def parse_hhmm(text: str) -> str | None:
    """``"8:05"`` / ``"08:05"`` / ``"8시 5분"`` / ``"8시"`` -> ``"08:05"`` / ``"08:00"``; None for
    anything else, including bare digits (``"240"``, ``"0240"``) and impossible times."""
    value = clean_text(text).strip()
    m = _HHMM_COLON.match(value)
    if m:
        return f"{int(m.group(1)):02d}:{int(m.group(2)):02d}"
    m = _HHMM_KO.match(value)
    if m:
        return f"{int(m.group(1)):02d}:{int(m.group(2) or 0):02d}"
    return None
