"""The ``/ops metrics`` chart: requests, p95 and errors per minute over the last hours (PNG).

matplotlib is imported only here, when a chart is drawn, with the Agg backend (no display).
"""

from __future__ import annotations

import io
from datetime import datetime, UTC
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from bot.core.ops.metrics import Figures

__all__ = ["render_chart"]


def render_chart(series: list[tuple[int, Figures]], title: str) -> bytes:
    """PNG bytes of the series (minute, figures), oldest first."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.dates import DateFormatter

    tz = ZoneInfo("Asia/Seoul")
    when = [datetime.fromtimestamp(m * 60, UTC).astimezone(tz) for m, _ in series]
    requests = [f.requests for _, f in series]
    errors = [f.server_errors for _, f in series]
    p95 = [f.p95_ms for _, f in series]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 5), sharex=True, dpi=100)
    try:
        ax1.plot(when, requests, color="#4c72b0", linewidth=1, label="requests/min")
        ax1.bar(when, errors, width=1 / 1440, color="#c44e52", label="server errors/min")
        ax1.set_ylabel("per minute")
        ax1.legend(loc="upper left", fontsize=8)
        ax1.set_title(title, fontsize=10)
        ax2.plot(when, p95, color="#dd8452", linewidth=1, label="p95 ms")
        ax2.set_ylabel("p95 ms")
        ax2.legend(loc="upper left", fontsize=8)
        ax1.set_ylim(0, max(1, *requests, *errors) * 1.15)
        ax2.set_ylim(0, max(10.0, *p95) * 1.15)
        ax2.xaxis.set_major_formatter(DateFormatter("%H:%M", tz=tz))
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)
