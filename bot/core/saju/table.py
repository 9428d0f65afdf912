"""The precomputed 절기 table (package data ``data/jeolgi.tsv``): the hot path reads it,
it never does astronomy.

The twelve 절 (소한, 입춘, 경칩, 청명, 입하, 망종, 소서, 입추, 백로, 한로, 입동, 대설) that
start the saju months, as UTC instants, 1899–2101, generated from the sun's apparent
longitude with ``ephem`` by ``scripts/gen_jeolgi.py``. Loaded once per process (~2,400
integers, a few milliseconds); lookups are a binary search.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

__all__ = ["TERM_CODES", "TERM_NAMES_KO", "TermTable", "TableRangeError", "terms"]

#: Term codes in calendar order (index 0 = 소한, early January).
TERM_CODES: tuple[str, ...] = (
    "sohan", "ipchun", "gyeongchip", "cheongmyeong", "ipha", "mangjong",
    "soseo", "ipchu", "baengno", "hallo", "ipdong", "daeseol",
)
TERM_NAMES_KO: tuple[str, ...] = (
    "소한", "입춘", "경칩", "청명", "입하", "망종", "소서", "입추", "백로", "한로", "입동", "대설",
)


class TableRangeError(ValueError):
    """A moment outside the table (before 1899-01 or after 2101-12)."""


@dataclass(frozen=True, slots=True)
class TermTable:
    first_year: int
    last_year: int
    instants: tuple[int, ...]  # UTC seconds, ascending; entry k = year first_year + k // 12, term k % 12

    def term_at(self, ts: float) -> tuple[int, int]:
        """``(year, term index)`` of the last term at or before the UTC instant ``ts``.

        Raises ``TableRangeError`` outside the table (no term before, or none after ``ts``).
        """
        k = bisect_right(self.instants, ts) - 1
        if k < 0 or k >= len(self.instants) - 1:
            raise TableRangeError(f"instant {ts} is outside the 절기 table")
        return self.first_year + k // 12, k % 12

    def instant(self, year: int, term: int) -> int:
        """UTC seconds of ``term`` (0 = 소한 … 11 = 대설) in ``year``."""
        if not self.first_year <= year <= self.last_year:
            raise TableRangeError(f"year {year} is outside the 절기 table")
        return self.instants[(year - self.first_year) * 12 + term]

    def between(self, start: float, end: float) -> list[tuple[int, int, int]]:
        """Terms with ``start <= instant < end`` as ``(year, term, instant)``."""
        lo = bisect_right(self.instants, start - 1)
        out = []
        for k in range(lo, len(self.instants)):
            ts = self.instants[k]
            if ts >= end:
                break
            if ts >= start:
                out.append((self.first_year + k // 12, k % 12, ts))
        return out


@lru_cache(maxsize=1)
def terms() -> TermTable:
    """The table from package data (read once)."""
    text = resources.files("bot.core.saju").joinpath("data/jeolgi.tsv").read_text(encoding="utf-8")
    years: list[int] = []
    instants: list[int] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 13:
            raise ValueError(f"jeolgi.tsv: bad row {line[:40]!r}")
        years.append(int(cols[0]))
        instants.extend(int(c) for c in cols[1:])
    if years != list(range(years[0], years[0] + len(years))) or instants != sorted(instants):
        raise ValueError("jeolgi.tsv: years must be consecutive and instants ascending")
    return TermTable(years[0], years[-1], tuple(instants))
