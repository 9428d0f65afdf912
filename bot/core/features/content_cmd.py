"""/fortune and /tarot: the free engines wired to commands, plus the paid fortune details.

The engines are pure and deterministic (same user + day ⇒ same fortune; same user + day +
spread + question ⇒ same cards), so nothing about a reading is stored except: the
"details unlocked today" marker, and the user's last tarot draw (so the AI-reading button
can refer to it without putting the question into 64 bytes of button data).
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from bot.core.clock import local_day
from bot.core.errors import BotError, ErrorCode
from bot.core.fortune import Fortune, FortuneEngine
from bot.core.outbox import Job, JobKind
from bot.core.reply import Button, Image, Reply
from bot.core.router import Ctx, SlashOption
from bot.core.accounts import key_entry, track_in
from bot.core.saju.chart import Chart, chart_for
from bot.core.saju.user import fortune_chart
from bot.core.store import K, redis_guard
from bot.core.tarot import QuestionTooLong, Reading, TarotEngine, UnknownSpread

if TYPE_CHECKING:
    from bot.core.router import Router
    from bot.core.service import Core

__all__ = ["register", "fortune_engine", "tarot_engine", "today_fortune", "canary_fortune",
           "details_unlocked", "unlock_details", "parse_tarot_args", "draw_tarot", "LAST_TAROT_SESSION"]

LAST_TAROT_SESSION = "tarot"
#: The spreads offered as slash-command choices (the engine's spreads; a test keeps them equal).
TAROT_SPREADS = ("single", "three", "love", "career", "celtic")
_CANARY_USER = "probe:canary"
_CANARY_BIRTH = date(1990, 1, 1)


@lru_cache(maxsize=1)
def fortune_engine() -> FortuneEngine:
    return FortuneEngine.load()


@lru_cache(maxsize=1)
def tarot_engine() -> TarotEngine:
    return TarotEngine.load()


def today_fortune(core: Core, uid: str, birth: date, tz: str, lang: str, chart: Chart | None = None) -> Fortune:
    return fortune_engine().daily(uid, birth, local_day(core.clock, tz), lang, chart=chart)  # type: ignore[arg-type]


def canary_fortune(core: Core) -> dict[str, Any]:
    """Today's fortune for a fixed probe profile (``GET /api/fortune/daily``)."""
    day = local_day(core.clock, core.settings.product.profile.default_timezone)
    chart = chart_for(_CANARY_BIRTH, None, "Asia/Seoul") if core.settings.product.saju.daily_fortune_uses_chart else None
    f = fortune_engine().daily(_CANARY_USER, _CANARY_BIRTH, day, "ko", chart=chart)
    return {"status": "ok", "profile": _CANARY_USER, "fortune": f.to_dict()}


def details_keys(uid: str, now_ms: int) -> list[str]:
    """The unlock markers ``/fortune`` may check: one per date some time zone (UTC-12 to
    UTC+14) is on at ``now_ms`` (2 or 3 days). The router reads them with the profile, in its
    one round trip, before the user's own day is known."""
    now = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    first, last = (now - timedelta(hours=12)).date(), (now + timedelta(hours=14)).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [K.unlock(uid, "fortune_details", d.isoformat()) for d in days]


async def details_unlocked(core: Core, uid: str, day: date) -> bool:
    async with redis_guard("fortune.unlock"):
        return bool(await core.store.redis.exists(K.unlock(uid, "fortune_details", day.isoformat())))


async def unlock_details(core: Core, uid: str, day: date, ttl_seconds: int = 2 * 86400) -> None:
    """Mark today's details as open for account ``uid`` (invite pairing, or after paying); the
    marker is registered for erasure first, in the same pipeline (one slot, in order)."""
    key = K.unlock(uid, "fortune_details", day.isoformat())
    async with redis_guard("fortune.unlock"):
        async with core.store.redis.pipeline(transaction=False) as pipe:
            track_in(pipe, uid, [key_entry(key)], core.clock.now_ms() + ttl_seconds * 1000)
            pipe.set(key, "1", ex=ttl_seconds)
            await pipe.execute()


def parse_tarot_args(engine: TarotEngine, args: str) -> tuple[str, str]:
    """``"three what now?"`` -> ("three", "what now?"); a bare question gets the three-card spread.

    A first word that looks like a spread name but is not one is refused with the list.
    """
    first, _, rest = args.strip().partition(" ")
    spread, question = first.lower(), rest.strip()
    if spread in engine.spreads:
        return spread, question
    if first.isascii() and first.isalpha():
        raise BotError(ErrorCode.VALIDATION_ERROR, "tarot.unknown_spread", spread=first[:20],
                       spreads=", ".join(engine.spreads))
    return "three", args.strip()  # "/tarot 요즘 내 마음은?" — a question, default spread


def draw_tarot(engine: TarotEngine, uid: str, day: date, spread: str, question: str, lang: str) -> Reading:
    """``engine.draw`` with its errors turned into the user's VALIDATION_ERROR messages."""
    try:
        return engine.draw(uid, day, spread, question, lang)  # type: ignore[arg-type]
    except UnknownSpread:
        raise BotError(ErrorCode.VALIDATION_ERROR, "tarot.unknown_spread", spread=spread[:20],
                       spreads=", ".join(engine.spreads)) from None
    except QuestionTooLong as err:
        raise BotError(ErrorCode.VALIDATION_ERROR, "tarot.question_too_long",
                       limit=err.limit, length=err.length) from None


