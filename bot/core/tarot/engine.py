"""The tarot engine: deterministic draws and engine-written summary, advice and interpretation."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.core.hashing import SeededRandom, seed_of
from bot.core.i18n import Lang
from bot.core.tarot.compose import fill
from bot.core.tarot.loader import Content, load_content
from bot.core.tarot.model import (
    ELEMENTS,
    Card,
    DrawnCard,
    QuestionTooLong,
    Reading,
    Spread,
    UnknownSpread,
)

__all__ = ["MAX_QUESTION_CHARS", "REVERSED_CHANCE", "TarotEngine", "normalize_question"]

MAX_QUESTION_CHARS = 300
#: Each drawn card is reversed with probability 1/3.
REVERSED_CHANCE = (1, 3)


def normalize_question(question: str | None) -> str:
    """Strip, collapse inner whitespace and casefold; raise QuestionTooLong over the limit."""
    collapsed = " ".join((question or "").split())
    if len(collapsed) > MAX_QUESTION_CHARS:
        raise QuestionTooLong(len(collapsed), MAX_QUESTION_CHARS)
    return collapsed.casefold()


class _Picker:
    """Deterministic choice of phrase variants for one reading."""

    __slots__ = ("_rng",)

    def __init__(self, *parts: object) -> None:
        self._rng = SeededRandom(seed_of("tarot-phrases", *parts))

    def __call__(self, variants: tuple[dict[str, str], ...], lang: Lang) -> str:
        if len(variants) == 1:
            return variants[0][lang]
        return variants[self._rng.below(len(variants))][lang]


class TarotEngine:
    """Deck, spreads and phrases, validated once; ``draw`` is pure and deterministic."""

    def __init__(self, content: Content) -> None:
        self._content = content
        self.deck: tuple[Card, ...] = content.cards
        self.cards: dict[str, Card] = {c.id: c for c in content.cards}
        self._spreads: dict[str, Spread] = {s.key: s for s in content.spreads}
        self.spreads: tuple[str, ...] = tuple(s.key for s in content.spreads)
        self.full_deck: bool = content.full_deck
        self._p: dict[str, Any] = content.phrases

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, data_dir: Path | str | None = None) -> TarotEngine:
        """The engine over the package's data (cached), or over ``data_dir`` (not cached)."""
        if data_dir is None:
            return _default_engine()
        return cls(load_content(data_dir))

    # ------------------------------------------------------------------ lookups
    def spread(self, key: str) -> Spread:
        try:
            return self._spreads[key]
        except KeyError:
            raise UnknownSpread(key, self.spreads) from None

    def card(self, card_id: str) -> Card:
        return self.cards[card_id]

    def label(self, key: str, lang: Lang) -> str:
        return self._p["labels"][key][lang]

    @staticmethod
    def in_text(card: Card, lang: Lang) -> str:
        """The card's name as used inside a sentence, in English with its article: "the Six of
        Swords", "the Fool" (``fill`` capitalises it at the start of a sentence); "Strength",
        "Judgement" and the like stay bare, as their names have no article."""
        name = card.name(lang)
        if lang != "en":
            return name
        if name.startswith("The "):
            return "the " + name[4:]
        return name if card.is_major else f"the {name}"

    # ------------------------------------------------------------------ drawing
    def draw(self, user_key: str, day: date, spread: str, question: str | None, lang: Lang) -> Reading:
        """Draw ``spread`` for (user, day, question): the same inputs always give the same cards."""
        key = (spread or "").strip().casefold()
        sp = self._spreads.get(key)
        if sp is None:
            raise UnknownSpread(spread, self.spreads)
        q = normalize_question(question)
        if isinstance(day, datetime):  # a datetime is a date too; only the calendar day counts
            day = day.date()
        rng = SeededRandom(seed_of("tarot", user_key, day.isoformat(), key, q))
        picks = rng.sample(len(self.deck), sp.size)
        num, den = REVERSED_CHANCE
        drawn = tuple(
            DrawnCard(card_id=self.deck[i].id, position=pos, reversed=rng.chance(num, den))
            for pos, i in enumerate(picks)
        )
        summary, advice = self._summary_and_advice(sp, drawn, day, q, lang)
        return Reading(
            spread=key, lang=lang, day=day, question=q, cards=drawn, summary=summary, advice=advice,
            shown_question=" ".join((question or "").split()),
        )

    # ------------------------------------------------------------------ composing
    def _picker(self, r_spread: str, drawn: tuple[DrawnCard, ...], day: date, q: str, part: str) -> _Picker:
        return _Picker(
            part, r_spread, day.isoformat(), q, *(f"{d.card_id}{'r' if d.reversed else ''}" for d in drawn)
        )

    def _summary_and_advice(
        self, sp: Spread, drawn: tuple[DrawnCard, ...], day: date, q: str, lang: Lang
    ) -> tuple[str, str]:
        P = self._p
        S = P["summary"]
        pick = self._picker(sp.key, drawn, day, q, "summary")
        cards = [self.cards[d.card_id] for d in drawn]
        total = len(cards)
        majors = sum(1 for c in cards if c.is_major)
        n_rev = sum(1 for d in drawn if d.reversed)
        elements = Counter(c.element for c in cards)
        ranked = sorted(elements.items(), key=lambda kv: (-kv[1], ELEMENTS.index(kv[0])))
        top_el, top_n = ranked[0]
        dominant = top_el if top_n >= 2 and (len(ranked) == 1 or ranked[1][1] < top_n) else None
        if total == 1:
            dominant = top_el
        key_drawn = drawn[sp.key_position]
        key_card = self.cards[key_drawn.card_id]
        orientation = self.label("reversed" if key_drawn.reversed else "upright", lang)

        parts: list[str] = []
        if total == 1:
            only = cards[0]
            if only.is_major:
                parts.append(fill(pick(S["single_major"], lang), {"card": self.in_text(only, lang)}))
            else:
                parts.append(
                    fill(
                        pick(S["single_minor"], lang),
                        {"card": self.in_text(only, lang), "suit": P["suits"][only.suit][lang]},
                    )
                )
            parts.append(
                fill(pick(S["single_element"], lang), {"element": P["elements"][only.element][lang]})
            )
            parts.append(pick(S["single_reversed" if drawn[0].reversed else "single_upright"], lang))
        else:
            if majors == 0:
                kind = "majors_none"
            elif majors * 2 >= total and majors >= 2:
                kind = "majors_many"
            elif majors == 1:
                kind = "majors_one"
            else:
                kind = "majors_some"
            parts.append(fill(pick(S[kind], lang), {"majors": majors, "total": total}))
            if dominant is None:
                parts.append(pick(S["element_mixed"], lang))
            else:
                suits = Counter(c.suit for c in cards if c.suit is not None and c.element == dominant)
                values: dict[str, object] = {"element": P["elements"][dominant][lang], "count": top_n}
                if suits and max(suits.values()) >= 2:
                    suit, suit_n = suits.most_common(1)[0]
                    values |= {"suit": P["suits"][suit][lang], "suit_count": suit_n}
                    parts.append(fill(pick(S["element_dominant_suit"], lang), values))
                else:
                    parts.append(fill(pick(S["element_dominant"], lang), values))
            if n_rev == 0:
                kind = "reversed_none"
            elif n_rev == total:
                kind = "reversed_all"
            elif n_rev * 2 >= total:
                kind = "reversed_many"
            elif n_rev == 1:
                kind = "reversed_one"
            else:
                kind = "reversed_few"
            parts.append(fill(pick(S[kind], lang), {"reversed": n_rev, "total": total}))
        keywords = key_card.keywords(lang, key_drawn.reversed)
        parts.append(
            fill(
                pick(S["key_card"], lang),
                {
                    "position": sp.positions[sp.key_position].name(lang),
                    "card": self.in_text(key_card, lang),
                    "orientation": orientation,
                    "keyword": keywords[pick_index(len(keywords), key_card.id, q, day)],
                },
            )
        )
        summary = " ".join(parts)

        A = P["advice"]
        advice_parts = [key_card.advice(lang), pick(A["element"][dominant or "mixed"], lang)]
        if n_rev * 2 >= total and n_rev > 0:
            advice_parts.append(pick(A["reversed_many"], lang))
        elif total > 1 and majors * 2 >= total and majors >= 2:
            advice_parts.append(pick(A["majors_many"], lang))
        elif n_rev == 0:
            advice_parts.append(pick(A["reversed_none"], lang))
        return summary, " ".join(advice_parts)

    # ------------------------------------------------------------------ text
    def _card_heading(self, r: Reading, d: DrawnCard) -> str:
        sp = self._spreads[r.spread]
        card = self.cards[d.card_id]
        rev = f" ({self.label('reversed', r.lang)})" if d.reversed else ""
        return f"{d.position + 1}. {sp.positions[d.position].name(r.lang)} — {card.name(r.lang)}{rev}"

    def render_text(self, r: Reading) -> str:
        """The chat text: spread, question, each position's card and meaning, summary and advice."""
        lang = r.lang
        sp = self._spreads[r.spread]
        lines = [f"🔮 {sp.name(lang)}"]
        if r.question:
            lines.append(f"{self.label('question', lang)}: {r.shown_question or r.question}")
        else:
            lines.append(f"{self.label('question', lang)}: {self.label('no_question', lang)}")
        lines.append("")
        for d in r.cards:
            card = self.cards[d.card_id]
            lines.append(f"{self._card_heading(r, d)}: {card.meaning(lang, d.reversed)}")
        lines.append("")
        lines.append(f"✨ {self.label('summary', lang)}: {r.summary}")
        lines.append(f"🌱 {self.label('advice', lang)}: {r.advice}")
        return "\n".join(lines)

    def static_interpretation(self, r: Reading) -> str:
        """The engine's own full interpretation (the AI chain's fallback): card by card, theme, advice."""
        lang = r.lang
        sp = self._spreads[r.spread]
        ip = self._p["interpretation"]
        pick = self._picker(r.spread, r.cards, r.day, r.question, "interpretation")
        out = [fill(pick(ip["intro"], lang), {"spread": sp.name(lang)})]
        if r.question:
            out.append(fill(pick(ip["question"], lang), {"question": r.shown_question or r.question}))
        else:
            out.append(pick(ip["no_question"], lang))
        for d in r.cards:
            card = self.cards[d.card_id]
            pos = sp.positions[d.position]
            turned = fill(
                pick(ip["card_reversed" if d.reversed else "card_upright"], lang), {"card": self.in_text(card, lang)}
            )
            kw = fill(pick(ip["keywords"], lang), {"keywords": ", ".join(card.keywords(lang, d.reversed))})
            out.append("")
            out.append(self._card_heading(r, d))
            out.append(f"{pos.hint(lang)} {turned} {card.meaning(lang, d.reversed)} {kw}")
        out.append("")
        theme = r.summary
        if len(r.cards) > 1:
            first, last = r.cards[0], r.cards[-1]
            flow = fill(
                pick(ip["flow"], lang),
                {
                    "first_position": sp.positions[first.position].name(lang),
                    "first_card": self.in_text(self.cards[first.card_id], lang),
                    "last_position": sp.positions[last.position].name(lang),
                    "last_card": self.in_text(self.cards[last.card_id], lang),
                },
            )
            theme = f"{flow} {theme}"
        out.append(f"{self.label('theme', lang)}: {theme}")
        out.append(f"{self.label('advice', lang)}: {r.advice}")
        out.append("")
        out.append(pick(ip["closing"], lang))
        return "\n".join(out)


def pick_index(n: int, *parts: object) -> int:
    return seed_of("tarot-keyword", *parts) % n


@lru_cache(maxsize=1)
def _default_engine() -> TarotEngine:
    return TarotEngine(load_content())
