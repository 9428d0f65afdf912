"""일간, 오행 balance, 십신 and the day's relation, against hand-worked cases."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.core.saju import GODS, chart_for, chart_gods, day_pillar, day_relation, element_balance, ten_god
from bot.core.saju.cycle import STEM_HANJA
from bot.core.saju.derive import GROUP_OF, branch_link


def stem(ch: str) -> int:
    return STEM_HANJA.index(ch)


@pytest.mark.parametrize(("other", "god"), [
    ("甲", "bigyeon"), ("乙", "geopjae"),  # same element (wood)
    ("丙", "siksin"), ("丁", "sanggwan"),  # wood feeds fire
    ("戊", "pyeonjae"), ("己", "jeongjae"),  # wood restrains earth
    ("庚", "pyeongwan"), ("辛", "jeonggwan"),  # metal restrains wood
    ("壬", "pyeonin"), ("癸", "jeongin"),  # water feeds wood
])
def test_ten_gods_of_a_jia_day_master(other: str, god: str) -> None:
    assert ten_god(stem("甲"), stem(other)) == god


def test_ten_gods_for_a_yin_day_master() -> None:
    # 癸 (yin water): 壬 same element other polarity = 겁재; 戊 (yang earth) restrains water,
    # other polarity = 정관; 辛 (yin metal) feeds water, same polarity = 편인
    assert ten_god(stem("癸"), stem("壬")) == "geopjae"
    assert ten_god(stem("癸"), stem("戊")) == "jeonggwan"
    assert ten_god(stem("癸"), stem("辛")) == "pyeonin"


def test_every_pair_has_one_god_and_each_god_appears_once_per_master() -> None:
    for d in range(10):
        assert sorted(ten_god(d, x) for x in range(10)) == sorted(GODS)


def test_element_balance_and_gods_of_a_chart() -> None:
    """1990-05-17 07:30 Seoul = 庚午 辛巳 壬午 甲辰: stems metal, metal, water, wood; branches
    fire, fire, fire, earth → wood 1, fire 3, earth 1, metal 2, water 1 (8 characters)."""
    c = chart_for(date(1990, 5, 17), "07:30", "Asia/Seoul")
    assert c.signature == "庚午 辛巳 壬午 甲辰"
    assert element_balance(c) == {"wood": 1, "fire": 3, "earth": 1, "metal": 2, "water": 1}
    gods = chart_gods(c)
    assert gods["day"][0] is None  # the day master itself
    assert gods["year"][0] == "pyeonin"  # 庚 (yang metal) feeds 壬 (yang water)
    assert gods["hour"][0] == "siksin"  # 壬 feeds 甲, both yang
    assert gods["day"][1] == "jeongjae"  # 午 → 丁 (yin fire), water restrains fire, other polarity


def test_three_pillar_balance_counts_six() -> None:
    assert sum(element_balance(chart_for(date(1990, 5, 17), None, "Asia/Seoul")).values()) == 6


def test_branch_links() -> None:
    assert branch_link(0, 6) == "clash"  # 子午충
    assert branch_link(0, 1) == "harmony"  # 子丑합
    assert branch_link(2, 11) == "harmony"  # 寅亥합
    assert branch_link(0, 4) == "none"


def test_day_relation_walks_the_cycle() -> None:
    c = chart_for(date(1990, 5, 17), "07:30", "Asia/Seoul")  # 일간 壬
    start = date(2027, 1, 1)
    rels = [day_relation(c, start + timedelta(days=i)) for i in range(10)]
    assert [r.pillar for r in rels] == [day_pillar(start + timedelta(days=i)) for i in range(10)]
    # ten consecutive days carry all ten stems, so every god appears exactly once
    assert sorted(r.god for r in rels) == sorted(GODS)
    assert all(r.group == GROUP_OF[r.god] for r in rels)


def test_the_hot_path_does_no_astronomy() -> None:
    """Charts come from the table: importing and using the engine never loads ephem."""
    import subprocess
    import sys

    code = ("import sys; from datetime import date; from bot.core.saju import chart_for; "
            "chart_for(date(2024, 2, 4), '17:35', 'Asia/Seoul'); "
            "sys.exit(1 if 'ephem' in sys.modules or 'lunar_python' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
