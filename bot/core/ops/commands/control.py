"""``/ops ratelimit show|set``, ``/ops ai status|open|close``, ``/ops broadcast status|pause|resume``.

Changing a limit, opening or closing a breaker and pausing the broadcast are dangerous: the
first call answers with a confirmation; the confirmed call acts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.errors import BotError, ErrorCode
from bot.core.ops.commands.money import kst
from bot.core.ops.service import Outcome, OpsCall

if TYPE_CHECKING:
    from bot.core.ops.service import Ops

__all__ = ["register", "parse_duration"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int | None:
    """``90s`` / ``30m`` / ``2h`` / ``1d`` (or bare seconds) -> seconds, within (0, 7 days]."""
    text = text.strip().lower()
    if not text:
        return None
    unit = _UNITS.get(text[-1])
    number = text[:-1] if unit else text
    if not number.isdigit():
        return None
    seconds = int(number) * (unit or 1)
    return seconds if 0 < seconds <= 7 * 86400 else None


async def ratelimit_cmd(call: OpsCall) -> Outcome:
    core = call.core
    sub = call.args[0].lower() if call.args else "show"
    if sub == "show" and len(call.args) <= 1:
        limits = await core.limiter.effective()
        lines = [call.t("ops.ratelimit_title")]
        for scope, lim in sorted(limits.items()):
            default = core.settings.product.limits.get(scope)
            mark = "" if default == lim else call.t("ops.ratelimit_overridden")
            lines.append(f"  {scope}: {lim.limit}/{lim.window_seconds}s{mark}")
        return call.reply("\n".join(lines))
    if sub == "set" and len(call.args) == 4:
        scope = call.args[1]
        limit, window = call.args[2], call.args[3]
        if scope not in core.settings.product.limits:
            raise BotError(ErrorCode.VALIDATION_ERROR, "ratelimit.unknown_scope", scope=scope[:32])
        if not (limit.isdigit() and window.isdigit() and 0 < int(limit) <= 1_000_000 and 0 < int(window) <= 86400):
            raise BotError(ErrorCode.VALIDATION_ERROR, "ratelimit.bad_value")
        if not call.confirmed:
            return await call.ask_confirmation(call.t("ops.ratelimit_confirm", scope=scope, limit=limit,
                                                      window=window))
        await core.limiter.set_limit(scope, int(limit), int(window))
        return call.reply(call.t("ops.ratelimit_set", scope=scope, limit=limit, window=window), "set")
    raise call.usage("ops.usage_ratelimit")


async def ai_cmd(call: OpsCall) -> Outcome:
    from bot.core.ai.chain import get_chain

    chain = get_chain(call.core)
    sub = call.args[0].lower() if call.args else "status"
    if sub == "status" and len(call.args) <= 1:
        status = await chain.status()
        lines = [call.t("ops.ai_title")]
        for name, st in sorted(status.items()):
            until = int(str(st.get("until_ms") or 0))
            tail = f" until {kst(until)}" if st.get("state") == "open" and until else ""
            lines.append(f"  {name}: {st.get('state')}{'' if st.get('configured') else ' (no key)'}"
                         f" calls={st.get('calls')} failures={st.get('failures')}{tail}"
                         f"{' ' + str(st.get('reason')) if st.get('reason') else ''}")
        lines.append(call.t("ops.ai_spend", usd=f"{await chain.spend_today():.2f}",
                            cap=f"{chain.config.daily_spend_cap_usd:.2f}"))
        return call.reply("\n".join(lines))
    if sub in ("open", "close") and len(call.args) in (2, 3):
        provider = call.args[1].lower()
        if provider not in chain.breakers.providers:
            raise BotError(ErrorCode.VALIDATION_ERROR, "ops.ai_unknown_provider",
                           providers=", ".join(chain.breakers.providers))
        seconds = 3600
        if sub == "open" and len(call.args) == 3:
            parsed = parse_duration(call.args[2])
            if parsed is None:
                raise call.usage("ops.usage_ai")
            seconds = parsed
        elif len(call.args) == 3:
            raise call.usage("ops.usage_ai")
        if not call.confirmed:
            key = "ops.ai_open_confirm" if sub == "open" else "ops.ai_close_confirm"
            return await call.ask_confirmation(call.t(key, provider=provider, minutes=seconds // 60))
        if sub == "open":
            until = await chain.force_open(provider, seconds)
            return call.reply(call.t("ops.ai_opened", provider=provider, until=kst(until)), "opened")
        prev = await chain.force_close(provider)
        return call.reply(call.t("ops.ai_closed", provider=provider, previous=prev), "closed")
    raise call.usage("ops.usage_ai")


async def broadcast_cmd(call: OpsCall) -> Outcome:
    from bot.core.broadcast.status import broadcast_status, pause_broadcast, resume_broadcast

    core = call.core
    sub = call.args[0].lower() if call.args else "status"
    if len(call.args) > 1:
        raise call.usage("ops.usage_broadcast")
    if sub == "status":
        st = await broadcast_status(core)
        lines = [call.t("ops.broadcast_title", day=st["day_utc"],
                        state=call.t("ops.broadcast_paused", by=st["paused_by"]) if st["paused"] else "▶")]
        lines.append(f"  subscribers={st['subscribers']} due={st['due']} queued={st['queued']} sent={st['sent']} "
                     f"pending={st['pending']} failed={st['failed']} blocked={st['blocked']} "
                     f"dead_letter={st['dead_letter']} rate={st['rate_per_second']}/s")
        return call.reply("\n".join(lines))
    if sub == "pause":
        if not call.confirmed:
            return await call.ask_confirmation(call.t("ops.broadcast_pause_confirm"))
        await pause_broadcast(core, by=call.caller.user)
        return call.reply(call.t("ops.broadcast_paused_now"), "paused")
    if sub == "resume":
        await resume_broadcast(core, by=call.caller.user)
        return call.reply(call.t("ops.broadcast_resumed"), "resumed")
    raise call.usage("ops.usage_broadcast")


def register(ops: Ops) -> None:
    ops.command("ratelimit", ratelimit_cmd, "ops.usage_ratelimit")
    ops.command("ai", ai_cmd, "ops.usage_ai")
    ops.command("broadcast", broadcast_cmd, "ops.usage_broadcast")
