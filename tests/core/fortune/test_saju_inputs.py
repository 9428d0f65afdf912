"""The daily fortune with the 사주 inputs: deterministic, still non-repeating, leaning on
the day's relation to the 일간, and naming the day's pillar in plain words."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.core.fortune import SCORE_MAX, SCORE_MIN, FortuneEngine
from bot.core.saju import chart_for, day_pillar, day_relation
from bot.core.saju.content import content

START = date(2026, 12, 1)


@pytest.fixture(scope="module")
def engine() -> FortuneEngine:
    return FortuneEngine.load()


def _users(n: int) -> list[tuple[str, date, str | None]]:
    return [(f"a{i:016x}", date(1950 + i % 60, 1 + i % 12, 1 + i % 28), None if i % 3 else f"{i % 24:02d}:{i % 60:02d}")
            for i in range(n)]


def test_same_user_same_day_same_reading(engine: FortuneEngine) -> None:
    for key, birth, time in _users(50):
        chart = chart_for(birth, time, "Asia/Seoul")
        a = engine.daily(key, birth, START, "ko", chart=chart)
        b = engine.daily(key, birth, START, "ko", chart=chart_for(birth, time, "Asia/Seoul"))
        assert a == b
        en = engine.daily(key, birth, START, "en", chart=chart)
        assert (en.score, en.theme, en.one_liner_id, en.day_group) == (a.score, a.theme, a.one_liner_id, a.day_group)


def test_one_liner_does_not_repeat_within_28_days_with_a_chart(engine: FortuneEngine) -> None:
    users = _users(1000)
    clean = 0
    for key, birth, time in users:
        chart = chart_for(birth, time, "Asia/Seoul")
        ids = [engine.daily(key, birth, START + timedelta(days=i), "ko", chart=chart).one_liner_id for i in range(28)]
        clean += len(set(ids)) == 28
    assert clean / len(users) >= 0.95, clean


def test_the_one_liner_rotation_does_not_depend_on_the_chart(engine: FortuneEngine) -> None:
    """Same theme ⇒ same one-liner with or without a chart (it is a function of user, theme, day)."""
    same = 0
    for key, birth, time in _users(300):
        a = engine.daily(key, birth, START, "ko")
        b = engine.daily(key, birth, START, "ko", chart=chart_for(birth, time, "Asia/Seoul"))
        if a.theme == b.theme:
            same += 1
            assert a.one_liner_id == b.one_liner_id
    assert same > 20


def test_score_and_theme_lean_on_the_relation(engine: FortuneEngine) -> None:
    """Over many users and days, Support days (+3) score higher than Discipline days (0) and
    Wealth days draw the money theme more often than other days; scores stay in 60–100."""
    sc = content()
    by_group: dict[str, list[int]] = {}
    money = {"wealth": [0, 0], "other": [0, 0]}
    for key, birth, time in _users(200):
        chart = chart_for(birth, time, "Asia/Seoul")
        for i in range(20):
            day = START + timedelta(days=i)
            f = engine.daily(key, birth, day, "ko", chart=chart)
            assert SCORE_MIN <= f.score <= SCORE_MAX
            rel = day_relation(chart, day)
            assert f.day_group == rel.group
            by_group.setdefault(rel.group, []).append(f.score)
            bucket = money["wealth" if rel.group == "wealth" else "other"]
            bucket[0] += f.theme == "money"
            bucket[1] += 1
    mean = {g: sum(v) / len(v) for g, v in by_group.items()}
    assert sc.score["resource"] > sc.score["power"]
    assert mean["resource"] > mean["power"] + 1.5, mean
    assert money["wealth"][0] / money["wealth"][1] > 1.4 * money["other"][0] / money["other"][1], money


def test_the_reading_names_the_days_pillar_with_a_gloss(engine: FortuneEngine) -> None:
    birth = date(1990, 5, 17)
    chart = chart_for(birth, "07:30", "Asia/Seoul")
    ko = engine.daily("a1", birth, START, "ko", chart=chart)
    p = day_pillar(START)
    assert ko.day_pillar == f"{p.hangul}({p.hanja})"
    text = engine.render_summary(ko)
    assert f"오늘의 일진: {p.hangul}({p.hanja})일" in text and "60일마다" in text
    group = content().groups[day_relation(chart, START).group]
    assert group["day_line"]["ko"] in text  # the one-line gloss of what the day is to the 일간
    en = engine.render_summary(engine.daily("a1", birth, START, "en", chart=chart))
    assert "Today's day pillar" in en and p.hanja in en and "60-day cycle" in en


def test_without_a_chart_nothing_about_saju_is_shown(engine: FortuneEngine) -> None:
    f = engine.daily("a1", date(1990, 5, 17), START, "ko")
    assert f.day_pillar == f.day_note == f.day_group == ""
    assert "일진" not in engine.render_summary(f)


def test_the_animal_follows_the_charts_year(engine: FortuneEngine) -> None:
    """Born 1990-02-04 at 08:00 KST, before 입춘 1990 (about 11:14 KST): a snake (己巳)."""
    birth = date(1990, 2, 4)
    chart = chart_for(birth, "08:00", "Asia/Seoul")
    assert chart.year.hanja == "己巳"
    assert engine.daily("a1", birth, START, "ko", chart=chart).zodiac_animal == "snake"
    later = chart_for(birth, "20:00", "Asia/Seoul")
    assert engine.daily("a1", birth, START, "ko", chart=later).zodiac_animal == "horse"
