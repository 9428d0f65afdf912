"""Tarot engine benchmark.

    .venv/bin/python bench/bench_tarot.py [--draws 20000] [--pictures 40]

Targets: Celtic cross draws with chat text >= 5,000/s; Celtic picture render <= 150 ms median.
Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.tarot import TarotEngine, picture

DRAW_TARGET = 5_000.0
PICTURE_TARGET_MS = 150.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=20_000)
    ap.add_argument("--pictures", type=int, default=40)
    args = ap.parse_args()

    t = time.perf_counter()
    engine = TarotEngine.load()
    load_ms = (time.perf_counter() - t) * 1000
    day = date(2025, 5, 1)
    print(f"deck: {len(engine.deck)} cards (full deck: {engine.full_deck}); load + validate {load_ms:.1f} ms")

    # draws + chat text
    t = time.perf_counter()
    chars = 0
    for i in range(args.draws):
        r = engine.draw(f"bench-{i}", day, "celtic", "will it work out?", "ko" if i % 2 else "en")
        chars += len(engine.render_text(r))
    dt = time.perf_counter() - t
    rate = args.draws / dt
    print(
        f"celtic draw + render_text: {rate:,.0f}/s ({dt * 1e6 / args.draws:.1f} µs each, avg {chars // args.draws} chars)"
    )

    n = max(1, args.draws // 4)
    t = time.perf_counter()
    for i in range(n):
        engine.static_interpretation(engine.draw(f"bench-{i}", day, "celtic", "", "ko"))
    print(f"celtic draw + static_interpretation: {n / (time.perf_counter() - t):,.0f}/s")

    # pictures (first one includes font loading)
    t = time.perf_counter()
    png = picture.render_spread_png(engine.draw("bench-cold", day, "celtic", "첫 그림", "ko"))
    cold_ms = (time.perf_counter() - t) * 1000
    times, sizes = [], []
    for i in range(args.pictures):
        r = engine.draw(f"bench-pic-{i}", day, "celtic", "will it work out?", "ko" if i % 2 else "en")
        t = time.perf_counter()
        png = picture.render_spread_png(r)
        times.append((time.perf_counter() - t) * 1000)
        sizes.append(len(png))
    times.sort()
    median = statistics.median(times)
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(
        f"celtic picture: median {median:.1f} ms, p95 {p95:.1f} ms, max {times[-1]:.1f} ms, "
        f"cold (fonts) {cold_ms:.1f} ms; PNG {min(sizes) // 1024}-{max(sizes) // 1024} KB"
    )
    for spread in engine.spreads:
        size = max(
            len(picture.render_spread_png(engine.draw(f"size-{i}", day, spread, "q", lang)))
            for i in range(5)
            for lang in ("ko", "en")
        )
        print(f"  {spread:7s} largest PNG of 10: {size / 1024:.0f} KB")

    ok = rate >= DRAW_TARGET and median <= PICTURE_TARGET_MS and max(sizes) < 1_000_000
    print(
        f"targets: draws >= {DRAW_TARGET:,.0f}/s: {'OK' if rate >= DRAW_TARGET else 'MISSED'}; "
        f"picture median <= {PICTURE_TARGET_MS:.0f} ms: {'OK' if median <= PICTURE_TARGET_MS else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
