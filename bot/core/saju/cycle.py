"""The sexagenary cycle (육십갑자): ten stems (천간), twelve branches (지지), their elements.

Indexes: stems 0..9 = 甲乙丙丁戊己庚辛壬癸 (갑을병정무기경신임계), branches 0..11 =
子丑寅卯辰巳午未申酉戌亥 (자축인묘진사오미신유술해). A pillar is one of the sixty pairs with
``stem % 2 == branch % 2``; its cycle index ``n`` (0 = 甲子 … 59 = 癸亥) has ``n % 10 = stem``
and ``n % 12 = branch``. Pure data and arithmetic: no I/O, no astronomy.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BRANCH_ELEMENT",
    "BRANCH_HANGUL",
    "BRANCH_HANJA",
    "BRANCH_MAIN_STEM",
    "ELEMENTS",
    "STEM_ELEMENT",
    "STEM_HANGUL",
    "STEM_HANJA",
    "ANIMAL_OF_BRANCH",
    "ELEMENT_HANJA",
    "Pillar",
    "pillar_of",
    "generates",
    "controls",
]

STEM_HANJA = "甲乙丙丁戊己庚辛壬癸"
STEM_HANGUL = "갑을병정무기경신임계"
BRANCH_HANJA = "子丑寅卯辰巳午未申酉戌亥"
BRANCH_HANGUL = "자축인묘진사오미신유술해"

#: The five elements (오행) in generating order: wood → fire → earth → metal → water → wood.
ELEMENTS: tuple[str, ...] = ("wood", "fire", "earth", "metal", "water")
ELEMENT_HANJA = {"wood": "木", "fire": "火", "earth": "土", "metal": "金", "water": "水"}
STEM_ELEMENT: tuple[str, ...] = tuple(ELEMENTS[s // 2] for s in range(10))
BRANCH_ELEMENT: tuple[str, ...] = (
    "water", "earth", "wood", "wood", "earth", "fire", "fire", "earth", "metal", "metal", "earth", "water",
)
#: The main hidden stem (본기/정기) of each branch, used for 십신 of the branches.
BRANCH_MAIN_STEM: tuple[int, ...] = (9, 5, 0, 1, 4, 2, 3, 5, 6, 7, 4, 8)
#: Zodiac animal codes (bot.core.zodiac.ANIMAL_CODES order) by branch: 子 = rat.
ANIMAL_OF_BRANCH: tuple[str, ...] = (
    "rat", "ox", "tiger", "rabbit", "dragon", "snake", "horse", "goat", "monkey", "rooster", "dog", "pig",
)


def generates(a: str, b: str) -> bool:
    """``a`` feeds ``b`` (상생): wood→fire→earth→metal→water→wood."""
    return ELEMENTS[(ELEMENTS.index(a) + 1) % 5] == b


def controls(a: str, b: str) -> bool:
    """``a`` restrains ``b`` (상극): wood→earth→water→fire→metal→wood."""
    return ELEMENTS[(ELEMENTS.index(a) + 2) % 5] == b


@dataclass(frozen=True, slots=True)
class Pillar:
    """One pillar: a stem and a branch (a 60-cycle pair)."""

    stem: int
    branch: int

    @property
    def index(self) -> int:
        """Position in the 60-cycle, 0 = 甲子."""
        return (6 * self.stem - 5 * self.branch) % 60

    @property
    def hanja(self) -> str:
        return STEM_HANJA[self.stem] + BRANCH_HANJA[self.branch]

    @property
    def hangul(self) -> str:
        return STEM_HANGUL[self.stem] + BRANCH_HANGUL[self.branch]

    @property
    def stem_element(self) -> str:
        return STEM_ELEMENT[self.stem]

    @property
    def branch_element(self) -> str:
        return BRANCH_ELEMENT[self.branch]

    def __str__(self) -> str:
        return f"{self.hangul}({self.hanja})"


_PILLARS = tuple(Pillar(n % 10, n % 12) for n in range(60))


def pillar_of(n: int) -> Pillar:
    """The pillar at cycle index ``n`` (taken mod 60)."""
    return _PILLARS[n % 60]
