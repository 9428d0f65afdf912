"""``/ops alerts``, ``/ops ack <alert>``, ``/ops silence <alert> <duration> <reason>``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.errors import BotError, ErrorCode
from bot.core.ops.alerts import ALERTS, alert_states, mark_alert
from bot.core.ops.commands.control import parse_duration
from bot.core.ops.commands.money import kst
from bot.core.ops.service import Outcome, OpsCall

if TYPE_CHECKING:
    from bot.core.ops.service import Ops

__all__ = ["register"]


def _name(call: OpsCall, text: str) -> str:
    name = text.lower()
    if name not in ALERTS:
        raise BotError(ErrorCode.VALIDATION_ERROR, "ops.alert_unknown", alerts=", ".join(ALERTS))
    return name


async def alerts_cmd(call: OpsCall) -> Outcome:
    if call.args:
        raise call.usage("ops.usage_alerts")
    states = await alert_states(call.core)
    now = call.core.clock.now_ms()
    lines = [call.t("ops.alerts_title")]
    for name in ALERTS:
        st = states.get(name, {})
        state = st.get("state", "ok")
        extra = []
        if st.get("acked_by"):
            extra.append(f"ack {st['acked_by']}")
        until = int(st.get("silenced_until", 0) or 0)
        if until > now:
            extra.append(f"silenced until {kst(until)} ({st.get('silence_reason', '')})")
        if state != "ok" and st.get("value"):
            extra.append(st["value"])
        lines.append(f"  {name}: {state}" + (" — " + "; ".join(extra) if extra else ""))
    return call.reply("\n".join(lines))


async def ack_cmd(call: OpsCall) -> Outcome:
    if len(call.args) != 1:
        raise call.usage("ops.usage_ack")
    name = _name(call, call.args[0])
    status = await mark_alert(call.core, name, "ack", call.caller.user)
    if status != "ok":
        return call.reply(call.t("ops.alert_not_firing", alert=name), status)
    return call.reply(call.t("ops.alert_acked", alert=name, who=call.caller.user), "acked")


async def silence_cmd(call: OpsCall) -> Outcome:
    if len(call.args) < 3:
        raise call.usage("ops.usage_silence")
    name = _name(call, call.args[0])
    seconds = parse_duration(call.args[1])
    if seconds is None:
        raise call.usage("ops.usage_silence")
    reason = " ".join(call.args[2:])
    until = call.core.clock.now_ms() + seconds * 1000
    await mark_alert(call.core, name, "silence", call.caller.user, until, reason)
    return call.reply(call.t("ops.alert_silenced", alert=name, until=kst(until), reason=reason), "silenced",
                      f"until={until}")


def register(ops: Ops) -> None:
    ops.command("alerts", alerts_cmd, "ops.usage_alerts")
    ops.command("ack", ack_cmd, "ops.usage_ack")
    ops.command("silence", silence_cmd, "ops.usage_silence")
