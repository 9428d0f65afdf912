"""The four pillars (사주: 년주, 월주, 일주, 시주) of a birth moment, from the 절기 table.

Rules (documented choices, see docs/ARCHITECTURE.md "사주"):

* **Year** changes at 입춘 and **month** at each of the twelve 절, compared as exact UTC
  instants with the table (``table.py``), so the birth time zone matters only for turning the
  user's clock reading into an instant. Month stems follow the year stem (甲己 → 丙寅 …).
* **Day** from the 60-day cycle, anchored on 1900-01-31 = 甲辰 (cycle index 40); the day
  starts at **23:00** (子初): a birth from 23:00 to 23:59 takes the next day's pillar, and
  the 子 hour (23:00–00:59) always has that next day's stem. No 야자시/조자시 split, so the
  hour pillars run as one unbroken 60-cycle of two-hour periods.
* **Hour** from the two-hour branch of the *standard* clock time of the birth time zone:
  daylight-saving time (Korea 1948–1960 and 1987–1988, for instance) is removed, and no
  local-mean-time (longitude) correction is made — we know the zone, not the birthplace.
  Seoul's mean solar time runs about 32 minutes behind KST, so a 만세력 that corrects for it
  may put a birth in the first half hour of a two-hour period one period earlier.
* **Without a birth time** there is no hour pillar (three pillars); year and month are read
  at local noon of the birth date, and when a 절 falls on that date ``term_day`` names it
  (the month — on 입춘, also the year — then depends on the unknown time).

Pure functions of (date, time, zone) over package data: no Redis, no I/O after the table's
first load, deterministic on every process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from bot.core.saju.cycle import Pillar, pillar_of
from bot.core.saju.table import TERM_CODES, terms

__all__ = [
    "Chart",
    "POSITIONS",
    "chart_at",
    "chart_for",
    "day_pillar",
    "month_pillar",
    "parse_clock",
    "year_pillar",
]

#: 1900-01-31 is a 甲辰 day (cycle index 40): e.g. the Korea Astronomy and Space Science
#: Institute's 만세력 and any published 만세력 for that date; 2000-01-01 = 戊午 follows from it.
_ANCHOR_ORDINAL = date(1900, 1, 31).toordinal()
_ANCHOR_INDEX = 40
POSITIONS: tuple[str, ...] = ("year", "month", "day", "hour")


@dataclass(frozen=True, slots=True)
class Chart:
    """A birth chart: three or four pillars plus what the reading must say about them."""

    year: Pillar
    month: Pillar
    day: Pillar
    hour: Pillar | None  # None: no birth time (three pillars)
    saju_year: int  # the year as counted from 입춘 (a January birth belongs to the year before)
    term_day: str | None = None  # no birth time and a 절 on the birth date: its code

    @property
    def day_master(self) -> int:
        """일간: the day stem, the chart's 'self'."""
        return self.day.stem

    @property
    def has_hour(self) -> bool:
        return self.hour is not None

    def pillars(self) -> tuple[tuple[str, Pillar], ...]:
        """``(position, pillar)`` for year, month, day and (when known) hour."""
        out = [("year", self.year), ("month", self.month), ("day", self.day)]
        if self.hour is not None:
            out.append(("hour", self.hour))
        return tuple(out)

    @property
    def signature(self) -> str:
        """A stable text id of the chart (no date in it): ``"甲辰 丙寅 戊午 -"``."""
        return " ".join(p.hanja if p else "-" for p in (self.year, self.month, self.day, self.hour))


def day_pillar(d: date) -> Pillar:
    """The civil day's pillar (the 일진 of ``d``)."""
    return pillar_of(_ANCHOR_INDEX + d.toordinal() - _ANCHOR_ORDINAL)


def year_pillar(saju_year: int) -> Pillar:
    """The pillar of a year counted from 입춘: 1984 = 甲子, 2027 = 丁未."""
    return pillar_of(saju_year - 1984)


def month_pillar(saju_year: int, branch: int) -> Pillar:
    """The month with ``branch`` (寅 = 2 … 丑 = 1) in the saju year: stems by 五虎遁
    (甲己年 丙寅, 乙庚年 戊寅, 丙辛年 庚寅, 丁壬年 壬寅, 戊癸年 甲寅)."""
    first = ((year_pillar(saju_year).stem % 5) * 2 + 2) % 10
    k = (branch - 2) % 12
    return Pillar((first + k) % 10, branch)


def _hour_pillar(day: Pillar, minutes: int) -> Pillar:
    branch = ((minutes + 60) // 120) % 12
    return Pillar(((day.stem % 5) * 2 + branch) % 10, branch)


def _year_month(ts: float) -> tuple[int, Pillar, Pillar]:
    year, term = terms().term_at(ts)
    saju_year = year - 1 if term == 0 else year  # 소한 → 입춘 still belongs to the year before
    branch = (term + 1) % 12  # 소한 starts 丑, 입춘 寅, … 대설 子
    return saju_year, year_pillar(saju_year), month_pillar(saju_year, branch)


def chart_at(instant: datetime, standard_clock: datetime | None) -> Chart:
    """The chart of an exact instant (aware) read on ``standard_clock`` (naive local standard
    time) for day and hour; ``standard_clock=None`` leaves out the hour."""
    ts = instant.timestamp()
    saju_year, yp, mp = _year_month(ts)
    if standard_clock is None:
        raise ValueError("chart_at needs the standard clock time")
    minutes = standard_clock.hour * 60 + standard_clock.minute
    d = standard_clock.date() + (timedelta(days=1) if minutes >= 23 * 60 else timedelta(0))
    dp = day_pillar(d)
    return Chart(yp, mp, dp, _hour_pillar(dp, minutes), saju_year)


@lru_cache(maxsize=64)
def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def parse_clock(hhmm: str) -> time:
    """``"HH:MM"`` (as stored by profiles) to a time; ValueError otherwise."""
    hh, _, mm = hhmm.partition(":")
    return time(int(hh), int(mm))


@lru_cache(maxsize=32768)  # a few MB: every active user's chart stays warm
def chart_for(birth: date, birth_time: str | None, tz: str) -> Chart:
    """The chart of a birth date, an optional ``HH:MM`` birth time and an IANA zone.

    Deterministic and cached. Raises ``TableRangeError`` (a ValueError) outside 1900–2100
    and ValueError for a malformed time or zone name.
    """
    zone = _zone(tz)
    if birth_time:
        naive = datetime.combine(birth, parse_clock(birth_time))
        aware = naive.replace(tzinfo=zone)
        standard = naive - (aware.dst() or timedelta(0))
        return chart_at(aware.astimezone(UTC), standard)
    start = datetime.combine(birth, time(0), tzinfo=zone).astimezone(UTC).timestamp()
    end = datetime.combine(birth + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC).timestamp()
    noon = datetime.combine(birth, time(12), tzinfo=zone).astimezone(UTC)
    saju_year, yp, mp = _year_month(noon.timestamp())
    on_day = terms().between(start, end)
    term_day = TERM_CODES[on_day[0][1]] if on_day else None
    return Chart(yp, mp, day_pillar(birth), None, saju_year, term_day)
