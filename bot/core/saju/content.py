"""The 사주 copy (``data/saju.yaml``), validated once: every text has ko and en, every group,
element, god and stem is present. A missing entry stops start-up, not a chat."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any


from bot.core.yamlload import safe_load

from bot.core.saju.cycle import BRANCH_HANGUL, ELEMENTS, STEM_HANGUL, Pillar
from bot.core.saju.derive import GODS, GROUPS

__all__ = ["SajuContent", "SajuContentError", "content"]

_AREAS = ("money", "love", "health", "work")
_LINKS = ("harmony", "clash")


class SajuContentError(ValueError):
    """``saju.yaml`` is malformed."""


def _text(node: Any, where: str) -> dict[str, str]:
    if not isinstance(node, dict) or not all(isinstance(node.get(k), str) and node[k].strip() for k in ("ko", "en")):
        raise SajuContentError(f"saju.yaml: {where} needs non-empty ko and en")
    return {"ko": node["ko"], "en": node["en"]}


def _texts(node: Any, where: str, least: int = 1) -> tuple[dict[str, str], ...]:
    if not isinstance(node, list) or len(node) < least:
        raise SajuContentError(f"saju.yaml: {where} needs a list of at least {least}")
    return tuple(_text(n, f"{where}[{i}]") for i, n in enumerate(node))


def _keyed(node: Any, keys: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(node, dict) or set(node) != set(keys):
        raise SajuContentError(f"saju.yaml: {where} needs exactly {', '.join(keys)}")
    return node


@dataclass(frozen=True, slots=True)
class SajuContent:
    raw: dict[str, Any]
    stems: tuple[dict[str, dict[str, str]], ...]
    stems_en: tuple[str, ...]
    branches_en: tuple[str, ...]
    elements: dict[str, dict[str, Any]]
    gods: dict[str, dict[str, str]]
    groups: dict[str, dict[str, Any]]
    links: dict[str, dict[str, str]]
    score: dict[str, int]
    themes: dict[str, dict[str, int]]
    newyear: dict[str, Any]
    ui: dict[str, dict[str, str]]

    def pillar_name(self, p: Pillar, lang: str) -> str:
        """``갑자(甲子)`` / ``Gap-ja (甲子)``."""
        if lang == "ko":
            return f"{STEM_HANGUL[p.stem]}{BRANCH_HANGUL[p.branch]}({p.hanja})"
        return f"{self.stems_en[p.stem]}-{self.branches_en[p.branch].lower()} ({p.hanja})"

    def stem_name(self, stem: int, lang: str) -> str:
        return self.stems[stem]["name"][lang]


def _build(data: dict[str, Any]) -> SajuContent:
    stems_node = data.get("stems")
    if not isinstance(stems_node, list) or len(stems_node) != 10:
        raise SajuContentError("saju.yaml: stems needs ten entries")
    stems = tuple({k: _text(s.get(k), f"stems[{i}].{k}") for k in ("name", "image", "trait")}
                  for i, s in enumerate(stems_node))
    stems_en, branches_en = data.get("stems_en"), data.get("branches_en")
    if not (isinstance(stems_en, list) and len(stems_en) == 10 and isinstance(branches_en, list)
            and len(branches_en) == 12):
        raise SajuContentError("saju.yaml: stems_en needs 10 and branches_en 12 names")
    el = _keyed(data.get("elements"), ELEMENTS, "elements")
    elements: dict[str, dict[str, Any]] = {}
    for e in ELEMENTS:
        node = el[e]
        color = str(node.get("color", ""))
        if not (color.startswith("#") and len(color) == 7):
            raise SajuContentError(f"saju.yaml: elements.{e}.color must be #rrggbb")
        elements[e] = {k: _text(node.get(k), f"elements.{e}.{k}") for k in ("name", "year_color", "strong", "missing")}
        elements[e]["color"] = color
    gods = {g: _text(v, f"gods.{g}") for g, v in _keyed(data.get("gods"), GODS, "gods").items()}
    gr = _keyed(data.get("groups"), GROUPS, "groups")
    groups = {g: {"name": _text(gr[g].get("name"), f"groups.{g}.name"),
                  "gloss": _text(gr[g].get("gloss"), f"groups.{g}.gloss"),
                  "day_line": _text(gr[g].get("day_line"), f"groups.{g}.day_line"),
                  "notes": _texts(gr[g].get("notes"), f"groups.{g}.notes", 3)} for g in GROUPS}
    links = {k: _text(v, f"links.{k}") for k, v in _keyed(data.get("links"), _LINKS, "links").items()}
    fortune = data.get("fortune") or {}
    score = {k: int(v) for k, v in _keyed(fortune.get("score"), (*GROUPS, *_LINKS), "fortune.score").items()}
    themes = {g: {str(t): int(w) for t, w in (v or {}).items()}
              for g, v in _keyed(fortune.get("themes"), GROUPS, "fortune.themes").items()}
    ny = data.get("newyear") or {}
    newyear = {
        "overall": {g: _texts(v, f"newyear.overall.{g}", 2)
                    for g, v in _keyed(ny.get("overall"), GROUPS, "newyear.overall").items()},
        "areas": {a: {g: _texts(v, f"newyear.areas.{a}.{g}", 2)
                      for g, v in _keyed(node, GROUPS, f"newyear.areas.{a}").items()}
                  for a, node in _keyed(ny.get("areas"), _AREAS, "newyear.areas").items()},
        "months": {g: _texts(v, f"newyear.months.{g}", 3)
                   for g, v in _keyed(ny.get("months"), GROUPS, "newyear.months").items()},
        "links": {k: _text(v, f"newyear.links.{k}") for k, v in _keyed(ny.get("links"), _LINKS, "newyear.links").items()},
        "closings": _texts(ny.get("closings"), "newyear.closings", 2),
    }
    ui_node = data.get("ui")
    if not isinstance(ui_node, dict):
        raise SajuContentError("saju.yaml: ui needs a mapping")
    ui = {k: _text(v, f"ui.{k}") for k, v in ui_node.items()}
    return SajuContent(data, stems, tuple(map(str, stems_en)), tuple(map(str, branches_en)), elements, gods,
                       groups, links, score, themes, newyear, ui)


@lru_cache(maxsize=1)
def content() -> SajuContent:
    """The validated copy (loaded once per process)."""
    text = resources.files("bot.core.saju").joinpath("data/saju.yaml").read_text(encoding="utf-8")
    return _build(safe_load(text))
