"""``Ops``: parse, authorise, confirm, run and audit one ops command (``core.ops``).

``run(caller, text)`` is the only entry point; surfaces only translate. Steps, in order:

1. Parse: ``text`` is everything after ``/ops``; the first word names the command.
2. Authorise (``bot.core.ops.auth``): not allowed -> ``FORBIDDEN``, nothing runs, the attempt
   is audited.
3. ``confirm <token>`` / ``cancel <token>`` take a pending confirmation (single use, 60 s, only
   by the admin it was made for: ``bot.core.ops.confirm``) and run the stored command text.
4. The command's handler runs. Dangerous handlers answer the first call with a confirmation
   request (``OpsCall.ask_confirmation``) and act only when called back with ``confirmed``.
5. One audit entry per call (who, surface, channel, command, arguments, result), user
   identities in the arguments replaced by account ids.

Errors: a ``BotError`` becomes a localised reply carrying its code (audited with that code);
anything else becomes ``INTERNAL_ERROR`` with a reference id in the log. Redis down: commands
that need Redis answer ``SERVICE_UNAVAILABLE`` (``health`` still answers and says so), and the
audit entry goes to the log instead (``AuditLog.append``).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.core.errors import BotError, ErrorCode, ServiceUnavailable
from bot.core.i18n import t
from bot.core.logs import log_event
from bot.core.ops.audit import AuditLog
from bot.core.ops.auth import authorised
from bot.core.ops.caller import OpsCaller
from bot.core.ops.confirm import Confirmations
from bot.core.reply import Button, Image, Reply

if TYPE_CHECKING:
    from bot.core.service import Core

__all__ = ["Ops", "OpsCall", "Outcome", "OpsHandler", "IDENTITY_RE", "ACCOUNT_RE"]

#: A platform identity as typed by an operator (``tg:123``, ``dc:456``, ``cli:local``).
IDENTITY_RE = re.compile(r"^(tg|dc|cli|slack):[A-Za-z0-9_-]{1,64}$")
#: An account id (``bot.core.accounts.new_account_id``; ``anon:`` ids are erased accounts).
ACCOUNT_RE = re.compile(r"^a[0-9a-f]{16}$")


@dataclass(slots=True)
class Outcome:
    """What a handler did: the replies, and the result written to the audit log."""

    replies: list[Reply]
    result: str = "ok"
    detail: str = ""


@dataclass(slots=True)
class OpsCall:
    """One parsed, authorised call: what a command handler gets."""

    ops: Ops
    caller: OpsCaller
    name: str
    args: list[str]
    confirmed: bool = False
    token: str = ""

    @property
    def core(self) -> Core:
        return self.ops.core

    @property
    def lang(self) -> str:
        return self.caller.lang

    def t(self, key: str, **params: object) -> str:
        return t(self.caller.lang, key, **params)

    def reply(self, text: str, result: str = "ok", detail: str = "", *,
              buttons: list[list[Button]] | None = None, image: Image | None = None) -> Outcome:
        return Outcome([Reply(text, buttons=buttons or [], image=image)], result, detail)

    def usage(self, key: str) -> BotError:
        return BotError(ErrorCode.VALIDATION_ERROR, "ops.usage", usage=self.t(key))

    @property
    def text(self) -> str:
        return " ".join([self.name, *self.args])

    async def ask_confirmation(self, summary: str) -> Outcome:
        """A confirm/cancel request for exactly this call, bound to this admin (60 s)."""
        token = await self.ops.confirmations.create(self.caller, self.text)
        seconds = self.core.settings.product.ops.confirm_seconds
        buttons = [[Button(self.t("ops.button_confirm"), f"/ops confirm {token}"),
                    Button(self.t("ops.button_cancel"), f"/ops cancel {token}")]]
        text = summary + "\n" + self.t("ops.confirm_prompt", seconds=seconds)
        return Outcome([Reply(text, buttons=buttons)], "confirm_requested", f"token={token}")


OpsHandler = Callable[[OpsCall], Awaitable[Outcome]]


@dataclass(frozen=True, slots=True)
class OpsCommand:
    name: str
    handler: OpsHandler
    usage_key: str
    aliases: tuple[str, ...] = ()


@dataclass
class Ops:
    core: Core
    commands: dict[str, OpsCommand] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from bot.core.ops.metrics import SharedMetrics

        self.audit = AuditLog(self.core)
        self.confirmations = Confirmations(self.core)
        #: This process's counters, flushed to the shared per-minute buckets (``runner``).
        self.shared = SharedMetrics(self.core)
        from bot.core.ops import commands

        commands.register_all(self)

    def command(self, name: str, handler: OpsHandler, usage_key: str, aliases: tuple[str, ...] = ()) -> None:
        spec = OpsCommand(name, handler, usage_key, aliases)
        for n in (name, *aliases):
            if n in self.commands:
                raise ValueError(f"ops command {n!r} registered twice")
            self.commands[n] = spec

    # --- the entry point ----------------------------------------------------------------
    async def run(self, caller: OpsCaller, text: str) -> list[Reply]:
        """Run one ops command for ``caller`` (see the module docstring); never raises."""
        words = text.split()
        name = words[0].lower() if words else "help"
        args = words[1:]
        if not authorised(self.core.settings, caller):
            await self._audit(caller, name, args, "FORBIDDEN")
            log_event("ops_forbidden", level=logging.WARNING, surface=caller.surface, command=name[:32])
            return [Reply(t(caller.lang, "ops.forbidden"), error=ErrorCode.FORBIDDEN)]
        if name in ("confirm", "cancel"):
            return await self._take(caller, name, args)
        return await self._execute(OpsCall(self, caller, name, args))

    async def _take(self, caller: OpsCaller, name: str, args: list[str]) -> list[Reply]:
        token = args[0] if args else ""
        try:
            status, stored = await self.confirmations.take(caller, token)
        except ServiceUnavailable as err:
            await self._audit(caller, name, args, err.code.value)
            return [Reply(t(caller.lang, err.key), error=err.code)]
        if status == "wrong_admin":
            await self._audit(caller, name, args, "FORBIDDEN", "token of another admin")
            return [Reply(t(caller.lang, "ops.confirm_not_yours"), error=ErrorCode.FORBIDDEN)]
        if status != "ok":
            await self._audit(caller, name, args, "gone")
            return [Reply(t(caller.lang, "ops.confirm_gone"), error=ErrorCode.NOT_FOUND)]
        words = stored.split()
        if name == "cancel":
            await self._audit(caller, "cancel", words, "cancelled", f"token={token}")
            return [Reply(t(caller.lang, "ops.cancelled"))]
        await self._audit(caller, "confirm", words, "confirmed", f"token={token}")
        return await self._execute(OpsCall(self, caller, words[0].lower(), words[1:], confirmed=True, token=token))

    async def _execute(self, call: OpsCall) -> list[Reply]:
        caller = call.caller
        spec = self.commands.get(call.name)
        if spec is None:
            await self._audit(caller, call.name[:32], call.args, "unknown")
            return [Reply(t(caller.lang, "ops.unknown", command=call.name[:32]) + "\n" + self.help_text(caller.lang),
                          error=ErrorCode.VALIDATION_ERROR)]
        try:
            outcome = await spec.handler(call)
        except BotError as err:
            outcome = Outcome([Reply(t(caller.lang, err.key, **err.params), error=err.code)], err.code.value)
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log_event("ops_command_failed", level=logging.ERROR, exc_info=True, command=spec.name, ref=ref)
            self.core.capture_exception(ref=ref, command=f"ops {spec.name}")
            outcome = Outcome([Reply(t(caller.lang, "error.internal_error_ref", ref=ref),
                                     error=ErrorCode.INTERNAL_ERROR)], ErrorCode.INTERNAL_ERROR.value, f"ref={ref}")
        await self._audit(caller, spec.name, call.args, outcome.result, outcome.detail)
        return outcome.replies

    def help_text(self, lang: str) -> str:
        seen: list[str] = []
        for spec in self.commands.values():
            if spec.usage_key not in seen:
                seen.append(spec.usage_key)
        return "\n".join(t(lang, k) for k in seen)

    # --- audit ----------------------------------------------------------------------------
    async def audit_args(self, args: list[str]) -> str:
        """``args`` with user identities replaced by their account ids (``?`` when unknown)."""
        out: list[str] = []
        for word in args:
            if IDENTITY_RE.match(word) and not word.startswith("slack:"):
                try:
                    aid = await self.core.accounts.lookup(word)
                except ServiceUnavailable:
                    aid = None
                out.append(aid or "<unknown identity>")
            else:
                out.append(word)
        return " ".join(out)

    async def _audit(self, caller: OpsCaller, command: str, args: list[str], result: str, detail: str = "") -> None:
        await self.audit.append(who=caller.user, surface=caller.surface, channel=caller.channel, command=command,
                                args=await self.audit_args(args), result=result, detail=detail)

    async def record(self, *, who: str, command: str, args: str, result: str, detail: str = "") -> None:
        """An audit entry made by the bot itself (alert state changes, reminders)."""
        await self.audit.append(who=who, surface="bot", channel="", command=command, args=args, result=result,
                                detail=detail)
