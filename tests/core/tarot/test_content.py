"""The shipped tarot data loads and is complete; broken data is refused at start-up."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.core.tarot import ContentError, TarotEngine
from bot.core.tarot.loader import DATA_DIR, load_content
from bot.core.tarot.model import SUIT_ELEMENT, SUITS

from .conftest import MINOR_MISSING


def _has_hangul(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _dump(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_shipped_data_loads(engine: TarotEngine) -> None:
    majors = [c for c in engine.deck if c.is_major]
    assert [c.number for c in majors] == list(range(22))
    assert majors[0].id == "major-00-fool" and majors[21].id == "major-21-world"
    assert len(load_content().cards) == len(engine.deck)
    assert TarotEngine.load() is engine  # cached


def test_full_deck(full_engine: TarotEngine) -> None:
    deck = full_engine.deck
    assert len(deck) == 78 and len({c.id for c in deck}) == 78
    for suit in SUITS:
        cards = [c for c in deck if c.suit == suit]
        assert [c.number for c in cards] == list(range(1, 15))
        assert all(c.element == SUIT_ELEMENT[suit] and c.id.startswith(f"{suit}-") for c in cards)


def test_every_text_in_both_languages(engine: TarotEngine) -> None:
    for c in engine.deck:
        for field in ("name", "upright", "reversed", "advice"):
            text = getattr(c, field)
            assert _has_hangul(text.ko), (c.id, field, "ko")
            assert text.en and not _has_hangul(text.en), (c.id, field, "en")
        assert c.keywords("ko") and all(_has_hangul(k) for k in c.keywords("ko")), c.id
        assert c.keywords("en") and not any(_has_hangul(k) for k in c.keywords("en")), c.id
        rev_ko, rev_en = c.keywords("ko", reversed=True), c.keywords("en", reversed=True)
        assert rev_ko and all(_has_hangul(k) for k in rev_ko), c.id
        assert rev_en and not any(_has_hangul(k) for k in rev_en), c.id
        # a reversed card has its own keywords, never the upright ones again
        assert not set(rev_ko) & set(c.keywords("ko")), c.id
        assert not set(rev_en) & set(c.keywords("en")), c.id
    for key in engine.spreads:
        sp = engine.spread(key)
        for text in (sp.name, *(p.name for p in sp.positions), *(p.hint for p in sp.positions)):
            assert _has_hangul(text.ko) and text.en and not _has_hangul(text.en), (key, text)


def test_major_copy_is_warm_and_well_formed(engine: TarotEngine) -> None:
    for c in engine.deck:
        if not c.is_major:
            continue
        for text in (c.upright.ko, c.reversed.ko):
            assert text.count(".") == 2 and text.endswith("요."), (c.id, text)  # two sentences, 해요체
        assert c.advice.ko.endswith("요."), c.id
        assert c.upright.en.count(". ") == 1 and c.reversed.en.count(". ") == 1, c.id


def test_phrases_all_bilingual() -> None:
    def walk(node: Any, where: str) -> None:
        if isinstance(node, list):
            assert node, where
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")
        elif isinstance(node, dict) and "ko" in node:
            assert set(node) == {"ko", "en"}, where
            assert _has_hangul(node["ko"]) and node["en"] and not _has_hangul(node["en"]), where
        else:
            assert isinstance(node, dict), where
            for k, v in node.items():
                walk(v, f"{where}.{k}")

    walk(_load(DATA_DIR / "phrases.yaml"), "phrases")


def test_missing_minor_file_gives_majors_only(data_copy: Path, caplog: pytest.LogCaptureFixture) -> None:
    (data_copy / "minor.yaml").unlink(missing_ok=True)
    with caplog.at_level(logging.WARNING):
        eng = TarotEngine.load(data_copy)
    assert len(eng.deck) == 22 and not eng.full_deck
    assert "minor.yaml" in caplog.text


# --------------------------------------------------------------------------- broken data
def _break_major(data_copy: Path, mutate: Any) -> None:
    path = data_copy / "major.yaml"
    data = _load(path)
    mutate(data["cards"])
    _dump(path, data)


def _expect(data_copy: Path, *needles: str) -> None:
    with pytest.raises(ContentError) as info:
        TarotEngine.load(data_copy)
    for n in needles:
        assert n in str(info.value), (n, str(info.value))


def test_missing_language(data_copy: Path) -> None:
    _break_major(data_copy, lambda cards: cards[3]["upright"].pop("en"))
    _expect(data_copy, "major.yaml", "major-03-empress", "upright", "'en'")


def test_missing_reversed_keywords(data_copy: Path) -> None:
    _break_major(data_copy, lambda cards: cards[6].pop("reversed_keywords"))
    _expect(data_copy, "major.yaml", "major-06-lovers", "reversed_keywords")


def test_missing_language_in_keywords(data_copy: Path) -> None:
    _break_major(data_copy, lambda cards: cards[5]["keywords"].pop("ko"))
    _expect(data_copy, "major.yaml", "major-05-hierophant", "keywords", "'ko'")


def test_missing_field(data_copy: Path) -> None:
    _break_major(data_copy, lambda cards: cards[7].pop("advice"))
    _expect(data_copy, "major.yaml", "major-07-chariot", "advice")


def test_unknown_field(data_copy: Path) -> None:
    _break_major(data_copy, lambda cards: cards[7].__setitem__("advise", {"ko": "가", "en": "a"}))
    _expect(data_copy, "major.yaml", "major-07-chariot", "advise")


def test_duplicate_id(data_copy: Path) -> None:
    _break_major(data_copy, lambda cards: cards.append(dict(cards[10])))
    _expect(data_copy, "major.yaml", "major-10-wheel-of-fortune", "duplicate")


def test_unknown_element_and_arcana(data_copy: Path, tmp_path: Path) -> None:
    _break_major(data_copy, lambda cards: cards[0].__setitem__("element", "aether"))
    _expect(data_copy, "major.yaml", "major-00-fool", "aether")
    _break_major(data_copy, lambda cards: cards[0].update(element="air", arcana="middle"))
    _expect(data_copy, "major.yaml", "major-00-fool", "middle")


def test_bad_suit(data_copy: Path) -> None:
    path = data_copy / "minor.yaml"
    if path.exists():
        data = _load(path)
        victim = data["cards"][20]
        data["cards"][20]["suit"] = "coins"
    else:  # minor.yaml not written yet: a one-card file is enough to reach the suit check
        victim = {
            "id": "cups-02-two",
            "arcana": "minor",
            "suit": "coins",
            "number": 2,
            "element": "water",
            "name": {"ko": "컵 2", "en": "Two of Cups"},
            "keywords": {"ko": ["연결"], "en": ["connection"]},
            "reversed_keywords": {"ko": ["단절"], "en": ["disconnection"]},
            "upright": {"ko": "가요.", "en": "A."},
            "reversed": {"ko": "가요.", "en": "A."},
            "advice": {"ko": "가요.", "en": "A."},
        }
        data = {"cards": [victim]}
    _dump(path, data)
    _expect(data_copy, "minor.yaml", victim["id"], "coins")


def test_major_with_a_suit(data_copy: Path) -> None:
    _break_major(data_copy, lambda cards: cards[2].__setitem__("suit", "cups"))
    _expect(data_copy, "major.yaml", "major-02-high-priestess", "suit")


def test_wrong_card_count(data_copy: Path) -> None:
    _break_major(data_copy, lambda cards: cards.pop())
    _expect(data_copy, "major.yaml", "22")


def test_wrong_minor_count(data_copy: Path) -> None:
    path = data_copy / "minor.yaml"
    if not path.exists():
        pytest.skip(MINOR_MISSING)
    data = _load(path)
    data["cards"] = [c for c in data["cards"] if c["id"] != "swords-13-queen"]
    _dump(path, data)
    _expect(data_copy, "minor.yaml", "14 swords")


def test_broken_spreads(data_copy: Path) -> None:
    path = data_copy / "spreads.yaml"
    data = _load(path)
    data["spreads"][1]["positions"][0]["name"].pop("ko")
    _dump(path, data)
    _expect(data_copy, "spreads.yaml", "three", "past", "'ko'")
    data = _load(DATA_DIR / "spreads.yaml")
    data["spreads"][4]["positions"].pop(2)  # drop "foundation"
    _dump(path, data)
    _expect(data_copy, "spreads.yaml", "celtic", "10")


def test_broken_phrases(data_copy: Path) -> None:
    path = data_copy / "phrases.yaml"
    data = _load(path)
    data["summary"]["key_card"][0].pop("en")
    _dump(path, data)
    _expect(data_copy, "phrases.yaml", "key_card", "'en'")
    data = _load(DATA_DIR / "phrases.yaml")
    data["summary"]["majors_many"][0]["en"] = "{majors} of them."
    _dump(path, data)
    _expect(data_copy, "phrases.yaml", "majors_many", "placeholders")
    data = _load(DATA_DIR / "phrases.yaml")
    del data["advice"]["reversed_none"]
    _dump(path, data)
    _expect(data_copy, "phrases.yaml", "advice.reversed_none")
