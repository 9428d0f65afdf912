"""``/start`` onboarding: language, terms, optional sharing consent, birth date, birth time,
time zone. The step lives in the profile (Redis), so it survives restarts and works across
processes. Buttons send ``/setup <field> <value>``; typed text answers the current step.

Platforms with forms (Discord's modals) get the remaining birth steps as one form: the prompt
carries ``Reply.modal`` (opened by ``/setup form <step>``, a pure answer known before any
state is read); the submitted form arrives as ``/setup fill <step> <v1>|<v2>|...`` and each
value goes through the same validation as a typed answer. A value that is refused stops
there with the kind error text and the prompt (with its form) for that step again; the steps
before it are kept. The console and Telegram ignore the modal and keep asking step by step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.clock import local_day
from bot.core.errors import BotError, ErrorCode
from bot.core.i18n import normalize_lang
from bot.core.profiles import Profile, parse_birth_date, parse_birth_time
from bot.core.i18n import Lang, t
from bot.core.reply import Button, Modal, ModalField, Reply
from bot.core.router import Ctx, Event
from bot.core.timezones import parse_timezone

if TYPE_CHECKING:
    from bot.core.router import Router

__all__ = ["register", "prompt_for", "birth_form"]

_TEXT_STEPS = {"birth", "time", "tz"}
#: The steps a form can fill, in order (a form starts at the current one).
_FORM_STEPS = ("birth", "time", "tz")


def birth_form(lang: Lang, step: str = "birth") -> Modal | None:
    """The form for the onboarding steps from ``step`` on (None for other steps). Pure."""
    if step not in _FORM_STEPS:
        return None
    fields = {
        "birth": ModalField("birth", t(lang, "onboarding.form_birth"), "1995-04-17", True, 10, 10),
        "time": ModalField("time", t(lang, "onboarding.form_time"), "07:30", False, 0, 10),
        "tz": ModalField("tz", t(lang, "onboarding.form_tz"), "Asia/Seoul", False, 0, 64),
    }
    steps = _FORM_STEPS[_FORM_STEPS.index(step):]
    return Modal(t(lang, "onboarding.form_title"), tuple(fields[s] for s in steps), f"/setup fill {step}",
                 f"/setup form {step} {lang}", t(lang, "onboarding.form_button"))


def _setup_modal(args: str, lang: Lang) -> Modal | None:
    """``/setup form <step> [<lang>]`` is answered with the form (before any state is read);
    the language in the command is the profile's when the button was made."""
    parts = args.split()
    if 2 <= len(parts) <= 3 and parts[0].lower() == "form":
        return birth_form(normalize_lang(parts[2]) if len(parts) == 3 else lang, parts[1].lower())
    return None


def prompt_for(ctx: Ctx, profile: Profile) -> Reply:
    """The question for the profile's current step."""
    step = profile.step
    if step == "lang":
        return Reply(ctx.t("onboarding.welcome"),
                     buttons=[[Button("한국어", "/setup lang ko"), Button("English", "/setup lang en")]])
    if step == "terms":
        return Reply(ctx.t("onboarding.terms"), buttons=[[
            Button(ctx.t("onboarding.button_agree"), "/setup terms yes"),
            Button(ctx.t("onboarding.button_decline"), "/setup terms no")]])
    if step == "share":
        return Reply(ctx.t("onboarding.share"), buttons=[[
            Button(ctx.t("onboarding.button_agree"), "/setup share yes"),
            Button(ctx.t("onboarding.button_later"), "/setup share no")]])
    if step == "birth":
        return Reply(ctx.t("onboarding.birth"), private=True, modal=birth_form(ctx.lang, step))
    if step == "time":
        return Reply(ctx.t("onboarding.time"), private=True, modal=birth_form(ctx.lang, step),
                     buttons=[[Button(ctx.t("onboarding.button_skip"), "/setup time skip")]])
    if step == "tz":
        return Reply(ctx.t("onboarding.tz"), modal=birth_form(ctx.lang, step), buttons=[[
            Button(ctx.t("onboarding.button_seoul"), "/setup tz Asia/Seoul"),
            Button(ctx.t("onboarding.button_utc"), "/setup tz UTC")]])
    return Reply(ctx.t("onboarding.already"))


async def _ensure_profile(ctx: Ctx) -> Profile:
    if ctx.profile is None:
        ctx.profile = await ctx.core.profiles.create(ctx.uid, normalize_lang(ctx.event.lang_hint),
                                                     ctx.event.display_name)
        ctx.lang = ctx.profile.lang
    return ctx.profile


async def continue_onboarding(ctx: Ctx) -> list[Reply]:
    """Entry point for a user who is not onboarded yet (any command needing a profile)."""
    profile = await _ensure_profile(ctx)
    if profile.step == "done" and profile.birth is None:
        profile = await ctx.core.profiles.update(profile, step="birth")
        ctx.profile = profile
    intro = [] if ctx.command in ("start", "setup", "") else [Reply(ctx.t("onboarding.needed"))]
    return [*intro, prompt_for(ctx, profile)]


