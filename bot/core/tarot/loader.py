"""Loading and validating the tarot data files (deck, spreads, phrases).

Every problem stops start-up with :class:`ContentError` naming the file and the entry,
so a half-translated or mistyped card never reaches a user.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.core.yamlload import safe_load

from bot.core.i18n import LANGS
from bot.core.tarot.model import (
    ELEMENTS,
    SUIT_ELEMENT,
    SUITS,
    Card,
    ContentError,
    Position,
    Spread,
    Text,
)

__all__ = ["DATA_DIR", "PLACEHOLDER_RE", "REQUIRED_SPREADS", "Content", "load_content"]

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"

#: Spreads the product promises, with their card counts.
REQUIRED_SPREADS: dict[str, int] = {"single": 1, "three": 3, "love": 5, "career": 5, "celtic": 10}

_CARD_FIELDS = (
    "id",
    "arcana",
    "suit",
    "number",
    "element",
    "name",
    "keywords",
    "reversed_keywords",
    "upright",
    "reversed",
    "advice",
)
_TEXT_FIELDS = ("name", "upright", "reversed", "advice")
_ID_RE = re.compile(r"^(major|wands|cups|swords|pentacles)-(\d{2})-[a-z0-9]+(?:-[a-z0-9]+)*$")
#: ``{name}`` inserts a value; ``{name|이/가}`` inserts only the Korean particle that fits it.
PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)(?:\|([^/{}]+)/([^/{}]+))?\}")


@dataclass(frozen=True, slots=True)
class Content:
    cards: tuple[Card, ...]  # deck order: majors 0-21, then wands, cups, swords, pentacles 1-14
    spreads: tuple[Spread, ...]
    phrases: dict[str, Any]
    full_deck: bool


def _read_yaml(path: Path) -> Any:
    try:
        return safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContentError(f"{path.name}: file is missing ({path})") from None
    except yaml.YAMLError as exc:
        raise ContentError(f"{path.name}: not valid YAML: {exc}") from None


def _text(value: Any, where: str) -> Text:
    if not isinstance(value, dict):
        raise ContentError(f"{where}: must be a mapping with 'ko' and 'en' texts")
    for lang in LANGS:
        if lang not in value or value[lang] is None:
            raise ContentError(f"{where}: missing the {lang!r} text")
        if not isinstance(value[lang], str) or not value[lang].strip():
            raise ContentError(f"{where}: the {lang!r} text must be a non-empty string")
    extra = set(value) - set(LANGS)
    if extra:
        raise ContentError(f"{where}: unexpected language keys {sorted(extra)}")
    return Text(ko=value["ko"].strip(), en=value["en"].strip())


def _keywords(value: Any, where: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if not isinstance(value, dict):
        raise ContentError(f"{where}: must be a mapping with 'ko' and 'en' lists")
    out = []
    for lang in LANGS:
        items = value.get(lang)
        if items is None:
            raise ContentError(f"{where}: missing the {lang!r} keywords")
        if (
            not isinstance(items, list)
            or not items
            or not all(isinstance(k, str) and k.strip() for k in items)
        ):
            raise ContentError(f"{where}: {lang!r} keywords must be a non-empty list of strings")
        out.append(tuple(k.strip() for k in items))
    extra = set(value) - set(LANGS)
    if extra:
        raise ContentError(f"{where}: unexpected language keys {sorted(extra)}")
    return out[0], out[1]


def _card(raw: Any, fname: str, index: int, expected_arcana: str) -> Card:
    if not isinstance(raw, dict):
        raise ContentError(f"{fname}: card #{index + 1} is not a mapping")
    cid = raw.get("id")
    label = f"{fname}: card {cid!r}" if isinstance(cid, str) and cid else f"{fname}: card #{index + 1}"
    missing = [f for f in _CARD_FIELDS if f not in raw]
    if missing:
        raise ContentError(f"{label}: missing field(s) {', '.join(missing)}")
    extra = sorted(set(raw) - set(_CARD_FIELDS))
    if extra:
        raise ContentError(f"{label}: unknown field(s) {', '.join(map(str, extra))}")
    if not isinstance(cid, str):
        raise ContentError(f"{label}: id must be a string")
    m = _ID_RE.match(cid)
    if not m:
        raise ContentError(f"{label}: id must look like 'major-00-fool' or 'cups-13-queen'")
    arcana, suit, number, element = raw["arcana"], raw["suit"], raw["number"], raw["element"]
    if arcana not in ("major", "minor"):
        raise ContentError(f"{label}: unknown arcana {arcana!r} (major or minor)")
    if arcana != expected_arcana:
        raise ContentError(f"{label}: a {arcana} card does not belong in {fname}")
    if element not in ELEMENTS:
        raise ContentError(f"{label}: unknown element {element!r} ({', '.join(ELEMENTS)})")
    if not isinstance(number, int) or isinstance(number, bool):
        raise ContentError(f"{label}: number must be an integer")
    if arcana == "major":
        if suit is not None:
            raise ContentError(f"{label}: a major card has suit null, not {suit!r}")
        if not 0 <= number <= 21:
            raise ContentError(f"{label}: major number {number} is outside 0-21")
        if m.group(1) != "major":
            raise ContentError(f"{label}: a major card's id starts with 'major-'")
    else:
        if suit not in SUITS:
            raise ContentError(f"{label}: unknown suit {suit!r} ({', '.join(SUITS)})")
        if not 1 <= number <= 14:
            raise ContentError(f"{label}: minor number {number} is outside 1-14")
        if m.group(1) != suit:
            raise ContentError(f"{label}: id prefix {m.group(1)!r} does not match suit {suit!r}")
        if element != SUIT_ELEMENT[suit]:
            raise ContentError(f"{label}: {suit} cards have element {SUIT_ELEMENT[suit]!r}, not {element!r}")
    if int(m.group(2)) != number:
        raise ContentError(f"{label}: id number {m.group(2)} does not match number {number}")
    texts = {f: _text(raw[f], f"{label} field {f!r}") for f in _TEXT_FIELDS}
    kw_ko, kw_en = _keywords(raw["keywords"], f"{label} field 'keywords'")
    rkw_ko, rkw_en = _keywords(raw["reversed_keywords"], f"{label} field 'reversed_keywords'")
    return Card(
        id=cid,
        arcana=arcana,
        suit=suit,
        number=number,
        element=element,
        name=texts["name"],
        keywords_ko=kw_ko,
        keywords_en=kw_en,
        reversed_keywords_ko=rkw_ko,
        reversed_keywords_en=rkw_en,
        upright=texts["upright"],
        reversed=texts["reversed"],
        advice=texts["advice"],
    )


def _cards_file(path: Path, arcana: str) -> list[Card]:
    data = _read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("cards"), list):
        raise ContentError(f"{path.name}: top level must be a mapping with a 'cards' list")
    return [_card(raw, path.name, i, arcana) for i, raw in enumerate(data["cards"])]


def _deck(data_dir: Path) -> tuple[tuple[Card, ...], bool]:
    cards = _cards_file(data_dir / "major.yaml", "major")
    minor_path = data_dir / "minor.yaml"
    full = minor_path.exists()
    if full:
        cards += _cards_file(minor_path, "minor")
    else:
        log.warning("tarot: %s is missing; the deck has only the 22 major arcana", minor_path)
    seen: dict[str, int] = {}
    slots: dict[tuple[str | None, int], str] = {}
    for card in cards:
        fname = "major.yaml" if card.is_major else "minor.yaml"
        if card.id in seen:
            raise ContentError(f"{fname}: card {card.id!r}: duplicate id")
        seen[card.id] = 1
        slot = (card.suit, card.number)
        if slot in slots:
            raise ContentError(f"{fname}: card {card.id!r}: same suit and number as {slots[slot]!r}")
        slots[slot] = card.id
    majors = sum(1 for c in cards if c.is_major)
    if majors != 22:
        raise ContentError(f"major.yaml: expected 22 major arcana, found {majors}")
    if full:
        for suit in SUITS:
            n = sum(1 for c in cards if c.suit == suit)
            if n != 14:
                raise ContentError(f"minor.yaml: expected 14 {suit} cards, found {n}")
        if len(cards) != 78:
            raise ContentError(f"major.yaml + minor.yaml: expected 78 cards, found {len(cards)}")
    order: dict[str | None, int] = {None: 0, **{s: i + 1 for i, s in enumerate(SUITS)}}
    cards.sort(key=lambda c: (order[c.suit], c.number))
    return tuple(cards), full


def _spreads(path: Path, deck_size: int) -> tuple[Spread, ...]:
    data = _read_yaml(path)
    fname = path.name
    if not isinstance(data, dict) or not isinstance(data.get("spreads"), list):
        raise ContentError(f"{fname}: top level must be a mapping with a 'spreads' list")
    out: list[Spread] = []
    for i, raw in enumerate(data["spreads"]):
        if not isinstance(raw, dict) or not isinstance(raw.get("key"), str):
            raise ContentError(f"{fname}: spread #{i + 1} needs a string 'key'")
        key = raw["key"]
        label = f"{fname}: spread {key!r}"
        if any(s.key == key for s in out):
            raise ContentError(f"{label}: duplicate spread key")
        for f in ("name", "positions", "key_position"):
            if f not in raw:
                raise ContentError(f"{label}: missing field {f!r}")
        if not isinstance(raw["positions"], list) or not raw["positions"]:
            raise ContentError(f"{label}: 'positions' must be a non-empty list")
        positions: list[Position] = []
        for j, p in enumerate(raw["positions"]):
            plabel = f"{label} position #{j + 1}"
            if not isinstance(p, dict) or not isinstance(p.get("key"), str):
                raise ContentError(f"{plabel}: needs a string 'key'")
            plabel = f"{label} position {p['key']!r}"
            if any(q.key == p["key"] for q in positions):
                raise ContentError(f"{plabel}: duplicate position key")
            for f in ("name", "hint", "at"):
                if f not in p:
                    raise ContentError(f"{plabel}: missing field {f!r}")
            at = p["at"]
            if (
                not isinstance(at, list)
                or len(at) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in at)
            ):
                raise ContentError(f"{plabel}: 'at' must be [x, y] grid numbers")
            rotated = p.get("rotated", False)
            if not isinstance(rotated, bool):
                raise ContentError(f"{plabel}: 'rotated' must be true or false")
            positions.append(
                Position(
                    key=p["key"],
                    name=_text(p["name"], f"{plabel} field 'name'"),
                    hint=_text(p["hint"], f"{plabel} field 'hint'"),
                    x=float(at[0]),
                    y=float(at[1]),
                    rotated=rotated,
                )
            )
        keys = [p.key for p in positions]
        if raw["key_position"] not in keys:
            raise ContentError(f"{label}: key_position {raw['key_position']!r} is not one of its positions")
        if len(positions) > deck_size:
            raise ContentError(f"{label}: {len(positions)} positions but the deck has {deck_size} cards")
        out.append(
            Spread(
                key=key,
                name=_text(raw["name"], f"{label} field 'name'"),
                positions=tuple(positions),
                key_position=keys.index(raw["key_position"]),
            )
        )
    for key, size in REQUIRED_SPREADS.items():
        found = next((s for s in out if s.key == key), None)
        if found is None:
            raise ContentError(f"{fname}: required spread {key!r} is missing")
        if found.size != size:
            raise ContentError(f"{fname}: spread {key!r} must have {size} positions, has {found.size}")
    return tuple(out)


def _check_phrase_leaf(value: Any, where: str) -> dict[str, str]:
    text = _text(value, where)
    names = {}
    for lang in LANGS:
        used = set()
        for m in PLACEHOLDER_RE.finditer(text(lang)):
            if m.group(2) is not None and lang != "ko":
                raise ContentError(f"{where}: particle placeholder {m.group(0)!r} only makes sense in 'ko'")
            used.add(m.group(1))
        names[lang] = used
    if names["ko"] != names["en"]:
        raise ContentError(
            f"{where}: ko and en use different placeholders ({sorted(names['ko'])} vs {sorted(names['en'])})"
        )
    return {"ko": text.ko, "en": text.en}


def _phrase_tree(value: Any, where: str) -> Any:
    """Validate a phrases subtree: mappings of mappings, ending in {ko, en} texts or lists of them."""
    if isinstance(value, list):
        if not value:
            raise ContentError(f"{where}: empty list of variants")
        return tuple(_check_phrase_leaf(v, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(value, dict):
        if set(value) & set(LANGS):
            return _check_phrase_leaf(value, where)
        return {str(k): _phrase_tree(v, f"{where}.{k}") for k, v in value.items()}
    raise ContentError(f"{where}: expected a {{ko, en}} text, a list of them or a mapping")


#: Paths the composer and the picture use, checked at load: (dotted path, kind) with kind
#: "text" (one {ko, en}) or "variants" (a list of them).
REQUIRED_PHRASES: tuple[tuple[str, str], ...] = (
    *(
        (f"labels.{k}", "text")
        for k in (
            "reversed",
            "upright",
            "question",
            "no_question",
            "summary",
            "advice",
            "theme",
        )
    ),
    *((f"elements.{e}", "text") for e in ELEMENTS),
    *((f"suits.{s}", "text") for s in SUITS),
    *(
        (f"summary.{k}", "variants")
        for k in (
            "single_major",
            "single_minor",
            "single_element",
            "single_upright",
            "single_reversed",
            "majors_many",
            "majors_some",
            "majors_one",
            "majors_none",
            "element_dominant",
            "element_dominant_suit",
            "element_mixed",
            "reversed_none",
            "reversed_one",
            "reversed_few",
            "reversed_many",
            "reversed_all",
            "key_card",
        )
    ),
    *((f"advice.element.{e}", "variants") for e in (*ELEMENTS, "mixed")),
    *((f"advice.{k}", "variants") for k in ("reversed_many", "reversed_none", "majors_many")),
    *(
        (f"interpretation.{k}", "variants")
        for k in (
            "intro",
            "question",
            "no_question",
            "card_upright",
            "card_reversed",
            "keywords",
            "flow",
            "closing",
        )
    ),
)


def _phrases(path: Path) -> dict[str, Any]:
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise ContentError(f"{path.name}: top level must be a mapping")
    tree = _phrase_tree(data, path.name)
    for dotted, kind in REQUIRED_PHRASES:
        node: Any = tree
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                raise ContentError(f"{path.name}: missing phrase {dotted!r}")
            node = node[part]
        ok = isinstance(node, tuple) if kind == "variants" else (isinstance(node, dict) and "ko" in node)
        if not ok:
            raise ContentError(
                f"{path.name}: phrase {dotted!r} must be {'a list of texts' if kind == 'variants' else 'one text'}"
            )
    return tree


def load_content(data_dir: Path | str | None = None) -> Content:
    """Read and validate every tarot data file in ``data_dir`` (default: the package's data)."""
    root = Path(data_dir) if data_dir is not None else DATA_DIR
    cards, full = _deck(root)
    spreads = _spreads(root / "spreads.yaml", len(cards))
    phrases = _phrases(root / "phrases.yaml")
    return Content(cards=cards, spreads=spreads, phrases=phrases, full_deck=full)
