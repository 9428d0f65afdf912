"""Localised user-facing text.

Messages live in YAML files under ``bot/core/locales/`` as ``key: {ko: ..., en: ...}``.
Feature packages may ship their own catalogue file there (one file per feature keeps
edits apart); every file is merged at load and a key missing a language, or defined
twice, stops start-up with a clear message.

Grammar slots (rules in :mod:`bot.core.grammar`, usage in docs/DEVELOPING.md):

* ``ko``: ``{name|은}`` inserts the particle that fits the value of ``name`` — only the
  particle, so the template says ``'{name}'{name|은}`` (either form names the pair:
  ``{name|는}`` is the same slot) — 은/는, 이/가, 을/를, 과/와, 으로/로,
  이에요/예요, 이었어요/였어요, 이라는/라는, 이라고/라고, 이나/나, 이랑/랑, 이든/든.
  When a value's reading cannot be told (emoji, symbols, other scripts), the message's
  optional ``ko_neutral`` text is used instead (write it so no particle follows a value);
  without one, the vowel form is used. Never "은(는)".
* ``en``: ``{count|credit}`` inserts "1 credit" / "5 credits" (the count and the noun);
  ``{count|person|people}`` names an irregular plural.

Slots are parsed once per template and checked at load (an unknown particle in ``ko`` or a
non-noun in ``en`` stops start-up).
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Literal, cast


from bot.core.yamlload import safe_load

from bot.core import grammar

__all__ = ["Lang", "LANGS", "DEFAULT_LANG", "NEUTRAL", "SLOT_RE", "t", "render", "normalize_lang", "catalogue", "CatalogueError"]

Lang = Literal["ko", "en"]
LANGS: tuple[Lang, ...] = ("ko", "en")
DEFAULT_LANG: Lang = "ko"


class CatalogueError(RuntimeError):
    """A message catalogue is malformed; raised at start-up."""


#: ``{name|word}`` or ``{name|word|plural}``: a grammar slot (a particle in ko, a counted noun in en).
SLOT_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\|([^{}|]+)(?:\|([^{}|]+))?\}")
_NOUN_RE = re.compile(r"^[A-Za-z][A-Za-z' -]*$")
#: Optional per-message field: the Korean text used when a particle's value is undecidable.
NEUTRAL = "ko_neutral"


def _check_slots(fname: str, key: str, lang: str, text: str) -> None:
    for m in SLOT_RE.finditer(text):
        word, extra = m.group(2), m.group(3)
        if lang == "en":
            if not _NOUN_RE.match(word) or (extra is not None and not _NOUN_RE.match(extra)):
                raise CatalogueError(f"{fname}: message {key!r} ({lang}): {m.group(0)!r} is not a counted noun")
        elif extra is not None or not grammar.is_particle(word):
            raise CatalogueError(f"{fname}: message {key!r} ({lang}): {m.group(0)!r} is not a Korean particle slot")


def normalize_lang(code: str | None) -> Lang:
    """Map a platform language code (``en-US``, ``ko``, None) to a supported language."""
    if code and code.lower().startswith("en"):
        return "en"
    if code and code.lower().startswith("ko"):
        return "ko"
    return DEFAULT_LANG


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    """Load and validate every ``locales/*.yaml`` file once."""
    merged: dict[str, dict[str, str]] = {}
    origin: dict[str, str] = {}
    root = resources.files("bot.core").joinpath("locales")
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".yaml"):
            continue
        data = safe_load(entry.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise CatalogueError(f"{entry.name}: top level must be a mapping")
        for key, value in data.items():
            if key in merged:
                raise CatalogueError(f"message {key!r} defined in both {origin[key]} and {entry.name}")
            if not isinstance(value, dict) or not set(LANGS) <= set(value) <= {*LANGS, NEUTRAL}:
                raise CatalogueError(f"{entry.name}: message {key!r} must have exactly ko and en (and optionally {NEUTRAL})")
            texts: dict[str, str] = {lang: str(value[lang]).rstrip("\n") for lang in LANGS}
            if NEUTRAL in value:
                texts[NEUTRAL] = str(value[NEUTRAL]).rstrip("\n")
                if SLOT_RE.search(texts[NEUTRAL]):
                    raise CatalogueError(f"{entry.name}: message {key!r}: {NEUTRAL} must not use particle slots")
            for lang, text in texts.items():
                _check_slots(entry.name, key, "ko" if lang == NEUTRAL else lang, text)
            merged[key] = texts
            origin[key] = entry.name
    return merged


class _Undecidable(Exception):
    """A particle slot's value has no known reading (the neutral text is used)."""


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def render(template: str, lang: str, params: dict[str, object], *, strict: bool = False) -> str:
    """Fill ``template``'s grammar slots and ``{params}``.

    ``strict``: raise :class:`_Undecidable` for a particle whose value cannot be read
    (the caller then falls back to the neutral text); otherwise the vowel form is used.
    """
    if "|" in template:

        def slot(m: re.Match[str]) -> str:
            name, word, extra = m.group(1), m.group(2), m.group(3)
            value = params[name]
            if lang == "en":
                return _escape(grammar.count_noun(value, word, extra))
            shown = str(value)
            p = grammar.particle(shown, word)
            if p is None:
                if strict:
                    raise _Undecidable(name)
                p = grammar.PARTICLES[word][1]
            return p

        template = SLOT_RE.sub(slot, template)
    return template.format(**params) if params else template


def t(lang: str, key: str, /, **params: object) -> str:
    """The message ``key`` in ``lang`` with ``{params}`` (and grammar slots) filled in."""
    entry = catalogue().get(key)
    if entry is None:
        raise KeyError(f"unknown message key {key!r}")
    code = cast(Lang, lang) if lang in LANGS else DEFAULT_LANG
    text = entry[code]
    if not params:
        return text
    if code == "ko" and NEUTRAL in entry:
        try:
            return render(text, code, params, strict=True)
        except _Undecidable:
            return render(entry[NEUTRAL], code, params)
    return render(text, code, params)
