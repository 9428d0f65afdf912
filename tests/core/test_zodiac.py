"""Sun signs (boundaries, elements) and zodiac animals."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.core.zodiac import ANIMAL_CODES, SIGN_ELEMENT, element_relation, sun_sign, zodiac_animal


@pytest.mark.parametrize(
    ("month", "day", "code"),
    [
        (3, 20, "pisces"),
        (3, 21, "aries"),
        (12, 21, "sagittarius"),
        (12, 22, "capricorn"),
        (1, 19, "capricorn"),
        (1, 20, "aquarius"),
        (1, 1, "capricorn"),
        (12, 31, "capricorn"),
        (2, 18, "aquarius"),
        (2, 19, "pisces"),
        (2, 29, "pisces"),
        (4, 19, "aries"),
        (4, 20, "taurus"),
        (5, 20, "taurus"),
        (5, 21, "gemini"),
        (6, 21, "gemini"),
        (6, 22, "cancer"),
        (7, 22, "cancer"),
        (7, 23, "leo"),
        (8, 22, "leo"),
        (8, 23, "virgo"),
        (9, 22, "virgo"),
        (9, 23, "libra"),
        (10, 22, "libra"),
        (10, 23, "scorpio"),
        (11, 21, "scorpio"),
        (11, 22, "sagittarius"),
    ],
)
def test_sun_sign_boundaries(month: int, day: int, code: str) -> None:
    assert sun_sign(date(2000, month, day)).code == code


def test_every_day_of_a_leap_year_has_one_sign_in_contiguous_runs() -> None:
    d = date(2000, 1, 1)
    runs: list[str] = []
    while d.year == 2000:
        code = sun_sign(d).code
        if not runs or runs[-1] != code:
            runs.append(code)
        d += timedelta(days=1)
    # capricorn opens and closes the year; the 11 others appear once each in order
    assert runs[0] == runs[-1] == "capricorn"
    assert len(runs) == 13 and len(set(runs)) == 12


def test_names_and_elements() -> None:
    s = sun_sign(date(1990, 8, 1))
    assert (s.code, s.element, s.name_ko, s.name_en) == ("leo", "fire", "사자자리", "Leo")
    assert s.name("en") == "Leo" and s.name("ko") == "사자자리"
    assert sun_sign(date(1990, 11, 30)).name_ko == "사수자리"
    assert sorted(SIGN_ELEMENT.values()).count("water") == 3
    for element in ("fire", "earth", "air", "water"):
        assert list(SIGN_ELEMENT.values()).count(element) == 3


@pytest.mark.parametrize(
    ("year", "code", "ko"),
    [
        (1984, "rat", "쥐"),
        (1985, "ox", "소"),
        (1986, "tiger", "호랑이"),
        (1990, "horse", "말"),
        (2000, "dragon", "용"),
        (2024, "dragon", "용"),
        (2025, "snake", "뱀"),
        (1995, "pig", "돼지"),
    ],
)
def test_zodiac_animal_follows_ipchun(year: int, code: str, ko: str) -> None:
    a = zodiac_animal(date(year, 6, 1))
    assert (a.code, a.name_ko) == (code, ko)
    # before 입춘 (about 4 February) a birth belongs to the year before: 1 January 1985 is a rat
    before = ANIMAL_CODES[(ANIMAL_CODES.index(code) - 1) % 12]
    assert zodiac_animal(date(year, 1, 5)).code == before
    assert zodiac_animal(date(year, 2, 1)).code == before
    assert zodiac_animal(date(year, 2, 10)).code == code


def test_zodiac_animal_on_the_ipchun_day() -> None:
    """입춘 2024 was at 17:27 KST, after noon: a date-only 2024-02-04 is read at noon, still
    the rabbit year (癸卯); 입춘 2021 was at 23:59 KST on 3 February, so 2021-02-04 is an ox."""
    assert zodiac_animal(date(2024, 2, 4)).code == "rabbit"
    assert zodiac_animal(date(2024, 2, 5)).code == "dragon"
    assert zodiac_animal(date(2021, 2, 4)).code == "ox"


def test_element_relation() -> None:
    assert element_relation("fire", "fire") == "same"
    assert element_relation("fire", "air") == element_relation("air", "fire") == "complementary"
    assert element_relation("earth", "water") == "complementary"
    assert element_relation("fire", "water") == "contrast"
    assert element_relation("earth", "air") == "contrast"


def test_zodiac_animal_matches_the_chart_year_for_every_day_of_a_century() -> None:
    """The cached per-year rule gives the chart's year branch (date read at noon in Seoul)."""
    from datetime import timedelta

    from bot.core.saju import chart_for
    from bot.core.saju.cycle import ANIMAL_OF_BRANCH

    d = date(1900, 1, 1)
    while d < date(2101, 1, 1):
        if d.month in (1, 2):  # only the weeks around 입춘 can differ
            assert zodiac_animal(d).code == ANIMAL_OF_BRANCH[chart_for(d, None, "Asia/Seoul").year.branch], d
        d += timedelta(days=1)
