"""/credits (balance, recent entries, prices), /buy (packs; invoices on Telegram), and the
payment pages Telegram asks every bot that sells with Stars to answer: /terms and /paysupport.

/paysupport with a charge reference (the transaction id of Telegram's payment confirmation)
looks the payment up *for the caller only* (someone else's reference reads as not found),
tells them where it stands, and logs ``payment_support_request`` (warning level) so operators
can find it; refunds are made by operators (``/ops refund``), never automatically. Read-only:
nothing is written to Redis; Redis down answers SERVICE_UNAVAILABLE.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.core.payments import invoice_payload, payment_info, provider_for_platform
from bot.core.errors import BotError, ErrorCode
from bot.core.logs import log_event
from bot.core.reply import Button, Invoice, Reply
from bot.core.router import Ctx, SlashOption

if TYPE_CHECKING:
    from bot.core.router import Router

__all__ = ["register"]

HISTORY_LINES = 5
#: What a Telegram charge id can look like (letters, digits and a few separators).
_CHARGE_REF_RE = re.compile(r"^[A-Za-z0-9_.:-]{4,128}$")


def register(router: Router) -> None:
    @router.command("credits", help_key="help.credits", aliases=("balance",), private=True,
                    description_key="cmd.credits")
    async def credits(ctx: Ctx) -> Reply:
        core = ctx.core
        assert ctx.profile is not None
        account = await core.ledger.account(ctx.uid)
        entries = await core.ledger.history(ctx.uid, HISTORY_LINES)
        tz = ZoneInfo(ctx.profile.tz)
        history = "\n".join(
            ctx.t("credits.entry",
                  date=datetime.fromtimestamp(e.ts / 1000, tz).strftime("%m-%d %H:%M"),
                  sign="+" if e.amount > 0 else "",
                  amount=e.amount if e.kind != "capture" else "✓",
                  kind=_kind_label(ctx, e.kind))
            for e in entries
        ) or ctx.t("credits.no_history")
        prices = "\n".join(
            ctx.t("credits.price_line", name=ctx.t(f"credits.price.{name}"), cost=cost)
            for name, cost in core.settings.product.credits.costs.items()
        )
        held = ctx.t("credits.held", held=account["held"]) if account["held"] else ""
        return Reply(ctx.t("credits.view", balance=account["balance"], held=held, history=history,
                           prices=prices),
                     buttons=[[Button(ctx.t("credits.buy_button"), "/buy")]], private=True)

    @router.command("buy", help_key="help.buy", private=True, description_key="cmd.buy",
                    options=(SlashOption("pack", "cmd.buy.pack", max_length=32),))
    async def buy(ctx: Ctx) -> Reply:
        packs = ctx.core.settings.product.credits.packs
        choice = ctx.args.strip()
        provider = provider_for_platform(ctx.event.platform)
        if provider is None:  # this platform sells nothing: say how to top up instead
            return await _buy_elsewhere(ctx)
        if not choice:
            lines = [
                ctx.t("buy.pack_line", credits=p.credits, stars=p.stars, krw=f"{p.krw:,}",
                      bonus=ctx.t("buy.pack_bonus", bonus=p.bonus) if p.bonus else "")
                for p in packs
            ]
            buttons = [[Button(ctx.t("buy.pack_button", total=p.total, stars=p.stars), f"/buy {p.id}")]
                       for p in packs]
            return Reply(ctx.t("buy.packs", packs="\n".join(lines)), buttons=buttons)
        pack = ctx.core.settings.product.credits.pack(choice)
        if pack is None:
            raise BotError(ErrorCode.VALIDATION_ERROR, "buy.unknown_pack")
        bonus = ctx.t("buy.pack_bonus", bonus=pack.bonus) if pack.bonus else ""
        invoice = Invoice(
            pack_id=pack.id,
            title=ctx.t("buy.invoice_title", total=pack.total),
            description=ctx.t("buy.invoice_description", credits=pack.credits, bonus=bonus),
            payload=invoice_payload(pack.id, ctx.uid),
            currency=provider.currency,
            amount=pack.stars,
        )
        return Reply(invoice.title, invoice=invoice, private=True)

    @router.command("terms", needs_profile=False, help_key="help.terms", description_key="cmd.terms")
    async def terms(ctx: Ctx) -> Reply:
        return ctx.reply("terms.summary")

    @router.command("paysupport", needs_profile=False, help_key="help.paysupport", private=True,
                    description_key="cmd.paysupport",
                    options=(SlashOption("reference", "cmd.paysupport.reference", max_length=100),))
    async def paysupport(ctx: Ctx) -> Reply:
        parts = ctx.args.split()
        if not parts:
            return ctx.reply("paysupport.info")
        ref = parts[0]
        if not _CHARGE_REF_RE.fullmatch(ref):
            raise BotError(ErrorCode.VALIDATION_ERROR, "paysupport.bad_reference")

        info = await payment_info(ctx.core, ref)
        status = info.get("status", "") if info.get("account") == ctx.uid else ""
        log_event("payment_support_request", level=logging.WARNING, user=ctx.uid, charge=ref,
                  status=status or "not_found")
        if status == "paid":
            tz = ZoneInfo(ctx.profile.tz) if ctx.profile else ZoneInfo(
                ctx.core.settings.product.profile.default_timezone)
            when = datetime.fromtimestamp(int(info.get("ts") or 0) / 1000, tz).strftime("%Y-%m-%d %H:%M")
            head = ctx.t("paysupport.status_paid", credits=info.get("credits", "?"), when=when)
        elif status in ("refunding", "refunded", "rejected"):
            head = ctx.t(f"paysupport.status_{status}")
        else:
            head = ctx.t("paysupport.status_not_found")
        return Reply(head + "\n\n" + ctx.t("paysupport.logged"), private=True)


async def _buy_elsewhere(ctx: Ctx) -> Reply:
    """``/buy`` where no payment provider serves the platform (Discord): the prices, and how to
    top up plainly — on Telegram, through the linked identity or after ``/link``. Read-only."""
    core = ctx.core
    ids = await core.accounts.identities(ctx.uid)
    if "tg" in ids:
        how = ctx.t("buy.how_linked")
    else:
        username = core.bot_username("tg").lstrip("@")
        how = ctx.t("buy.how_link", bot=f" (@{username})" if username else "")
    lines = [
        ctx.t("buy.pack_line", credits=p.credits, stars=p.stars, krw=f"{p.krw:,}",
              bonus=ctx.t("buy.pack_bonus", bonus=p.bonus) if p.bonus else "")
        for p in core.settings.product.credits.packs
    ]
    return Reply(ctx.t("buy.no_payment_here", how=how) + "\n\n" + "\n".join(lines), private=True)


def _kind_label(ctx: Ctx, kind: str) -> str:
    from bot.core.i18n import catalogue

    key = f"credits.kind.{kind}"
    return ctx.t(key) if key in catalogue() else kind
