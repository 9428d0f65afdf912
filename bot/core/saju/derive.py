"""What a chart says: 일간 (day master), 오행 balance, 십신 (ten gods) and the relation of
any day's 일진 to the 일간. Pure arithmetic on :mod:`bot.core.saju.cycle`.

십신 of a stem ``x`` seen from the day master ``d`` (same polarity → the first name):

* same element: 비견 / 겁재 (peer)                 * ``d`` feeds ``x``: 식신 / 상관 (output)
* ``d`` restrains ``x``: 편재 / 정재 (wealth)        * ``x`` restrains ``d``: 편관 / 정관 (power)
* ``x`` feeds ``d``: 편인 / 정인 (resource)

A branch is read through its main hidden stem (본기: 子→癸, 丑→己, 寅→甲 …).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.core.saju.chart import Chart, day_pillar
from bot.core.saju.cycle import (
    BRANCH_ELEMENT,
    BRANCH_MAIN_STEM,
    ELEMENTS,
    STEM_ELEMENT,
    Pillar,
    controls,
    generates,
)

__all__ = [
    "GODS",
    "GROUPS",
    "GROUP_OF",
    "DayRelation",
    "branch_link",
    "chart_gods",
    "day_relation",
    "element_balance",
    "ten_god",
]

#: The ten gods, in pairs (same polarity first).
GODS: tuple[str, ...] = (
    "bigyeon", "geopjae", "siksin", "sanggwan", "pyeonjae", "jeongjae",
    "pyeongwan", "jeonggwan", "pyeonin", "jeongin",
)
#: The five groups: peer (비겁), output (식상), wealth (재성), power (관성), resource (인성).
GROUPS: tuple[str, ...] = ("peer", "output", "wealth", "power", "resource")
GROUP_OF: dict[str, str] = {g: GROUPS[i // 2] for i, g in enumerate(GODS)}

# Six clashes (육충) and six harmonies (육합) between branches.
_CLASH = {frozenset((a, (a + 6) % 12)) for a in range(12)}
_HARMONY = {frozenset(p) for p in ((0, 1), (2, 11), (3, 10), (4, 9), (5, 8), (6, 7))}


def ten_god(day_stem: int, other_stem: int) -> str:
    """The 십신 code of ``other_stem`` seen from ``day_stem``."""
    d, x = STEM_ELEMENT[day_stem], STEM_ELEMENT[other_stem]
    same_polarity = day_stem % 2 == other_stem % 2
    if d == x:
        group = 0
    elif generates(d, x):
        group = 1
    elif controls(d, x):
        group = 2
    elif controls(x, d):
        group = 3
    else:  # x feeds d
        group = 4
    return GODS[group * 2 + (0 if same_polarity else 1)]


def branch_link(a: int, b: int) -> str:
    """``"clash"`` (충), ``"harmony"`` (합) or ``"none"`` between two branches."""
    pair = frozenset((a, b))
    if pair in _CLASH:
        return "clash"
    if pair in _HARMONY:
        return "harmony"
    return "none"


def element_balance(chart: Chart) -> dict[str, int]:
    """How many of the chart's six or eight characters are of each element (오행 분포)."""
    counts = dict.fromkeys(ELEMENTS, 0)
    for _, p in chart.pillars():
        counts[STEM_ELEMENT[p.stem]] += 1
        counts[BRANCH_ELEMENT[p.branch]] += 1
    return counts


def chart_gods(chart: Chart) -> dict[str, tuple[str | None, str]]:
    """``position -> (stem god, branch god)``; the day stem itself is ``None`` (일간)."""
    dm = chart.day_master
    out: dict[str, tuple[str | None, str]] = {}
    for pos, p in chart.pillars():
        stem_god = None if pos == "day" else ten_god(dm, p.stem)
        out[pos] = (stem_god, ten_god(dm, BRANCH_MAIN_STEM[p.branch]))
    return out


@dataclass(frozen=True, slots=True)
class DayRelation:
    """How a day's 일진 meets the user's 일간."""

    day: date
    pillar: Pillar
    god: str  # 십신 of the day's stem
    group: str  # its group (peer/output/wealth/power/resource)
    link: str  # the day's branch against the user's day branch: clash / harmony / none


def day_relation(chart: Chart, day: date) -> DayRelation:
    """The relation of ``day``'s pillar to the chart's 일간 (and day branch)."""
    p = day_pillar(day)
    god = ten_god(chart.day_master, p.stem)
    return DayRelation(day, p, god, GROUP_OF[god], branch_link(chart.day.branch, p.branch))
