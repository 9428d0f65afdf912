"""One command router for every platform.

Adapters build an ``Event`` (who, what text, where) and call ``Router.handle``; they get
back a list of platform-neutral ``Reply`` objects. Feature modules register commands
with ``Router.command``. The router owns the cross-cutting rules: the per-user command
limit, onboarding before features that need a profile, error codes to localised text,
and an ``INTERNAL_ERROR`` reply with a reference id instead of a stack trace.

Input hygiene is central: before parsing, every event's text is cleaned
(``bot.core.inputs.clean_text``: control, zero-width, format and bidi characters removed)
and its display name made safe to show (``clean_display_name``). Command arguments that are
invisible-only become empty (so ``/ask <zero-width space>`` gets the usage message), and
plain text that is invisible-only is answered "say that again?" without reaching any text
hook — nothing is held, charged or stored for it.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal
from collections.abc import Awaitable, Callable, Sequence

from bot.core.errors import BotError, ErrorCode, ServiceUnavailable
from bot.core.i18n import Lang, normalize_lang, t
from bot.core.inputs import clean_display_name, clean_text, is_blank
from bot.core.logs import log_event, new_request_id, request_id_var
from bot.core.ratelimit import RateLimited
from bot.core.reply import Button, Modal, Reply
from bot.core.store import K, REDIS_ERRORS

if TYPE_CHECKING:
    from bot.core.profiles import Profile
    from bot.core.service import Core

__all__ = ["Event", "Ctx", "Router", "CommandSpec", "SlashOption", "Handler", "TextHook", "ModalFor"]

ChatKind = Literal["private", "group"]


@dataclass(frozen=True, slots=True)
class Event:
    """One incoming message or button press, already translated by an adapter.

    ``platform`` + ``user_id`` is vouched for by the platform; nothing in ``text`` can
    change who the user is.
    """

    platform: str
    user_id: str
    text: str
    chat_id: str = ""
    chat_kind: ChatKind = "private"
    lang_hint: str | None = None
    display_name: str | None = None
    request_id: str = field(default_factory=new_request_id)
    client_ip: str | None = None
    #: Opaque, platform-made delivery target for answers that come later (the outbox), e.g. a
    #: Discord interaction's private follow-up (``ix:...``) for a command asked in a server;
    #: "" = the account's usual target (a DM). The core never parses it; it is passed to the
    #: platform's sender as is, and a sender that can no longer use it raises
    #: ``delivery.ReplyTargetGone`` (the outbox then falls back to the usual target).
    reply_to: str = ""

    @property
    def uid(self) -> str:
        """The platform identity ``tg:123`` (never a storage key: see ``Ctx.uid``)."""
        return f"{self.platform}:{self.user_id}"

    @property
    def channel(self) -> str:
        """Platform-qualified chat id (``tg:-100123``), used for ops channels."""
        return f"{self.platform}:{self.chat_id}"


@dataclass(slots=True)
class Ctx:
    """What a command handler gets: the core, the event, the caller's account id, profile and
    args. ``uid`` is the **account id** (opaque, ``bot.core.accounts``): every per-user key is
    built from it; ``event.uid`` is the platform identity, used only to reach the user.
    It is ``""`` only for commands without a profile answered while Redis is down."""

    core: Core
    event: Event
    profile: Profile | None
    lang: Lang
    command: str
    args: str
    uid: str = ""
    #: Keys the command's ``prefetch`` named -> whether they exist, read in the router's one
    #: script with the profile (absent key: not prefetched, read it yourself).
    found: dict[str, bool] = field(default_factory=dict)

    def t(self, key: str, **params: object) -> str:
        return t(self.lang, key, **params)

    def reply(self, key: str, buttons: list[list[Button]] | None = None, private: bool = False,
              **params: object) -> Reply:
        return Reply(self.t(key, **params), buttons=buttons or [], private=private)


Handler = Callable[[Ctx], Awaitable["Reply | list[Reply]"]]
#: A hook that may claim plain (non-command) text: returns replies, or None to pass.
TextHook = Callable[[Ctx], Awaitable["Reply | list[Reply] | None"]]


#: For the caller's account id and the time (ms): keys in that account's slot whose existence the
#: command will check; the router reads them with the profile, in the same script. Pure (no I/O).
Prefetch = Callable[[str, int], Sequence[str]]

#: For a command's argument text and a language: the modal that answers it, else None. Pure
#: (no Redis, no I/O): adapters call it before acknowledging anything.
ModalFor = Callable[[str, Lang], "Modal | None"]


@dataclass(frozen=True, slots=True)
class SlashOption:
    """One typed argument of a command, for platforms with typed commands (Discord's slash
    options). The adapter joins the given values, in declaration order, after the command name
    (``/tarot three love?``), so the handler parses the same text as a typed command.

    ``description_key``: i18n key (<= 100 characters in every language). ``choices``: a closed
    set as ``(value, label_key)`` pairs (``label_key`` an i18n key, or a literal label when it
    is not one). ``kind``: ``"str"`` or ``"int"``. ``default``: the value this option stands for
    when it is left out but a later one is given (``/tarot`` with only a question is
    ``/tarot three <question>``).
    """

    name: str
    description_key: str
    required: bool = False
    choices: tuple[tuple[str, str], ...] = ()
    kind: Literal["str", "int"] = "str"
    max_length: int | None = None
    default: str = ""


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A registered command and what an adapter must know about it *before* it answers.

    ``private``: its reply is personal (profile, credits, readings from birth data, paid
    answers): in a group it is shown only to the user (Discord: ephemeral). ``modal``: for an
    argument text, the form that is the answer (``ModalFor``; pure), which must be the first
    response on platforms like Discord. ``options``: typed arguments (``SlashOption``).
    ``description_key``: a short description (<= 100 characters) for command menus.
    ``prefetch``: keys whose existence the handler checks (``Prefetch``), answered in
    ``Ctx.found`` from the router's round trip instead of one more.
    """

    name: str
    handler: Handler
    needs_profile: bool = True
    help_key: str | None = None  # i18n key of the one-line help; None hides it from /help
    usage_key: str | None = None
    aliases: tuple[str, ...] = ()
    private: bool = False
    options: tuple[SlashOption, ...] = ()
    modal: ModalFor | None = None
    description_key: str | None = None
    prefetch: Prefetch | None = None

    def modal_for(self, args: str, lang: Lang) -> Modal | None:
        """The modal this command answers ``args`` with, if any (no I/O)."""
        return self.modal(args, lang) if self.modal is not None else None


