"""``/link`` and ``/unlink``: one account across Telegram and Discord (``bot.core.linking``).

- ``/link`` (onboarded) shows a one-time code, valid 10 minutes;
- ``/link <code>`` on the other platform attaches this identity to the code's account. When this
  identity's own account holds a profile or its welcome bonus, the user is told what is given
  up and confirms with a button (``/link confirm``; the code's digest waits in the ``link``
  session, 5 minutes); an identity that was never onboarded is attached at once;
- ``/unlink`` lists the account's identities; ``/unlink <platform>`` asks, ``/unlink
  <platform> confirm`` detaches it (never the last one).

Refusals are ``BotError``s with a kind, specific message; nothing changes for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core import linking
from bot.core.errors import BotError, ErrorCode, ServiceUnavailable
from bot.core.i18n import Lang, t
from bot.core.reply import Button, Reply
from bot.core.router import Ctx, SlashOption

if TYPE_CHECKING:
    from bot.core.router import Router

__all__ = ["register", "PLATFORM_WORDS"]

SESSION = "link"
CONFIRM_TTL = 300
#: What users may type for a platform in ``/unlink``.
PLATFORM_WORDS = {"tg": "tg", "telegram": "tg", "텔레그램": "tg", "dc": "dc", "discord": "dc",
                  "디스코드": "dc", "cli": "cli"}


def _platform_name(lang: Lang, platform: str) -> str:
    return t(lang, f"platform.{platform}")


async def _done(ctx: Ctx, plan: linking.Plan) -> Reply:
    """Confirmation in the language of the account the identity now belongs to."""
    core = ctx.core
    profile = await core.profiles.get(plan.target)
    lang: Lang = profile.lang if profile else ctx.lang
    balance = await core.ledger.balance(plan.target)
    ids = await core.accounts.identities(plan.target)
    names = ", ".join(_platform_name(lang, p) for p in sorted(ids))
    return Reply(t(lang, "link.done", platforms=names, balance=balance), private=True)


def register(router: Router) -> None:
    @router.command("link", needs_profile=False, help_key="help.link", aliases=("연결",), private=True,
                    description_key="cmd.link",
                    options=(SlashOption("code", "cmd.link.code", max_length=16),))
    async def link(ctx: Ctx) -> Reply:
        core = ctx.core
        if not ctx.uid:  # Redis down while resolving the caller (only optional commands get here)
            raise ServiceUnavailable("redis")
        arg = ctx.args.strip()
        word = arg.lower()
        if not arg:
            if ctx.profile is None or not ctx.profile.onboarded:
                return ctx.reply("link.how")
            issued = await linking.issue_code(core, ctx.uid)
            return ctx.reply("link.code", code=issued.shown, minutes=linking.CODE_TTL_MS // 60_000,
                             private=True)
        if word in ("cancel", "취소"):
            await core.sessions.drop(ctx.uid, SESSION)
            return ctx.reply("link.cancelled")
        if word in ("confirm", "확인"):
            pending = await core.sessions.get(ctx.uid, SESSION)
            if not pending or "digest" not in pending:
                return ctx.reply("link.not_asked")
            plan = await linking.attach(core, ctx.event.uid, ctx.uid, str(pending["digest"]))
            return await _done(ctx, plan)
        code = linking.normalize_code(arg)
        if code is None:
            raise BotError(ErrorCode.VALIDATION_ERROR, "link.bad_code")
        plan, digest = await linking.preview(core, ctx.event.uid, ctx.uid, code)
        if not plan.confirm:
            return await _done(ctx, await linking.attach(core, ctx.event.uid, ctx.uid, digest))
        await core.sessions.put(ctx.uid, SESSION, {"digest": digest}, CONFIRM_TTL)
        forfeit = ctx.t("link.forfeit_bonus", bonus=plan.forfeit) if plan.forfeit else ""
        return Reply(ctx.t("link.confirm", forfeit=forfeit), private=True, buttons=[[
            Button(ctx.t("link.button_yes"), "/link confirm"),
            Button(ctx.t("link.button_no"), "/link cancel")]])

    @router.command("unlink", help_key="help.unlink", aliases=("연결해제",), private=True,
                    description_key="cmd.unlink",
                    options=(SlashOption("platform", "cmd.unlink.platform",
                                         choices=(("telegram", "Telegram"), ("discord", "Discord"))),))
    async def unlink(ctx: Ctx) -> Reply:
        core = ctx.core
        parts = ctx.args.lower().split()
        ids = await core.accounts.identities(ctx.uid)
        if not parts:
            if len(ids) <= 1:
                return ctx.reply("unlink.only_one")
            lines = "\n".join(f"• {_platform_name(ctx.lang, p)}" for p in sorted(ids))
            return Reply(ctx.t("unlink.choose", identities=lines), private=True, buttons=[
                [Button(_platform_name(ctx.lang, p), f"/unlink {p}")] for p in sorted(ids)])
        if parts[0] in ("cancel", "취소"):
            await core.sessions.drop(ctx.uid, SESSION)
            return ctx.reply("link.cancelled")
        platform = PLATFORM_WORDS.get(parts[0])
        if platform is None:
            raise BotError(ErrorCode.VALIDATION_ERROR, "router.usage", usage=ctx.t("unlink.usage"))
        if platform not in ids:
            raise BotError(ErrorCode.NOT_FOUND, "link.not_linked")
        if len(ids) <= 1:
            raise BotError(ErrorCode.FORBIDDEN, "link.last_identity")
        name = _platform_name(ctx.lang, platform)
        if len(parts) < 2 or parts[1] not in ("confirm", "확인"):
            await core.sessions.put(ctx.uid, SESSION, {"unlink": platform}, CONFIRM_TTL)
            return Reply(ctx.t("unlink.confirm", platform=name), private=True, buttons=[[
                Button(ctx.t("unlink.button_yes"), f"/unlink {platform} confirm"),
                Button(ctx.t("link.button_no"), "/unlink cancel")]])
        pending = await core.sessions.get(ctx.uid, SESSION)
        if not pending or pending.get("unlink") != platform:
            return ctx.reply("link.not_asked")
        await linking.detach(core, ctx.uid, platform)
        await core.sessions.drop(ctx.uid, SESSION)
        return ctx.reply("unlink.done", platform=name)
