"""``/daily`` check-in streaks and ``/top`` pairing leaderboard.

Rules live in ``bot/core/streaks.py`` (streak, grace, rewards) and ``bot/core/leaderboard.py``
(weeks, pseudonyms, ranks).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.core.leaderboard import WEEK_TZ, Leaderboard, Period, pseudonym
from bot.core.reply import Button, Reply
from bot.core.router import Ctx
from bot.core.streaks import next_reward

if TYPE_CHECKING:
    from bot.core.router import Router

__all__ = ["register"]

TOP_SIZE = 10


async def _daily(ctx: Ctx) -> Reply:
    core = ctx.core
    assert ctx.profile is not None
    streaks = core.streaks
    ci = await streaks.checkin(ctx.uid, ctx.profile.tz)
    lines: list[str] = []
    if ci.fresh:
        if ci.count == 1 and not ci.reset:
            lines.append(ctx.t("daily.first"))
        else:
            lines.append(ctx.t("daily.checked", count=ci.count))
        if ci.reset:
            lines.append(ctx.t("daily.reset"))
        if ci.grace_now:
            lines.append(ctx.t("daily.grace"))
    else:
        lines.append(ctx.t("daily.already", count=ci.count))
    if ci.reward > 0:
        if ci.count in streaks.cfg.milestones:
            lines.append(ctx.t("daily.reward_milestone", count=ci.count, amount=ci.reward))
        else:
            lines.append(ctx.t("daily.reward", amount=ci.reward))
    nxt = next_reward(ci.count, streaks.cfg)
    if nxt is not None:
        lines.append(ctx.t("daily.next", day=nxt[0], amount=nxt[1]))
    lines.append(ctx.t("daily.stats", best=ci.best, total=ci.total))
    return Reply("\n".join(lines), buttons=[[
        Button(ctx.t("daily.fortune_button"), "/fortune"),
        Button(ctx.t("daily.top_button"), "/top"),
    ]])


async def _board(ctx: Ctx, lb: Leaderboard, period: Period) -> list[str]:
    rows = await lb.top(period, TOP_SIZE)
    mine = lb.member(ctx.uid)
    out: list[str] = []
    if not rows:
        out.append(ctx.t("top.empty"))
    for row in rows:
        line = ctx.t("top.row", rank=row.rank, name=row.name(ctx.lang), count=row.score)
        out.append(line + (ctx.t("top.me_mark") if row.member == mine else ""))
    own = await lb.standing(ctx.uid, period)
    if own is None:
        out.append(ctx.t("top.mine_none"))
    else:
        out.append(ctx.t("top.mine", rank=own.rank, count=own.score, name=pseudonym(own.member, ctx.lang)))
    return out


async def _top(ctx: Ctx) -> Reply:
    lb = ctx.core.leaderboard
    today = datetime.fromtimestamp(ctx.core.clock.now(), WEEK_TZ).date()
    monday = today - timedelta(days=today.weekday())
    sunday = monday + timedelta(days=6)
    fmt = "%m/%d"
    lines = [ctx.t("top.week_title", start=monday.strftime(fmt), end=sunday.strftime(fmt))]
    lines += await _board(ctx, lb, "week")
    lines += ["", ctx.t("top.all_title")]
    lines += await _board(ctx, lb, "all")
    lines += ["", ctx.t("top.footer")]
    return Reply("\n".join(lines))


def register(router: Router) -> None:
    @router.command("daily", help_key="help.daily", private=True, description_key="cmd.daily")
    async def daily(ctx: Ctx) -> Reply:
        return await _daily(ctx)

    @router.command("top", needs_profile=False, help_key="help.top", description_key="cmd.top")
    async def top(ctx: Ctx) -> Reply:
        return await _top(ctx)
