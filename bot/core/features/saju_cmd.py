"""/saju (the chart picture and a short reading, free) and /newyear (신년운세: a free
summary and a paid month-by-month version).

The chart is a pure function of the profile's birth date, optional birth time and birth
time zone (``bot.core.saju``); nothing about it is stored. /newyear's detailed version is
engine-written (no AI), sold like the fortune details: a ledger hold in the command, an
outbox job with the finished text, captured only once the platform accepted it, and an
unlock marker per user and year written when delivery is confirmed, so it stays free to
read again that year. The AI reading of the chart is ``/reading saju`` (``ai_cmd``).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING

from bot.core.accounts import key_entry, track_in
from bot.core.clock import local_day
from bot.core.errors import BotError, ErrorCode
from bot.core.outbox import Job, JobKind
from bot.core.reply import Button, Image, Reply
from bot.core.router import Ctx, SlashOption
from bot.core.saju.chart import Chart
from bot.core.saju.newyear import build_newyear, newyear_target
from bot.core.saju.text import render_chart, render_newyear_detail, render_newyear_summary
from bot.core.saju.user import birth_zone, user_chart
from bot.core.store import K, redis_guard

if TYPE_CHECKING:
    from bot.core.router import Router
    from bot.core.service import Core

__all__ = ["register", "newyear_unlocked", "unlock_newyear", "DETAIL_WORDS"]

DETAIL_WORDS = ("detailed", "detail", "details", "상세", "자세히")
#: The detailed outlook stays open for the rest of its year and a little beyond.
UNLOCK_TTL_SECONDS = 430 * 86400


def _chart(ctx: Ctx) -> Chart:
    assert ctx.profile is not None
    chart = user_chart(ctx.profile)
    if chart is None:
        raise BotError(ErrorCode.VALIDATION_ERROR, "saju.unavailable")
    return chart


async def newyear_unlocked(core: Core, uid: str, year: int) -> bool:
    async with redis_guard("saju.newyear_unlock"):
        return bool(await core.store.redis.exists(K.unlock(uid, "newyear", str(year))))


async def unlock_newyear(core: Core, uid: str, year: int) -> None:
    """Open the detailed outlook of ``year`` for account ``uid`` (after a confirmed delivery).
    Registered for erasure first, in the same pipeline (one slot, in order). Idempotent."""
    key = K.unlock(uid, "newyear", str(year))
    async with redis_guard("saju.newyear_unlock"):
        async with core.store.redis.pipeline(transaction=False) as pipe:
            track_in(pipe, uid, [key_entry(key)], core.clock.now_ms() + UNLOCK_TTL_SECONDS * 1000)
            pipe.set(key, "1", ex=UNLOCK_TTL_SECONDS)
            await pipe.execute()


def register(router: Router) -> None:
    core = router.core

    def season() -> int:
        return core.settings.product.saju.newyear_season_month

    @router.command("saju", help_key="help.saju", aliases=("사주", "사주팔자"), private=True,
                    description_key="cmd.saju")
    async def saju(ctx: Ctx) -> Reply:
        from bot.core.saju.picture import render_chart_png

        p = ctx.profile
        assert p is not None
        chart = _chart(ctx)
        png = await asyncio.to_thread(render_chart_png, chart, ctx.lang)
        zone_note = ctx.t("saju.zone_note", tz=birth_zone(p)) if chart.has_hour else ""
        year = newyear_target(local_day(core.clock, p.tz), season())
        buttons = [[Button(ctx.t("saju.ai_button", cost=core.ledger.cost("saju_reading")), "/reading saju")],
                   [Button(ctx.t("saju.newyear_button", year=year), "/newyear")]]
        return Reply(render_chart(chart, ctx.lang, zone_note), buttons=buttons, private=True,
                     image=Image(png, "saju.png", alt=ctx.t("saju.picture_alt")))

    @router.command("newyear", help_key="help.newyear", aliases=("신년운세", "신년"), private=True,
                    description_key="cmd.newyear",
                    options=(SlashOption("part", "cmd.newyear.part",
                                         choices=(("detailed", "cmd.newyear.detailed"),)),))
    async def newyear(ctx: Ctx) -> Reply | list[Reply]:
        p = ctx.profile
        assert p is not None
        chart = _chart(ctx)
        year = newyear_target(local_day(core.clock, p.tz), season())
        ny = build_newyear(ctx.uid, chart, year, ctx.lang)
        arg = ctx.args.strip().lower()
        if arg in DETAIL_WORDS:
            return await detail(ctx, render_newyear_detail(ny), year)
        if arg:
            raise BotError(ErrorCode.VALIDATION_ERROR, "router.usage", usage=ctx.t("newyear.usage"))
        label = (ctx.t("newyear.detail_button_open") if await newyear_unlocked(core, ctx.uid, year)
                 else ctx.t("newyear.detail_button", cost=core.ledger.cost("newyear_detailed")))
        return Reply(render_newyear_summary(ny, chart), buttons=[[Button(label, "/newyear detailed")]], private=True)

    async def detail(ctx: Ctx, text: str, year: int) -> list[Reply]:
        """Paid detail, charged only once delivered (hold -> outbox -> capture + unlock).

        One purchase per user and year: the job id is per account and year, so a second tap
        while the first is on its way adds nothing; a purchase whose delivery failed may be
        made again (the failed job is replaced). Crash between the hold and the job: the
        update is handled again with the same request id (the hold replays) or the sweeper
        releases the hold. Redis down: ``ServiceUnavailable`` before or after a whole step.
        """
        body = Reply(text, private=True)
        if await newyear_unlocked(core, ctx.uid, year):
            return [body]
        job_id = "newyear-" + hashlib.sha256(f"{ctx.uid}|{year}".encode()).hexdigest()[:24]
        if (await core.outbox.state(job_id)) in ("new", "answered", "sent"):
            return [ctx.reply("newyear.on_the_way")]
        cost = core.ledger.cost("newyear_detailed")
        hold = await core.ledger.hold(ctx.uid, cost, "newyear detailed", f"newyear:{year}:{ctx.event.request_id}")
        if hold.replayed and hold.status != "held":
            return []  # handled before and settled: never a second delivery on that hold
        balance = await core.ledger.balance(ctx.uid)
        reply = Reply(f"{text}\n\n{ctx.t('newyear.paid', cost=cost, balance=balance)}", private=True)
        group = ctx.event.chat_kind == "group"
        created = await core.outbox.enqueue(job_id, "newyear", ctx.uid, platform=ctx.event.platform, lang=ctx.lang,
                                            reply=reply, hold=hold, data={"year": year}, replace_final=True,
                                            origin=ctx.event.chat_id if group else "")
        if not created:  # a concurrent tap won: this hold is not needed
            await core.ledger.release(hold, "duplicate purchase")
            return [ctx.reply("newyear.on_the_way")]
        return [ctx.reply("delivery.working_group")] if group else []

    async def detail_done(job: Job, outcome: str) -> None:
        if outcome == "delivered":
            await unlock_newyear(core, job.uid, int(job.data["year"]))

    core.outbox.register("newyear", JobKind(on_done=detail_done))
