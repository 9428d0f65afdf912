"""Input hygiene rules (pure functions): invisible characters, display names, clock times."""

from __future__ import annotations

import pytest

from bot.core.inputs import NAME_MAX, clean_display_name, clean_text, is_blank, parse_hhmm

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"


@pytest.mark.parametrize("text", ["", "\u200b", "\u200b\u200c\u200d", "\ufeff", BIDI, "\u3164\u3164",
                                  "\u2800", " \n\t ", "\x00\x01\x7f", "\u00ad", "\U000e0041", "\u2028\u2029"])
def test_invisible_only_text_is_blank(text: str) -> None:
    assert is_blank(text) and is_blank(clean_text(text))
    assert clean_text(text).strip() == ""


@pytest.mark.parametrize("text", ["\ufe0f", "\u034f", " \ufe0f\ufe0e "])
def test_lone_marks_are_removed_and_count_as_blank(text: str) -> None:
    # variation selectors / CGJ only stay after a visible character they can modify
    assert clean_text(text).strip() == "" and is_blank(text)


@pytest.mark.parametrize("text", ["a", "안녕", "😊", "0", ".", "👨\u200d👩\u200d👧"])
def test_visible_text_is_not_blank(text: str) -> None:
    assert not is_blank(text) and clean_text(text) == text


def test_clean_text_drops_controls_format_and_fillers_but_keeps_lines() -> None:
    assert clean_text("a\u200bb\u202ec\x07d\u3164e") == "abcde"
    assert clean_text("첫 줄\r\n둘째 줄\r셋째\u2028넷째") == "첫 줄\n둘째 줄\n셋째\n넷째"
    assert clean_text("a\tb") == "a b"
    assert clean_text("/ask\u200b 질문") == "/ask 질문"
    # joiners survive only where they join two visible characters (emoji sequences)
    assert clean_text("👩\u200d💻") == "👩\u200d💻"
    assert clean_text("\u200dhi\u200d") == "hi" and clean_text("a \u200d b") == "a  b"
    # a subdivision flag keeps its tag characters; stray tags go
    scotland = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
    assert clean_text(scotland) == scotland and clean_text("x\U000e0067") == "x"


def test_display_names_lose_bidi_zero_width_and_controls_and_are_capped() -> None:
    assert clean_display_name("\u202eevil\u202c name\u200b") == "evil name"
    assert clean_display_name(f"{BIDI}민지{BIDI}") == "민지"
    assert clean_display_name("a\nb\tc") == "a b c"
    assert clean_display_name("👩\u200d💻 Dev") == "👩💻 Dev"  # every Cf goes in a name
    assert clean_display_name("\u200b\u3164 ") is None and clean_display_name(None) is None
    long = clean_display_name("가" * 100)
    assert long is not None and len(long) == NAME_MAX == 32
    assert clean_display_name("x" * 31 + " yz") == "x" * 31  # no trailing space after the cut


@pytest.mark.parametrize("text,expected", [
    ("07:30", "07:30"), ("7:30", "07:30"), ("23:59", "23:59"), ("00:00", "00:00"), ("7 : 30", "07:30"),
    ("07：30", "07:30"), ("7시 30분", "07:30"), ("19시", "19:00"),
    ("240", None), ("0240", None), ("0730", None), ("730", None), ("7", None), ("24:00", None),
    ("7:3", None), ("07:60", None), ("7.30", None), ("", None), ("오전 7시", None),
])
def test_clock_times_need_the_colon(text: str, expected: str | None) -> None:
    assert parse_hhmm(text) == expected


@pytest.mark.parametrize("text", ["\U000e0100\U000e0101", "\u17b4\u17b5", "\u180b", "\u2065", "\ufff0",
                                  "\u034f\ufe0f"])
def test_other_invisible_characters_are_blank_and_removed(text: str) -> None:
    assert is_blank(text) and clean_text(text) == ""


def test_variation_selectors_stay_on_the_character_they_modify() -> None:
    assert clean_text("❤️ 사랑") == "❤️ 사랑" and not is_blank("❤️")


@pytest.mark.parametrize("text", ["8:0٥", "9:3９", "٠٨:٠٥"])
def test_clock_times_take_ascii_digits_only(text: str) -> None:
    assert parse_hhmm(text) is None
