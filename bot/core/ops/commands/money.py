"""``/ops user``, ``/ops credits grant``, ``/ops refund``, ``/ops audit [user|log [n]]``.

Grant and refund are dangerous: the first call answers with a confirmation (single use, 60 s,
that admin, those arguments); the confirmed call acts. A grant's idempotency key derives from
the confirmation token (``ops:<token>``), so even a replayed confirmation grants once.
"""

from __future__ import annotations

from datetime import datetime, UTC
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.core.errors import BotError, ErrorCode
from bot.core.ops.refunds import refund_rejected
from bot.core.ops.service import Outcome, OpsCall
from bot.core.ops.users import resolve_user
from bot.core.payments import PAID, REFUND_OPEN, payment_info, refund_payment, spec
from bot.core.store import K, redis_guard

if TYPE_CHECKING:
    from bot.core.ops.service import Ops
    from bot.core.service import Core

__all__ = ["register", "kst"]

SEOUL = ZoneInfo("Asia/Seoul")
PAYMENTS_SCANNED = 500


def kst(ms: int | float) -> str:
    """Epoch ms -> ``2026-01-02 09:00`` in Korean time (operators' clock)."""
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(SEOUL).strftime("%Y-%m-%d %H:%M")


async def _payments_of(core: Core, aid: str, ns: str) -> list[tuple[str, dict[str, str]]]:
    """The account's payments among the newest ``PAYMENTS_SCANNED`` (all in the {pay} slot)."""
    r = core.store.redis
    async with redis_guard("ops.user.payments"):
        charges = await r.zrevrange(K.payments_index(ns), 0, PAYMENTS_SCANNED - 1)
        async with r.pipeline(transaction=False) as pipe:
            for c in charges:
                pipe.hgetall(K.payment(c, ns))
            rows = await pipe.execute()
    return [(c, row) for c, row in zip(charges, rows, strict=True) if row.get("account") == aid]


async def _holds_of(core: Core, aid: str) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    async with redis_guard("ops.user.holds"):
        async for member, score in core.store.redis.zscan_iter(K.hold_deadlines(), match=f"{aid}.*"):
            out.append((str(member), int(score)))
    return out


async def user_cmd(call: OpsCall) -> Outcome:
    if len(call.args) != 1:
        raise call.usage("ops.usage_user")
    core = call.core
    aid = await resolve_user(core, call.args[0])
    profile = await core.profiles.get(aid)
    account = await core.ledger.account(aid)
    history = await core.ledger.history(aid, 5)
    platforms = sorted((await core.accounts.identities(aid)).keys())
    lines = [call.t("ops.user_title", aid=aid, platforms=", ".join(platforms) or "-")]
    if profile is None:
        lines.append(call.t("ops.user_no_profile"))
    else:  # never the birth date or time
        lines.append(call.t("ops.user_profile", lang=profile.lang, tz=profile.tz, step=profile.step,
                            created=kst(profile.created * 1000),
                            share=call.t("ops.yes" if profile.can_share else "ops.no")))
    lines.append(call.t("ops.user_balance", **account))
    lines.append(call.t("ops.user_ledger"))
    lines += [f"  {kst(e.ts)} {e.kind} {e.amount:+d} → {e.balance} {e.reason[:40]}" for e in history] or ["  -"]
    ns = spec("stars").ns
    pays = await _payments_of(core, aid, ns)
    lines.append(call.t("ops.user_payments", n=len(pays)))
    lines += [f"  {c[:24]} {p.get('status', '?')} {p.get('pack', '')} {p.get('credits', 0)}cr "
              f"{p.get('amount', '?')}{p.get('currency', '')} {kst(int(p.get('ts', 0) or 0))}" for c, p in pays[:10]]
    holds = await _holds_of(core, aid)
    now = core.clock.now_ms()
    lines.append(call.t("ops.user_holds", n=len(holds)))
    lines += [f"  {h.partition('.')[2][:12]} deadline {kst(d)}" + (" ⚠ overdue" if d < now else "") for h, d in holds]
    return call.reply("\n".join(lines))


def _positive_int(text: str, maximum: int) -> int | None:
    return int(text) if text.isdigit() and 0 < int(text) <= maximum else None


async def credits_cmd(call: OpsCall) -> Outcome:
    if len(call.args) < 4 or call.args[0].lower() != "grant":
        raise call.usage("ops.usage_credits")
    core = call.core
    amount = _positive_int(call.args[2], core.settings.product.credits.max_amount)
    if amount is None:
        raise BotError(ErrorCode.VALIDATION_ERROR, "ops.bad_amount", max=core.settings.product.credits.max_amount)
    reason = " ".join(call.args[3:])[:200]
    aid = await resolve_user(core, call.args[1])
    if not call.confirmed:
        return await call.ask_confirmation(call.t("ops.grant_confirm", n=amount, aid=aid, reason=reason))
    res = await core.ledger.grant(aid, amount, f"ops: {reason} ({call.caller.user})", idem_key=f"ops:{call.token}",
                                  kind="grant")
    if res.replayed:
        return call.reply(call.t("ops.grant_replayed", n=amount, aid=aid, balance=res.balance), "replay")
    return call.reply(call.t("ops.granted", n=amount, aid=aid, balance=res.balance), "granted",
                      f"aid={aid} n={amount} entry={res.entry_id}")


