"""신년운세: a yearly outlook from the chart, deterministic per user and year.

The year's pillar (2027 = 丁未) meets the user's 일간 as a 십신 group (the year as a
whole), its branch may harmonise or clash with the day branch; each month of the saju year
(寅 month from 입춘 … 丑 month from 소한 of the next calendar year) gets a line from its own
pillar's relation; money / love / health / work lines follow the year's group. Every choice
is a seeded draw (``seed_of(version, user, year)``), so the same user and year always get the
same outlook in either language (the languages share the draws).

Which year: the user's local year, except from ``season_month`` (December) on, when it is
the coming one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from bot.core.hashing import SeededRandom, seed_of
from bot.core.saju.chart import Chart, month_pillar, year_pillar
from bot.core.saju.content import content
from bot.core.saju.cycle import ANIMAL_OF_BRANCH, Pillar
from bot.core.saju.derive import GROUP_OF, branch_link, ten_god
from bot.core.saju.table import terms

__all__ = ["AREAS", "NewYear", "build_newyear", "newyear_target"]

_VERSION = "soul-lab/newyear/v1"
AREAS = ("money", "love", "health", "work")
_KST = timezone(timedelta(hours=9))


def newyear_target(local_day: date, season_month: int = 12) -> int:
    """The year /newyear is about: this year, or the next from ``season_month`` on."""
    return local_day.year + 1 if local_day.month >= season_month else local_day.year


@dataclass(frozen=True, slots=True)
class MonthLine:
    start: date  # the 절 that opens the month (Korean date)
    pillar: Pillar
    group: str
    text: str


@dataclass(frozen=True, slots=True)
class NewYear:
    year: int
    pillar: Pillar
    group: str  # the year stem's relation to the 일간
    link: str  # the year branch against the day branch
    overall: str
    areas: dict[str, str]
    months: tuple[MonthLine, ...]
    closing: str
    lang: str


def build_newyear(user_key: str, chart: Chart, year: int, lang: str) -> NewYear:
    """The outlook for ``year`` (pure; raises TableRangeError outside 1900–2100)."""
    sc = content()
    ny = sc.newyear
    rng = SeededRandom(seed_of(_VERSION, user_key, year))
    below = rng.below
    yp = year_pillar(year)
    group = GROUP_OF[ten_god(chart.day_master, yp.stem)]
    link = branch_link(chart.day.branch, yp.branch)
    overall_pool = ny["overall"][group]
    overall = overall_pool[below(len(overall_pool))][lang]
    if link != "none":
        overall += " " + ny["links"][link][lang]
    areas = {}
    for area in AREAS:
        pool = ny["areas"][area][group]
        areas[area] = pool[below(len(pool))][lang]
    tab = terms()
    months = []
    # months of the same group walk through that group's pool from a drawn start, so a line
    # does not come back within the year while the pool lasts (recency avoidance)
    turn = {g: below(len(ny["months"][g])) for g in sorted(ny["months"])}
    for k in range(12):  # 寅 (입춘, term 1 of ``year``) … 子 (대설), then 丑 (소한 of year + 1)
        term_year, term = (year, k + 1) if k < 11 else (year + 1, 0)
        start = datetime.fromtimestamp(tab.instant(term_year, term), UTC).astimezone(_KST).date()
        mp = month_pillar(year, (k + 2) % 12)
        mg = GROUP_OF[ten_god(chart.day_master, mp.stem)]
        pool = ny["months"][mg]
        months.append(MonthLine(start, mp, mg, pool[turn[mg] % len(pool)][lang]))
        turn[mg] += 1
    closing = ny["closings"][below(len(ny["closings"]))][lang]
    return NewYear(year, yp, group, link, overall, areas, tuple(months), closing, lang)


def animal_code(year: int) -> str:
    return ANIMAL_OF_BRANCH[year_pillar(year).branch]
