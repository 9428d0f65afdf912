"""Fortune engine: determinism, distribution, variety, rules and rendering."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.core.fortune import (
    THEMES,
    Fortune,
    FortuneEngine,
    render_details,
    render_summary,
    render_weekly,
)
from bot.core.fortune.engine import score_tier
from bot.core.fortune.loader import ONELINERS_FILE, apply_josa

ROOT = Path(__file__).resolve().parents[3]
DAY = date(2025, 6, 18)  # an ordinary Wednesday, no seasonal window


@pytest.fixture(scope="module")
def engine() -> FortuneEngine:
    return FortuneEngine.load()


def _birth(i: int) -> date:
    return date(1950, 1, 1) + timedelta(days=(i * 7919) % 22000)


def _users(n: int) -> list[tuple[str, date]]:
    return [(f"{('tg', 'dc', 'cli')[i % 3]}:{100000 + i * 37}", _birth(i)) for i in range(n)]


# --------------------------------------------------------------------------- determinism

_PROBE = r"""
import json, sys
from datetime import date
sys.path.insert(0, sys.argv[1])
from bot.core.fortune import FortuneEngine
from bot.core.chemistry import compatibility
e = FortuneEngine.load()
out = []
for i, (key, birth) in enumerate([("tg:1", date(1990, 5, 17)), ("dc:42", date(1984, 1, 3)), ("cli:local", date(2001, 12, 22))]):
    for lang in ("ko", "en"):
        out.append(e.daily(key, birth, date(2025, 2, 14), lang, ("love",) if i == 1 else ()).to_dict())
        out.append(e.weekly_outlook(key, birth, date(2025, 3, 3), lang).to_dict())
        out.append(compatibility(key, birth, "tg:9", date(1993, 8, 30), date(2025, 2, 14), lang).to_dict())
