"""사주 (four pillars): the 만세력 engine and what it derives.

    chart = chart_for(date(1990, 5, 17), "07:30", "Asia/Seoul")   # or None for no birth time
    chart.year, chart.month, chart.day, chart.hour                 # Pillar (hour: None without time)
    element_balance(chart); chart_gods(chart); day_relation(chart, today)

The 절기 come from a precomputed table (``data/jeolgi.tsv``, built with ephem by
``scripts/gen_jeolgi.py``); nothing here does astronomy at run time. Rules and choices (자시,
clock time vs local mean time, no birth time) are in :mod:`bot.core.saju.chart`.
"""

from __future__ import annotations

from bot.core.saju.chart import Chart, chart_at, chart_for, day_pillar, month_pillar, year_pillar
from bot.core.saju.cycle import ELEMENTS, Pillar, pillar_of
from bot.core.saju.derive import (
    GODS,
    GROUPS,
    DayRelation,
    chart_gods,
    day_relation,
    element_balance,
    ten_god,
)
from bot.core.saju.table import TableRangeError, terms

__all__ = [
    "ELEMENTS",
    "GODS",
    "GROUPS",
    "Chart",
    "DayRelation",
    "Pillar",
    "TableRangeError",
    "chart_at",
    "chart_for",
    "chart_gods",
    "day_pillar",
    "day_relation",
    "element_balance",
    "month_pillar",
    "pillar_of",
    "ten_god",
    "terms",
    "year_pillar",
]
