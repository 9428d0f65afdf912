"""A PNG picture of a drawn spread (Pillow).

Cards are simple drawn faces — rounded card, gold border, a colour and emblem per suit
(majors purple with a star), the number or roman numeral on top and the card's name in
the reading's language at the bottom — laid out in the spread's shape from
``spreads.yaml``. Reversed cards are turned upside down with an upright "역방향" /
"reversed" note under them; the Celtic cross "challenge" card lies across the present.
"""

from __future__ import annotations

import io
import logging
import math
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bot.core.hashing import SeededRandom, seed_of
from bot.core.i18n import Lang
from bot.core.tarot.engine import TarotEngine
from bot.core.tarot.model import Card, DrawnCard, Reading

__all__ = [
    "CARD_H",
    "CARD_W",
    "Layout",
    "PlacedCard",
    "PlacedLabel",
    "font_path",
    "layout",
    "render_spread_png",
]

log = logging.getLogger(__name__)

FontT = ImageFont.FreeTypeFont | ImageFont.ImageFont

# --------------------------------------------------------------------------- geometry (px)
CARD_W, CARD_H = 140, 230
SS = 2  # card faces are drawn at 2x and scaled down for smooth edges
GAP_X = 30
LINE_H = 20
LABEL_LINES = 2  # space reserved under each card: position name + "reversed"
GAP_Y = 16
CELL_W = CARD_W + GAP_X
CELL_H = CARD_H + 8 + LABEL_LINES * LINE_H + GAP_Y
MARGIN = 36
MIN_WIDTH = 600
FOOTER_H = 34

# --------------------------------------------------------------------------- colours
BG = (21, 19, 40)
STAR = (120, 112, 170)
CREAM = (255, 246, 226)
MUTED = (190, 182, 215)
GOLD = (228, 194, 112)
REVERSED_MARK = (242, 166, 150)
SHADOW = (9, 8, 20)
SUIT_COLOURS: dict[str | None, tuple[int, int, int]] = {
    None: (78, 46, 128),  # major arcana
    "wands": (166, 72, 46),
    "cups": (38, 92, 152),
    "swords": (74, 92, 116),
    "pentacles": (50, 108, 70),
}

ROMAN = [
    "0",
    "I",
    "II",
    "III",
    "IV",
    "V",
    "VI",
    "VII",
    "VIII",
    "IX",
    "X",
    "XI",
    "XII",
    "XIII",
    "XIV",
    "XV",
    "XVI",
    "XVII",
    "XVIII",
    "XIX",
    "XX",
    "XXI",
]
MINOR_RANK = {1: "A", 11: "P", 12: "Kn", 13: "Q", 14: "K"}

# --------------------------------------------------------------------------- fonts
NANUM_REGULAR = "/usr/share/fonts/truetype/nanum/NanumGothic.ttf"
NANUM_BOLD = "/usr/share/fonts/truetype/nanum/NanumGothicBold.ttf"
NOTO_CJK = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
NOTO_CJK_BOLD = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"


def font_path(bold: bool = False) -> str | None:
    """The font file to use: $SOUL_LAB_FONT, then Nanum Gothic, then Noto Sans CJK; None if none."""
    env = os.environ.get("SOUL_LAB_FONT")
    if env and Path(env).is_file():
        return env
    if bold and Path(NANUM_BOLD).is_file():
        return NANUM_BOLD
    if Path(NANUM_REGULAR).is_file():
        return NANUM_REGULAR
    if bold and Path(NOTO_CJK_BOLD).is_file():
        return NOTO_CJK_BOLD
    if Path(NOTO_CJK).is_file():
        return NOTO_CJK
    return None


@lru_cache(maxsize=2)
def _resolved_path(bold: bool) -> str | None:
    path = font_path(bold)
    if path is None:
        log.warning(
            "tarot picture: no Hangul font found (set SOUL_LAB_FONT or install fonts-nanum); "
            "using Pillow's default font, Korean text will not render"
        )
    return path


@lru_cache(maxsize=64)
def _font(size: int, bold: bool = False) -> FontT:
    path = _resolved_path(bold)
    if path is not None:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            log.warning("tarot picture: cannot load font %s; using Pillow's default font", path)
    return ImageFont.load_default(size=size)


def _text_w(font: FontT, text: str) -> float:
    return font.getlength(text)


