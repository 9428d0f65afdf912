"""Western sun signs (별자리) and Korean zodiac animals (띠).

Sun-sign boundaries (inclusive, month-day):

    aries 03-21–04-19, taurus 04-20–05-20, gemini 05-21–06-21, cancer 06-22–07-22,
    leo 07-23–08-22, virgo 08-23–09-22, libra 09-23–10-22, scorpio 10-23–11-21,
    sagittarius 11-22–12-21, capricorn 12-22–01-19, aquarius 01-20–02-18, pisces 02-19–03-20

Elements: fire (aries, leo, sagittarius), earth (taurus, virgo, capricorn),
air (gemini, libra, aquarius), water (cancer, scorpio, pisces).

Zodiac animal (띠) follows the saju year, which changes at **입춘** (about 4 February), not on
1 January and not at 설날: ``(year - 4) % 12`` with 0 = rat (1984, 1996, 2008, 2020 are rat
years), where ``year`` is the birth year counted from 입춘 (``bot.core.saju``'s 절기 table).
From a date alone the birth is read at noon in Korea (``Asia/Seoul``), so on the 입춘 day
itself the answer depends on whether 입춘 came before noon; with a birth time and zone, the
chart's year branch is exact (the daily fortune uses it).

Display names (Korean and English) come from ``bot/core/fortune/data/zodiac.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

__all__ = [
    "ANIMAL_CODES",
    "SIGN_CODES",
    "SIGN_ELEMENT",
    "Animal",
    "SunSign",
    "element_relation",
    "sign_by_code",
    "sun_sign",
    "zodiac_animal",
]

SIGN_CODES: tuple[str, ...] = (
    "aries",
    "taurus",
    "gemini",
    "cancer",
    "leo",
    "virgo",
    "libra",
    "scorpio",
    "sagittarius",
    "capricorn",
    "aquarius",
    "pisces",
)
ANIMAL_CODES: tuple[str, ...] = (
    "rat",
    "ox",
    "tiger",
    "rabbit",
    "dragon",
    "snake",
    "horse",
    "goat",
    "monkey",
    "rooster",
    "dog",
    "pig",
)

SIGN_ELEMENT: dict[str, str] = {
    "aries": "fire",
    "leo": "fire",
    "sagittarius": "fire",
    "taurus": "earth",
    "virgo": "earth",
    "capricorn": "earth",
    "gemini": "air",
    "libra": "air",
    "aquarius": "air",
    "cancer": "water",
    "scorpio": "water",
    "pisces": "water",
}

# (first month, first day, sign) in calendar order; a date belongs to the last start <= it.
_STARTS: tuple[tuple[int, int, str], ...] = (
    (1, 20, "aquarius"),
    (2, 19, "pisces"),
    (3, 21, "aries"),
    (4, 20, "taurus"),
    (5, 21, "gemini"),
    (6, 22, "cancer"),
    (7, 23, "leo"),
    (8, 23, "virgo"),
    (9, 23, "libra"),
    (10, 23, "scorpio"),
    (11, 22, "sagittarius"),
    (12, 22, "capricorn"),
)

_COMPLEMENTARY = {frozenset(("fire", "air")), frozenset(("earth", "water"))}


@dataclass(frozen=True, slots=True)
class SunSign:
    code: str
    element: str
    name_ko: str
    name_en: str

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_ko


@dataclass(frozen=True, slots=True)
class Animal:
    code: str
    name_ko: str
    name_en: str

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_ko


def _sign_code_for(month: int, day: int) -> str:
    code = "capricorn"  # 01-01 .. 01-19
    for m, d, sign in _STARTS:
        if (month, day) >= (m, d):
            code = sign
        else:
            break
    return code


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[tuple[int, int], SunSign], dict[str, SunSign], tuple[Animal, ...]]:
    # Imported lazily: the fortune package imports this module, so a top-level import would cycle.
    from bot.core.fortune.loader import load_zodiac_names

    sign_names, animal_names, _ = load_zodiac_names()
    by_code = {
        code: SunSign(code, SIGN_ELEMENT[code], sign_names[code].ko, sign_names[code].en)
        for code in SIGN_CODES
    }
    by_day: dict[tuple[int, int], SunSign] = {}
    for month in range(1, 13):
        for day in range(1, 32):
            by_day[(month, day)] = by_code[_sign_code_for(month, day)]
    animals = tuple(Animal(code, animal_names[code].ko, animal_names[code].en) for code in ANIMAL_CODES)
    return by_day, by_code, animals


def sun_sign(birth: date) -> SunSign:
    """The Western sun sign for a birth date (boundaries in the module docstring)."""
    return _tables()[0][(birth.month, birth.day)]


def sign_by_code(code: str) -> SunSign:
    return _tables()[1][code]


def zodiac_animal(birth: date) -> Animal:
    """The Korean zodiac animal (띠) of the saju year (from 입춘): someone born on 1 February
    1990 is a snake (己巳, 1989), not a horse. Read at noon in Korea when only the date is known."""
    return _tables()[2][(_saju_year(birth) - 4) % 12]


@lru_cache(maxsize=512)
def _ipchun_kst(year: int) -> tuple[date, bool] | None:
    """(Korean date of 입춘, whether it comes before noon) for ``year``; None outside the table."""
    from datetime import datetime, timedelta, timezone

    from bot.core.saju.table import TableRangeError, terms  # lazy: only callers of the 띠 load it

    try:
        moment = datetime.fromtimestamp(terms().instant(year, 1), timezone(timedelta(hours=9)))
    except TableRangeError:
        return None
    return moment.date(), moment.hour < 12


def _saju_year(birth: date) -> int:
    """The birth year counted from 입춘, for a date read at noon in Korea — the same rule as
    ``bot.core.saju.chart_for(birth, None, "Asia/Seoul")``, in a per-year cached form."""
    ipchun = _ipchun_kst(birth.year)
    if ipchun is None:  # outside 1899–2101: the calendar year
        return birth.year
    day, before_noon = ipchun
    if birth < day or (birth == day and not before_noon):
        return birth.year - 1
    return birth.year


def element_relation(a: str, b: str) -> str:
    """``same`` (same element), ``complementary`` (fire–air, earth–water) or ``contrast``."""
    if a == b:
        return "same"
    if frozenset((a, b)) in _COMPLEMENTARY:
        return "complementary"
    return "contrast"
