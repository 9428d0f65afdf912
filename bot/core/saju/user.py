"""A user's chart from their profile: birth date, optional birth time, read in the birth
time zone the user set in ``/profile`` (else the profile's zone). Pure and cached
(``chart_for``); no Redis."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.saju.chart import Chart, chart_for

if TYPE_CHECKING:
    from bot.core.profiles import Profile
    from bot.core.service import Core

__all__ = ["birth_zone", "fortune_chart", "user_chart"]


def birth_zone(profile: Profile) -> str:
    return profile.birth_tz or profile.tz


def user_chart(profile: Profile) -> Chart | None:
    """The chart, or None without a birth date (or one outside the 1900–2100 table)."""
    if profile.birth is None:
        return None
    try:
        return chart_for(profile.birth, profile.birth_time, birth_zone(profile))
    except ValueError:
        return None


def fortune_chart(core: Core, profile: Profile) -> Chart | None:
    """The chart the daily fortune takes as input (None when switched off in config)."""
    return user_chart(profile) if core.settings.product.saju.daily_fortune_uses_chart else None