def help_summary(spec: CommandSpec, lang: Lang) -> str:
    """A command's /help line without its leading ``/name —`` (command menus, slash
    descriptions); ``""`` for a command without a help line."""
    if spec.help_key is None:
        return ""
    text = t(lang, spec.help_key).strip()
    if text.startswith("/"):
        for sep in (" — ", " – ", " - ", ": "):
            if sep in text:
                return text.split(sep, 1)[1].strip()
    return text


class Router:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.commands: dict[str, CommandSpec] = {}
        self.text_hooks: list[TextHook] = []
        self.onboarding: Handler | None = None  # set by the onboarding feature
        self._noted_local: dict[tuple[str, str], float] = {}

    # --- registration ---------------------------------------------------------------
    def command(self, name: str, *, needs_profile: bool = True, help_key: str | None = None,
                usage_key: str | None = None, aliases: tuple[str, ...] = (), private: bool = False,
                options: tuple[SlashOption, ...] = (), modal: ModalFor | None = None,
                description_key: str | None = None, prefetch: Prefetch | None = None) -> Callable[[Handler], Handler]:
        def decorator(fn: Handler) -> Handler:
            spec = CommandSpec(name, fn, needs_profile, help_key, usage_key, aliases, private, options, modal,
                               description_key, prefetch)
            for n in (name, *aliases):
                if n in self.commands:
                    raise ValueError(f"command /{n} registered twice")
                self.commands[n] = spec
            return fn
        return decorator

    def text_hook(self, fn: TextHook) -> TextHook:
        self.text_hooks.append(fn)
        return fn

    def spec_for(self, text: str) -> tuple[CommandSpec | None, str]:
        """The command a text names and its arguments (None for plain text or unknown names).
        No I/O: adapters use it to decide privacy and modals before acknowledging."""
        name, args = self.parse(clean_text(text))
        return (self.commands.get(name) if name else None), args

    def menu_entries(self) -> list[CommandSpec]:
        """Commands for platform command menus (Discord slash commands): every command with a
        ``description_key`` or a ``help_key``, once (aliases excluded), in registration order."""
        seen: dict[str, CommandSpec] = {}
        for spec in self.commands.values():
            if (spec.description_key or spec.help_key) and spec.name not in seen:
                seen[spec.name] = spec
        return list(seen.values())

    def help_entries(self) -> list[CommandSpec]:
        seen: dict[str, CommandSpec] = {}
        for spec in self.commands.values():
            if spec.help_key and spec.name not in seen:
                seen[spec.name] = spec
        return list(seen.values())

    # --- dispatch -------------------------------------------------------------------
    @staticmethod
    def clean(event: Event) -> Event:
        """The event with its text cleaned and its display name made safe (see module docstring)."""
        text = clean_text(event.text)
        name = clean_display_name(event.display_name)
        if text == event.text and name == event.display_name:
            return event
        return replace(event, text=text, display_name=name)

    @staticmethod
    def parse(text: str) -> tuple[str | None, str]:
        """``"/tarot@SoulLabBot three love?"`` -> ``("tarot", "three love?")``; plain text -> (None, text).

        Arguments with nothing visible in them are ``""``.
        """
        text = text.strip()
        if not text.startswith("/"):
            return None, ("" if is_blank(text) else text)
        head, _, rest = text[1:].partition(" ")
        name = head.split("@", 1)[0].lower()
        rest = rest.strip()
        return name, ("" if is_blank(rest) else rest)

    async def handle(self, event: Event) -> list[Reply]:
        token = request_id_var.set(event.request_id)
        started = time.perf_counter()
        event = self.clean(event)
        name, args = self.parse(event.text)
        label = name if name in self.commands else ("text" if name is None else "unknown")
        # The profile's language once it is loaded, so errors speak the user's language too.
        langbox: list[Lang] = [normalize_lang(event.lang_hint)]
        aidbox: list[str] = [""]
        replies: list[Reply]
        try:
            replies = await self._dispatch(event, name, args, langbox, aidbox)
        except RateLimited as err:
            # A flood: one "try again in N s" note per window; the rest is dropped quietly
            # (counted), so a backlog drains at once and service returns with the window.
            if await self._first_note(err, aidbox[0] or event.uid):
                replies = [self.error_reply(err, langbox[0])]
            else:
                self.core.metrics.discarded.labels(event.platform, "rate_limited").inc()
                replies = []
        except BotError as err:
            replies = [self.error_reply(err, langbox[0])]
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log_event("command_failed", level=logging.ERROR, exc_info=True, captured=True, command=label,
                      ref=ref, user=event.uid)
            self.core.capture_exception(ref=ref, command=label)
            replies = [Reply(t(langbox[0], "error.internal_error_ref", ref=ref), error=ErrorCode.INTERNAL_ERROR)]
        finally:
            request_id_var.reset(token)
        elapsed = time.perf_counter() - started
        code = next((r.error.value for r in replies if r.error), None)
        self.core.metrics.observe_command(label, elapsed, code)
        log_event("command_handled", command=label, user=event.uid, platform=event.platform,
                  ms=round(elapsed * 1000, 2), error=code, request_id=event.request_id)
        return replies

    async def _first_note(self, err: RateLimited, aid: str) -> bool:
        """True for the first limited request of a window (per account and scope), else False.

        Shared through Redis (``SET NX PX``); while Redis is down, per process.
        """
        ms = max(1000, err.decision.retry_after_ms)
        try:
            return bool(await self.core.store.redis.set(K.ratelimit_noted(err.scope, aid), "1", nx=True, px=ms))
        except REDIS_ERRORS:
            now = time.monotonic()
            if len(self._noted_local) > 10000:
                self._noted_local = {k: v for k, v in self._noted_local.items() if v > now}
            if self._noted_local.get((err.scope, aid), 0.0) > now:
                return False
            self._noted_local[(err.scope, aid)] = now + ms / 1000
            return True

    def error_reply(self, err: BotError, lang: Lang) -> Reply:
        if isinstance(err, RateLimited):
            self.core.metrics.rate_limited.labels(err.scope).inc()
        text = t(lang, err.key, **err.params)
        buttons: list[list[Button]] = []
        if err.code is ErrorCode.INSUFFICIENT_CREDITS:
            buttons = [[Button(t(lang, "credits.buy_button"), "/buy")]]
        return Reply(text, buttons=buttons, error=err.code)

    async def _dispatch(self, event: Event, name: str | None, args: str, langbox: list[Lang],
                        aidbox: list[str]) -> list[Reply]:
        core = self.core
        lang = langbox[0]
        spec = self.commands.get(name) if name else None
        # Crisis words first: a fixed help reply, before any limit, Redis read or charge.
        from bot.core.ai.safety import crisis_replies
        if (crisis := await crisis_replies(core, event, name, args)) is not None:
            return crisis
        aid, profile, found = await self._account_and_profile(event, spec, aidbox)
        if profile is not None:
            lang = langbox[0] = profile.lang
        ctx = Ctx(core, event, profile, lang, name or "", args, aid, found)
        if name is None:
            if not args:  # empty or invisible-only text: never offered to a hook (no hold, no turn)
                return [ctx.reply("router.empty_text")]
            for hook in self.text_hooks:
                out = await hook(ctx)
                if out is not None:
                    return _as_list(out)
            return [ctx.reply("router.unknown_text")]
        if spec is None:
            return [ctx.reply("router.unknown_command", command=name[:32])]
        if spec.needs_profile and (profile is None or not profile.onboarded):
            assert self.onboarding is not None, "onboarding feature not registered"
            await core.sessions.remember_pending(aid, event.text)
            return _as_list(await self.onboarding(ctx))
        return _as_list(await spec.handler(ctx))

    async def _account_and_profile(self, event: Event, spec: CommandSpec | None,
                                   aidbox: list[str]) -> tuple[str, Profile | None, dict[str, bool]]:
        """The caller's account id, profile and the command's prefetched keys (``found``),
        counting the per-account command limit in the same round trip (one script reads the
        account's meta, profile and the prefetched keys: one slot).

        An account whose meta does not list this identity is an erased account, or one the
        identity was detached from (``/unlink`` in another process), still in this process's
        identity cache (or one whose creation crashed half-way): the cache entry is dropped and
        the identity resolved again, this time re-writing the account's meta and index entry
        (which repairs a half-created account). Redis down: commands without a
        profile (/help) still answer, with no account; the rest get ``ServiceUnavailable``.
        """
        core = self.core
        optional = spec is not None and not spec.needs_profile
        for attempt in range(2):
            try:
                # First try: no meta write for an existing account (the meta read below checks
                # it); the second try repairs what the check found missing.
                aid = aidbox[0] = await core.accounts.resolve(event.uid, ensure_meta=attempt > 0)
            except ServiceUnavailable:
                if optional:
                    return "", None, {}
                raise
            extra = list(spec.prefetch(aid, core.clock.now_ms())) if spec is not None and spec.prefetch else []
            decision, reads, flags = await core.limiter.hit_read_exists(
                "command", aid, (K.account_meta(aid), K.profile(aid)), extra)
            if not decision.allowed:
                raise RateLimited(decision, "command")
            if reads is None:
                if optional:
                    return aid, None, {}
                raise ServiceUnavailable("redis")
            meta, raw = reads
            if meta.get(f"id:{event.platform}") != event.user_id:  # erased, or /unlink-ed elsewhere
                core.accounts.forget(event.uid)
                continue
            return aid, core.profiles.parse(aid, raw), dict(zip(extra, flags or (), strict=False))
        raise ServiceUnavailable("account")


def _as_list(out: Reply | list[Reply]) -> list[Reply]:
    return out if isinstance(out, list) else [out]

