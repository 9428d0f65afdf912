"""``/ops metrics``: figures summed over every bot process, with a PNG chart of the last hours."""

from __future__ import annotations

import asyncio
from datetime import datetime, UTC
from typing import TYPE_CHECKING

from bot.core.ops.metrics import read_series, read_window
from bot.core.ops.service import Outcome, OpsCall
from bot.core.reply import Image
from bot.core.store import K, redis_guard

if TYPE_CHECKING:
    from bot.core.ops.service import Ops

__all__ = ["register"]


async def metrics_cmd(call: OpsCall) -> Outcome:
    from bot.core.broadcast.status import broadcast_status
    from bot.core.ops.chart import render_chart

    core = call.core
    cfg = core.settings.product
    if call.args:
        raise call.usage("ops.usage_metrics")
    fig = await read_window(core, cfg.alerts.window_seconds)
    day = datetime.fromtimestamp(core.clock.now(), UTC).strftime("%Y-%m-%d")
    async with redis_guard("ops.metrics.sales"):
        sales = await core.store.redis.hgetall(K.sales_day(day))
    bc = await broadcast_status(core)
    text = call.t("ops.metrics_text", minutes=cfg.alerts.window_seconds // 60, requests=fig.requests,
                  p50=f"{fig.p50_ms:.0f}", p95=f"{fig.p95_ms:.0f}", err=f"{fig.error_rate * 100:.2f}",
                  errors=fig.server_errors, fb=f"{fig.ai_fallback_rate * 100:.1f}", ai=fig.ai,
                  fallbacks=fig.ai_fallback, rl=fig.rate_limited, p429=fig.platform_429,
                  sent=bc["sent"], queued=bc["queued"], pending=bc["pending"], subs=bc["subscribers"],
                  credits=int(sales.get("credits", 0)), stars=int(sales.get("stars", 0)),
                  payments=int(sales.get("payments", 0)))
    series = await read_series(core, cfg.ops.chart_hours)
    png = await asyncio.to_thread(render_chart, series, f"Soul Lab — last {cfg.ops.chart_hours} h (KST)")
    image = Image(png, filename="metrics.png", alt=call.t("ops.metrics_chart_alt", hours=cfg.ops.chart_hours))
    return call.reply(text, image=image, detail=f"requests={fig.requests} errors={fig.server_errors}")


def register(ops: Ops) -> None:
    ops.command("metrics", metrics_cmd, "ops.usage_metrics")
