"""신년운세 engine: which year, determinism per user and year, twelve months from 입춘, and
copy that stays warm (no frightening words, no pressure, particle-safe Korean)."""

from __future__ import annotations

import re
from datetime import date

from bot.core.saju import chart_for
from bot.core.saju.content import content
from bot.core.saju.newyear import build_newyear, newyear_target
from bot.core.saju.text import render_newyear_detail, render_newyear_summary

CHART = chart_for(date(1990, 5, 17), "07:30", "Asia/Seoul")


def test_target_year() -> None:
    assert newyear_target(date(2026, 12, 1)) == 2027
    assert newyear_target(date(2026, 11, 30)) == 2026
    assert newyear_target(date(2027, 1, 1)) == 2027
    assert newyear_target(date(2026, 11, 1), season_month=11) == 2027


def test_deterministic_per_user_and_year_and_languages_share_draws() -> None:
    a = build_newyear("a1", CHART, 2027, "ko")
    assert a == build_newyear("a1", CHART, 2027, "ko")
    en = build_newyear("a1", CHART, 2027, "en")
    assert [m.group for m in a.months] == [m.group for m in en.months]
    ny = content().newyear
    # the same draw index in both languages
    for area in ("money", "love", "health", "work"):
        pool = ny["areas"][area][a.group]
        assert [t["ko"] for t in pool].index(a.areas[area]) == [t["en"] for t in pool].index(en.areas[area])
    texts = {render_newyear_detail(build_newyear(f"a{i}", CHART, 2027, "ko")) for i in range(40)}
    assert len(texts) > 5  # users differ


def test_2027_is_jeongmi_and_months_start_at_ipchun() -> None:
    ny = build_newyear("a1", CHART, 2027, "ko")
    assert ny.pillar.hanja == "丁未"
    assert [m.pillar.hanja for m in ny.months] == [
        "壬寅", "癸卯", "甲辰", "乙巳", "丙午", "丁未", "戊申", "己酉", "庚戌", "辛亥", "壬子", "癸丑"]  # 丁壬年 → 壬寅
    assert ny.months[0].start == date(2027, 2, 4) and ny.months[-1].start.year == 2028
    # 壬 day master: 丁 is Wealth (water restrains fire); 未 meets the 午 day branch: harmony
    assert ny.group == "wealth" and ny.link == "harmony"


def test_months_of_one_group_do_not_repeat_while_the_pool_lasts() -> None:
    for i in range(50):
        ny = build_newyear(f"a{i}", CHART, 2027, "ko")
        seen: dict[str, list[str]] = {}
        for m in ny.months:
            seen.setdefault(m.group, []).append(m.text)
        for texts in seen.values():
            assert len(set(texts)) == min(len(texts), 3)


def test_summary_names_the_year_and_three_pillars() -> None:
    no_time = chart_for(date(1990, 5, 17), None, "Asia/Seoul")
    text = render_newyear_summary(build_newyear("a1", no_time, 2027, "ko"), no_time)
    assert "2027년 정미(丁未)년 신년운세 — 붉은 양의 해" in text and "세 기둥" in text


_FRIGHTENING = re.compile(r"죽|사망|사고|질병|병에|불행|재앙|흉|\b(death|die|dying|illness|disease|disaster|misfortune|curse)\b",
                          re.IGNORECASE)
_PRESSURE = re.compile(r"지금 바로|서두르세요|놓치지|마지막 기회|hurry|last chance|don't miss|only today", re.IGNORECASE)
_NEUTRAL_PARTICLES = re.compile(r"\((은|는|이|가|을|를|과|와|으)\)")


def _all_texts(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [t for v in node.values() for t in _all_texts(v)]
    if isinstance(node, list | tuple):
        return [t for v in node for t in _all_texts(v)]
    return []


def test_copy_is_warm_and_particle_safe() -> None:
    import yaml
    from importlib import resources

    texts = _all_texts(content().raw)
    locale = yaml.safe_load(resources.files("bot.core").joinpath("locales/saju.yaml").read_text(encoding="utf-8"))
    texts += _all_texts(locale)
    assert len(texts) > 200
    for text in texts:
        assert not _FRIGHTENING.search(text), text
        assert not _PRESSURE.search(text), text
        assert not _NEUTRAL_PARTICLES.search(text), text
