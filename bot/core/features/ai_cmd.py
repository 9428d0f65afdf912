"""/ask (multi-turn AI counselling), /reading fortune|tarot|pair and /report (AI readings).

Charging (PRODUCT.md "Charging rules"): every paid answer is a ledger *hold* made before the
AI is called (``INSUFFICIENT_CREDITS`` is raised by the ledger, so no AI call happens), then
*captured* when a real AI answer is delivered and *released* on the static fallback or any
failure — a user never pays for a fallback. A hold left by a crashed process is released by
``ledger.release_expired`` after its deadline.

Same-day readings: the same AI reading (same cards + question / same fortune day / same
pair / same week) asked again the same local day is served from ``aicache:<uid>:...``
without a second charge; an in-flight lock stops two identical paid readings racing.
Fallback answers are not cached, so a later retry can get (and pay for) a real answer.

/ask: the dialogue lives in ``session:<uid>:ask`` (idle expiry ``ask_idle_seconds``, at most
``ask_max_turns`` answered turns); while it is open, plain text continues it (text hook).
History goes to the model as alternating user/assistant messages; user text is always
guarded (length cap, prompt-injection neutralising) and only ever in the user role.
"""

from __future__ import annotations

import hashlib
import logging
import json
import re
import uuid
from datetime import date, datetime, time as dtime, timedelta
from typing import TYPE_CHECKING, Any
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

from bot.core.ai import AIRequest, AIResult, Guarded, Message, get_chain, guard_input, prompts
from bot.core.ai.chain import build_chain
from bot.core.clock import local_day
from bot.core.errors import BotError, ErrorCode, ServiceUnavailable
from bot.core.logs import log_event
from bot.core.reply import Button, Reply
from bot.core.router import Ctx
from bot.core.store import K, redis_guard

if TYPE_CHECKING:
    from bot.core.router import Router
    from bot.core.service import Core

__all__ = ["register", "are_paired", "ASK_SESSION", "READING_COSTS"]

ASK_SESSION = "ask"
#: reading kind -> cost name in config (credits.costs)
READING_COSTS = {"chat": "ai_chat", "fortune": "daily_fortune", "tarot": "tarot_interpret",
                 "pair": "synastry_analysis", "report": "detailed_report"}
_END_WORDS = {"end", "stop", "close", "quit", "종료", "끝", "그만"}
_UID_RE = re.compile(r"^[a-z]{2,8}:[A-Za-z0-9_.-]{1,64}$")
_TAROT_SESSION = "tarot"  # written by content_cmd (/tarot): {"day", "spread", "question"}


