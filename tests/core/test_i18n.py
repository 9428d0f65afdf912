"""The message catalogue renders grammatical Korean particles and English counts.

Every locale key is rendered in both languages with sample values (numbers, Hangul names
ending in a vowel, a consonant and ㄹ, Latin names, emoji) and checked for "은(는)"-style
fallbacks, a space before a particle, and "1 credits"-style counts.
"""

from __future__ import annotations

import re
import string
from itertools import product

import pytest

from bot.core.i18n import NEUTRAL, SLOT_RE, CatalogueError, catalogue, render, t

FALLBACKS = re.compile(r"\((은|는|이|가|을|를|과|와|으|으로|로|이에요|예요|이라는|라는)\)")
#: A particle standing alone after a space (e.g. "/buy 로", "{tz} 예요").
SPACED_PARTICLE = re.compile(r"(?<=[A-Za-z0-9'”/)]) (은|는|이|가|을|를|과|와|으로|로|이에요|예요|에서|처럼)(?=[ .,!?\n]|$)")
ONE_PLURAL = re.compile(r"(?<![\d.,])1 (credits|days|hours|check-ins|cards|characters|seconds|minutes|invite rewards|people)\b")

#: Sample values: numbers, names ending in a vowel / consonant / ㄹ, Latin, emoji.
SAMPLES: tuple[object, ...] = (1, 2, 3, 10, "사과", "책", "서울", "Asia/Seoul", "three", "🌙✨")


def _fields(text: str) -> set[str]:
    plain = SLOT_RE.sub(lambda m: "{" + m.group(1) + "}", text)
    return {name for _, name, _, _ in string.Formatter().parse(plain) if name}


def _render_all() -> list[tuple[str, str, object, str]]:
    out = []
    for key, entry in catalogue().items():
        names = set().union(*(_fields(v) for v in entry.values()))
        if not names:
            continue
        for lang, sample in product(("ko", "en"), SAMPLES):
            out.append((key, lang, sample, t(lang, key, **dict.fromkeys(names, sample))))
    return out


RENDERED = _render_all()


def test_the_scan_covers_the_catalogue() -> None:
    keys = {key for key, *_ in RENDERED}
    assert len(keys) > 60  # every message with a parameter
    assert {"error.insufficient_credits", "daily.checked", "tarot.unknown_spread", "timezone.set"} <= keys


def test_no_parenthesised_particle_fallback() -> None:
    bad = [(k, lang, s, text) for k, lang, s, text in RENDERED if FALLBACKS.search(text)]
    assert bad == []


def test_no_particle_after_a_space() -> None:
    bad = [(k, s, text) for k, lang, s, text in RENDERED if lang == "ko" and SPACED_PARTICLE.search(text)]
    assert bad == []


def test_no_singular_count_with_a_plural_noun() -> None:
    bad = [(k, text) for k, lang, s, text in RENDERED if lang == "en" and s == 1 and ONE_PLURAL.search(text)]
    assert bad == []


def test_plural_counts_take_the_plural() -> None:
    assert t("en", "daily.checked", count=1) == "✅ Checked in! That's 1 day in a row."
    assert t("en", "daily.checked", count=5) == "✅ Checked in! That's 5 days in a row."
    assert t("en", "daily.stats", best=1, total=1) == "Best streak 1 day · 1 check-in in all"
    assert t("en", "daily.stats", best=12, total=30) == "Best streak 12 days · 30 check-ins in all"
    assert t("en", "ai.charged_note", cost=1, balance=4) == "1 credit used · balance 4"
    assert t("en", "invite.link_code", code="c", hours=1).count("1 hour ") == 1
    assert "in 1 second." in t("en", "error.rate_limited", seconds=1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("fivecard", "'fivecard'는 없는 스프레드예요."),
        ("스프레드", "'스프레드'는 없는 스프레드예요."),
        ("타로점", "'타로점'은 없는 스프레드예요."),
        ("celtic2", "'celtic2'는 없는 스프레드예요."),
    ],
)
def test_particle_follows_the_inserted_word(value: str, expected: str) -> None:
    assert t("ko", "tarot.unknown_spread", spread=value, spreads="single").startswith(expected)


@pytest.mark.parametrize("value", ["🌙", "★★", "♡!", "東京"])
def test_unreadable_value_uses_the_neutral_phrasing(value: str) -> None:
    text = t("ko", "tarot.unknown_spread", spread=value, spreads="single, three")
    assert text == f"그런 이름의 스프레드는 없어요: '{value}'\n고를 수 있는 스프레드: single, three"
    tz = t("ko", "profile.bad_timezone", value=value)
    assert tz.startswith(f"쓸 수 없는 시간대예요: '{value}'")


def test_time_zone_and_date_take_their_particles() -> None:
    assert t("ko", "timezone.set", tz="Asia/Seoul", day="2026-03-01").startswith(
        "시간대를 Asia/Seoul로 바꿨어요. 그곳의 오늘 날짜는 2026-03-01이에요."
    )
    assert t("ko", "timezone.set", tz="Europe/London", day="2026-03-02").startswith(
        "시간대를 Europe/London으로 바꿨어요. 그곳의 오늘 날짜는 2026-03-02예요."
    )
    assert t("ko", "timezone.current", tz="UTC").startswith("지금 시간대는 UTC예요.")


def test_neutral_text_is_valid_for_every_message_that_has_one() -> None:
    for key, entry in catalogue().items():
        if NEUTRAL in entry:
            assert _fields(entry[NEUTRAL]) <= _fields(entry["ko"]), key
            assert not SLOT_RE.search(entry[NEUTRAL]), key


def test_slots_are_checked_at_load() -> None:
    # render() is what t() uses; a wrong slot would already have failed catalogue() at import.
    assert render("{n|credit}", "en", {"n": 1}) == "1 credit"
    assert render("{w}{w|을}", "ko", {"w": "책"}) == "책을"
    from bot.core import i18n

    with pytest.raises(CatalogueError):
        i18n._check_slots("x.yaml", "k", "ko", "{w|credit}")
    with pytest.raises(CatalogueError):
        i18n._check_slots("x.yaml", "k", "en", "{w|은}")
