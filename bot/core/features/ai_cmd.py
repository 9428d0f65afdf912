"""/ask (multi-turn AI counselling), /reading fortune|tarot|pair and /report (AI readings).

Charging (PRODUCT.md "Charging rules"): a paid command has two halves. The *ordered* half
runs in the chat's turn: input checks, the AI limit, a ledger *hold* (``INSUFFICIENT_CREDITS``
before any AI call) and a durable outbox job, then a short "reading the cards…" reply — so
``/credits`` right after ``/ask`` answers at once. The *slow* half runs in the outbox
(``bot/core/outbox.py``, kind ``ai``): the AI chain within its time budget, then delivery;
the hold is *captured* only when the platform accepted the answer and *released* on the
static fallback, a failure, or an undeliverable answer — a user never pays for a fallback or
for an answer they did not receive. A paid command in a group is answered in the user's
private chat; if that chat cannot be reached nothing is charged and the group gets a pointer.
Idempotency keys and job ids derive from the update id, so a re-handled update (a crash,
another process) finds its hold and its job instead of charging again.

Same-day readings: the same AI reading (same cards + question / same fortune day / same
pair / same week) asked again the same local day is served from ``aicache:<uid>:...``
without a second charge; an in-flight lock stops two identical paid readings racing.
Fallback answers are not cached, so a later retry can get (and pay for) a real answer.

/ask: the dialogue lives in ``session:<uid>:ask`` (idle expiry ``ask_idle_seconds``, at most
``ask_max_turns`` answered turns); while it is open, plain text continues it (text hook). A
turn joins the history once its answer was delivered; ``/ask last`` shows the day's last
answer again for free (also one whose delivery failed).
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

from bot.core.ai import AIRequest, Guarded, Message, get_chain, guard_input, prompts
from bot.core.clock import local_day
from bot.core.errors import BotError, ErrorCode, ServiceUnavailable
from bot.core.i18n import Lang, normalize_lang, t
from bot.core.logs import log_event
from bot.core.outbox import Job, JobKind, Produced
from bot.core.reply import Button, Reply
from bot.core.router import Ctx, SlashOption
from bot.core.accounts import is_account_id, key_entry
from bot.core.store import K, redis_guard

if TYPE_CHECKING:
    from bot.core.router import Router
    from bot.core.service import Core

__all__ = ["register", "are_paired", "ASK_SESSION", "READING_COSTS"]

ASK_SESSION = "ask"
#: reading kind -> cost name in config (credits.costs)
READING_COSTS = {"chat": "ai_chat", "fortune": "daily_fortune", "tarot": "tarot_interpret",
                 "pair": "synastry_analysis", "report": "detailed_report",
                 "saju": "saju_reading"}
_END_WORDS = {"end", "stop", "close", "quit", "종료", "끝", "그만"}
_LAST_WORDS = {"last", "again", "마지막", "다시"}
_UID_RE = re.compile(r"^[a-z]{2,8}:[A-Za-z0-9_.-]{1,64}$")
_TAROT_SESSION = "tarot"  # written by content_cmd (/tarot): {"day", "spread", "question"}


async def are_paired(core: Core, a: str, b: str) -> bool:
    """True when accounts ``a`` and ``b`` are paired through an invite (``b`` is in
    ``pairs:{a}``; both sides are written by the pairing). Redis down: ``ServiceUnavailable``."""
    if a == b:
        return False
    async with redis_guard("ai.pair"):
        score = await core.store.redis.zscore(K.pairs_of(a), b)
    return score is not None


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

    def footer(lang: Lang, fallback: bool, cost: int, balance: int | None) -> str:
        if fallback:
            return t(lang, "ai.fallback_note")
        if balance is None:
            return t(lang, "ai.charged_note_short", cost=cost)
        return t(lang, "ai.charged_note", cost=cost, balance=balance)

    def fortune_facts(ctx: Ctx, birth: date, day: date) -> tuple[Any, dict[str, Any]]:
        from bot.core.saju.user import fortune_chart

        eng = _fortune_engine()
        assert ctx.profile is not None
        f = eng.daily(ctx.uid, birth, day, ctx.lang, chart=fortune_chart(core, ctx.profile))
        pack = eng.pack(ctx.lang)
        facts = {"date": day.isoformat(), "sign": pack.signs[f.sun_sign], "animal": pack.animals[f.zodiac_animal],
                 "score": f.score, "rank": f.rank_line, "theme": f.theme_label, "one_liner": f.one_liner,
                 "summary": f"{f.summary} {f.day_note}".strip()}
        return f, facts

    # ---------------------------------------------------------------- the outbox kind "ai"
    # The slow half of every paid AI answer: it runs in the outbox (any process, after the
    # chat's turn), so a slow AI never blocks the user's other commands, and the hold is
    # captured only once the platform accepted the answer (bot/core/outbox.py).
    def history(session: dict[str, Any] | None, session_id: str) -> list[dict[str, str]]:
        if not session or session.get("id") != session_id:
            return []
        turns = session.get("turns") or []  # Lua's cjson writes an empty list as {}
        return list(turns)[-core.settings.product.sessions.ask_max_turns:] if isinstance(turns, list) else []

    async def produce(job: Job) -> Produced:
        d = job.data
        lang = normalize_lang(job.lang)
        kind = str(d["rk"])
        cost = int(d["cost"])
        max_turns = core.settings.product.sessions.ask_max_turns
        turns: list[dict[str, str]] = []
        if kind == "chat":
            turns = history(await core.sessions.get(job.uid, ASK_SESSION), str(d["session"]))
        messages: list[Message] = []
        for turn in turns:
            messages += [Message("user", turn["q"]), Message("assistant", turn["a"])]
        messages.append(Message("user", str(d["q"])))
        req = AIRequest(kind, lang, str(d["context"]), tuple(messages), str(d["static"]),
                        max_tokens=d.get("max_tokens"))
        result = await get_chain(core).answer(req)
        balance = await after_capture("balance", core.ledger.balance(job.uid))
        notes = [footer(lang, result.fallback, cost, balance)]
        buttons: list[list[Button]] = []
        if kind == "chat":
            answered = len(turns) + (0 if result.fallback else 1)
            if answered >= max_turns:
                notes.append(t(lang, "ai.ask_limit_reached"))
            else:
                buttons = [[Button(t(lang, "ai.end_button"), "/ask end")]]
                if answered <= 1:
                    notes.append(t(lang, "ai.ask_continue_hint", cost=cost))
        elif not result.fallback:
            # Cached now, before delivery: an answer that never arrives stays free to read today.
            payload = json.dumps({"text": result.text, "provider": result.provider, "model": result.model},
                                 ensure_ascii=False)

            async def write_cache() -> None:
                async with redis_guard("ai.cache"):
                    await core.store.redis.set(str(d["cache"]), payload, ex=int(d["ttl"]))

            await after_capture("ai cache", write_cache())
        text = f"{t(lang, f'ai.title.{kind}')}\n\n{result.text}\n\n" + "\n".join(notes)
        return Produced(Reply(text, buttons=buttons, private=True), charge=not result.fallback,
                        data={"a": "" if result.fallback else result.text, "provider": result.provider})

    async def on_done(job: Job, outcome: str) -> None:
        d = job.data
        kind = str(d["rk"])
        answer = str(d.get("a", ""))
        if kind == "chat":
            if outcome == "delivered" and answer:
                await append_turn(job.uid, str(d["session"]), str(d["q"]), answer, job.id)
            if answer and job.reply is not None:
                await remember_last(job.uid, str(d["tz"]), job.reply.text)
            log_event("ai_chat_turn", user=job.uid, session=d["session"], provider=d.get("provider"),
                      fallback=not answer, outcome=outcome, flagged=d.get("flagged", False))
        else:
            async with redis_guard("ai.lock"):
                await core.store.redis.delete(str(d["lock"]))
            log_event("ai_reading", user=job.uid, kind=kind, cached=False, provider=d.get("provider"),
                      fallback=not answer, outcome=outcome)

    async def append_turn(uid: str, session_id: str, q: str, a: str, job_id: str) -> None:
        """Add a delivered answer to its conversation, once, atomically (``ask_append_turn.lua``):
        two answers finishing together both land; an ended or expired conversation is not
        reopened; a full one is closed."""
        sess_cfg = core.settings.product.sessions
        turn = json.dumps({"q": q, "a": a, "j": job_id}, ensure_ascii=False)
        await core.accounts.track(uid, [key_entry(K.session(uid, ASK_SESSION))])
        async with redis_guard("ai.ask_turn"):
            await core.store.scripts["ask_append_turn"](
                keys=[K.session(uid, ASK_SESSION)],
                args=[session_id, job_id, turn, sess_cfg.ask_max_turns, sess_cfg.ask_idle_seconds,
                      core.clock.now()])

    async def remember_last(uid: str, tz: str, text: str) -> None:
        """The day's last answer, for a free ``/ask last`` (also when delivery failed)."""
        await core.accounts.track(uid, [key_entry(K.ask_last(uid))])
        async with redis_guard("ai.ask_last"):
            await core.store.redis.set(K.ask_last(uid), json.dumps({"text": text}, ensure_ascii=False),
                                       ex=_seconds_left_today(core, tz))

    core.outbox.register("ai", JobKind(produce, on_done))

    def job_id_of(ctx: Ctx) -> str:
        return "ai-" + _digest(ctx.uid, ctx.event.request_id)

    async def job_may_exist(ctx: Ctx) -> bool:
        """After a Redis error: does this request's job exist (or can we not tell)?"""
        try:
            return await core.outbox.state(job_id_of(ctx)) is not None
        except ServiceUnavailable:
            return True

    async def enqueue_paid(ctx: Ctx, cost_name: str, data: dict[str, Any]) -> list[Reply]:
        """The ordered half of a paid answer: limit, hold, durable job. Nothing is charged yet.

        Idempotent per update: the idempotency key and the job id derive from the event's
        request id (the platform update id), so a re-handled update finds its hold and job.
        Crash between the hold and the job: the re-handled update replays the hold and
        creates the job; if nothing re-handles it, the sweeper releases the hold.
        INSUFFICIENT_CREDITS is raised by the hold, before any AI call.
        """
        await core.limiter.check("ai", ctx.uid)
        rid = ctx.event.request_id
        job_id = job_id_of(ctx)
        if await core.outbox.state(job_id) is not None:
            return []  # this update was handled before a crash: its answer is on its way
        cost = core.ledger.cost(cost_name)
        idem = f"ai:{data['rk']}:{rid}"
        hold = await core.ledger.hold(ctx.uid, cost, f"ai {data['rk']}", idem)
        if hold.replayed and hold.status == "released":  # an earlier attempt's hold was swept
            hold = await core.ledger.hold(ctx.uid, cost, f"ai {data['rk']}", idem + ":again")
        elif hold.replayed and hold.status != "held":  # captured: this update was answered and paid
            return []
        group = ctx.event.chat_kind == "group"
        assert ctx.profile is not None
        # reply_to: asked in a group on a platform that can answer there privately (Discord's
        # ephemeral follow-up): the answer comes there, else to the private chat.
        await core.outbox.enqueue(job_id, "ai", ctx.uid, platform=ctx.event.platform, lang=ctx.lang, hold=hold,
                                  data={**data, "cost": cost, "tz": ctx.profile.tz},
                                  origin=ctx.event.chat_id if group else "", reply_to=ctx.event.reply_to)
        if group:
            return [ctx.reply("delivery.working_here" if ctx.event.reply_to else "delivery.working_group")]
        return [ctx.reply("delivery.working")]

    # ---------------------------------------------------------------- /ask
    async def ask_turn(ctx: Ctx, question: str) -> list[Reply]:
        p = ctx.profile
        assert p is not None
        sess_cfg = core.settings.product.sessions
        guarded = guard(ctx, question, "chat")  # over-long -> VALIDATION_ERROR, nothing charged
        now = core.clock.now()
        session = await core.sessions.get(ctx.uid, ASK_SESSION)
        if session and now - float(session.get("last", 0)) > sess_cfg.ask_idle_seconds:
            session = None  # idle too long: a fresh conversation
        if not session:
            session = {"id": uuid.uuid4().hex[:12], "started": now, "last": now, "turns": []}
        context, static = "", ctx.t("ai.ask_fallback_plain")
        if p.birth is not None:
            try:
                f, facts = fortune_facts(ctx, p.birth, local_day(core.clock, p.tz))
                context = ctx.t("ai.ctx.chat", **facts)
                static = ctx.t("ai.ask_fallback", one_liner=f.one_liner)
            except ImportError:  # the fortune engine is optional for counselling
                pass
        replies = await enqueue_paid(ctx, "ai_chat", {"rk": "chat", "session": session["id"], "q": guarded.text,
                                                      "context": context, "static": static,
                                                      "flagged": guarded.suspicious})
        # Keep the conversation open so plain text continues it while the answer is on its way
        # (atomically: an answer delivered meanwhile keeps its turn).
        session["last"] = now

        async def touch() -> None:
            async with redis_guard("ai.ask_session"):
                await core.store.scripts["ask_session_touch"](
                    keys=[K.session(ctx.uid, ASK_SESSION)],
                    args=[session["id"], json.dumps(session, ensure_ascii=False), now, sess_cfg.ask_idle_seconds])

        await after_capture("ask session", touch())
        return replies

    async def ask_last(ctx: Ctx) -> Reply:
        async with redis_guard("ai.ask_last"):
            raw = await core.store.redis.get(K.ask_last(ctx.uid))
        if not raw:
            return ctx.reply("ai.ask_last_none")
        return Reply(f"{ctx.t('ai.ask_last_title')}\n\n{json.loads(raw)['text']}", private=True)

    @router.command("ask", help_key="help.ask", aliases=("상담",), private=True, description_key="cmd.ask",
                    options=(SlashOption("question", "cmd.ask.question", required=True, max_length=1000),))
    async def ask(ctx: Ctx) -> Reply | list[Reply]:
        args = ctx.args.strip()
        if not args:
            raise BotError(ErrorCode.VALIDATION_ERROR, "router.usage", usage=ctx.t("ai.ask_usage"))
        if args.lower() in _END_WORDS:
            existed = await core.sessions.drop(ctx.uid, ASK_SESSION)
            return ctx.reply("ai.ask_ended" if existed else "ai.ask_none")
        if args.lower() in _LAST_WORDS:
            return await ask_last(ctx)
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

    async def paid_reading(ctx: Ctx, kind: str, day: date, digest: str, build: Builder) -> Reply | list[Reply]:
        """Cache -> build -> lock -> hold + durable job (the outbox answers, then charges)."""
        assert ctx.profile is not None
        tz = ctx.profile.tz
        cache_key = K.ai_cache(ctx.uid, kind, day.isoformat(), digest)
        title = ctx.t(f"ai.title.{kind}")

        async def cached_reply() -> Reply | None:
            async with redis_guard("ai.cache"):
                cached = await core.store.redis.get(cache_key)
            if not cached:
                return None
            data = json.loads(cached)
            log_event("ai_reading", user=ctx.uid, kind=kind, cached=True, provider=data.get("provider"),
                      fallback=False, charged=False)
            return Reply(f"{title}\n\n{data['text']}\n\n{ctx.t('ai.cached_note')}", private=True)

        if (hit := await cached_reply()) is not None:
            return hit
        context, messages, static = await build()
        lock = K.ai_inflight(ctx.uid, kind, day.isoformat(), digest)
        delivery = core.settings.product.delivery
        # Before anything is written under these names: /delete finds them (bot.core.erasure).
        await core.accounts.track(ctx.uid, [key_entry(cache_key), key_entry(lock)],
                                  core.clock.now_ms() + (_seconds_left_today(core, tz) + 86400) * 1000)
        rid = ctx.event.request_id
        async with redis_guard("ai.lock"):
            got = await core.store.redis.set(lock, rid, nx=True,
                                             ex=int(delivery.retry_seconds + 2 * delivery.takeover_seconds))
            if not got and await core.store.redis.get(lock) != rid:
                raise BotError(ErrorCode.CONFLICT, "ai.in_progress")
        try:
            # Another request may have finished (cached, unlocked) between our miss and our lock.
            if (hit := await cached_reply()) is not None:
                async with redis_guard("ai.lock"):
                    await core.store.redis.delete(lock)
                return hit
            max_tokens = cfg_ai().max_output_tokens * (2 if kind == "report" else 1)
            question = messages[-1].content if messages else ""
            return await enqueue_paid(ctx, READING_COSTS[kind], {
                "rk": kind, "q": question, "context": context, "static": static, "max_tokens": max_tokens,
                "cache": cache_key, "ttl": _seconds_left_today(core, tz), "lock": lock})
        except BaseException as exc:
            if isinstance(exc, ServiceUnavailable) and await job_may_exist(ctx):
                raise  # the job may be on its way (a write whose reply was lost): keep the lock

            async def unlock() -> None:
                async with redis_guard("ai.lock"):
                    await core.store.redis.delete(lock)

            await after_capture("ai lock", unlock())  # it expires by itself anyway
            raise

    def user_msg(ctx: Ctx, kind: str, question: str = "") -> tuple[Message, ...]:
        text = guard(ctx, question, kind).text if question.strip() else prompts().default_question(kind, ctx.lang)
        return (Message("user", text),)

    async def reading_fortune(ctx: Ctx) -> Reply | list[Reply]:
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

    async def reading_tarot(ctx: Ctx, args: str) -> Reply | list[Reply]:
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
                                   keywords=", ".join(card.keywords(ctx.lang, d.reversed))))
            lines.append(ctx.t("ai.ctx.tarot_tail", summary=reading.summary, advice=reading.advice))
            # The question is the user's text: it goes only into the user message.
            return "\n".join(lines), user_msg(ctx, "tarot", question), engine.static_interpretation(reading)

        return await paid_reading(ctx, "tarot", day, _digest(reading.spread, normalize_question(question)), build)

    async def reading_pair(ctx: Ctx, args: str) -> Reply | list[Reply]:
        from bot.core.chemistry import compatibility, render_compat
        from bot.core.invites import partner_shares

        p = ctx.profile
        assert p is not None and p.birth is not None
        # The partner's account id (what the /invite status button carries), or a platform
        # identity typed by hand ("tg:12345"), looked up without creating anything.
        other = args.split()[0] if args.split() else ""
        if other and not is_account_id(other) and _UID_RE.match(other):
            other = await core.accounts.lookup(other) or other
        if not other or not is_account_id(other) or other == ctx.uid:
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

    async def report_reading(ctx: Ctx) -> Reply | list[Reply]:
        p = ctx.profile
        assert p is not None and p.birth is not None
        birth = p.birth
        day = local_day(core.clock, p.tz)
        week_start = day - timedelta(days=day.weekday())

        async def build() -> tuple[str, tuple[Message, ...], str]:
            eng = _fortune_engine()
            from bot.core.saju.user import fortune_chart

            w = eng.weekly_outlook(ctx.uid, birth, week_start, ctx.lang, chart=fortune_chart(core, p))
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

    async def reading_saju(ctx: Ctx) -> Reply | list[Reply]:
        """The AI reading of the 사주 chart: the AI gets the pillars, day master, balance and
        ten gods (``saju.text.ai_context``), never the birth date or time. Cached per chart
        for the day like the other readings; the fallback is the free /saju text (uncharged)."""
        from bot.core.saju.text import ai_context, render_chart
        from bot.core.saju.user import user_chart

        p = ctx.profile
        assert p is not None
        chart = user_chart(p)
        if chart is None:
            raise BotError(ErrorCode.VALIDATION_ERROR, "saju.unavailable")
        day = local_day(core.clock, p.tz)

        async def build() -> tuple[str, tuple[Message, ...], str]:
            return ai_context(chart, ctx.lang), user_msg(ctx, "saju"), render_chart(chart, ctx.lang)

        return await paid_reading(ctx, "saju", day, _digest("saju", chart.signature), build)

    @router.command("reading", help_key="help.reading", aliases=("풀이",), private=True,
                    description_key="cmd.reading",
                    options=(SlashOption("kind", "cmd.reading.kind", choices=(
                        ("fortune", "cmd.reading.fortune"), ("tarot", "cmd.reading.tarot"),
                        ("pair", "cmd.reading.pair"), ("report", "cmd.reading.report"), ("saju", "cmd.reading.saju"))),
                        SlashOption("partner", "cmd.reading.partner", max_length=64)))
    async def reading(ctx: Ctx) -> Reply | list[Reply]:
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
        if kind in ("saju", "사주"):
            return await reading_saju(ctx)
        if kind:
            raise BotError(ErrorCode.VALIDATION_ERROR, "router.usage", usage=ctx.t("ai.reading_usage"))
        costs = core.ledger.cost
        return Reply(ctx.t("ai.reading_choose"), buttons=[
            [Button(ctx.t("ai.button.fortune", cost=costs("daily_fortune")), "/reading fortune")],
            [Button(ctx.t("ai.button.tarot", cost=costs("tarot_interpret")), "/reading tarot")],
            [Button(ctx.t("ai.button.report", cost=costs("detailed_report")), "/report")],
            [Button(ctx.t("ai.button.saju", cost=costs("saju_reading")), "/reading saju")],
        ])

    @router.command("report", help_key="help.report", aliases=("리포트",), private=True,
                    description_key="cmd.report")
    async def report(ctx: Ctx) -> Reply | list[Reply]:
        return await report_reading(ctx)
