"""Compatibility (궁합): symmetric, bounded, stable per day, readable."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date, timedelta

from bot.core.chemistry import Compatibility, compatibility, render_compat
from bot.core.fortune import FortuneEngine

DAY = date(2025, 4, 2)


def _people(n: int) -> list[tuple[str, date]]:
    return [(f"tg:{5000 + i * 13}", date(1960, 1, 1) + timedelta(days=(i * 4099) % 18000)) for i in range(n)]


def test_symmetric_and_in_range() -> None:
    people = _people(120)
    scores: Counter[int] = Counter()
    for i in range(0, len(people), 2):
        (ak, ab), (bk, bb) = people[i], people[i + 1]
        for day in (DAY, DAY + timedelta(days=1)):
            ab_ = compatibility(ak, ab, bk, bb, day, "ko")
            ba_ = compatibility(bk, bb, ak, ab, day, "ko")
            assert ab_.score == ba_.score and ab_.title == ba_.title and ab_.tier == ba_.tier
            assert ab_.relation == ba_.relation
            assert ab_.a_sign == ba_.b_sign and ab_.b_sign == ba_.a_sign
            assert 50 <= ab_.score <= 100
            scores[ab_.score] += 1
    assert len(scores) > 15


def test_extremes_are_reachable() -> None:
    people = _people(3000)
    seen = [compatibility(a[0], a[1], b[0], b[1], DAY, "en").score for a, b in itertools.pairwise(people)]
    assert min(seen) == 50 and max(seen) == 100
    assert all(50 <= s <= 100 for s in seen)


def test_stable_for_a_day_and_mostly_stable_across_days() -> None:
    a, b = ("tg:1", date(1990, 4, 1)), ("dc:2", date(1992, 8, 15))
    first = compatibility(*a, *b, DAY, "ko")
    assert first == compatibility(*a, *b, DAY, "ko")
    week = [compatibility(*a, *b, DAY + timedelta(days=i), "ko").score for i in range(14)]
    assert max(week) - min(week) <= 6  # pair character stays, the day only nudges it


def test_element_relation_drives_the_score() -> None:
    people = _people(1600)
    by_rel: dict[str, list[int]] = {"same": [], "complementary": [], "contrast": []}
    for a, b in itertools.pairwise(people):
        c = compatibility(a[0], a[1], b[0], b[1], DAY, "ko")
        by_rel[c.relation].append(c.score)
    mean = {k: sum(v) / len(v) for k, v in by_rel.items()}
    assert mean["complementary"] > mean["same"] > mean["contrast"]


def test_reading_and_title_language_and_shape() -> None:
    content = FortuneEngine.load().content
    for lang in ("ko", "en"):
        c = compatibility("tg:1", date(1990, 4, 1), "tg:2", date(1992, 8, 1), DAY, lang)  # type: ignore[arg-type]
        assert isinstance(c, Compatibility) and c.relation == "same"  # aries + leo: both fire
        tier = next(t for t in content.compat_tiers if t.id == c.tier)
        assert c.score >= tier.min
        assert c.title in {t.get(lang) for t in tier.titles}
        tips = {t.get(lang) for t in content.compat_tips}
        assert any(tip in c.reading for tip in tips)
        assert "{" not in c.reading and "[" not in c.reading
        text = render_compat(c)
        assert c.title in text and str(c.score) in text and c.reading in text
        assert "**" not in text and "`" not in text
    ko = compatibility("tg:1", date(1990, 4, 1), "tg:2", date(1992, 8, 1), DAY, "ko")
    en = compatibility("tg:1", date(1990, 4, 1), "tg:2", date(1992, 8, 1), DAY, "en")
    assert (
        ko.score == en.score
        and "양자리 × 사자자리" in render_compat(ko)
        and "Aries × Leo" in render_compat(en)
    )


def test_reading_has_three_or_four_parts() -> None:
    content = FortuneEngine.load().content
    todays = {t.en for t in content.compat_today}
    counts = Counter()
    for a, b in zip(_people(200), _people(201)[1:]):
        c = compatibility(a[0], a[1], b[0], b[1], DAY, "en")
        counts[3 + any(t in c.reading for t in todays)] += 1
    assert counts[3] > 0 and counts[4] > 0