async def refund_cmd(call: OpsCall) -> Outcome:
    if len(call.args) != 1 or len(call.args[0]) > 128:
        raise call.usage("ops.usage_refund")
    core = call.core
    charge = call.args[0]
    info = await payment_info(core, charge, "stars")
    status = info.get("status", "")
    if not info:
        raise BotError(ErrorCode.NOT_FOUND, "ops.payment_not_found", charge=charge[:40])
    if status not in (PAID, *REFUND_OPEN, "rejected"):
        raise BotError(ErrorCode.CONFLICT, "ops.refund_not_possible", charge=charge[:40], status=status)
    if not call.confirmed:
        key = "ops.refund_confirm_stars_only" if status == "rejected" else "ops.refund_confirm"
        return await call.ask_confirmation(call.t(key, charge=charge[:40], aid=info.get("account", "?"),
                                                  credits=info.get("credits", 0), amount=info.get("amount", "?"),
                                                  status=status))
    if status == "rejected":
        so = await refund_rejected(core, charge, call.caller.user)
        key = {"refunded": "ops.stars_refunded", "already": "ops.stars_already", "failed": "ops.refund_failed"}.get(
            so.status, "ops.refund_refused")
        return call.reply(call.t(key, charge=charge[:40], amount=so.amount, reason=so.reason, error=so.error),
                          so.status, so.reason)
    res = await refund_payment(core, charge, "stars")
    key = {"reversed": "ops.refunded", "refunded": "ops.refunded", "already_refunded": "ops.refund_already",
           "failed": "ops.refund_failed"}.get(res.status, "ops.refund_refused")
    return call.reply(call.t(key, charge=charge[:40], credits=res.credits, reason=res.reason, error=res.error,
                             amount=info.get("amount", "?")), res.status, res.reason)


async def _payment_mismatches(core: Core) -> list[str]:
    """Payment records whose grant (or refund reversal) is missing from the account's ledger."""
    ns = spec("stars").ns
    r = core.store.redis
    async with redis_guard("ops.audit.payments"):
        charges = await r.zrange(K.payments_index(ns), 0, -1)
        async with r.pipeline(transaction=False) as pipe:
            for c in charges:
                pipe.hgetall(K.payment(c, ns))
            rows = await pipe.execute()
    bad: list[str] = []
    for charge, row in zip(charges, rows, strict=True):
        status, aid = row.get("status", ""), row.get("account", "")
        if status in ("rejected", "pending", "") or not aid:
            continue
        if status == "refunded" and row.get("refund_kind") == "stars_only":
            continue
        grant = await core.ledger.first_result(aid, f"{ns}pay:{charge}")
        if grant is None:
            bad.append(f"{charge[:24]} {status}: no grant")
            continue
        if status != PAID and await core.ledger.first_result(aid, f"{ns}refund:{charge}") is None:
            bad.append(f"{charge[:24]} {status}: no reversal")
    return bad


async def audit_cmd(call: OpsCall) -> Outcome:
    core = call.core
    if call.args and call.args[0].lower() == "log":
        n = 10
        if len(call.args) > 1:
            parsed = _positive_int(call.args[1], 100)
            if parsed is None:
                raise call.usage("ops.usage_audit")
            n = parsed
        entries = await call.ops.audit.recent(n)
        lines = [call.t("ops.audit_log_title", n=len(entries))]
        lines += [f"{kst(e.at)} {e.who} [{e.surface}{' ' + e.channel if e.channel else ''}] "
                  f"{e.command} {e.args} → {e.result}" for e in entries]
        return call.reply("\n".join(lines))
    if len(call.args) == 1:
        aid = await resolve_user(core, call.args[0])
        rec = await core.ledger.reconcile(aid)
        key = "ops.reconcile_ok" if rec.ok else "ops.reconcile_bad"
        return call.reply(call.t(key, aid=aid, balance=rec.balance, ledger_sum=rec.ledger_sum, held=rec.held,
                                 open_holds=rec.open_holds), "ok" if rec.ok else "mismatch")
    if call.args:
        raise call.usage("ops.usage_audit")
    bad = await core.ledger.reconcile_all()
    now = core.clock.now_ms()
    async with redis_guard("ops.audit.holds"):
        overdue = await core.store.redis.zrangebyscore(K.hold_deadlines(), "-inf", now, withscores=True)
    pays = await _payment_mismatches(core)
    lines = [call.t("ops.audit_title")]
    lines.append(call.t("ops.audit_ledgers", n=len(bad)))
    lines += [f"  {b.account}: balance={b.balance} ledger={b.ledger_sum} held={b.held} open={b.open_holds}"
              for b in bad[:20]]
    lines.append(call.t("ops.audit_holds", n=len(overdue)))
    lines += [f"  {h.partition('.')[0]} {(now - int(d)) // 1000}s" for h, d in overdue[:20]]
    lines.append(call.t("ops.audit_payments", n=len(pays)))
    lines += [f"  {p}" for p in pays[:20]]
    clean = not bad and not overdue and not pays
    return call.reply("\n".join(lines), "ok" if clean else "findings",
                      f"ledgers={len(bad)} holds={len(overdue)} payments={len(pays)}")


def register(ops: Ops) -> None:
    ops.command("user", user_cmd, "ops.usage_user")
    ops.command("credits", credits_cmd, "ops.usage_credits")
    ops.command("refund", refund_cmd, "ops.usage_refund")
    ops.command("audit", audit_cmd, "ops.usage_audit")
