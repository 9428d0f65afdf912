"""``/ops health`` and ``/ops help``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.ops.health import HealthReport, collect_health
from bot.core.ops.service import Outcome, OpsCall

if TYPE_CHECKING:
    from bot.core.ops.service import Ops

__all__ = ["register", "render_health"]

ICON = {"ok": "✅", "off": "⚪", "paused": "⏸", "degraded": "🟡", "open": "🟠", "down": "🔴", "unknown": "❔"}


def render_health(call: OpsCall, report: HealthReport) -> str:
    lines = [call.t("ops.health_title_ok" if report.ok else "ops.health_title_bad")]
    for d in report.dependencies:
        ms = f" {d.ms:.0f}ms" if d.ms is not None else ""
        detail = f" — {d.detail}" if d.detail else ""
        lines.append(f"{ICON.get(d.status, '❔')} {d.name}: {d.status}{ms}{detail}")
    lines.append(call.t("ops.health_footer", uptime=_duration(report.uptime_s), version=report.version,
                        processes=report.processes))
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    s = int(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return (f"{d}d " if d else "") + f"{h:02d}:{m:02d}:{s:02d}"


def register(ops: Ops) -> None:
    async def health(call: OpsCall) -> Outcome:
        report = await collect_health(call.core)
        bad = [d.name for d in report.dependencies if d.status not in ("ok", "off", "paused")]
        return call.reply(render_health(call, report), result="ok" if report.ok else "degraded",
                          detail=",".join(bad))

    async def help_(call: OpsCall) -> Outcome:
        return call.reply(call.ops.help_text(call.lang), result="ok")

    ops.command("health", health, "ops.usage_health")
    ops.command("help", help_, "ops.usage_help")
