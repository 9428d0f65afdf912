"""The daily-fortune engine: deterministic, pure, and cheap.

Same (user key, birth date, local day, focus) ⇒ the same fortune in every process: all
randomness comes from :mod:`bot.core.hashing` (FNV-1a seeds + splitmix64). The draws never
depend on the language, so the Korean and English fortunes of a user's day are translations
of each other.

How a fortune is built:

* **score** 60–100: ``60 + below(21) + below(21)`` — a gentle bell around 80.
* **theme**: every theme starts at a base weight; the sun sign's element, the weekday,
  seasonal dates (``themes.yaml``) and the user's focus tags add weight; one theme is drawn
  with probability proportional to the totals.
* **one-liner**: per user and theme, a seeded affine rotation over the day number —
  ``index = (offset + step * day) mod n`` with ``step`` coprime to ``n`` — so within any ``n``
  consecutive days the same pool never yields the same line twice. With pools of ≥ 28 lines
  a one-liner cannot repeat within 28 days, whatever themes the days get.
* **rank line** (per band) and **money / love / health details** (per tier): the same
  rotation per user and pool (:func:`_fresh`), so a pool of n lines never gives a user the
  same line twice within n days, however the bands fall; the random draw is still made,
  so every later draw of the day is unchanged.
* **summary**: opening for the theme + a line for the day's flow (by score tier) + a
  seasonal note, a closing, or nothing (2–3 sentences).
* **lucky** colour / number 1–99 / time band / direction; **details** (money, love, health by
  tier; caution by theme; a composed helper); **tomorrow hint** from tomorrow's real theme.
* **사주 inputs** (optional ``chart``): the day's 일진 against the user's 일간
  (:func:`bot.core.saju.day_relation`) shifts the score (``fortune.score`` in
  ``saju/data/saju.yaml``: e.g. a Support day +3, a branch clash −3, clamped to 60–100), leans the
  theme weights (a Wealth day towards money …) and adds the day's pillar in plain words with a
  one-line gloss and an advice line. Those extra draws use their own seeded stream, so every
  other draw — and the one-liner's 28-day rotation, which depends only on user, theme and
  day — is the same as without a chart; with a chart the same user and day still give the
  same reading. The 띠 then comes from the chart's year pillar (입춘, exact when the birth
  time is known).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from datetime import date, timedelta
from pathlib import Path
from typing import Any, ClassVar

from bot.core.fortune.loader import (
    DATA_DIR,
    FOCUS_THEMES,
    THEMES,
    WEEKDAYS,
    Content,
    Text,
    apply_josa,
    load_content,
)
from bot.core.hashing import SeededRandom, seed_of
from bot.core.i18n import Lang
from bot.core.saju.chart import Chart
from bot.core.saju.content import content as saju_content
from bot.core.saju.cycle import ANIMAL_OF_BRANCH, pillar_of
from bot.core.saju.derive import GROUP_OF, GROUPS, branch_link, ten_god
from bot.core.zodiac import sun_sign, zodiac_animal

__all__ = [
    "SCORE_MAX",
    "SCORE_MIN",
    "Fortune",
    "FortuneDetails",
    "FortuneEngine",
    "WeeklyOutlook",
    "score_tier",
]

SCORE_MIN = 60
SCORE_MAX = 100

_MASK = 0xFFFFFFFFFFFFFFFF
_GOLDEN = 0x9E3779B97F4A7C15
_THEME_SALT = 0x5EED_7E3E_0000_0001
_SEED_VERSION = "soul-lab/fortune/v1"
_ONELINER_VERSION = "soul-lab/oneliner/v1"
_WEEKLY_VERSION = "soul-lab/weekly/v1"
_FRESH_VERSION = "soul-lab/fresh/v1"
_SAJU_SALT = 0x5A1D_0000_0000_0015
#: the ordinal whose day pillar is 甲子 (cycle index 0): day_pillar(d).index = (ord - this) % 60
_PILLAR_ZERO = date(1900, 1, 31).toordinal() - 40


def score_tier(score: int) -> str:
    """Tier used by detail and flow copy: ``bright`` ≥ 88, ``steady`` 74–87, ``gentle`` below."""
    if score >= 88:
        return "bright"
    if score >= 74:
        return "steady"
    return "gentle"


@dataclass(frozen=True, slots=True)
class FortuneDetails:
    money: str
    love: str
    health: str
    caution: str
    helper: str


@dataclass(frozen=True, slots=True)
class Fortune:
    lang: Lang
    day: date
    score: int
    band: str  # rank band id: best / great / good / steady / gentle
    rank_line: str
    theme: str
    theme_label: str
    one_liner_id: str
    one_liner: str
    summary: str
    lucky_color: str
    lucky_color_hex: str
    lucky_number: int
    lucky_time: str
    lucky_direction: str
    details: FortuneDetails
    tomorrow_hint: str
    tomorrow_theme: str
    sun_sign: str  # code, e.g. "aries"
    zodiac_animal: str  # code, e.g. "dragon"
    day_pillar: str = ""  # with a chart: today's 일진, e.g. "을축(乙丑)"
    day_group: str = ""  # with a chart: its relation to the 일간 (peer/output/wealth/power/resource)
    day_note: str = ""  # with a chart: the pillar named in plain words + advice

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (dates as ISO strings)."""
        out = asdict(self)
        out["day"] = self.day.isoformat()
        return out


