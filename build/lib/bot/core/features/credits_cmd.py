"""/credits (balance, recent entries, prices) and /buy (packs; invoices on Telegram)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.core.errors import BotError, ErrorCode
from bot.core.reply import Button, Invoice, Reply
from bot.core.router import Ctx

if TYPE_CHECKING:
    from bot.core.router import Router

__all__ = ["register", "invoice_payload", "parse_invoice_payload"]

HISTORY_LINES = 5


def invoice_payload(pack_id: str, uid: str) -> str:
    """What Telegram echoes back at pre-checkout: the pack and the buyer, nothing priced."""
    return f"{pack_id}|{uid}"


def parse_invoice_payload(payload: str) -> tuple[str, str] | None:
    pack_id, sep, uid = payload.partition("|")
    return (pack_id, uid) if sep and pack_id and uid else None


def register(router: Router) -> None:
    @router.command("credits", help_key="help.credits", aliases=("balance",))
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

    @router.command("buy", help_key="help.buy")
    async def buy(ctx: Ctx) -> Reply:
        packs = ctx.core.settings.product.credits.packs
        choice = ctx.args.strip()
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
        if ctx.event.platform != "tg":
            return ctx.reply("buy.telegram_only")
        bonus = ctx.t("buy.pack_bonus", bonus=pack.bonus) if pack.bonus else ""
        invoice = Invoice(
            pack_id=pack.id,
            title=ctx.t("buy.invoice_title", total=pack.total),
            description=ctx.t("buy.invoice_description", credits=pack.credits, bonus=bonus),
            payload=invoice_payload(pack.id, ctx.uid),
            currency="XTR",
            amount=pack.stars,
        )
        return Reply(invoice.title, invoice=invoice, private=True)


def _kind_label(ctx: Ctx, kind: str) -> str:
    from bot.core.i18n import catalogue

    key = f"credits.kind.{kind}"
    return ctx.t(key) if key in catalogue() else kind
