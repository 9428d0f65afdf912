"""Account commands: /help, /profile, /language, /timezone, /delete, /cancel, /consent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.clock import local_day
from bot.core.erasure import erase_account
from bot.core.errors import BotError, ErrorCode
from bot.core.logs import log_event
from bot.core.timezones import parse_timezone
from bot.core.reply import Button, Reply
from bot.core.router import Ctx, SlashOption

if TYPE_CHECKING:
    from bot.core.router import Router

__all__ = ["register"]

DELETE_CONFIRM_TTL = 300
#: ``/consent`` arguments (lower-cased) that give / withdraw the sharing consent.
CONSENT_GIVE = ("share", "on", "yes", "동의")
CONSENT_WITHDRAW = ("off", "withdraw", "no", "철회", "취소", "끄기")
#: ``/profile birthtz <zone>`` (the 사주 birth time zone) and the words that clear it.
BIRTH_TZ_WORDS = ("birthtz", "birth_tz", "birth-tz", "출생시간대", "태어난곳")
BIRTH_TZ_CLEAR = ("off", "none", "clear", "-", "지우기", "끄기")


def register(router: Router) -> None:
    @router.command("help", needs_profile=False, help_key="help.help", description_key="cmd.help")
    async def help_(ctx: Ctx) -> Reply:
        lines = [ctx.t("help.header"), ""]
        lines += [ctx.t(spec.help_key) for spec in router.help_entries() if spec.help_key]
        lines += ["", ctx.t("help.footer")]
        return Reply("\n".join(lines))

    @router.command("profile", help_key="help.profile", private=True, description_key="cmd.profile")
    async def profile(ctx: Ctx) -> Reply:
        """``/profile`` shows the profile; ``/profile birthtz Region/City`` sets the time zone the
        birth time is read in for the 사주 chart (stored encrypted, like the birth date),
        ``/profile birthtz off`` clears it (the profile's zone is used)."""
        p = ctx.profile
        assert p is not None
        if ctx.args.strip():
            sub, _, value = ctx.args.strip().partition(" ")
            if sub.lower() not in BIRTH_TZ_WORDS or not value.strip():
                raise BotError(ErrorCode.VALIDATION_ERROR, "router.usage", usage=ctx.t("profile.usage"))
            if value.strip().lower() in BIRTH_TZ_CLEAR:
                await ctx.core.profiles.update(p, birth_tz=None)
                return ctx.reply("profile.birth_tz_cleared")
            tz = parse_timezone(value)
            await ctx.core.profiles.update(p, birth_tz=tz)
            return ctx.reply("profile.birth_tz_set", tz=tz)
        text = ctx.t(
            "profile.view",
            lang="한국어" if p.lang == "ko" else "English",
            tz=p.tz,
            birth=p.birth.isoformat() if p.birth else ctx.t("profile.unknown"),
            birth_time=p.birth_time or ctx.t("profile.unknown"),
            share=ctx.t("profile.yes") if p.can_share else ctx.t("profile.no"),
        )
        text += "\n" + ctx.t("profile.birth_tz", tz=p.birth_tz or ctx.t("profile.birth_tz_same"))
        buttons = ([[Button(ctx.t("profile.share_off_button"), "/consent off")]] if p.can_share
                   else [[Button(ctx.t("profile.share_button"), "/consent share")]])
        return Reply(text, buttons=buttons, private=True)

    @router.command("consent", needs_profile=True, help_key="help.consent", aliases=("동의",), private=True,
                    description_key="cmd.consent",
                    options=(SlashOption("choice", "cmd.consent.choice",
                                         choices=(("share", "cmd.consent.share"), ("off", "cmd.consent.off"))),))
    async def consent(ctx: Ctx) -> Reply:
        """``/consent share`` gives, ``/consent off`` withdraws the third-party sharing consent;
        bare ``/consent`` shows it. While it is off, paired friends see no sign, animal or
        compatibility of this user (``invites.partner_shares``); pairings themselves stay."""
        assert ctx.profile is not None
        choice = ctx.args.strip().lower()
        if not choice:
            if ctx.profile.can_share:
                return Reply(ctx.t("profile.share_status_on"),
                             buttons=[[Button(ctx.t("profile.share_off_button"), "/consent off")]])
            return Reply(ctx.t("profile.share_status_off"),
                         buttons=[[Button(ctx.t("profile.share_button"), "/consent share")]])
        if choice in CONSENT_GIVE:
            if not ctx.profile.can_share:
                await ctx.core.profiles.update(ctx.profile, share_at=int(ctx.core.clock.now()))
            return ctx.reply("profile.share_given")
        if choice in CONSENT_WITHDRAW:
            if not ctx.profile.can_share:
                return ctx.reply("profile.share_already_off")
            await ctx.core.profiles.update(ctx.profile, share_at=None)
            log_event("consent_share_withdrawn", user=ctx.uid)
            return ctx.reply("profile.share_withdrawn")
        raise BotError(ErrorCode.VALIDATION_ERROR, "router.usage", usage=ctx.t("profile.consent_usage"))

    @router.command("language", needs_profile=False, help_key="help.language", aliases=("lang",),
                    description_key="cmd.language",
                    options=(SlashOption("language", "cmd.language.language",
                                         choices=(("ko", "한국어"), ("en", "English"))),))
    async def language(ctx: Ctx) -> Reply:
        choice = ctx.args.strip().lower()
        if not choice:
            return Reply(ctx.t("language.choose"), buttons=[[
                Button("한국어", "/language ko"), Button("English", "/language en")]])
        if choice not in ("ko", "en"):
            raise BotError(ErrorCode.VALIDATION_ERROR, "router.usage", usage=ctx.t("language.usage"))
        profile = ctx.profile or await ctx.core.profiles.create(ctx.uid, choice, ctx.event.display_name)  # type: ignore[arg-type]
        await ctx.core.profiles.update(profile, lang=choice)
        ctx.lang = choice  # type: ignore[assignment]
        return ctx.reply("language.set")

    @router.command("timezone", help_key="help.timezone", aliases=("tz",), private=True,
                    description_key="cmd.timezone",
                    options=(SlashOption("zone", "cmd.timezone.zone", max_length=64),))
    async def timezone(ctx: Ctx) -> Reply:
        assert ctx.profile is not None
        if not ctx.args.strip():
            return ctx.reply("timezone.current", tz=ctx.profile.tz)
        tz = parse_timezone(ctx.args)
        await ctx.core.profiles.update(ctx.profile, tz=tz)
        return ctx.reply("timezone.set", tz=tz, day=local_day(ctx.core.clock, tz).isoformat())

    @router.command("delete", needs_profile=False, help_key="help.delete", private=True,
                    description_key="cmd.delete")
    async def delete(ctx: Ctx) -> Reply:
        core = ctx.core
        if ctx.args.strip() != "confirm":
            if ctx.profile is None:
                if ctx.uid:  # an account with no profile only holds the identity: erase it
                    await erase_account(core, ctx.uid)
                return ctx.reply("delete.nothing")
            await core.sessions.put(ctx.uid, "delete", {"asked": int(core.clock.now())}, DELETE_CONFIRM_TTL)
            ids = await core.accounts.identities(ctx.uid)
            linked = "\n".join(f"• {ctx.t('platform.' + p)} {user_id}" for p, user_id in sorted(ids.items()))
            return Reply(ctx.t("delete.confirm", identities=linked), private=True, buttons=[[
                Button(ctx.t("delete.button_yes"), "/delete confirm"),
                Button(ctx.t("delete.button_no"), "/cancel")]])
        if await core.sessions.get(ctx.uid, "delete") is None:
            return ctx.reply("delete.not_asked")
        # The whole account, every linked identity (bot.core.erasure). Every step is
        # idempotent; when Redis drops part-way the user is told SERVICE_UNAVAILABLE and the
        # sweeper (or "/delete confirm" again) finishes the job.
        await erase_account(core, ctx.uid)
        return ctx.reply("delete.done")

    @router.command("cancel", needs_profile=False, private=True, description_key="cmd.cancel")
    async def cancel(ctx: Ctx) -> Reply:
        for kind in ("delete", "ask"):
            await ctx.core.sessions.drop(ctx.uid, kind)
        return ctx.reply("cancel.done")