async def are_paired(core: Core, a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are paired through an invite (``pair:<a>|<b>`` exists)."""
    if a == b:
        return False
    found = 0
    async with redis_guard("ai.pair"):
        found = await core.store.redis.exists(K.pair(a, b))
    return bool(found)


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:20]


def _seconds_left_today(core: Core, tz: str) -> int:
    now = core.clock.utcnow().astimezone(ZoneInfo(tz))
    end = datetime.combine(now.date() + timedelta(days=1), dtime.min, tzinfo=ZoneInfo(tz))
    return max(60, int((end - now).total_seconds()) + 60)


def _fortune_engine() -> Any:
    from bot.core.fortune import FortuneEngine

    return FortuneEngine.load()


def register(router: Router) -> None:
    core = router.core
    # The shared chain for every feature (built now; no network until the first answer).
    core.extras["ai"] = build_chain(core)

    # ---------------------------------------------------------------- helpers
    def cfg_ai() -> Any:
        return core.settings.product.ai

    def guard(ctx: Ctx, text: str, kind: str) -> Guarded:
        return guard_input(text, cfg_ai().max_input_chars, kind=kind,
                           quote_template=prompts().quote_template(ctx.lang))

    async def after_capture(what: str, write: Awaitable[Any]) -> Any:
        """A Redis write after the answer is paid for: a failure must not lose the answer
        (the user would be told "nothing changed" while charged), so it is logged, not raised.
        """
        try:
            return await write
        except ServiceUnavailable:
            log_event("ai_post_capture_write_failed", level=logging.ERROR, what=what)
            return None

    async def settle(ctx: Ctx, hold: Any, result: AIResult | None) -> tuple[bool, int | None]:
        """Capture on a real answer, release otherwise; returns (charged, balance or None)."""
        charged = False
        if result is not None and not result.fallback:
            charged = (await core.ledger.capture(hold, "ai answer")) == "captured"
        else:
            await core.ledger.release(hold, "ai fallback" if result is not None else "ai failed")
        return charged, await after_capture("balance", core.ledger.balance(ctx.uid))

    async def ask_ai(ctx: Ctx, cost_name: str, idem: str, req: AIRequest) -> tuple[AIResult, bool, int | None]:
        """Hold -> chain -> capture/release. Raises INSUFFICIENT_CREDITS before any AI call."""
        await core.limiter.check("ai", ctx.uid)
        cost = core.ledger.cost(cost_name)
        hold = await core.ledger.hold(ctx.uid, cost, f"ai {req.kind}", idem)
        result: AIResult | None = None
        try:
            result = await get_chain(core).answer(req)
        finally:
            charged, balance = await settle(ctx, hold, result)
        return result, charged, balance

    def footer(ctx: Ctx, result: AIResult, charged: bool, cost: int, balance: int | None) -> str:
        if result.fallback:
            return ctx.t("ai.fallback_note")
        if balance is None:
            return ctx.t("ai.charged_note_short", cost=cost if charged else 0)
        return ctx.t("ai.charged_note", cost=cost if charged else 0, balance=balance)

    def fortune_facts(ctx: Ctx, birth: date, day: date) -> tuple[Any, dict[str, Any]]:
        eng = _fortune_engine()
        f = eng.daily(ctx.uid, birth, day, ctx.lang)
        pack = eng.pack(ctx.lang)
        facts = {"date": day.isoformat(), "sign": pack.signs[f.sun_sign], "animal": pack.animals[f.zodiac_animal],
                 "score": f.score, "rank": f.rank_line, "theme": f.theme_label, "one_liner": f.one_liner,
                 "summary": f.summary}
        return f, facts

    # ---------------------------------------------------------------- /ask
    async def ask_turn(ctx: Ctx, question: str) -> Reply | list[Reply]:
        p = ctx.profile
        assert p is not None
        sess_cfg = core.settings.product.sessions
        guarded = guard(ctx, question, "chat")  # over-long -> VALIDATION_ERROR, nothing charged
        safe = guarded.text
        now = core.clock.now()
        session = await core.sessions.get(ctx.uid, ASK_SESSION)
        if session and now - float(session.get("last", 0)) > sess_cfg.ask_idle_seconds:
            session = None  # idle too long: a fresh conversation
        if not session:
            session = {"id": uuid.uuid4().hex[:12], "started": now, "last": now, "turns": []}
        turns: list[dict[str, str]] = list(session.get("turns", []))[-sess_cfg.ask_max_turns:]
        messages: list[Message] = []
        for t in turns:
            messages += [Message("user", t["q"]), Message("assistant", t["a"])]
        messages.append(Message("user", safe))

        context, static = "", ctx.t("ai.ask_fallback_plain")
        if p.birth is not None:
            try:
                f, facts = fortune_facts(ctx, p.birth, local_day(core.clock, p.tz))
                context = ctx.t("ai.ctx.chat", **facts)
                static = ctx.t("ai.ask_fallback", one_liner=f.one_liner)
            except ImportError:  # the fortune engine is optional for counselling
                pass
        req = AIRequest("chat", ctx.lang, context, tuple(messages), static)
        cost = core.ledger.cost("ai_chat")
        result, charged, balance = await ask_ai(ctx, "ai_chat", f"ai:chat:{session['id']}:{ctx.event.request_id}",
                                                req)
        if not result.fallback:
            turns.append({"q": safe, "a": result.text})
        session["turns"] = turns
        session["last"] = core.clock.now()
        end_button = [[Button(ctx.t("ai.end_button"), "/ask end")]]
        notes = [footer(ctx, result, charged, cost, balance)]
        if len(turns) >= sess_cfg.ask_max_turns:
            await after_capture("ask session", core.sessions.drop(ctx.uid, ASK_SESSION))
            notes.append(ctx.t("ai.ask_limit_reached"))
            end_button = []
        else:
            await after_capture("ask session",
                                core.sessions.put(ctx.uid, ASK_SESSION, session, sess_cfg.ask_idle_seconds))
            if len(turns) <= 1:
                notes.append(ctx.t("ai.ask_continue_hint", cost=cost))
        log_event("ai_chat_turn", user=ctx.uid, session=session["id"], turn=len(turns), provider=result.provider,
                  fallback=result.fallback, charged=charged, flagged=guarded.suspicious)
        text = f"{ctx.t('ai.title.chat')}\n\n{result.text}\n\n" + "\n".join(notes)
        return Reply(text, buttons=end_button, private=True)

    @router.command("ask", help_key="help.ask", aliases=("상담",))
    async def ask(ctx: Ctx) -> Reply | list[Reply]:
        args = ctx.args.strip()
        if not args:
            raise BotError(ErrorCode.VALIDATION_ERROR, "router.usage", usage=ctx.t("ai.ask_usage"))
        if args.lower() in _END_WORDS:
            existed = await core.sessions.drop(ctx.uid, ASK_SESSION)
            return ctx.reply("ai.ask_ended" if existed else "ai.ask_none")
        return await ask_turn(ctx, args)

    @router.text_hook
    async def ask_continue(ctx: Ctx) -> Reply | list[Reply] | None:
        if ctx.profile is None or not ctx.profile.onboarded or not ctx.args.strip():
            return None
        session = await core.sessions.get(ctx.uid, ASK_SESSION)
        if not session:
            return None
        if core.clock.now() - float(session.get("last", 0)) > core.settings.product.sessions.ask_idle_seconds:
            await core.sessions.drop(ctx.uid, ASK_SESSION)
            return ctx.reply("ai.ask_expired")
        if ctx.args.strip().lower() in _END_WORDS:
            await core.sessions.drop(ctx.uid, ASK_SESSION)
            return ctx.reply("ai.ask_ended")
        return await ask_turn(ctx, ctx.args)

    # ---------------------------------------------------------------- paid readings
    Builder = Callable[[], Awaitable[tuple[str, tuple[Message, ...], str]]]

    async def paid_reading(ctx: Ctx, kind: str, day: date, digest: str, build: Builder) -> Reply:
        """Cache -> limit -> lock -> hold -> chain -> capture/release -> cache."""
        assert ctx.profile is not None
        tz = ctx.profile.tz
        cache_key = K.ai_cache(ctx.uid, kind, day.isoformat(), digest)
        title = ctx.t(f"ai.title.{kind}")
        async with redis_guard("ai.cache"):
            cached = await core.store.redis.get(cache_key)
        if cached:
            data = json.loads(cached)
            log_event("ai_reading", user=ctx.uid, kind=kind, cached=True, provider=data.get("provider"),
                      fallback=False, charged=False)
            return Reply(f"{title}\n\n{data['text']}\n\n{ctx.t('ai.cached_note')}", private=True)
        context, messages, static = await build()
        cost_name = READING_COSTS[kind]
        cost = core.ledger.cost(cost_name)
        lock = K.ai_inflight(ctx.uid, kind, day.isoformat(), digest)
        async with redis_guard("ai.lock"):
            got = await core.store.redis.set(lock, ctx.event.request_id, nx=True,
                                             ex=core.settings.product.credits.hold_deadline_seconds)
        if not got:
            raise BotError(ErrorCode.CONFLICT, "ai.in_progress")
        try:
            # Another request may have finished (cached, unlocked) between our miss and our lock.
            async with redis_guard("ai.cache"):
                cached = await core.store.redis.get(cache_key)
            if cached:
                data = json.loads(cached)
                return Reply(f"{title}\n\n{data['text']}\n\n{ctx.t('ai.cached_note')}", private=True)
            max_tokens = cfg_ai().max_output_tokens * (2 if kind == "report" else 1)
            req = AIRequest(kind, ctx.lang, context, messages, static, max_tokens=max_tokens)
            result, charged, balance = await ask_ai(
                ctx, cost_name, f"ai:{kind}:{day.isoformat()}:{digest}:{ctx.event.request_id}", req)
            if not result.fallback:
                payload = json.dumps({"text": result.text, "provider": result.provider, "model": result.model},
                                     ensure_ascii=False)
                ttl = _seconds_left_today(core, tz)

                async def write_cache() -> None:
                    async with redis_guard("ai.cache"):
                        await core.store.redis.set(cache_key, payload, ex=ttl)

                await after_capture("ai cache", write_cache())
        finally:
            async def unlock() -> None:
                async with redis_guard("ai.lock"):
                    await core.store.redis.delete(lock)

            await after_capture("ai lock", unlock())  # it expires by itself anyway
        log_event("ai_reading", user=ctx.uid, kind=kind, cached=False, provider=result.provider,
                  fallback=result.fallback, charged=charged)
        return Reply(f"{title}\n\n{result.text}\n\n{footer(ctx, result, charged, cost, balance)}", private=True)

    def user_msg(ctx: Ctx, kind: str, question: str = "") -> tuple[Message, ...]:
        text = guard(ctx, question, kind).text if question.strip() else prompts().default_question(kind, ctx.lang)
        return (Message("user", text),)

    async def reading_fortune(ctx: Ctx) -> Reply:
        p = ctx.profile
        assert p is not None and p.birth is not None
        birth = p.birth
        day = local_day(core.clock, p.tz)

        async def build() -> tuple[str, tuple[Message, ...], str]:
            eng = _fortune_engine()
            f, facts = fortune_facts(ctx, birth, day)
            d = f.details
            context = ctx.t("ai.ctx.fortune", money=d.money, love=d.love, health=d.health, caution=d.caution,
                            color=f.lucky_color, number=f.lucky_number, time=f.lucky_time,
                            direction=f.lucky_direction, **facts)
            # The fallback is the free summary only: paid details stay behind their own price.
            static = eng.render_summary(f)
            return context, user_msg(ctx, "fortune"), static

        return await paid_reading(ctx, "fortune", day, "today", build)

    async def reading_tarot(ctx: Ctx, args: str) -> Reply:
        from bot.core.features.content_cmd import draw_tarot, parse_tarot_args
        from bot.core.tarot import TarotEngine, normalize_question

        p = ctx.profile
        assert p is not None
        engine = TarotEngine.load()
        day = local_day(core.clock, p.tz)
        if args:
            spread, question = parse_tarot_args(engine, args)
        else:
            last = await core.sessions.get(ctx.uid, _TAROT_SESSION)
            if not last or last.get("day") != day.isoformat():
                return Reply(ctx.t("ai.tarot_draw_first"),
                             buttons=[[Button(ctx.t("ai.tarot_draw_button"), "/tarot")]])
            spread, question = str(last.get("spread", "three")), str(last.get("question", ""))
        guard(ctx, question, "tarot")  # length cap before anything else
        reading = draw_tarot(engine, ctx.uid, day, spread, question, ctx.lang)

        async def build() -> tuple[str, tuple[Message, ...], str]:
            sp = engine.spread(reading.spread)
            lines = [ctx.t("ai.ctx.tarot_head", spread=sp.name(ctx.lang), count=len(reading.cards))]
            for d in reading.cards:
                card = engine.card(d.card_id)
                pos = sp.positions[d.position]
                lines.append(ctx.t("ai.ctx.tarot_card", n=d.position + 1, position=pos.name(ctx.lang),
                                   hint=pos.hint(ctx.lang), card=card.name(ctx.lang),
                                   orientation=ctx.t("ai.ctx.reversed" if d.reversed else "ai.ctx.upright"),
                                   meaning=card.meaning(ctx.lang, d.reversed),
                                   keywords=", ".join(card.keywords(ctx.lang))))
            lines.append(ctx.t("ai.ctx.tarot_tail", summary=reading.summary, advice=reading.advice))
            # The question is the user's text: it goes only into the user message.
            return "\n".join(lines), user_msg(ctx, "tarot", question), engine.static_interpretation(reading)

        return await paid_reading(ctx, "tarot", day, _digest(reading.spread, normalize_question(question)), build)

    async def reading_pair(ctx: Ctx, args: str) -> Reply:
        from bot.core.chemistry import compatibility, render_compat
        from bot.core.invites import partner_shares

        p = ctx.profile
        assert p is not None and p.birth is not None
        other = args.split()[0] if args.split() else ""
        if not other or not _UID_RE.match(other) or other == ctx.uid:
            raise BotError(ErrorCode.VALIDATION_ERROR, "router.usage", usage=ctx.t("ai.pair_usage"))
        if not await are_paired(core, ctx.uid, other):
            raise BotError(ErrorCode.FORBIDDEN, "ai.not_paired")
        if not await partner_shares(core, other):
            raise BotError(ErrorCode.FORBIDDEN, "ai.partner_not_sharing")
        them = await core.profiles.get(other)
        if them is None or them.birth is None:
            raise BotError(ErrorCode.NOT_FOUND, "ai.pair_unavailable")
        my_birth, their_birth = p.birth, them.birth
        day = local_day(core.clock, p.tz)

        async def build() -> tuple[str, tuple[Message, ...], str]:
            from bot.core.zodiac import zodiac_animal

            c = compatibility(ctx.uid, my_birth, other, their_birth, day, ctx.lang)
            pack = _fortune_engine().pack(ctx.lang)
            context = ctx.t("ai.ctx.pair", date=day.isoformat(), a_sign=pack.signs[c.a_sign.code],
                            a_animal=pack.animals[zodiac_animal(my_birth).code], b_sign=pack.signs[c.b_sign.code],
                            b_animal=pack.animals[zodiac_animal(their_birth).code], relation=c.relation,
                            score=c.score, title=c.title, reading=c.reading)
            return context, user_msg(ctx, "pair"), render_compat(c)

        return await paid_reading(ctx, "pair", day, _digest(*sorted((ctx.uid, other))), build)

    async def report_reading(ctx: Ctx) -> Reply:
        p = ctx.profile
        assert p is not None and p.birth is not None
        birth = p.birth
        day = local_day(core.clock, p.tz)
        week_start = day - timedelta(days=day.weekday())

        async def build() -> tuple[str, tuple[Message, ...], str]:
            eng = _fortune_engine()
            w = eng.weekly_outlook(ctx.uid, birth, week_start, ctx.lang)
            pack = eng.pack(ctx.lang)
            first = w.days[0]
            lines = [ctx.t("ai.ctx.report_head", start=week_start.isoformat(),
                           end=(week_start + timedelta(days=6)).isoformat(), sign=pack.signs[first.sun_sign],
                           animal=pack.animals[first.zodiac_animal], theme=w.theme_label,
                           best=w.best_day.isoformat(), gentle=w.gentle_day.isoformat(), advice=w.advice,
                           overview=w.overview)]
            lines += [ctx.t("ai.ctx.report_day", date=f.day.isoformat(), score=f.score, theme=f.theme_label,
                            one_liner=f.one_liner) for f in w.days]
            return "\n".join(lines), user_msg(ctx, "report"), eng.render_weekly(w)

        return await paid_reading(ctx, "report", day, _digest("week", week_start.isoformat()), build)

    @router.command("reading", help_key="help.reading", aliases=("풀이",))
    async def reading(ctx: Ctx) -> Reply:
        kind, _, rest = ctx.args.strip().partition(" ")
        kind, rest = kind.lower(), rest.strip()
        if kind == "fortune":
            return await reading_fortune(ctx)
        if kind == "tarot":
            return await reading_tarot(ctx, rest)
        if kind == "pair":
            return await reading_pair(ctx, rest)
        if kind == "report":
            return await report_reading(ctx)
        if kind:
            raise BotError(ErrorCode.VALIDATION_ERROR, "router.usage", usage=ctx.t("ai.reading_usage"))
        costs = core.ledger.cost
        return Reply(ctx.t("ai.reading_choose"), buttons=[
            [Button(ctx.t("ai.button.fortune", cost=costs("daily_fortune")), "/reading fortune")],
            [Button(ctx.t("ai.button.tarot", cost=costs("tarot_interpret")), "/reading tarot")],
            [Button(ctx.t("ai.button.report", cost=costs("detailed_report")), "/report")],
        ])

    @router.command("report", help_key="help.report", aliases=("리포트",))
    async def report(ctx: Ctx) -> Reply:
        return await report_reading(ctx)
