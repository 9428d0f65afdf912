"""``/invite`` (create, ``status``, ``new``) and ``/join <token>``: compatibility pairing.

``/start <token>`` (a Telegram deep link) becomes ``/join <token>`` in onboarding: right away
for an onboarded user, after onboarding otherwise. Both sides need the optional third-party
sharing consent; an accepting user without it is asked with a button (``/join <token> share``
gives the consent and continues) and the join is remembered, so a plain ``/join`` after
``/consent share`` continues it too.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote
from zoneinfo import ZoneInfo

from bot.core.chemistry import compatibility, render_compat
from bot.core.clock import local_day
from bot.core.errors import BotError, ErrorCode
from bot.core.i18n import t
from bot.core.invites import Acceptance, Invite, Invites, partner_name
from bot.core.logs import log_event, pair_scope
from bot.core.reply import MAX_BUTTON_DATA_BYTES, Button, Reply
from bot.core.router import Ctx, SlashOption

if TYPE_CHECKING:
    from bot.core.profiles import Profile
    from bot.core.router import Router
    from bot.core.service import Core

__all__ = ["register", "join_flow", "share_reply", "pairing_reply"]


JOIN_SESSION = "join"
JOIN_SESSION_TTL = 3600


def _invites(core: Core) -> Invites:
    return core.invites


def _button(label: str, command: str) -> list[Button]:
    """A one-button row, or none when the command would not fit in a button."""
    if len(command.encode("utf-8")) > MAX_BUTTON_DATA_BYTES:
        return []
    return [Button(label, command)]


# --- replies ----------------------------------------------------------------------------

def share_reply(core: Core, lang: str, platform: str, invite: Invite, *, reissued: bool = False) -> Reply:
    """The invite to pass on: on Telegram a deep link when the bot's username is known; on any
    other platform (Discord) the ``/join <token>`` code, which works on every platform, plus the
    Telegram deep link when the Telegram bot's username is known, so a friend on either can
    join; else the code alone (plus a link button when an HTTP landing URL is configured)."""
    hours = max(1, core.settings.product.invites.ttl_seconds // 3600)
    code = f"/join {invite.token}"
    username = core.bot_username("tg").lstrip("@")
    rows: list[list[Button]] = []
    if platform != "tg" and username:
        link = f"https://t.me/{username}?start={invite.token}"
        text = t(lang, "invite.link_code_telegram", code=code, link=link, hours=hours)
    elif platform == "tg" and username:
        link = f"https://t.me/{username}?start={invite.token}"
        text = t(lang, "invite.link_telegram", link=link, code=code, hours=hours)
        share = f"https://t.me/share/url?url={quote(link, safe='')}&text={quote(t(lang, 'invite.share_text'), safe='')}"
        rows.append([Button(t(lang, "invite.share_button"), url=share)])
    else:
        text = t(lang, "invite.link_code", code=code, hours=hours)
        landing = core.settings.product.invites.landing_url  # optional: "https://host/invite/{token}"
        if landing:
            rows.append([Button(t(lang, "invite.open_button"), url=str(landing).format(token=invite.token))])
    rows.append([Button(t(lang, "invite.status_button"), "/invite status"),
                 Button(t(lang, "invite.new_button"), "/invite new")])
    if reissued:
        text = t(lang, "invite.reissued") + "\n\n" + text
    return Reply(text, buttons=rows)


def _compat_text(me: Profile, other: Profile, day: date) -> str | None:
    if me.birth is None or other.birth is None:
        return None
    c = compatibility(me.uid, me.birth, other.uid, other.birth, day, me.lang)
    return render_compat(c)


def pairing_reply(core: Core, me: Profile, other: Profile, acc: Acceptance, day: date) -> Reply:
    """What one side of a pairing sees, in their own language."""
    lang = me.lang
    name = partner_name(other, lang)
    if acc.status == "replay":
        head = t(lang, "invite.already_paired", name=name)
    elif me.uid == acc.invitee:
        head = t(lang, "invite.paired_invitee", name=name)
    else:
        head = t(lang, "invite.paired_inviter", name=name)
    parts = [head]
    if not other.can_share:  # they withdrew the sharing consent (same rule as partner_shares)
        return Reply(f"{head}\n\n{t(lang, 'invite.partner_not_sharing')}", private=True)
    try:
        compat = _compat_text(me, other, day)
    except Exception:  # the reading must never cost the pairing itself
        log_event("invite_compat_failed", level=40, exc_info=True, user=me.uid)
        compat = None
    parts.append(compat or t(lang, "invite.compat_unavailable"))
    paid = acc.paid(me.uid)
    extra: list[str] = []
    if paid > 0:
        extra.append(t(lang, "invite.reward", amount=paid))
    elif acc.status == "paired":
        mine_is_inviter = me.uid == acc.inviter
        outcome = acc.inviter_outcome if mine_is_inviter else acc.invitee_outcome
        amount = acc.inviter_amount if mine_is_inviter else acc.invitee_amount
        if outcome == "c":  # the inviter's rewards for today are used up; the pairing stands
            extra.append(t(lang, "invite.reward_capped",
                           limit=core.settings.product.invites.referral_rewards_per_day))
        elif outcome == "o":  # the invitee reward is once per person, ever
            extra.append(t(lang, "invite.reward_invitee_once"))
        elif amount > 0:  # this pair was rewarded before
            extra.append(t(lang, "invite.reward_once"))
    if acc.status == "paired":
        extra.append(t(lang, "invite.unlocked"))
    if extra:
        parts.append("\n".join(extra))
    cost = core.ledger.cost("synastry_analysis")
    rows = [r for r in [_button(t(lang, "invite.ai_button", cost=cost), f"/reading pair {other.uid}")] if r]
    return Reply("\n\n".join(parts), buttons=rows, private=True)


def _consent_reply(lang: str) -> Reply:
    return Reply(t(lang, "invite.need_consent"),
                 buttons=[[Button(t(lang, "invite.consent_button"), "/consent share")]])


# --- flows --------------------------------------------------------------------------------

async def join_flow(core: Core, uid: str, token: str, *, profile: Profile | None = None,
                    consent: bool = False, client_ip: str | None = None) -> list[Reply]:
    """``uid`` accepts ``token``: the shared path of ``/join``, deep links and HTTP landings.

    Raises ``BotError`` for refusals (the router renders them in the user's language).
    """
    invites = _invites(core)
    profile = profile or await core.profiles.get(uid)
    if profile is None or not profile.onboarded:
        await core.sessions.remember_pending(uid, f"/join {token}"[:80])
        lang = profile.lang if profile else "ko"
        return [Reply(t(lang, "onboarding.needed") + " /start")]
    lang = profile.lang
    parsed = invites.codec.parse(token)  # garbage / altered tokens stop here, before any state
    if not profile.can_share:
        if consent:
            profile = await core.profiles.update(profile, share_at=int(core.clock.now()))
        else:
            await core.sessions.put(uid, JOIN_SESSION, {"token": parsed.token}, JOIN_SESSION_TTL)
            rows = [r for r in [_button(t(lang, "invite.join_consent_button"),
                                        f"/join {parsed.token} share")] if r]
            return [Reply(t(lang, "invite.join_need_consent"), buttons=rows)]
    try:
        acc = await invites.accept(uid, parsed.token, client_ip=client_ip)
    except BotError as err:
        if err.code not in (ErrorCode.RATE_LIMITED, ErrorCode.SERVICE_UNAVAILABLE):
            await core.sessions.drop(uid, JOIN_SESSION)  # a final answer: nothing left pending
        raise
    await core.sessions.drop(uid, JOIN_SESSION)
    if acc.status == "self":
        return [Reply(t(lang, "invite.self"))]
    with pair_scope():  # the inviter is read and notified here: no log line may name both sides
        return await _answer_pairing(core, profile, acc)


async def _answer_pairing(core: Core, profile: Profile, acc: Acceptance) -> list[Reply]:
    """Both sides' pairing messages: the invitee's is returned, the inviter's pushed."""
    inviter = await core.profiles.get(acc.inviter)
    if inviter is None:
        raise BotError(ErrorCode.NOT_FOUND, "invite.not_found")
    if acc.status == "paired":
        day = date.fromisoformat(acc.day) if acc.day else local_day(core.clock, profile.tz)
        mine = pairing_reply(core, profile, inviter, acc, day)
        theirs = pairing_reply(core, inviter, profile, acc, day)
        try:
            await core.notify(acc.inviter, theirs)
        except Exception:  # a failed push must not undo or hide the pairing
            log_event("invite_notify_failed", level=40, exc_info=True)
        return [mine]
    # replay: show today's compatibility again; nothing new is paid
    return [pairing_reply(core, profile, inviter, acc, local_day(core.clock, profile.tz))]


def _fmt(ms: int, tz: str, with_time: bool = True) -> str:
    dt = datetime.fromtimestamp(ms / 1000, ZoneInfo(tz))
    return dt.strftime("%m-%d %H:%M" if with_time else "%m-%d")


async def _status(ctx: Ctx) -> Reply:
    core = ctx.core
    assert ctx.profile is not None
    invites = _invites(core)
    tz = ctx.profile.tz
    now = core.clock.now_ms()
    items = await invites.list_for(ctx.uid, 10)
    lines = [ctx.t("invite.status_title"), ""]
    if not items:
        lines.append(ctx.t("invite.status_empty"))
    for inv in items:
        state = inv.state(now)
        created = _fmt(inv.created_ms, tz)
        if state == "pending":
            lines.append(ctx.t("invite.status_pending", created=created, until=_fmt(inv.exp_ms, tz)))
        elif state == "paired":
            if inv.invitee:  # removed when the friend's account was erased
                other = await core.profiles.get(inv.invitee)
                name = partner_name(other, ctx.lang) if other else ctx.t("invite.deleted_friend")
            else:
                name = ctx.t("invite.deleted_friend")
            lines.append(ctx.t("invite.status_paired", created=created, name=name))
        elif state == "expired":
            lines.append(ctx.t("invite.status_expired", created=created))
        else:
            lines.append(ctx.t("invite.status_revoked", created=created))
    lines += ["", ctx.t("invite.status_pairs", count=await invites.pair_count(ctx.uid))]
    return Reply("\n".join(lines), private=True)


async def _create(ctx: Ctx, replace_token: str | None, reissue: bool) -> Reply:
    core = ctx.core
    assert ctx.profile is not None
    if not ctx.profile.can_share:
        return _consent_reply(ctx.lang)
    invites = _invites(core)
    if reissue and replace_token:
        invites.codec.parse(replace_token)  # a garbage token is a validation error, not a limit hit
    if ctx.event.client_ip:
        await core.limiter.check("invite_ip", ctx.event.client_ip)
    await core.limiter.check("invite_user", ctx.uid)
    if reissue:
        _old, invite = await invites.reissue(ctx.uid, replace_token)
    else:
        invite = await invites.issue(ctx.uid)
    return share_reply(core, ctx.lang, ctx.event.platform, invite, reissued=reissue)


def register(router: Router) -> None:
    @router.command("invite", help_key="help.invite", description_key="cmd.invite",
                    options=(SlashOption("action", "cmd.invite.action",
                                         choices=(("status", "cmd.invite.status"), ("new", "cmd.invite.new"))),))
    async def invite(ctx: Ctx) -> Reply:
        sub, _, rest = ctx.args.strip().partition(" ")
        sub = sub.lower()
        if sub in ("", "link", "링크"):
            return await _create(ctx, None, reissue=False)
        if sub in ("status", "상태", "현황"):
            return await _status(ctx)
        if sub in ("new", "reissue", "새로"):
            token = rest.strip().split()[0] if rest.strip() else None
            return await _create(ctx, token, reissue=True)
        raise BotError(ErrorCode.VALIDATION_ERROR, "router.usage", usage=ctx.t("invite.usage"))

    @router.command("join", description_key="cmd.join",
                    options=(SlashOption("code", "cmd.join.code", required=True, max_length=128),))
    async def join(ctx: Ctx) -> list[Reply]:
        parts = ctx.args.split()
        token = parts[0] if parts else None
        consent = len(parts) > 1 and parts[1].lower() in ("share", "yes", "동의")
        if not token:
            pending = await ctx.core.sessions.get(ctx.uid, JOIN_SESSION)
            token = str(pending.get("token", "")) if pending else ""
            if not token:
                return [ctx.reply("invite.join_usage")]
        return await join_flow(ctx.core, ctx.uid, token[:128], profile=ctx.profile, consent=consent,
                               client_ip=ctx.event.client_ip)
