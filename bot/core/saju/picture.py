"""A PNG of the chart (Pillow): the four pillars in 한자 with their 한글 reading, each
character on its element's colour, the day stem (일간) outlined in gold, and the 오행
balance as a bar chart. Without a birth time the hour column is a dashed "unknown" box.

Fonts: the Nanum faces from the bootstrap's ``fonts-nanum`` that carry the stem and branch
한자 (checked with ``fc-list``/``fc-query``: NanumGothic, NanumBarunGothic and NanumSquare do;
NanumMyeongjo, NanumGothicCoding and NanumSquareRound do not), then Noto Sans CJK, then
``$SOUL_LAB_FONT`` first when set. With none of them Pillow's default font is used and a
warning is logged (the picture then lacks Hangul and 한자). Pure: safe from worker threads.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bot.core.saju.chart import Chart
from bot.core.saju.content import content
from bot.core.saju.cycle import BRANCH_HANGUL, ELEMENTS, STEM_HANGUL, Pillar
from bot.core.saju.derive import element_balance

__all__ = ["FONT_CANDIDATES", "font_path", "render_chart_png"]

log = logging.getLogger(__name__)
FontT = ImageFont.FreeTypeFont | ImageFont.ImageFont

_NANUM = "/usr/share/fonts/truetype/nanum/"
#: (regular, bold) pairs in order of preference; every face here has the 22 stem/branch 한자.
FONT_CANDIDATES: tuple[tuple[str, str], ...] = (
    (_NANUM + "NanumGothic.ttf", _NANUM + "NanumGothicBold.ttf"),
    (_NANUM + "NanumBarunGothic.ttf", _NANUM + "NanumBarunGothicBold.ttf"),
    (_NANUM + "NanumSquareR.ttf", _NANUM + "NanumSquareB.ttf"),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
)

W, H = 720, 560
BG = (21, 19, 40)
CREAM = (255, 246, 226)
MUTED = (190, 182, 215)
GOLD = (228, 194, 112)
DARK_TEXT = (28, 24, 40)
BOX_W, BOX_H = 130, 118
COL_GAP = 30
TOP = 96
_LOCK = threading.Lock()

_LABELS = {
    "ko": {"title": "사주팔자 四柱八字", "hour": "시주", "day": "일주", "month": "월주", "year": "년주",
           "me": "나 (일간)", "unknown": "시간 미상", "balance": "오행 분포"},
    "en": {"title": "Four Pillars  四柱八字", "hour": "Hour", "day": "Day", "month": "Month", "year": "Year",
           "me": "you (day master)", "unknown": "time unknown", "balance": "Five elements"},
}


def font_path(bold: bool = False) -> str | None:
    """``$SOUL_LAB_FONT``, else the first installed candidate with 한자; None if none."""
    env = os.environ.get("SOUL_LAB_FONT")
    if env and Path(env).is_file():
        return env
    for regular, heavy in FONT_CANDIDATES:
        if bold and Path(heavy).is_file():
            return heavy
        if Path(regular).is_file():
            return regular
    return None


@lru_cache(maxsize=32)
def _font(size: int, bold: bool = False) -> FontT:
    path = font_path(bold)
    if path is None:
        log.warning("saju picture: no font with Hangul and 한자 found (install fonts-nanum or set SOUL_LAB_FONT)")
        return ImageFont.load_default()
    return ImageFont.truetype(path, size)


def _hex(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _cell(d: ImageDraw.ImageDraw, x: int, y: int, hanja: str, hangul: str, element: str, lang: str,
          outline: tuple[int, int, int] | None) -> None:
    sc = content()
    fill = _hex(sc.elements[element]["color"])
    d.rounded_rectangle((x, y, x + BOX_W, y + BOX_H), radius=14, fill=fill,
                        outline=outline or fill, width=4 if outline else 1)
    d.text((x + BOX_W / 2, y + 48), hanja, font=_font(58, True), fill=DARK_TEXT, anchor="mm")
    el_name = sc.elements[element]["name"][lang]
    d.text((x + BOX_W / 2, y + 96), f"{hangul} · {el_name}", font=_font(17, True), fill=DARK_TEXT, anchor="mm")


def _column(d: ImageDraw.ImageDraw, x: int, label: str, p: Pillar | None, lang: str, is_day: bool) -> None:
    lab = _LABELS[lang]
    d.text((x + BOX_W / 2, TOP - 18), lab[label], font=_font(18, True), fill=GOLD, anchor="mm")
    y1, y2 = TOP, TOP + BOX_H + 10
    if p is None:
        for y in (y1, y2):
            for k in range(0, BOX_W, 14):  # dashed outline
                d.line((x + k, y, x + min(k + 7, BOX_W), y), fill=MUTED, width=2)
                d.line((x + k, y + BOX_H, x + min(k + 7, BOX_W), y + BOX_H), fill=MUTED, width=2)
            for k in range(0, BOX_H, 14):
                d.line((x, y + k, x, y + min(k + 7, BOX_H)), fill=MUTED, width=2)
                d.line((x + BOX_W, y + k, x + BOX_W, y + min(k + 7, BOX_H)), fill=MUTED, width=2)
            d.text((x + BOX_W / 2, y + BOX_H / 2), "?", font=_font(48, True), fill=MUTED, anchor="mm")
        d.text((x + BOX_W / 2, y2 + BOX_H + 18), lab["unknown"], font=_font(15), fill=MUTED, anchor="mm")
        return
    sc = content()
    stem_read = STEM_HANGUL[p.stem] if lang == "ko" else sc.stems_en[p.stem]
    branch_read = BRANCH_HANGUL[p.branch] if lang == "ko" else sc.branches_en[p.branch]
    _cell(d, x, y1, p.hanja[0], stem_read, p.stem_element, lang, GOLD if is_day else None)
    _cell(d, x, y2, p.hanja[1], branch_read, p.branch_element, lang, None)
    if is_day:
        d.text((x + BOX_W / 2, y2 + BOX_H + 18), lab["me"], font=_font(15, True), fill=GOLD, anchor="mm")


def _render(chart: Chart, lang: str) -> bytes:
    img = Image.new("RGB", (W, H), BG)
    d = ImageDraw.Draw(img)
    lab = _LABELS[lang]
    d.text((W / 2, 36), lab["title"], font=_font(26, True), fill=CREAM, anchor="mm")
    total_w = 4 * BOX_W + 3 * COL_GAP
    x0 = (W - total_w) // 2
    columns = (("hour", chart.hour), ("day", chart.day), ("month", chart.month), ("year", chart.year))
    for i, (label, p) in enumerate(columns):
        _column(d, x0 + i * (BOX_W + COL_GAP), label, p, lang, label == "day")
    # the 오행 balance: one bar per element
    counts = element_balance(chart)
    total = max(1, sum(counts.values()))
    y = TOP + 2 * BOX_H + 10 + 46
    d.text((x0, y), lab["balance"], font=_font(18, True), fill=GOLD, anchor="lm")
    sc = content()
    bar_x, bar_w, row = x0 + 150, total_w - 190, 26
    for i, e in enumerate(ELEMENTS):
        yy = y + 28 + i * row
        d.text((x0, yy), sc.elements[e]["name"][lang], font=_font(16, True), fill=CREAM, anchor="lm")
        d.rounded_rectangle((bar_x, yy - 8, bar_x + bar_w, yy + 8), radius=8, fill=(44, 40, 72))
        if counts[e]:
            filled = max(16, int(bar_w * counts[e] / total))
            d.rounded_rectangle((bar_x, yy - 8, bar_x + filled, yy + 8), radius=8, fill=_hex(sc.elements[e]["color"]))
        d.text((bar_x + bar_w + 14, yy), str(counts[e]), font=_font(16, True), fill=CREAM, anchor="lm")
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def render_chart_png(chart: Chart, lang: str = "ko") -> bytes:
    """The chart as PNG bytes (720×560, well under 1 MB). Deterministic for a chart + language."""
    with _LOCK:  # FreeType font objects are shared: draw one picture at a time
        return _render(chart, "en" if lang == "en" else "ko")
