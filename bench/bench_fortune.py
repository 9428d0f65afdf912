"""Fortune engine throughput, single core. Run by hand:

    .venv/bin/python bench/bench_fortune.py

Target: >= 20,000 daily fortunes per second. Content is loaded once up front (as at bot
start-up); each fortune is a distinct user so nothing per-user is cached.
"""

from __future__ import annotations

import itertools
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.chemistry import compatibility
from bot.core.fortune import FortuneEngine

TARGET = 20_000


def _rate(label: str, n: int, fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn(n)
    dt = time.perf_counter() - t0
    rate = n / dt
    print(f"{label:<44} {n:>8,} in {dt:6.3f}s  = {rate:>10,.0f}/s  ({dt / n * 1e6:6.1f} µs each)")
    return rate


def main() -> int:
    t0 = time.perf_counter()
    engine = FortuneEngine.load()
    print(
        f"content load + validation (cold)             {time.perf_counter() - t0:6.3f}s"
        f"  (one-liners from {engine.content.oneliners_source})"
    )
    users = [
        (f"tg:{1_000_000 + i}", date(1950, 1, 1) + timedelta(days=(i * 7919) % 22000)) for i in range(50_000)
    ]
    day = date(2025, 6, 18)
    engine.daily(*users[0], day, "ko")  # warm the per-day caches

    def daily_ko(n: int) -> None:
        for key, birth in users[:n]:
            engine.daily(key, birth, day, "ko")

    def daily_en_focus(n: int) -> None:
        for key, birth in users[:n]:
            engine.daily(key, birth, day, "en", ("love", "money"))

    def daily_and_render(n: int) -> None:
        for key, birth in users[:n]:
            engine.render_summary(engine.daily(key, birth, day, "ko"))

    def one_user_many_days(n: int) -> None:
        key, birth = users[0]
        for i in range(n):
            engine.daily(key, birth, day + timedelta(days=i % 3650), "ko")

    def weekly(n: int) -> None:
        for key, birth in users[:n]:
            engine.weekly_outlook(key, birth, day, "ko")

    def compat(n: int) -> None:
        for (ak, ab), (bk, bb) in itertools.pairwise(users[: n + 1]):
            compatibility(ak, ab, bk, bb, day, "ko")

    rate = _rate("daily() ko, distinct users", 50_000, daily_ko)
    _rate("daily() en, focus=(love, money)", 50_000, daily_en_focus)
    _rate("daily() + render_summary()", 30_000, daily_and_render)
    _rate("daily() one user, 3650 different days", 30_000, one_user_many_days)
    _rate("weekly_outlook() (7 fortunes each)", 5_000, weekly)
    _rate("compatibility()", 30_000, compat)
    verdict = "OK" if rate >= TARGET else "BELOW TARGET"
    print(f"\ndaily fortunes/s: {rate:,.0f} (target {TARGET:,}) -> {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
