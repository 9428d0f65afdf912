"""The pushed daily message: today's fortune summary in the user's language, with buttons."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from bot.core.fortune import FortuneEngine
from bot.core.i18n import t
from bot.core.reply import Button, Reply
from bot.core.store import K

if TYPE_CHECKING:
    from bot.core.profiles import Profile
    from bot.core.service import Core

__all__ = ["daily_message"]


async def daily_message(core: Core, profile: Profile, day: date, hhmm: str) -> Reply:
    """Summary of ``profile``'s fortune for local ``day`` (the same one ``/fortune`` shows)."""
    assert profile.birth is not None
    lang = profile.lang
    engine = FortuneEngine.load()
    f = engine.daily(profile.uid, profile.birth, day, lang)
    text = "\n\n".join([t(lang, "broadcast.push_header"), engine.render_summary(f),
                        t(lang, "broadcast.push_footer", time=hhmm)])
    unlocked = bool(await core.store.redis.exists(K.unlock(profile.uid, "fortune_details", day.isoformat())))
    details = (t(lang, "broadcast.details_button_free") if unlocked
               else t(lang, "broadcast.details_button", cost=core.ledger.cost("fortune_details")))
    buttons = [
        [Button(details, "/fortune details"), Button(t(lang, "broadcast.tarot_button"), "/tarot single")],
        [Button(t(lang, "broadcast.unsubscribe_button"), "/unsubscribe")],
    ]
    return Reply(text, buttons=buttons, private=True)
