"""Chart correctness on reference moments, each with where its expected value comes from.

Day pillars are checked by hand against the 60-day cycle from the anchor 1900-01-31 = 甲辰
(cycle index 40): index = (40 + days since the anchor) mod 60, with 甲子 = 0, and the index
n names stem n mod 10 of 甲乙丙丁戊己庚辛壬癸 and branch n mod 12 of 子丑寅卯辰巳午未申酉戌亥.
Year pillars: 1984 = 甲子, so year Y is index (Y - 1984) mod 60 — also the names Korean
history gives those years (기미년 1919, 을유년 1945, 경인년 1950). Month stems by 五虎遁
(甲己年 丙寅, 乙庚年 戊寅, 丙辛年 庚寅, 丁壬年 壬寅, 戊癸年 甲寅 for the 寅 month, then
one stem per month); hour stems by 五鼠遁 (甲己日 甲子, 乙庚日 丙子, 丙辛日 戊子, 丁壬日
庚子, 戊癸日 壬子 for the 子 hour). 절기 instants: the Korea Astronomy and Space Science
Institute (KASI) publishes 입춘 2024 at 2024-02-04 17:27 KST and 입춘 2025 at 2025-02-03
23:10 KST.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from bot.core.saju import TableRangeError, chart_at, chart_for, day_pillar, pillar_of, terms, year_pillar
from bot.core.saju.cycle import Pillar

SEOUL = "Asia/Seoul"


def sig(birth: date, time: str | None, tz: str = SEOUL) -> str:
    return chart_for(birth, time, tz).signature


# ------------------------------------------------------------------ the 60-day cycle


@pytest.mark.parametrize(("day", "days_since_anchor", "expected"), [
    (date(1900, 1, 31), 0, "甲辰"),  # the anchor itself
    (date(2000, 1, 1), 36494, "戊午"),  # (40 + 36494) % 60 = 54 → 戊午
    (date(1919, 3, 1), 6968, "壬子"),  # (40 + 6968) % 60 = 48 → 壬子
    (date(2100, 12, 31), 73383, "丁未"),  # (40 + 73383) % 60 = 43 → 丁未
    (date(1900, 1, 15), -16, "戊子"),  # before the anchor: (40 - 16) % 60 = 24 → 戊子
])
def test_day_pillar_from_the_anchor(day: date, days_since_anchor: int, expected: str) -> None:
    assert day.toordinal() - date(1900, 1, 31).toordinal() == days_since_anchor
    assert day_pillar(day).hanja == expected


@pytest.mark.parametrize("year", [2000, 2024, 1904, 2096])
def test_leap_day_continues_the_cycle(year: int) -> None:
    """29 February is a day like any other: 28 Feb, 29 Feb and 1 Mar are consecutive."""
    a, b, c = (day_pillar(date(year, m, d)).index for m, d in ((2, 28), (2, 29), (3, 1)))
    assert (b - a) % 60 == 1 and (c - b) % 60 == 1
    # 2000-02-29: (40 + 36553) % 60 = 53 → 丁巳 (by hand); 2024-02-29: 45319 days → 59 → 癸亥
    if year == 2000:
        assert day_pillar(date(2000, 2, 29)).hanja == "丁巳"
    if year == 2024:
        assert day_pillar(date(2024, 2, 29)).hanja == "癸亥"


def test_pillar_indexes_round_trip() -> None:
    assert [pillar_of(n).index for n in range(60)] == list(range(60))
    assert pillar_of(0).hanja == "甲子" and pillar_of(59).hanja == "癸亥"
    assert year_pillar(1984).hanja == "甲子" and year_pillar(2027).hanja == "丁未"


# ------------------------------------------------------------------ 입춘 and the 절기


def test_table_matches_published_ipchun() -> None:
    kst = timezone(timedelta(hours=9))
    for y, published in ((2024, datetime(2024, 2, 4, 17, 27, tzinfo=kst)),
                         (2025, datetime(2025, 2, 3, 23, 10, tzinfo=kst))):
        ours = terms().instant(y, 1)
        assert abs(ours - published.timestamp()) < 60, (y, datetime.fromtimestamp(ours, kst))


def test_year_and_month_change_at_ipchun_2024() -> None:
    """입춘 2024 at 17:27 KST: a birth at 17:20 is still 癸卯年 乙丑月 (the 丑 month of
    2023: 戊癸年 → 甲寅, so 丑 is 乙丑), one at 17:35 is 甲辰年 丙寅月 (甲己年 → 丙寅).
    The day is 戊戌 either way ((40 + 45294) % 60 = 34); 17:00–18:59 is the 酉 hour,
    戊癸日 → 壬子 head → 辛酉."""
    assert sig(date(2024, 2, 4), "17:20") == "癸卯 乙丑 戊戌 辛酉"
    assert sig(date(2024, 2, 4), "17:35") == "甲辰 丙寅 戊戌 辛酉"


def test_january_birth_belongs_to_the_year_before() -> None:
    """1990-01-20 is before 입춘 1990 (4 Feb): 己巳年 (1989), 丁丑月 (戊癸→… 己 year:
    甲己年 丙寅 → 丑 is the 12th month: 丁丑)."""
    c = chart_for(date(1990, 1, 20), "12:00", SEOUL)
    assert c.year.hanja == "己巳" and c.saju_year == 1989
    assert c.month.hanja == "丁丑"


def test_gyeongchip_changes_the_month_not_the_year() -> None:
    """1919-03-01 (the 기미 독립선언 day) is 己未年, and before 경칩 (6 March) so still the
    寅 month: 甲己年 → 丙寅."""
    assert sig(date(1919, 3, 1), None) == "己未 丙寅 壬子 -"


def test_term_boundaries_flip_exactly_at_the_table_instant() -> None:
    """A minute before and after every 절 of 1950, 2000 and 2050: the month branch moves by one."""
    tab = terms()
    kst = timezone(timedelta(hours=9))
    for year in (1950, 2000, 2050):
        for term in range(12):
            ts = tab.instant(year, term)
            before = chart_at(datetime.fromtimestamp(ts - 60, UTC), datetime.fromtimestamp(ts - 60, kst).replace(tzinfo=None))
            after = chart_at(datetime.fromtimestamp(ts + 60, UTC), datetime.fromtimestamp(ts + 60, kst).replace(tzinfo=None))
            assert (after.month.branch - before.month.branch) % 12 == 1
            assert after.month.branch == (term + 1) % 12
            assert (after.saju_year - before.saju_year) == (1 if term == 1 else 0)


# ------------------------------------------------------------------ births before 1950, after 2040


def test_historic_years() -> None:
    """을유년 1945 (해방): after 입추 (8 Aug) → 申 month, 乙庚年 戊寅 → 甲申; day 丙辰
    ((40 + 16632) % 60 = 52); noon is the 午 hour, 丙辛日 戊子 → 甲午."""
    assert sig(date(1945, 8, 15), "12:00") == "乙酉 甲申 丙辰 甲午"
    assert chart_for(date(1950, 6, 25), None, SEOUL).year.hanja == "庚寅"  # 경인년 1950


def test_the_first_weeks_of_1900() -> None:
    """1900-01-15 is before 입춘 1900: 己亥年 (1899); after 소한 → 丑 month of a 己 year: 丁丑."""
    assert sig(date(1900, 1, 15), None) == "己亥 丁丑 戊子 -"


def test_after_2040() -> None:
    """2044 = 1984 + 60 = 甲子年; 1 June is before 망종 → 巳 month: 甲 year 丙寅 → 己巳;
    day 辛巳 ((40 + 52717) % 60 = 17); 10:00 is 巳 hour, 丙辛日 戊子 → 癸巳."""
    assert sig(date(2044, 6, 1), "10:00") == "甲子 己巳 辛巳 癸巳"
    # 2100-12-31: 2100 - 1984 = 116 → 56 = 庚申; after 대설 → 子 month, 乙庚年 戊寅 → 戊子
    assert sig(date(2100, 12, 31), "12:00") == "庚申 戊子 丁未 丙午"


def test_outside_the_table() -> None:
    with pytest.raises(TableRangeError):
        chart_for(date(1898, 6, 1), None, SEOUL)


# ------------------------------------------------------------------ midnight and the 자시


def test_midnight_births_share_the_next_days_zi_hour() -> None:
    """The day starts at 23:00: 1990-05-17 23:30 and 1990-05-18 00:30 are both the 子 hour
    of 1990-05-18 (癸未: (40 + 32979) % 60 = 19); 戊癸日 → 壬子."""
    late = chart_for(date(1990, 5, 17), "23:30", SEOUL)
    early = chart_for(date(1990, 5, 18), "00:30", SEOUL)
    assert late.day.hanja == early.day.hanja == "癸未"
    assert late.hour == early.hour == Pillar(8, 0)  # 壬子
    # 22:59 is still the 17th (壬午, index 18) in the 亥 hour: 丁壬日 庚子 → 辛亥
    before = chart_for(date(1990, 5, 17), "22:59", SEOUL)
    assert before.day.hanja == "壬午" and before.hour is not None and before.hour.hanja == "辛亥"


def test_hour_branch_edges() -> None:
    for hhmm, branch in (("00:59", 0), ("01:00", 1), ("12:59", 6), ("13:00", 7), ("22:59", 11), ("23:00", 0)):
        hour = chart_for(date(2000, 1, 1), hhmm, SEOUL).hour
        assert hour is not None and hour.branch == branch, hhmm


# ------------------------------------------------------------------ time zones other than Seoul


def test_the_zone_decides_which_side_of_ipchun() -> None:
    """04:00 on 2024-02-04 in New York is 09:00 UTC, after 입춘 (08:27 UTC): 甲辰; the same
    clock reading in Seoul is 19:00 UTC on 3 Feb: still 癸卯. Day and hour come from the local
    clock: 戊戌 day, 寅 hour (03:00–04:59), 戊癸日 壬子 → 甲寅."""
    assert sig(date(2024, 2, 4), "04:00", "America/New_York") == "甲辰 丙寅 戊戌 甲寅"
    assert sig(date(2024, 2, 4), "04:00", SEOUL) == "癸卯 乙丑 戊戌 甲寅"


def test_daylight_saving_is_removed() -> None:
    """Seoul kept DST in 1988 (KDT, UTC+10, tzdata): 09:30 on the clock was 08:30 standard,
    the 辰 hour (07:00–08:59), not 巳. Day 1988-07-01 is 丁巳; 丁壬日 庚子 → 甲辰."""
    c = chart_for(date(1988, 7, 1), "09:30", SEOUL)
    assert c.day.hanja == "丁巳" and c.hour is not None and c.hour.hanja == "甲辰"
    # New York summer: 23:30 EDT is 22:30 EST — the 亥 hour of the same day, not tomorrow's 子.
    ny = chart_for(date(2023, 7, 1), "23:30", "America/New_York")
    assert ny.day == day_pillar(date(2023, 7, 1)) and ny.hour is not None and ny.hour.branch == 11


def test_southern_and_eastern_zones() -> None:
    """The instant decides 입춘 for any zone: 입춘 2025 is 2025-02-03 14:10 UTC, which is
    2025-02-04 03:10 in Auckland (NZDT, UTC+13) — 01:00 there is still 甲辰年, 04:00 乙巳年."""
    assert chart_for(date(2025, 2, 4), "01:00", "Pacific/Auckland").year.hanja == "甲辰"
    assert chart_for(date(2025, 2, 4), "04:00", "Pacific/Auckland").year.hanja == "乙巳"


# ------------------------------------------------------------------ no birth time


def test_without_a_birth_time_there_are_three_pillars() -> None:
    c = chart_for(date(1990, 5, 17), None, SEOUL)
    assert c.hour is None and not c.has_hour and len(c.pillars()) == 3
    assert c.signature.endswith(" -") and c.term_day is None


def test_without_a_birth_time_on_a_term_day_the_chart_says_so() -> None:
    c = chart_for(date(2024, 2, 4), None, SEOUL)
    assert c.term_day == "ipchun"
    # read at noon, before 17:27: still the old year
    assert c.year.hanja == "癸卯"


def test_deterministic_and_cached() -> None:
    assert chart_for(date(1977, 7, 7), "07:07", SEOUL) is chart_for(date(1977, 7, 7), "07:07", SEOUL)