def _fit(text: str, max_w: float, size: int, bold: bool = False, min_size: int = 10) -> tuple[FontT, str]:
    """The largest font (down to min_size) that fits ``text`` in ``max_w``; ellipsised if still too wide."""
    while True:
        font = _font(size, bold)
        if _text_w(font, text) <= max_w or size <= min_size:
            break
        size -= 1
    if _text_w(font, text) > max_w:
        while text and _text_w(font, text + "…") > max_w:
            text = text[:-1]
        text = text.rstrip() + "…"
    return font, text


def _wrap2(text: str, max_w: float, size: int, bold: bool, min_size: int) -> tuple[FontT, list[str]]:
    """Fit ``text`` on one line (shrinking a little), else on two balanced lines."""
    for s in range(size, max(min_size, size * 4 // 5) - 1, -1):
        font = _font(s, bold)
        if _text_w(font, text) <= max_w:
            return font, [text]
    for s in range(size, min_size - 1, -1):
        font = _font(s, bold)
        if _text_w(font, text) <= max_w:
            return font, [text]
        words = text.split(" ")
        if len(words) > 1:
            best: tuple[float, list[str]] | None = None
            for i in range(1, len(words)):
                a, b = " ".join(words[:i]), " ".join(words[i:])
                w = max(_text_w(font, a), _text_w(font, b))
                if w <= max_w and (best is None or w < best[0]):
                    best = (w, [a, b])
            if best is not None:
                return font, best[1]
    font, fitted = _fit(text, max_w, min_size, bold, min_size)
    return font, [fitted]


# --------------------------------------------------------------------------- card faces
def _numeral(card: Card) -> str:
    if card.is_major:
        return ROMAN[card.number]
    return MINOR_RANK.get(card.number, str(card.number))


def _star_points(
    cx: float, cy: float, r_out: float, r_in: float, n: int, rot: float = -90.0
) -> list[tuple[float, float]]:
    pts = []
    for i in range(2 * n):
        r = r_out if i % 2 == 0 else r_in
        a = math.radians(rot + i * 180.0 / n)
        pts.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return pts


def _emblem(d: ImageDraw.ImageDraw, suit: str | None, cx: float, cy: float, r: float) -> None:
    """A simple emblem for the suit (or a star for the major arcana), centred on (cx, cy)."""
    ink, line = GOLD, max(2, int(r / 14))
    if suit is None:
        d.polygon(_star_points(cx, cy, r, r * 0.38, 8), fill=GOLD)
        d.ellipse((cx - r * 0.16, cy - r * 0.16, cx + r * 0.16, cy + r * 0.16), fill=SUIT_COLOURS[None])
    elif suit == "wands":
        w = r * 0.16
        d.rounded_rectangle((cx - w, cy - r, cx + w, cy + r), radius=int(w), fill=ink)
        for dy, side in ((-0.55, -1), (-0.1, 1), (0.35, -1)):
            ex = cx + side * r * 0.36
            ey = cy + dy * r
            d.ellipse((ex - r * 0.2, ey - r * 0.1, ex + r * 0.2, ey + r * 0.1), fill=ink)
    elif suit == "cups":
        d.chord((cx - r * 0.7, cy - r * 1.25, cx + r * 0.7, cy + r * 0.45), 0, 180, fill=ink)
        d.line((cx - r * 0.72, cy - r * 0.42, cx + r * 0.72, cy - r * 0.42), fill=ink, width=line)
        d.rectangle((cx - r * 0.1, cy + r * 0.35, cx + r * 0.1, cy + r * 0.75), fill=ink)
        d.ellipse((cx - r * 0.45, cy + r * 0.65, cx + r * 0.45, cy + r * 0.95), fill=ink)
    elif suit == "swords":
        bw = r * 0.14
        d.polygon(
            [
                (cx, cy - r),
                (cx + bw, cy - r * 0.75),
                (cx + bw, cy + r * 0.35),
                (cx - bw, cy + r * 0.35),
                (cx - bw, cy - r * 0.75),
            ],
            fill=ink,
        )
        d.rounded_rectangle(
            (cx - r * 0.5, cy + r * 0.35, cx + r * 0.5, cy + r * 0.5), radius=int(r * 0.07), fill=ink
        )
        d.rectangle((cx - r * 0.08, cy + r * 0.5, cx + r * 0.08, cy + r * 0.85), fill=ink)
        d.ellipse((cx - r * 0.14, cy + r * 0.82, cx + r * 0.14, cy + r * 1.0), fill=ink)
    else:  # pentacles
        d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=ink, width=line * 2)
        pts = _star_points(cx, cy, r * 0.8, r * 0.8, 5)[::2]
        order = [pts[i] for i in (0, 2, 4, 1, 3, 0)]
        d.line(order, fill=ink, width=line, joint="curve")


@lru_cache(maxsize=96)
def _face(card: Card, lang: Lang) -> Image.Image:
    """The card drawn upright, RGBA with transparent rounded corners, CARD_W x CARD_H."""
    w, h = CARD_W * SS, CARD_H * SS
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    colour = SUIT_COLOURS[card.suit]
    d.rounded_rectangle((0, 0, w - 1, h - 1), radius=14 * SS, fill=colour, outline=GOLD, width=3 * SS)
    inset = 9 * SS
    d.rounded_rectangle(
        (inset, inset, w - 1 - inset, h - 1 - inset), radius=8 * SS, outline=(*GOLD, 150), width=1 * SS
    )
    # number / numeral in the top band
    num_font = _font(20 * SS, bold=True)
    d.text((w / 2, 27 * SS), _numeral(card), font=num_font, fill=CREAM, anchor="mm")
    # emblem in a soft disc in the middle
    cx, cy = w / 2, h / 2
    disc = 44 * SS
    lighter = tuple(min(255, int(c * 1.25 + 18)) for c in colour)
    d.ellipse((cx - disc, cy - disc, cx + disc, cy + disc), fill=lighter)
    _emblem(d, card.suit, cx, cy, 30 * SS)
    # name in the bottom band (stays visible under the Celtic crossing card)
    font, lines = _wrap2(card.name(lang), (CARD_W - 22) * SS, 15 * SS, True, 10 * SS)
    lh = font.size * 1.1 if isinstance(font, ImageFont.FreeTypeFont) else 14 * SS
    base = h - 27 * SS - (len(lines) - 1) * lh / 2
    for i, line in enumerate(lines):
        d.text((w / 2, base + i * lh), line, font=font, fill=CREAM, anchor="mm")
    return img.resize((CARD_W, CARD_H), Image.Resampling.LANCZOS)


# --------------------------------------------------------------------------- layout
@dataclass(frozen=True, slots=True)
class PlacedCard:
    drawn: DrawnCard
    box: tuple[int, int, int, int]  # left, top, right, bottom (exclusive) of the card in the picture
    rotated: bool  # laid across (90°)


@dataclass(frozen=True, slots=True)
class PlacedLabel:
    text: str
    x: float  # centre
    y: float
    reversed_mark: bool  # the "역방향" / "reversed" note


@dataclass(frozen=True, slots=True)
class Layout:
    width: int
    height: int
    title_h: int
    cards: tuple[PlacedCard, ...]  # in drawing order (a crossing card after the one it covers)
    labels: tuple[PlacedLabel, ...]


def layout(r: Reading, engine: TarotEngine | None = None) -> Layout:
    """Where every card and label of the reading's picture goes."""
    eng = engine or TarotEngine.load()
    sp = eng.spread(r.spread)
    lang = r.lang
    # group cards sharing a spot (the Celtic cross present + challenge), upright one first
    groups: dict[tuple[float, float], list[DrawnCard]] = {}
    for d in r.cards:
        pos = sp.positions[d.position]
        groups.setdefault((pos.x * CELL_W, pos.y * CELL_H), []).append(d)
    for g in groups.values():
        g.sort(key=lambda d: (sp.positions[d.position].rotated, d.position))

    def lines(g: list[DrawnCard]) -> list[tuple[str, bool]]:
        out = []
        for d in g:
            out.append((f"{d.position + 1}. {sp.positions[d.position].name(lang)}", False))
            if d.reversed:
                out.append((eng.label("reversed", lang), True))
        return out

    x0 = y0 = math.inf
    x1 = y1 = -math.inf
    for (cx, cy), g in groups.items():
        for d in g:
            rot = sp.positions[d.position].rotated
            hw, hh = (CARD_H / 2, CARD_W / 2) if rot else (CARD_W / 2, CARD_H / 2)
            x0, x1 = min(x0, cx - hw), max(x1, cx + hw)
            y0, y1 = min(y0, cy - hh), max(y1, cy + hh)
        n_lines = max(LABEL_LINES, len(lines(g)))
        y1 = max(y1, cy + CARD_H / 2 + 8 + n_lines * LINE_H)
        x0, x1 = min(x0, cx - CELL_W / 2), max(x1, cx + CELL_W / 2)

    title_h = 58 + (28 if r.question else 0)
    width = max(MIN_WIDTH, int(x1 - x0) + 2 * MARGIN)
    height = int(y1 - y0) + MARGIN + title_h + FOOTER_H
    ox = (width - (x1 - x0)) / 2 - x0
    oy = title_h + MARGIN / 2 - y0

    cards: list[PlacedCard] = []
    labels: list[PlacedLabel] = []
    for (cx, cy), g in groups.items():
        for d in g:
            rot = sp.positions[d.position].rotated
            w, h = (CARD_H, CARD_W) if rot else (CARD_W, CARD_H)
            px, py = round(cx + ox - w / 2), round(cy + oy - h / 2)
            cards.append(PlacedCard(d, (px, py, px + w, py + h), rot))
        ly = cy + oy + CARD_H / 2 + 8 + LINE_H / 2
        for text, mark in lines(g):
            labels.append(PlacedLabel(text, cx + ox, ly, mark))
            ly += LINE_H
    return Layout(width, height, title_h, tuple(cards), tuple(labels))


def _background(size: tuple[int, int], key: str) -> Image.Image:
    img = Image.new("RGB", size, BG)
    d = ImageDraw.Draw(img)
    rng = SeededRandom(seed_of("tarot-picture-stars", key, size))
    for _ in range(size[0] * size[1] // 9000):
        x, y = rng.below(size[0]), rng.below(size[1])
        if rng.chance(1, 6):
            d.ellipse((x - 1, y - 1, x + 1, y + 1), fill=STAR)
        else:
            d.point((x, y), fill=STAR)
    return img


#: FreeType faces are not safe to use from several threads at once; callers may render in
#: worker threads (asyncio.to_thread), so pictures are drawn one at a time (~50 ms each).
_RENDER_LOCK = threading.Lock()


def render_spread_png(r: Reading, engine: TarotEngine | None = None) -> bytes:
    """The spread as a PNG (bytes), under 1 MB. Safe to call from worker threads."""
    with _RENDER_LOCK:
        return _render(r, engine)


def _render(r: Reading, engine: TarotEngine | None) -> bytes:
    eng = engine or TarotEngine.load()
    sp = eng.spread(r.spread)
    lang = r.lang
    lay = layout(r, eng)
    img = _background((lay.width, lay.height), sp.key)
    d = ImageDraw.Draw(img)

    # title and question
    tfont, title = _fit(sp.name(lang), lay.width - 2 * MARGIN, 26, bold=True)
    d.text((lay.width / 2, 34), title, font=tfont, fill=GOLD, anchor="mm")
    if r.question:
        qfont, q = _fit(f"“{r.shown_question or r.question}”", lay.width - 2 * MARGIN, 16, min_size=12)
        d.text((lay.width / 2, 70), q, font=qfont, fill=MUTED, anchor="mm")

    # cards: a shadow, then the face turned as needed (reversed = upside down)
    for pc in lay.cards:
        face = _face(eng.card(pc.drawn.card_id), lang)
        if pc.rotated:
            face = face.transpose(
                Image.Transpose.ROTATE_270 if pc.drawn.reversed else Image.Transpose.ROTATE_90
            )
        elif pc.drawn.reversed:
            face = face.transpose(Image.Transpose.ROTATE_180)
        left, top, right, bottom = pc.box
        d.rounded_rectangle((left + 4, top + 5, right + 3, bottom + 4), radius=14, fill=SHADOW)
        img.paste(face, (left, top), face)

    # position names (and the reversed note), always upright
    for lb in lay.labels:
        font, text = _fit(lb.text, CELL_W - 8, 15, bold=not lb.reversed_mark, min_size=10)
        d.text((lb.x, lb.y), text, font=font, fill=REVERSED_MARK if lb.reversed_mark else CREAM, anchor="mm")

    # footer
    d.text(
        (lay.width - MARGIN / 2, lay.height - FOOTER_H / 2),
        f"Soul Lab · 소울 랩 · {r.day.isoformat()}",
        font=_font(12),
        fill=MUTED,
        anchor="rm",
    )
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()
