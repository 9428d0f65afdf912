"""``/ops incident declare P0..P3 <title>|ack <n>|note <n> <text>|resolve <n> [text]|status [n]|list``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.errors import BotError, ErrorCode
from bot.core.ops.commands.money import kst
from bot.core.ops.incidents import SEVERITIES, Incident, Incidents
from bot.core.ops.service import Outcome, OpsCall
from bot.core.reply import Button

if TYPE_CHECKING:
    from bot.core.ops.service import Ops

__all__ = ["register", "render_incident"]


def render_incident(call: OpsCall, inc: Incident, timeline: bool = False) -> str:
    lines = [call.t("ops.incident_line", n=inc.number, sev=inc.severity, title=inc.title,
                    state=call.t(f"ops.incident_state_{inc.state}") if inc.state in ("open", "acked", "resolved")
                    else inc.state, deadline=kst(inc.deadline), by=inc.declared_by)]
    if timeline:
        lines += [f"  {kst(e.get('at', 0))} {e.get('who', '')} {e.get('what', '')} {e.get('text', '')}".rstrip()
                  for e in inc.timeline]
    return "\n".join(lines)


def _number(call: OpsCall, text: str) -> int:
    n = text.lstrip("#")
    if not n.isdigit() or not 0 < int(n) < 10**9:
        raise call.usage("ops.usage_incident")
    return int(n)


async def incident_cmd(call: OpsCall) -> Outcome:
    incidents = Incidents(call.core)
    who = call.caller.user
    sub = call.args[0].lower() if call.args else "list"
    rest = call.args[1:]
    if sub == "declare":
        if len(rest) < 2 or rest[0].upper() not in SEVERITIES:
            raise call.usage("ops.usage_incident")
        inc = await incidents.declare(rest[0].upper(), " ".join(rest[1:])[:200], who)
        buttons = [[Button(call.t("ops.button_ack"), f"/ops incident ack {inc.number}")]]
        return call.reply(call.t("ops.incident_declared") + "\n" + render_incident(call, inc), "declared",
                          f"#{inc.number} {inc.severity}", buttons=buttons)
    if sub in ("ack", "resolve", "note", "status") and rest:
        n = _number(call, rest[0])
        if sub == "status":
            found = await incidents.get(n)
            if found is None:
                raise BotError(ErrorCode.NOT_FOUND, "ops.incident_not_found", n=n)
            return call.reply(render_incident(call, found, timeline=True))
        if sub == "note" and len(rest) < 2:
            raise call.usage("ops.usage_incident")
        text = " ".join(rest[1:])
        if sub == "ack":
            status = await incidents.ack(n, who)
        elif sub == "note":
            status = await incidents.note(n, who, text)
        else:
            status = await incidents.resolve(n, who, text)
        if status == "missing":
            raise BotError(ErrorCode.NOT_FOUND, "ops.incident_not_found", n=n)
        if status != "ok":
            return call.reply(call.t("ops.incident_unchanged", n=n, state=status), status)
        after = await incidents.get(n)
        assert after is not None
        return call.reply(call.t(f"ops.incident_{sub}_done", n=n) + "\n" + render_incident(call, after), sub)
    if sub in ("list", "status") and not rest:
        open_ = await incidents.open()
        if not open_:
            return call.reply(call.t("ops.incident_none_open"))
        return call.reply("\n".join([call.t("ops.incident_open_title", n=len(open_))]
                                    + [render_incident(call, i) for i in open_]))
    raise call.usage("ops.usage_incident")


def register(ops: Ops) -> None:
    ops.command("incident", incident_cmd, "ops.usage_incident")
