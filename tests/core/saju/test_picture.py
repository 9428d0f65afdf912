"""The chart picture: a valid PNG of the expected size that really draws Hangul and 한자
(fonts from the bootstrap's fonts-nanum), with three or four pillars."""

from __future__ import annotations

import io
from datetime import date

import pytest
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bot.core.saju import chart_for
from bot.core.saju.picture import H, W, font_path, render_chart_png


def _img(png: bytes) -> Image.Image:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return Image.open(io.BytesIO(png))


def _glyph(font: ImageFont.FreeTypeFont, ch: str) -> bytes:
    img = Image.new("L", (48, 48))
    ImageDraw.Draw(img).text((4, 0), ch, font=font, fill=255)
    return img.tobytes()


def _lacks(path: str, chars: str) -> list[str]:
    """Characters that render as the font's .notdef box (like an unassigned code point)."""
    font = ImageFont.truetype(path, 40)
    missing = _glyph(font, "\U0010fffd")
    return [ch for ch in chars if _glyph(font, ch) == missing]


HANJA = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥木火土金水四柱八字"


def test_the_font_has_hangul_and_hanja() -> None:
    for bold in (False, True):
        path = font_path(bold=bold)
        assert path is not None, "install fonts-nanum (scripts/bootstrap.sh does)"
        assert _lacks(path, HANJA + "갑자사주") == []


def test_the_glyph_check_sees_a_missing_hanja() -> None:
    """NanumMyeongjo (also in fonts-nanum) has Hangul but not these 한자: the check notices,
    which is why the picture does not use it."""
    myeongjo = "/usr/share/fonts/truetype/nanum/NanumMyeongjo.ttf"
    if not Path(myeongjo).is_file():
        pytest.skip("NanumMyeongjo not installed")
    assert _lacks(myeongjo, "甲") == ["甲"] and _lacks(myeongjo, "갑") == []


@pytest.mark.parametrize("lang", ["ko", "en"])
@pytest.mark.parametrize("time", ["07:30", None])
def test_picture_renders_within_budget(lang: str, time: str | None) -> None:
    png = render_chart_png(chart_for(date(1990, 5, 17), time, "Asia/Seoul"), lang)
    img = _img(png)
    assert img.size == (W, H)
    assert len(png) < 300_000
    # the picture is not blank: many distinct colours (element fills, text)
    assert len(img.convert("RGB").getcolors(maxcolors=1 << 16) or []) > 20


def test_hour_column_differs_with_and_without_time() -> None:
    a = _img(render_chart_png(chart_for(date(1990, 5, 17), "07:30", "Asia/Seoul"), "ko")).convert("RGB")
    b = _img(render_chart_png(chart_for(date(1990, 5, 17), None, "Asia/Seoul"), "ko")).convert("RGB")
    # the hour column is the leftmost quarter: filled boxes vs a dashed outline
    box = (40, 90, 200, 360)
    assert a.crop(box).tobytes() != b.crop(box).tobytes()
    # the day column (the 일간) is the same chart in both
    assert a.crop((210, 90, 350, 360)).tobytes() == b.crop((210, 90, 350, 360)).tobytes()


def test_deterministic() -> None:
    c = chart_for(date(2000, 1, 1), "12:00", "Asia/Seoul")
    assert render_chart_png(c, "ko") == render_chart_png(c, "ko")
