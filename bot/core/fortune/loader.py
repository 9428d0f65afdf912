"""Loading and validating the fortune content files (``bot/core/fortune/data/*.yaml``).

Every piece of user-facing fortune copy lives in YAML, each entry carrying both ``ko`` and
``en``. Content is validated once at start-up: a missing field, an unknown theme, a
duplicate id, an entry with one language but not the other, or a template whose ``{fields}``
differ between languages raises :class:`ContentError` naming the file and the entry.

``load_content()`` caches per data directory, so the engine never re-reads YAML on the hot
path. Tests pass their own ``data_dir`` (a temp copy) to exercise the validation.
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from bot.core.yamlload import safe_load

from bot.core.grammar import final_sound
from bot.core.zodiac import ANIMAL_CODES, SIGN_CODES

__all__ = [
    "DATA_DIR",
    "ELEMENTS",
    "FOCUS_THEMES",
    "ONELINERS_FILE",
    "THEMES",
    "WEEKDAYS",
    "Content",
    "ContentError",
    "Text",
    "apply_josa",
    "load_content",
    "load_zodiac_names",
]

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
ONELINERS_FILE = "oneliners.yaml"
#: With at least this many one-liners per theme the engine's rotation cannot repeat within 28 days.
MIN_ONELINERS_FOR_VARIETY = 28

THEMES: tuple[str, ...] = ("career", "love", "money", "health", "relationship", "general")
FOCUS_THEMES: tuple[str, ...] = ("career", "love", "money", "health", "relationship")
ELEMENTS: tuple[str, ...] = ("fire", "earth", "air", "water")
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RELATIONS: tuple[str, ...] = ("same", "complementary", "contrast")
DETAIL_TIERS: tuple[str, ...] = ("bright", "steady", "gentle")


class ContentError(RuntimeError):
    """A fortune content file is malformed; raised at start-up, naming file and entry."""

    def __init__(self, file: str, entry: str, problem: str) -> None:
        super().__init__(f"{file}: {entry}: {problem}")
        self.file = file
        self.entry = entry
        self.problem = problem


class Text(NamedTuple):
    """One bilingual piece of copy."""

    ko: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.ko


# --------------------------------------------------------------------------- Korean particles

_JOSA_RE = re.compile(r"([^\s\[\]]+)\[(이|은|을|과|이에요|으로|이랑)/(가|는|를|와|예요|로|랑)\]")


def _josa_sub(m: re.Match[str]) -> str:
    prev, with_final, without_final = m.group(1), m.group(2), m.group(3)
    final = final_sound(prev)  # the whole preceding word: "10[이/가]" reads 십
    if final is None or final == "vowel":  # unreadable (not produced by our data): vowel form
        return prev + without_final
    if final == "rieul" and with_final == "으로":  # ㄹ final takes 로
        return prev + without_final
    return prev + with_final


def apply_josa(text: str) -> str:
    """Resolve particle markers like ``[이/가]``, ``[은/는]``, ``[과/와]`` after the preceding syllable."""
    if "[" not in text:
        return text
    return _JOSA_RE.sub(_josa_sub, text)


# --------------------------------------------------------------------------- content model


@dataclass(frozen=True)
class Season:
    id: str
    start: tuple[int, int]  # (month, day), inclusive
    end: tuple[int, int]  # (month, day), inclusive; may wrap past year end
    boost: dict[str, int]
    notes: tuple[Text, ...]

    def contains(self, month: int, day: int) -> bool:
        md = (month, day)
        if self.start <= self.end:
            return self.start <= md <= self.end
        return md >= self.start or md <= self.end

    @property
    def single_day(self) -> bool:
        return self.start == self.end


@dataclass(frozen=True)
class Band:
    id: str
    min: int
    lines: tuple[Text, ...]


@dataclass(frozen=True)
class LuckyItem:
    id: str
    text: Text
    hex: str = ""


@dataclass(frozen=True)
class CompatTier:
    id: str
    min: int
    titles: tuple[Text, ...]
    lines: tuple[Text, ...]


@dataclass(frozen=True)
class Content:
    """Everything the engines need, validated. Texts keep both languages."""

    data_dir: Path
    oneliners_source: str
    oneliners: dict[str, tuple[tuple[str, Text], ...]]  # theme -> ((id, text), ...)
    bands: tuple[Band, ...]  # highest min first
    theme_labels: dict[str, Text]
    weight_base: int
    weight_focus: int
    weight_element: dict[str, dict[str, int]]
    weight_weekday: dict[str, dict[str, int]]
    seasons: tuple[Season, ...]
    openings: dict[str, tuple[Text, ...]]
    flows: dict[str, tuple[Text, ...]]
    closings: tuple[Text, ...]
    colors: tuple[LuckyItem, ...]
    times: tuple[LuckyItem, ...]
    directions: tuple[LuckyItem, ...]
    details: dict[str, dict[str, tuple[Text, ...]]]  # money/love/health -> tier -> texts
    cautions: dict[str, tuple[Text, ...]]
    helper_people: tuple[LuckyItem, ...]
    helper_traits: tuple[LuckyItem, ...]
    helper_templates: tuple[Text, ...]
    helper_tips: tuple[Text, ...]
    tomorrow: dict[str, tuple[Text, ...]]
    compat_relations: dict[str, tuple[Text, ...]]
    compat_tiers: tuple[CompatTier, ...]  # highest min first
    compat_tips: tuple[Text, ...]
    compat_today: tuple[Text, ...]
    weekly_intros: tuple[Text, ...]
    weekly_days: tuple[Text, ...]
    weekly_advice: dict[str, tuple[Text, ...]]
    weekly_closings: tuple[Text, ...]
    ui: dict[str, Text]
    weekdays: tuple[Text, ...]
    months: tuple[Text, ...]
    signs: dict[str, Text]
    animals: dict[str, Text]
    elements: dict[str, Text]


# --------------------------------------------------------------------------- validation helpers

_FORMATTER = string.Formatter()


def _fields(template: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in _FORMATTER.parse(template) if name)


class _Reader:
    """Validation helpers bound to one file; every error names the file and the entry path."""

    def __init__(self, data_dir: Path, filename: str) -> None:
        self.file = filename
        path = data_dir / filename
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ContentError(filename, "(file)", f"missing in {data_dir}") from None
        try:
            self.data = safe_load(raw)
        except yaml.YAMLError as exc:
            raise ContentError(filename, "(file)", f"invalid YAML: {exc}") from None
        if not isinstance(self.data, dict):
            raise ContentError(filename, "(top level)", "must be a mapping")
        self._ids: dict[str, str] = {}

    def fail(self, where: str, problem: str) -> ContentError:
        return ContentError(self.file, where, problem)

    def get(self, node: Any, key: str, where: str) -> Any:
        if not isinstance(node, dict):
            raise self.fail(where, "must be a mapping")
        if key not in node or node[key] is None:
            raise self.fail(where, f"missing field {key!r}")
        return node[key]

    def mapping(self, node: Any, where: str) -> dict[str, Any]:
        if not isinstance(node, dict) or not node:
            raise self.fail(where, "must be a non-empty mapping")
        return node

    def seq(self, node: Any, where: str, min_len: int = 1) -> list[Any]:
        if not isinstance(node, list):
            raise self.fail(where, "must be a list")
        if len(node) < min_len:
            raise self.fail(where, f"needs at least {min_len} entries, has {len(node)}")
        return node

    def claim_id(self, entry_id: Any, where: str) -> str:
        if not isinstance(entry_id, str) or not entry_id.strip():
            raise self.fail(where, "field 'id' must be a non-empty string")
        if entry_id in self._ids:
            raise self.fail(where, f"duplicate id {entry_id!r} (first used at {self._ids[entry_id]})")
        self._ids[entry_id] = where
        return entry_id

    def text(self, node: Any, where: str) -> Text:
        if isinstance(node, dict) and "id" in node:
            where = f"{where} (id {node['id']!r})"
        if not isinstance(node, dict):
            raise self.fail(where, "must be a mapping with 'ko' and 'en'")
        has = [lang for lang in ("ko", "en") if isinstance(node.get(lang), str) and node[lang].strip()]
        if len(has) == 1:
            other = "en" if has[0] == "ko" else "ko"
            raise self.fail(where, f"has {has[0]!r} but no {other!r} text")
        if not has:
            raise self.fail(where, "missing field 'ko' and 'en' text")
        ko, en = node["ko"].strip(), node["en"].strip()
        try:
            fk, fe = _fields(ko), _fields(en)
        except ValueError as exc:
            raise self.fail(where, f"bad template braces: {exc}") from None
        if fk != fe:
            raise self.fail(where, f"placeholders differ between ko {sorted(fk)} and en {sorted(fe)}")
        return Text(ko, en)

    def texts(self, node: Any, where: str, min_len: int = 1, allowed: Iterable[str] = ()) -> tuple[Text, ...]:
        out = []
        allow = frozenset(allowed)
        for i, item in enumerate(self.seq(node, where, min_len)):
            at = f"{where}[{i}]"
            if isinstance(item, dict) and "id" in item:
                self.claim_id(item["id"], at)
            t = self.text(item, at)
            extra = _fields(t.ko) - allow
            if extra:
                raise self.fail(at, f"unknown placeholder(s) {sorted(extra)}; allowed: {sorted(allow)}")
            out.append(t)
        return tuple(out)

    def keyed(self, node: Any, where: str, keys: tuple[str, ...], kind: str) -> dict[str, Any]:
        """A mapping whose keys must be exactly ``keys`` (all present, none unknown)."""
        node = self.mapping(node, where)
        for key in node:
            if key not in keys:
                raise self.fail(f"{where}.{key}", f"unknown {kind} {key!r}; expected one of {list(keys)}")
        for key in keys:
            if key not in node:
                raise self.fail(where, f"missing {kind} {key!r}")
        return node

    def theme_weights(self, node: Any, where: str) -> dict[str, int]:
        node = self.mapping(node, where)
        out: dict[str, int] = {}
        for key, value in node.items():
            if key not in THEMES:
                raise self.fail(f"{where}.{key}", f"unknown theme {key!r}; expected one of {list(THEMES)}")
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise self.fail(f"{where}.{key}", "weight must be a non-negative integer")
            out[key] = value
        return out

    def items(self, node: Any, where: str, min_len: int = 1, need_hex: bool = False) -> tuple[LuckyItem, ...]:
        out = []
        for i, item in enumerate(self.seq(node, where, min_len)):
            at = f"{where}[{i}]"
            item_id = self.claim_id(self.get(item, "id", at), at)
            text = self.text(item, at)
            hex_code = ""
            if need_hex:
                hex_code = str(self.get(item, "hex", f"{at} (id {item_id!r})"))
                if not re.fullmatch(r"#[0-9A-Fa-f]{6}", hex_code):
                    raise self.fail(f"{at} (id {item_id!r})", f"hex {hex_code!r} is not #RRGGBB")
            out.append(LuckyItem(item_id, text, hex_code))
        return tuple(out)

    def int_field(self, node: Any, key: str, where: str) -> int:
        value = self.get(node, key, where)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(where, f"field {key!r} must be an integer")
        return value


def _month_day(reader: _Reader, value: Any, where: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d\d)-(\d\d)", str(value))
    try:
        if not m:
            raise ValueError
        date(2000, int(m.group(1)), int(m.group(2)))  # leap year: 02-29 allowed
    except ValueError:
        raise reader.fail(where, f"date {value!r} must be a valid MM-DD") from None
    return int(m.group(1)), int(m.group(2))


# --------------------------------------------------------------------------- per-file loaders


def _load_oneliners(data_dir: Path) -> tuple[str, dict[str, tuple[tuple[str, Text], ...]]]:
    filename = ONELINERS_FILE
    r = _Reader(data_dir, filename)
    node = r.keyed(r.data, "(top level)", THEMES, "theme")
    pools: dict[str, tuple[tuple[str, Text], ...]] = {}
    for theme in THEMES:
        entries = []
        for i, item in enumerate(r.seq(node[theme], theme)):
            at = f"{theme}[{i}]"
            entry_id = r.claim_id(r.get(item, "id", at), at)
            text = r.text(item, at)
            if _fields(text.ko):
                raise r.fail(f"{at} (id {entry_id!r})", "one-liners take no placeholders")
            entries.append((entry_id, text))
        pools[theme] = tuple(entries)
        if len(entries) < MIN_ONELINERS_FOR_VARIETY:
            log.warning(
                "fortune: %s has %d one-liners for %r; fewer than %d means repeats within 28 days",
                filename,
                len(entries),
                theme,
                MIN_ONELINERS_FOR_VARIETY,
            )
    return filename, pools


@lru_cache(maxsize=8)
def _zodiac(data_dir: Path) -> tuple[dict[str, Text], dict[str, Text], dict[str, Text]]:
    r = _Reader(data_dir, "zodiac.yaml")
    out = []
    for key, codes in (("signs", SIGN_CODES), ("animals", ANIMAL_CODES), ("elements", ELEMENTS)):
        node = r.keyed(r.get(r.data, key, "(top level)"), key, codes, key.rstrip("s"))
        out.append({code: r.text(node[code], f"{key}.{code}") for code in codes})
    return out[0], out[1], out[2]


def load_zodiac_names(
    data_dir: Path | str | None = None,
) -> tuple[dict[str, Text], dict[str, Text], dict[str, Text]]:
    """(signs, animals, elements) names from ``zodiac.yaml``, cached."""
    return _zodiac(Path(data_dir) if data_dir is not None else DATA_DIR)


def _build(data_dir: Path) -> Content:
    src, oneliners = _load_oneliners(data_dir)

    # ranks.yaml
    r = _Reader(data_dir, "ranks.yaml")
    bands = []
    for i, node in enumerate(r.seq(r.get(r.data, "bands", "(top level)"), "bands")):
        at = f"bands[{i}]"
        band_id = r.claim_id(r.get(node, "id", at), at)
        low = r.int_field(node, "min", at)
        bands.append(Band(band_id, low, r.texts(r.get(node, "lines", at), f"{at}.lines", 2)))
    bands.sort(key=lambda b: -b.min)
    if bands[-1].min > 60 or bands[0].min > 100:
        raise r.fail("bands", "bands must cover scores 60..100 (lowest min <= 60)")

    # themes.yaml
    r = _Reader(data_dir, "themes.yaml")
    labels_node = r.keyed(r.get(r.data, "labels", "(top level)"), "labels", THEMES, "theme")
    theme_labels = {t: r.text(labels_node[t], f"labels.{t}") for t in THEMES}
    w = r.get(r.data, "weights", "(top level)")
    base = r.int_field(w, "base", "weights")
    focus = r.int_field(w, "focus", "weights")
    if base <= 0:
        raise r.fail("weights.base", "must be positive")
    el_node = r.keyed(r.get(w, "element", "weights"), "weights.element", ELEMENTS, "element")
    w_el = {e: r.theme_weights(el_node[e], f"weights.element.{e}") for e in ELEMENTS}
    wd_node = r.keyed(r.get(w, "weekday", "weights"), "weights.weekday", WEEKDAYS, "weekday")
    w_wd = {d: r.theme_weights(wd_node[d], f"weights.weekday.{d}") for d in WEEKDAYS}
    seasons = []
    for i, node in enumerate(r.seq(r.get(r.data, "seasons", "(top level)"), "seasons")):
        at = f"seasons[{i}]"
        sid = r.claim_id(r.get(node, "id", at), at)
        at = f"{at} (id {sid!r})"
        seasons.append(
            Season(
                sid,
                _month_day(r, r.get(node, "from", at), at),
                _month_day(r, r.get(node, "to", at), at),
                r.theme_weights(r.get(node, "boost", at), f"{at}.boost"),
                r.texts(r.get(node, "notes", at), f"{at}.notes"),
            )
        )

    # summary.yaml
    r = _Reader(data_dir, "summary.yaml")
    op = r.keyed(r.get(r.data, "openings", "(top level)"), "openings", THEMES, "theme")
    openings = {t: r.texts(op[t], f"openings.{t}", 3, allowed=("sign",)) for t in THEMES}
    fl = r.keyed(r.get(r.data, "flows", "(top level)"), "flows", DETAIL_TIERS, "tier")
    flows = {t: r.texts(fl[t], f"flows.{t}", 3) for t in DETAIL_TIERS}
    closings = r.texts(r.get(r.data, "closings", "(top level)"), "closings", 3)

    # lucky.yaml
    r = _Reader(data_dir, "lucky.yaml")
    colors = r.items(r.get(r.data, "colors", "(top level)"), "colors", 8, need_hex=True)
    times = r.items(r.get(r.data, "times", "(top level)"), "times", 4)
    directions = r.items(r.get(r.data, "directions", "(top level)"), "directions", 8)

    # details.yaml
    r = _Reader(data_dir, "details.yaml")
    details = {}
    for area in ("money", "love", "health"):
        node = r.keyed(r.get(r.data, area, "(top level)"), area, DETAIL_TIERS, "tier")
        details[area] = {t: r.texts(node[t], f"{area}.{t}", 2) for t in DETAIL_TIERS}
    ca = r.keyed(r.get(r.data, "caution", "(top level)"), "caution", THEMES, "theme")
    cautions = {t: r.texts(ca[t], f"caution.{t}", 2) for t in THEMES}
    hp = r.get(r.data, "helper", "(top level)")
    helper_people = r.items(r.get(hp, "people", "helper"), "helper.people", 4)
    helper_traits = r.items(r.get(hp, "traits", "helper"), "helper.traits", 4)
    helper_templates = r.texts(r.get(hp, "templates", "helper"), "helper.templates", 2, allowed=("helper",))
    helper_tips = r.texts(r.get(hp, "tips", "helper"), "helper.tips", 2)
    tm = r.keyed(r.get(r.data, "tomorrow", "(top level)"), "tomorrow", THEMES, "theme")
    tomorrow = {t: r.texts(tm[t], f"tomorrow.{t}", 2) for t in THEMES}

    # compat.yaml
    r = _Reader(data_dir, "compat.yaml")
    rel = r.keyed(r.get(r.data, "relations", "(top level)"), "relations", RELATIONS, "relation")
    compat_relations = {
        k: r.texts(rel[k], f"relations.{k}", 2, allowed=("a", "b", "element", "a_element", "b_element"))
        for k in RELATIONS
    }
    tiers = []
    for i, node in enumerate(r.seq(r.get(r.data, "tiers", "(top level)"), "tiers")):
        at = f"tiers[{i}]"
        tid = r.claim_id(r.get(node, "id", at), at)
        tiers.append(
            CompatTier(
                tid,
                r.int_field(node, "min", at),
                r.texts(r.get(node, "titles", at), f"{at}.titles", 1),
                r.texts(r.get(node, "lines", at), f"{at}.lines", 2),
            )
        )
    tiers.sort(key=lambda t: -t.min)
    if tiers[-1].min > 50:
        raise r.fail("tiers", "tiers must cover scores 50..100 (lowest min <= 50)")
    compat_tips = r.texts(r.get(r.data, "tips", "(top level)"), "tips", 3)
    compat_today = r.texts(r.get(r.data, "today", "(top level)"), "today", 3)

    # weekly.yaml
    r = _Reader(data_dir, "weekly.yaml")
    weekly_intros = r.texts(r.get(r.data, "intros", "(top level)"), "intros", 2, allowed=("theme",))
    weekly_days = r.texts(
        r.get(r.data, "days", "(top level)"),
        "days",
        2,
        allowed=("best", "best_score", "gentle", "gentle_score"),
    )
    wa = r.keyed(r.get(r.data, "advice", "(top level)"), "advice", THEMES, "theme")
    weekly_advice = {t: r.texts(wa[t], f"advice.{t}", 2) for t in THEMES}
    weekly_closings = r.texts(r.get(r.data, "closings", "(top level)"), "closings", 2)

    # labels.yaml
    r = _Reader(data_dir, "labels.yaml")
    ui_node = r.mapping(r.get(r.data, "ui", "(top level)"), "ui")
    ui = {k: r.text(v, f"ui.{k}") for k, v in ui_node.items()}
    for needed in _UI_KEYS:
        if needed not in ui:
            raise r.fail("ui", f"missing field {needed!r}")
    weekdays = r.texts(r.get(r.data, "weekdays", "(top level)"), "weekdays", 7)
    months = r.texts(r.get(r.data, "months", "(top level)"), "months", 12)
    if len(weekdays) != 7 or len(months) != 12:
        raise r.fail("weekdays/months", "need exactly 7 weekdays and 12 months")

    signs, animals, elements = _zodiac(data_dir)

    return Content(
        data_dir=data_dir,
        oneliners_source=src,
        oneliners=oneliners,
        bands=tuple(bands),
        theme_labels=theme_labels,
        weight_base=base,
        weight_focus=focus,
        weight_element=w_el,
        weight_weekday=w_wd,
        seasons=tuple(seasons),
        openings=openings,
        flows=flows,
        closings=closings,
        colors=colors,
        times=times,
        directions=directions,
        details=details,
        cautions=cautions,
        helper_people=helper_people,
        helper_traits=helper_traits,
        helper_templates=helper_templates,
        helper_tips=helper_tips,
        tomorrow=tomorrow,
        compat_relations=compat_relations,
        compat_tiers=tuple(tiers),
        compat_tips=compat_tips,
        compat_today=compat_today,
        weekly_intros=weekly_intros,
        weekly_days=weekly_days,
        weekly_advice=weekly_advice,
        weekly_closings=weekly_closings,
        ui=ui,
        weekdays=weekdays,
        months=months,
        signs=signs,
        animals=animals,
        elements=elements,
    )


#: UI labels the renderers rely on; checked at load so a typo fails at start-up, not in chat.
_UI_KEYS = (
    "date",
    "date_in_text",
    "daily_title",
    "signs_line",
    "score_line",
    "theme_line",
    "lucky_color",
    "lucky_number",
    "lucky_time",
    "lucky_direction",
    "details_title",
    "money",
    "love",
    "health",
    "caution",
    "helper",
    "tomorrow",
    "weekly_title",
    "weekly_day",
    "weekly_overview",
    "compat_title",
    "compat_pair",
    "compat_score",
)


@lru_cache(maxsize=8)
def _cached(data_dir: Path) -> Content:
    return _build(data_dir)


def load_content(data_dir: Path | str | None = None) -> Content:
    """Load and validate all content files once per directory (default: the package data)."""
    return _cached(Path(data_dir).resolve() if data_dir is not None else DATA_DIR)