print(json.dumps(out, ensure_ascii=False, sort_keys=True))
"""


def _probe(hashseed: str) -> list[dict]:
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_same_inputs_same_fortune_across_processes(engine: FortuneEngine) -> None:
    first, second = _probe("1"), _probe("2024")
    assert first == second
    # and the same as this process
    here = engine.daily("tg:1", date(1990, 5, 17), date(2025, 2, 14), "ko").to_dict()
    assert json.loads(json.dumps(here, ensure_ascii=False)) == first[0]
    assert len(first) == 18


def test_same_call_twice_is_equal(engine: FortuneEngine) -> None:
    a = engine.daily("tg:5", date(1995, 3, 3), DAY, "en", ("career",))
    b = engine.daily("tg:5", date(1995, 3, 3), DAY, "en", ("career",))
    assert a == b


def test_languages_are_translations_of_the_same_draw(engine: FortuneEngine) -> None:
    for key, birth in _users(50):
        ko = engine.daily(key, birth, DAY, "ko")
        en = engine.daily(key, birth, DAY, "en")
        assert (ko.score, ko.theme, ko.one_liner_id, ko.lucky_number, ko.band) == (
            en.score,
            en.theme,
            en.one_liner_id,
            en.lucky_number,
            en.band,
        )
        assert ko.one_liner != en.one_liner


def test_different_days_and_users_differ(engine: FortuneEngine) -> None:
    birth = date(1990, 5, 17)
    week = {engine.daily("tg:1", birth, DAY + timedelta(days=i), "ko").to_dict()["summary"] for i in range(7)}
    assert len(week) >= 5
    people = {engine.daily(k, b, DAY, "ko").one_liner_id for k, b in _users(40)}
    assert len(people) >= 25


# --------------------------------------------------------------------------- distribution


def test_scores_and_themes_over_10000_users(engine: FortuneEngine) -> None:
    scores: Counter[int] = Counter()
    themes: Counter[str] = Counter()
    users = _users(10_000)
    for key, birth in users:
        f = engine.daily(key, birth, DAY, "ko")
        scores[f.score] += 1
        themes[f.theme] += 1
    assert min(scores) == 60 and max(scores) == 100
    assert set(scores) <= set(range(60, 101))
    assert len(scores) == 41, "every score 60..100 should occur"
    assert set(themes) == set(THEMES)
    for theme in THEMES:
        assert themes[theme] / len(users) >= 0.05, (theme, themes)


@pytest.mark.parametrize("day", [date(2025, 1, 1), date(2025, 2, 14), date(2025, 5, 5), date(2025, 12, 24)])
def test_every_theme_still_appears_on_seasonal_days(engine: FortuneEngine, day: date) -> None:
    themes = Counter(engine.daily(k, b, day, "en").theme for k, b in _users(3000))
    for theme in THEMES:
        assert themes[theme] / 3000 >= 0.05, (day, themes)


def test_seasonal_and_focus_rules_shift_the_theme(engine: FortuneEngine) -> None:
    users = _users(3000)
    ordinary = Counter(engine.daily(k, b, date(2025, 2, 12), "ko").theme for k, b in users)  # a Wednesday
    valentine = Counter(engine.daily(k, b, date(2025, 2, 14), "ko").theme for k, b in users)
    assert valentine["love"] > ordinary["love"] * 1.4
    focused = Counter(engine.daily(k, b, DAY, "ko", ("money",)).theme for k, b in users)
    plain = Counter(engine.daily(k, b, DAY, "ko").theme for k, b in users)
    assert focused["money"] > plain["money"] * 1.4


def test_element_leans_toward_its_themes(engine: FortuneEngine) -> None:
    # fire leans to career/love, earth to money/health (themes.yaml)
    fire = Counter(engine.daily(f"tg:{i}", date(1990, 4, 1), DAY, "ko").theme for i in range(3000))  # aries
    earth = Counter(engine.daily(f"tg:{i}", date(1990, 5, 1), DAY, "ko").theme for i in range(3000))  # taurus
    assert fire["career"] > earth["career"]
    assert earth["money"] > fire["money"]


def test_unknown_focus_tag_is_rejected(engine: FortuneEngine) -> None:
    with pytest.raises(ValueError, match="focus"):
        engine.daily("tg:1", date(1990, 1, 1), DAY, "ko", ("general",))
    with pytest.raises(ValueError):
        engine.daily("tg:1", date(1990, 1, 1), DAY, "jp")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- variety


def test_one_liner_does_not_repeat_within_28_days(engine: FortuneEngine) -> None:
    assert engine.content.oneliners_source == ONELINERS_FILE
    users = _users(2000)
    start = date(2025, 1, 10)
    clean = 0
    for key, birth in users:
        ids = [engine.daily(key, birth, start + timedelta(days=i), "ko").one_liner_id for i in range(28)]
        clean += len(set(ids)) == 28
    assert clean / len(users) >= 0.95, clean


def test_one_liner_comes_from_the_theme_pool(engine: FortuneEngine) -> None:
    pools = {th: {i for i, _ in engine.content.oneliners[th]} for th in THEMES}
    texts = {i: t for th in THEMES for i, t in engine.content.oneliners[th]}
    for key, birth in _users(300):
        f = engine.daily(key, birth, DAY, "en")
        assert f.one_liner_id in pools[f.theme]
        assert f.one_liner == texts[f.one_liner_id].en


# --------------------------------------------------------------------------- fields


def test_fields_are_in_range_and_consistent(engine: FortuneEngine) -> None:
    c = engine.content
    bands = {b.id: b for b in c.bands}
    colors = {i.text.ko for i in c.colors}
    times = {i.text.ko for i in c.times}
    dirs = {i.text.ko for i in c.directions}
    for key, birth in _users(500):
        f = engine.daily(key, birth, DAY, "ko")
        assert 60 <= f.score <= 100
        band = bands[f.band]
        assert f.score >= band.min and all(f.score < b.min for b in c.bands if b.min > band.min)
        assert f.rank_line in {t.ko for t in band.lines}
        assert 1 <= f.lucky_number <= 99
        assert f.lucky_color in colors and f.lucky_time in times and f.lucky_direction in dirs
        assert f.lucky_color_hex.startswith("#")
        assert f.theme_label == c.theme_labels[f.theme].ko
        for text in (f.summary, f.details.helper, f.details.money, f.tomorrow_hint):
            assert text and "{" not in text and "[" not in text


def test_summary_is_two_or_three_composed_sentences(engine: FortuneEngine) -> None:
    c = engine.content
    flows = {t.en for tier in c.flows.values() for t in tier}
    lengths = Counter()
    for key, birth in _users(400):
        f = engine.daily(key, birth, DAY, "en")
        assert any(flow in f.summary for flow in flows)
        closings = [t.en for t in c.closings if t.en in f.summary]
        lengths[2 + len(closings)] += 1
    assert lengths[2] > 0 and lengths[3] > 0


def test_single_day_season_note_always_shows(engine: FortuneEngine) -> None:
    notes = {t.ko for s in engine.content.seasons if s.id == "valentine" for t in s.notes}
    for key, birth in _users(100):
        f = engine.daily(key, birth, date(2026, 2, 14), "ko")
        assert any(n in f.summary for n in notes)


def test_tomorrow_hint_follows_tomorrows_theme(engine: FortuneEngine) -> None:
    for key, birth in _users(200):
        today = engine.daily(key, birth, DAY, "en", ("health",))
        tomorrow = engine.daily(key, birth, DAY + timedelta(days=1), "en", ("health",))
        assert today.tomorrow_theme == tomorrow.theme
        assert today.tomorrow_hint in {t.en for t in engine.content.tomorrow[tomorrow.theme]}


def test_korean_particles_are_resolved() -> None:
    assert apply_josa("오늘의 귀인은 이웃[이에요/예요].") == "오늘의 귀인은 이웃이에요."
    assert apply_josa("오늘의 귀인은 친구[이에요/예요].") == "오늘의 귀인은 친구예요."
    assert apply_josa("물[과/와] 바람[은/는]") == "물과 바람은"
    assert apply_josa("양자리[과/와] 사자자리[이/가]") == "양자리와 사자자리가"
    assert apply_josa("서울[으로/로] 집[으로/로] 학교[으로/로]") == "서울로 집으로 학교로"
    assert apply_josa("plain text") == "plain text"


# --------------------------------------------------------------------------- weekly


def test_weekly_outlook(engine: FortuneEngine) -> None:
    birth = date(1988, 9, 9)
    start = date(2025, 3, 3)
    for lang in ("ko", "en"):
        w = engine.weekly_outlook("tg:77", birth, start, lang)  # type: ignore[arg-type]
        assert [d.day for d in w.days] == [start + timedelta(days=i) for i in range(7)]
        assert w.days[2] == engine.daily("tg:77", birth, start + timedelta(days=2), lang)  # type: ignore[arg-type]
        scores = {d.day: d.score for d in w.days}
        assert scores[w.best_day] == max(scores.values())
        assert scores[w.gentle_day] == min(scores.values())
        counts = Counter(d.theme for d in w.days)
        assert counts[w.theme] == max(counts.values())
        assert w.advice in w.overview and w.theme_label in w.overview
        text = engine.render_weekly(w)
        assert text == render_weekly(w)
        for d in w.days:
            assert d.one_liner in text and str(d.score) in text


# --------------------------------------------------------------------------- rendering


def _fortune(engine: FortuneEngine, lang: str) -> Fortune:
    return engine.daily("tg:123", date(1990, 5, 17), date(2025, 2, 14), lang)  # type: ignore[arg-type]


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_render_summary_and_details(engine: FortuneEngine, lang: str) -> None:
    f = _fortune(engine, lang)
    summary = render_summary(f, lang)
    assert summary == engine.render_summary(f)
    for piece in (
        str(f.score),
        f.rank_line,
        f.theme_label,
        f.one_liner,
        f.summary,
        f.lucky_color,
        str(f.lucky_number),
        f.lucky_time,
        f.lucky_direction,
    ):
        assert piece in summary
    assert ("양자리" in summary or "황소자리" in summary) if lang == "ko" else "Taurus" in summary
    details = render_details(f)
    for piece in (
        f.details.money,
        f.details.love,
        f.details.health,
        f.details.caution,
        f.details.helper,
        f.tomorrow_hint,
    ):
        assert piece in details
    for text in (summary, details):
        assert "**" not in text and "__" not in text and "`" not in text and "{" not in text
    with pytest.raises(ValueError):
        render_summary(f, "en" if lang == "ko" else "ko")


def test_rendered_text_is_in_the_requested_language(engine: FortuneEngine) -> None:
    ko = engine.render_summary(_fortune(engine, "ko"))
    en = engine.render_summary(_fortune(engine, "en"))
    assert "행운의 색" in ko and "오늘의 운세" in ko
    assert "Lucky color" in en and not any("\uac00" <= ch <= "\ud7a3" for ch in en)


# ---------------------------------------------------------------------- variety (issue 15)


def test_rank_and_detail_pools_have_eight_to_ten_lines(engine: FortuneEngine) -> None:
    c = engine.content
    assert all(8 <= len(b.lines) <= 10 for b in c.bands)
    for area in ("money", "love", "health"):
        assert all(8 <= len(lines) <= 10 for lines in c.details[area].values()), area


def test_rank_and_detail_lines_do_not_repeat_within_their_pool(engine: FortuneEngine) -> None:
    """A line of a pool of n comes back to a user only after n days or more, however bands fall."""
    sizes = {b.id: len(b.lines) for b in engine.content.bands}
    tier_size = {area: {t: len(v) for t, v in tiers.items()} for area, tiers in engine.content.details.items()}
    for u in range(25):
        last: dict[tuple[str, str], int] = {}
        for i in range(90):
            day = DAY + timedelta(days=i)
            f = engine.daily(f"fresh{u}", date(1988, 1 + u % 12, 3), day, "ko")
            tier = score_tier(f.score)
            picks = [("band:" + f.band, f.rank_line, sizes[f.band])]
            picks += [
                (f"{area}:{tier}", getattr(f.details, area), tier_size[area][tier])
                for area in ("money", "love", "health")
            ]
            for pool, line, n in picks:
                seen = last.get((pool, line))
                assert seen is None or i - seen >= n, (u, pool, line, seen, i)
                last[(pool, line)] = i


def test_a_month_shows_variety(engine: FortuneEngine) -> None:
    for u in range(40):
        ranks: Counter[str] = Counter()
        details: Counter[str] = Counter()
        for i in range(30):
            f = engine.daily(f"month{u}", date(1975 + u, 7, 21), DAY + timedelta(days=i), "ko")
            ranks[f.rank_line] += 1
            details.update((f.details.money, f.details.love, f.details.health))
        assert len(ranks) >= 15, u
        assert max(details.values()) <= 4, u


def test_summary_says_today_at_most_once(engine: FortuneEngine) -> None:
    for u in range(200):
        for i in range(0, 366, 7):
            f = engine.daily(f"oneul{u}", date(1990, 1 + u % 12, 1 + u % 28), date(2026, 1, 1) + timedelta(days=i), "ko")
            assert f.summary.count("오늘") <= 1, f.summary


def test_theme_labels_name_the_luck_in_one_word(engine: FortuneEngine) -> None:
    labels = engine.pack("ko").theme_labels
    assert set(labels.values()) == {"직업운", "연애운", "재물운", "건강운", "대인운", "전체운"}
    for u in range(20):
        w = engine.weekly_outlook(f"wk{u}", date(1992, 2, 2), date(2026, 1, 5), "ko")
        text = engine.render_weekly(w)
        assert not re.search(r"[가-힣] 운(?!세)", text), text
        assert w.theme_label in w.overview
