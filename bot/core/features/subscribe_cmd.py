"""/subscribe [HH:MM] and /unsubscribe: the daily fortune pushed at the user's local time."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from bot.core.broadcast import Subscription, parse_hhmm
from bot.core.clock import local_day
from bot.core.errors import BotError, ErrorCode
from bot.core.reply import Button, Reply
from bot.core.router import Ctx, SlashOption

if TYPE_CHECKING:
    from bot.core.router import Router

__all__ = ["register"]


def _when(ctx: Ctx, sub: Subscription) -> str:
    local = sub.next_local()
    today = local_day(ctx.core.clock, sub.tz)
    time = local.strftime("%H:%M")
    if local.date() == today:
        return ctx.t("broadcast.when_today", time=time)
    if local.date() == today + timedelta(days=1):
        return ctx.t("broadcast.when_tomorrow", time=time)
    return ctx.t("broadcast.when_date", date=local.date().isoformat(), time=time)


def register(router: Router) -> None:
    core = router.core
    subs = core.subscriptions

    @router.command("subscribe", help_key="help.subscribe", aliases=("구독",), description_key="cmd.subscribe",
                    options=(SlashOption("time", "cmd.subscribe.time", max_length=8),))
    async def subscribe(ctx: Ctx) -> Reply:
        p = ctx.profile
        assert p is not None
        default = ctx.core.settings.product.broadcast.default_time
        arg = ctx.args.strip()
        buttons = [[Button(ctx.t("broadcast.unsubscribe_button"), "/unsubscribe")]]
        if not arg:
            current = await subs.get(ctx.uid, p.tz)
            if current is not None:
                return ctx.reply("broadcast.already", buttons=buttons, time=current.hhmm, tz=p.tz,
                                 first=_when(ctx, current))
        hhmm = parse_hhmm(arg) if arg else parse_hhmm(default)
        if hhmm is None:
            raise BotError(ErrorCode.VALIDATION_ERROR, "broadcast.bad_time",
                           usage=ctx.t("broadcast.usage", default=default))
        sub = await subs.subscribe(ctx.uid, hhmm, p.tz, platform=ctx.event.platform)
        return ctx.reply("broadcast.subscribed", buttons=buttons, time=hhmm, tz=p.tz, first=_when(ctx, sub))

    @router.command("unsubscribe", needs_profile=False, help_key="help.unsubscribe", aliases=("구독취소",),
                    description_key="cmd.unsubscribe")
    async def unsubscribe(ctx: Ctx) -> Reply:
        tz = ctx.profile.tz if ctx.profile else ctx.core.settings.product.profile.default_timezone
        if await subs.unsubscribe(ctx.uid, tz):
            return ctx.reply("broadcast.unsubscribed")
        return ctx.reply("broadcast.not_subscribed")
