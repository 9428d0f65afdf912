"""Daily fortune (운세): deterministic engine, validated bilingual content, chat rendering.

    engine = FortuneEngine.load()                       # validated + cached content
    f = engine.daily("tg:123", date(1990, 5, 17), date.today(), "ko", focus=("love",))
    text = engine.render_summary(f)                     # or render_summary(f)
    week = engine.weekly_outlook("tg:123", date(1990, 5, 17), monday, "en")

Compatibility (궁합) lives in :mod:`bot.core.chemistry`; sun signs and zodiac animals in
:mod:`bot.core.zodiac`.
"""

from __future__ import annotations

from bot.core.fortune.engine import (
    SCORE_MAX,
    SCORE_MIN,
    Fortune,
    FortuneDetails,
    FortuneEngine,
    WeeklyOutlook,
    score_tier,
)
from bot.core.fortune.loader import FOCUS_THEMES, THEMES, ContentError, load_content

__all__ = [
    "FOCUS_THEMES",
    "SCORE_MAX",
    "SCORE_MIN",
    "THEMES",
    "ContentError",
    "Fortune",
    "FortuneDetails",
    "FortuneEngine",
    "WeeklyOutlook",
    "load_content",
    "render_details",
    "render_summary",
    "render_weekly",
    "score_tier",
]


def _engine_for(lang: str | None, obj_lang: str) -> FortuneEngine:
    if lang is not None and lang != obj_lang:
        raise ValueError(f"object was built in {obj_lang!r}; build it again with lang={lang!r} to render it")
    return FortuneEngine.load()


def render_summary(fortune: Fortune, lang: str | None = None) -> str:
    """Chat text for today's fortune (score, rank line, theme, one-liner, summary, lucky items)."""
    return _engine_for(lang, fortune.lang).render_summary(fortune)


def render_details(fortune: Fortune, lang: str | None = None) -> str:
    """Chat text for the details (money, love, health, caution, helper, tomorrow)."""
    return _engine_for(lang, fortune.lang).render_details(fortune)


def render_weekly(outlook: WeeklyOutlook, lang: str | None = None) -> str:
    """Chat text for the weekly outlook."""
    return _engine_for(lang, outlook.lang).render_weekly(outlook)