async def _advance(ctx: Ctx, profile: Profile, field: str, value: str, *, last: bool = True) -> list[Reply]:
    """Apply one answer. ``last=False`` (a form's earlier values) saves it and returns nothing."""
    core = ctx.core
    now = int(core.clock.now())
    if field == "lang":
        if value not in ("ko", "en"):
            raise BotError(ErrorCode.VALIDATION_ERROR, "router.usage", usage="/setup lang ko|en")
        nxt = "terms" if profile.step == "lang" else profile.step
        profile = await core.profiles.update(profile, lang=value, step=nxt)
        ctx.lang = profile.lang
    elif field == "terms":
        if value == "no":
            return [Reply(ctx.t("onboarding.terms_declined"))]
        profile = await core.profiles.update(profile, terms_at=now,
                                             step="share" if profile.step == "terms" else profile.step)
    elif field == "share":
        share_at = now if value == "yes" else None
        profile = await core.profiles.update(profile, share_at=share_at,
                                             step="birth" if profile.step == "share" else profile.step)
    elif field == "birth":
        today = local_day(core.clock, profile.tz)
        birth = parse_birth_date(value, today)
        profile = await core.profiles.update(profile, birth=birth,
                                             step="time" if profile.step == "birth" else profile.step)
    elif field == "time":
        birth_time = None if value.lower() in ("skip", "건너뛰기", "-") else parse_birth_time(value)
        profile = await core.profiles.update(profile, birth_time=birth_time,
                                             step="tz" if profile.step == "time" else profile.step)
    elif field == "tz":
        profile = await core.profiles.update(profile, tz=parse_timezone(value),
                                             step="done" if profile.step == "tz" else profile.step)
    else:
        raise BotError(ErrorCode.VALIDATION_ERROR, "router.usage", usage="/start")
    ctx.profile = profile
    if not last:
        return []
    if profile.step != "done":
        return [prompt_for(ctx, profile)]
    return await _finish(ctx, profile)


async def _fill(ctx: Ctx, profile: Profile, value: str) -> list[Reply]:
    """A submitted form: ``<step> <v1>|<v2>|...`` for the steps from ``<step>`` on.

    Each value is applied like a typed answer, in order (an empty birth time is "skip", an
    empty time zone keeps the current one). The first refused value ends it: its kind error
    text, then the prompt (and form) for that step again; earlier steps stay saved. Each step
    is one profile write, so a crash part-way leaves the profile at a step the user can
    continue from.
    """
    start, _, rest = value.partition(" ")
    start = start.lower()
    if start not in _FORM_STEPS:
        return [prompt_for(ctx, profile)]
    steps = _FORM_STEPS[_FORM_STEPS.index(start):]
    values = rest.split("|")[:len(steps)]
    out: list[Reply] = []
    for i, (step, raw) in enumerate(zip(steps, values)):
        raw = raw.strip()
        if step == "time" and not raw:
            raw = "skip"
        if step == "tz" and not raw:
            raw = profile.tz
        try:
            out = await _advance(ctx, profile, step, raw, last=i == len(values) - 1)
        except BotError as err:
            current = ctx.profile or profile
            return [Reply(ctx.t(err.key, **err.params), error=err.code), prompt_for(ctx, current)]
        profile = ctx.profile or profile
    return out or [prompt_for(ctx, profile)]


async def _finish(ctx: Ctx, profile: Profile) -> list[Reply]:
    core = ctx.core
    bonus = await core.ledger.welcome_bonus(ctx.uid, ctx.event.uid)
    replies = [Reply(ctx.t("onboarding.done", bonus=core.settings.product.credits.welcome_bonus)
                     if bonus else ctx.t("onboarding.done_no_bonus"))]
    pending = await core.sessions.pop_pending(ctx.uid)
    if pending:
        ev = ctx.event
        follow = Event(ev.platform, ev.user_id, pending, ev.chat_id, ev.chat_kind, ev.lang_hint,
                       ev.display_name, ev.request_id, ev.client_ip)
        replies.extend(await core.router.handle(follow))
    return replies


def register(router: Router) -> None:
    router.onboarding = continue_onboarding

    @router.command("start", needs_profile=False, help_key="help.start", private=True,
                    description_key="cmd.start")
    async def start(ctx: Ctx) -> list[Reply]:
        profile = await _ensure_profile(ctx)
        if ctx.args:
            # Deep-link payload (an invite): run it after onboarding, or now if onboarded.
            payload = ctx.args.split()[0][:64]
            if profile.onboarded:
                ev = ctx.event
                follow = Event(ev.platform, ev.user_id, f"/join {payload}", ev.chat_id, ev.chat_kind,
                               ev.lang_hint, ev.display_name, ev.request_id, ev.client_ip)
                return await ctx.core.router.handle(follow)
            await ctx.core.sessions.remember_pending(ctx.uid, f"/join {payload}")
        if profile.onboarded:
            return [Reply(ctx.t("onboarding.already"))]
        return [prompt_for(ctx, profile)]

    @router.command("setup", needs_profile=False, private=True, modal=_setup_modal)
    async def setup(ctx: Ctx) -> list[Reply]:
        profile = await _ensure_profile(ctx)
        field, _, value = ctx.args.partition(" ")
        if not field or field.lower() == "form":  # "form": asked in words where there are no forms
            return [prompt_for(ctx, profile)]
        if field.lower() == "fill":
            return await _fill(ctx, profile, value.strip())
        return await _advance(ctx, profile, field.lower(), value.strip())

    @router.text_hook
    async def answer_step(ctx: Ctx) -> list[Reply] | None:
        profile = ctx.profile
        if profile is None or profile.step not in _TEXT_STEPS:
            return None
        return await _advance(ctx, profile, profile.step, ctx.args)