@dataclass(frozen=True, slots=True)
class WeeklyOutlook:
    lang: Lang
    week_start: date
    days: tuple[Fortune, ...]  # 7 consecutive days from week_start
    best_day: date
    gentle_day: date
    theme: str  # the week's leading theme
    theme_label: str
    advice: str
    overview: str  # composed: intro, best/gentle days, advice, closing

    def to_dict(self) -> dict[str, Any]:
        return {
            "lang": self.lang,
            "week_start": self.week_start.isoformat(),
            "days": [d.to_dict() for d in self.days],
            "best_day": self.best_day.isoformat(),
            "gentle_day": self.gentle_day.isoformat(),
            "theme": self.theme,
            "theme_label": self.theme_label,
            "advice": self.advice,
            "overview": self.overview,
        }


class _Template:
    """A pre-split template: plain strings skip ``format`` and particle fixing entirely."""

    __slots__ = ("dynamic", "josa", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.dynamic = "{" in text
        self.josa = "[" in text

    def fill(self, **kw: str) -> str:
        if not self.dynamic:
            return self.text
        out = self.text.format(**kw)
        return apply_josa(out) if self.josa else out


class _Pack:
    """Content flattened for one language: tuples of strings, indexed by the same draws."""

    def __init__(self, c: Content, lang: Lang) -> None:
        def strs(ts: Sequence[Text]) -> tuple[str, ...]:
            return tuple(t.get(lang) for t in ts)

        def tpls(ts: Sequence[Text]) -> tuple[_Template, ...]:
            return tuple(_Template(t.get(lang)) for t in ts)

        self.lang = lang
        self.oneliners = {th: strs([t for _, t in c.oneliners[th]]) for th in THEMES}
        self.rank_lines = {b.id: strs(b.lines) for b in c.bands}
        self.theme_labels = {th: c.theme_labels[th].get(lang) for th in THEMES}
        self.openings = {th: tpls(c.openings[th]) for th in THEMES}
        self.flows = {k: strs(v) for k, v in c.flows.items()}
        self.closings = strs(c.closings)
        self.season_notes = {s.id: strs(s.notes) for s in c.seasons}
        self.colors = tuple(i.text.get(lang) for i in c.colors)
        self.times = tuple(i.text.get(lang) for i in c.times)
        self.directions = tuple(i.text.get(lang) for i in c.directions)
        self.details = {area: {k: strs(v) for k, v in tiers.items()} for area, tiers in c.details.items()}
        self.cautions = {th: strs(c.cautions[th]) for th in THEMES}
        people = [p.text.get(lang) for p in c.helper_people]
        traits = [t.text.get(lang) for t in c.helper_traits]
        # helper phrase per (person, trait): "봄에 태어난 친구" / "a friend born in spring"
        self.helpers = tuple(
            tuple((f"{t} {p}" if lang == "ko" else f"{p} {t}") for t in traits) for p in people
        )
        self.helper_templates = tpls(c.helper_templates)
        self.helper_tips = strs(c.helper_tips)
        self.tomorrow = {th: strs(c.tomorrow[th]) for th in THEMES}
        self.signs = {k: v.get(lang) for k, v in c.signs.items()}
        self.animals = {k: v.get(lang) for k, v in c.animals.items()}
        self.weekly_intros = tpls(c.weekly_intros)
        self.weekly_days = tpls(c.weekly_days)
        self.weekly_advice = {th: strs(c.weekly_advice[th]) for th in THEMES}
        self.weekly_closings = strs(c.weekly_closings)
        self.ui = {k: _Template(v.get(lang)) for k, v in c.ui.items()}
        self.weekdays = strs(c.weekdays)
        self.months = strs(c.months)

    def date_label(self, d: date, key: str = "date") -> str:
        """``3월 5일 (수)`` / ``Wed, Mar 5``; ``key="date_in_text"`` gives the in-sentence form."""
        return self.ui[key].fill(
            month=self.months[d.month - 1], day=str(d.day), weekday=self.weekdays[d.weekday()]
        )


class FortuneEngine:
    """Validated, cached content plus the deterministic draws. Use :meth:`load`."""

    _instances: ClassVar[dict[Path, FortuneEngine]] = {}

    def __init__(self, content: Content) -> None:
        self.content = content
        c = content
        self._packs: dict[str, _Pack] = {"ko": _Pack(c, "ko"), "en": _Pack(c, "en")}
        self._oneliner_ids = {th: tuple(i for i, _ in c.oneliners[th]) for th in THEMES}
        self._units = {th: _units(len(c.oneliners[th])) for th in THEMES}
        self._theme_salts = tuple((_THEME_SALT * (i + 1)) & _MASK for i in range(len(THEMES)))
        band_of = []
        for s in range(SCORE_MAX + 1):
            band_of.append(next((b.id for b in c.bands if s >= b.min), c.bands[-1].id))
        self._band_of = tuple(band_of)
        self._day_cache: dict[int, tuple[tuple[int, ...], str | None, bool]] = {}
        self._el_cache: dict[tuple[int, str], tuple[int, ...]] = {}
        self._n_colors = len(c.colors)
        self._n_times = len(c.times)
        self._n_dirs = len(c.directions)
        self._color_hex = tuple(i.hex for i in c.colors)
        self._n_people = len(c.helper_people)
        self._n_traits = len(c.helper_traits)
        sc = saju_content()
        self._saju = sc
        self._saju_lean = {g: tuple(sc.themes[g].get(th, 0) for th in THEMES) for g in GROUPS}
        self._saju_score = sc.score
        self._lean_cache: dict[tuple[int, str, str], tuple[int, ...]] = {}
        self._relations: dict[int, tuple[tuple[str, str], ...]] = {}
        # "📅 오늘의 일진: 갑자(甲子)일 — …" per 60-cycle index and language, built once
        self._pillar_heads = {
            lang: tuple((sc.pillar_name(pillar_of(n), lang), sc.ui["day_pillar"][lang].format(
                pillar=sc.pillar_name(pillar_of(n), lang))) for n in range(60)) for lang in ("ko", "en")}
        self._group_lines = {lang: {g: (sc.groups[g]["day_line"][lang],
                                        tuple(n[lang] for n in sc.groups[g]["notes"])) for g in GROUPS}
                             for lang in ("ko", "en")}

    # ------------------------------------------------------------------ construction

    @classmethod
    def load(cls, data_dir: Path | str | None = None) -> FortuneEngine:
        """The engine for ``data_dir`` (default: package data), validated and cached."""
        key = Path(data_dir).resolve() if data_dir is not None else DATA_DIR
        engine = cls._instances.get(key)
        if engine is None:
            engine = cls(load_content(key))
            cls._instances[key] = engine
        return engine

    # ------------------------------------------------------------------ theme weights

    def _day_info(self, ordinal: int) -> tuple[tuple[int, ...], str | None, bool]:
        """(weights from base + weekday + seasons, most specific season id, single-day?)."""
        hit = self._day_cache.get(ordinal)
        if hit is not None:
            return hit
        c = self.content
        d = date.fromordinal(ordinal)
        weights = dict.fromkeys(THEMES, c.weight_base)
        for th, w in c.weight_weekday[WEEKDAYS[d.weekday()]].items():
            weights[th] += w
        season_id: str | None = None
        season_len = 10_000
        single = False
        for s in c.seasons:
            if s.contains(d.month, d.day):
                for th, w in s.boost.items():
                    weights[th] += w
                length = _window_length(s.start, s.end)
                if length < season_len:
                    season_id, season_len, single = s.id, length, s.single_day
        info = (tuple(weights[th] for th in THEMES), season_id, single)
        if len(self._day_cache) > 4096:
            self._day_cache.clear()
        self._day_cache[ordinal] = info
        return info

    def _weights(self, ordinal: int, element: str) -> tuple[int, ...]:
        key = (ordinal, element)
        hit = self._el_cache.get(key)
        if hit is not None:
            return hit
        base = self._day_info(ordinal)[0]
        lean = self.content.weight_element[element]
        weights = tuple(w + lean.get(th, 0) for th, w in zip(THEMES, base))
        if len(self._el_cache) > 16384:
            self._el_cache.clear()
        self._el_cache[key] = weights
        return weights

    def _leaning(self, ordinal: int, element: str, group: str) -> tuple[int, ...]:
        key = (ordinal, element, group)
        hit = self._lean_cache.get(key)
        if hit is None:
            hit = tuple(w + x for w, x in zip(self._weights(ordinal, element), self._saju_lean[group]))
            if len(self._lean_cache) > 16384:
                self._lean_cache.clear()
            self._lean_cache[key] = hit
        return hit

    def _theme(self, user_seed: int, ordinal: int, element: str, focus: frozenset[str],
               group: str = "") -> tuple[int, int]:
        """(theme index, day seed) for the user's day; ``group`` (the 사주 day's relation)
        leans the theme weights."""
        day_seed = SeededRandom(user_seed ^ ((ordinal * _GOLDEN) & _MASK)).next_u64()
        weights = self._leaning(ordinal, element, group) if group else self._weights(ordinal, element)
        if focus:
            bonus = self.content.weight_focus
            weights = tuple(w + (bonus if th in focus else 0) for th, w in zip(THEMES, weights))
        roll = SeededRandom(day_seed ^ _THEME_SALT).below(sum(weights))
        for i, w in enumerate(weights):
            if roll < w:
                return i, day_seed
            roll -= w
        return len(THEMES) - 1, day_seed  # unreachable

    # ------------------------------------------------------------------ the fortune

    def _relation_table(self, chart: Chart) -> tuple[tuple[str, str], ...]:
        """(group, branch link) of each of the 60 day pillars against the chart's day pillar
        (its 일간 and day branch), built once per day pillar."""
        key = chart.day.index
        table = self._relations.get(key)
        if table is None:
            table = tuple((GROUP_OF[ten_god(chart.day.stem, n % 10)], branch_link(chart.day.branch, n % 12))
                          for n in range(60))
            self._relations[key] = table
        return table

    def daily(self, user_key: str, birth: date, day: date, lang: Lang, focus: Sequence[str] = (),
              chart: Chart | None = None) -> Fortune:
        """Today's fortune for a user (``day`` is the user's local date); ``chart`` (the user's
        사주, :func:`bot.core.saju.chart_for`) adds the day's 일진 as an input."""
        pack = self._packs.get(lang)
        if pack is None:
            raise ValueError(f"unsupported language {lang!r}")
        focus_set = _focus(focus)
        sign = sun_sign(birth)
        ordinal = day.toordinal()
        user_seed = seed_of(_SEED_VERSION, user_key, birth.isoformat())
        group = link = tomorrow_group = ""
        shift = pillar_index = 0
        if chart is not None:
            relations = self._relation_table(chart)
            pillar_index = (ordinal - _PILLAR_ZERO) % 60
            group, link = relations[pillar_index]
            tomorrow_group = relations[(pillar_index + 1) % 60][0]
            shift = self._saju_score[group] + (self._saju_score[link] if link != "none" else 0)
        ti, day_seed = self._theme(user_seed, ordinal, sign.element, focus_set, group)
        theme = THEMES[ti]
        rng = SeededRandom(day_seed)
        below = rng.below

        score = min(SCORE_MAX, max(SCORE_MIN, SCORE_MIN + below(21) + below(21) + shift))
        band = self._band_of[score]
        tier = score_tier(score)
        rank_lines = pack.rank_lines[band]
        below(len(rank_lines))  # drawn but unused: keeps the later draws of the day as they were
        rank_line = rank_lines[_fresh(user_seed, "band:" + band, len(rank_lines), ordinal)]

        # one-liner: per-user affine rotation over the day number within the theme pool
        ids = self._oneliner_ids[theme]
        n = len(ids)
        r = SeededRandom(seed_of(_ONELINER_VERSION, user_key) ^ self._theme_salts[ti]).next_u64()
        units = self._units[theme]
        idx = (r % n + units[(r >> 32) % len(units)] * ordinal) % n

        # summary: opening + flow + (season note | closing | nothing)
        sign_name = pack.signs[sign.code]
        openings = pack.openings[theme]
        parts = [openings[below(len(openings))].fill(sign=sign_name)]
        flows = pack.flows[tier]
        parts.append(flows[below(len(flows))])
        _, season_id, single = self._day_info(ordinal)
        third = below(6)  # 0-1: season note (always on single-day events), 2-4: closing, 5: none
        if season_id is not None and (single or third < 2):
            notes = pack.season_notes[season_id]
            parts.append(notes[below(len(notes))])
        elif third < 5:
            parts.append(pack.closings[below(len(pack.closings))])
        summary = " ".join(parts)

        color = below(self._n_colors)
        number = 1 + below(99)
        time_band = below(self._n_times)
        direction = below(self._n_dirs)

        det = pack.details
        money = det["money"][tier]
        love = det["love"][tier]
        health = det["health"][tier]
        cautions = pack.cautions[theme]
        helper_phrase = pack.helpers[below(self._n_people)][below(self._n_traits)]
        tpl = pack.helper_templates[below(len(pack.helper_templates))]
        helper = tpl.fill(helper=helper_phrase) + " " + pack.helper_tips[below(len(pack.helper_tips))]
        below(len(money)), below(len(love)), below(len(health))  # keep the draw stream as it was
        details = FortuneDetails(
            money=money[_fresh(user_seed, "money:" + tier, len(money), ordinal)],
            love=love[_fresh(user_seed, "love:" + tier, len(love), ordinal)],
            health=health[_fresh(user_seed, "health:" + tier, len(health), ordinal)],
            caution=cautions[below(len(cautions))],
            helper=helper,
        )

        day_note = day_pillar_name = ""
        if chart is not None:
            day_pillar_name, day_note = self._saju_note(day_seed, pillar_index, group, link, lang)
            animal = ANIMAL_OF_BRANCH[chart.year.branch]
        else:
            animal = zodiac_animal(birth).code
        tti, _ = self._theme(user_seed, ordinal + 1, sign.element, focus_set, tomorrow_group)
        tomorrow_theme = THEMES[tti]
        hints = pack.tomorrow[tomorrow_theme]

        return Fortune(
            lang=lang,
            day=day,
            score=score,
            band=band,
            rank_line=rank_line,
            theme=theme,
            theme_label=pack.theme_labels[theme],
            one_liner_id=ids[idx],
            one_liner=pack.oneliners[theme][idx],
            summary=summary,
            lucky_color=pack.colors[color],
            lucky_color_hex=self._color_hex[color],
            lucky_number=number,
            lucky_time=pack.times[time_band],
            lucky_direction=pack.directions[direction],
            details=details,
            tomorrow_hint=hints[below(len(hints))],
            tomorrow_theme=tomorrow_theme,
            sun_sign=sign.code,
            zodiac_animal=animal,
            day_pillar=day_pillar_name,
            day_group=group,
            day_note=day_note,
        )

    def _saju_note(self, day_seed: int, pillar_index: int, group: str, link: str, lang: Lang) -> tuple[str, str]:
        """(pillar name, text): the day's pillar in plain words, what it is to the 일간, advice."""
        name, head = self._pillar_heads[lang][pillar_index]
        line, notes = self._group_lines[lang][group]
        note = notes[SeededRandom(day_seed ^ _SAJU_SALT).below(len(notes))]  # its own stream
        text = f"{head}\n{line} {note}"
        if link != "none":
            text += " " + self._saju.links[link][lang]
        return name, text

    # ------------------------------------------------------------------ weekly outlook

    def weekly_outlook(
        self, user_key: str, birth: date, week_start: date, lang: Lang, focus: Sequence[str] = (),
        chart: Chart | None = None,
    ) -> WeeklyOutlook:
        """Seven days from ``week_start`` with a composed overview (best day, gentle day, theme, advice)."""
        pack = self._packs.get(lang)
        if pack is None:
            raise ValueError(f"unsupported language {lang!r}")
        days = tuple(
            self.daily(user_key, birth, week_start + timedelta(days=i), lang, focus, chart) for i in range(7)
        )
        best = max(days, key=lambda f: f.score)  # first of equals wins
        gentle = min(days, key=lambda f: f.score)
        counts: dict[str, list[int]] = {}
        for f in days:
            entry = counts.setdefault(f.theme, [0, 0])
            entry[0] += 1
            entry[1] += f.score
        theme = max(THEMES, key=lambda th: (*counts.get(th, [0, 0]), -THEMES.index(th)))
        rng = SeededRandom(seed_of(_WEEKLY_VERSION, user_key, birth.isoformat(), week_start.toordinal()))
        below = rng.below
        label = pack.theme_labels[theme]
        intro = pack.weekly_intros[below(len(pack.weekly_intros))].fill(theme=label)
        days_line = pack.weekly_days[below(len(pack.weekly_days))].fill(
            best=pack.date_label(best.day, "date_in_text"),
            best_score=str(best.score),
            gentle=pack.date_label(gentle.day, "date_in_text"),
            gentle_score=str(gentle.score),
        )
        advice_pool = pack.weekly_advice[theme]
        advice = advice_pool[below(len(advice_pool))]
        closing = pack.weekly_closings[below(len(pack.weekly_closings))]
        return WeeklyOutlook(
            lang=lang,
            week_start=week_start,
            days=days,
            best_day=best.day,
            gentle_day=gentle.day,
            theme=theme,
            theme_label=label,
            advice=advice,
            overview=f"{intro} {days_line} {advice} {closing}",
        )

    # ------------------------------------------------------------------ rendering

    def pack(self, lang: Lang) -> _Pack:
        return self._packs[lang]

    def render_summary(self, f: Fortune) -> str:
        """Chat text: date, signs, score + rank line, theme, one-liner, summary, lucky items."""
        p = self._packs[f.lang]
        ui = p.ui
        lines = [
            ui["daily_title"].fill(date=p.date_label(f.day)),
            ui["signs_line"].fill(sign=p.signs[f.sun_sign], animal=p.animals[f.zodiac_animal]),
            "",
            ui["score_line"].fill(score=str(f.score), rank=f.rank_line),
            ui["theme_line"].fill(theme=f.theme_label),
            f"“{f.one_liner}”",
            "",
            f.summary,
            *(["", f.day_note] if f.day_note else []),
            "",
            ui["lucky_color"].fill(value=f.lucky_color),
            ui["lucky_number"].fill(value=str(f.lucky_number)),
            ui["lucky_time"].fill(value=f.lucky_time),
            ui["lucky_direction"].fill(value=f.lucky_direction),
        ]
        return "\n".join(lines)

    def render_details(self, f: Fortune) -> str:
        """Chat text: money, love, health, caution, helper, tomorrow."""
        p = self._packs[f.lang]
        ui = p.ui
        d = f.details
        sections = [
            ui["details_title"].fill(date=p.date_label(f.day)),
            f"{ui['money'].text}\n{d.money}",
            f"{ui['love'].text}\n{d.love}",
            f"{ui['health'].text}\n{d.health}",
            f"{ui['caution'].text}\n{d.caution}",
            f"{ui['helper'].text}\n{d.helper}",
            f"{ui['tomorrow'].text}\n{f.tomorrow_hint}",
        ]
        return "\n\n".join(sections)

    def render_weekly(self, w: WeeklyOutlook) -> str:
        """Chat text: one line per day (score, theme, one-liner) and the overview."""
        p = self._packs[w.lang]
        ui = p.ui
        end = w.week_start + timedelta(days=6)
        out = [ui["weekly_title"].fill(start=p.date_label(w.week_start), end=p.date_label(end)), ""]
        for f in w.days:
            mark = " ⭐" if f.day == w.best_day else ""
            out.append(
                ui["weekly_day"].fill(date=p.date_label(f.day), score=str(f.score), theme=f.theme_label)
                + mark
            )
            out.append(f"  “{f.one_liner}”")
        out += ["", ui["weekly_overview"].text, w.overview]
        return "\n".join(out)


# ---------------------------------------------------------------------- helpers


def _units(n: int) -> tuple[int, ...]:
    """Steps coprime to ``n``: each makes ``d -> step * d mod n`` a permutation."""
    if n <= 1:
        return (1,)
    return tuple(s for s in range(1, n) if math.gcd(s, n) == 1)


@lru_cache(maxsize=64)
def _units_cached(n: int) -> tuple[int, ...]:
    return _units(n)


@lru_cache(maxsize=4096)
def _pool_salt(pool: str) -> int:
    return seed_of(_FRESH_VERSION, "pool", pool)


def _fresh(user_seed: int, pool: str, n: int, ordinal: int) -> int:
    """Index into a pool of ``n`` lines for the user's day: a per-user, per-pool affine
    rotation over the day number, so no index repeats within any ``n`` consecutive days."""
    r = SeededRandom(user_seed ^ _pool_salt(pool)).next_u64()
    units = _units_cached(n)
    return (r % n + units[(r >> 32) % len(units)] * ordinal) % n


def _window_length(start: tuple[int, int], end: tuple[int, int]) -> int:
    a = date(2000, *start).toordinal()  # 2000 is a leap year, so 02-29 is a valid bound
    b = date(2000, *end).toordinal()
    return (b - a) % 366 + 1


def _focus(focus: Sequence[str]) -> frozenset[str]:
    if not focus:
        return frozenset()
    tags = frozenset(focus)
    unknown = tags.difference(FOCUS_THEMES)
    if unknown:
        raise ValueError(f"unknown focus tag(s) {sorted(unknown)}; expected a subset of {list(FOCUS_THEMES)}")
    return tags
