"""Korean particles and English plurals (bot/core/grammar.py) over a table of words."""

from __future__ import annotations

import pytest

from bot.core import grammar
from bot.core.grammar import attach, count_noun, final_sound, particle, plural

# (word, final sound) — Hangul by 받침, ㄹ separately.
HANGUL = [
    ("사과", "vowel"),
    ("바보", "vowel"),
    ("마법사", "vowel"),
    ("여사제", "vowel"),
    ("책", "consonant"),
    ("태양", "consonant"),
    ("펜타클", "rieul"),
    ("서울", "rieul"),
    ("별", "rieul"),
    ("컵", "consonant"),
    ("'운명의 수레바퀴'", "vowel"),  # quotes are skipped
    ("(달)", "rieul"),  # brackets too
    ("“연애운은?”", "consonant"),  # and sentence punctuation
]

# Digits by their Sino-Korean reading; the last number word decides.
NUMBERS = [
    ("0", "consonant"),  # 영
    ("1", "rieul"),  # 일
    ("2", "vowel"),  # 이
    ("3", "consonant"),  # 삼
    ("4", "vowel"),  # 사
    ("5", "vowel"),  # 오
    ("6", "consonant"),  # 육
    ("7", "rieul"),  # 칠
    ("8", "rieul"),  # 팔
    ("9", "vowel"),  # 구
    ("10", "consonant"),  # 십
    ("12", "vowel"),  # 십이
    ("21", "rieul"),  # 이십일
    ("100", "consonant"),  # 백
    ("105", "vowel"),  # 백오
    ("1000", "consonant"),  # 천
    ("1,000", "consonant"),  # separators are read through
    ("10000", "consonant"),  # 만
    ("300000000", "consonant"),  # 삼억
    ("2000000000000", "vowel"),  # 이조
    ("완드 3", "consonant"),  # a card name ending in a number
    ("2025-12-01", "rieul"),  # 일
    ("v2", "vowel"),  # the last digit decides a mixed code
]

# Latin words by the documented final-letter rule.
LATIN = [
    ("Asia/Seoul", "rieul"),  # 서울
    ("single", "rieul"),  # 싱글
    ("Europe/London", "consonant"),  # 런던
    ("Berlin", "consonant"),
    ("fortune", "consonant"),  # 포춘 (-ne)
    ("time", "consonant"),  # 타임 (-me)
    ("Hong_Kong", "consonant"),  # 홍콩 (-ng)
    ("celtic", "consonant"),  # 켈틱: stop after a vowel letter
    ("chat", "consonant"),  # 챗
    ("back", "consonant"),  # 백 (-ck)
    ("help", "vowel"),  # 헬프: stop after a consonant takes 으
    ("text", "vowel"),  # 텍스트
    ("three", "vowel"),
    ("love", "vowel"),
    ("career", "vowel"),
    ("Tokyo", "vowel"),
    ("Paris", "vowel"),
    ("UTC", "vowel"),  # 유티씨: read letter by letter
    ("GMT", "vowel"),
    ("URL", "rieul"),  # 유알엘
    ("HTML", "rieul"),
    ("CNN", "consonant"),  # 씨엔엔
    ("A", "vowel"),
    ("R", "rieul"),
]

UNREADABLE = ["🌙", "✨✨", "#", "@@", "", "   ", "''", "東京", "カード", "→"]


@pytest.mark.parametrize(("word", "sound"), HANGUL + NUMBERS + LATIN)
def test_final_sound(word: str, sound: str) -> None:
    assert final_sound(word) == sound


@pytest.mark.parametrize("word", UNREADABLE)
def test_unreadable_words_have_no_reading(word: str) -> None:
    assert final_sound(word) is None
    for name in ("은", "이", "을", "과", "으로", "이에요"):
        assert particle(word, name) is None
        assert attach(word, name) is None


PARTICLE_CASES = [
    # word, particle name, expected word + particle
    ("사과", "은", "사과는"),
    ("책", "는", "책은"),  # either form names the pair
    ("사과", "이", "사과가"),
    ("책", "가", "책이"),
    ("사과", "을", "사과를"),
    ("책", "를", "책을"),
    ("사과", "과", "사과와"),
    ("책", "와", "책과"),
    ("사과", "으로", "사과로"),
    ("책", "로", "책으로"),
    ("서울", "으로", "서울로"),  # ㄹ-final takes 로
    ("서울", "은", "서울은"),  # …but 은/이/을 after ㄹ as after any consonant
    ("서울", "이", "서울이"),
    ("바보", "이에요", "바보예요"),
    ("태양", "예요", "태양이에요"),
    ("1", "은", "1은"),
    ("2", "은", "2는"),
    ("3", "은", "3은"),
    ("1", "으로", "1로"),  # 일: ㄹ
    ("3", "으로", "3으로"),
    ("6", "으로", "6으로"),
    ("7", "으로", "7로"),
    ("10", "이", "10이"),
    ("Asia/Seoul", "으로", "Asia/Seoul로"),
    ("Europe/London", "으로", "Europe/London으로"),
    ("UTC", "이에요", "UTC예요"),
    ("single", "은", "single은"),
    ("three", "은", "three는"),
    ("완드 2", "이", "완드 2가"),
    ("“오늘의 질문”", "이라는", "“오늘의 질문”이라는"),
    ("바다", "이랑", "바다랑"),
]


@pytest.mark.parametrize(("word", "name", "expected"), PARTICLE_CASES)
def test_attach(word: str, name: str, expected: str) -> None:
    assert attach(word, name) == expected


def test_every_pair_is_named_by_both_forms() -> None:
    for form, (with_final, without_final) in grammar.PARTICLES.items():
        assert form in (with_final, without_final)
        assert particle("책", form) == with_final
        assert particle("사과", form) == without_final
        assert grammar.is_particle(form)
    assert not grammar.is_particle("의")  # 의 does not alternate
    with pytest.raises(KeyError):
        particle("책", "의")


PLURALS = [
    ("credit", "credits"),
    ("day", "days"),
    ("check-in", "check-ins"),
    ("hour", "hours"),
    ("card", "cards"),
    ("character", "characters"),
    ("box", "boxes"),
    ("match", "matches"),
    ("story", "stories"),
    ("person", "people"),
    ("child", "children"),
    ("invite reward", "invite rewards"),
    ("second", "seconds"),
]


@pytest.mark.parametrize(("singular", "expected"), PLURALS)
def test_plural(singular: str, expected: str) -> None:
    assert plural(singular) == expected


@pytest.mark.parametrize(
    ("count", "noun", "expected"),
    [
        (1, "credit", "1 credit"),
        (2, "credit", "2 credits"),
        (0, "credit", "0 credits"),
        (-1, "credit", "-1 credit"),
        (1, "day", "1 day"),
        (7, "day", "7 days"),
        (1, "check-in", "1 check-in"),
        (3, "check-in", "3 check-ins"),
        ("1", "hour", "1 hour"),
        ("48", "hour", "48 hours"),
        ("1,000", "credit", "1,000 credits"),
        ("1.5", "hour", "1.5 hours"),
        ("?", "credit", "? credits"),
        (1, "person", "1 person"),
        (2, "person", "2 people"),
    ],
)
def test_count_noun(count: object, noun: str, expected: str) -> None:
    assert count_noun(count, noun) == expected


def test_count_noun_with_explicit_plural() -> None:
    assert count_noun(1, "pair of friends", "pairs of friends") == "1 pair of friends"
    assert count_noun(2, "pair of friends", "pairs of friends") == "2 pairs of friends"
