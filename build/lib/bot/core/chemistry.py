"""Compatibility (궁합) between two users from their sun signs' elements.

The score (50–100) is symmetric — ``compatibility(A, B)`` and ``compatibility(B, A)`` give the
same score, title and chosen sentences — because the two (key, birth) pairs are sorted
before seeding. It is stable for a day:

* a **pair base** from the element relation plus a pair seed (no day), so a pair keeps its
  character: complementary (fire–air, earth–water) 74–100, same element 68–96,
  contrast 50–86;
* a small **daily drift** of −3..+3 from the pair seed and the day, clamped to 50..100.

The reading (3–4 sentences) names the caller's sign first; copy is in ``compat.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from bot.core.fortune.engine import FortuneEngine
from bot.core.fortune.loader import apply_josa
from bot.core.hashing import SeededRandom, seed_of
from bot.core.i18n import Lang
from bot.core.zodiac import SunSign, element_relation, sun_sign

__all__ = ["COMPAT_MAX", "COMPAT_MIN", "Compatibility", "compatibility", "render_compat"]

COMPAT_MIN = 50
COMPAT_MAX = 100

_MASK = 0xFFFFFFFFFFFFFFFF
_GOLDEN = 0x9E3779B97F4A7C15
_VERSION = "soul-lab/compat/v1"

#: (lowest base, number of values) per element relation.
_BASE = {"complementary": (74, 27), "same": (68, 29), "contrast": (50, 37)}


@dataclass(frozen=True, slots=True)
class Compatibility:
    lang: Lang
    day: date
    score: int
    tier: str  # perfect / great / good / growing / different
    title: str
    reading: str
    a_sign: SunSign
    b_sign: SunSign
    relation: str  # same / complementary / contrast

    def to_dict(self) -> dict[str, Any]:
        return {
            "lang": self.lang,
            "day": self.day.isoformat(),
            "score": self.score,
            "tier": self.tier,
            "title": self.title,
            "reading": self.reading,
            "a_sign": self.a_sign.code,
            "b_sign": self.b_sign.code,
            "relation": self.relation,
        }


def compatibility(
    a_key: str,
    a_birth: date,
    b_key: str,
    b_birth: date,
    day: date,
    lang: Lang,
    *,
    data_dir: Path | str | None = None,
) -> Compatibility:
    """Today's compatibility of A and B (symmetric in A/B, stable for ``day``)."""
    engine = FortuneEngine.load(data_dir)
    content = engine.content
    pack = engine.pack(lang) if lang in ("ko", "en") else None
    if pack is None:
        raise ValueError(f"unsupported language {lang!r}")

    (k1, b1), (k2, b2) = sorted(((a_key, a_birth.isoformat()), (b_key, b_birth.isoformat())))
    pair_seed = seed_of(_VERSION, k1, b1, k2, b2)

    a_sign, b_sign = sun_sign(a_birth), sun_sign(b_birth)
    relation = element_relation(a_sign.element, b_sign.element)
    low, span = _BASE[relation]
    base = low + SeededRandom(pair_seed).below(span)
    rng = SeededRandom(pair_seed ^ ((day.toordinal() * _GOLDEN) & _MASK))
    below = rng.below
    score = min(COMPAT_MAX, max(COMPAT_MIN, base + below(7) - 3))
    tier = next((t for t in content.compat_tiers if score >= t.min), content.compat_tiers[-1])

    title = tier.titles[below(len(tier.titles))].get(lang)
    rel_pool = content.compat_relations[relation]
    rel_text = rel_pool[below(len(rel_pool))]
    line = tier.lines[below(len(tier.lines))].get(lang)
    tip = content.compat_tips[below(len(content.compat_tips))].get(lang)
    today = content.compat_today[below(len(content.compat_today))].get(lang)
    with_today = below(2) == 0

    elements = content.elements
    fields = {
        "a": pack.signs[a_sign.code],
        "b": pack.signs[b_sign.code],
        "element": elements[a_sign.element].get(lang),
        "a_element": elements[a_sign.element].get(lang),
        "b_element": elements[b_sign.element].get(lang),
    }
    opening = apply_josa(rel_text.get(lang).format(**fields))
    parts = [opening, line, tip]
    if with_today:
        parts.append(today)
    return Compatibility(
        lang=lang,
        day=day,
        score=score,
        tier=tier.id,
        title=title,
        reading=" ".join(parts),
        a_sign=a_sign,
        b_sign=b_sign,
        relation=relation,
    )


def render_compat(c: Compatibility) -> str:
    """Chat text: title, the pair, the score and the reading (plain text, no Markdown)."""
    pack = FortuneEngine.load().pack(c.lang)
    ui = pack.ui
    return "\n".join(
        (
            ui["compat_title"].fill(title=c.title),
            ui["compat_pair"].fill(a=pack.signs[c.a_sign.code], b=pack.signs[c.b_sign.code]),
            ui["compat_score"].fill(score=str(c.score)),
            "",
            c.reading,
        )
    )
