"""The pushed daily message: today's fortune summary in the user's language, with buttons."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from bot.core.fortune import FortuneEngine
from bot.core.i18n import t
from bot.core.reply import Button, Reply
from bot.core.accounts import key_entry, track_in
from bot.core.saju.newyear import newyear_target
from bot.core.saju.user import fortune_chart
from bot.core.store import K, redis_guard

if TYPE_CHECKING:
    from bot.core.profiles import Profile
    from bot.core.service import Core

__all__ = ["daily_message", "newyear_hint_due"]


async def newyear_hint_due(core: Core, uid: str, day: date) -> int | None:
    """The year to point to /newyear for, once per account and year, in the season month
    (December by default); None otherwise. One ``SET NX`` (registered for erasure first, same
    slot): the first push of the season claims it, so retries and other processes add no second
    line. A push claimed but then not delivered loses its line (it is a courtesy, not a charge).
    Redis down: raises ``ServiceUnavailable`` like the rest of the message."""
    season = core.settings.product.saju.newyear_season_month
    if day.month < season:
        return None
    year = newyear_target(day, season)
    key = K.newyear_hint(uid, year)
    ttl = 62 * 86400
    async with redis_guard("broadcast.newyear_hint"), core.store.redis.pipeline(transaction=False) as pipe:
        track_in(pipe, uid, [key_entry(key)], core.clock.now_ms() + ttl * 1000)
        pipe.set(key, "1", nx=True, ex=ttl)
        _, claimed = await pipe.execute()
    return year if claimed else None


async def daily_message(core: Core, profile: Profile, day: date, hhmm: str) -> Reply:
    """Summary of ``profile``'s fortune for local ``day`` (the same one ``/fortune`` shows)."""
    assert profile.birth is not None
    lang = profile.lang
    engine = FortuneEngine.load()
    f = engine.daily(profile.uid, profile.birth, day, lang, chart=fortune_chart(core, profile))
    parts = [t(lang, "broadcast.push_header"), engine.render_summary(f)]
    hint_year = await newyear_hint_due(core, profile.uid, day)
    if hint_year is not None:
        parts.append(t(lang, "newyear.hint", year=hint_year))
    parts.append(t(lang, "broadcast.push_footer", time=hhmm))
    text = "\n\n".join(parts)
    unlocked = bool(await core.store.redis.exists(K.unlock(profile.uid, "fortune_details", day.isoformat())))
    details = (t(lang, "broadcast.details_button_free") if unlocked
               else t(lang, "broadcast.details_button", cost=core.ledger.cost("fortune_details")))
    buttons = [
        [Button(details, "/fortune details"), Button(t(lang, "broadcast.tarot_button"), "/tarot single")],
        [Button(t(lang, "broadcast.unsubscribe_button"), "/unsubscribe")],
    ]
    return Reply(text, buttons=buttons, private=True)
