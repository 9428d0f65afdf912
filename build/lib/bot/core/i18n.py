"""Localised user-facing text.

Messages live in YAML files under ``bot/core/locales/`` as ``key: {ko: ..., en: ...}``.
Feature packages may ship their own catalogue file there (one file per feature keeps
edits apart); every file is merged at load and a key missing a language, or defined
twice, stops start-up with a clear message.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Literal, cast

import yaml

__all__ = ["Lang", "LANGS", "DEFAULT_LANG", "t", "normalize_lang", "catalogue", "CatalogueError"]

Lang = Literal["ko", "en"]
LANGS: tuple[Lang, ...] = ("ko", "en")
DEFAULT_LANG: Lang = "ko"


class CatalogueError(RuntimeError):
    """A message catalogue is malformed; raised at start-up."""


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
        data = yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise CatalogueError(f"{entry.name}: top level must be a mapping")
        for key, value in data.items():
            if key in merged:
                raise CatalogueError(f"message {key!r} defined in both {origin[key]} and {entry.name}")
            if not isinstance(value, dict) or set(value) != set(LANGS):
                raise CatalogueError(f"{entry.name}: message {key!r} must have exactly ko and en")
            merged[key] = {lang: str(value[lang]).rstrip("\n") for lang in LANGS}
            origin[key] = entry.name
    return merged


def t(lang: str, key: str, /, **params: object) -> str:
    """The message ``key`` in ``lang`` with ``{params}`` filled in."""
    entry = catalogue().get(key)
    if entry is None:
        raise KeyError(f"unknown message key {key!r}")
    text = entry[cast(Lang, lang) if lang in LANGS else DEFAULT_LANG]
    return text.format(**params) if params else text