def register(router: Router) -> None:
    @router.command("fortune", help_key="help.fortune", aliases=("운세",), private=True,
                    description_key="cmd.fortune", prefetch=details_keys,
                    options=(SlashOption("part", "cmd.fortune.part", choices=(("details", "cmd.fortune.details"),)),))
    async def fortune(ctx: Ctx) -> Reply | list[Reply]:
        core = ctx.core
        p = ctx.profile
        assert p is not None and p.birth is not None
        day = local_day(core.clock, p.tz)
        f = fortune_engine().daily(ctx.uid, p.birth, day, ctx.lang, chart=fortune_chart(core, p))
        arg = ctx.args.strip().lower()
        if arg in ("details", "detail", "상세"):
            return await _details(ctx, f, day)
        if arg:
            raise BotError(ErrorCode.VALIDATION_ERROR, "router.usage", usage=ctx.t("fortune.usage"))
        unlocked = ctx.found.get(K.unlock(ctx.uid, "fortune_details", day.isoformat()))
        if unlocked is None:  # not prefetched (a zone past UTC+14, or an older caller)
            unlocked = await details_unlocked(core, ctx.uid, day)
        cost = core.ledger.cost("fortune_details")
        details_label = (ctx.t("fortune.details_button_free") if unlocked
                         else ctx.t("fortune.details_button", cost=cost))
        buttons = [
            [Button(details_label, "/fortune details")],
            [Button(ctx.t("fortune.ai_button", cost=core.ledger.cost("daily_fortune")), "/reading fortune"),
             Button(ctx.t("fortune.tarot_button"), "/tarot single")],
        ]
        return Reply(fortune_engine().render_summary(f), buttons=buttons, private=True)

    async def _details(ctx: Ctx, f: Fortune, day: date) -> list[Reply]:
        """Paid details, charged only once delivered (hold -> outbox -> capture + unlock).

        One purchase per local day: the job id is per user and day, so a second tap while the
        first is on its way adds nothing; a purchase whose delivery failed may be made again
        (the failed job is replaced). Crash between the hold and the job: the sweeper releases
        the hold. The unlock marker is written when the delivery is confirmed.
        """
        core = ctx.core
        body = Reply(fortune_engine().render_details(f), private=True)
        if await details_unlocked(core, ctx.uid, day):
            return [body]
        job_id = "details-" + hashlib.sha256(f"{ctx.uid}|{day.isoformat()}".encode()).hexdigest()[:24]
        if (await core.outbox.state(job_id)) in ("new", "answered", "sent"):
            return [ctx.reply("delivery.details_on_the_way")]
        cost = core.ledger.cost("fortune_details")
        idem = f"fortune-details:{day.isoformat()}:{ctx.event.request_id}"
        hold = await core.ledger.hold(ctx.uid, cost, "fortune details", idem)
        if hold.replayed and hold.status != "held":
            # This update was handled before (a crash, a takeover) and its purchase is settled:
            # never start a second delivery on that hold. (Still held: the job was never
            # written, so it is written now, on that same hold.)
            return []
        balance = await core.ledger.balance(ctx.uid)
        reply = Reply(f"{body.text}\n\n{ctx.t('fortune.details_paid', cost=cost, balance=balance)}", private=True)
        group = ctx.event.chat_kind == "group"
        created = await core.outbox.enqueue(job_id, "details", ctx.uid, platform=ctx.event.platform, lang=ctx.lang,
                                            reply=reply, hold=hold,
                                            data={"day": day.isoformat()}, replace_final=True,
                                            origin=ctx.event.chat_id if group else "",
                                            reply_to=ctx.event.reply_to)
        if not created:  # a concurrent tap (another chat) won: this hold is not needed
            await core.ledger.release(hold, "duplicate purchase")
            return [ctx.reply("delivery.details_on_the_way")]
        if group and ctx.event.reply_to:  # answered privately where it was asked (Discord)
            return [ctx.reply("delivery.details_here")]
        return [ctx.reply("delivery.working_group")] if group else []

    async def details_done(job: Job, outcome: str) -> None:
        if outcome == "delivered":
            await unlock_details(router.core, job.uid, date.fromisoformat(str(job.data["day"])))

    router.core.outbox.register("details", JobKind(on_done=details_done))

    @router.command("tarot", help_key="help.tarot", aliases=("타로",), description_key="cmd.tarot",
                    options=(SlashOption("spread", "cmd.tarot.spread",
                                         choices=tuple((s, f"tarot.spread_button.{s}") for s in TAROT_SPREADS),
                                         default="three"),
                             SlashOption("question", "cmd.tarot.question", max_length=300)))
    async def tarot(ctx: Ctx) -> Reply:
        core = ctx.core
        p = ctx.profile
        assert p is not None
        engine = tarot_engine()
        args = ctx.args.strip()
        if not args:
            return Reply(ctx.t("tarot.choose"), buttons=[
                [Button(ctx.t(f"tarot.spread_button.{s}"), f"/tarot {s}")] for s in engine.spreads])
        spread, question = parse_tarot_args(engine, args)
        day = local_day(core.clock, p.tz)
        reading = draw_tarot(engine, ctx.uid, day, spread, question, ctx.lang)
        from bot.core.tarot.picture import render_spread_png

        png = await asyncio.to_thread(render_spread_png, reading, engine)
        await core.sessions.put(ctx.uid, LAST_TAROT_SESSION,
                                {"day": day.isoformat(), "spread": spread, "question": question}, 2 * 86400)
        text = engine.render_text(reading) + "\n\n" + ctx.t("tarot.same_day_note")
        buttons = [[Button(ctx.t("tarot.ai_button", cost=core.ledger.cost("tarot_interpret")), "/reading tarot")]]
        return Reply(text, buttons=buttons, image=Image(png, f"tarot-{spread}.png", alt=spread))
