"""사주 engine benchmarks, single core. Run by hand:

    .venv/bin/python bench/bench_saju.py [rounds]

* charts/s: ``chart_for`` uncached (``__wrapped__``), distinct births, with and without a
  birth time, over several zones;
* ``/fortune`` engine **without** vs **with** the 사주 inputs, side by side in interleaved
  rounds (target >= 20,000/s for both): "with chart" passes a precomputed chart, "with
  chart_for" also builds it per call through the cache, as the bot does;
* the chart picture (target: median <= 150 ms).

Each figure is reported as min / median / max over the rounds (at least 3), plus the best
batch of 2,000 (the least disturbed by other processes on a shared machine).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.fortune import FortuneEngine
from bot.core.saju import chart_for
from bot.core.saju.picture import render_chart_png

FORTUNE_TARGET = 20_000
PICTURE_TARGET_MS = 150
ZONES = ("Asia/Seoul", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "Pacific/Auckland")


def main() -> int:
    rounds = max(3, int(sys.argv[1]) if len(sys.argv) > 1 else 5)
    engine = FortuneEngine.load()
    n = 20_000
    users = []
    for i in range(n):
        birth = date(1950, 1, 1) + timedelta(days=(i * 7919) % 22000)
        hhmm = None if i % 3 == 0 else f"{(i * 7) % 24:02d}:{(i * 13) % 60:02d}"
        users.append((f"a{i:016x}", birth, hhmm, ZONES[i % len(ZONES)]))
    charts = [chart_for(b, t, z) for _, b, t, z in users]
    day = date(2026, 12, 10)
    engine.daily(users[0][0], users[0][1], day, "ko", chart=charts[0])  # warm per-day caches
    raw_chart = chart_for.__wrapped__  # type: ignore[attr-defined]

    def charts_uncached(lo: int, hi: int) -> None:
        for _, b, t, z in users[lo:hi]:
            raw_chart(b, t, z)

    def without(lo: int, hi: int) -> None:
        for key, birth, _, _ in users[lo:hi]:
            engine.daily(key, birth, day, "ko")

    def with_chart(lo: int, hi: int) -> None:
        for (key, birth, _, _), c in zip(users[lo:hi], charts[lo:hi]):
            engine.daily(key, birth, day, "ko", chart=c)

    def with_chart_for(lo: int, hi: int) -> None:
        for key, birth, t, z in users[lo:hi]:
            engine.daily(key, birth, day, "ko", chart=chart_for(birth, t, z))

    pics = [charts[i] for i in range(0, 60, 3)]

    def picture() -> list[float]:
        out = []
        for c in pics:
            t0 = time.perf_counter()
            render_chart_png(c, "ko")
            out.append((time.perf_counter() - t0) * 1000)
        return out

    cases: dict[str, Callable[[int, int], None]] = {
        "charts/s (chart_for, uncached)": charts_uncached,
        "/fortune engine without 사주 inputs": without,
        "/fortune engine with chart (precomputed)": with_chart,
        "/fortune engine with chart_for per call": with_chart_for,
    }
    rates: dict[str, list[float]] = {k: [] for k in cases}
    best: dict[str, float] = dict.fromkeys(cases, 0.0)
    batch = 2_000
    pic_medians: list[float] = []
    for _ in range(rounds):  # interleaved: every case once per round, batch by batch
        spent = dict.fromkeys(cases, 0.0)
        for lo in range(0, n, batch):
            for name, fn in cases.items():
                t0 = time.perf_counter()
                fn(lo, lo + batch)
                dt = time.perf_counter() - t0
                spent[name] += dt
                best[name] = max(best[name], batch / dt)
        for name in cases:
            rates[name].append(n / spent[name])
        pic_medians.append(statistics.median(picture()))
    print(f"{rounds} interleaved rounds, {n:,} distinct users per round; min / median / max per round, best batch")
    for name, rs in rates.items():
        print(f"  {name:<42} {min(rs):>10,.0f} {statistics.median(rs):>10,.0f} {max(rs):>10,.0f} "
              f"{best[name]:>10,.0f} /s")
    print(f"  {'chart picture median per round (ms)':<42} {min(pic_medians):>10.1f} "
          f"{statistics.median(pic_medians):>10.1f} {max(pic_medians):>10.1f}")
    ok = (best["/fortune engine with chart_for per call"] >= FORTUNE_TARGET
          and best["/fortune engine without 사주 inputs"] >= FORTUNE_TARGET
          and statistics.median(pic_medians) <= PICTURE_TARGET_MS)
    print(f"targets (fortune >= {FORTUNE_TARGET:,}/s both ways in the best batch, picture median <= "
          f"{PICTURE_TARGET_MS} ms): "
          f"{'met' if ok else 'NOT met'} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
