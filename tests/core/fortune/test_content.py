"""Fortune content files: every file loads, every entry is bilingual, broken copies are rejected."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.core.fortune import ContentError, FortuneEngine, load_content
from bot.core.fortune.loader import DATA_DIR, ONELINERS_FILE, THEMES, load_zodiac_names


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, dict]]:
    if isinstance(node, dict):
        if "ko" in node or "en" in node:
            yield path, node
        for k, v in node.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}[{i}]")


def test_every_data_file_loads_and_every_entry_has_both_languages() -> None:
    files = sorted(DATA_DIR.glob("*.yaml"))
    names = {f.name for f in files}
    assert {
        "ranks.yaml",
        "themes.yaml",
        "summary.yaml",
        "lucky.yaml",
        "details.yaml",
        "compat.yaml",
        "weekly.yaml",
        "labels.yaml",
        "zodiac.yaml",
    } <= names
    total = 0
    for f in files:
        data = yaml.safe_load(f.read_text(encoding="utf-8"))
        for where, entry in _walk(data):
            total += 1
            assert isinstance(entry.get("ko"), str) and entry["ko"].strip(), f"{f.name}{where}: no ko"
            assert isinstance(entry.get("en"), str) and entry["en"].strip(), f"{f.name}{where}: no en"
    assert total > 300
    content = load_content()
    assert set(content.oneliners) == set(THEMES)
    assert len(content.colors) >= 20 and len(content.directions) == 8
    assert all(len(content.openings[t]) >= 6 for t in THEMES)


def test_content_is_cached() -> None:
    assert load_content() is load_content()
    assert FortuneEngine.load() is FortuneEngine.load()


def test_real_oneliners_file_is_used_when_present() -> None:
    if not (DATA_DIR / ONELINERS_FILE).exists():
        pytest.skip(f"{ONELINERS_FILE} is not written yet")
    content = load_content()
    assert content.oneliners_source == ONELINERS_FILE
    for theme in THEMES:
        assert len(content.oneliners[theme]) >= 28, theme  # the non-repeat guarantee needs >= 28 per pool


def test_zodiac_names_are_complete() -> None:
    signs, animals, elements = load_zodiac_names()
    assert len(signs) == 12 and len(animals) == 12 and len(elements) == 4
    assert signs["sagittarius"].ko == "사수자리" and animals["dragon"].en == "Dragon"


# --------------------------------------------------------------------------- broken copies


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA_DIR, target)
    return target


def _edit(data_dir: Path, name: str, change: Callable[[Any], None]) -> None:
    path = data_dir / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _oneliners_name(data_dir: Path) -> str:
    return ONELINERS_FILE


def test_valid_copy_loads(data_copy: Path) -> None:
    content = load_content(data_copy)
    assert content.data_dir == data_copy.resolve()
    assert FortuneEngine.load(data_copy).content is content


def test_missing_language_is_rejected(data_copy: Path) -> None:
    _edit(data_copy, "summary.yaml", lambda d: d["flows"]["steady"][2].pop("en"))
    with pytest.raises(ContentError) as err:
        load_content(data_copy)
    assert err.value.file == "summary.yaml"
    assert "flows.steady[2]" in str(err.value) and "'en'" in str(err.value)


def test_missing_language_in_oneliner_is_rejected(data_copy: Path) -> None:
    name = _oneliners_name(data_copy)
    _edit(data_copy, name, lambda d: d["love"][1].pop("ko"))
    with pytest.raises(ContentError) as err:
        load_content(data_copy)
    assert err.value.file == name and "love[1]" in str(err.value) and "'ko'" in str(err.value)


def test_duplicate_id_is_rejected(data_copy: Path) -> None:
    name = _oneliners_name(data_copy)

    def dup(d: Any) -> None:
        d["money"][1]["id"] = d["career"][0]["id"]

    _edit(data_copy, name, dup)
    with pytest.raises(ContentError, match="duplicate id") as err:
        load_content(data_copy)
    assert err.value.file == name and "money[1]" in str(err.value)


def test_duplicate_colour_id_is_rejected(data_copy: Path) -> None:
    _edit(data_copy, "lucky.yaml", lambda d: d["colors"][3].update(id=d["colors"][0]["id"]))
    with pytest.raises(ContentError, match=r"lucky\.yaml: colors\[3\].*duplicate id"):
        load_content(data_copy)


def test_unknown_theme_in_oneliners_is_rejected(data_copy: Path) -> None:
    name = _oneliners_name(data_copy)
    _edit(data_copy, name, lambda d: d.update(romance=[{"id": "romance-001", "ko": "가", "en": "a"}]))
    with pytest.raises(ContentError, match="unknown theme 'romance'") as err:
        load_content(data_copy)
    assert err.value.file == name


def test_unknown_theme_in_weights_is_rejected(data_copy: Path) -> None:
    _edit(data_copy, "themes.yaml", lambda d: d["weights"]["weekday"]["mon"].update(luck=3))
    with pytest.raises(ContentError, match=r"themes\.yaml: weights\.weekday\.mon\.luck: unknown theme"):
        load_content(data_copy)


def test_missing_theme_is_rejected(data_copy: Path) -> None:
    _edit(data_copy, "details.yaml", lambda d: d["caution"].pop("health"))
    with pytest.raises(ContentError, match=r"details\.yaml: caution: missing theme 'health'"):
        load_content(data_copy)


def test_missing_field_is_rejected(data_copy: Path) -> None:
    _edit(data_copy, "ranks.yaml", lambda d: d["bands"][1].pop("min"))
    with pytest.raises(ContentError, match=r"ranks\.yaml: bands\[1\]: missing field 'min'"):
        load_content(data_copy)


def test_placeholder_mismatch_is_rejected(data_copy: Path) -> None:
    _edit(data_copy, "summary.yaml", lambda d: d["openings"]["love"][0].update(en="Hello {name}"))
    with pytest.raises(ContentError, match="placeholders differ"):
        load_content(data_copy)


def test_missing_file_is_rejected(data_copy: Path) -> None:
    (data_copy / "weekly.yaml").unlink()
    with pytest.raises(ContentError, match=r"weekly\.yaml"):
        load_content(data_copy)
